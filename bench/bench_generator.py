"""Generator benchmark: the classic peer and our default generator, in one invocation.

    python bench/bench_generator.py                     # ~25 min on 2 CPU cores; writes bench/BENCHMARKS.md

Follows ../shared/BENCHMARK.md: the shared Seinfeld file, the last 1/20 of its lines as validation,
vocabulary min_count 1 on the training split, val_bpb on every validation token. Reports
- the peer's val_bpb after 20 s and 300 s of training, ours after the same budgets;
- training seconds our default needs to reach the peer's 300-s val_bpb (embeddings stage time beside);
- attention vs lstm at equal training time;
- embedding-seeded vs random init: optimizer steps to fixed val_bpb levels.
Training seconds exclude validation for both. The machine is shared: the load average is recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from markdown_sections import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_classic import SEINFELD, PeerData, train_peer  # noqa: E402

from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig  # noqa: E402
from textgen.lm.train import train_generator  # noqa: E402

BENCH_MD = Path(__file__).resolve().parent / "BENCHMARKS.md"
START, END = "<!-- generator:start -->", "<!-- generator:end -->"
LEVELS = (1.9, 1.8, 1.7)


TUNING = """### How the defaults were chosen

Short runs on the same run dir (seeded 100-d vectors unless noted), `--threads 1` because the
2 cores were shared with 3-5 other jobs (load 4-7), so compare per step; val_bpb at optimizer step
(the default's values are in the warm-up table below):

| config (changes from the final default) | step 100 | step 200 | step 300 | step 400 | best in 90 s |
| --- | --- | --- | --- | --- | --- |
| lstm, hidden 256, batch 64, bptt 32, lr 5e-3, warm-up 50 | 1.652 | 1.531 | 1.492 | | 1.488 |
| lr 3e-3, warm-up 100 | 1.784 | 1.569 | 1.514 | 1.479 | 1.474 |
| lr 3e-3, hidden 384 | 1.755 | 1.556 | | | 1.544 (slower steps) |
| lr 3e-3, batch 32, hidden 512 | 1.798 | 1.603 | 1.551 | 1.515 | 1.515 |
| lr 3e-3, batch 32 | 1.678 (step 150) | 1.564 (300) | 1.517 (450) | 1.490 (588) | 1.490 |
| lr 3e-3, batch 32, random init | 1.715 (step 150) | 1.597 (300) | | | 1.534 |
| lr 3e-3, attention (window 32, general) | 2.032 | 1.649 | 1.564 | 1.512 | 1.510 |

Warm-up (lr 5e-3; the default is the first row), val_bpb after the same number of training tokens:

| run | 82k tokens | 123k | 164k | 205k |
| --- | --- | --- | --- | --- |
| **default**: batch 64, no warm-up | 1.838 | 1.704 | 1.640 | 1.608 |
| batch 64, warm-up 50 steps | 2.031 | 1.831 | 1.700 | 1.652 |
| batch 32, no warm-up | 1.698 | 1.630 | 1.597 | 1.566 |

Batch 32 learns more per token early, but batch 64 runs more tokens per second and was ahead after
90 s (1.474 vs 1.490 at lr 3e-3), so the default stays at 64.

Attention vs lstm over two full benchmark runs: 1.419 vs 1.415 (load 7-12) and 1.372 vs 1.377
(load 1-4) after 300 s, i.e. a tie within run-to-run noise; attention is behind early (1.608 vs
1.515 at step 200) and about 20% slower per token, so `lstm` stays the default for time to quality.
The previous full run (load 7-12, before the no-warm-up default) measured peer 1.834 vs ours 1.415
after 300 s and 18.1 s to the peer's 300-s val_bpb.

lr 3e-3 for 240 s: 1.445 at step 600, 1.430 at step 800 (epoch 2), still improving: the
regularisation (dropout 0.4, embedding dropout 0.1, AdamW weight decay 0.1, tied weights) keeps
validation improving past epoch 2 (the issue reports a plain full-sequence LSTM overfitting there).
Output layer: the adaptive softmax (shortlist 2,000, clusters to 8,000 and the rest, word rows
tied to the embeddings) ran a training step of the hidden-512 model in 95 ms against 283 ms for the
full softmax over 19.7k words (same batch), so `--softmax adaptive` is the CPU default; the GPU
preset uses the full softmax.

GPU preset (`textgen train --preset gpu`): 3-layer LSTM, hidden 1150, embeddings 400, full softmax,
batch 128, bptt 70, lr 2e-3, bf16 autocast; no GPU was available to this session, so its tokens/s
and time per epoch are not measured yet.
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_run(corpus: Path, run_dir: Path) -> dict[str, Any]:
    """Vocabulary (min_count 1) and word vectors, each timed."""
    from textgen import steps

    t0 = time.perf_counter()
    steps.run("build-vocab", run_dir, corpus=str(corpus), min_count=1)
    vocab_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    how = train_embeddings(run_dir)
    return {"vocab_seconds": vocab_s, "embeddings_seconds": time.perf_counter() - t0, "embeddings_how": how}


def train_embeddings(run_dir: Path) -> str:
    """The train-embeddings step with its defaults (gensim on CPU), unscored."""
    from textgen import steps

    steps.run("train-embeddings", run_dir, evaluate=False)
    return "textgen train-embeddings (defaults: gensim sg=1 dim 100, window 5, 5 epochs, min_count 5)"


def ours(
    base: Path,
    work: Path,
    name: str,
    seconds: float,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One training run of our generator in a copy of the base run dir."""
    run = work / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run, ignore=shutil.ignore_patterns("generator*", "metrics.jsonl", "*.png"))
    cfg = GeneratorConfig(ModelConfig(**(model or {})), TrainConfig(max_seconds=seconds, **(train or {})))
    t0 = time.perf_counter()

    def progress(kind: str, info: dict[str, Any]) -> None:
        if kind == "eval":
            log(f"{name}: step {info['step']} {info['train_seconds']:.1f}s val_bpb {info['val_bpb']:.4f}")

    result = train_generator(run, cfg, progress)
    rate = result.tokens / max(result.train_seconds, 1e-9)
    log(f"{name}: best val_bpb {result.best_val_bpb:.4f} ({result.stopped}, {rate:,.0f} tokens/s)")
    return {
        "name": name,
        "best_val_bpb": result.best_val_bpb,
        "steps": result.steps,
        "tokens": result.tokens,
        "train_seconds": result.train_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "tokens_per_s": rate,
        "stopped": result.stopped,
        "validations": result.validations,
        "config": cfg.to_dict()["model"] | cfg.to_dict()["train"],
    }


def first_reaching(validations: list[dict[str, Any]], level: float, key: str) -> float | None:
    for v in validations:
        if v["val_bpb"] <= level:
            return v[key]
    return None


def best_by(validations: list[dict[str, Any]], seconds: float) -> float | None:
    vals = [v["val_bpb"] for v in validations if v["train_seconds"] <= seconds + 1e-6]
    return min(vals) if vals else None


def fmt(x: float | None, spec: str = ".3f", none: str = "not reached") -> str:
    return none if x is None else format(x, spec)


def render(res: dict[str, Any]) -> str:
    peer, lstm, attn, dense, rand = (res[k] for k in ("peer", "lstm", "attention", "dense_seeded", "dense_random"))
    target = res["target"]
    peer_at = {round(c["seconds"]): c["val_bpb"] for c in peer["checkpoints"]}
    s = res["seconds"]
    ttt = first_reaching(dense["validations"], target, "train_seconds")
    if ttt is None:
        ttt = first_reaching(lstm["validations"], target, "train_seconds")
    ref = first_reaching(dense["validations"], 1.66, "train_seconds")
    if ref is None:
        ref = first_reaching(lstm["validations"], 1.66, "train_seconds")
    lines = [
        START,
        "## Generator",
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {res['machine']}; torch {res['torch']}; {res['date']}  ",
        f"Load average (1 min) during the run: {res['load']} on 2 cores (shared with other engineers' jobs, so",
        "absolute seconds are noisy and slower than BENCHMARK.md's reference figures; peer and ours ran in the same",
        f"invocation with the same torch threads: {res['threads']}).",
        "",
        f"Corpus: `{res['corpus']}`, last 1/20 of lines for validation; our vocabulary {res['vocab_size']:,} words",
        f"(min_count 1, val OOV {res['our_oov']:.2%}); peer vocabulary {res['peer_vocab']:,} (val OOV "
        f"{res['peer_oov']:.2%}). val_bpb as BENCHMARK.md defines it; seconds are training time without validation.",
        "",
        "| figure | classic peer | textgen default (lstm) | target |",
        "| --- | --- | --- | --- |",
        f"| val_bpb after 20 s | {fmt(peer_at.get(20))} | {fmt(best_by(dense['validations'], 20))} | |",
        f"| val_bpb after {s:.0f} s | {fmt(peer_at.get(round(s)))} | {fmt(lstm['best_val_bpb'])} | ≤ 1.50 |",
        f"| seconds to the peer's {s:.0f}-s val_bpb ({target:.3f}) | {s:.0f} | {fmt(ttt, '.1f')} "
        f"(+ {res['build']['embeddings_seconds']:.0f} s embeddings stage) | ≤ 15 |",
        f"| seconds to the reference peer's 300-s val_bpb (1.66, BENCHMARK.md) | | {fmt(ref, '.1f')} | ≤ 15 |",
        f"| training throughput | {peer['windows_per_s']:,.0f} windows/s (1 predicted token each) | "
        f"{lstm['tokens_per_s']:,.0f} tokens/s (every position predicted) | |",
        "",
        f"Architectures at equal training time ({s:.0f} s, same defaults otherwise):",
        "",
        "| arch | best val_bpb | steps | tokens/s |",
        "| --- | --- | --- | --- |",
        f"| lstm (default) | {fmt(lstm['best_val_bpb'])} | {lstm['steps']:,} | {lstm['tokens_per_s']:,.0f} |",
        f"| attention (window {attn['config']['attn_window']}, general) | {fmt(attn['best_val_bpb'])} | "
        f"{attn['steps']:,} | {attn['tokens_per_s']:,.0f} |",
        "",
        f"Embedding init (validation every {dense['config']['eval_every']} steps, {res['dense_seconds']:.0f} s each): "
        "optimizer steps to reach a val_bpb level",
        "",
        "| init | " + " | ".join(f"steps to {lv}" for lv in LEVELS) + " | best val_bpb |",
        "| --- | " + " | ".join("---" for _ in LEVELS) + " | --- |",
    ]
    for label, run in (("seeded from the word vectors (default)", dense), ("random (`--embeddings none`)", rand)):
        steps = " | ".join(fmt(first_reaching(run["validations"], lv, "step"), ".0f") for lv in LEVELS)
        lines.append(f"| {label} | {steps} | {fmt(run['best_val_bpb'])} |")
    lines += [
        "",
        f"Embeddings for the seeded runs: {res['build']['embeddings_how']} "
        f"({res['build']['embeddings_seconds']:.1f} s); build-vocab {res['build']['vocab_seconds']:.1f} s.",
        f"Raw figures: `{res['json']}`.",
        "",
        TUNING.rstrip("\n"),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(md: Path, section: str) -> None:
    replace_section(md, section, START, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SEINFELD)
    parser.add_argument("--seconds", type=float, default=300.0, help="Training budget for peer and ours.")
    parser.add_argument("--dense-seconds", type=float, default=60.0, help="Budget of the dense-validation runs.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/textgen-bench-generator"))
    parser.add_argument("--out", type=Path, default=BENCH_MD)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for every run.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    res_threads = torch.get_num_threads()
    args.work.mkdir(parents=True, exist_ok=True)
    loads: list[float] = []
    base = args.work / "base"
    res: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "seconds": args.seconds,
        "dense_seconds": args.dense_seconds,
        "threads": res_threads,
        "corpus": str(args.corpus),
        "torch": torch.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}",
    }
    log("building the vocabulary and word vectors")
    res["build"] = build_run(args.corpus, base)
    corpus = json.loads((base / "corpus.json").read_text())
    res.update(vocab_size=corpus["vocab_size"], our_oov=corpus["val_oov_rate"])

    log("peer: classic recipe")
    loads.append(os.getloadavg()[0])
    data = PeerData.from_text(args.corpus.read_text(encoding="utf-8"))
    res.update(peer_vocab=len(data.vocab_to_int), peer_oov=data.val_oov_rate)
    _, run = train_peer(data, args.seconds, [20.0, 60.0, 150.0, args.seconds], log=log)
    res["peer"] = {"checkpoints": run.checkpoints, "windows_per_s": run.windows_per_second}
    res["target"] = run.checkpoints[-1]["val_bpb"]

    dense_train = {"eval_every": 20, "patience": 1000}
    for key, name, seconds, model, train in (
        ("lstm", "lstm", args.seconds, {}, {}),
        ("dense_seeded", "dense-seeded", args.dense_seconds, {}, dense_train),
        ("dense_random", "dense-random", args.dense_seconds, {}, {**dense_train, "embeddings": "none"}),
        ("attention", "attention", args.seconds, {"arch": "attention"}, {}),
    ):
        loads.append(os.getloadavg()[0])
        res[key] = ours(base, args.work, name, seconds, model, train)
    loads.append(os.getloadavg()[0])
    res["load"] = f"{min(loads):.1f}-{max(loads):.1f}"
    res["json"] = str(args.work / "bench_generator.json")
    Path(res["json"]).write_text(json.dumps(res, indent=2, default=str))
    section = render(res)
    write_section(args.out, section)
    print(section)


if __name__ == "__main__":
    main()
