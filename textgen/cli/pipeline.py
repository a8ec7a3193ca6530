"""``textgen run PIPELINE``, ``textgen status PIPELINE`` and ``textgen pipelines``: staged pipelines that
redo only what changed. PIPELINE is a .yaml file or the name of a shipped pipeline (``smoke``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape
from typer.core import TyperCommand

from textgen.cli.app import app, command, console, err_console
from textgen.errors import UsageError
from textgen.pipeline.runner import AFTER_UPSTREAM, BLOCKED, NOT_SELECTED, RUN, Runner, StageEvent, StageStatus
from textgen.pipeline.shipped import resolve, shipped
from textgen.pipeline.spec import PipelineSpec, SpecError, load_spec

PIPELINE_HELP = "A pipeline .yaml file, or a shipped pipeline's name (smoke, seinfeld; see --list)."
PipelineArg = Annotated[str, typer.Argument(help=PIPELINE_HELP)]
RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", help="Run directory (overrides the pipeline's).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="STAGE.KEY=VALUE", help="Override a parameter: stage.key=value (repeatable)."),
]


class _OptionalForce(TyperCommand):
    """Lets ``--force`` stand alone (all stages) or take a stage name: ``--force [STAGE]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out = []
        for i, arg in enumerate(args):
            nxt = args[i + 1] if i + 1 < len(args) else None
            names = {p.name for p in shipped()}
            is_pipeline = nxt is not None and (nxt.endswith((".yaml", ".yml")) or nxt in names)
            if arg == "--force" and (nxt is None or nxt.startswith("-") or is_pipeline):
                arg = "--force=all"
            out.append(arg)
        return super().parse_args(ctx, out)


def _load(pipeline: str, overrides: list[str] | None) -> PipelineSpec:
    try:
        return load_spec(resolve(pipeline), overrides or [])
    except SpecError as exc:
        err_console.print(f"error: {exc.source}: {len(exc.errors)} error(s); fix them and rerun", markup=False)
        for line in exc.errors:
            err_console.print(f"  - {line}", markup=False)
        raise typer.Exit(exc.exit_code) from None


def _print_plan(plan: list[StageStatus], width: int) -> None:
    style = {RUN: "yellow", AFTER_UPSTREAM: "cyan", NOT_SELECTED: "dim", BLOCKED: "red"}
    for status in plan:
        text = status.describe() if status.action != RUN else f"will run: {'; '.join(status.reasons)}"
        console.print(
            f"  {status.name:<{width}}  [{style.get(status.action, 'green')}]{escape(text)}[/]",
            highlight=False,
            soft_wrap=True,
        )


def _list() -> None:
    for p in shipped():
        console.print(f"  {p.name:<18} {p.description}", markup=False, highlight=False, soft_wrap=True)


@command(app, name="pipelines")
def pipelines_cmd() -> None:
    """List the shipped pipelines (`textgen run NAME` runs one from any folder)."""
    _list()


@command(app, name="run", cls=_OptionalForce)
def run_cmd(
    pipeline: Annotated[
        str | None,
        typer.Argument(
            help="A pipeline .yaml file, or a shipped pipeline's name (smoke, seinfeld; see --list).",
            show_default=False,
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped pipelines and exit.")] = False,
    run_dir: RunDirOpt = None,
    force: Annotated[
        str | None, typer.Option("--force", metavar="[STAGE]", help="Rerun every stage, or just STAGE.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run and why; change nothing.")] = False,
    until: Annotated[str | None, typer.Option("--until", metavar="STAGE", help="Stop after this stage.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="STAGE", help="Start at this stage (earlier ones untouched).")
    ] = None,
    set_: SetOpt = None,
    nproc_per_node: Annotated[
        int | None, typer.Option("--nproc-per-node", help="Train the train-generator stage with N torchrun processes.")
    ] = None,
) -> None:
    """Run a pipeline, skipping every stage whose code, params and inputs are unchanged."""
    if list_:
        _list()
        return
    if pipeline is None:
        raise UsageError("give a pipeline file or name (e.g. `textgen run smoke`); `textgen run --list` shows them")
    ddp = [f"train-generator.nproc_per_node={nproc_per_node}"] if nproc_per_node is not None else []
    spec = _load(pipeline, [*(set_ or []), *ddp])  # same as --set train-generator.nproc_per_node=N
    runner = Runner(spec, run_dir)
    for warning in runner.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    width = max(len(n) for n in spec.names)
    console.print(f"pipeline {pipeline} -> {runner.run_dir}", highlight=False, soft_wrap=True)
    if dry_run:
        _print_plan(runner.plan(force, from_, until), width)
        console.print("dry run: nothing changed")
        return
    started = time.perf_counter()

    def show(event: StageEvent) -> None:
        name = f"{event.stage:<{width}}"
        if event.kind == "skip":
            console.print(f"  {name}  [green]up to date[/]", highlight=False, soft_wrap=True)
        elif event.kind == "start":
            console.print(f"  {name}  [yellow]running[/]: {escape(event.message)}", highlight=False, soft_wrap=True)
        elif event.kind == "log":
            console.print(f"  {' ' * width}    {event.message}", highlight=False, markup=False, soft_wrap=True)
        elif event.kind == "done":
            console.print(f"  {name}  [green]done[/] in {event.seconds:.1f} s", highlight=False, soft_wrap=True)
        elif event.kind == "fail":
            err_console.print(f"  {name}  failed", markup=False)

    report = runner.run(force, from_, until, on_event=show)
    total = time.perf_counter() - started
    console.print(
        f"ran {len(report.ran)}, skipped {len(report.skipped)} in {total:.1f} s", highlight=False, soft_wrap=True
    )


@command(app, name="status")
def status_cmd(pipeline: PipelineArg, run_dir: RunDirOpt = None, set_: SetOpt = None) -> None:
    """Per stage: up to date, or why it would rerun."""
    spec = _load(pipeline, set_)
    runner = Runner(spec, run_dir)
    for warning in runner.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    console.print(f"pipeline {pipeline} -> {runner.run_dir}", highlight=False, soft_wrap=True)
    _print_plan(runner.plan(), max(len(n) for n in spec.names))
