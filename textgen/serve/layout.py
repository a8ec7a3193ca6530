"""Script layout of a token stream, one token at a time, for the page to draw as it arrives.

Each token becomes a :class:`Piece`: its kind (a speaker, a word or punctuation, a laugh, a line
or turn break, the end of text) and the text it adds to the current line, cased and spaced as
:func:`textgen.decode.render.render` writes the whole script (the line so far is rendered again
and the new characters taken: spacing and casing only look backwards, and only within a line).
"""

from __future__ import annotations

from dataclasses import dataclass

from textgen.decode.render import render
from textgen.text import symbols

BREAKS = {symbols.RETURN: "return", symbols.TURN: "turn", symbols.EOS: "eos"}


@dataclass(frozen=True)
class Piece:
    """What one token adds to the script: ``text`` (with its leading space) and how to draw it."""

    kind: str  # speaker | word | laugh | return | turn | eos | hidden
    text: str
    new_turn: bool = False  # a speaker in mid-line: the script starts a new turn before it

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "text": self.text}
        if self.new_turn:
            d["new_turn"] = True
        return d


class Layout:
    """Turns tokens into :class:`Piece` s in order; one per stream (prime first, then the samples)."""

    def __init__(self, names: frozenset[str] = frozenset(), restore_case: bool = True) -> None:
        self.names, self.restore_case = names, restore_case
        self.line: list[str] = []
        self.shown = ""

    def copy(self) -> Layout:
        other = Layout(self.names, self.restore_case)
        other.line, other.shown = list(self.line), self.shown
        return other

    def add(self, token: str) -> Piece:
        if token in BREAKS:
            self.line, self.shown = [], ""
            return Piece(BREAKS[token], "")
        if token in (symbols.PAD, symbols.UNK):
            return Piece("hidden", "")
        new_turn = symbols.is_speaker(token) and bool(self.line)
        if new_turn:
            self.line, self.shown = [], ""
        self.line.append(token)
        text = render(self.line, self.restore_case, self.names).rstrip("\n")
        added = text[len(self.shown) :] if text.startswith(self.shown) else " " + text.rsplit(" ", 1)[-1]
        self.shown = text
        kind = "speaker" if symbols.is_speaker(token) else "laugh" if token == symbols.LAUGH else "word"
        return Piece(kind, added, new_turn)
