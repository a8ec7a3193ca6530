"""The output paths of decoding behind one interface: ``ids, logp = head.step(hidden)``.

Every head turns the last hidden state of each stream into the chosen next token and the model's
own log-probability of it, applying the sampler's rules (:class:`~textgen.decode.sampling.Sampler`
holds every rule and says which fast path each setting allows). Three heads, chosen once per call:

* :class:`~textgen.decode.cluster.ClusterFirst`: adaptive softmax, draw from the head, score a
  tail cluster only where a draw lands (exact for plain sampling);
* :class:`LazyHead`: adaptive softmax, every word's log-probability except tail clusters that
  provably cannot be picked (greedy, top-k, top-p; exact);
* :class:`FullHead`: the whole distribution each step (any model and rule; ``--explain``);
* :class:`MixedHead`: the whole distribution mixed with the model's n-gram over the recent tokens
  (``--ngram``) and/or a neural cache (``--cache``).

``head.log_probs`` is the last step's ``[B, V]`` distribution where the head formed it (FullHead, MixedHead).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from torch import Tensor

from textgen.decode import output
from textgen.decode.cluster import ClusterFirst
from textgen.decode.kernels import Precision
from textgen.decode.lazy import LazyAdaptive
from textgen.decode.sampling import Sampler
from textgen.lm.adapt_settings import CacheSettings
from textgen.lm.cache import StreamCache
from textgen.lm.ngram import Ngram, contexts_before
from textgen.lm.ngram import mix as mix_ngram


class Head(Protocol):
    """One sampling step from ``hidden [B, 1, D]``: ``(ids [B], model log-prob of each [B])``."""

    @property
    def log_probs(self) -> Tensor | None: ...

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]: ...


class FullHead:
    """The whole distribution, in the decode precision, then the sampler."""

    def __init__(self, model: Any, sampler: Sampler, precision: Precision) -> None:
        self.sampler = sampler
        self._log_probs = output.log_probs_fn(model, precision)
        self.log_probs: Tensor | None = None

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        logp = self.log_probs = self._log_probs(hidden[:, -1])
        ids = self.sampler(logp)
        return ids, logp.gather(1, ids.unsqueeze(1)).squeeze(1)


class LazyHead:
    """Adaptive softmax with the tail clusters that cannot be picked left unscored."""

    def __init__(self, lazy: LazyAdaptive, sampler: Sampler) -> None:
        self.lazy, self.sampler = lazy, sampler
        self.log_probs: Tensor | None = None  # placeholders where clusters were skipped: not a distribution

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        logp = self.lazy.log_probs(hidden, self.sampler)
        ids = self.sampler(logp)
        return ids, logp.gather(1, ids.unsqueeze(1)).squeeze(1)


class MixedHead:
    """The whole distribution mixed first with the model's n-gram (:mod:`textgen.lm.ngram`, the
    distribution ``val_bpb`` scores) over each stream's last tokens, then with a neural cache of this
    decode's own hidden states (:mod:`textgen.lm.cache`): words that followed similar states earlier
    in the scene gain mass. Either may be absent."""

    def __init__(
        self, model: Any, sampler: Sampler, precision: Precision, cache: CacheSettings | None, ngram: bool
    ) -> None:
        self.sampler = sampler
        self._log_probs = output.log_probs_fn(model, precision)
        self.cache = (
            None
            if cache is None
            else StreamCache(cache.cache_size, float(cache.cache_theta or 0.0), float(cache.cache_lambda or 0.0))
        )
        self.ngram: Ngram | None = model.ngram if ngram else None
        self.weight = float(model.cfg.ngram_weight) if ngram else 0.0
        self.history: np.ndarray | None = None  # [B, order - 1]: each stream's last ids, oldest first
        self.log_probs: Tensor | None = None

    def start(self, model: Any, prime: Tensor, batch: int) -> None:
        """Take the prime (``prime [1, T]``) as every stream's history: its last ids, and its own
        (state, next token) pairs in the cache."""
        if self.ngram is not None:
            width = self.ngram.order - 1
            ids = prime[0].cpu().numpy()
            last = contexts_before(ids, np.array([len(ids)]), width, self.ngram.bos)
            self.history = np.repeat(last, batch, axis=0)
        if self.cache is None or prime.shape[1] < 2:
            return
        hidden, _ = model(prime, model.init_state(1, prime.device))
        self.cache.add_sequence(hidden[:, :-1].expand(batch, -1, -1), prime[:, 1:].expand(batch, -1))

    def step(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        h = hidden[:, -1]
        logp = self._log_probs(h)
        if self.ngram is not None and self.history is not None:
            logp = mix_ngram(logp, self.ngram.next_log_probs(self.history), self.weight)
        if self.cache is not None:
            logp = self.cache.log_mix(logp, h)
        self.log_probs = logp
        ids = self.sampler(logp)
        if self.cache is not None:
            self.cache.add(h, ids)
        if self.history is not None and self.history.shape[1] > 0:
            self.history = np.concatenate([self.history[:, 1:], ids.cpu().numpy()[:, None]], axis=1)
        return ids, logp.gather(1, ids.unsqueeze(1)).squeeze(1)


HEADS = ("auto", "cluster", "lazy", "full")


def choose(
    model: Any,
    sampler: Sampler,
    precision: Precision,
    head: str = "auto",
    cache: CacheSettings | None = None,
    ngram: bool = False,
) -> Head:
    """The head for ``model`` and ``sampler``: ``auto`` is the cheapest that is right; the others force one
    (ValueError where it does not apply). A ``cache`` or ``ngram`` mixes the whole distribution: :class:`MixedHead`."""
    cache = cache if cache is not None and cache.cache else None
    if cache is not None or ngram:
        return MixedHead(model, sampler, precision, None if cache is None else cache.settled(), ngram)
    if head in ("auto", "cluster"):
        first = ClusterFirst.of(model, sampler, precision)
        if first is not None:
            return first
    if head in ("auto", "lazy"):
        lazy = LazyAdaptive.of(model, sampler, precision)
        if lazy is not None:
            return LazyHead(lazy, sampler)
    if head in ("auto", "full"):
        return FullHead(model, sampler, precision)
    raise ValueError(f"the {head!r} head does not apply to this model and these settings")
