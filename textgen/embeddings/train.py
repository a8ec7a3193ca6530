"""Skip-gram vectors for a run dir: ids in, vectors + report + map out (the ``train-embeddings`` step's work)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgen import device as devices
from textgen import io
from textgen.embeddings.base import ProgressFn, TrainingDivergedError, TrainOutput, trainable_mask
from textgen.embeddings.config import EmbeddingConfig, resolve_backend
from textgen.embeddings.evaluate import evaluate_vectors
from textgen.embeddings.export import Embeddings, save_safetensors, write_word2vec
from textgen.embeddings.plot import plot_map
from textgen.embeddings.query import neighbours_log, probe_words
from textgen.rundir import RunDir
from textgen.vocab import Vocab

OUTPUTS = ("embeddings.safetensors", "vectors.txt", "embeddings.json", "embeddings_map.png")


@dataclass
class EmbeddingResult:
    """What the stage wrote and measured."""

    run_dir: Path
    backend: str
    device: str
    report: dict[str, Any]
    embeddings: Embeddings

    @property
    def outputs(self) -> list[Path]:
        return [self.run_dir / name for name in OUTPUTS]


def train_embeddings(
    run_dir: str | Path,
    config: EmbeddingConfig,
    progress: ProgressFn | None = None,
    evaluate: bool = True,
) -> EmbeddingResult:
    """Learn skip-gram vectors from ``train_ids.npy`` and write them into the run dir.

    Validates everything (config, device, vocabulary) before training; every file is written
    atomically after training, so a failed or interrupted run leaves no partial outputs.
    """
    config.validate()
    device = str(devices.resolve(config.device))
    backend = resolve_backend(config, device)
    rd = RunDir.of(run_dir)
    rd.require("vocab.json", "train_ids.npy")
    rd.ensure_writable()
    vocab = Vocab.load(rd / "vocab.json")
    ids = vocab.read_ids(rd / "train_ids.npy")
    counts = np.asarray(vocab.counts, dtype=np.int64)
    trained = trainable_mask(vocab, config.min_count)
    probes = probe_words(vocab, trained, config.seed)
    log_fn = neighbours_log(vocab, trained, probes)

    t0 = time.perf_counter()
    out: TrainOutput
    if backend == "torch":
        from textgen.embeddings.sgns_torch import train_torch

        out = train_torch(np.asarray(ids), counts, trained, config, device, progress, log_fn)
    else:
        from textgen.embeddings.sgns_gensim import train_gensim

        out = train_gensim(np.asarray(ids), vocab.itos, counts, trained, config, progress, log_fn)
    train_seconds = time.perf_counter() - t0
    if not np.isfinite(out.vectors).all():  # both backends check the loss; this catches the rest
        raise TrainingDivergedError(
            f"training diverged (non-finite vectors); lower --lr (was {config.learning_rate:g}); nothing was written"
        )

    emb = Embeddings(out.vectors, out.trained)
    raw = sum(e.raw_words for e in out.epochs)
    effective = sum(e.effective_words for e in out.epochs)
    epoch_seconds = sum(e.seconds for e in out.epochs)
    report: dict[str, Any] = {
        "backend": backend,
        "device": device,
        "config": config.to_dict(),
        "vocab_size": len(vocab),
        "vocab_sha256": vocab.sha256(),
        "trained_words": int(out.trained.sum()),
        "train_tokens": int(ids.size),
        "fill": "zero rows for <pad>, <unk> and words below min_count (see `trained` in the safetensors file)",
        "seconds": {"train": round(train_seconds, 4), "epochs": round(epoch_seconds, 4)},
        "words_per_s": raw / epoch_seconds if epoch_seconds else 0.0,
        "effective_words_per_s": effective / epoch_seconds if epoch_seconds else 0.0,
        "epochs": [e.to_dict() for e in out.epochs],
        "probe_words": probes,
    }
    if evaluate:
        t1 = time.perf_counter()
        learned = np.flatnonzero(out.trained)
        report["evaluation"] = evaluate_vectors([vocab.itos[i] for i in learned], out.vectors[learned])
        report["seconds"]["evaluate"] = round(time.perf_counter() - t1, 4)

    # vectors.txt first (it rejects tokens with whitespace), embeddings.json last (the stage's marker)
    write_word2vec(rd / "vectors.txt", vocab.itos, emb)
    report["map_words"] = plot_map(rd / "embeddings_map.png", vocab.itos, emb)
    metadata = {"format": "textgen-embeddings", "backend": backend, "vocab_sha256": vocab.sha256(), "dim": config.dim}
    save_safetensors(rd / "embeddings.safetensors", emb, metadata)
    io.write_json(rd / "embeddings.json", report)
    return EmbeddingResult(rd.root, backend, device, report, emb)
