"""``textgen build-vocab``: options derived from :class:`~textgen.steps.build_vocab.BuildVocabConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from textgen.cli.app import app, console
from textgen.cli.options import derived_command
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.steps import build_vocab
from textgen.text.symbols import speaker_name

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory for the artifacts.")]


@derived_command(app, build_vocab.BuildVocabConfig, "build-vocab", build_vocab.STEP.help)
def build_vocab_cmd(given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR) -> None:
    from textgen.steps.execute import run_step

    step = build_vocab.STEP
    config = step.configure(given)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}
        with console.status("building vocabulary") as status:

            def progress(kind: str, info: dict[str, Any]) -> None:
                # download, then the two passes over the text (reading: lines and checksum; tokenizing): bytes/s, ETA
                if kind in ("download", "bytes"):
                    phase = str(info.get("phase", "downloading"))
                    if phase not in tasks:
                        tasks[phase] = bar.add_task(phase, total=info["total"])
                    bar.update(tasks[phase], completed=info["done"], total=info["total"])
                elif kind == "tokens" and info["total"]:
                    status.update(f"{info['phase']}: {info['done'] / info['total']:.0%}")
                elif "message" in info:
                    status.update(str(info["message"]))

            result = run_step(step, run_dir, config, progress)
    _summary(result)


def layout_summary(card: dict[str, Any], shown: int = 3) -> str:
    """Which layout each document was read in, and why (the first few documents named)."""
    docs = card.get("document_layouts") or []
    counts = ", ".join(f"{layout} {n:,}" for layout, n in (card.get("layouts") or {}).items())
    lines = [f"{d['document']}: {d['layout']} ({d['reason']})" for d in docs[:shown]]
    if len(docs) > shown:
        lines.append(f"... {len(docs) - shown:,} more in corpus.json")
    return "\n".join([counts, *lines]) if len(docs) > 1 else (lines[0] if lines else counts)


def _summary(result: build_vocab.VocabResult) -> None:
    card = result.card
    table = Table(title=f"build-vocab: {card['name']} -> {result.run_dir}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("layout", layout_summary(card))
    pages = card.get("title_pages") or []
    if pages:
        first = pages[0]
        keys = ", ".join(k for k in first if k != "document")
        title = " / ".join(str(first.get("title", "untitled")).splitlines())
        more = f" (+{len(pages) - 1:,} more)" if len(pages) > 1 else ""
        table.add_row("title page", f"{title} ({first['document']}: {keys}){more}")
    table.add_row("lines", f"{card['lines']:,} ({card['train_lines']:,} train / {card['val_lines']:,} validation)")
    table.add_row("tokens", f"{card['train_tokens']:,} train / {card['val_tokens']:,} validation")
    table.add_row("vocabulary", f"{card['vocab_size']:,} entries (min count {card['min_count']})")
    coverage = f"{card['train_coverage']:.2%} of train tokens; validation OOV {card['val_oov_rate']:.2%}"
    table.add_row("coverage", coverage)
    speakers = ", ".join(f"{speaker_name(t)} {c:,}" for t, c in result.top_speakers[:6])
    table.add_row("top speakers", speakers or "none found")
    t = result.timing
    table.add_row("time", f"{t['seconds']:.1f} s (tokenizing {t['tokens_per_second']:,.0f} tokens/s)")
    console.print(table)
