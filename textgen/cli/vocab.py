"""``textgen build-vocab`` and ``textgen corpus list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from textgen.cli.app import app, command, console, corpus_app
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.text.symbols import speaker_name

CorpusOpt = Annotated[str, typer.Option("--corpus", help="Registry name, a path (file, folder, glob) or hf:DATASET.")]
RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory for the artifacts.")]


@command(app, name="build-vocab")
def build_vocab_cmd(
    corpus: CorpusOpt = "seinfeld",
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    min_count: Annotated[int, typer.Option(help="Drop tokens seen fewer times in the training split.")] = 1,
    max_vocab: Annotated[int | None, typer.Option(help="Keep at most this many entries (specials included).")] = None,
    val_fraction: Annotated[float, typer.Option(help="Last fraction of lines held out for validation.")] = 0.05,
    lowercase: Annotated[
        bool | None, typer.Option("--lowercase/--no-lowercase", help="Lower-case the text (default: per corpus).")
    ] = None,
    lang: Annotated[str, typer.Option(help="spaCy language code for the blank tokenizer.")] = "en",
    encoding: Annotated[str, typer.Option(help="Text encoding of local corpus files.")] = "utf-8",
    offline_path: Annotated[
        Path | None, typer.Option(help="Local copy of a downloadable corpus (checksum still verified).")
    ] = None,
    num_proc: Annotated[int | None, typer.Option(help="Tokenizer processes (default: by corpus size).")] = None,
    seed: Annotated[int, typer.Option(help="Recorded for reproducibility (this stage is deterministic).")] = 0,
) -> None:
    """Tokenize a corpus and write the vocabulary tables and id arrays to the run dir."""
    from textgen.stages.build_vocab import build_vocab

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("downloading", total=None, visible=False)

        def on_download(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total, visible=True)

        with console.status("building vocabulary") as status:
            result = build_vocab(
                corpus, run_dir, min_count=min_count, max_vocab=max_vocab, val_fraction=val_fraction,
                lowercase=lowercase, lang=lang, encoding=encoding, seed=seed, num_proc=num_proc,
                offline_path=offline_path, progress=lambda msg: status.update(msg),
                download_progress=on_download,
            )
    _summary(result)
    from textgen.cli.pipeline import record_run  # so `textgen run` does not redo this stage

    record_run(run_dir, "vocab", dict(
        corpus=corpus, min_count=min_count, max_vocab=max_vocab, val_fraction=val_fraction, lowercase=lowercase,
        lang=lang, encoding=encoding, seed=seed, num_proc=num_proc, offline_path=offline_path and str(offline_path),
    ))


def _summary(result: object) -> None:
    card = result.card  # type: ignore[attr-defined]
    table = Table(title=f"build-vocab: {card['name']} -> {result.run_dir}", show_header=False)  # type: ignore[attr-defined]
    table.add_column(style="bold")
    table.add_column()
    table.add_row("lines", f"{card['lines']:,} ({card['train_lines']:,} train / {card['val_lines']:,} validation)")
    table.add_row("tokens", f"{card['train_tokens']:,} train / {card['val_tokens']:,} validation")
    table.add_row("vocabulary", f"{card['vocab_size']:,} entries (min count {card['min_count']})")
    coverage = f"{card['train_coverage']:.2%} of train tokens; validation OOV {card['val_oov_rate']:.2%}"
    table.add_row("coverage", coverage)
    speakers = ", ".join(f"{speaker_name(t)} {c:,}" for t, c in result.top_speakers[:6])  # type: ignore[attr-defined]
    table.add_row("top speakers", speakers or "none found")
    table.add_row("time", f"{card['seconds']:.1f} s (tokenizing {card['tokens_per_second']:,} tokens/s)")
    console.print(table)


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
        name = entry.name + (" (default)" if getattr(entry, "default", False) else "")
        table.add_row(Text(name), about, Text(entry.licence))
    console.print(table)
