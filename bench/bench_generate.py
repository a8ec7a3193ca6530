"""Generation speed: our incremental, batched decoder against the classic window re-feeding generator.

    python bench/bench_generate.py                          # untrained, peer-sized models (worst case for us)
    python bench/bench_generate.py --train-seconds 120      # also a briefly trained peer-sized model
    python bench/bench_generate.py --run-dir runs/default   # also a trained run (its own sizes)
    python bench/bench_generate.py --write                  # record the table in bench/BENCHMARKS.md

Follows ../shared/BENCHMARK.md: 400 tokens primed with ``jerry``, same model sizes as the peer
(Embedding 300 -> 2-layer LSTM 250, a vocabulary of the Seinfeld corpus' size), the peer's
generator re-feeding its 10-word window every step with top-k 5. Ours decodes incrementally with
the state carried, and runs 64 samples as one batch. Reported: median tokens/s over the repeats
(peer and ours interleaved, in one process) and the ratio to the peer's single stream. Untrained
weights give flat distributions, the worst case for our lazy adaptive-softmax tails; a trained
model shows the usual case. The machine is shared: the load average is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from markdown_sections import replace_section

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peer_classic import PAD, SEINFELD, UNK, PeerData, PeerRNN  # noqa: E402
from peer_classic import generate as peer_generate  # noqa: E402
from precision_quality import precision_quality, quality_table  # noqa: E402

from textgen import io  # noqa: E402
from textgen.decode.generator import TextGenerator  # noqa: E402
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig, auto_cutoffs  # noqa: E402
from textgen.lm.model import build_model  # noqa: E402
from textgen.vocab import Vocab  # noqa: E402

BENCH_MD = HERE / "BENCHMARKS.md"
START, END = "<!-- generate:start -->", "<!-- generate:end -->"
PEER_SIZES = {"emb_dim": 300, "hidden": 250, "layers": 2}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic_vocab(size: int) -> Vocab:
    """A vocabulary of ``size`` entries with the tokens generation needs (``jerry:``, breaks)."""
    head = ["<pad>", "<unk>", "<eos>", "jerry:", "||turn||", "||period||", "||comma||", "george:"]
    itos = head + [f"w{i}" for i in range(size - len(head))]
    return Vocab(itos, [0, 0, 0] + [size - i for i in range(3, size)])


def peer_data(vocab_size: int) -> PeerData:
    words = [PAD, UNK, "jerry"] + [f"w{i}" for i in range(vocab_size - 3)]
    vti = {w: i for i, w in enumerate(words)}
    empty = np.zeros(0, dtype=np.int64)
    return PeerData(vti, dict(enumerate(words)), empty, empty, 1, 0.0)


def trained_peer_sized_run(seconds: float, root: Path) -> Path:
    """Build the Seinfeld vocabulary and train a peer-sized model of ours for ``seconds``."""
    from textgen import steps
    from textgen.lm.train import train_generator

    run = root / "seinfeld"
    log("building the Seinfeld vocabulary")
    steps.run("build-vocab", run, corpus=str(SEINFELD), min_count=1)
    log(f"training a peer-sized generator for {seconds:.0f} s")
    cfg = GeneratorConfig(
        ModelConfig(**PEER_SIZES),  # type: ignore[arg-type]
        TrainConfig(max_seconds=seconds, embeddings="none", eval_tokens=20000, eval_every=400, device="cpu"),
    )
    train_generator(run, cfg)
    return run


def timed(fn: Callable[[], int]) -> float:
    """Tokens per second of one call of ``fn`` (which returns the tokens it produced)."""
    t0 = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t0)


def ours(gen: TextGenerator, tokens: int, batch: int, **settings: Any) -> Callable[[], int]:
    def run() -> int:
        out = gen.generate("jerry", length=tokens, seed=0, num_samples=batch, restore_case=False, **settings)
        return sum(len(s.tokens) for s in out.samples)

    return run


def measure(cases: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median tokens/s per case, the cases interleaved within each repeat (after one warm-up each)."""
    for fn in cases.values():
        fn()
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(repeats):
        for name, fn in cases.items():
            runs[name].append(timed(fn))
        log(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in runs.items()))
    return {name: statistics.median(v) for name, v in runs.items()}


def bench_model(
    label: str, gen: TextGenerator, peer: Callable[[], int], args: argparse.Namespace, trained: bool
) -> list[dict[str, Any]]:
    n, b = args.tokens, args.batch
    k5 = {"top_k": 5, "top_p": 1.0}
    cases = {"peer": peer, "top-k 5 exact fp32": ours(gen, n, 1, exact_sampling=True, precision="fp32", **k5)}
    for p in args.precisions:
        cases[f"top-k 5 {p}"] = ours(gen, n, 1, precision=p, **k5)
        cases[f"default {p}"] = ours(gen, n, 1, precision=p)
    for p in args.precisions:
        cases[f"top-k 5 {p} x{b}"] = ours(gen, n, b, precision=p, **k5)
        if trained or getattr(gen.model, "adaptive", None) is not None:  # untrained full: top-p holds most words
            cases[f"default {p} x{b}"] = ours(gen, n, b, precision=p)
    med = measure(cases, args.repeats)
    base = med["peer"]
    rows = []
    for name, tps in med.items():
        rows.append({"model": label, "case": name, "tokens_per_s": tps, "vs_peer": tps / base})
    return rows


def sizes_of(gen: TextGenerator) -> str:
    m = gen.model.cfg
    return f"{m.arch}, emb {m.emb_dim}, hidden {m.hidden} x{m.layers}, {m.softmax} softmax, vocab {m.vocab_size:,}"


def table(rows: list[dict[str, Any]], models: dict[str, str]) -> str:
    lines = ["| model | case | tokens/s | x peer single stream |", "| --- | --- | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['case']} | {r['tokens_per_s']:,.0f} | {r['vs_peer']:.1f}x |")
    lines.append("")
    lines += [f"- **{k}**: {v}" for k, v in models.items()]
    return "\n".join(lines)


def write_section(body: str) -> None:
    """Replace the Generation section of bench/BENCHMARKS.md (created if absent)."""
    replace_section(BENCH_MD, f"{START}\n## Generation\n\n{body}\n{END}", START, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=20669, help="Seinfeld's training-split vocabulary")
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument(
        "--train-seconds", type=float, default=0.0, help="also bench a peer-sized model trained so long"
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="also bench this trained run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="fp32,bf16,int8", help="decoding precisions to time (comma-separated)")
    parser.add_argument("--quality-tokens", type=int, default=16384, help="validation tokens for the precision table")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="record the table in bench/BENCHMARKS.md")
    args = parser.parse_args()
    args.precisions = [p for p in args.precisions.split(",") if p and (p != "int8" or args.device == "cpu")]
    warnings.filterwarnings("ignore")
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)

    peer_model = PeerRNN(args.vocab_size).eval()
    data = peer_data(args.vocab_size)

    def peer() -> int:
        return len(peer_generate(peer_model, data, "jerry", args.tokens, top_k=5)) - 1

    rows: list[dict[str, Any]] = []
    models: dict[str, str] = {
        "peer": f"PeerRNN(vocab {args.vocab_size:,}): Embedding 300 -> LSTM 250 x2 -> Linear, 10-word window, top-k 5"
    }
    vocab = synthetic_vocab(args.vocab_size)
    for softmax in ("adaptive", "full"):
        cutoffs = auto_cutoffs(args.vocab_size) if softmax == "adaptive" else ()
        cfg = ModelConfig(vocab_size=args.vocab_size, softmax=softmax, cutoffs=cutoffs, **PEER_SIZES)  # type: ignore[arg-type]
        gen = TextGenerator(build_model(cfg).to(device).eval(), vocab, device, GeneratorConfig(cfg))
        label = f"untrained {softmax}"
        models[label] = sizes_of(gen)
        log(f"== {label}")
        rows += bench_model(label, gen, peer, args, trained=False)
    runs: list[tuple[str, Path]] = []
    quality: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.train_seconds > 0:
            runs.append((f"trained {args.train_seconds:.0f} s", trained_peer_sized_run(args.train_seconds, Path(tmp))))
        if args.run_dir is not None:
            runs.append((f"run {args.run_dir}", args.run_dir))
        for label, run in runs:
            import textgen

            torch.set_num_threads(args.threads)  # training may have changed it
            gen = textgen.load(run, device=device)
            metrics = gen.config.metrics
            bpb = metrics.get("best_val_bpb", metrics.get("val_bpb"))
            models[label] = sizes_of(gen) + (f" (val_bpb {bpb:.3f})" if isinstance(bpb, float) else "")
            log(f"== {label}")
            rows += bench_model(label, gen, peer, args, trained=True)
            if getattr(gen.model, "adaptive", None) is not None and (run / "val_ids.npy").exists():
                log(f"== decoding precision vs quality on {label}")
                q = precision_quality(gen, args.quality_tokens)
                quality.append(f"**{label}**\n\n" + quality_table(q, args.quality_tokens))

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {os.cpu_count()} cores, {args.threads} torch thread(s), {device}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine,
        "torch": torch.__version__,
        "date": now,
        "load_average_1min": round(load, 2),
        "tokens": args.tokens,
        "batch": args.batch,
        "repeats": args.repeats,
    }
    body = (
        f"`{meta['command']}`: {meta['date']}, {machine}, torch {torch.__version__}, "
        f"load average {load_start:.1f} at the start, {load:.1f} at the end. "
        f"{args.tokens} tokens primed with `jerry`, median of {args.repeats} "
        f'interleaved repeats; "default" is top-p 0.9, "x{args.batch}" one batch of {args.batch} samples '
        f"(aggregate tokens/s). Targets: single stream >= 5x the peer, {args.batch} samples >= 50x.\n\n"
        + table(rows, models)
        + "\n"
        + ("\n" + "\n\n".join(quality) + "\n" if quality else "")
    )
    print(body)
    if args.json:
        io.write_json(args.json, {"meta": meta, "rows": rows, "models": models})
    if args.write:
        write_section(body)


if __name__ == "__main__":
    main()
