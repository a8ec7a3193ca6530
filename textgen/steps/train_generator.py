"""Step ``train-generator`` (``textgen train`` is its alias): token ids -> a trained LSTM / attention generator.

Writes checkpoints in place as training goes (each file atomically), so a kill leaves a run that
``--resume`` continues: ``generator.safetensors`` + ``generator.json`` (the best model),
``metrics.jsonl``, ``loss_curve.png`` and ``generator.resume.pt``. With ``nproc_per_node`` > 1 it
launches torchrun on this node (:mod:`textgen.lm.torchrun`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgen import options
from textgen.errors import UsageError
from textgen.lm.config import PRESETS, GeneratorConfig, ModelConfig, TrainConfig
from textgen.options import option, section
from textgen.rundir import GENERATOR_FILES, VOCAB_FILES, RunDir
from textgen.steps.base import Progress, Step, no_progress


@dataclass(frozen=True)
class TrainGeneratorConfig:
    """The network, the training loop, and how many processes train it."""

    model: ModelConfig = section(ModelConfig)
    train: TrainConfig = section(TrainConfig)
    preset: str = option(
        "cpu", "Defaults to start from: cpu (2-core laptop) or gpu (larger model).", choices=tuple(PRESETS)
    )
    nproc_per_node: int = option(
        1, "torchrun processes on this node (DDP); the global batch is batch size x this.", min=1
    )
    resume: bool = option(
        False, "Continue from the run's resume file (its settings unless a flag is given).", tracked=False
    )

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(self.model, self.train)


def _relay(progress: Progress) -> Progress:
    def relay(kind: str, info: dict[str, Any]) -> None:
        if kind == "eval":
            best = " (best)" if info.get("improved") else ""
            info = {**info, "message": f"step {info['step']}: val_bpb {info['val_bpb']:.4f}{best}"}
        elif kind == "start":
            info = {**info, "message": f"training on {info.get('device')}: {info.get('total_steps')} steps planned"}
        progress(kind, info)

    return relay


def run(run_dir: Path, config: TrainGeneratorConfig, progress: Progress = no_progress) -> Any:
    """Train (or resume) the generator in ``run_dir``; returns the :class:`~textgen.lm.train.TrainResult`."""
    from textgen.lm.collectives import from_env, torchrun_env

    env = torchrun_env()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", config.nproc_per_node)) if env is not None else 1
    if env is not None and config.nproc_per_node not in (1, local):
        raise UsageError(f"--nproc-per-node {config.nproc_per_node} under a torchrun of {local} processes; drop it")
    if env is None and config.nproc_per_node > 1:
        from textgen.lm.torchrun import launch

        log = lambda line: progress("log", {"message": line})  # noqa: E731
        result = launch(run_dir, config.generator_config(), config.nproc_per_node, log, resume=config.resume)
    else:
        from textgen.lm.train import train_generator

        dist = from_env(config.train.device)  # under torchrun: join the process group (left at exit)
        result = train_generator(run_dir, config.generator_config(), _relay(progress), resume=config.resume, dist=dist)
    best = "n/a" if result.best_val_bpb is None else f"{result.best_val_bpb:.4f}"
    message = f"stopped: {result.stopped} after {result.steps} steps; best val_bpb {best}"
    progress("done", {"message": message})
    return result


def resume_base(run_dir: str | Path) -> TrainGeneratorConfig:
    """The config of the run's resume file, so a resumed run keeps every setting no flag changes."""
    from textgen.lm.checkpoint import RESUME, load_resume
    from textgen.lm.setup import saved_config

    rd = RunDir.of(run_dir)
    saved = saved_config(load_resume(rd.root), str(rd / RESUME))
    values = {**options.flatten(saved.model), **options.flatten(saved.train)}
    return options.build(TrainGeneratorConfig, {k: v for k, v in values.items() if k != "vocab_size"})


def _optional(config: TrainGeneratorConfig) -> tuple[str, ...]:
    return ("embeddings.safetensors",) if config.train.embeddings == "auto" else ()  # the vectors, not the report


def _vectors_file(config: TrainGeneratorConfig) -> list[Path]:
    spec = config.train.embeddings
    return [Path(spec)] if spec not in ("auto", "none") else []


STEP = Step(
    name="train-generator",
    config=TrainGeneratorConfig,
    run=run,
    help="Train the word-level generator on the run's token ids; keeps the best checkpoint on validation.",
    reads=VOCAB_FILES,
    outputs=lambda config: (*GENERATOR_FILES, "metrics.jsonl"),
    extras=("loss_curve.png", "generator.resume.pt"),
    optional_reads=_optional,
    external_deps=_vectors_file,
    sources=("textgen.steps.train_generator", "textgen.lm"),
    staged=False,
    presets=PRESETS,
    finished=lambda result: not result.interrupted,
)
