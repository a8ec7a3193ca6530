"""Why the generator wrote what it wrote: a per-token table and an attention heatmap.

The table lists, per generated token, the model's probability of it, the entropy of the model's
distribution (bits) and its most likely alternatives, coloured by confidence (rich drops colour
when the output is not a terminal). The heatmap shows, for the attention model, how each generated
token's step weighted the outputs at the W positions before it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from textgen import io
from textgen.text import symbols
from textgen.text.detokenize import surface

if TYPE_CHECKING:
    from textgen.decode.generator import Sample

HIGH, LOW = 0.5, 0.1  # probability thresholds for green / yellow / red


def display(token: str) -> str:
    """A token as one short, visible cell (breaks shown as symbols)."""
    if token == symbols.RETURN:
        return "⏎"
    if token == symbols.TURN:
        return "¶"
    return surface(token)


def confidence_style(prob: float) -> str:
    return "green" if prob >= HIGH else ("yellow" if prob >= LOW else "red")


def token_table(sample: Sample, title: str | None = None) -> Table:
    """A rich table: #, token, probability, entropy (bits), top alternatives."""
    table = Table(title=title, show_edge=False, pad_edge=False, box=None)
    for name, justify in (
        ("#", "right"),
        ("token", "left"),
        ("p", "right"),
        ("H bits", "right"),
        ("alternatives", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    entropy = sample.entropy or [float("nan")] * len(sample.tokens)
    alternatives = sample.alternatives or [[] for _ in sample.tokens]
    for i, (token, prob, ent, alts) in enumerate(zip(sample.tokens, sample.probs, entropy, alternatives, strict=True)):
        style = confidence_style(prob)
        alt_text = "  ".join(f"{display(t)} {p:.2f}" for t, p in alts)
        table.add_row(
            str(i + 1), Text(display(token), style=style), Text(f"{prob:.3f}", style=style), f"{ent:.2f}", alt_text
        )
    return table


def attention_matrix(sample: Sample, prime_len: int, max_rows: int = 60) -> tuple[list[list[float]], int]:
    """Attention of each generated token's step over absolute positions ``[rows, columns]`` and the
    first column's position. Row j (token at position ``prime_len + j``) was computed at query
    position ``q = prime_len + j - 1``; its weight w covers the output at position ``q - W + w``."""
    attn = sample.attention or []
    rows = attn[:max_rows]
    if not rows:
        return [], 0
    window = len(rows[0])
    first = max(0, prime_len - 1 - window)
    last = prime_len + len(rows) - 2  # the last query position attends up to last - 1
    width = max(1, last - first)
    matrix = [[0.0] * width for _ in rows]
    for j, weights in enumerate(rows):
        q = prime_len + j - 1
        for w, value in enumerate(weights):
            pos = q - window + w
            if pos >= first and pos - first < width and pos >= 0:
                matrix[j][pos - first] = float(value)
    return matrix, first


def write_heatmap(path: str | os.PathLike[str], sample: Sample, prime: Sequence[str], max_rows: int = 60) -> None:
    """Write a PNG heatmap of ``sample``'s attention (matplotlib Agg, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix, first = attention_matrix(sample, len(prime), max_rows)
    if not matrix:
        matrix, first = [[0.0]], 0
    sequence = list(prime) + list(sample.tokens)
    cols = [display(t) for t in sequence[first : first + len(matrix[0])]]
    rows = [display(t) for t in sample.tokens[: len(matrix)]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(cols) + 2), max(4.0, 0.22 * len(rows) + 2)))
    try:
        image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0)
        ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xlabel("context (output after reading this token)")
        ax.set_ylabel("generated token")
        ax.set_title("attention over the previous outputs")
        fig.colorbar(image, ax=ax, fraction=0.03)
        fig.tight_layout()
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
