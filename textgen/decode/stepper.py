"""One-token steps of the LSTM generator for decoding: fused gate GEMMs, state kept in place.

``nn.LSTM`` called on one token per step pays for its module call, weight checks and two GEMMs per
layer. Decoding instead keeps, per layer, one weight ``[W_ih | W_hh]`` (gates reordered to
``i, f, o, g`` so one sigmoid covers three of them) in the layout of the chosen precision
(:mod:`textgen.decode.kernels`), and updates the cell state in place::

    gates = [x, h] @ W.T + b          # one GEMM per layer
    i, f, o = sigmoid(gates[:3H]);  g = tanh(gates[3H:])
    c = f * c + i * g;  h = o * tanh(c)

In ``fp32`` this is the model's arithmetic up to float summation order (tested against the full
forward pass); ``bf16`` and ``int8`` trade a bounded error for speed. The attention model keeps
the module path (its rolling cache lives in the module).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from textgen.decode.kernels import Affine, Precision, prepared
from textgen.lm.model import LSTMGenerator


class LSTMStepper:
    """``hidden [B, 1, D] = step(ids [B])`` for an eval-mode :class:`LSTMGenerator`."""

    def __init__(self, model: LSTMGenerator, precision: Precision) -> None:
        self.hidden_size = model.lstm.hidden_size
        self.layers, self.proj = prepared(model, ("lstm-step", precision), lambda: _build(model, precision))
        self.embedding = model.embedding.weight.detach()
        self.h: list[Tensor] = []
        self.c: list[Tensor] = []

    @classmethod
    def of(cls, model: Any, precision: Precision = "fp32") -> LSTMStepper | None:
        """A stepper for ``model``, or None where the module path must run (attention, training)."""
        lstm = getattr(model, "lstm", None)
        plain = isinstance(model, LSTMGenerator) and not model.training and isinstance(lstm, torch.nn.LSTM)
        if not plain or lstm.bidirectional or lstm.proj_size or not lstm.bias:
            return None
        return cls(model, precision)

    def load(self, state: tuple[Tensor, ...]) -> None:
        """Start from the model's state ``(h [L, B, H], c [L, B, H], ...)`` (copied)."""
        self.h = [layer.float().clone() for layer in state[0]]
        self.c = [layer.float().clone() for layer in state[1]]

    def step(self, ids: Tensor) -> Tensor:
        """Feed one token per stream; return the output features ``[B, 1, D]``."""
        hs = self.hidden_size
        x = self.embedding.index_select(0, ids)
        for k, gate_map in enumerate(self.layers):
            gates = gate_map(torch.cat([x, self.h[k]], dim=1))
            sig = gates[:, : 3 * hs].sigmoid_()
            cell = gates[:, 3 * hs :].tanh_()
            c = self.c[k]
            c.mul_(sig[:, hs : 2 * hs]).addcmul_(sig[:, :hs], cell)
            x = sig[:, 2 * hs :] * torch.tanh(c)
            self.h[k] = x
        if self.proj is not None:
            x = self.proj(x)
        return x.unsqueeze(1)


def _build(model: LSTMGenerator, precision: Precision) -> tuple[list[Affine], Affine | None]:
    lstm = model.lstm
    hs = lstm.hidden_size
    order = torch.cat([torch.arange(0, 2 * hs), torch.arange(3 * hs, 4 * hs), torch.arange(2 * hs, 3 * hs)])
    order = order.to(lstm.weight_ih_l0.device)  # torch's gate order is i, f, g, o
    layers = []
    for k in range(lstm.num_layers):
        weight = torch.cat([getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")], dim=1)
        bias = getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")
        layers.append(Affine(weight.detach()[order], bias.detach()[order], precision))
    proj = model.proj
    return layers, None if proj is None else Affine(proj.weight, proj.bias, precision)
