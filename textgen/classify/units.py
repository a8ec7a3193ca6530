"""What the classifier reads: characters or word tokens, and their ids.

A :class:`Codec` turns text into units (``char``: the characters of the stripped text; ``word``:
the script tokenizer's tokens, speaker and line-break tokens left out) and units into ids; units
never seen in training map to ``<unk>`` and are reported, so ``classify --json`` can flag them.
The recorded split stores each example as the classifier reads it: the text itself at char level,
its tokens joined by spaces at word level (tokens never contain whitespace).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from textgen.errors import ArtifactError
from textgen.text import symbols
from textgen.text.tokenizer import ScriptTokenizer, TokenizerSettings

PAD_ID, UNK_ID = 0, 1
SPECIALS = (symbols.PAD, symbols.UNK)
# tokens that frame a turn rather than say anything (left out of word-level examples)
STRUCTURE = frozenset({symbols.PAD, symbols.EOS, symbols.RETURN, symbols.TURN})


@functools.lru_cache(maxsize=4)
def _tokenizer(settings: TokenizerSettings) -> ScriptTokenizer:
    return ScriptTokenizer(settings)


def word_units(tokens: Iterable[str]) -> list[str]:
    """The tokens a word-level classifier reads: no speaker tokens, no line or turn breaks."""
    return [t for t in tokens if t not in STRUCTURE and not symbols.is_speaker(t)]


@dataclass
class Codec:
    """Units <-> ids for one classifier; ``itos`` starts with ``<pad>`` (0) and ``<unk>`` (1)."""

    level: str  # "char" | "word"
    itos: list[str]
    tokenizer: TokenizerSettings | None = None  # word level: how raw text becomes tokens
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.level not in ("char", "word") or tuple(self.itos[:2]) != SPECIALS:
            raise ArtifactError("classifier vocabulary must start with <pad>, <unk>; retrain with train-classifier")
        if self.level == "word" and self.tokenizer is None:
            self.tokenizer = TokenizerSettings(lowercase=True)
        self.stoi = {u: i for i, u in enumerate(self.itos)}

    @classmethod
    def build(cls, level: str, texts: Iterable[str], tokenizer: TokenizerSettings | None = None) -> Codec:
        """A vocabulary of every unit in ``texts`` (recorded form), by descending count, then by text."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(cls.recorded_units(level, text))
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(counts.items(), key=lambda uc: (-uc[1], uc[0]))
        return cls(level, [*SPECIALS, *(u for u, _ in kept)], tokenizer)

    @classmethod
    def from_vocab(cls, itos: Sequence[str], tokenizer: TokenizerSettings) -> Codec:
        """A word codec on a run's vocabulary (``<pad>``, ``<unk>``, ``<eos>``, ...): ids stay the run's."""
        return cls("word", list(itos), tokenizer)

    def __len__(self) -> int:
        return len(self.itos)

    @staticmethod
    def recorded_units(level: str, text: str) -> list[str]:
        """Units of an example in its recorded form."""
        return list(text) if level == "char" else [t for t in text.split(" ") if t]

    def record(self, text: str) -> str:
        """Raw text -> the recorded form (stripped text, or its tokens joined by spaces)."""
        if self.level == "char":
            return text.strip()
        assert self.tokenizer is not None
        return " ".join(word_units(_tokenizer(self.tokenizer).tokenize(text)))

    def units(self, text: str) -> list[str]:
        """Raw text -> the units the classifier reads."""
        return self.recorded_units(self.level, self.record(text))

    def encode(self, units: Sequence[str]) -> tuple[list[int], list[str]]:
        """Ids of ``units`` and the units never seen in training (mapped to ``<unk>``), in order, once each."""
        ids, unknown = [], []
        for u in units:
            i = self.stoi.get(u, UNK_ID)
            if i == UNK_ID and u not in unknown:
                unknown.append(u)
            ids.append(i)
        return ids, unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "itos": self.itos,
            "tokenizer": self.tokenizer.to_dict() if self.tokenizer is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codec:
        tok = data.get("tokenizer")
        return cls(
            str(data["level"]), [str(u) for u in data["itos"]], TokenizerSettings.from_dict(tok) if tok else None
        )
