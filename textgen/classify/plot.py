"""The confusion-matrix PNG: rows normalised (each row is a gold label's recall profile), labelled, annotated.

Sized by the number of labels so that 18 stay readable; cells are annotated with the row share in
percent when there are at most 24 labels. The PNG has no timestamp, so the same scores give the
same bytes (matplotlib Agg). A cell with examples but under 0.5% reads ``<1``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from textgen import io


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | os.PathLike[str], title: str
) -> None:
    """Draw the row-normalised confusion matrix with gold labels (and their counts) down, predictions across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(labels)
    side = max(4.5, 0.5 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=100)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=list(labels), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=[f"{lab} ({int(t)})" for lab, t in zip(labels, totals[:, 0], strict=True)])
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label (examples)")
    ax.set_title(title)
    if n <= 24:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    share = shares[i, j]
                    text = f"{100 * share:.0f}" if share >= 0.005 else "<1"
                    ax.text(j, i, text, ha="center", va="center", fontsize=8,
                            color="white" if share > 0.55 else "black")  # fmt: skip
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of the row (%)")
    bar.set_ticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0", "25", "50", "75", "100"])
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
