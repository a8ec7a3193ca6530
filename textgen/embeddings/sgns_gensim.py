"""The gensim backend: ``Word2Vec(sg=1)`` fed our ids as vocabulary tokens, one ``train`` call per epoch.

Training one epoch per call gives exact per-epoch timings and a per-epoch loss (gensim resets its
loss counter at each ``train`` call; across epochs it is cumulative and, in float32, saturates).
The learning rate still decays linearly over all epochs. Runs are reproducible only with one
worker (``workers=1``): gensim's threads race on the shared tables otherwise.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

import numpy as np

from textgen.embeddings.base import EpochStats, NeighboursFn, Progress, ProgressFn, TrainOutput, diverged
from textgen.embeddings.config import EmbeddingConfig

CHUNK = 10_000  # gensim's MAX_WORDS_IN_BATCH: longer "sentences" are truncated
MIN_ALPHA_FRACTION = 1e-4


def _stable_hash(text: str) -> int:
    """Deterministic replacement for Python's salted ``hash`` in gensim's vector initialisation."""
    return zlib.crc32(text.encode("utf-8"))


class _Stream:
    """Re-iterable chunks of token strings that reports how many raw words were read."""

    def __init__(self, ids: np.ndarray, itos: list[str], on_words: ProgressFn | None, epoch: int, epochs: int) -> None:
        self.ids, self.itos, self.on_words = ids, itos, on_words
        self.epoch, self.epochs = epoch, epochs
        self.t0 = time.perf_counter()
        self.last = self.t0

    def __iter__(self) -> Iterator[list[str]]:
        itos, raw = self.itos, len(self.ids)
        for start in range(0, raw, CHUNK):
            yield [itos[i] for i in self.ids[start : start + CHUNK].tolist()]
            now = time.perf_counter()
            if self.on_words is not None and now - self.last >= 0.5:
                self.last = now
                done = min(start + CHUNK, raw)
                rate = done / (now - self.t0)
                self.on_words(Progress("batch", self.epoch, self.epochs, done, raw, rate, 0.0))


def train_gensim(
    ids: np.ndarray,
    itos: list[str],
    counts: np.ndarray,
    trained: np.ndarray,
    config: EmbeddingConfig,
    progress: ProgressFn | None = None,
    neighbours: NeighboursFn | None = None,
) -> TrainOutput:
    """Train gensim's skip-gram on the id stream; returns vectors realigned to vocabulary ids."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        vector_size=config.dim,
        window=config.window,
        negative=config.negatives,
        ns_exponent=config.ns_exponent,
        sample=config.sample,
        min_count=config.min_count,
        sg=1,
        hs=0,
        alpha=config.learning_rate,
        min_alpha=config.learning_rate * MIN_ALPHA_FRACTION,
        workers=config.threads,
        seed=config.seed,
        hashfxn=_stable_hash,
    )
    freqs = {itos[i]: int(counts[i]) for i in np.flatnonzero(trained)}
    model.build_vocab_from_freq(freqs)
    raw = len(ids)
    lr0, lr_end = config.learning_rate, config.learning_rate * MIN_ALPHA_FRACTION
    n_chunks = -(-raw // CHUNK)
    stats: list[EpochStats] = []
    for epoch in range(1, config.epochs + 1):
        start_alpha = lr0 - (lr0 - lr_end) * (epoch - 1) / config.epochs
        end_alpha = lr0 - (lr0 - lr_end) * epoch / config.epochs
        stream = _Stream(ids, itos, progress, epoch, config.epochs)
        t0 = time.perf_counter()
        effective, raw_seen = model.train(
            stream, total_examples=n_chunks, epochs=1, start_alpha=start_alpha, end_alpha=end_alpha, compute_loss=True
        )
        seconds = time.perf_counter() - t0
        # gensim does not count pairs; a dynamic window of w gives w + 1 contexts per centre on average
        pairs = int(effective * (config.window + 1))
        loss = model.get_latest_training_loss() / max(pairs, 1)
        epoch_stats = EpochStats(epoch, seconds, raw_seen, effective, pairs, loss)
        if not (np.isfinite(loss) and np.isfinite(model.wv.vectors).all()):
            raise diverged(epoch, loss, lr0)
        if neighbours is not None:
            epoch_stats.neighbours = neighbours(_aligned(model, itos, trained))
        stats.append(epoch_stats)
        if progress is not None:
            progress(
                Progress(
                    "epoch",
                    epoch,
                    config.epochs,
                    raw_seen,
                    raw,
                    raw_seen / seconds,
                    effective / seconds,
                    epoch_stats.loss_per_pair,
                    epoch_stats.neighbours,
                )
            )
    return TrainOutput(_aligned(model, itos, trained), trained.copy(), stats)


def _aligned(model: object, itos: list[str], trained: np.ndarray) -> np.ndarray:
    """gensim stores rows by count: realign them to our vocabulary ids by key (zero rows elsewhere)."""
    wv = model.wv  # type: ignore[attr-defined]
    vectors = np.zeros((len(itos), wv.vector_size), dtype=np.float32)
    for i in np.flatnonzero(trained):
        vectors[i] = wv.get_vector(itos[i])
    return vectors
