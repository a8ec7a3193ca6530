"""The GPU check's measurements (``bench/gpu_check.sh`` runs the gpu-marked tests first, then this).

    python bench/gpu_check.py --prepare RUN_DIR      # here: copy a build-vocab run's ids into .gpu_check/
    python bench/gpu_check.py --out check.json       # there: every part, one JSON (--cpu: the same on CPU, tiny)

Parts, each timed and recorded even when it fails (a failure is one line in the JSON, the other
parts still run), within ``--budget`` seconds all together:

* ``train``: the GPU preset (``textgen train --preset gpu``: 3-layer LSTM, hidden 1150, full
  softmax, batch 128, bptt 70) in bf16 autocast, without and with ``--compile``: tokens/s (median
  of the logged windows after the first two) and MFU (training FLOPs per token x tokens/s over the
  device's bf16 peak; ``GPU_PEAK_TFLOPS`` overrides the table below);
* ``embeddings``: the torch skip-gram backend's words/s on the same ids as the CPU benchmark;
* ``generate``: decoding tokens/s (400 tokens after ``jerry``), one stream and 64, fp32 and bf16;
* ``adapt``: ``textgen evaluate --cache --dynamic`` on the trained preset (fixed settings), seconds.

The ids come from ``.gpu_check/classic/`` (the classic Seinfeld split's ``vocab.json``,
``train_ids.npy``, ``val_ids.npy``, ``corpus.json``), prepared on a CPU machine with ``--prepare``,
so the GPU machine needs neither the corpus nor the tokenizer for these parts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PREPARED = ROOT / ".gpu_check" / "classic"
VOCAB_FILES = ("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json")
# dense bf16 tensor-core peaks (TFLOP/s) by device name; GPU_PEAK_TFLOPS overrides
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}


def prepare(run_dir: Path) -> None:
    """Copy a build-vocab run's id files into ``.gpu_check/classic`` (carried to the GPU machine)."""
    PREPARED.mkdir(parents=True, exist_ok=True)
    for name in VOCAB_FILES:
        shutil.copy2(run_dir / name, PREPARED / name)
    print(f"copied {', '.join(VOCAB_FILES)} from {run_dir} to {PREPARED}")


def fresh_run(work: Path, name: str, max_train_tokens: int | None) -> Path:
    """A run dir with the prepared ids (the training split cut to ``max_train_tokens`` for a dry run)."""
    from textgen import io

    run = work / name
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    for f in VOCAB_FILES:
        shutil.copy2(PREPARED / f, run / f)
    if max_train_tokens is not None:  # a dry run: a slice of each split (val_bytes scaled alike)
        ids = io.read_npy(run / "train_ids.npy")
        io.write_npy(run / "train_ids.npy", np.asarray(ids[:max_train_tokens]))
        val = io.read_npy(run / "val_ids.npy")
        keep = min(len(val), max_train_tokens // 25)
        io.write_npy(run / "val_ids.npy", np.asarray(val[:keep]))
        card = io.read_json(run / "corpus.json")
        card["val_bytes"] = max(1, int(card["val_bytes"]) * keep // max(1, len(val)))
        io.write_json(run / "corpus.json", card)
    return run


def peak_tflops(device: torch.device) -> float | None:
    if os.environ.get("GPU_PEAK_TFLOPS"):
        return float(os.environ["GPU_PEAK_TFLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAKS.items() if k in name), None)


def train_flops_per_token(model: Any) -> float:
    """3 x the forward multiply-adds x 2: LSTM gates, projection and the output layer (full softmax)."""
    cfg = model.cfg
    macs = 0
    width = cfg.emb_dim
    for _ in range(cfg.layers):
        macs += 4 * cfg.hidden * (width + cfg.hidden)
        width = cfg.hidden
    if model.proj is not None:
        macs += cfg.hidden * cfg.emb_dim
    macs += cfg.vocab_size * model.out_dim  # adaptive softmax scores fewer rows: an upper bound there
    return 6.0 * macs


def part_train(ctx: dict[str, Any], compile_: bool) -> dict[str, Any]:
    from textgen import io
    from textgen.lm.checkpoint import load_generator
    from textgen.lm.config import PRESETS, GeneratorConfig, ModelConfig, TrainConfig
    from textgen.lm.train import train_generator

    preset = dict(PRESETS["gpu"])
    model_keys = {"emb_dim", "hidden", "layers", "dropout", "softmax"}
    model = ModelConfig(**{k: v for k, v in preset.items() if k in model_keys})  # type: ignore[arg-type]
    train_values = {k: v for k, v in preset.items() if k not in model_keys}
    train_values |= {
        "max_steps": ctx["steps"],
        "eval_every": 10 * ctx["steps"],
        "eval_tokens": 4096,
        "log_every": max(1, ctx["steps"] // 10),
        "embeddings": "none",
        "device": ctx["device"],
        "amp": "bf16",
        "compile": compile_,
        "compile_backend": ctx["compile_backend"],
    }
    if ctx["cpu"]:  # the same path with a model small enough for seconds of CPU
        model = ModelConfig(emb_dim=32, hidden=64, layers=3, softmax="full")
        train_values |= {"batch_size": 4, "bptt": 16, "threads": 1, "eval_tokens": 256}
    run = fresh_run(ctx["work"], "train-compile" if compile_ else "train", ctx["max_train_tokens"])
    cfg = GeneratorConfig(model, TrainConfig(**train_values))
    t0 = time.perf_counter()
    result = train_generator(run, cfg)
    wall = time.perf_counter() - t0
    rates = [r["tokens_per_s"] for r in io.read_jsonl(run / "metrics.jsonl") if r.get("kind") == "train"]
    steady = rates[2:] or rates
    rate = statistics.median(steady) if steady else result.tokens / max(result.train_seconds, 1e-9)
    loaded, _, _ = load_generator(run)
    flops = train_flops_per_token(loaded)
    peak = peak_tflops(ctx["torch_device"])
    ctx["trained_run"] = run
    return {
        "compile": compile_,
        "compile_backend": ctx["compile_backend"] if compile_ else None,
        "steps": result.steps,
        "batch_size": train_values.get("batch_size"),
        "bptt": train_values.get("bptt"),
        "tokens_per_s": rate,
        "tokens_per_s_windows": rates,
        "train_flops_per_token": flops,
        "achieved_tflops": rate * flops / 1e12,
        "peak_bf16_tflops": peak,
        "mfu": rate * flops / (peak * 1e12) if peak else None,
        "val_bpb_first_4096_tokens": result.best_val_bpb,
        "wall_seconds": wall,
    }


def part_embeddings(ctx: dict[str, Any]) -> dict[str, Any]:
    from textgen import io
    from textgen.embeddings.config import EmbeddingConfig
    from textgen.embeddings.train import train_embeddings

    run = fresh_run(ctx["work"], "embeddings", ctx["max_train_tokens"])
    cfg = EmbeddingConfig(backend="torch", device=ctx["device"], epochs=1, dim=100, seed=0)
    t0 = time.perf_counter()
    res = train_embeddings(run, cfg, evaluate=False)
    report = res.report
    return {
        "backend": res.backend,
        "device": res.device,
        "words_per_s": report.get("words_per_s"),
        "effective_words_per_s": report.get("effective_words_per_s"),
        "train_tokens": len(io.read_npy(run / "train_ids.npy")),
        "wall_seconds": time.perf_counter() - t0,
    }


def part_generate(ctx: dict[str, Any]) -> dict[str, Any]:
    from textgen.decode.loop import DecodeOptions, decode
    from textgen.decode.sampling import Sampler, SamplingSettings
    from textgen.lm.checkpoint import load_generator

    run = ctx.get("trained_run")
    if run is None:
        raise RuntimeError("no trained preset (the train part failed)")
    device = ctx["torch_device"]
    model, _, vocab = load_generator(run, device=device)
    prime = [vocab.stoi.get("jerry:", vocab.eos_id)]
    length = 40 if ctx["cpu"] else 400
    out: dict[str, Any] = {"length": length}
    precisions = ("fp32",) if ctx["cpu"] else ("fp32", "bf16")
    for precision in precisions:
        for streams in (1, 64):
            sampler = Sampler(SamplingSettings(), len(vocab), (vocab.pad_id, vocab.unk_id), seed=0, device=device)
            opts = DecodeOptions(max_length=length, eos_id=-1, pad_id=vocab.pad_id, precision=precision)  # type: ignore[arg-type]
            decode(model, prime, sampler, streams, opts)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            decoded = decode(model, prime, sampler, streams, opts)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            out[f"{precision} x{streams}"] = sum(decoded.lengths) / seconds
    return out


def part_adapt(ctx: dict[str, Any]) -> dict[str, Any]:
    from textgen import options
    from textgen.lm.adapt import evaluate_adapted
    from textgen.lm.adapt_settings import EvaluateConfig

    run = ctx.get("trained_run")
    if run is None:
        raise RuntimeError("no trained preset (the train part failed)")
    values = {"cache": True, "cache_theta": 12.0, "cache_lambda": 0.2, "dynamic": True, "dynamic_lr": 1e-3}
    cfg = options.validated(options.build(EvaluateConfig, {**values, "device": ctx["device"]}))
    t0 = time.perf_counter()
    res = evaluate_adapted(run, cfg)
    return {
        "val_bpb": res.static.val_bpb,
        "val_bpb_adapted": res.val_bpb_adapted,
        "settings": res.settings,
        "seconds": time.perf_counter() - t0,
    }


def timed(name: str, fn: Callable[[], dict[str, Any]], report: dict[str, Any], deadline: float, out: Path) -> None:
    """Run one part, record it (or its error), and rewrite the JSON, so a timeout keeps what was done."""
    if time.monotonic() > deadline:
        report["parts"][name] = {"skipped": "out of time budget"}
    else:
        t0 = time.perf_counter()
        try:
            report["parts"][name] = fn()
        except Exception as exc:  # a failed part is recorded; the others still run
            first = f"{type(exc).__name__}: {exc}".splitlines()[0]
            report["parts"][name] = {"error": first, "trace": traceback.format_exc()}
        report["parts"][name]["part_seconds"] = round(time.perf_counter() - t0, 2)
    shown = {k: v for k, v in report["parts"][name].items() if k != "trace"}
    print(f"[gpu_check] {name}: {json.dumps(shown, default=str)}", flush=True)
    out.write_text(json.dumps(report, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", type=Path, help="Copy this build-vocab run's ids into .gpu_check/classic.")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp")) / "gpu_check.json")
    parser.add_argument("--cpu", action="store_true", help="Dry run: the same parts on CPU, tiny, in seconds.")
    parser.add_argument("--budget", type=float, default=360.0, help="Seconds for all parts together.")
    parser.add_argument(
        "--steps", type=int, default=None, help="Training steps per train part (default 200; 6 on CPU)."
    )
    parser.add_argument("--tests", type=Path, help="A JSON summary of the gpu-marked test run to include.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/textgen-gpu-check"))
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return
    if not (PREPARED / "train_ids.npy").is_file():
        raise SystemExit(f"error: {PREPARED} has no ids; run `python bench/gpu_check.py --prepare RUN_DIR` first")
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    ctx: dict[str, Any] = {
        "cpu": not cuda,
        "device": device,
        "torch_device": torch.device(device),
        "steps": args.steps or (200 if cuda else 6),
        "compile_backend": "inductor" if cuda else "eager",
        "max_train_tokens": None if cuda else 50_000,
        "work": args.work,
    }
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
        "dry_run": not cuda,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "parts": {},
    }
    if args.tests and args.tests.is_file():
        report["tests"] = json.loads(args.tests.read_text())
    deadline = time.monotonic() + args.budget
    args.out.parent.mkdir(parents=True, exist_ok=True)
    timed("train", lambda: part_train(ctx, False), report, deadline, args.out)
    timed("train_compile", lambda: part_train(ctx, True), report, deadline, args.out)
    timed("embeddings", lambda: part_embeddings(ctx), report, deadline, args.out)
    timed("generate", lambda: part_generate(ctx), report, deadline, args.out)
    timed("adapt", lambda: part_adapt(ctx), report, deadline, args.out)
    print(f"[gpu_check] wrote {args.out}")


if __name__ == "__main__":
    main()
