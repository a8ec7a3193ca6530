"""What both backends share: the training stream, subsampling, progress events, results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgen.errors import TextgenError, VocabularyError
from textgen.text.symbols import PAD, UNK
from textgen.vocab import Vocab


class TrainingDivergedError(TextgenError):
    """The loss or the vectors became non-finite; nothing was written."""


def diverged(epoch: int, loss: float, lr: float, batch_size: int | None = None) -> TrainingDivergedError:
    """The one-line error for a non-finite loss in ``epoch``."""
    fix = f"lower --lr (was {lr:g})" + (f" or --batch-size (was {batch_size})" if batch_size is not None else "")
    return TrainingDivergedError(f"training diverged at epoch {epoch} (loss/pair {loss}); {fix}; nothing was written")


@dataclass
class Progress:
    """One progress report: ``kind`` is ``"batch"`` (within an epoch) or ``"epoch"`` (epoch done)."""

    kind: str
    epoch: int
    epochs: int
    words_done: int  # raw words of this epoch processed so far
    words_total: int  # raw words per epoch
    words_per_s: float
    effective_words_per_s: float = 0.0
    loss: float | None = None  # mean loss per (centre, context) pair
    neighbours: dict[str, list[str]] = field(default_factory=dict)


ProgressFn = Callable[[Progress], None]
NeighboursFn = Callable[[np.ndarray], dict[str, list[str]]]


@dataclass
class EpochStats:
    epoch: int
    seconds: float
    raw_words: int
    effective_words: int
    pairs: int
    loss_per_pair: float
    neighbours: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "seconds": round(self.seconds, 4),
            "raw_words": self.raw_words,
            "effective_words": self.effective_words,
            "pairs": self.pairs,
            "loss_per_pair": self.loss_per_pair,
            "words_per_s": self.raw_words / self.seconds if self.seconds > 0 else 0.0,
            "effective_words_per_s": self.effective_words / self.seconds if self.seconds > 0 else 0.0,
            "neighbours": self.neighbours,
        }


@dataclass
class TrainOutput:
    """Input vectors for every vocabulary id (untrained rows are zero) and per-epoch statistics."""

    vectors: np.ndarray  # [vocab_size, dim] float32
    trained: np.ndarray  # [vocab_size] bool: rows that were learned
    epochs: list[EpochStats]


def trainable_mask(vocab: Vocab, min_count: int) -> np.ndarray:
    """Ids that get vectors: count >= min_count, never ``<pad>``/``<unk>``; at least two words."""
    counts = np.asarray(vocab.counts, dtype=np.int64)
    mask = counts >= min_count
    for special in (PAD, UNK):
        mask[vocab.stoi[special]] = False
    if int(mask.sum()) < 2:
        top = int(counts[len((PAD, UNK)) :].max(initial=0))
        raise VocabularyError(
            f"only {int(mask.sum())} word(s) occur at least --min-count {min_count} times (the most frequent "
            f"occurs {top}); lower --min-count or use a larger corpus"
        )
    return mask


def keep_probabilities(counts: np.ndarray, trained: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a word with probability ``(sqrt(c/t) + 1) * t / c``, ``t = sample * N``."""
    kept_counts = np.where(trained, counts, 0).astype(np.float64)
    if sample <= 0:
        return trained.astype(np.float64)
    threshold = sample * kept_counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = (np.sqrt(kept_counts / threshold) + 1.0) * threshold / kept_counts
    prob = np.where(kept_counts > 0, np.minimum(prob, 1.0), 0.0)
    return prob


def noise_distribution(counts: np.ndarray, trained: np.ndarray, exponent: float) -> np.ndarray:
    """Negative-sampling weights: count ** exponent over trained words, zero elsewhere."""
    weights = np.where(trained, counts.astype(np.float64), 0.0)
    weights = np.where(weights > 0, np.power(np.maximum(weights, 1.0), exponent), 0.0)
    return weights / weights.sum()
