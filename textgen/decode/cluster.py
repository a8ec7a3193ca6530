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
  case the lazy bound of :mod:`textgen.decode.lazy` proves), this equals the exact rule, because
  no tail word can be more likely than its cluster. Otherwise a cluster's words enter the candidate
  set as a group. ``SamplingSettings(exact=True)`` (``--exact-sampling``) keeps the exact rule,
  through the lazy tails.

The probability recorded for each chosen token is the model's own (``log p(c) + log p(w | c)``).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from textgen.decode.kernels import Precision
from textgen.decode.output import output_kernels
from textgen.decode.sampling import Sampler


class ClusterFirst:
    """One sampling step straight from the hidden state: ``(ids [B], model log-prob of each [B])``."""

    def __init__(self, model: Any, sampler: Sampler, exact: bool, precision: Precision = "fp32") -> None:
        self.model, self.sampler, self.exact = model, sampler, exact
        self.adaptive = model.adaptive
        self.bounds: list[int] = list(self.adaptive.bounds)
        self.shortlist: int = int(self.adaptive.shortlist)
        self.clusters = list(zip(self.bounds[1:-1], self.bounds[2:], strict=True))
        self.head, self.tails = output_kernels(model, precision)
        self.tail_rows = 0  # rows that scored a tail cluster (benchmarks and tests)
        self.rows = 0

    @classmethod
    def of(cls, model: Any, sampler: Sampler, precision: Precision = "fp32") -> ClusterFirst | None:
        """A cluster-first step for ``model`` and ``sampler``, or None where it does not apply."""
        adaptive = getattr(model, "adaptive", None)
        ok = adaptive is not None and all(hasattr(adaptive, a) for a in ("bounds", "shortlist", "cluster"))
        ok = ok and hasattr(model, "output_weight") and hasattr(model, "out_bias")
        mode = sampler.two_stage
        if not ok or mode is None:
            return None
        if sampler.banned.numel() and int(sampler.banned.max()) >= int(adaptive.shortlist):
            return None  # a banned id in a tail: the head cannot ban it
        return cls(model, sampler, mode == "exact", precision)

    @property
    def log_probs(self) -> None:
        """Cluster-first never forms the whole distribution."""
        return None

    def _pick(self, logp: Tensor) -> Tensor:
        """``[N]`` indices drawn from ``[N, W]`` log-scores under the sampler's temperature/top-k/top-p."""
        t = self.sampler.settings.temperature
        return self.sampler._draw(logp / t if t != 1.0 else logp).squeeze(1)

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        x = hidden[:, -1]
        head = F.log_softmax(self.head(x), dim=-1)
        scores = head
        banned = self.sampler.banned
        if banned.numel():
            scores = head.index_fill(1, banned, float("-inf"))
        choice = self._pick(scores)  # [B] in [0, S + clusters)
        logp = head.gather(1, choice.unsqueeze(1)).squeeze(1)
        ids = choice
        s = self.shortlist
        self.rows += int(x.shape[0])
        if bool((choice >= s).any()):
            for k, (lo, tail_map) in enumerate(zip(self.bounds[1:-1], self.tails, strict=True)):
                rows = (choice == s + k).nonzero().squeeze(1)
                n = int(rows.numel())
                if n == 0:
                    continue
                self.tail_rows += n
                tail = F.log_softmax(tail_map(x.index_select(0, rows)), dim=-1)
                j = self._pick(tail)
                ids = ids.index_copy(0, rows, j + lo)
                logp = logp.index_add(0, rows, tail.gather(1, j.unsqueeze(1)).squeeze(1))
        self.sampler.observe(ids)
        return ids, logp
