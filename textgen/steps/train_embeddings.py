"""Step ``train-embeddings``: the run's training ids -> skip-gram word vectors.

Writes ``embeddings.safetensors`` (id order), ``embeddings.json`` (report and scores),
``vectors.txt`` (word2vec text) and the map ``embeddings_map.png``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from textgen.embeddings.config import EmbeddingConfig
from textgen.options import option, section
from textgen.rundir import EMBEDDING_FILES
from textgen.steps.base import Progress, Step, no_progress


@dataclass(frozen=True)
class TrainEmbeddingsConfig:
    """The skip-gram settings, and whether to score the vectors on the standard benchmarks."""

    sgns: EmbeddingConfig = section(EmbeddingConfig)
    evaluate: bool = option(True, "Score analogies and word pairs into embeddings.json.")


def run(run_dir: Path, config: TrainEmbeddingsConfig, progress: Progress = no_progress) -> Any:
    """Train the vectors and write them into ``run_dir``; returns the :class:`EmbeddingResult`."""
    from textgen.embeddings import train_embeddings

    def relay(event: Any) -> None:
        info = asdict(event)
        if event.kind == "epoch":
            loss = f", loss/pair {event.loss:.4f}" if event.loss is not None else ""
            info["message"] = f"epoch {event.epoch}/{event.epochs}{loss}, {event.words_per_s:,.0f} words/s"
        progress(event.kind, info)

    return train_embeddings(run_dir, config.sgns, progress=relay, evaluate=config.evaluate)


STEP = Step(
    name="train-embeddings",
    config=TrainEmbeddingsConfig,
    run=run,
    help="Learn skip-gram word vectors from the run's token ids.",
    reads=("vocab.json", "train_ids.npy"),
    outputs=lambda config: EMBEDDING_FILES,
    extras=("embeddings_map.png",),
    sources=("textgen.steps.train_embeddings", "textgen.embeddings"),
)
