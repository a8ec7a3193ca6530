"""Output layers: full softmax, and an adaptive softmax whose word rows can be the embeddings.

The adaptive softmax (Grave et al., 2017; the algorithm of ``nn.AdaptiveLogSoftmaxWithLoss``)
splits the frequency-sorted vocabulary at ``cutoffs``: the head scores the shortlist plus one
logit per tail cluster; a word in cluster k gets ``log p(cluster k) + log p(word | cluster k)``.
Training only scores the tail clusters for the tokens that fall in them, so the cost per token is
roughly ``shortlist + (tail share x tail size)`` rows instead of the whole vocabulary. Unlike
``nn.AdaptiveLogSoftmaxWithLoss`` the word rows (full width, no tail projections) are passed in at
call time, so they can be the embedding matrix (weight tying) without a second copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AdaptiveSoftmax(nn.Module):
    """Cluster logits and bounds; word rows and biases are given to each call."""

    def __init__(self, dim: int, vocab_size: int, cutoffs: tuple[int, ...]) -> None:
        super().__init__()
        self.bounds = [0, *cutoffs, vocab_size]
        self.sizes = [hi - lo for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True)]
        self.shortlist = cutoffs[0]
        self.cluster = nn.Linear(dim, len(cutoffs))

    def _clusters(self, weight: Tensor, bias: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(word rows, biases) of the shortlist and of each tail cluster.

        ``split``, not slicing: the backward of each slice fills a zero matrix the size of the whole
        vocabulary and autograd adds them up; ``split``'s backward writes the pieces into one matrix.
        """
        return list(zip(weight.split(self.sizes), bias.split(self.sizes), strict=True))

    def _head(self, x: Tensor, shortlist: tuple[Tensor, Tensor]) -> Tensor:
        head = torch.cat([F.linear(x, *shortlist), self.cluster(x)], dim=-1)
        return F.log_softmax(head.float(), dim=-1)

    def log_prob(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """Log-probabilities over the whole vocabulary: [N, V]."""
        clusters = self._clusters(weight, bias)
        head = self._head(x, clusters[0])
        s = self.shortlist
        parts = [head[:, :s]]
        for k, words in enumerate(clusters[1:]):
            tail = F.log_softmax(F.linear(x, *words).float(), dim=-1)
            parts.append(tail + head[:, s + k : s + k + 1])
        return torch.cat(parts, dim=-1)

    def nll(self, x: Tensor, targets: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """Per-row negative log-likelihood of ``targets`` (nats), scoring tails only where needed."""
        clusters = self._clusters(weight, bias)
        head = self._head(x, clusters[0])
        s = self.shortlist
        head_target = targets.clone()
        logp = torch.zeros(targets.shape[0], device=x.device, dtype=head.dtype)
        tails = zip(self.bounds[1:-1], self.bounds[2:], clusters[1:], strict=True)
        for k, (lo, hi, words) in enumerate(tails):
            in_cluster = (targets >= lo) & (targets < hi)
            head_target = torch.where(in_cluster, torch.full_like(targets, s + k), head_target)
            rows = in_cluster.nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            tail = F.log_softmax(F.linear(x.index_select(0, rows), *words).float(), dim=-1)
            picked = tail.gather(1, (targets.index_select(0, rows) - lo).unsqueeze(1)).squeeze(1)
            logp = logp.index_add(0, rows, picked)
        logp = logp + head.gather(1, head_target.unsqueeze(1)).squeeze(1)
        return -logp


def full_log_prob(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Plain softmax over every word: [N, V]."""
    return F.log_softmax(F.linear(x, weight, bias).float(), dim=-1)


def full_nll(x: Tensor, targets: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return F.cross_entropy(F.linear(x, weight, bias).float(), targets, reduction="none")
