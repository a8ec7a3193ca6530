"""Tokenizer and build-vocab benchmark (issue: foundation).

Run: .venv/bin/python bench/bench_tokenize.py [--corpus ../shared/corpora/seinfeld_scripts.txt]

Measures, in one invocation on the shared Seinfeld file: the classic recipe's tokenization
(punctuation table + whitespace split, the peer), our ScriptTokenizer serially and through
``datasets.map`` with 1 and 2 processes (medians of --repeat runs); then the whole
``textgen build-vocab`` stage per corpus in a subprocess with its wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpora" / "seinfeld_scripts.txt"

CLASSIC_TABLE = {
    ".": "||period||",
    ",": "||comma||",
    '"': "||quotation_mark||",
    ";": "||semicolon||",
    "!": "||exclamation_mark||",
    "?": "||question_mark||",
    "(": "||left_parentheses||",
    ")": "||right_parentheses||",
    "-": "||dash||",
    "\n": "||return||",
}


def classic_tokenize(text: str) -> list[str]:
    """The peer: replace each punctuation mark by its token, lower-case, split on whitespace."""
    for key, token in CLASSIC_TABLE.items():
        text = text.replace(key, f" {token} ")
    return text.lower().split()


def _median_seconds(fn, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = len(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), n


_MEASURE = """
import resource, sys
from textgen.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(max(own, kids), file=sys.stderr)
"""


def _stage(corpus: str) -> dict[str, float]:
    """One build-vocab in a fresh process: wall time and peak RSS (of it or its largest worker)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, "build-vocab", "--corpus", corpus, "--run-dir", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        peak_kb = int(proc.stderr.strip().splitlines()[-1])
        card = json.loads((Path(tmp) / "corpus.json").read_text())
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_kb / 1024,
        "bytes": card["bytes"],
        "tokens": card["tokens"],
        "vocab": card["vocab_size"],
        "val_oov": card["val_oov_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from textgen.text import ScriptTokenizer, TokenizerSettings
    from textgen.text.parallel import tokenize_lines_parallel

    text = args.corpus.read_text(encoding="utf-8")
    lines = text.splitlines()
    mb = len(text.encode()) / 1e6
    tok = ScriptTokenizer()
    rows = {
        "classic split (peer)": _median_seconds(lambda: classic_tokenize(text), args.repeat),
        "ScriptTokenizer, 1 process": _median_seconds(lambda: tok.tokenize_lines(lines), args.repeat),
        "datasets.map, num_proc=1": _median_seconds(
            lambda: tokenize_lines_parallel(lines, TokenizerSettings(), num_proc=1), args.repeat
        ),
        "datasets.map, num_proc=2": _median_seconds(
            lambda: tokenize_lines_parallel(lines, TokenizerSettings(), num_proc=2), args.repeat
        ),
    }
    print(
        f"# Tokenizer: {args.corpus.name} ({mb:.2f} MB), {platform.machine()} x{torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    print("| tokenizer | seconds (median) | tokens | tokens/s | MB/s |\n| --- | --- | --- | --- | --- |")
    for name, (sec, n) in rows.items():
        print(f"| {name} | {sec:.2f} | {n:,} | {n / sec:,.0f} | {mb / sec:.2f} |")
    print("\n| build-vocab stage | wall s | peak RSS MB | bytes | tokens | vocabulary | val OOV |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for corpus in ("fixture", "seinfeld", str(args.corpus)):
        r = _stage(corpus)
        print(
            f"| {Path(corpus).name} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['bytes']:,} | "
            f"{r['tokens']:,} | {r['vocab']:,} | {r['val_oov']:.2%} |"
        )


if __name__ == "__main__":
    main()
