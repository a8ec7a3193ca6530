"""Adapted evaluation: ``val_bpb`` with a neural cache and/or dynamic evaluation, tuned and reported by halves.

Follows ``../shared/BENCHMARK.md`` ("Adapted evaluation"): the validation split is read as one
stream, every token scored once from the tokens before it (:mod:`textgen.lm.cache`,
:mod:`textgen.lm.dynamic`); settings left unset are tuned on the **first half** of the split (by
tokens), then the whole split is scored with them and both halves are reported, the second half
being the one no setting was chosen on. The static ``val_bpb`` (:func:`textgen.lm.evaluate.score`,
the figure training reports) stands beside the adapted one. A half's bytes are the split's
``val_bytes`` shared out by tokens; the whole split's denominator is exact.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from textgen import io
from textgen.errors import ArtifactError
from textgen.lm.adapt_settings import EvaluateConfig
from textgen.lm.cache import cache_log_probs, mix
from textgen.lm.dynamic import MS_SEGMENTS, DynamicStep, stream_pass, training_mean_square
from textgen.lm.evaluate import EvalResult, bits_per_byte, load_scoring, static_result

# tuning grids (first half of the validation split); each grid's best value is then refined once
THETAS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # theta x cosine similarity
LAMBDAS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
LRS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)  # RMS-normalised steps (textgen.lm.dynamic)
LR_START = 5e-4  # where the search starts: the best lr of the measured runs (bench/BENCHMARKS.md)
MeanSquare = tuple[torch.Tensor, ...] | None  # the training text's mean square of the gradients (dynamic)

Progress = Callable[[str], None]


@dataclass
class AdaptedResult:
    """Static and adapted figures; ``halves`` are the validation split's first and second halves."""

    static: EvalResult
    val_bpb_adapted: float | None
    settings: dict[str, Any]
    tuned: list[str] = field(default_factory=list)
    halves: list[dict[str, Any]] = field(default_factory=list)
    val_bpb_stream: float | None = None  # static, read as one stream (the adapted figure's baseline)
    tuning: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.static.to_dict(),
            "val_bpb_adapted": self.val_bpb_adapted,
            "val_bpb_stream": self.val_bpb_stream,
            "settings": self.settings,
            "tuned": self.tuned,
            "halves": self.halves,
            "tuning": self.tuning,
            "seconds": round(self.seconds, 3),
        }


def adapted_log_probs(
    model: Any, ids: np.ndarray, bos: int, config: EvaluateConfig, device: torch.device, mean_square: MeanSquare = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(adapted, static)`` log-probabilities ``[n]`` (float64) of every token of ``ids`` read as one
    stream, with ``config``'s settings (all set: see :func:`tune`); static is the model alone on the
    same stream (with dynamic evaluation: the adapted model without the cache)."""
    cache, dyn = config.neural_cache, config.dynamic_eval
    step = _dynamic_step(config, dyn.dynamic_lr, mean_square) if dyn.dynamic else None
    model_logp, hidden = stream_pass(model, ids, bos, device, step)
    static = model_logp if step is None else stream_pass(model, ids, bos, device)[0]
    if not cache.cache:
        return model_logp, static
    assert cache.cache_theta is not None and cache.cache_lambda is not None, "tune() fills them"
    targets = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=hidden.device)
    cache_logp, has = cache_log_probs(hidden, targets, cache.cache_size, [cache.cache_theta])
    return mix(model_logp, cache_logp[0], has, cache.cache_lambda), static


def _dynamic_step(config: EvaluateConfig, lr: float | None, mean_square: MeanSquare) -> DynamicStep:
    dyn = config.dynamic_eval
    assert lr is not None
    return DynamicStep(lr=lr, segment=dyn.dynamic_segment, decay=dyn.dynamic_decay, mean_square=mean_square)


def _refine(grid: Sequence[float], best: float, lo: float = 0.0, hi: float = math.inf) -> list[float]:
    """Two points halfway (geometrically) to the best value's neighbours in ``grid``."""
    i = list(grid).index(best)
    out = []
    if i > 0:
        out.append(math.sqrt(grid[i - 1] * best))
    if i + 1 < len(grid):
        out.append(math.sqrt(grid[i + 1] * best))
    return [v for v in out if lo <= v <= hi]


def tune(
    model: Any,
    ids: np.ndarray,
    bos: int,
    config: EvaluateConfig,
    device: torch.device,
    log: Progress | None = None,
    mean_square: MeanSquare = None,
) -> tuple[EvaluateConfig, list[dict[str, Any]], list[str]]:
    """Fill every unset setting with the value that scores ``ids`` best (the first half of the split).

    Returns the settled config, every setting tried with its mean NLL (nats per token), and the
    names of the settings that were tuned.
    """
    cache, dyn = config.neural_cache, config.dynamic_eval
    targets = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    tried: list[dict[str, Any]] = []
    tuned = [
        name
        for name, on, value in (
            ("dynamic_lr", dyn.dynamic, dyn.dynamic_lr),
            ("cache_theta", cache.cache, cache.cache_theta),
            ("cache_lambda", cache.cache, cache.cache_lambda),
        )
        if on and value is None
    ]

    def run_lr(lr: float | None) -> dict[str, Any]:
        step = _dynamic_step(config, lr, mean_square) if dyn.dynamic else None
        model_logp, hidden = stream_pass(model, ids, bos, device, step)
        best = {"dynamic_lr": lr, "nll": float(-model_logp.mean())}
        if cache.cache:
            best = {**best, **_tune_cache(hidden, targets.to(hidden.device), model_logp, cache, tried, lr)}
        tried.append({"dynamic_lr": lr, "cache": False, "nll": float(-model_logp.mean())})
        if log is not None:
            log(f"tuning: {_describe(best)} -> {best['nll']:.4f} nats/token")
        return best

    if dyn.dynamic and dyn.dynamic_lr is None:
        best = _search(LRS, LRS.index(LR_START), run_lr)
        for lr in _refine(LRS, best["dynamic_lr"]):  # the grid's steps are 2-2.5x: its optimum is flat but not that flat
            best = min(best, run_lr(lr), key=lambda r: r["nll"])
    else:
        best = run_lr(dyn.dynamic_lr)
    settled = replace(
        config,
        neural_cache=replace(cache, cache_theta=best.get("cache_theta"), cache_lambda=best.get("cache_lambda"))
        if cache.cache
        else cache,
        dynamic_eval=replace(dyn, dynamic_lr=best["dynamic_lr"]) if dyn.dynamic else dyn,
    )
    return settled, tried, tuned


def _search(grid: Sequence[float], start: int, run: Callable[[float], dict[str, Any]]) -> dict[str, Any]:
    """The best of ``grid`` for a unimodal NLL: from ``start``, walk the way it improves until it stops improving.

    Each value costs a pass over the first half (a gradient step per segment), so this tries three
    or four values where the whole grid would cost five.
    """
    results = {start: run(grid[start])}
    for step in (1, -1):
        i = start
        while 0 <= i + step < len(grid):
            results[i + step] = run(grid[i + step])
            if results[i + step]["nll"] >= results[i]["nll"]:
                break
            i += step
        if i != start:  # it improved this way: the other way cannot (unimodal)
            break
    return min(results.values(), key=lambda r: r["nll"])


def _tune_cache(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    model_logp: torch.Tensor,
    cache: Any,
    tried: list[dict[str, Any]],
    lr: float | None,
) -> dict[str, Any]:
    """The best (theta, lambda) for one stream of hidden states: grids, then one refinement of each."""
    thetas = [cache.cache_theta] if cache.cache_theta is not None else list(THETAS)
    lambdas = [cache.cache_lambda] if cache.cache_lambda is not None else list(LAMBDAS)

    def grid(ts: Sequence[float], ls: Sequence[float]) -> dict[str, Any]:
        logp, has = cache_log_probs(hidden, targets, cache.cache_size, ts)
        best: dict[str, Any] = {}
        for j, theta in enumerate(ts):
            for lam in ls:
                nll = float(-mix(model_logp, logp[j].double(), has, lam).mean())
                tried.append({"dynamic_lr": lr, "cache_theta": theta, "cache_lambda": lam, "nll": nll})
                if not best or nll < best["nll"]:
                    best = {"cache_theta": theta, "cache_lambda": lam, "nll": nll}
        return best

    best = grid(thetas, lambdas)
    if cache.cache_theta is None:
        more = _refine(THETAS, best["cache_theta"])
        if more:
            found = grid(more, [best["cache_lambda"]] if cache.cache_lambda is None else lambdas)
            best = min(best, found, key=lambda r: r["nll"])
    if cache.cache_lambda is None:
        more = _refine(LAMBDAS, best["cache_lambda"], 0.0, 1.0)
        if more:
            best = min(best, grid([best["cache_theta"]], more), key=lambda r: r["nll"])
    return best


def _describe(r: dict[str, Any]) -> str:
    parts = [f"{k} {v:.3g}" for k, v in r.items() if k != "nll" and isinstance(v, float)]
    return ", ".join(parts) or "static"


def half_figures(adapted: torch.Tensor, static: torch.Tensor, val_bytes: int) -> list[dict[str, Any]]:
    """val_bpb (static and adapted) of each half of the stream by tokens; bytes shared out by tokens."""
    n = adapted.shape[0]
    cut = n // 2
    out = []
    for name, lo, hi in (("first", 0, cut), ("second", cut, n)):
        part_bytes = val_bytes * (hi - lo) / n
        out.append(
            {
                "half": name,
                "tokens": hi - lo,
                "bytes": round(part_bytes, 1),
                "val_bpb": bits_per_byte(float(-static[lo:hi].sum()), part_bytes),  # type: ignore[arg-type]
                "val_bpb_adapted": bits_per_byte(float(-adapted[lo:hi].sum()), part_bytes),  # type: ignore[arg-type]
            }
        )
    return out


def evaluate_model(
    model: Any,
    ids: np.ndarray,
    bos: int,
    val_bytes: int,
    config: EvaluateConfig,
    device: torch.device,
    oov: float | None = None,
    log: Progress | None = None,
    train_ids: np.ndarray | None = None,
) -> AdaptedResult:
    """Static ``val_bpb`` and, when ``config`` asks, the adapted one tuned on the first half (both halves reported).

    With dynamic evaluation, ``train_ids`` (the run's training split) give the gradients' mean square
    (:func:`textgen.lm.dynamic.training_mean_square`); without them it is estimated on the stream."""
    t0 = time.perf_counter()
    static = static_result(model, ids, bos, val_bytes, oov, device)
    if not config.adapted:
        return AdaptedResult(static, None, config.settings(), seconds=time.perf_counter() - t0)
    first = ids[: len(ids) // 2]
    if len(first) < 2:
        raise ArtifactError("the validation split is too short to tune on its first half; use a larger split")
    dyn = config.dynamic_eval
    mean_square = None
    if dyn.dynamic and train_ids is not None:
        mean_square = training_mean_square(model, train_ids, bos, dyn.dynamic_segment, device)
    settled, tried, tuned = tune(model, first, bos, config, device, log, mean_square)
    adapted, static_stream = adapted_log_probs(model, ids, bos, settled, device, mean_square)
    return AdaptedResult(
        static=static,
        val_bpb_adapted=bits_per_byte(float(-adapted.sum()), val_bytes),
        settings=settled.settings(),
        tuned=tuned,
        halves=half_figures(adapted, static_stream, val_bytes),
        val_bpb_stream=bits_per_byte(float(-static_stream.sum()), val_bytes),
        tuning=tried,
        seconds=time.perf_counter() - t0,
    )


def evaluate_adapted(
    run_dir: str | os.PathLike[str], config: EvaluateConfig | None = None, log: Progress | None = None
) -> AdaptedResult:
    """``textgen evaluate``: the run's best checkpoint on its validation split, static and adapted."""
    config = config or EvaluateConfig()
    run = load_scoring(run_dir, config.device)
    train_ids = None
    if config.dynamic_eval.dynamic:  # its steps are scaled by the training text's gradients
        run.run_dir.require("train_ids.npy")
        path = run.run_dir / "train_ids.npy"
        train_ids = run.vocab.check_ids(io.read_npy(path)[: MS_SEGMENTS * config.dynamic_eval.dynamic_segment], path)
    return evaluate_model(
        run.model, run.ids, run.vocab.eos_id, run.val_bytes, config, run.device, run.oov_rate, log, train_ids
    )
