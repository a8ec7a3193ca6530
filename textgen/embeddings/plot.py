"""A labelled 2-D map (PCA) of the most frequent learned words; speaker tokens in colour."""

from __future__ import annotations

import os

import numpy as np

from textgen import io
from textgen.embeddings.export import Embeddings
from textgen.text.symbols import SPECIALS, is_speaker


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project rows onto their first two principal components (deterministic signs)."""
    centred = vectors - vectors.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])
    return centred @ (axes * signs[:, None]).T


def plot_map(path: str | os.PathLike[str], itos: list[str], emb: Embeddings, top: int = 300) -> int:
    """Write a PNG of the ``top`` most frequent learned words; returns how many were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = np.isfinite(emb.vectors).all(1)
    ids = [i for i in range(len(SPECIALS), len(itos)) if emb.trained[i] and finite[i]][:top]
    if len(ids) < 2:
        return 0
    try:
        xy = pca_2d(emb.vectors[ids].astype(np.float64))
    except np.linalg.LinAlgError:  # degenerate vectors: no map rather than a failed stage
        return 0
    speaker = np.array([is_speaker(itos[i]) for i in ids])
    fig, ax = plt.subplots(figsize=(16, 16), dpi=80)
    try:
        ax.scatter(xy[~speaker, 0], xy[~speaker, 1], s=8, c="tab:blue", label="word")
        ax.scatter(xy[speaker, 0], xy[speaker, 1], s=14, c="tab:red", label="speaker")
        for (x, y), i, spk in zip(xy, ids, speaker, strict=True):
            ax.annotate(itos[i], (x, y), fontsize=7, color="tab:red" if spk else "black", alpha=0.85)
        ax.set_title(f"{len(ids)} most frequent words (PCA of the embeddings)")
        ax.legend(loc="upper right")
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return len(ids)
