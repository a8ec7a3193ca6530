"""Validation scoring: ``val_bpb`` exactly as ``../shared/BENCHMARK.md`` defines it.

``val_bpb = sum over every validation token of -ln p(token | preceding tokens) / ln 2 / val_bytes``
where ``val_bytes`` is the UTF-8 length of the validation text (``corpus.json``). Every token is
scored once: the stream is cut into rows (see :class:`textgen.lm.data.EvalRows`), each row
read left to right with its state carried across chunks.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from textgen import io
from textgen.errors import ArtifactError
from textgen.lm.collectives import LOCAL, DistContext
from textgen.lm.data import EvalRows
from textgen.rundir import RunDir


@dataclass
class EvalResult:
    """Validation figures (``loss`` in nats per token)."""

    val_bpb: float
    loss: float
    perplexity: float
    tokens: int
    bytes: int
    val_oov_rate: float | None = None
    val_bpb_neural: float | None = None  # the network alone, where the model mixes in an n-gram

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    return nll_nats / math.log(2) / n_bytes


@torch.no_grad()
def score_sums(
    model: Any,
    ids: np.ndarray,
    bos: int,
    *,
    streams: int = 16,
    bptt: int = 128,
    device: torch.device | str = "cpu",
    autocast: bool = False,
    dist: DistContext = LOCAL,
) -> tuple[float, int, float]:
    """Summed NLL (nats) of the model, token count, and summed NLL of the network alone, all-reduced across
    processes; the first and last differ where the model mixes in an n-gram (:mod:`textgen.lm.ngram`)."""
    has_ngram = getattr(model, "ngram", None) is not None
    was_training = model.training
    model.eval()
    rows = EvalRows.of(ids, streams, bos, dist.rank, dist.world_size)
    dev = torch.device(device)
    total = torch.zeros(3, dtype=torch.float64, device=dev)
    if rows.shape[0] > 0:
        state = model.init_state(rows.shape[0], dev)
        amp = torch.autocast(dev.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        for i in range(0, rows.shape[1], bptt):
            inputs, targets = rows.window(i, i + bptt)  # read from the memory map as it is scored
            x = inputs.to(dev, non_blocking=True)
            y = targets.to(dev, non_blocking=True)
            with amp:
                hidden, state = model(x, state)
            keep = y >= 0  # the last row is padded
            nll = model.token_nll(hidden.float()[keep], y[keep]).double()
            total[2] += nll.sum()
            if has_ngram:
                nll = -model.mix_ngram(-nll, ids, rows.positions(i, i + bptt)[targets.numpy() >= 0])
            total[0] += nll.sum()
            total[1] += nll.numel()
    dist.all_reduce_sum(total)
    model.train(was_training)
    return float(total[0]), int(total[1]), float(total[2])


def score(model: Any, ids: np.ndarray, bos: int, **kw: Any) -> tuple[float, int]:
    """Summed NLL (nats) of the model and token count over ``ids`` (:func:`score_sums`' keywords)."""
    nll, n, _ = score_sums(model, ids, bos, **kw)
    return nll, n


def result_from_sums(nll: float, tokens: int, n_bytes: int, oov: float | None = None) -> EvalResult:
    loss = nll / max(tokens, 1)
    return EvalResult(bits_per_byte(nll, n_bytes), loss, math.exp(min(loss, 700.0)), tokens, n_bytes, oov)


def corpus_stats(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``corpus.json`` of the run, checked for the fields scoring needs."""
    rd = RunDir.of(run_dir)
    rd.require("corpus.json")
    data = io.read_json(rd / "corpus.json", "corpus summary")
    if not isinstance(data, dict) or int(data.get("val_bytes", 0)) <= 0:
        raise ArtifactError(f"{rd / 'corpus.json'} has no val_bytes; rerun `textgen build-vocab --run-dir {rd.root}`")
    return data


@dataclass
class Scoring:
    """What scoring a run needs: its best model, vocabulary, checked validation ids and their bytes."""

    model: Any
    vocab: Any
    ids: np.ndarray
    val_bytes: int
    oov_rate: float | None
    device: torch.device
    run_dir: RunDir


def load_scoring(run_dir: str | os.PathLike[str], device: str = "auto") -> Scoring:
    """The run's best checkpoint and validation split, checked (``evaluate`` static and adapted share it)."""
    from textgen import device as devices
    from textgen.lm.checkpoint import load_generator

    dev = devices.resolve(device)  # a bad --device is a usage error before anything is read
    rd = RunDir.of(run_dir)
    rd.require("vocab.json", "val_ids.npy", "corpus.json")
    model, _config, vocab = load_generator(rd.root, device=dev)
    stats = corpus_stats(rd.root)
    ids = vocab.read_ids(rd / "val_ids.npy")
    if len(ids) == 0:
        raise ArtifactError(f"{rd / 'val_ids.npy'} is empty; rebuild with a larger validation split")
    oov = stats.get("val_oov_rate")
    return Scoring(model, vocab, ids, int(stats["val_bytes"]), float(oov) if oov is not None else None, dev, rd)


def evaluate_run(run_dir: str | os.PathLike[str], device: str = "auto", streams: int = 16) -> EvalResult:
    """Score the run's best checkpoint on the whole validation split."""
    run = load_scoring(run_dir, device)
    return static_result(run.model, run.ids, run.vocab.eos_id, run.val_bytes, run.oov_rate, run.device, streams)


def static_result(
    model: Any,
    ids: np.ndarray,
    bos: int,
    val_bytes: int,
    oov: float | None,
    device: torch.device,
    streams: int = 16,
) -> EvalResult:
    """``val_bpb`` of the model; with an n-gram in it, also of the network alone (``val_bpb_neural``)."""
    nll, n, alone = score_sums(model, ids, bos, streams=streams, device=device)
    result = result_from_sums(nll, n, val_bytes, oov)
    if getattr(model, "ngram", None) is not None:
        result.val_bpb_neural = bits_per_byte(alone, val_bytes)
    return result
