"""Quality per CPU-minute: the transformer peer, the classic recipe and textgen, one invocation, one table.

    python bench/bench_quality.py --threads 1       # ~55 min on 2 CPU cores; writes bench/BENCHMARKS.md

Follows ../shared/BENCHMARK.md on the classic Seinfeld split (textgen's ids, min_count 1; word
vectors as ``pipelines/classic-seinfeld.yaml`` trains them): each contender trains for
``--seconds`` of training time (validation excluded) with the same torch threads, one after the
other. Reported, per contender: ``val_bpb`` after the budget on the whole split and on each half;
for ours also adapted (``textgen evaluate --cache``, ``--dynamic``, both: settings tuned on the
first half, so the second half is the honest one); time to quality: the training seconds our
default needs (a run validated every ``--dense-every`` steps) to reach each peer's figure; and the
generation check of ``generate --cache`` (held-out likelihood with its default settings, distinct-n
of samples); and ``--ablation``: our default plus each AWD-LSTM option, at the same budget. The load
average is recorded with every figure (the machine is shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_sections import replace_section  # noqa: E402
from peer_classic import SEINFELD, PeerData, token_nll, train_peer  # noqa: E402
from peer_transformer import CONFIGS  # noqa: E402
from peer_transformer import token_nll as transformer_nll  # noqa: E402
from peer_transformer import train_peer as train_transformer  # noqa: E402

from textgen import io, options  # noqa: E402
from textgen.lm.adapt import evaluate_adapted  # noqa: E402
from textgen.lm.adapt_settings import CACHE_LAMBDA, CACHE_THETA, EvaluateConfig  # noqa: E402
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig  # noqa: E402
from textgen.lm.train import train_generator  # noqa: E402

BENCH_MD = Path(__file__).resolve().parent / "BENCHMARKS.md"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"
EMBEDDINGS = {"dim": 200, "epochs": 5, "window": 1, "min_count": 5, "seed": 0}  # pipelines/classic-seinfeld.yaml
GENERATE_CACHE = "cache (generate's defaults)"
ADAPTED: dict[str, dict[str, Any]] = {
    "cache": {"cache": True},
    "dynamic": {"dynamic": True},
    "cache + dynamic": {"cache": True, "dynamic": True},
    GENERATE_CACHE: {"cache": True, "cache_theta": CACHE_THETA, "cache_lambda": CACHE_LAMBDA},
}
# AWD-LSTM's regularisers (Merity et al. 2017), each alone and together, on our default model;
# AR/TAR at the paper's alpha 2, beta 1
ABLATION: dict[str, dict[str, dict[str, Any]]] = {
    "weight drop 0.2": {"model": {"weight_drop": 0.2}, "train": {}},
    "locked dropout": {"model": {"locked_dropout": True}, "train": {}},
    "AR 2 + TAR 1": {"model": {}, "train": {"ar": 2.0, "tar": 1.0}},
    "all three": {"model": {"weight_drop": 0.2, "locked_dropout": True}, "train": {"ar": 2.0, "tar": 1.0}},
    "no n-gram": {"model": {"ngram_order": 0}, "train": {}},  # the network alone (textgen.lm.ngram)
}
# README "Scoring and adapting": a run that a time budget ends should let its lr decay to the end (cosine
# over the epochs that fit; bench/sweep_generator.py measured the lr). Its dropouts were measured with each
# size and epoch count, as a few epochs overfit less than the default's plateau run. bf16 autocast
# (`--amp bf16`: oneDNN's bf16 LSTM on a CPU with AMX or AVX-512 BF16) trains about 1.5x the tokens/s here,
# which buys hidden 512 and 5 epochs with more dropout: 1.3305 against hidden 384's 3 epochs at 1.3331
# (225 s for the 5 epochs at 18k tokens/s). Under about 13.5k tokens/s the 5 epochs do not fit 300 s and
# epochs 4 is the better choice (2026-12-06, BENCHMARKS "Quality").
BUDGET_RECIPE: dict[str, Any] = {"schedule": "cosine", "epochs": 5, "lr": 0.012, "amp": "bf16"}
BUDGET_MODEL: dict[str, Any] = {"hidden": 512, "dropout": 0.3, "weight_drop": 0.1, "emb_dropout": 0.05}
RECIPE = "textgen, budget recipe"
LOADS: list[float] = []
WORK = Path("/tmp/textgen-bench-quality")  # --work; its base/ is the run dir every contender copies


def log(msg: str) -> None:
    LOADS.append(os.getloadavg()[0])
    print(f"[{time.strftime('%H:%M:%S')}] {msg} (load {LOADS[-1]:.1f})", flush=True)


def halves(nll: np.ndarray, val_bytes: int) -> list[float]:
    """val_bpb of each half of the split by tokens (bytes shared out by tokens, as textgen evaluate does)."""
    cut = len(nll) // 2
    return [float(part.sum()) / np.log(2) / (val_bytes * len(part) / len(nll)) for part in (nll[:cut], nll[cut:])]


def build_base(corpus: Path, base: Path, rebuild: bool) -> dict[str, Any]:
    from textgen import steps

    done = all((base / f).is_file() for f in ("corpus.json", "embeddings.safetensors", "val_ids.npy"))
    if done and not rebuild:
        log(f"reusing {base}")
        return {"reused": True}
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    steps.run("build-vocab", base, corpus=str(corpus), min_count=1)
    vocab_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps.run("train-embeddings", base, evaluate=False, **EMBEDDINGS)
    return {"vocab_seconds": vocab_s, "embeddings_seconds": time.perf_counter() - t0}


def transformer(base: Path, key: str, seconds: float, val_bytes: int) -> dict[str, Any]:
    cfg = CONFIGS[key]
    log(f"{cfg.name}: {seconds:.0f} s")
    run = train_transformer(base, cfg, seconds, [20.0, 60.0, 150.0, seconds], log=log)
    assert run.model is not None
    nll = transformer_nll(run.model, np.asarray(io.read_npy(base / "val_ids.npy")))
    return {
        "name": cfg.name,
        "val_bpb": run.checkpoints[-1]["val_bpb"],
        "halves": halves(nll, val_bytes),
        "steps": run.steps,
        "tokens_per_s": run.tokens_per_second,
        "parameters": run.parameters,
        "checkpoints": run.checkpoints,
        "config": run.config,
        "load": LOADS[-1],
    }


def classic(corpus: Path, seconds: float) -> dict[str, Any]:
    log(f"classic recipe: {seconds:.0f} s")
    data = PeerData.from_text(corpus.read_text(encoding="utf-8"))
    model, run = train_peer(data, seconds, [20.0, 60.0, 150.0, seconds], log=log)
    nll = token_nll(model, data)
    return {
        "name": "classic recipe",
        "val_bpb": run.checkpoints[-1]["val_bpb"],
        "halves": halves(nll, data.val_bytes),
        "steps": run.windows // 128,
        "windows_per_s": run.windows_per_second,
        "checkpoints": run.checkpoints,
        "vocab": len(data.vocab_to_int),
        "val_oov_rate": data.val_oov_rate,
        "load": LOADS[-1],
    }


def ours(
    base: Path,
    work: Path,
    name: str,
    seconds: float,
    model: dict[str, Any] | None = None,
    label: str = "textgen default",
    **train: Any,
) -> tuple[dict[str, Any], Path]:
    run = work / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run, ignore=shutil.ignore_patterns("generator*", "metrics.jsonl", "*.png", "pipeline.lock"))
    cfg = GeneratorConfig(ModelConfig(**(model or {})), TrainConfig(max_seconds=seconds, **train))
    log(f"ours ({name}): {seconds:.0f} s")

    def progress(kind: str, info: dict[str, Any]) -> None:
        if kind == "eval" and info["step"] % 200 == 0:
            log(f"{name}: step {info['step']} {info['train_seconds']:.1f}s val_bpb {info['val_bpb']:.4f}")

    result = train_generator(run, cfg, progress)
    rate = result.tokens / max(result.train_seconds, 1e-9)
    log(f"{name}: best val_bpb {result.best_val_bpb:.4f} after {result.steps} steps ({rate:,.0f} tokens/s)")
    return {
        "name": label,
        "val_bpb": result.best_val_bpb,
        "halves": static_halves(run),
        "steps": result.steps,
        "tokens_per_s": rate,
        "validations": result.validations,
        "config": {**options.flatten(cfg.model), **options.flatten(cfg.train)},
        "load": LOADS[-1],
    }, run


def static_halves(run: Path) -> list[float]:
    """val_bpb of each half of the split for the run's best checkpoint (read as one stream, n-gram mixed in)."""
    from textgen.lm.checkpoint import load_generator
    from textgen.lm.dynamic import stream_pass
    from textgen.lm.evaluate import corpus_stats

    model, _, vocab = load_generator(run, device="cpu")
    ids = np.asarray(io.read_npy(run / "val_ids.npy"))
    logp, _ = stream_pass(model, ids, vocab.eos_id, torch.device("cpu"))
    return halves(-logp.numpy(), int(corpus_stats(run)["val_bytes"]))


def adapted(run: Path, device: str) -> dict[str, Any]:
    """textgen evaluate with each adaptation (tuned on the first half), and generate's cache defaults."""
    out: dict[str, Any] = {}
    for label, values in ADAPTED.items():
        t0 = time.perf_counter()
        cfg = options.validated(options.build(EvaluateConfig, {**values, "device": device}))
        res = evaluate_adapted(run, cfg)  # what `textgen evaluate` runs
        log(f"adapted ({label}): {res.val_bpb_adapted:.4f} (static {res.static.val_bpb:.4f}) {res.settings}")
        out[label] = {
            "val_bpb_adapted": res.val_bpb_adapted,
            "val_bpb_stream": res.val_bpb_stream,
            "static": res.static.val_bpb,
            "halves": res.halves,
            "settings": res.settings,
            "tuned": res.tuned,
            "seconds": time.perf_counter() - t0,
            "load": LOADS[-1],
        }
    return out


def distinct(run: Path, samples: int = 16, length: int = 200) -> dict[str, Any]:
    """distinct-1/2 (unique n-grams / n-grams, over all samples) and the mean log p of the sampled tokens (under
    the distribution sampled), for the network alone, with --cache and with --ngram."""
    import textgen
    from textgen.lm.adapt_settings import CacheSettings

    gen = textgen.load(run, device="cpu")
    out: dict[str, Any] = {}
    rows = (("network alone", None, False), ("--cache", CacheSettings(cache=True), False), ("--ngram", None, True))
    for label, cache, ngram in rows:
        t0 = time.perf_counter()
        res = gen.generate(
            "jerry", length=length, seed=0, num_samples=samples, temperature=0.8, cache=cache, ngram=ngram
        )
        seconds = time.perf_counter() - t0
        words = [s.tokens for s in res.samples]
        row = {"tokens_per_s": sum(len(w) for w in words) / seconds}
        for n in (1, 2):
            grams = [tuple(w[i : i + n]) for w in words for i in range(len(w) - n + 1)]
            row[f"distinct_{n}"] = len(set(grams)) / max(1, len(grams))
        row["mean_logp"] = float(np.mean([np.log(max(p, 1e-12)) for s in res.samples for p in s.probs]))
        out[label] = row
    return out


def _recipe_flags(recipe: dict[str, Any]) -> str:
    """The recipe's flags as ``textgen train-generator`` takes them (its values as the run recorded them)."""
    values = {k: recipe["config"][k] for k in {**BUDGET_MODEL, **BUDGET_RECIPE}}
    return " ".join(f"{options.cli_flag(k)} {v:g}" if isinstance(v, float) else f"{options.cli_flag(k)} {v}"
                    for k, v in values.items())  # fmt: skip


def first_reaching(validations: list[dict[str, Any]], level: float) -> float | None:
    for v in validations:
        if v["val_bpb"] <= level:
            return float(v["train_seconds"])
    return None


def fmt(x: float | None, spec: str = ".3f", none: str = "not reached") -> str:
    return none if x is None else format(x, spec)


def render(res: dict[str, Any]) -> str:
    s = res["seconds"]
    mine = res["ours"]
    lines = [
        START,
        "## Quality per CPU-minute (transformer peer, classic recipe, textgen)",
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {res['machine']}; torch {res['torch']}; {res['date']}; torch threads {res['threads']} for every "
        f"contender, run one after the other; load average (1 min) {res['load']} on 2 cores during the run.",
        "",
        f"Classic Seinfeld split (`{res['corpus']}`, last 1/20 of the lines), textgen's ids for textgen and the "
        f"transformer ({res['vocab_size']:,} words, val OOV {res['our_oov']:.2%}), the classic recipe's own "
        f"tokenizer for it ({res['classic']['vocab']:,} words, val OOV {res['classic']['val_oov_rate']:.2%}); "
        f"`val_bpb` as BENCHMARK.md defines it after {s:.0f} s of training (validation excluded); halves by tokens. "
        "Adapted rows: `textgen evaluate` on our checkpoint, settings tuned on the first half (the second half "
        "was never tuned on).",
        "",
        f"| model | steps in {s:.0f} s | val_bpb | first half | second half | adapted val_bpb | adapted 1st half "
        f"| adapted 2nd half | seconds textgen needs for this figure |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in ("classic", "small", "large"):
        r = res[key]
        if r is None:
            continue
        h = r["halves"]
        ttq = first_reaching(res["dense"]["validations"], r["val_bpb"]) or first_reaching(
            mine["validations"], r["val_bpb"]
        )
        lines.append(
            f"| {r['name']} | {r['steps']:,} | {r['val_bpb']:.3f} | {h[0]:.3f} | {h[1]:.3f} | | | | {fmt(ttq, '.1f')} |"
        )
    own = first_reaching(res["dense"]["validations"], mine["val_bpb"]) or first_reaching(
        mine["validations"], mine["val_bpb"]
    )
    sh = mine.get("halves") or [x["val_bpb"] for x in res["adapted"]["cache"]["halves"]]
    lines.append(
        f"| **textgen default** | {mine['steps']:,} | **{mine['val_bpb']:.3f}** | {sh[0]:.3f} | {sh[1]:.3f} | | | | "
        f"{fmt(own, '.1f')} |"
    )
    recipe = res.get("recipe")
    base = "textgen default"
    if recipe is not None:
        base = "budget recipe"
        rh = recipe["halves"]
        lines.append(
            f"| **{recipe['name']}** (`{_recipe_flags(recipe)}`) | {recipe['steps']:,} | **{recipe['val_bpb']:.3f}** "
            f"| {rh[0]:.3f} | {rh[1]:.3f} | | | | |"
        )
    for label, a in res["adapted"].items():
        ah = [x["val_bpb_adapted"] for x in a["halves"]]
        shown = ", ".join(
            f"{k.replace('cache_', '').replace('dynamic_', 'dyn ')} {v:.3g}"
            for k, v in a["settings"].items()
            if isinstance(v, float)
        )
        lines.append(
            f"| {base} + {label} ({shown}) | | | | | **{a['val_bpb_adapted']:.3f}** | {ah[0]:.3f} | {ah[1]:.3f} | |"
        )
    lines += [
        "",
        f"- textgen default: {mine['tokens_per_s']:,.0f} tokens/s; validated every {res['dense_every']} steps for "
        f"the time-to-quality column ({res['dense_seconds']:.0f}-s run, best {res['dense']['val_bpb']:.3f}). "
        "Its val_bpb is the model's distribution: the network mixed with its Kneser-Ney "
        f"{mine['config'].get('ngram_order', 0)}-gram of the training ids (`textgen.lm.ngram`; the network "
        'alone is the ablation row "no n-gram").',
    ]
    if recipe is not None:
        lines.append(f"- {recipe['name']}: {recipe['tokens_per_s']:,.0f} tokens/s; the adapted rows start from it.")
    for key in ("small", "large"):
        r = res[key]
        if r is not None:
            c = r["config"]
            lines.append(
                f"- {r['name']}: {c['layers']} layers, d {c['dim']}, {c['heads']} heads, context {c['context']}, "
                f"batch {c['batch']}, lr {c['lr']:g}, dropout {c['dropout']:g}, warm-up {c['warmup_steps']}; "
                f"{r['parameters']:,} parameters, {r['tokens_per_s']:,.0f} tokens/s; val_bpb by time: "
                + ", ".join(f"{p['seconds']:.0f} s {p['val_bpb']:.3f}" for p in r["checkpoints"])
            )
    c = res["classic"]
    lines.append(
        f"- classic recipe: {c['windows_per_s']:,.0f} windows/s; by time: "
        + ", ".join(f"{p['seconds']:.0f} s {p['val_bpb']:.3f}" for p in c["checkpoints"])
    )
    for label, a in res["adapted"].items():
        lines.append(f"- evaluate {label}: {a['seconds']:.0f} s (tuning included), load {a['load']:.1f}")
    if res.get("ablation"):
        lines += [
            "",
            f"Options on our default model, {s:.0f} s each, same invocation (best val_bpb, whole split):",
            "",
            "| textgen default plus | steps | tokens/s | val_bpb | vs default |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| (nothing: the default) | {mine['steps']:,} | {mine['tokens_per_s']:,.0f} | {mine['val_bpb']:.3f} | |",
        ]
        for label, r in res["ablation"].items():
            lines.append(
                f"| {label} | {r['steps']:,} | {r['tokens_per_s']:,.0f} | {r['val_bpb']:.3f} | "
                f"{r['val_bpb'] - mine['val_bpb']:+.3f} |"
            )
    d = res["distinct"]
    lines += [
        "",
        f"`generate --cache` (defaults theta {CACHE_THETA:g}, lambda {CACHE_LAMBDA:g}): held-out likelihood "
        f"{res['adapted'][GENERATE_CACHE]['val_bpb_adapted']:.3f} vs {(recipe or mine)['val_bpb']:.3f} static; "
        "the default's checkpoint, 16 samples x 200 tokens primed with `jerry`, temperature 0.8, top-p 0.9 "
        "(`--ngram` samples the distribution val_bpb scores; without it, the network alone):",
        "",
        "| decoding | distinct-1 | distinct-2 | mean log p of the sampled tokens | tokens/s (16 streams) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, row in d.items():
        lines.append(
            f"| {label} | {row['distinct_1']:.3f} | {row['distinct_2']:.3f} | {row['mean_logp']:.3f} | "
            f"{row['tokens_per_s']:,.0f} |"
        )
    lines += ["", f"Raw figures: `{res['json']}`."]
    if res.get("notes"):
        lines += ["", res["notes"].rstrip()]
    lines.append(END)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SEINFELD)
    parser.add_argument("--seconds", type=float, default=300.0, help="Training budget of every contender.")
    parser.add_argument("--dense-seconds", type=float, default=60.0, help="Budget of our densely validated run.")
    parser.add_argument("--dense-every", type=int, default=10, help="Its validation interval (steps).")
    parser.add_argument("--peers", default="classic,small,large", help="Which peers: classic, small, large.")
    parser.add_argument(
        "--ablation", default=",".join(ABLATION), help="AWD-LSTM variants of ours to run too ('' none)."
    )
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the vocabulary and vectors.")
    parser.add_argument("--out", type=Path, default=BENCH_MD)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--render", type=Path, help="Only write the section from a saved bench_quality.json.")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the section (the reading of the figures).")
    args = parser.parse_args()
    unknown = [v for v in filter(None, args.ablation.split(",")) if v not in ABLATION]
    if unknown:
        parser.error(f"--ablation: unknown variant(s) {unknown}; choose from {list(ABLATION)}")
    if args.render:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        if args.notes:
            saved["notes"] = args.notes.read_text(encoding="utf-8")
        replace_section(args.out, render(saved), START, END)
        return
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / "base"
    peers = set(args.peers.split(","))
    res: dict[str, Any] = {
        "command": "python " + shlex.join(sys.argv),
        "seconds": args.seconds,
        "dense_seconds": args.dense_seconds,
        "dense_every": args.dense_every,
        "threads": torch.get_num_threads(),
        "corpus": str(args.corpus),
        "torch": torch.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    res["build"] = build_base(args.corpus, base, args.rebuild)
    corpus = json.loads((base / "corpus.json").read_text())
    res.update(vocab_size=corpus["vocab_size"], our_oov=corpus["val_oov_rate"])
    val_bytes = int(corpus["val_bytes"])
    res["small"] = transformer(base, "small", args.seconds, val_bytes) if "small" in peers else None
    res["large"] = transformer(base, "large", args.seconds, val_bytes) if "large" in peers else None
    res["classic"] = classic(args.corpus, args.seconds)
    res["ours"], run = ours(base, args.work, "ours", args.seconds)
    res["recipe"], recipe_run = ours(base, args.work, "recipe", args.seconds, BUDGET_MODEL, RECIPE, **BUDGET_RECIPE)
    res["dense"], _ = ours(base, args.work, "dense", args.dense_seconds, eval_every=args.dense_every, patience=1000)
    res["ablation"] = {}
    for label in filter(None, args.ablation.split(",")):
        variant = ABLATION[label]
        name = "awd-" + "".join(c if c.isalnum() else "-" for c in label)
        res["ablation"][label], _ = ours(base, args.work, name, args.seconds, variant["model"], **variant["train"])
    res["adapted"] = adapted(recipe_run, args.device)  # the better static model of the two
    res["distinct"] = distinct(run)
    log("done")
    res["load"] = f"{min(LOADS):.1f}-{max(LOADS):.1f}"
    res["json"] = str(args.work / "bench_quality.json")
    Path(res["json"]).write_text(json.dumps(res, indent=2, default=str))
    section = render(res)
    replace_section(args.out, section, START, END)
    print(section)


if __name__ == "__main__":
    main()
