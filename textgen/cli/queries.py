"""Commands that read a run dir and change nothing: ``evaluate``, ``similar``, ``analogy``,
``evaluate-embeddings`` and ``corpus list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from textgen import options
from textgen.cli.app import app, command, console, corpus_app, err_console
from textgen.cli.options import derived_command
from textgen.lm.adapt_settings import EvaluateConfig
from textgen.rundir import DEFAULT_RUN_DIR

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory to read.")]
TopOpt = Annotated[int, typer.Option("-n", "--top", help="How many neighbours to show.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def print_scores(ev: dict[str, Any]) -> None:
    """Analogy accuracy and word-pair correlations, one line each."""
    a = ev["analogy"]
    console.print(
        f"analogies: {a['accuracy']:.2%} ({a['correct']}/{a['evaluated']}, OOV {a['oov_rate']:.1%})",
        markup=False,
        highlight=False,
    )
    for name in ("wordsim353", "simlex999"):
        s = ev[name]
        rho = "n/a" if s["spearman"] is None else f"{s['spearman']:.3f}"
        console.print(f"{name}: Spearman {rho} (OOV {s['oov_rate']:.1%})", markup=False, highlight=False)


def _print_neighbours(rows: list[tuple[str, float]]) -> None:
    for word, score in rows:
        console.print(f"{score:7.4f}  {word}", markup=False, highlight=False)


@command(app, name="similar")
def similar_cmd(
    word: Annotated[str, typer.Argument(help="A word in the vocabulary.")],
    n: TopOpt = 10,
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
) -> None:
    """Nearest neighbours of WORD by cosine similarity."""
    from textgen.embeddings.query import VectorIndex

    _print_neighbours(VectorIndex.load(run_dir).similar(word, n))


@command(app, name="analogy")
def analogy_cmd(
    a: Annotated[str, typer.Argument(help="A ...")],
    b: Annotated[str, typer.Argument(help="... is to B ...")],
    c: Annotated[str, typer.Argument(help="... as C is to ?")],
    n: TopOpt = 10,
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
) -> None:
    """Solve A is to B as C is to ? (B - A + C)."""
    from textgen.embeddings.query import VectorIndex

    _print_neighbours(VectorIndex.load(run_dir).analogy(a, b, c, n))


@command(app, name="evaluate-embeddings")
def evaluate_embeddings_cmd(run_dir: RunDirOpt = DEFAULT_RUN_DIR, as_json: JsonOpt = False) -> None:
    """Analogy accuracy and WordSim353 / SimLex-999 Spearman, with OOV rates."""
    import numpy as np

    from textgen.embeddings.evaluate import evaluate_vectors
    from textgen.embeddings.query import VectorIndex

    index = VectorIndex.load(run_dir)
    learned = np.flatnonzero(index.trained)
    scores = evaluate_vectors([index.vocab.itos[i] for i in learned], index.unit[learned])
    if as_json:
        print(json.dumps(scores, sort_keys=True))
    else:
        print_scores(scores)


@derived_command(
    app,
    EvaluateConfig,
    "evaluate",
    "Score the best checkpoint on the validation split: val_bpb, loss, perplexity, OOV rate; with --cache and/or "
    "--dynamic also the adapted val_bpb (settings not given are tuned on the split's first half; both halves shown).",
)
def evaluate_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR, as_json: JsonOpt = False) -> None:
    from textgen.lm.adapt import evaluate_adapted

    config = options.validated(options.build(EvaluateConfig, given))  # every option checked before loading
    log = lambda line: err_console.print(line, markup=False, highlight=False)  # noqa: E731  (stderr: --json stays clean)
    result = evaluate_adapted(run_dir, config, log)
    if as_json:
        print(json.dumps(result.to_dict(), sort_keys=True))
        return
    static = result.static
    oov = f"{static.val_oov_rate:.2%}" if static.val_oov_rate is not None else "n/a"
    console.print(
        f"val_bpb {static.val_bpb:.4f}  loss {static.loss:.4f} nats/token  perplexity {static.perplexity:.1f}  "
        f"tokens {static.tokens:,}  bytes {static.bytes:,}  val_oov_rate {oov}",
        markup=False,
        highlight=False,
    )
    if static.val_bpb_neural is not None:
        console.print(f"  the network alone, without its n-gram: val_bpb {static.val_bpb_neural:.4f}", markup=False)
    if result.val_bpb_adapted is None:
        return
    shown = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.settings.items())
    tuned = f" (tuned on the first half: {', '.join(result.tuned)})" if result.tuned else ""
    console.print(
        f"val_bpb_adapted {result.val_bpb_adapted:.4f}  (static, one stream: {result.val_bpb_stream:.4f})  "
        f"{shown}{tuned}",
        markup=False,
        highlight=False,
    )
    for half in result.halves:
        console.print(
            f"  {half['half']} half ({half['tokens']:,} tokens): val_bpb {half['val_bpb']:.4f} -> "
            f"adapted {half['val_bpb_adapted']:.4f}",
            markup=False,
            highlight=False,
        )


@command(corpus_app, name="list")
def corpus_list_cmd() -> None:
    """Show the registry of named corpora."""
    from textgen.corpus import list_corpora

    table = Table(title="corpora (textgen build-vocab --corpus NAME)", show_lines=True)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("description and source")
    table.add_column("licence")
    for entry in list_corpora():
        about = Text(entry.description)
        about.append(f"\n{entry.source}", style="dim")
        name = entry.name + (" (default)" if entry.default else "")
        table.add_row(Text(name), about, Text(entry.licence))
    console.print(table)
