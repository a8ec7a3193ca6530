"""Script layout of a token stream, one token at a time, for the page to draw as it arrives.

Each token becomes a :class:`Piece`: its kind (a speaker, a word or punctuation, a laugh, a line
or turn break, the end of text) and the text it adds to the current line, cased and spaced exactly
as :func:`textgen.decode.render.render` writes the whole script: the casing is carried token by
token (:class:`~textgen.decode.render.TrueCaser`), and the line so far is spaced again by
``detokenize`` and the new characters taken (spacing only looks backwards, within a line).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from textgen.decode.render import TrueCaser
from textgen.text import symbols
from textgen.text.detokenize import detokenize

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
        self.caser = TrueCaser(names) if restore_case else None
        self.line: list[str] = []  # the current line's tokens, cased
        self.shown = ""

    def copy(self) -> Layout:
        """An independent layout in the same state (one per sample, after the shared prime)."""
        other = copy.copy(self)
        other.caser, other.line = copy.copy(self.caser), list(self.line)
        return other

    def _case(self, token: str) -> str:
        return self.caser.feed(token) if self.caser is not None else token

    def add(self, token: str) -> Piece:
        if token in BREAKS:
            self._case(token)
            self.line, self.shown = [], ""
            return Piece(BREAKS[token], "")
        if token in (symbols.PAD, symbols.UNK):
            return Piece("hidden", "")
        new_turn = symbols.is_speaker(token) and bool(self.line)
        if new_turn:  # render() ends the turn here first
            self._case(symbols.TURN)
            self.line, self.shown = [], ""
        self.line.append(self._case(token))
        text = detokenize(self.line).rstrip("\n")
        added = text[len(self.shown) :] if text.startswith(self.shown) else " " + text.rsplit(" ", 1)[-1]
        self.shown = text
        kind = "speaker" if symbols.is_speaker(token) else "laugh" if token == symbols.LAUGH else "word"
        return Piece(kind, added, new_turn)
