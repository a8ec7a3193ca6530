"""Exact, lazy output layer for adaptive-softmax models: score a tail cluster only when it can matter.

The adaptive softmax gives every tail cluster k a head probability ``m_k``, and no word of that
cluster can be more likely than ``m_k``. So, for the sampling modes whose choice depends only on the
most likely tokens, a cluster can be skipped exactly:

* greedy: skip k when ``m_k`` is below the best shortlist score;
* top-k (any temperature and top-p, repetition penalty >= 1): skip k when ``m_k`` is below the k-th
  best shortlist score;
* top-p alone at temperature 1 without penalty: skip k when the shortlist words more likely than
  ``m_k`` already hold ``top_p`` of the mass.

A skipped cluster keeps one placeholder entry holding ``log m_k`` (so normalisation stays exact) and
``-inf`` elsewhere; by the bounds above neither can be chosen. Tails are scored only for the rows of
the batch that need them. The result is the distribution :meth:`model.log_probs` gives, restricted
to what the sampler can pick; the chosen token's log-probability is the model's own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from textgen.decode.kernels import Precision
from textgen.decode.output import output_kernels
from textgen.decode.sampling import Sampler


class LazyAdaptive:
    """Per-step log-probabilities with tail clusters scored only where the sampler may need them."""

    def __init__(self, model: Any, precision: Precision = "fp32") -> None:
        self.model = model
        self.head_map, self.tails = output_kernels(model, precision)
        self.adaptive = model.adaptive
        self.bounds: list[int] = list(self.adaptive.bounds)
        self.shortlist: int = int(self.adaptive.shortlist)
        self.skipped = 0  # tail rows skipped, for benchmarks and tests
        self.scored = 0

    @classmethod
    def of(cls, model: Any, sampler: Sampler, precision: Precision = "fp32") -> LazyAdaptive | None:
        """A lazy output for ``model`` when it has an adaptive softmax and ``sampler`` allows pruning."""
        adaptive = getattr(model, "adaptive", None)
        ok = adaptive is not None and all(hasattr(adaptive, a) for a in ("bounds", "shortlist", "cluster"))
        ok = ok and hasattr(model, "output_weight") and hasattr(model, "out_bias")
        return cls(model, precision) if ok and sampler.prune_mode is not None else None

    def log_probs(self, hidden: Tensor, sampler: Sampler) -> Tensor:
        """``[B, V]`` log-probabilities of the last position; skipped clusters hold a placeholder."""
        x = hidden[:, -1]
        s = self.shortlist
        head = F.log_softmax(self.head_map(x), dim=-1)  # [B, S + clusters] log-probs
        b = x.shape[0]
        out = torch.full((b, self.bounds[-1]), float("-inf"), device=x.device)
        out[:, :s] = head[:, :s]
        clusters = list(zip(self.bounds[1:-1], self.bounds[2:], strict=True))
        for k, (lo, _) in enumerate(clusters):
            out[:, lo] = head[:, s + k]  # placeholder: the cluster's whole mass
        short = sampler.scores(head[:, :s])
        for k, (lo, hi) in enumerate(clusters):
            need = sampler.cluster_needed(short, head[:, s + k], head[:, s:])
            rows = need.nonzero().squeeze(1)
            n = int(rows.numel())
            self.scored += n
            self.skipped += b - n
            if n == 0:
                continue
            xr, hr = (x, head) if n == b else (x.index_select(0, rows), head.index_select(0, rows))
            tail = F.log_softmax(self.tails[k](xr), dim=-1) + hr[:, s + k : s + k + 1]
            if n == b:
                out[:, lo:hi] = tail
            else:
                out[rows, lo:hi] = tail
        return out
