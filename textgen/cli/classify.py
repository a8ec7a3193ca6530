"""Commands that read a trained classifier and change nothing but a plot: ``classify``,
``evaluate-classifier`` and ``evaluate-generation``; options derived from their configs in
:mod:`textgen.classify.config`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from textgen import options
from textgen.classify.config import ClassifyConfig, EvaluateClassifierConfig, EvaluateGenerationConfig
from textgen.cli.app import app, console, err_console
from textgen.cli.options import derived_command
from textgen.errors import InputError, UsageError
from textgen.rundir import DEFAULT_RUN_DIR

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory holding the trained classifier.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TextsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Texts to classify (none: one per line from --file, else from stdin).", show_default=False),
]
FileOpt = Annotated[Path | None, typer.Option("--file", help="Classify each non-blank line of this UTF-8 file.")]
PlotOpt = Annotated[
    Path | None,
    typer.Option("--plot", help="Where the confusion-matrix PNG goes (default: RUN_DIR/confusion.png, or "
                 "confusion_dev.png for --split dev)."),
]  # fmt: skip
ClassifierOpt = Annotated[
    Path | None, typer.Option("--classifier", help="Run directory of the speaker classifier (default: --run-dir).")
]


def _line(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _read_lines(file: Path | None) -> list[str]:
    """Non-blank lines of ``file``, else of stdin; :class:`InputError` when there are none."""
    from textgen.corpus.local import decode

    if file is not None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read --file {file} ({exc.strerror}); check the path") from None
        where = str(file)
        text = decode(data, file)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give the texts to classify as arguments, with --file, or as lines on stdin")
        where = "stdin"
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        text = decode(data, where)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{where} has no text to classify; give one text a line")
    return lines


@derived_command(
    app, ClassifyConfig, "classify", "Label texts with the run's classifier: the top labels and their probabilities."
)
def classify_cmd(
    given: dict[str, Any],
    texts: TextsArg = None,
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from textgen.classify.artifact import load_classifier

    config = options.validated(options.build(ClassifyConfig, given))
    if texts and file is not None:
        raise UsageError("give the texts as arguments or with --file, not both")
    inputs = list(texts) if texts else _read_lines(file)
    classifier = load_classifier(run_dir, device=config.device)
    predictions = classifier.predict(inputs, top_k=config.top_k)
    if as_json:
        print(json.dumps({"predictions": [p.to_dict() for p in predictions]}, ensure_ascii=False))
        return
    for p in predictions:
        top = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top)
        unknown = f"  (never seen in training: {' '.join(p.unknown)})" if p.unknown else ""
        print(f"{p.text}\t{top}{unknown}")  # a tab, kept (rich would expand it): easy to cut


@derived_command(
    app, EvaluateClassifierConfig, "evaluate-classifier",
    "Score the run's classifier on its recorded test split: accuracy, macro-F1, per-label table, confusion PNG.",
)  # fmt: skip
def evaluate_classifier_cmd(
    given: dict[str, Any], run_dir: RunDirOpt = DEFAULT_RUN_DIR, plot: PlotOpt = None, as_json: JsonOpt = False
) -> None:
    from textgen.classify.evaluate import evaluate_run

    config = options.validated(options.build(EvaluateClassifierConfig, given))
    path = plot or Path(run_dir) / ("confusion.png" if config.split == "test" else "confusion_dev.png")
    result = evaluate_run(run_dir, config.split, config.device, plot=path)
    if as_json:
        print(json.dumps({**result, "plot": str(path)}, ensure_ascii=False, sort_keys=True))
        return
    table = Table(title=f"{config.split} split of {run_dir} ({result['examples']:,} examples)")
    table.add_column("label")
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for label, row in result["per_label"].items():
        table.add_row(
            label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", f"{row['support']:,}"
        )
    console.print(table)
    _line(
        f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  majority baseline "
        f"{result['majority_baseline']:.4f} (always {result['majority_label']})"
    )
    err_console.print(f"confusion matrix: {path}", markup=False)


@derived_command(
    app, EvaluateGenerationConfig, "evaluate-generation",
    "Judge generated turns against real ones: speaker fidelity, distinct-1/2, repeated 4-grams, turn length.",
)  # fmt: skip
def evaluate_generation_cmd(
    given: dict[str, Any],
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Run directory holding the generator.")] = DEFAULT_RUN_DIR,
    classifier: ClassifierOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from textgen.classify.judge import judge_generation

    config = options.validated(options.build(EvaluateGenerationConfig, given))
    with console.status("generating") as status:
        result = judge_generation(run_dir, classifier, config, lambda kind, info: status.update(info["message"]))
    if as_json:
        print(json.dumps(result, ensure_ascii=False, sort_keys=True))
        return
    gen, real = result["generated"], result["real"]
    per = result["turns_per_speaker"]
    table = Table(title=f"{sum(per.values()):,} generated and as many real turns ({run_dir}, seed {config.seed})")
    for name, justify in (("", "left"), ("generated", "right"), ("real (validation)", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_row("speaker fidelity", f"{gen['speaker_fidelity']:.3f}", f"{real['speaker_fidelity']:.3f}")
    for speaker in result["speakers"]:
        g = gen["speaker_fidelity_by_speaker"].get(speaker, 0.0)
        r = real["speaker_fidelity_by_speaker"].get(speaker, 0.0)
        table.add_row(f"  {speaker} ({per[speaker]} turns)", f"{g:.3f}", f"{r:.3f}")
    for key, name in (
        ("distinct_1", "distinct-1"),
        ("distinct_2", "distinct-2"),
        ("repeated_4grams", "repeated 4-grams"),
    ):
        table.add_row(name, f"{gen[key]:.3f}", f"{real[key]:.3f}")
    table.add_row("mean turn length (tokens)", f"{gen['mean_turn_length']:.1f}", f"{real['mean_turn_length']:.1f}")
    console.print(table)
    _line(
        f"{gen['cut_at_length']} generated turns reached --length {config.length}; {gen['empty_turns']} were empty; "
        f"{result['real_excluded_seen_by_classifier']:,} validation turns left out (the classifier trained on them)"
    )
