"""The sequence classifier: embedded units -> a recurrent stack -> its final states -> a linear layer.

Batches hold sequences of different lengths, padded with ``<pad>`` (id 0) on the right and packed
(``pack_padded_sequence``), so the recurrent layers never read padding: a padded batch gives each
sequence the logits it gets alone. ``rnn`` is the tutorial's vanilla (tanh) RNN; ``gru`` and
``lstm``, optionally bidirectional, are the stronger ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from textgen.classify.units import PAD_ID

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class Shape:
    """Everything needed to rebuild the network (recorded in ``classifier.safetensors``)."""

    arch: str
    vocab_size: int
    classes: int
    emb_dim: int
    hidden: int
    layers: int
    bidirectional: bool
    dropout: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shape:
        return cls(
            str(data["arch"]), int(data["vocab_size"]), int(data["classes"]), int(data["emb_dim"]),
            int(data["hidden"]), int(data["layers"]), bool(data["bidirectional"]), float(data["dropout"]),
        )  # fmt: skip


class SequenceClassifier(nn.Module):
    """``forward(ids [B, T], lengths [B]) -> logits [B, classes]``."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        if shape.arch not in CELLS:
            raise ValueError(f"unknown arch {shape.arch!r}")
        self.shape = shape
        self.embed = nn.Embedding(shape.vocab_size, shape.emb_dim, padding_idx=PAD_ID)
        self.rnn = CELLS[shape.arch](
            shape.emb_dim,
            shape.hidden,
            num_layers=shape.layers,
            batch_first=True,
            bidirectional=shape.bidirectional,
            dropout=shape.dropout if shape.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(shape.dropout)
        self.out = nn.Linear(shape.hidden * (2 if shape.bidirectional else 1), shape.classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        x = self.drop(self.embed(ids))
        if bool((lengths == x.shape[1]).all()):  # no padding (a length-bucketed batch): nothing to pack
            _, state = self.rnn(x)
        else:
            _, state = self.rnn(pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False))
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        # h: [layers * directions, B, hidden]; the last layer's final state in each direction
        dirs = 2 if self.shape.bidirectional else 1
        final = torch.cat([h[-dirs + d] for d in range(dirs)], dim=-1)
        return self.out(self.drop(final))


def pad_batch(seqs: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """``(ids [B, T], lengths [B])``: sequences padded on the right with ``<pad>``; empty ones get one ``<pad>``.

    An empty sequence cannot be packed; the callers never pass one (an empty text is an error).
    """
    lengths = torch.tensor([max(len(s), 1) for s in seqs], dtype=torch.long)
    ids = torch.full((len(seqs), int(lengths.max()) if len(seqs) else 1), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return ids.to(device), lengths


@torch.no_grad()
def logits_of(
    model: SequenceClassifier, seqs: Sequence[Sequence[int]], device: torch.device, batch_size: int = 512
) -> Tensor:
    """Logits [N, classes] of every sequence (eval mode, batched in order), on the CPU."""
    model.eval()
    out = []
    for i in range(0, len(seqs), batch_size):
        ids, lengths = pad_batch(seqs[i : i + batch_size], device)
        out.append(model(ids, lengths).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.shape.classes)
