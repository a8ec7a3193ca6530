"""Cluster-first sampling for adaptive-softmax models: draw from the head, score a tail only where a draw lands.

The adaptive softmax factorises a tail word's probability as ``p(w) = p(cluster c) * p(w | c)``. So a
draw can be made in two stages: draw from the head (the shortlist words plus one entry per tail
cluster holding the cluster's mass); only the rows whose draw is cluster ``c`` score that cluster's
tail (``[rows, tail size]`` instead of ``[B, V]``) and draw a word from ``p(. | c)``. The output
layer's cost per token drops from the whole vocabulary to the shortlist plus, for the few rows that
land in a cluster, that cluster.

* **Exact** (temperature 1, no top-k, no top-p, no repetition penalty, banned ids in the shortlist):
  the two-stage draw has exactly the distribution of a draw from the full softmax.
* **Cluster-level approximation** (top-k, top-p or temperature != 1, with ``exact=False``, the
  default): the rules are applied at two levels. At the head, each tail cluster competes as a single
  candidate whose probability is its whole mass (tempered as ``m_c ** (1/T)``); when a cluster is
  drawn, the same temperature/top-k/top-p rule picks a word within it from ``p(. | c)``. Whenever
  no cluster survives the head's top-k/top-p (the usual case for a trained model, and exactly the
  case the lazy bound of :mod:`textgen.generate.lazy` proves), this equals the exact rule, because
  no tail word can be more likely than its cluster. Otherwise a cluster's words enter the candidate
  set as a group. ``SamplingSettings(exact=True)`` (``--exact-sampling``) keeps the exact rule,
  through the lazy tails.

The probability recorded for each chosen token is the model's own (``log p(c) + log p(w | c)``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from textgen.generate.sampling import Sampler


class ClusterFirst:
    """One sampling step straight from the hidden state: ``(ids [B], model log-prob of each [B])``."""

    def __init__(self, model: Any, sampler: Sampler, exact: bool, dtype: torch.dtype | None = None) -> None:
        self.model, self.sampler, self.exact = model, sampler, exact
        self.adaptive = model.adaptive
        self.bounds: list[int] = list(self.adaptive.bounds)
        self.shortlist: int = int(self.adaptive.shortlist)
        self.clusters = list(zip(self.bounds[1:-1], self.bounds[2:], strict=True))
        self.dtype = dtype  # None: the hidden state's dtype; torch.bfloat16 for the batched CPU path
        self._weights: tuple[Tensor, Tensor] | None = None
        self.tail_rows = 0  # rows that scored a tail cluster (benchmarks and tests)
        self.rows = 0

    @staticmethod
    def exact_for(sampler: Sampler) -> bool:
        """Whether the two-stage draw is exactly the full-softmax rule for these settings."""
        s = sampler.settings
        return s.temperature == 1.0 and s.top_k == 0 and s.top_p == 1.0 and s.repetition_penalty == 1.0

    @classmethod
    def of(cls, model: Any, sampler: Sampler, dtype: torch.dtype | None = None) -> ClusterFirst | None:
        """A cluster-first step for ``model`` and ``sampler``, or None where it does not apply."""
        adaptive = getattr(model, "adaptive", None)
        ok = adaptive is not None and all(hasattr(adaptive, a) for a in ("bounds", "shortlist", "_head"))
        ok = ok and hasattr(model, "output_weight") and hasattr(model, "out_bias")
        s = sampler.settings
        if not ok or s.greedy or s.top_k == 1 or s.repetition_penalty != 1.0:
            return None  # greedy (top-k 1 is greedy): the lazy tails are exact and cheap
        if sampler.banned.numel() and int(sampler.banned.max()) >= int(adaptive.shortlist):
            return None
        exact = cls.exact_for(sampler)
        if not exact and getattr(s, "exact", False):
            return None
        return cls(model, sampler, exact, dtype)

    def _wb(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        if self._weights is None or self._weights[0].dtype != dtype:
            w, b = self.model.output_weight.detach(), self.model.out_bias.detach()
            self._weights = (w.to(dtype).contiguous(), b.to(dtype).contiguous())
        return self._weights

    def _pick(self, logp: Tensor) -> Tensor:
        """``[N]`` indices drawn from ``[N, W]`` log-scores under the sampler's temperature/top-k/top-p."""
        t = self.sampler.settings.temperature
        return self.sampler._draw(logp / t if t != 1.0 else logp).squeeze(1)

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        if self.dtype == torch.bfloat16 and hidden.device.type == "cpu":
            # the decode loop turns oneDNN off for the one-token LSTM steps; bf16 GEMMs need it (AMX)
            with torch.backends.mkldnn.flags(enabled=True):
                return self._step(hidden)
        return self._step(hidden)

    def _step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        x = hidden[:, -1]
        dtype = self.dtype or x.dtype
        x = x.to(dtype)
        w, bias = self._wb(dtype)
        s = self.shortlist
        head = self.adaptive._head(x, w, bias) if dtype == torch.float32 else self._head_cast(x, w, bias)
        scores = head
        banned = self.sampler.banned
        if banned.numel():
            scores = head.index_fill(1, banned, float("-inf"))
        choice = self._pick(scores)  # [B] in [0, S + clusters)
        logp = head.gather(1, choice.unsqueeze(1)).squeeze(1)
        ids = choice
        self.rows += int(x.shape[0])
        for k, (lo, hi) in enumerate(self.clusters):
            rows = (choice == s + k).nonzero().squeeze(1)
            n = int(rows.numel())
            if n == 0:
                continue
            self.tail_rows += n
            tail = F.log_softmax(F.linear(x.index_select(0, rows), w[lo:hi], bias[lo:hi]).float(), dim=-1)
            j = self._pick(tail)
            ids = ids.index_copy(0, rows, j + lo)
            logp = logp.index_add(0, rows, tail.gather(1, j.unsqueeze(1)).squeeze(1))
        self.sampler.observe(ids)
        return ids, logp

    def _head_cast(self, x: Tensor, w: Tensor, bias: Tensor) -> Tensor:
        s = self.shortlist
        cluster = self.adaptive.cluster
        head = torch.cat(
            [F.linear(x, w[:s], bias[:s]), F.linear(x, cluster.weight.to(x.dtype), cluster.bias.to(x.dtype))], dim=-1
        )
        return F.log_softmax(head.float(), dim=-1)
