"""``textgen train-embeddings``: options derived from :class:`~textgen.steps.train_embeddings.TrainEmbeddingsConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from textgen.cli.app import app, console
from textgen.cli.options import derived_command
from textgen.cli.queries import print_scores
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.steps import train_embeddings

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory (needs `textgen build-vocab` first).")]


@derived_command(app, train_embeddings.TrainEmbeddingsConfig, "train-embeddings", train_embeddings.STEP.help)
def train_embeddings_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR) -> None:
    from textgen.steps.execute import run_step

    step = train_embeddings.STEP
    config = step.configure(given)
    epochs = config.sgns.epochs
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.fields[rate]} words/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("train", total=epochs, epoch=f"1/{epochs}", rate="-")

        def progress(kind: str, info: dict[str, Any]) -> None:
            if kind not in ("batch", "epoch"):
                return
            done = info["epoch"] - 1 + info["words_done"] / max(info["words_total"], 1)
            bar.update(task, completed=done, epoch=f"{info['epoch']}/{epochs}", rate=f"{info['words_per_s']:,.0f}")
            if kind == "epoch":
                bar.console.print(
                    f"epoch {info['epoch']}/{epochs}: loss/pair {info['loss']:.4f}, "
                    f"{info['words_per_s']:,.0f} words/s raw, {info['effective_words_per_s']:,.0f} effective",
                    markup=False,
                    highlight=False,
                )
                for word, near in info["neighbours"].items():
                    bar.console.print(f"  {word}: {', '.join(near)}", markup=False, highlight=False)

        result = run_step(step, run_dir, config, progress)
    report = result.report
    console.print(
        f"{report['backend']} on {report['device']}: {report['trained_words']:,} words x {config.sgns.dim} in "
        f"{report['seconds']['train']:.1f} s ({report['words_per_s']:,.0f} words/s raw, "
        f"{report['effective_words_per_s']:,.0f} effective)",
        markup=False,
        highlight=False,
    )
    if "evaluation" in report:
        print_scores(report["evaluation"])
    console.print(f"wrote {', '.join(p.name for p in result.outputs)} to {run_dir}", markup=False)
