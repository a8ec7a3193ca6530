"""Which layout one document is in: transcript (``speaker: line``), Fountain, or an indented screenplay.

One linear pass counts the evidence for each layout; :func:`detect` picks the layout with the
most and says why in words (the ``build-vocab`` summary and ``corpus.json`` show the reason).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from textgen.corpus.screenplay.fountain import spec_cue
from textgen.corpus.screenplay.indented import caps
from textgen.corpus.screenplay.script import HEADING

TRANSCRIPT, FOUNTAIN, SCREENPLAY = "transcript", "fountain", "screenplay"
LAYOUTS: tuple[str, ...] = (TRANSCRIPT, FOUNTAIN, SCREENPLAY)
FORMATS: tuple[str, ...] = ("auto", *LAYOUTS)
FOUNTAIN_SUFFIX = ".fountain"

_TURN = re.compile(r"^([^\W\d_][\w.'&\-]*(?: [\w.'&\-]+){0,2})\s*:\s+\S")
_TITLE_KEY = re.compile(
    r"^(?:title|credit|author|authors|source|draft date|date|contact|copyright|notes|revision)\s*:", re.IGNORECASE
)


@dataclass
class Evidence:
    """What one pass over a document found."""

    turns: int = 0  # `speaker: line` lines at the margin
    cues: int = 0  # Fountain cues: an unindented all-caps line, dialogue right below
    indented_cues: int = 0  # an indented all-caps line above less-indented dialogue
    headings: int = 0
    title_page: bool = False  # the document opens with a Fountain title-page key
    names: Counter[str] = field(default_factory=Counter)

    def examples(self) -> str:
        return ", ".join(name for name, _ in self.names.most_common(3))


def scan(text: str) -> Evidence:
    """Count the layout evidence in ``text`` (one pass, no parsing)."""
    lines = text.expandtabs(8).split("\n")
    found = Evidence(title_page=bool(lines) and bool(_TITLE_KEY.match(lines[0].strip())))
    blank_before = True
    for i, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped:
            blank_before = True
            continue
        indent = len(raw) - len(raw.lstrip())
        after = lines[i + 1] if i + 1 < len(lines) else ""
        after_indent = len(after) - len(after.lstrip())
        if indent == 0 and _TURN.match(stripped) and not (found.title_page and _TITLE_KEY.match(stripped)):
            found.turns += 1
        if blank_before and HEADING.match(stripped):
            found.headings += 1
        elif blank_before and after.strip() and spec_cue(stripped):
            name = stripped.split("(", 1)[0].strip().removesuffix("^").strip()
            if indent == 0 and after_indent == 0:
                found.cues += 1
                found.names[name] += 1
            elif 0 < after_indent < indent and caps(stripped):
                found.indented_cues += 1
                found.names[name] += 1
        blank_before = False
    return found


def detect(text: str, name: str | None = None) -> tuple[str, str]:
    """``(layout, reason)`` for one document; ``name`` (a file name) may settle it by its suffix."""
    if name and name.lower().endswith(FOUNTAIN_SUFFIX):
        return FOUNTAIN, f"the file name ends in {FOUNTAIN_SUFFIX}"
    ev = scan(text)
    if ev.indented_cues >= 2 and ev.indented_cues > ev.cues and ev.indented_cues >= ev.turns:
        return SCREENPLAY, f"{ev.indented_cues} indented cues ({ev.examples()}) above less-indented dialogue"
    fountain = ev.cues >= 2 or (ev.cues >= 1 and (ev.headings >= 1 or ev.title_page))
    if fountain and ev.cues + ev.headings > ev.turns:
        page = "a title page, " if ev.title_page else ""
        return FOUNTAIN, f"{page}{ev.cues} cues on their own lines ({ev.examples()}) and {ev.headings} scene headings"
    if ev.turns:
        return TRANSCRIPT, f"{ev.turns} 'speaker: line' lines"
    return TRANSCRIPT, "no speakers, cues or scene headings found: read as plain text"
