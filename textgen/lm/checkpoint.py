"""Checkpoints: ``generator.safetensors`` + ``generator.json`` (the model) and a resume file.

The model files are what generation loads; every write is atomic, so a killed run leaves the
previous checkpoint intact. The resume file (``generator.resume.pt``: optimizer, scheduler, RNG
states, data position, carried hidden state, last weights) is written and read only by us, with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from textgen import io
from textgen.errors import ArtifactError, MissingArtifactError
from textgen.lm.config import GeneratorConfig
from textgen.lm.model import build_model
from textgen.rundir import RunDir
from textgen.vocab import Vocab

WEIGHTS = "generator.safetensors"
CONFIG = "generator.json"
RESUME = "generator.resume.pt"


def versions() -> dict[str, str]:
    """Package versions recorded with every checkpoint."""
    import numpy
    import safetensors

    import textgen

    return {
        "textgen": textgen.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def save_generator(run_dir: str | os.PathLike[str], model: nn.Module, config: GeneratorConfig) -> None:
    """Write the weights, then the config that describes them (each atomically)."""
    rd = RunDir.of(run_dir)
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    meta = {"vocab_sha256": config.vocab_sha256, "arch": config.model.arch, "step": str(config.metrics.get("step", 0))}
    io.save_tensors(rd / WEIGHTS, state, metadata=meta)
    io.write_json(rd / CONFIG, config.to_dict())


def read_config(run_dir: str | os.PathLike[str]) -> GeneratorConfig:
    """The :class:`GeneratorConfig` of a trained run (no weights loaded)."""
    rd = RunDir.of(run_dir)
    rd.require(CONFIG, WEIGHTS)
    data = io.read_json(rd / CONFIG, "generator config")
    try:
        return GeneratorConfig.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{rd / CONFIG} is not a textgen generator config ({exc}); retrain with `textgen train`"
        ) from exc


def load_generator(
    run_dir: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[Any, GeneratorConfig, Vocab]:
    """Rebuild the trained model in eval mode, with its config and the run's vocabulary (sha256-checked)."""
    rd = RunDir.of(run_dir)
    rd.require("vocab.json")
    config = read_config(rd.root)
    vocab = Vocab.load(rd / "vocab.json")
    if config.vocab_sha256 and config.vocab_sha256 != vocab.sha256():
        raise ArtifactError(
            f"{rd / WEIGHTS} was trained on a different vocabulary than {rd / 'vocab.json'}; "
            f"retrain with `textgen train --run-dir {rd.root}`"
        )
    if config.model.vocab_size != len(vocab):
        raise ArtifactError(
            f"generator has {config.model.vocab_size} words but the vocabulary has {len(vocab)}; "
            f"retrain with `textgen train --run-dir {rd.root}`"
        )
    model = build_model(config.model)
    load_weights(model, rd / WEIGHTS)
    model.to(device).eval()
    model.lstm.flatten_parameters()
    return model, config, vocab


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``model``; a shape or key mismatch is an :class:`ArtifactError`."""
    tensors = io.load_tensors(path)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ArtifactError(
            f"{path} does not fit the model in generator.json ({first[-1].strip() if first else exc}); retrain"
        ) from exc


def save_resume(run_dir: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Atomically write the resume file (tensors, numbers, strings, lists and dicts only)."""
    with io.atomic_path(RunDir.of(run_dir) / RESUME) as tmp:
        torch.save(payload, tmp)


def load_resume(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read our resume file with ``weights_only=True``; a corrupt file is an :class:`ArtifactError`."""
    path = RunDir.of(run_dir) / RESUME
    if not path.is_file():
        raise MissingArtifactError(f"{path} not found; train without --resume to start a new run")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ArtifactError(
            f"resume file {path} is corrupt or truncated ({type(exc).__name__}); delete it and train without --resume"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format_version") != 1:
        raise ArtifactError(f"{path} is not a textgen resume file; delete it and train without --resume")
    return payload
