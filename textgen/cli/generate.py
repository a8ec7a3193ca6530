"""``textgen generate``: options derived from :class:`~textgen.steps.generate.GenerateConfig`.

The text is the ``generate`` step's own (:func:`textgen.steps.generate.produce`): ``--out FILE``
writes exactly what the pipeline stage writes to ``samples.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from textgen.cli.app import app, console, err_console
from textgen.cli.options import derived_command
from textgen.errors import UsageError
from textgen.rundir import DEFAULT_RUN_DIR
from textgen.steps import generate

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory holding the trained generator.")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Write the output to this file instead of stdout (.fountain: --format fountain)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
HeatmapOpt = Annotated[
    Path | None, typer.Option(help="Where --explain writes the attention heatmap (default: RUN_DIR/attention.png).")
]


@derived_command(app, generate.GenerateConfig, "generate", generate.STEP.help)
def generate_cmd(
    given: dict[str, Any],
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    out: OutOpt = None,
    as_json: JsonOpt = False,
    heatmap: HeatmapOpt = None,
) -> None:
    from textgen import io
    from textgen.decode.explain import token_table, write_heatmap

    if as_json:
        if given.get("format", "json") != "json":
            raise UsageError(f"--json and --format {given['format']} disagree; pass one of them")
        given["format"] = "json"
    if out is not None and out.suffix.lower() == ".fountain" and "format" not in given:
        given["format"] = "fountain"
    config = generate.STEP.configure(given)  # every option checked before anything is loaded
    for path in (out, heatmap):
        if path is not None:
            io.check_destination(path)
    result = generate.produce(run_dir, config)
    generator = result.generator
    heatmap_path: Path | None = None
    if config.explain and generator.arch == "attention":
        heatmap_path = heatmap or Path(run_dir) / "attention.png"
        first = result.generations[0]
        write_heatmap(heatmap_path, first.samples[0], first.prime_tokens)

    if out is not None:
        io.write_text(out, result.text)
        samples = sum(len(g.samples) for g in result.generations)
        seeds = ", ".join(str(g.seed) for g in result.generations)
        err_console.print(f"wrote {samples} sample(s) to {out} (seed {seeds})", markup=False)
    else:
        console.print(result.text, end="", markup=False, highlight=False, soft_wrap=True)
    if config.explain and config.format != "json":
        target = err_console if out is not None else console
        samples = [s for g in result.generations for s in g.samples]
        for i, sample in enumerate(samples):
            target.print(token_table(sample, title=f"sample {i + 1}" if len(samples) > 1 else None))
    if config.explain:
        if heatmap_path is not None:
            err_console.print(f"attention heatmap: {heatmap_path}", markup=False)
        else:
            err_console.print(
                f"no attention heatmap: this run's model is {generator.arch!r}, not 'attention'", markup=False
            )
