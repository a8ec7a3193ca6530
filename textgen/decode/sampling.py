"""Choosing the next token from the model's log-probabilities, for a whole batch at once.

Order of operations per step (each optional except the bans):

1. banned ids (``<pad>``, ``<unk>``) get probability zero;
2. repetition penalty: tokens already in a stream's history have their probability raised to the
   power ``r`` (``log p * r``; CTRL's rule for negative scores). Structural tokens (punctuation,
   breaks, speakers, laughs, ``<eos>``) are exempt, so a script keeps its shape;
3. ``greedy``: argmax. Otherwise temperature, then top-k, then top-p (the nucleus is taken over the
   distribution renormalised after top-k, as Hugging Face does), then one draw per stream from a
   seeded :class:`torch.Generator`.

Top-k/top-p never sort the whole vocabulary: top-k works on a ``topk`` shortlist; top-p alone draws by
rejection (a candidate from the whole distribution is kept when it lies in the nucleus), falling back
to a full sort only for a row whose few candidates all lay outside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from textgen.decode.settings import SamplingSettings
from textgen.text import symbols

# top-p without top-k: candidates drawn per row before falling back to a full sort
_NUCLEUS_TRIES = 4
# wider rows are drawn by inverse CDF (one uniform) instead of torch.multinomial (one exponential per entry)
_INVERSE_CDF_FROM = 512


def structural_mask(itos: Sequence[str]) -> Tensor:
    """True for tokens exempt from the repetition penalty (punctuation, breaks, speakers, markers)."""
    exempt = {symbols.RETURN, symbols.TURN, symbols.PAD, symbols.UNK, *symbols.MARKER_TEXT}  # laugh, eos, screenplay
    flags = [tok in exempt or symbols.is_speaker(tok) or symbols.punct_text(tok) is not None for tok in itos]
    return torch.tensor(flags, dtype=torch.bool)


class Sampler:
    """Batched, seeded next-token choice; keeps each stream's token history for the penalty."""

    def __init__(
        self,
        settings: SamplingSettings,
        vocab_size: int,
        banned_ids: Sequence[int],
        exempt: Tensor | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.settings = settings.validate()
        self.vocab_size = vocab_size
        self.device = torch.device(device)
        self.banned = torch.tensor(sorted(set(banned_ids)), dtype=torch.long, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.penalize = settings.repetition_penalty != 1.0
        self.penalizable = (
            ~exempt.to(self.device)
            if exempt is not None
            else torch.ones(vocab_size, dtype=torch.bool, device=self.device)
        )
        self.seen: Tensor | None = None

    @property
    def two_stage(self) -> str | None:
        """Whether an adaptive-softmax draw may go head first (:mod:`textgen.decode.cluster`):
        ``"exact"`` (the same distribution as the full rule), ``"cluster-level"`` (the rules applied per
        level; ``exact`` settings refuse it) or None (greedy and the penalty need every word's score)."""
        s = self.settings
        if s.greedy or s.top_k == 1 or s.repetition_penalty != 1.0:
            return None
        if s.temperature == 1.0 and s.top_k == 0 and s.top_p == 1.0:
            return "exact"
        return None if s.exact_sampling else "cluster-level"

    @property
    def prune_mode(self) -> str | None:
        """Which exact tail-pruning rule applies (see :mod:`textgen.decode.lazy`), or None."""
        s = self.settings
        if self.device.type != "cpu":  # pruning decisions would sync the host every step
            return None
        if s.greedy and s.repetition_penalty >= 1.0:
            return "greedy"
        if s.top_k and s.repetition_penalty >= 1.0:
            return "top_k"
        if s.top_p < 1.0 and s.temperature == 1.0 and s.repetition_penalty == 1.0:
            return "top_p"
        return None

    def cluster_needed(self, short: Tensor, log_mass: Tensor, all_masses: Tensor) -> Tensor:
        """``[B]`` bool: may a word of a cluster with log-mass ``log_mass`` be chosen, given the
        shortlist's scores ``short`` (bans and penalty applied) and every cluster's log-mass?"""
        mode, s = self.prune_mode, self.settings
        if mode == "greedy":
            return log_mass >= short.max(dim=-1).values
        if mode == "top_k":
            if s.top_k >= short.shape[-1]:
                return torch.ones_like(log_mass, dtype=torch.bool)
            return log_mass >= short.topk(s.top_k, dim=-1).values[:, -1]
        if mode == "top_p":
            p = short.exp()
            total = p.sum(dim=-1) + all_masses.exp().sum(dim=-1)
            ahead = (p * (short > log_mass.unsqueeze(1))).sum(dim=-1)
            return ahead < s.top_p * total
        return torch.ones_like(log_mass, dtype=torch.bool)

    def start(self, history: Tensor) -> None:
        """Record the prime (``[B, T]`` ids) as every stream's history."""
        if self.penalize:
            self.seen = torch.zeros(history.shape[0], self.vocab_size, dtype=torch.bool, device=self.device)
            self.seen.scatter_(1, history.to(self.device), True)

    def observe(self, ids: Tensor) -> None:
        """Add the tokens just chosen (``[B]``) to the histories."""
        if self.seen is not None:
            self.seen.scatter_(1, ids.unsqueeze(1), True)

    def scores(self, log_probs: Tensor) -> Tensor:
        """Log-scores after the bans and the repetition penalty (float32, a new tensor).

        ``log_probs`` is ``[B, V]``, or ``[B, W]`` for the first W ids of the vocabulary.
        """
        width = log_probs.shape[-1]
        scores = log_probs.float().clone()
        banned = self.banned if width == self.vocab_size else self.banned[self.banned < width]
        if banned.numel():
            scores.index_fill_(1, banned, float("-inf"))
        if self.seen is not None:
            mask = self.seen[:, :width] & self.penalizable[:width]
            scores = torch.where(mask, scores * self.settings.repetition_penalty, scores)
        return scores

    def __call__(self, log_probs: Tensor) -> Tensor:
        """Choose one token per stream from ``[B, V]`` log-probabilities; returns ``[B]`` ids."""
        s = self.settings
        scores = self.scores(log_probs)
        if s.greedy:
            ids = scores.argmax(dim=-1)
        else:
            ids = self._draw(scores / s.temperature if s.temperature != 1.0 else scores).squeeze(1)
        self.observe(ids)
        return ids

    # -- sampling --------------------------------------------------------------------------------
    def _draw(self, scores: Tensor) -> Tensor:
        """``[B, 1]`` ids drawn from ``scores`` after top-k / top-p."""
        s = self.settings
        v = scores.shape[-1]
        if s.top_k and s.top_k < v:
            vals, idx = scores.topk(s.top_k, dim=-1)  # sorted, descending
            probs = torch.softmax(vals, dim=-1)
            if s.top_p < 1.0:
                probs = _nucleus(probs, s.top_p)
            return idx.gather(1, self._multinomial(probs))
        if s.top_p < 1.0:
            return self._draw_nucleus(torch.softmax(scores, dim=-1), s.top_p)
        return self._multinomial(torch.softmax(scores, dim=-1))

    def _multinomial(self, probs: Tensor) -> Tensor:
        """``[B, 1]`` draws from ``[B, W]`` non-negative weights (rows need not sum to one)."""
        if probs.shape[-1] <= _INVERSE_CDF_FROM:
            return torch.multinomial(probs, 1, generator=self.generator)
        ids = self._inverse_cdf(probs, 1)
        bad = probs.gather(1, ids).squeeze(1) <= 0  # u rounded up to the total (about 2**-24 per draw)
        if bool(bad.any()):
            rows = bad.nonzero().squeeze(1)
            ids[rows] = torch.multinomial(probs.index_select(0, rows), 1, generator=self.generator)
        return ids

    def _inverse_cdf(self, probs: Tensor, draws: int) -> Tensor:
        """``[B, draws]`` independent draws per row by inverting the cumulative sum (one uniform each).

        ``torch.multinomial`` draws one exponential per vocabulary entry; this reads each row once.
        """
        cdf = probs.float().cumsum(dim=-1)
        u = torch.rand(probs.shape[0], draws, generator=self.generator, device=probs.device) * cdf[:, -1:]
        return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)

    def _draw_nucleus(self, probs: Tensor, top_p: float) -> Tensor:
        """``[B, 1]`` draws from the nucleus of ``probs`` (true probabilities), without sorting.

        Rejection sampling: draw candidates from the whole distribution and keep the first whose
        mass ahead (tokens more likely, ties broken by lower id as a stable sort does) is below
        ``top_p``, i.e. the first that lies in the nucleus. Conditioned on acceptance a candidate is
        distributed exactly as the renormalised nucleus; each is accepted with probability >= top_p,
        and the rare rows with none accepted (``(1 - top_p) ** tries``) take the sorted path.
        """
        n, v = probs.shape
        cand = self._inverse_cdf(probs, _NUCLEUS_TRIES)  # [B, M]
        # non-negative floats order like their bit patterns; the low 32 bits break ties by id
        ids = torch.arange(v - 1, -1, -1, device=probs.device, dtype=torch.int64)
        key = probs.float().view(torch.int32).to(torch.int64).mul_(1 << 32).add_(ids)  # [B, V]
        ahead = (key.unsqueeze(1) > key.gather(1, cand).unsqueeze(2)).to(probs.dtype)  # [B, M, V]
        mass = torch.bmm(ahead, probs.unsqueeze(2)).squeeze(2)  # [B, M]
        inside = mass < top_p
        chosen = cand.gather(1, inside.to(torch.uint8).argmax(dim=1, keepdim=True))  # first accepted
        missed = ~inside.any(dim=1)
        if bool(missed.any()):
            rows = missed.nonzero().squeeze(1)
            vals, idx = probs.index_select(0, rows).sort(dim=-1, descending=True, stable=True)
            chosen[rows] = idx.gather(1, self._multinomial(_nucleus(vals, top_p)))
        return chosen


def _nucleus(probs: Tensor, top_p: float) -> Tensor:
    """Zero the probabilities (true ones, sorted descending per row) outside the smallest set holding ``top_p``."""
    before = probs.cumsum(dim=-1) - probs  # mass strictly ahead of each candidate
    keep = before < top_p
    keep[:, 0] = True
    return probs * keep
