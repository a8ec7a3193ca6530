"""One document's raw text -> its layout, the reason, the script text the tokenizer reads, its title page.

This is the per-document step of loading a corpus (whole-corpus or streamed): a transcript is
kept as it is; Fountain and indented screenplays become the script text of
:mod:`textgen.text.screenplay`. A screenplay without a single cue falls back to plain text, and
the reason says so; a Fountain file with only a title page, or an unclosed boneyard or note, is
a one-line :class:`~textgen.errors.CorpusError`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from textgen.corpus.screenplay.detect import FORMATS, FOUNTAIN, LAYOUTS, SCREENPLAY, TRANSCRIPT, detect
from textgen.corpus.screenplay.fountain import parse_fountain
from textgen.corpus.screenplay.indented import parse_indented
from textgen.errors import CorpusError, UsageError
from textgen.text.screenplay import script_text


@dataclass(frozen=True)
class DocumentLayout:
    """How one document was read (its line in ``corpus.json``)."""

    name: str
    layout: str  # transcript | fountain | screenplay
    reason: str  # why: detected, forced, or the fallback
    cues: int = 0  # speeches read from a screenplay
    title_page: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # what a screenplay reader left out, by kind

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"document": self.name, "layout": self.layout, "reason": self.reason}
        if self.layout != TRANSCRIPT:
            out["cues"] = self.cues
        if self.dropped:
            out["dropped"] = self.dropped
        return out


@dataclass(frozen=True)
class ConvertedDocument:
    """One document as the corpus holds it: how it was read, and its script text for the tokenizer."""

    info: DocumentLayout
    text: str


def layout_card(layouts: Sequence[DocumentLayout], limit: int = 1000) -> dict[str, Any]:
    """The ``corpus.json`` fields: documents per layout, each document's layout and reason, title pages."""
    counts = Counter(d.layout for d in layouts)
    return {
        "layouts": {layout: counts[layout] for layout in LAYOUTS if counts[layout]},
        "document_layouts": [d.record() for d in layouts[:limit]],
        "title_pages": [{"document": d.name, **d.title_page} for d in layouts if d.title_page][:limit],
    }


def check_format(layout: str) -> str:
    """``layout`` if it is one of :data:`FORMATS`, else a one-line :class:`UsageError`."""
    if layout not in FORMATS:
        raise UsageError(f"unknown --format {layout!r}; use one of {', '.join(FORMATS)}")
    return layout


def convert_document(text: str, name: str = "document", layout: str = "auto") -> ConvertedDocument:
    """Read ``text`` (newlines normalised) in ``layout`` (``auto``: detected) and convert it."""
    if check_format(layout) == "auto":
        chosen, reason = detect(text, name)
    else:
        chosen, reason = layout, f"--format {layout}"
    if chosen == TRANSCRIPT:
        return ConvertedDocument(DocumentLayout(name, TRANSCRIPT, reason), text)
    script = parse_fountain(text, name) if chosen == FOUNTAIN else parse_indented(text)
    if not script.elements and script.title_page:
        keys = ", ".join(script.title_page)
        raise CorpusError(
            f"{name} has only a Fountain title page ({keys}) and no script below it; "
            "add the screenplay after a blank line, or leave the file out"
        )
    if script.cues == 0:
        what = "Fountain" if chosen == FOUNTAIN else "an indented screenplay"
        why = f"read as {what} ({reason}), but no character cues were found: fell back to plain text"
        return ConvertedDocument(DocumentLayout(name, TRANSCRIPT, why), text)
    dropped = {k: v for k, v in sorted(script.dropped.items()) if v}
    info = DocumentLayout(name, chosen, reason, script.cues, dict(script.title_page), dropped)
    return ConvertedDocument(info, script_text(script.elements))


__all__ = [
    "FORMATS",
    "FOUNTAIN",
    "SCREENPLAY",
    "TRANSCRIPT",
    "ConvertedDocument",
    "DocumentLayout",
    "check_format",
    "convert_document",
    "layout_card",
]
