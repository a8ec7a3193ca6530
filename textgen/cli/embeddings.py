"""``textgen train-embeddings``, ``similar``, ``analogy``, ``evaluate-embeddings``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from textgen.cli.app import app, command, console
from textgen.rundir import DEFAULT_RUN_DIR

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory (needs `textgen build-vocab` first).")]
TopOpt = Annotated[int, typer.Option("-n", "--top", help="How many neighbours to show.")]


def _opt(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text)


@command(app, name="train-embeddings")
def train_embeddings_cmd(
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    dim: Annotated[int, _opt("Vector size.")] = 100,
    epochs: Annotated[int, _opt("Passes over the training split.")] = 5,
    window: Annotated[int, _opt("Maximum context distance (each centre draws 1..window).")] = 5,
    negatives: Annotated[int, _opt("Negative samples per (centre, context) pair.")] = 5,
    min_count: Annotated[int, _opt("Skip words seen fewer times (on top of the vocabulary's own).")] = 5,
    sample: Annotated[float, _opt("Subsampling threshold for frequent words (0 disables).")] = 1e-3,
    ns_exponent: Annotated[float, _opt("Exponent of the unigram distribution for negatives.")] = 0.75,
    lr: Annotated[float | None, _opt("Learning rate (default 0.025 for sgd, 0.001 for sparse_adam).")] = None,
    batch_size: Annotated[int, _opt("torch: centre words per update.")] = 256,
    backend: Annotated[str, _opt("auto (torch on CUDA, gensim on CPU), torch or gensim.")] = "auto",
    optimizer: Annotated[str, _opt("torch: sgd (linear decay) or sparse_adam.")] = "sgd",
    device: Annotated[str, _opt("auto, cpu or cuda[:N].")] = "auto",
    seed: Annotated[int, _opt("Random seed (bit-identical CPU runs: torch; gensim with --workers 1).")] = 0,
    workers: Annotated[int, _opt("gensim threads / torch CPU threads (0: torch 1, gensim one per core).")] = 0,
    evaluate: Annotated[bool, _opt("Score analogies and word pairs.", "--evaluate/--no-evaluate")] = True,
) -> None:
    """Learn skip-gram word vectors from the run's token ids."""
    from textgen.embeddings import EmbeddingConfig, train_embeddings

    config = EmbeddingConfig(
        dim=dim, epochs=epochs, window=window, negatives=negatives, min_count=min_count, sample=sample,
        ns_exponent=ns_exponent, lr=lr, batch_size=batch_size, backend=backend,  # type: ignore[arg-type]
        optimizer=optimizer, device=device, seed=seed, workers=workers,  # type: ignore[arg-type]
    ).validate()
    columns = (
        TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.fields[rate]} words/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("train", total=config.epochs, epoch=f"1/{config.epochs}", rate="-")

        def on_progress(event: Any) -> None:
            done = event.epoch - 1 + event.words_done / max(event.words_total, 1)
            bar.update(task, completed=done, epoch=f"{event.epoch}/{event.epochs}", rate=f"{event.words_per_s:,.0f}")
            if event.kind == "epoch":
                bar.console.print(
                    f"epoch {event.epoch}/{event.epochs}: loss/pair {event.loss:.4f}, "
                    f"{event.words_per_s:,.0f} words/s raw, {event.effective_words_per_s:,.0f} effective",
                    markup=False, highlight=False,
                )
                for word, near in event.neighbours.items():
                    bar.console.print(f"  {word}: {', '.join(near)}", markup=False, highlight=False)

        result = train_embeddings(run_dir, config, progress=on_progress, evaluate=evaluate)
    from dataclasses import asdict

    from textgen.cli.pipeline import record_run  # so `textgen run` does not redo this stage

    record_run(run_dir, "embeddings", {**asdict(config), "evaluate": evaluate})
    report = result.report
    console.print(
        f"{report['backend']} on {report['device']}: {report['trained_words']:,} words x {config.dim} in "
        f"{report['seconds']['train']:.1f} s ({report['words_per_s']:,.0f} words/s raw, "
        f"{report['effective_words_per_s']:,.0f} effective)",
        markup=False, highlight=False,
    )
    if "evaluation" in report:
        _print_scores(report["evaluation"])
    console.print(f"wrote {', '.join(p.name for p in result.outputs)} to {result.run_dir}", markup=False)


def _print_scores(ev: dict[str, Any]) -> None:
    a = ev["analogy"]
    console.print(
        f"analogies: {a['accuracy']:.2%} ({a['correct']}/{a['evaluated']}, OOV {a['oov_rate']:.1%})",
        markup=False, highlight=False,
    )
    for name in ("wordsim353", "simlex999"):
        s = ev[name]
        rho = "n/a" if s["spearman"] is None else f"{s['spearman']:.3f}"
        console.print(f"{name}: Spearman {rho} (OOV {s['oov_rate']:.1%})", markup=False, highlight=False)


def _print_neighbours(rows: list[tuple[str, float]]) -> None:
    for word, score in rows:
        console.print(f"{score:7.4f}  {word}", markup=False, highlight=False)


@command(app, name="similar")
def similar_cmd(word: Annotated[str, typer.Argument(help="A word in the vocabulary.")], n: TopOpt = 10,
                run_dir: RunDirOpt = DEFAULT_RUN_DIR) -> None:
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
def evaluate_embeddings_cmd(
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    as_json: Annotated[bool, _opt("Print the scores as JSON.", "--json")] = False,
) -> None:
    """Analogy accuracy and WordSim353 / SimLex-999 Spearman, with OOV rates."""
    import numpy as np

    from textgen.embeddings.evaluate import evaluate_vectors
    from textgen.embeddings.query import VectorIndex

    index = VectorIndex.load(run_dir)
    learned = np.flatnonzero(index.trained)
    scores = evaluate_vectors([index.vocab.itos[i] for i in learned], index.unit[learned])
    if as_json:
        console.print_json(json.dumps(scores))
    else:
        _print_scores(scores)
