"""``classifier.safetensors``: the weights with everything needed to use them in the file's own header.

The safetensors metadata holds the format, the labels, the units' vocabulary (and tokenizer), the
network's shape and the training config as JSON, so the weights and their description are one
atomic file; ``classifier.json`` is a readable copy written after it and never read back.
:func:`load_classifier` (``textgen.load_classifier``) reads the header and rebuilds the model;
:meth:`Classifier.predict` answers for raw texts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from textgen import device as devices
from textgen import io
from textgen.classify.model import SequenceClassifier, Shape, logits_of
from textgen.classify.units import Codec
from textgen.errors import ArtifactError, InputError
from textgen.rundir import RunDir

WEIGHTS = "classifier.safetensors"
CARD = "classifier.json"
FORMAT = "textgen-classifier"
FORMAT_VERSION = "1"


@dataclass
class Prediction:
    """The labels of one text, most likely first, and the units the classifier never saw in training."""

    text: str
    top: list[tuple[str, float]]
    unknown: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def probability(self) -> float:
        return self.top[0][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "probability": self.probability,
            "top": [{"label": lab, "probability": p} for lab, p in self.top],
            "unknown": self.unknown,
        }


def save_classifier(
    path: str | os.PathLike[str], model: SequenceClassifier, codec: Codec, labels: Sequence[str], info: dict[str, Any]
) -> dict[str, Any]:
    """Write the weights with their description in the header (one atomic file); returns the metadata."""
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labels": list(labels),
        "codec": codec.to_dict(),
        "shape": model.shape.to_dict(),
        "config": info,
    }
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    io.save_tensors(path, state, metadata=metadata)
    return metadata


def read_header(path: Path) -> dict[str, Any]:
    """The decoded metadata of ``classifier.safetensors``; :class:`ArtifactError` if it is not one."""
    try:
        meta = io.read_metadata(path)
    except ArtifactError as exc:
        raise ArtifactError(f"{exc}".replace("retrain to rewrite it", "rerun `textgen train-classifier`")) from exc
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a textgen classifier; rerun `textgen train-classifier`")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has format version {meta.get('format_version')!r}; retrain it with this textgen")
    try:
        header = {k: meta[k] for k in ("labels", "codec", "shape", "config")}
    except KeyError as exc:
        raise ArtifactError(f"{path} has a damaged header (no {exc}); rerun `textgen train-classifier`") from exc
    kinds = {"labels": list, "codec": dict, "shape": dict, "config": dict}
    if any(not isinstance(header[k], kind) for k, kind in kinds.items()):
        raise ArtifactError(f"{path} has a damaged header (wrong types); rerun `textgen train-classifier`")
    return header


class Classifier:
    """A trained sequence classifier: ``predict(["Nakamura", "Schmidt"])``."""

    def __init__(self, model: SequenceClassifier, codec: Codec, labels: list[str], config: dict[str, Any],
                 device: torch.device) -> None:  # fmt: skip
        self.model, self.codec, self.labels, self.config, self.device = model, codec, labels, config, device

    @property
    def level(self) -> str:
        return self.codec.level

    def logits(self, recorded: Sequence[str]) -> torch.Tensor:
        """Logits [N, labels] of examples in their recorded form (the split file's texts)."""
        seqs = [self.codec.encode(Codec.recorded_units(self.level, t))[0] for t in recorded]
        return logits_of(self.model, seqs, self.device)

    def predict_units(self, units: Sequence[Sequence[str]]) -> torch.Tensor:
        """Probabilities [N, labels] of unit sequences (tokens as a generator wrote them, say)."""
        seqs = [self.codec.encode(u)[0] for u in units]
        return torch.softmax(logits_of(self.model, seqs, self.device), dim=-1)

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Prediction]:
        """The ``top_k`` most likely labels of each raw text; :class:`InputError` for a text with nothing to read."""
        unit_lists = []
        for i, text in enumerate(texts):
            units = self.codec.units(text)
            if not units:
                what = "characters" if self.level == "char" else "words"
                raise InputError(f"text {i + 1} ({text!r}) is empty: it has no {what} to classify; give some text")
            unit_lists.append(units)
        if not unit_lists:
            return []
        probs = self.predict_units(unit_lists)
        values, indices = probs.topk(min(top_k, len(self.labels)), dim=-1)
        out = []
        for text, units, vs, ix in zip(texts, unit_lists, values.tolist(), indices.tolist(), strict=True):
            unknown = self.codec.encode(units)[1]
            out.append(Prediction(text, [(self.labels[j], v) for j, v in zip(ix, vs, strict=True)], unknown))
        return out


def load_classifier(run_dir: str | os.PathLike[str] | None = None, device: str | torch.device = "auto") -> Classifier:
    """The classifier ``textgen train-classifier`` wrote into ``run_dir``, in eval mode on ``device``."""
    rd = RunDir.of(run_dir)
    rd.require(WEIGHTS)
    path = rd / WEIGHTS
    header = read_header(path)
    try:
        codec = Codec.from_dict(header["codec"])
        shape = Shape.from_dict(header["shape"])
        labels = [str(lab) for lab in header["labels"]]
        if shape.vocab_size != len(codec) or shape.classes != len(labels):
            raise ValueError("its sizes disagree with its vocabulary and labels")
        model = SequenceClassifier(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} has a damaged header ({exc}); rerun `textgen train-classifier`") from exc
    tensors = io.load_tensors(path)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"{path} does not fit the network its header describes; retrain it") from exc
    dev = devices.resolve(device)
    model.to(dev).eval()
    return Classifier(model, codec, labels, header["config"], dev)
