"""What a screenplay reader returns: the elements, the title page, and counts of what it dropped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from textgen.text.screenplay import HEADING, SPEECH, Element

__all__ = ["HEADING", "Script"]


@dataclass
class Script:
    """A parsed screenplay document."""

    elements: list[Element]
    title_page: dict[str, str] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def cues(self) -> int:
        """How many speeches (character cues) the document has."""
        return sum(1 for e in self.elements if e.kind == SPEECH)
