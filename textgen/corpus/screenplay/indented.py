"""Plain-text screenplays laid out by indentation (as script archives save them) to screenplay elements.

The layout, relative to the action margin (the indentation most paragraphs start at):

* a **cue** is an indented all-caps line (``EDWARD``, ``MARGOT (O.S.)``, ``McGRAW``) with the
  speech right below it, less indented than the cue but more than the action margin;
* in a speech, a line that opens ``(`` starts a parenthetical (it may wrap), everything else is
  dialogue; wrapped lines are joined;
* a **scene heading** starts ``INT.``/``EXT.``/``EST.``/``INT./EXT.``/``I/E`` (scene numbers on either
  side are dropped), or is a lone all-caps line at the margin with `` - `` in it (``FLASHBACK - DAY``);
* a **transition** is an all-caps line ending ``TO:``, a ``FADE ...`` line, or a far-right all-caps
  line ending ``:`` or ``.``; a lone line indented past the margin that is none of these is **centred**;
* everything else is **action**, one paragraph per block of lines.

Page furniture is dropped and counted: page numbers, ``(MORE)``, ``(CONTINUED)``, ``CONTINUED:``;
a speech broken by a page (``(MORE)`` ... ``EDWARD (CONT'D)``) is joined back into one. Lines
before the first heading or ``FADE IN:`` that hold no speech are the title page (``title``,
``credit``, ``author``). Dual dialogue (side by side columns) is not recognised.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from textgen.corpus.screenplay.script import HEADING, Script
from textgen.text.screenplay import (
    ACTION,
    CENTERED,
    DIALOGUE,
    PAREN,
    SCENE,
    SPEECH,
    TRANSITION,
    Element,
    Part,
    clean,
    extension_key,
)

_PAGE_NUMBER = re.compile(r"^\d+[A-Z]?\.?$")
_FURNITURE = re.compile(r"^(?:\(CONTINUED\)|CONTINUED:?(?:\s*\(\d+\))?|\(CONT'D\))$", re.IGNORECASE)
_MORE = "(MORE)"
_SCENE_NUMBER = re.compile(r"^(\d+[A-Z]?)\s{2,}(\S.*?)(?:\s{2,}\1)?$")
_EXTENSIONS = re.compile(r"\s*\(([^()]*)\)\s*$")
_FADE = re.compile(r"^FADE (?:IN|OUT|TO)\b")
_FAR_RIGHT = 30  # columns past the action margin where a line reads as a transition
_CREDIT = re.compile(r"^(?:(?:an? )?(?:screenplay|story|teleplay)?\s*(?:written )?by)$", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    """One non-blank line: its indentation (tabs as 8 columns) and its text."""

    indent: int
    text: str
    more: bool = False  # a (MORE) mark: the speech goes on after a page break


def caps(text: str) -> bool:
    """All capitals (a ``Mc``/``Mac`` prefix allowed), at least one letter, extensions aside."""
    name = text
    while True:
        shorter = _EXTENSIONS.sub("", name)
        if shorter == name:
            break
        name = shorter
    name = re.sub(r"\bMa?c(?=[A-Z])", "MC", name)
    return any(c.isalpha() for c in name) and name == name.upper()


def _rows(text: str, dropped: Counter[str]) -> list[list[Row]]:
    """Blocks of rows (blank lines between), page furniture dropped and scene numbers taken off."""
    blocks: list[list[Row]] = [[]]
    for raw in text.expandtabs(8).split("\n"):
        stripped = raw.strip()
        if not stripped:
            if blocks[-1]:
                blocks.append([])
            continue
        indent = len(raw) - len(raw.lstrip())
        if _PAGE_NUMBER.match(stripped) and indent > 0:
            dropped["page numbers"] += 1
            continue
        if _FURNITURE.match(stripped):
            dropped["continued marks"] += 1
            continue
        if stripped.upper() == _MORE:
            dropped["(MORE) marks"] += 1
            blocks[-1].append(Row(indent, stripped, more=True))
            continue
        numbered = _SCENE_NUMBER.match(stripped)
        if numbered and HEADING.match(numbered.group(2)):
            dropped["scene numbers"] += 1
            indent += raw.lstrip().index(numbered.group(2))
            stripped = numbered.group(2)
        blocks[-1].append(Row(indent, stripped))
    return [b for b in blocks if b]


def action_margin(blocks: list[list[Row]]) -> int:
    """The indentation most blocks of prose start at (the smallest one when nothing is prose)."""
    starts = Counter(b[0].indent for b in blocks if not caps(b[0].text) and not b[0].text.startswith("("))
    if starts:
        return max(starts.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    return min(b[0].indent for b in blocks)


class _Reader:
    def __init__(self, blocks: list[list[Row]]) -> None:
        self.blocks = blocks
        self.margin = action_margin(blocks)

    def is_cue(self, block: list[Row], i: int) -> bool:
        row = block[i]
        if row.more or row.indent <= self.margin + 4 or not caps(row.text) or self.is_transition(row):
            return False
        if i + 1 >= len(block):
            return False
        nxt = block[i + 1]
        return self.margin < nxt.indent < row.indent and not nxt.more

    def is_transition(self, row: Row) -> bool:
        text = row.text
        if not caps(text):
            return False
        return (
            text.endswith("TO:")
            or bool(_FADE.match(text))
            or (row.indent >= self.margin + _FAR_RIGHT and text.endswith((":", ".")))
        )

    def is_heading(self, block: list[Row], i: int) -> bool:
        row = block[i]
        if HEADING.match(row.text) and row.indent <= self.margin + 4:
            return True
        return len(block) == 1 and row.indent <= self.margin + 2 and caps(row.text) and " - " in row.text

    def speech(self, block: list[Row], i: int) -> tuple[Element, bool, int]:
        """The speech whose cue is ``block[i]``, whether it ends in (MORE), and the next row's index."""
        cue = block[i].text
        extensions: list[str] = []
        while (m := _EXTENSIONS.search(cue)) and m.start() > 0:
            extensions.insert(0, extension_key(m.group(1)))
            cue = cue[: m.start()]
        parts: list[Part] = []
        more = False
        j = i + 1
        while j < len(block) and block[j].indent > self.margin + 2 and not self.is_cue(block, j):
            row = block[j]
            if row.more:
                more, j = True, j + 1
                break
            if row.text.startswith("("):
                words = [row.text]
                while not words[-1].endswith(")") and j + 1 < len(block) and not block[j + 1].more:
                    j += 1
                    words.append(block[j].text)
                parts.append(Part(PAREN, clean(" ".join(words)).removeprefix("(").removesuffix(")").strip()))
            elif parts and parts[-1].kind == DIALOGUE:
                parts[-1] = Part(DIALOGUE, f"{parts[-1].text} {row.text}")
            else:
                parts.append(Part(DIALOGUE, row.text))
            j += 1
        element = Element(SPEECH, speaker=clean(cue), extensions=tuple(extensions), parts=tuple(parts))
        return element, more, j

    def read(self) -> list[Element]:
        elements: list[Element] = []
        continued: str | None = None  # the speaker whose speech a page broke
        for block in self.blocks:
            i = 0
            while i < len(block):
                row = block[i]
                if self.is_cue(block, i):
                    speech, more, i = self.speech(block, i)
                    if continued == speech.speaker and "contd" in speech.extensions and elements:
                        last = elements.pop()
                        extensions = tuple(e for e in speech.extensions if e != "contd")
                        speech = Element(
                            SPEECH,
                            speaker=last.speaker,
                            extensions=last.extensions or extensions,
                            parts=_join_parts(last.parts, speech.parts),
                        )
                    elements.append(speech)
                    continued = speech.speaker if more else None
                    continue
                continued = None
                if row.more:
                    i += 1
                elif self.is_heading(block, i):
                    elements.append(Element(SCENE, text=row.text))
                    i += 1
                elif self.is_transition(row):
                    elements.append(Element(TRANSITION, text=row.text))
                    i += 1
                else:
                    j = i + 1
                    while j < len(block) and not (
                        self.is_cue(block, j) or self.is_heading(block, j) or self.is_transition(block[j])
                    ):
                        j += 1
                    text = clean(" ".join(r.text for r in block[i:j] if not r.more))
                    lone = j - i == 1 and row.indent > self.margin + 4
                    elements.append(Element(CENTERED if lone else ACTION, text=text))
                    i = j
        return elements


def _join_parts(first: tuple[Part, ...], second: tuple[Part, ...]) -> tuple[Part, ...]:
    if first and second and first[-1].kind == second[0].kind == DIALOGUE:
        return (*first[:-1], Part(DIALOGUE, f"{first[-1].text} {second[0].text}"), *second[1:])
    return (*first, *second)


def _title_page(elements: list[Element]) -> tuple[dict[str, str], list[Element]]:
    """Front matter before the first heading or FADE IN (without speeches) as a title page."""
    starts = (i for i, e in enumerate(elements) if e.kind == SCENE or (e.kind == TRANSITION and _FADE.match(e.text)))
    start = next(starts, 0)
    front = elements[:start]
    if not front or any(e.kind == SPEECH for e in front):
        return {}, elements
    lines = [e.text for e in front]
    page: dict[str, str] = {"title": lines[0]}
    rest = lines[1:]
    credit = next((k for k, line in enumerate(rest) if _CREDIT.match(line)), None)
    if credit is not None:
        page["credit"] = rest[credit]
        if credit + 1 < len(rest):
            page["author"] = rest[credit + 1]
        rest = rest[:credit] + rest[credit + 2 :]
    if rest:
        page["notes"] = "\n".join(rest)
    return page, elements[start:]


def parse_indented(text: str) -> Script:
    """Elements, title page and dropped page furniture of an indented plain-text screenplay."""
    dropped: Counter[str] = Counter()
    blocks = _rows(text, dropped)
    if not blocks:
        return Script([], {}, dropped)
    elements = _Reader(blocks).read()
    title_page, elements = _title_page(elements)
    return Script(elements, title_page, dropped)
