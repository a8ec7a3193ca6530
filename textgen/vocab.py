"""Vocabulary lookup tables ``stoi`` / ``itos`` (the classic recipe's vocab_to_int / int_to_vocab) in ``vocab.json``.

Special tokens sit at fixed ids (``<pad>`` 0, ``<unk>`` 1, ``<eos>`` 2); the rest are sorted by
descending count, ties broken by the token's text, so the same counts always give the same ids.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textgen import io
from textgen.errors import ArtifactError, UnknownWordError, UsageError, VocabularyError
from textgen.text.symbols import EOS, PAD, SPECIALS, UNK, is_speaker
from textgen.text.tokenizer import TokenizerSettings

FORMAT_VERSION = 1


def id_dtype(size: int) -> np.dtype:
    """The id array dtype for a vocabulary of ``size`` entries: uint16 when it fits, else uint32."""
    return np.dtype(np.uint16) if size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


@dataclass
class Vocab:
    """Token <-> id tables with counts (from the training split only)."""

    itos: list[str]
    counts: list[int]
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    min_count: int = 1
    max_vocab: int | None = None

    def __post_init__(self) -> None:
        if len(self.itos) != len(self.counts):
            raise ArtifactError("vocab.json: itos and counts differ in length; rerun `textgen build-vocab`")
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ArtifactError(f"vocab.json must start with {SPECIALS}; rerun `textgen build-vocab`")
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    @property
    def unk_id(self) -> int:
        return self.stoi[UNK]

    @property
    def eos_id(self) -> int:
        return self.stoi[EOS]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    @staticmethod
    def check_limits(min_count: int, max_vocab: int | None) -> None:
        """Raise :class:`UsageError` for a ``--min-count`` or ``--max-vocab`` that cannot work."""
        if min_count < 1:
            raise UsageError(f"--min-count must be at least 1, got {min_count}")
        if max_vocab is not None and max_vocab <= len(SPECIALS):
            raise UsageError(f"--max-vocab must be more than {len(SPECIALS)} (the special tokens), got {max_vocab}")

    @classmethod
    def build(
        cls,
        counts: Counter[str],
        min_count: int = 1,
        max_vocab: int | None = None,
        tokenizer: TokenizerSettings | None = None,
    ) -> Vocab:
        """Tables from token counts: specials first, then by descending count, then by text."""
        cls.check_limits(min_count, max_vocab)
        kept = [(tok, c) for tok, c in counts.items() if c >= min_count and tok not in SPECIALS]
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_vocab is not None:
            kept = kept[: max_vocab - len(SPECIALS)]
        if not kept:
            top = max(counts.values(), default=0)
            raise VocabularyError(
                f"--min-count {min_count} leaves an empty vocabulary (the most frequent token occurs {top} times); "
                "lower --min-count or use a larger corpus"
            )
        itos = list(SPECIALS) + [tok for tok, _ in kept]
        # <eos> counts its real occurrences; <pad>/<unk> start at 0
        special_counts = [0, 0, counts.get(EOS, 0)]
        return cls(itos, special_counts + [c for _, c in kept], tokenizer or TokenizerSettings(), min_count, max_vocab)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids for tokens (unknown tokens map to ``<unk>``), as the smallest fitting dtype."""
        unk = self.unk_id
        stoi = self.stoi
        ids = np.fromiter((stoi.get(t, unk) for t in tokens), dtype=np.int64)
        return ids.astype(self.id_dtype)

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    @property
    def id_dtype(self) -> np.dtype:
        """uint16 while every id fits, else uint32 (files from before also hold int32; readers take any)."""
        return id_dtype(len(self.itos))

    def require(self, word: str) -> int:
        """The id of ``word``, or :class:`UnknownWordError` listing the closest entries (or what to use)."""
        if word in self.stoi:
            return self.stoi[word]
        close = self.suggest(word)
        if close:
            raise UnknownWordError(f"{word!r} is not in the vocabulary; closest: {', '.join(close)}", word, close)
        speakers = [t for t in self.itos if is_speaker(t)][:4]
        example = f"; speakers here: {', '.join(s[:-1] for s in speakers)}" if speakers else ""
        raise UnknownWordError(
            f"{word!r} is not in the vocabulary and nothing there is spelled like it; use words of the corpus{example}",
            word,
            [s[:-1] for s in speakers],
        )

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Closest vocabulary entries by spelling (frequent entries first among ties)."""
        pool = self.itos[len(SPECIALS) : len(SPECIALS) + 50000]
        return difflib.get_close_matches(word, pool, n=n, cutoff=0.6)

    def sha256(self) -> str:
        """A fingerprint of the id table: checkpoints record it to detect a mismatched vocabulary."""
        return io.sha256_bytes("\n".join(self.itos).encode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "itos": self.itos,
            "counts": self.counts,
            "size": len(self.itos),
            "specials": list(SPECIALS),
            "min_count": self.min_count,
            "max_vocab": self.max_vocab,
            "tokenizer": self.tokenizer.to_dict(),
            "sha256": self.sha256(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        io.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        p = Path(path)
        data = io.read_json(p, "vocabulary")
        try:
            problem = _vocab_problem(data)
            if problem:
                raise ValueError(problem)
            vocab = cls(
                list(data["itos"]),
                [int(c) for c in data["counts"]],
                TokenizerSettings.from_dict(data.get("tokenizer", {})),
                int(data.get("min_count", 1)),
                data.get("max_vocab"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(
                f"{p} is not a textgen vocabulary ({exc}); rerun `textgen build-vocab --run-dir {p.parent}`"
            ) from exc
        if data.get("sha256") and data["sha256"] != vocab.sha256():
            raise ArtifactError(
                f"{p} was edited (its sha256 does not match its tokens); "
                f"rerun `textgen build-vocab --run-dir {p.parent}`"
            )
        return vocab

    def check_ids(self, ids: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
        """``ids`` if it is a 1-D integer array of this vocabulary's ids; else an :class:`ArtifactError`."""
        fix = f"rerun `textgen build-vocab --run-dir {Path(path).parent}`"
        if ids.ndim != 1:
            raise ArtifactError(f"{path} has shape {ids.shape}, not one row of token ids; {fix}")
        if ids.dtype.kind not in "iu":
            raise ArtifactError(f"{path} holds {ids.dtype} values, not integer token ids; {fix}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise ArtifactError(
                f"{path} has ids outside 0..{len(self) - 1} (min {int(ids.min())}, max {int(ids.max())}): "
                f"it does not match vocab.json; {fix}"
            )
        return ids

    def read_ids(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A memory-mapped id array checked against this vocabulary."""
        return self.check_ids(io.read_npy(path), path)


def _vocab_problem(data: Any) -> str | None:
    """Why ``data`` cannot be a vocab.json (a phrase), or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    itos, counts = data.get("itos"), data.get("counts")
    if not isinstance(itos, list) or not isinstance(counts, list):
        return "itos and counts must be lists"
    bad = next((t for t in itos if not isinstance(t, str) or not t or any(c.isspace() for c in t)), None)
    if bad is not None or any(not isinstance(t, str) for t in itos):
        return f"itos holds {bad!r}, not a token"
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
        return "counts must be non-negative integers"
    if len(set(itos)) != len(itos):
        return "itos lists a token twice"
    return None
