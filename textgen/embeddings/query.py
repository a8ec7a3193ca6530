"""Nearest neighbours and analogies by cosine similarity over learned rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgen.embeddings.base import NeighboursFn
from textgen.embeddings.export import Embeddings, load_safetensors
from textgen.errors import UnknownWordError, UsageError
from textgen.rundir import RunDir
from textgen.text.symbols import SPECIALS
from textgen.vocab import Vocab


@dataclass
class VectorIndex:
    """Unit-normalised learned vectors with their vocabulary."""

    vocab: Vocab
    unit: np.ndarray  # [vocab_size, dim], zero rows where not learned
    trained: np.ndarray

    @classmethod
    def build(cls, vocab: Vocab, emb: Embeddings) -> VectorIndex:
        norms = np.linalg.norm(emb.vectors, axis=1, keepdims=True)
        unit = np.divide(emb.vectors, norms, out=np.zeros_like(emb.vectors), where=norms > 0)
        return cls(vocab, unit.astype(np.float32), emb.trained & (norms[:, 0] > 0))

    @classmethod
    def load(cls, run_dir: str | Path) -> VectorIndex:
        rd = RunDir.of(run_dir)
        rd.require("vocab.json", "embeddings.safetensors")
        vocab = Vocab.load(rd / "vocab.json")
        return cls.build(vocab, load_safetensors(rd / "embeddings.safetensors", vocab))

    def id_of(self, word: str) -> int:
        """The id of a learned word, or :class:`UnknownWordError` with close learned words."""
        i = self.vocab.stoi.get(word)
        if i is not None and self.trained[i]:
            return i
        if i is not None:
            raise UnknownWordError(
                f"{word!r} is in the vocabulary but too rare to have a vector; lower --min-count and retrain", word
            )
        self.vocab.require(word)  # raises with suggestions
        raise UnknownWordError(f"{word!r} is not in the vocabulary")  # pragma: no cover

    def nearest(self, query: np.ndarray, n: int, exclude: set[int]) -> list[tuple[str, float]]:
        sims = self.unit @ query
        sims[~self.trained] = -np.inf
        for i in exclude:
            sims[i] = -np.inf
        k = min(n, int(np.isfinite(sims).sum()))
        top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.array([], dtype=int)
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.vocab.itos[i], float(sims[i])) for i in top]

    def similar(self, word: str, n: int = 10) -> list[tuple[str, float]]:
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        i = self.id_of(word)
        return self.nearest(self.unit[i], n, {i})

    def analogy(self, a: str, b: str, c: str, n: int = 10) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ? (3CosAdd: b - a + c, inputs excluded)."""
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        ia, ib, ic = self.id_of(a), self.id_of(b), self.id_of(c)
        query = self.unit[ib] - self.unit[ia] + self.unit[ic]
        norm = float(np.linalg.norm(query))
        return self.nearest(query / norm if norm > 0 else query, n, {ia, ib, ic})


def probe_words(vocab: Vocab, trained: np.ndarray, seed: int, k: int = 8) -> list[str]:
    """Validation words for the training log: ``k`` frequent ones and ``k`` from ranks 1000-1100."""
    rng = np.random.default_rng(seed)
    ranked = [i for i in range(len(SPECIALS), len(vocab)) if trained[i]]
    picks: list[int] = []
    frequent = ranked[:100]
    picks += rng.choice(frequent, size=min(k, len(frequent)), replace=False).tolist() if frequent else []
    rare = ranked[1000:1100]
    picks += rng.choice(rare, size=min(k, len(rare)), replace=False).tolist() if rare else []
    return [vocab.itos[i] for i in picks]


def neighbours_log(vocab: Vocab, trained: np.ndarray, words: list[str], n: int = 8) -> NeighboursFn:
    """A function that maps current vectors to ``{word: [nearest words]}`` for ``words``."""

    def compute(vectors: np.ndarray) -> dict[str, list[str]]:
        index = VectorIndex.build(vocab, Embeddings(vectors, trained))
        return {w: [x for x, _ in index.nearest(index.unit[vocab.stoi[w]], n, {vocab.stoi[w]})] for w in words}

    return compute
