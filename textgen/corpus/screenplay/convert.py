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

DETECT_CHARS = 1 << 20  # the prefix of a document that detection reads


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


class LayoutTally:
    """The ``corpus.json`` layout fields, gathered one document at a time (a streamed corpus keeps no list)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []
        self.title_pages: list[dict[str, str]] = []

    def add(self, info: DocumentLayout) -> None:
        self.counts[info.layout] += 1
        if len(self.records) < self.limit:
            self.records.append(info.record())
        if info.title_page and len(self.title_pages) < self.limit:
            self.title_pages.append({"document": info.name, **info.title_page})

    @property
    def converted(self) -> bool:
        """True if some document became other text than it was read as (a screenplay)."""
        return any(self.counts[layout] for layout in LAYOUTS if layout != TRANSCRIPT)

    def card(self) -> dict[str, Any]:
        return {
            "layouts": {layout: self.counts[layout] for layout in LAYOUTS if self.counts[layout]},
            "document_layouts": list(self.records),
            "title_pages": list(self.title_pages),
        }


def layout_card(layouts: Sequence[DocumentLayout], limit: int = 1000) -> dict[str, Any]:
    """The ``corpus.json`` fields: documents per layout, each document's layout and reason, title pages."""
    tally = LayoutTally(limit)
    for info in layouts:
        tally.add(info)
    return tally.card()


def check_format(layout: str) -> str:
    """``layout`` if it is one of :data:`FORMATS`, else a one-line :class:`UsageError`."""
    if layout not in FORMATS:
        raise UsageError(f"unknown --format {layout!r}; use one of {', '.join(FORMATS)}")
    return layout


def choose_layout(head: str, name: str = "document", layout: str = "auto") -> tuple[str, str]:
    """``(layout, reason)`` of a document from its first :data:`DETECT_CHARS` characters ``head``.

    Detection reads a prefix so that a streamed corpus decides without holding a big transcript
    whole; screenplays are far shorter than the prefix, so they are judged on all of their text.
    """
    if check_format(layout) == "auto":
        return detect(head[:DETECT_CHARS], name)
    return layout, f"--format {layout}"


def convert_document(text: str, name: str = "document", layout: str = "auto") -> ConvertedDocument:
    """Read ``text`` (newlines normalised) in ``layout`` (``auto``: detected) and convert it."""
    chosen, reason = choose_layout(text, name, layout)
    return convert_as(text, name, chosen, reason)


def convert_as(text: str, name: str, chosen: str, reason: str) -> ConvertedDocument:
    """Convert ``text`` read as layout ``chosen`` (a transcript is kept as it is)."""
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
