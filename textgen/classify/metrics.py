"""Classification scores: accuracy, per-label precision/recall/F1, macro-F1, the confusion matrix, baselines.

Plain Python over label indices (no torch), so the tests and the benchmark's peer use the same
arithmetic. A label never predicted has precision 0; a label with no examples is left out of
macro-F1 (it has no recall to speak of) and reported with ``support`` 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def confusion(gold: Sequence[int], pred: Sequence[int], n: int) -> list[list[int]]:
    """``m[i][j]``: examples of label ``i`` predicted as ``j``."""
    m = [[0] * n for _ in range(n)]
    for g, p in zip(gold, pred, strict=True):
        m[g][p] += 1
    return m


def per_label(matrix: list[list[int]]) -> list[dict[str, float | int]]:
    """Precision, recall, F1 and support of each label."""
    n = len(matrix)
    rows = []
    for i in range(n):
        tp = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(matrix[r][i] for r in range(n))
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        rows.append({"precision": p, "recall": r, "f1": f1, "support": support})
    return rows


def scores(
    gold: Sequence[int], pred: Sequence[int], labels: Sequence[str], train_gold: Sequence[int]
) -> dict[str, Any]:
    """Everything ``evaluate-classifier`` reports about one split.

    ``majority_baseline``: the accuracy of always answering the most frequent training label.
    """
    n = len(labels)
    matrix = confusion(gold, pred, n)
    rows = per_label(matrix)
    present = [r for r in rows if r["support"]]
    majority = Counter(train_gold).most_common(1)[0][0] if train_gold else 0
    total = len(gold)
    return {
        "examples": total,
        "accuracy": sum(matrix[i][i] for i in range(n)) / total if total else 0.0,
        "macro_f1": sum(float(r["f1"]) for r in present) / len(present) if present else 0.0,
        "majority_label": labels[majority],
        "majority_baseline": sum(1 for g in gold if g == majority) / total if total else 0.0,
        "labels": list(labels),
        "per_label": {lab: row for lab, row in zip(labels, rows, strict=True)},
        "confusion": matrix,
    }


def macro_f1(gold: Sequence[int], pred: Sequence[int], n: int) -> float:
    """Mean F1 over the labels that have examples."""
    rows = [r for r in per_label(confusion(gold, pred, n)) if r["support"]]
    return sum(float(r["f1"]) for r in rows) / len(rows) if rows else 0.0


def accuracy(gold: Sequence[int], pred: Sequence[int]) -> float:
    return sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold) if gold else 0.0
