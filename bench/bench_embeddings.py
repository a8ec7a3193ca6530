"""Embeddings benchmark: torch vs gensim skip-gram, identical hyperparameters, one invocation.

    python bench/bench_embeddings.py [--rounds 2] [--corpora wiki,seinfeld] [--json out.json]

Corpora: (a) gensim's offline English Wikipedia sample (``WikiCorpus`` tokens), (b) the shared
Seinfeld scripts through ``textgen build-vocab`` (training split, our tokenizer). Hyperparameters:
dim 100, window 5, 5 negatives, sample 1e-3, min count 5, 5 epochs. Backends run alternately,
``--rounds`` times each (seed = round); speed is the median, quality the mean +- std over rounds.
``--variant 'NAME:key=value,...'`` adds a torch or gensim variant (``EmbeddingConfig`` fields).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textgen import io
from textgen.embeddings import EmbeddingConfig, train_embeddings
from textgen.embeddings.query import VectorIndex
from textgen.vocab import Vocab

SEINFELD = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "seinfeld_scripts.txt"
WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
HYPER = dict(dim=100, window=5, negatives=5, sample=1e-3, min_count=5, epochs=5)
VARIANTS: dict[str, dict[str, Any]] = {
    "gensim": dict(backend="gensim"),
    "torch": dict(backend="torch"),
    "torch sparse_adam": dict(backend="torch", optimizer="sparse_adam"),
}


def wiki_run_dir(root: Path) -> Path:
    from gensim.corpora import WikiCorpus
    from gensim.test.utils import datapath

    run = root / "wiki"
    run.mkdir()
    corpus = WikiCorpus(datapath(WIKI), dictionary={})
    tokens = [tok for doc in corpus.get_texts() for tok in doc]
    vocab = Vocab.build(Counter(tokens))
    vocab.save(run / "vocab.json")
    io.write_npy(run / "train_ids.npy", vocab.encode(tokens))
    return run


def seinfeld_run_dir(root: Path) -> Path:
    from textgen import steps

    run = root / "seinfeld"
    steps.run("build-vocab", run, corpus=str(SEINFELD), num_proc=1)
    return run


def jerry_check(run: Path) -> dict[str, Any]:
    near = [w for w, _ in VectorIndex.load(run).similar("jerry", n=50)]
    ranks = {name: (near.index(name) + 1 if name in near else None) for name in ("george", "elaine", "kramer")}
    return {"top10": near[:10], "ranks_in_top50": ranks}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``'torch b64:backend=torch,batch_size=64'`` -> name and ``EmbeddingConfig`` overrides."""
    name, _, body = text.partition(":")
    fields = {f.name: f.type for f in dataclasses.fields(EmbeddingConfig)}
    params: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--variant {text!r}: unknown field {key!r}; one of {', '.join(fields)}")
        params[key] = value if key in ("backend", "optimizer", "device") else float(value)
        if isinstance(params[key], float) and params[key].is_integer() and "float" not in str(fields[key]):
            params[key] = int(params[key])
    params.setdefault("backend", "torch")
    return name, params


def run_variant(run: Path, name: str, seed: int) -> dict[str, Any]:
    config = EmbeddingConfig(**HYPER, **VARIANTS[name], seed=seed)
    t0 = time.perf_counter()
    result = train_embeddings(run, config)
    report = result.report
    ev = report["evaluation"]
    row = {
        "variant": name,
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
        "load_1min": os.getloadavg()[0],
        "words_per_s": report["words_per_s"],
        "effective_words_per_s": report["effective_words_per_s"],
        "loss_last_epoch": report["epochs"][-1]["loss_per_pair"],
        "analogy": ev["analogy"]["accuracy"],
        "analogy_oov": ev["analogy"]["oov_rate"],
        "wordsim353": ev["wordsim353"]["spearman"],
        "wordsim353_oov": ev["wordsim353"]["oov_rate"],
        "simlex999": ev["simlex999"]["spearman"],
        "simlex999_oov": ev["simlex999"]["oov_rate"],
    }
    if run.name == "seinfeld":
        row["jerry"] = jerry_check(run)
    print(
        f"  {run.name:9s} {name:18s} seed {seed}: {row['words_per_s']:>9,.0f} w/s  (load {row['load_1min']:.1f})  "
        f"analogy {row['analogy']:.4f}  ws353 {row['wordsim353']:.3f}  simlex {row['simlex999']:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(rows)}
    out["words_per_s"] = statistics.median(r["words_per_s"] for r in rows)
    out["effective_words_per_s"] = statistics.median(r["effective_words_per_s"] for r in rows)
    for key in ("analogy", "wordsim353", "simlex999"):
        values = [r[key] for r in rows]
        out[key] = float(np.mean(values))
        out[key + "_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out[key + "_per_seed"] = values
    for key in ("analogy_oov", "wordsim353_oov", "simlex999_oov"):
        out[key] = rows[0][key]
    return out


def markdown(corpus: str, summary: dict[str, dict[str, Any]], tokens: int) -> str:
    base = summary["gensim"]
    lines = [
        f"**{corpus}** ({tokens:,} training tokens)",
        "",
        "| backend | words/s raw | effective | x gensim | analogy (OOV) | wordsim353 (OOV) | simlex999 (OOV) |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['words_per_s']:,.0f} | {s['effective_words_per_s']:,.0f} | "
            f"{s['words_per_s'] / base['words_per_s']:.2f} | "
            f"{s['analogy']:.4f} ± {s['analogy_std']:.4f} ({s['analogy_oov']:.0%}) | "
            f"{s['wordsim353']:.3f} ± {s['wordsim353_std']:.3f} ({s['wordsim353_oov']:.0%}) | "
            f"{s['simlex999']:.3f} ± {s['simlex999_std']:.3f} ({s['simlex999_oov']:.0%}) |"
        )
    lines.append("")
    for name, s in summary.items():
        per_seed = "; ".join(
            f"{key} {' / '.join(f'{v:.4f}' for v in s[key + '_per_seed'])}" for key in ("analogy", "wordsim353")
        )
        lines.append(f"- {name} per seed: {per_seed}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--corpora", default="wiki,seinfeld")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant", action="append", default=[], help="extra variant 'NAME:key=value,...'")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    variants = args.variants.split(",") if args.variants else []
    for text in args.variant:
        name, params = parse_variant(text)
        VARIANTS[name] = params
        variants.append(name)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} CPU threads available",
        "torch": torch.__version__,
        "gensim": importlib.metadata.version("gensim"),
        "load_average_start": os.getloadavg(),
        "hyperparameters": HYPER,
        "command": "python bench/bench_embeddings.py " + " ".join(sys.argv[1:]),
        "corpora": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            if corpus == "seinfeld" and not SEINFELD.is_file():
                print(f"skipping seinfeld: {SEINFELD} not found", file=sys.stderr)
                continue
            run = wiki_run_dir(Path(tmp)) if corpus == "wiki" else seinfeld_run_dir(Path(tmp))
            tokens = int(io.read_npy(run / "train_ids.npy").size)
            rows: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for seed in range(args.rounds):
                for name in variants:
                    rows[name].append(run_variant(run, name, seed))
            summary = {name: summarise(r) for name, r in rows.items()}
            results["corpora"][corpus] = {"tokens": tokens, "summary": summary, "rows": rows}
            print(markdown(corpus, summary, tokens) + "\n")
            if corpus == "seinfeld":
                for name, r in rows.items():
                    for row in r:
                        print(
                            f"- {name}, seed {row['seed']}: jerry -> {', '.join(row['jerry']['top10'])}; "
                            f"ranks in top 50: {row['jerry']['ranks_in_top50']}"
                        )
                print()
    results["load_average_end"] = os.getloadavg()
    start, end = results["load_average_start"], results["load_average_end"]
    print(f"load average {start} at start, {end} at end", file=sys.stderr)
    if args.json:
        io.write_json(args.json, results)


if __name__ == "__main__":
    main()
