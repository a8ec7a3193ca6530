"""Step ``train-classifier``: labelled sequences -> a recurrent classifier (names -> language, lines -> speaker).

Reads a folder of ``<label>.txt`` files, a TSV/CSV, or (``--label speaker``) the run's script
corpus; deduplicates, drops texts listed under several labels, splits each label 80/10/10 (seeded)
and trains with early stopping on dev macro-F1. Staged: ``classifier.safetensors`` (weights, with
labels, vocabulary and config in its header), ``classifier.json`` (a readable copy),
``classifier_split.json`` (every example of every split), ``classifier_metrics.json`` (test
scores and the training history) and ``confusion.png`` appear together, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import __version__, io, options
from textgen.classify.config import SPEAKER, DataSettings, FitSettings, NetSettings
from textgen.options import section
from textgen.rundir import CLASSIFIER_FILES, RunDir
from textgen.steps.base import Progress, Step, no_progress


@dataclass(frozen=True)
class TrainClassifierConfig:
    """What to read, the network, and the training loop."""

    data: DataSettings = section(DataSettings)
    model: NetSettings = section(NetSettings)
    train: FitSettings = section(FitSettings)


@dataclass
class ClassifierResult:
    """What ``train-classifier`` made, for summaries."""

    run_dir: Path
    labels: list[str]
    counts: dict[str, int]
    stats: dict[str, Any]
    test: dict[str, Any]
    fit: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _relay(progress: Progress) -> Progress:
    """Training events with a one-line ``message`` (the pipeline prints those)."""

    def relay(kind: str, info: dict[str, Any]) -> None:
        if kind == "start":
            info = {**info, "message": f"training on {info['device']}: {info['examples']:,} examples, "
                                       f"{info['batches']:,} batches an epoch"}  # fmt: skip
        elif kind == "epoch":
            best = " (best)" if info["improved"] else ""
            info = {**info, "message": f"epoch {info['epoch']}: {info['scored_on']} macro-F1 "
                                       f"{info['dev_macro_f1']:.4f}{best}, {info['seconds']:.0f} s"}  # fmt: skip
        progress(kind, info)

    return relay


def run(run_dir: Path, config: TrainClassifierConfig, progress: Progress = no_progress) -> ClassifierResult:
    """Read, split, train, score on test, and write the artifacts into ``run_dir``."""
    from textgen.classify.artifact import CARD, WEIGHTS, Classifier, save_classifier
    from textgen.classify.evaluate import METRICS, PLOT, draw, score_split
    from textgen.classify.sources import read_examples
    from textgen.classify.split import SPLIT_FILE, make_split, save_split
    from textgen.classify.train import fit
    from textgen.classify.units import Codec

    rd = RunDir.of(run_dir)

    def say(message: str) -> None:
        progress("status", {"message": message})

    say("reading the data")
    examples = read_examples(config.data, rd.root)
    split = make_split(examples.texts, examples.labels, examples.order, config.train.seed)
    notes = examples.notes + split.stats["notes"]
    for note in notes:
        say(note)
    level = config.data.resolved_level
    vocab = vectors = None
    if examples.vocab_itos is not None:  # --label speaker: the run's vocabulary and, when there, its vectors
        from textgen.vocab import Vocab

        codec = Codec.from_vocab(examples.vocab_itos, examples.tokenizer or Vocab.load(rd / "vocab.json").tokenizer)
        vocab = Vocab.load(rd / "vocab.json")
        if config.model.embeddings == "auto" and (rd / "embeddings.safetensors").is_file():
            vectors = rd / "embeddings.safetensors"
    else:
        codec = Codec.build(level, split.texts("train"), examples.tokenizer)
    result = fit(split, codec, config.model, config.train, vectors=vectors, vocab=vocab, progress=_relay(progress))
    flat = options.flatten(config)
    flat["level"] = level  # what "auto" became
    save_split(rd / SPLIT_FILE, split, examples.source)
    save_classifier(rd / WEIGHTS, result.model, codec, split.labels, flat)
    classifier = Classifier(result.model, codec, split.labels, flat, result.model.embed.weight.device)
    test = score_split(classifier, split, "test")
    draw(test, rd / PLOT)
    summary = {
        "best_epoch": result.best_epoch,
        "best_dev": result.best_dev,
        "epochs": result.epochs,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 3),
        "stopped": result.stopped,
        "device": result.device,
        "class_weights": result.class_weights,
        "embeddings": result.embeddings,
    }
    io.write_json(rd / METRICS, {"test": test, "training": summary, "history": result.history})
    card = {
        "format": "textgen-classifier",
        "note": f"a readable copy of {WEIGHTS}'s header; textgen reads the header, never this file",
        "config": flat,
        "labels": split.labels,
        "shape": result.shape.to_dict(),
        "level": level,
        "vocab_size": len(codec),
        "split": {"counts": split.counts(), **{k: v for k, v in split.stats.items() if k != "per_label"}},
        "source": examples.source,
        "test": {k: test[k] for k in ("accuracy", "macro_f1", "majority_baseline", "majority_label", "examples")},
        "training": summary,
        "textgen_version": __version__,
    }
    io.write_json(rd / CARD, card)
    message = f"test accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f} ({result.stopped})"
    progress("done", {"message": message})
    return ClassifierResult(rd.root, split.labels, split.counts(), split.stats, test, summary, notes)


def _optional(config: TrainClassifierConfig) -> tuple[str, ...]:
    if config.data.label != SPEAKER:
        return ()
    own = ("train_ids.npy", "corpus.json") if config.data.data is None else ()
    vectors = ("embeddings.safetensors",) if config.model.embeddings == "auto" else ()
    return ("vocab.json", *own, *vectors)


def _needs(config: TrainClassifierConfig) -> tuple[str, ...]:
    if config.data.label != SPEAKER:
        return ()
    return ("vocab.json", "train_ids.npy", "corpus.json") if config.data.data is None else ("vocab.json",)


def _data_files(config: TrainClassifierConfig) -> list[Path]:
    """Files outside the run dir that the data spec names (registry corpora are pinned by their sha256)."""
    spec = config.data.data
    if spec is None:
        return []
    path = Path(spec).expanduser()
    if path.is_dir() and config.data.label != SPEAKER:
        return sorted(p for p in path.glob("*.txt") if p.is_file())
    if config.data.label == SPEAKER:
        from textgen.steps.build_vocab import corpus_files

        return corpus_files(spec)
    return [path]


STEP = Step(
    name="train-classifier",
    config=TrainClassifierConfig,
    run=run,
    help="Train a recurrent sequence classifier: names by language, or script lines by speaker (--label speaker).",
    outputs=lambda config: CLASSIFIER_FILES,
    extras=("confusion.png",),
    optional_reads=_optional,
    needs=_needs,
    external_deps=_data_files,
    sources=("textgen.steps.train_classifier", "textgen.classify"),
)
