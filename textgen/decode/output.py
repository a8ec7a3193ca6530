"""The output layer for decoding, in the decode precision: adaptive (head + tails) or full softmax.

Same rows and biases as the model's own output layer (the embedding matrix when tied), laid out by
:class:`textgen.decode.kernels.Affine` once per model and precision; in ``fp32`` the
log-probabilities equal ``model.log_probs`` up to float summation order (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from textgen.decode.kernels import Affine, Precision, prepared


def output_kernels(model: Any, precision: Precision) -> tuple[Affine, list[Affine]]:
    """An adaptive model's head (shortlist rows, then one row per cluster) and tails in ``precision``."""

    def build() -> tuple[Affine, list[Affine]]:
        w, b = model.output_weight.detach(), model.out_bias.detach()
        adaptive = model.adaptive
        s, bounds = int(adaptive.shortlist), list(adaptive.bounds)
        head_w = torch.cat([w[:s], adaptive.cluster.weight.detach()])
        head = Affine(head_w, torch.cat([b[:s], adaptive.cluster.bias.detach()]), precision)
        return head, [Affine(w[lo:hi], b[lo:hi], precision) for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)]

    return prepared(model, ("adaptive-output", precision), build)


def log_probs_fn(model: Any, precision: Precision) -> Callable[[Tensor], Tensor]:
    """``f(x [B, D]) -> [B, V]`` log-probabilities for either output layer, kernels resolved once
    (call it per step; resolving per step would re-check every parameter's version)."""
    if getattr(model, "adaptive", None) is None:
        full = prepared(
            model, ("full-output", precision), lambda: Affine(model.output_weight, model.out_bias, precision)
        )
        return lambda x: F.log_softmax(full(x), dim=-1)
    head_map, tails = output_kernels(model, precision)
    s = int(model.adaptive.shortlist)

    def adaptive(x: Tensor) -> Tensor:
        head = F.log_softmax(head_map(x), dim=-1)
        parts = [head[:, :s]] + [F.log_softmax(t(x), dim=-1) + head[:, s + k : s + k + 1] for k, t in enumerate(tails)]
        return torch.cat(parts, dim=-1)

    return adaptive
