"""Deduplicate, drop texts listed under several labels, and split each label 80/10/10 (seeded).

The split of ``../shared/BENCHMARK.md`` ("Sequence classification"): keep distinct texts, drop
every text that carries more than one label, then per label shuffle the sorted texts with
``random.Random(seed)`` and take the first ``floor(0.8 n)`` for training, up to ``floor(0.9 n)``
for development (early stopping), the rest for test. It is recorded in ``classifier_split.json``
(every example, as the classifier reads it), so evaluation repeats exactly.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import io
from textgen.errors import ArtifactError, InputError

SPLITS = ("train", "dev", "test")
FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_FILE = "classifier_split.json"
FORMAT = "textgen-classifier-split"


@dataclass
class Split:
    """Labelled examples per split; ``labels`` in report order; ``stats`` says what was dropped."""

    labels: list[str]
    parts: dict[str, tuple[list[str], list[str]]]  # split -> (texts, labels)
    seed: int
    stats: dict[str, Any] = field(default_factory=dict)

    def texts(self, name: str) -> list[str]:
        return self.parts[name][0]

    def targets(self, name: str) -> list[str]:
        return self.parts[name][1]

    def counts(self) -> dict[str, int]:
        return {name: len(self.parts[name][0]) for name in SPLITS}

    def to_dict(self, source: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": 1,
            "seed": self.seed,
            "fractions": list(FRACTIONS),
            "labels": self.labels,
            "source": source,
            "stats": self.stats,
            **{name: {"texts": t, "labels": lab} for name, (t, lab) in self.parts.items()},
        }


def make_split(texts: list[str], labels: list[str], order: list[str], seed: int) -> Split:
    """Deduplicate, drop conflicting texts, split per label; :class:`InputError` if a label cannot be trained."""
    by_text: dict[str, set[str]] = defaultdict(set)
    for text, label in zip(texts, labels, strict=True):
        by_text[text].add(label)
    conflicting = {t for t, labs in by_text.items() if len(labs) > 1}
    per_label: dict[str, list[str]] = defaultdict(list)
    for text, labs in by_text.items():
        if text not in conflicting:
            per_label[next(iter(labs))].append(text)
    parts: dict[str, tuple[list[str], list[str]]] = {name: ([], []) for name in SPLITS}
    sizes: dict[str, dict[str, int]] = {}
    notes = []
    for label in order:
        names = sorted(per_label.get(label, []))
        random.Random(seed).shuffle(names)
        n = len(names)
        cut1, cut2 = math.floor(n * FRACTIONS[0]), math.floor(n * (FRACTIONS[0] + FRACTIONS[1]))
        for name, chunk in zip(SPLITS, (names[:cut1], names[cut1:cut2], names[cut2:]), strict=True):
            parts[name][0].extend(chunk)
            parts[name][1].extend([label] * len(chunk))
        sizes[label] = {"train": cut1, "dev": cut2 - cut1, "test": n - cut2}
        if cut1 == 0:
            notes.append(f"label {label!r} has {n} example(s) left, none for training")
    trained = [label for label in order if sizes[label]["train"]]
    if len(trained) < 2:
        raise InputError(
            f"only {len(trained)} label(s) keep training examples after removing duplicates and texts listed under "
            "several labels; a classifier needs at least two labels with 2 or more distinct examples each"
        )
    stats = {
        "examples_read": len(texts),
        "duplicates_removed": len(texts) - sum(len(labs) for labs in by_text.values()),
        "conflicting_texts": len(conflicting),
        "conflicting_examples": sum(len(by_text[t]) for t in conflicting),
        "kept": sum(len(v) for v in per_label.values()),
        "per_label": sizes,
        "notes": notes,
    }
    return Split(list(order), parts, seed, stats)


def save_split(path: str | Path, split: Split, source: dict[str, Any]) -> None:
    io.write_json(path, split.to_dict(source))


def load_split(path: str | Path) -> Split:
    """Read ``classifier_split.json``; :class:`ArtifactError` if it is not one."""
    data = io.read_json(path, "classifier split")
    try:
        if data.get("format") != FORMAT:
            raise ValueError("wrong format")
        parts = {}
        for name in SPLITS:
            texts, labels = list(data[name]["texts"]), list(data[name]["labels"])
            if len(texts) != len(labels) or not all(isinstance(t, str) for t in texts + labels):
                raise ValueError(f"{name} texts and labels differ")
            parts[name] = (texts, labels)
        return Split(list(data["labels"]), parts, int(data["seed"]), dict(data.get("stats", {})))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{path} is not a textgen classifier split ({exc}); rerun `textgen train-classifier`"
        ) from exc
