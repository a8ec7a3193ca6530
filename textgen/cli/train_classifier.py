"""``textgen train-classifier``: options derived from :class:`~textgen.steps.train_classifier.TrainClassifierConfig`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from textgen.cli.app import app, console, err_console
from textgen.cli.options import derived_command
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.steps import train_classifier

RunDirOpt = Annotated[
    Path, typer.Option("--run-dir", help="Run directory for the classifier (with --label speaker: the corpus's run).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


def _line(text: str, out: Console = console) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


class _Bar:
    """Epochs as a bar (loss, best dev macro-F1); one line per epoch; status lines before training starts.

    With ``--json`` all of it goes to stderr (``out``), so stdout holds the one JSON object.
    """

    def __init__(self, out: Console = console) -> None:
        self.out = out
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}  dev macro-F1 {task.fields[dev]}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self.task: Any = None
        self.batches = 1
        self.best = "-"

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.bar.__exit__(*exc)

    def update(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "status":
            _line(str(info["message"]), self.out)
        elif kind == "start":
            emb = info.get("embeddings") or {}
            if emb.get("source"):
                from textgen.lm.pretrained import describe

                _line(describe(emb), self.out)
            _line(
                f"training on {info['device']}: {info['examples']:,} examples, {info['batches']:,} batches an epoch",
                self.out,
            )
            self.batches = max(int(info["batches"]), 1)
            self.bar.__enter__()
            total = int(info["epochs"]) * self.batches
            self.task = self.bar.add_task("train", total=total, epoch="1", loss="-", dev="-")
        elif kind == "batch" and self.task is not None:
            done = (info["epoch"] - 1) * self.batches + info["batch"]
            self.bar.update(self.task, completed=done, epoch=str(info["epoch"]), loss=f"{info['loss']:.3f}")
        elif kind == "epoch" and self.task is not None:
            mark = " (best)" if info["improved"] else ""
            if info["improved"]:
                self.best = f"{info['dev_macro_f1']:.3f}"
            self.bar.update(self.task, dev=self.best)
            self.bar.console.print(
                f"epoch {info['epoch']}: loss {info['train_loss']:.4f}, {info['scored_on']} macro-F1 "
                f"{info['dev_macro_f1']:.4f}, accuracy {info['dev_accuracy']:.4f}{mark} ({info['seconds']:.1f} s)",
                markup=False,
                highlight=False,
            )


@derived_command(app, train_classifier.TrainClassifierConfig, "train-classifier", train_classifier.STEP.help)
def train_classifier_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR, as_json: JsonOpt = False) -> None:
    from textgen.steps.execute import run_step

    step = train_classifier.STEP
    config = step.configure(given)  # every option checked before anything is read
    with _Bar(err_console if as_json else console) as bar:
        result = run_step(step, run_dir, config, bar.update)
    if as_json:
        test = {k: result.test[k] for k in ("accuracy", "macro_f1", "majority_baseline", "majority_label", "examples")}
        print(json.dumps({"labels": result.labels, "split": result.counts, "test": test, "training": result.fit}))
        return
    stats, counts, test = result.stats, result.counts, result.test
    _line(
        f"{stats['examples_read']:,} examples read: {stats['duplicates_removed']:,} duplicates removed, "
        f"{stats['conflicting_texts']:,} texts under several labels dropped ({stats['conflicting_examples']:,} "
        f"examples); split {counts['train']:,} / {counts['dev']:,} / {counts['test']:,} (train / dev / test)"
    )
    fit = result.fit
    _line(
        f"stopped ({fit['stopped']}) after {fit['epochs']} epochs, {fit['train_seconds']:.1f} s; best epoch "
        f"{fit['best_epoch']} (dev macro-F1 {fit['best_dev']['macro_f1']:.4f})"
    )
    _line(
        f"test: accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}, majority baseline "
        f"{test['majority_baseline']:.4f} ({test['majority_label']}); saved {Path(run_dir) / 'classifier.safetensors'}"
    )
