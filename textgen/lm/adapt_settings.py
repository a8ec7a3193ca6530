"""Settings of the methods that adapt to the text being scored or written (importable without torch).

:class:`CacheSettings` (the neural cache, :mod:`textgen.lm.cache`) is a section of both
``textgen evaluate``'s :class:`EvaluateConfig` and ``textgen generate``'s config;
:class:`DynamicSettings` (dynamic evaluation, :mod:`textgen.lm.dynamic`) belongs to ``evaluate``.
A setting left unset (``None``) is tuned by ``evaluate`` on the first half of the validation split
(``../shared/BENCHMARK.md``, "Adapted evaluation"); ``generate`` uses the measured defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from textgen import device as devices
from textgen.options import Problem, option, section

CACHE_SIZE = 3000
# generate --cache without --cache-theta/--cache-lambda (the values evaluate tuned on bench/BENCHMARKS.md's runs)
CACHE_THETA = 12.0
CACHE_LAMBDA = 0.2
DYNAMIC_SEGMENT = 20
DYNAMIC_DECAY = 0.0


@dataclass(frozen=True)
class CacheSettings:
    """A cache of the stream's recent hidden states and the tokens that followed them (Grave et al. 2016)."""

    cache: bool = option(False, "Mix a neural cache of the recent hidden states into the model's distribution.")
    cache_size: int = option(CACHE_SIZE, "Cache: how many recent positions it holds.", min=1)
    cache_theta: float | None = option(
        None,
        f"Cache: how sharply the current hidden state selects the cached ones (x cosine; unset: evaluate tunes it, "
        f"generate uses {CACHE_THETA:g}).",
        gt=0,
    )
    cache_lambda: float | None = option(
        None,
        f"Cache: weight of its distribution in the mixture, in [0, 1] (unset: evaluate tunes it, "
        f"generate uses {CACHE_LAMBDA:g}).",
        min=0,
        max=1,
    )

    def cross_check(self) -> list[Problem]:
        if self.cache:
            return []
        given = [
            name
            for name, value, default in (
                ("cache_size", self.cache_size, CACHE_SIZE),
                ("cache_theta", self.cache_theta, None),
                ("cache_lambda", self.cache_lambda, None),
            )
            if value != default
        ]
        return [Problem(name, "only applies with {cache}") for name in given]

    def settled(self) -> CacheSettings:
        """Unset values filled with the measured defaults (what ``generate`` uses)."""
        theta = CACHE_THETA if self.cache_theta is None else self.cache_theta
        lam = CACHE_LAMBDA if self.cache_lambda is None else self.cache_lambda
        return replace(self, cache_theta=theta, cache_lambda=lam)


@dataclass(frozen=True)
class DynamicSettings:
    """Dynamic evaluation (Krause et al. 2018): a gradient step on each segment right after scoring it."""

    dynamic: bool = option(False, "After scoring each segment, take a gradient step on it (weights restored after).")
    dynamic_lr: float | None = option(
        None,
        "Dynamic evaluation: learning rate of its RMS-normalised steps (unset: tuned on the split's first half).",
        gt=0,
    )
    dynamic_segment: int = option(DYNAMIC_SEGMENT, "Dynamic evaluation: tokens scored per gradient step.", min=1)
    dynamic_decay: float = option(
        DYNAMIC_DECAY, "Dynamic evaluation: share of the distance back to the trained weights per step.", min=0, max=1
    )

    def cross_check(self) -> list[Problem]:
        if self.dynamic:
            return []
        given = [
            name
            for name, value, default in (
                ("dynamic_lr", self.dynamic_lr, None),
                ("dynamic_segment", self.dynamic_segment, DYNAMIC_SEGMENT),
                ("dynamic_decay", self.dynamic_decay, DYNAMIC_DECAY),
            )
            if value != default
        ]
        return [Problem(name, "only applies with {dynamic}") for name in given]


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``textgen evaluate`` scores: the static model, and adapted with a cache and/or dynamic evaluation."""

    neural_cache: CacheSettings = section(CacheSettings)
    dynamic_eval: DynamicSettings = section(DynamicSettings)
    device: str = option("auto", f"{devices.CHOICES}.", check=devices.spec_problem)

    @property
    def adapted(self) -> bool:
        return self.neural_cache.cache or self.dynamic_eval.dynamic

    def settings(self) -> dict[str, Any]:
        """The adaptation settings as a flat dict (``None`` where tuning decides)."""
        out: dict[str, Any] = {"cache": self.neural_cache.cache, "dynamic": self.dynamic_eval.dynamic}
        if self.neural_cache.cache:
            out |= {"cache_size": self.neural_cache.cache_size, "cache_theta": self.neural_cache.cache_theta}
            out |= {"cache_lambda": self.neural_cache.cache_lambda}
        if self.dynamic_eval.dynamic:
            out |= {"dynamic_lr": self.dynamic_eval.dynamic_lr, "dynamic_segment": self.dynamic_eval.dynamic_segment}
            out |= {"dynamic_decay": self.dynamic_eval.dynamic_decay}
        return out
