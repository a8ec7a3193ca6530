"""Standard word-vector benchmarks shipped with gensim: analogies, WordSim353, SimLex-999."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

ANALOGIES = "questions-words.txt"
PAIR_SETS = ("wordsim353.tsv", "simlex999.txt")


def keyed_vectors(words: list[str], vectors: np.ndarray) -> Any:
    """A gensim ``KeyedVectors`` over ``words`` (rows of ``vectors``, in that order)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, vectors.astype(np.float32, copy=False))
    return kv


def _count_questions(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip() and not line.startswith(":"))


def _count_pairs(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip() and not line.startswith("#"))


def evaluate_vectors(words: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """Analogy accuracy and Spearman correlations, each with its out-of-vocabulary rate.

    ``words`` should be in descending frequency (gensim restricts analogies to the first 300,000).
    Scores are over the in-vocabulary questions/pairs only; OOV rates say how many were skipped.
    """
    from gensim.test.utils import datapath

    kv = keyed_vectors(words, vectors)
    result: dict[str, Any] = {}
    gensim_log = logging.getLogger("gensim")
    level = gensim_log.level
    gensim_log.setLevel(logging.ERROR)
    try:
        path = Path(datapath(ANALOGIES))
        accuracy, sections = kv.evaluate_word_analogies(str(path))
        total = next((s for s in sections if s["section"] == "Total accuracy"), {"correct": [], "incorrect": []})
        asked = len(total["correct"]) + len(total["incorrect"])
        questions = _count_questions(path)
        result["analogy"] = {
            "accuracy": float(accuracy) if asked else 0.0,
            "correct": len(total["correct"]),
            "evaluated": asked,
            "questions": questions,
            "oov_rate": 1.0 - asked / questions,
        }
        for name in PAIR_SETS:
            pair_path = Path(datapath(name))
            pearson, spearman, oov = kv.evaluate_word_pairs(str(pair_path))
            rho = float(spearman[0]) if not np.isnan(spearman[0]) else None
            result[name.split(".")[0]] = {
                "spearman": rho,
                "pearson": float(pearson[0]) if not np.isnan(pearson[0]) else None,
                "pairs": _count_pairs(pair_path),
                "oov_rate": float(oov) / 100.0,
            }
    finally:
        gensim_log.setLevel(level)
    return result
