"""``textgen train-generator`` (alias ``textgen train``): options derived from
:class:`~textgen.steps.train_generator.TrainGeneratorConfig`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from textgen.cli.app import app, console, err_console
from textgen.cli.options import derived_command
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.steps import train_generator

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory (needs `textgen build-vocab` first).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


def _train(given: dict[str, Any], run_dir: Path, as_json: bool) -> None:
    from textgen.lm.collectives import env_rank
    from textgen.steps.execute import run_step

    step = train_generator.STEP
    main_process = env_rank() == 0
    if not main_process:  # under torchrun rank 0 alone prints (errors too); every rank exits alike
        console.quiet = err_console.quiet = True
    base = train_generator.resume_base(run_dir) if given.get("resume") else None
    config = step.configure(given, base=base)
    local_world = os.environ.get("LOCAL_WORLD_SIZE")
    if local_world and config.nproc_per_node == 1:  # under torchrun: record how many processes trained it
        config = replace(config, nproc_per_node=int(local_world))
    with _ProgressBar(err_console if as_json else console) as bar:  # --json: stdout holds the JSON alone
        result = run_step(step, run_dir, config, bar.update, main_process=main_process)
    if as_json:
        print(json.dumps({**asdict(result), "interrupted": result.interrupted}, sort_keys=True))
    else:
        best = f"{result.best_val_bpb:.4f}" if result.best_val_bpb is not None else "n/a"
        console.print(
            f"stopped ({result.stopped}) after {result.steps:,} steps, {result.tokens:,} tokens, "
            f"{result.train_seconds:.1f} s; best val_bpb {best} at step {result.best_step}; "
            f"saved {Path(run_dir) / 'generator.safetensors'}",
            markup=False,
            highlight=False,
        )
    if result.interrupted:
        err_console.print(
            f"interrupted: checkpoint saved; continue with `textgen train-generator --run-dir {run_dir} --resume`",
            markup=False,
        )
        raise typer.Exit(130)


@derived_command(app, train_generator.TrainGeneratorConfig, "train-generator", train_generator.STEP.help)
def train_generator_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR, as_json: JsonOpt = False) -> None:
    _train(given, run_dir, as_json)


@derived_command(app, train_generator.TrainGeneratorConfig, "train", "Alias of `textgen train-generator`.")
def train_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR, as_json: JsonOpt = False) -> None:
    _train(given, run_dir, as_json)


class _ProgressBar:
    """Rich progress: loss, perplexity, tokens/s, ETA (by steps or by --max-seconds, whichever ends first)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(
                "step {task.fields[step]} loss {task.fields[loss]} ppl {task.fields[ppl]} "
                "{task.fields[rate]} tok/s {task.fields[val]}"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=out,
            transient=False,
        )
        self.task: Any = None
        self.total_steps: int | None = None
        self.max_seconds: float | None = None
        self.val = ""

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.bar.__exit__(*exc)

    def update(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "start":  # the bar appears once training really starts (errors come before)
            self.total_steps, self.max_seconds = info.get("total_steps"), info.get("max_seconds")
            if self.task is None:
                from textgen.lm.pretrained import describe

                if info.get("step", 0) == 0:
                    self.out.print(describe(info.get("embeddings") or {}), markup=False, highlight=False)
                self.out.print(f"training on {info.get('device')}", markup=False, highlight=False)
                self.bar.__enter__()
                self.task = self.bar.add_task("training", total=1000, step=0, loss="-", ppl="-", rate="-", val="")
            return
        if kind == "log":  # lines of a torchrun job this command launched
            self.out.print(str(info["message"]), markup=False, highlight=False)
            return
        if self.task is None:
            return
        if kind == "eval":
            self.val = f"val_bpb {info['val_bpb']:.3f}"
            self.bar.update(self.task, val=self.val)
            return
        if kind != "step":
            return
        done = 0.0
        if self.total_steps:
            done = info["step"] / self.total_steps
        if self.max_seconds:
            done = max(done, info["train_seconds"] / self.max_seconds)
        self.bar.update(
            self.task,
            completed=min(1000, int(done * 1000)),
            step=f"{info['step']:,}",
            loss=f"{info['loss']:.3f}",
            ppl=f"{info['ppl']:.1f}",
            rate=f"{info['tokens_per_s']:,.0f}",
        )
