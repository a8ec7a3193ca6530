"""Loss-curve PNG (train and validation loss per token, and val_bpb) with matplotlib's Agg backend."""

from __future__ import annotations

import os
from typing import Any

from textgen import io


def plot_loss_curve(records: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Draw train loss and validation loss (nats/token) against optimizer steps; atomic write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("kind") == "train"]
    val = [(r["step"], r["val_loss"], r["val_bpb"]) for r in records if r.get("kind") == "val"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue", alpha=0.7)
    if val:
        steps, losses, bpbs = zip(*val, strict=True)
        ax.plot(steps, losses, "o-", label="validation loss", color="tab:orange")
        best = min(range(len(bpbs)), key=bpbs.__getitem__)
        ax.annotate(
            f"best val_bpb {bpbs[best]:.3f}",
            (steps[best], losses[best]),
            textcoords="offset points",
            xytext=(0, 10),
            ha="center",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title("textgen generator training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
