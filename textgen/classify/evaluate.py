"""Score the trained classifier on its recorded split: what ``evaluate-classifier`` prints and the step records.

The examples come from ``classifier_split.json`` (never re-read from the data), so a later run of
this gives exactly the figures training wrote into ``classifier_metrics.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textgen.classify import metrics
from textgen.classify.artifact import Classifier, load_classifier
from textgen.classify.plot import plot_confusion
from textgen.classify.split import SPLIT_FILE, Split, load_split
from textgen.errors import ArtifactError
from textgen.rundir import RunDir

METRICS = "classifier_metrics.json"
PLOT = "confusion.png"


def score_split(classifier: Classifier, split: Split, name: str = "test") -> dict[str, Any]:
    """Accuracy, macro-F1, the majority baseline, per-label P/R/F1 and the confusion matrix on split ``name``."""
    if split.labels != classifier.labels:
        raise ArtifactError(f"{SPLIT_FILE} and the classifier disagree on the labels; rerun `textgen train-classifier`")
    index = {label: i for i, label in enumerate(split.labels)}
    gold = [index[lab] for lab in split.targets(name)]
    pred = classifier.logits(split.texts(name)).argmax(1).tolist() if gold else []
    result = metrics.scores(gold, pred, split.labels, [index[lab] for lab in split.targets("train")])
    result["split"] = name
    return result


def evaluate_run(
    run_dir: str | os.PathLike[str], split_name: str = "test", device: str = "auto", plot: Path | None = None
) -> dict[str, Any]:
    """Score the run's classifier on its recorded ``split_name``; draw the confusion matrix to ``plot``."""
    rd = RunDir.of(run_dir)
    rd.require(SPLIT_FILE)
    classifier = load_classifier(rd.root, device=device)
    split = load_split(rd / SPLIT_FILE)
    result = score_split(classifier, split, split_name)
    if plot is not None:
        draw(result, plot)
    return result


def draw(result: dict[str, Any], path: Path) -> None:
    """The confusion-matrix PNG of a :func:`score_split` result."""
    title = (
        f"{result['split']}: accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f} "
        f"(majority {result['majority_baseline']:.3f})"
    )
    plot_confusion(result["confusion"], result["labels"], path, title)
