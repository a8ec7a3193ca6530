"""Checkpoints: ``generator.safetensors`` (the model, one atomic file) and a resume file.

``generator.safetensors`` holds the weights and, in its header, everything needed to rebuild and
trust them: the :class:`GeneratorConfig`, the vocabulary fingerprint and which run and step they
come from. One rename writes it, so weights and config can never come apart; it loads whole or is
refused. ``generator.json`` is a readable copy of that config plus the training summary: loading
never reads it (older run dirs, whose header has no config, are read from it and still load).

The resume file (``generator.resume.pt``: optimizer, scheduler, RNG states, data position, carried
hidden state, last weights, the run's log records) is written and read only by us, with
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
from textgen.lm import ngram
from textgen.lm.config import GeneratorConfig
from textgen.lm.model import build_model
from textgen.rundir import RunDir
from textgen.vocab import Vocab

WEIGHTS = "generator.safetensors"
CONFIG = "generator.json"
RESUME = "generator.resume.pt"
FORMAT = "textgen-generator"


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


def save_generator(
    run_dir: str | os.PathLike[str], model: nn.Module, config: GeneratorConfig, run_id: str = ""
) -> None:
    """Write the model as one file (weights + config), then its readable copy ``generator.json``."""
    rd = RunDir.of(run_dir)
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    ngram = getattr(model, "ngram", None)
    if ngram is not None:
        state |= ngram.tensors()
    meta = {
        "format": FORMAT,
        "config": config.to_dict(),
        "vocab_sha256": config.vocab_sha256,
        "run": run_id,
        "step": int(config.metrics.get("step", 0)),
    }
    io.save_tensors(rd / WEIGHTS, state, metadata=meta)
    io.write_json(rd / CONFIG, config.to_dict())


def header(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of the run's ``generator.safetensors`` (reads only the header)."""
    rd = RunDir.of(run_dir)
    rd.require(WEIGHTS)
    return io.read_metadata(rd / WEIGHTS)


def _config_from(data: Any, where: Path, rd: RunDir) -> GeneratorConfig:
    try:
        return GeneratorConfig.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{where} holds no usable generator config ({exc}); "
            f"retrain with `textgen train-generator --run-dir {rd.root}`"
        ) from exc


def read_config(run_dir: str | os.PathLike[str]) -> GeneratorConfig:
    """The :class:`GeneratorConfig` of a trained run, from the weights' own header (no weights loaded)."""
    rd = RunDir.of(run_dir)
    meta = header(rd.root)
    if meta.get("format") == FORMAT:
        return _config_from(meta.get("config"), rd / WEIGHTS, rd)
    # written before the config moved into the header: generator.json describes the weights
    rd.require(CONFIG)
    config = _config_from(io.read_json(rd / CONFIG, "generator config"), rd / CONFIG, rd)
    if meta.get("vocab_sha256") and meta["vocab_sha256"] != config.vocab_sha256:
        raise ArtifactError(
            f"{rd / CONFIG} does not describe {rd / WEIGHTS} (different vocabulary fingerprints); "
            f"retrain with `textgen train-generator --run-dir {rd.root}`"
        )
    return config


def check_vocab(expected: str, vocab: Vocab, what: Path, fix: str) -> None:
    """Refuse weights or vectors made for another vocabulary: the error names both fingerprints and the fix."""
    actual = vocab.sha256()
    if expected and expected != actual:
        raise ArtifactError(
            f"{what} was trained on another vocabulary (fingerprint {expected[:12]}) than vocab.json "
            f"({actual[:12]}); {fix}"
        )


def load_generator(
    run_dir: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[Any, GeneratorConfig, Vocab]:
    """Rebuild the trained model in eval mode, with its config and the run's vocabulary (fingerprint-checked)."""
    rd = RunDir.of(run_dir)
    rd.require("vocab.json", WEIGHTS)
    config = read_config(rd.root)
    vocab = Vocab.load(rd / "vocab.json")
    fix = f"use the vocab.json it was trained with, or retrain with `textgen train-generator --run-dir {rd.root}`"
    check_vocab(config.vocab_sha256, vocab, rd / WEIGHTS, fix)
    if config.model.vocab_size != len(vocab):
        raise ArtifactError(f"generator has {config.model.vocab_size} words but the vocabulary has {len(vocab)}; {fix}")
    model = build_model(config.model)
    load_weights(model, rd / WEIGHTS, vocab.eos_id)
    model.to(device).eval()
    model.lstm.flatten_parameters()
    return model, config, vocab


def load_weights(model: nn.Module, path: Path, bos: int) -> None:
    """Load safetensors weights (and the n-gram tables the config asks for) into ``model``; a shape or key
    mismatch is an :class:`ArtifactError`."""
    tensors = io.load_tensors(path)
    tables = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(ngram.PREFIX)]}
    cfg = model.cfg
    if cfg.ngram_order > 0:
        model.ngram = ngram.Ngram.from_tensors(tables, cfg.ngram_order, cfg.vocab_size, bos, str(path))
    elif tables:
        raise ArtifactError(f"{path} holds n-gram tables its config does not use (ngram_order 0); retrain")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ArtifactError(
            f"{path} does not fit the model its config describes ({first[-1].strip() if first else exc}); retrain"
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
    if not isinstance(payload, dict) or payload.get("format_version") not in (1, 2):
        raise ArtifactError(f"{path} is not a textgen resume file; delete it and train without --resume")
    return payload
