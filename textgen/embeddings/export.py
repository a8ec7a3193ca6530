"""Embedding artifacts: ``embeddings.safetensors`` (id order) and word2vec text ``vectors.txt``.

``embeddings.safetensors`` holds ``embeddings`` [vocab_size, dim] float32 in vocabulary-id order
and ``trained`` [vocab_size] uint8. Rows that were not learned (``<pad>``, ``<unk>`` and words
below ``--min-count``) are zero. ``vectors.txt`` lists only learned words, in id order (most
frequent first); any reader realigns by key, never by row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgen import io
from textgen.errors import ArtifactError
from textgen.vocab import Vocab

TENSOR_KEY = "embeddings"
TRAINED_KEY = "trained"


@dataclass
class Embeddings:
    """Vectors in vocabulary-id order plus which rows were learned."""

    vectors: np.ndarray  # [vocab_size, dim] float32
    trained: np.ndarray  # [vocab_size] bool

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def save_safetensors(path: str | os.PathLike[str], emb: Embeddings, metadata: dict[str, Any]) -> None:
    import torch

    tensors = {
        TENSOR_KEY: torch.from_numpy(np.ascontiguousarray(emb.vectors, dtype=np.float32)),
        TRAINED_KEY: torch.from_numpy(emb.trained.astype(np.uint8)),
    }
    io.save_tensors(path, tensors, metadata=metadata)


def load_safetensors(path: str | os.PathLike[str], vocab: Vocab) -> Embeddings:
    """Read ``embeddings.safetensors`` and check it was trained on ``vocab`` (fingerprint and size)."""
    sha = io.read_metadata(path).get("vocab_sha256")
    if sha and sha != vocab.sha256():
        raise ArtifactError(
            f"{path} was trained on another vocabulary (fingerprint {str(sha)[:12]}) than vocab.json "
            f"({vocab.sha256()[:12]}); rerun `textgen train-embeddings --run-dir {Path(path).parent}`"
        )
    tensors = io.load_tensors(path)
    if TENSOR_KEY not in tensors:
        raise ArtifactError(f"{path} has no {TENSOR_KEY!r} tensor; rerun `textgen train-embeddings`")
    vectors = tensors[TENSOR_KEY].float().numpy()
    if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
        raise ArtifactError(
            f"{path} has {vectors.shape[0]} rows but the vocabulary has {len(vocab)}; rerun `textgen train-embeddings`"
        )
    trained_t = tensors.get(TRAINED_KEY)
    trained = trained_t.numpy().astype(bool) if trained_t is not None else np.abs(vectors).sum(1) > 0
    return Embeddings(vectors, trained)


def write_word2vec(path: str | os.PathLike[str], itos: list[str], emb: Embeddings) -> int:
    """Write learned rows in word2vec text format (``count dim`` header); returns the row count."""
    rows = np.flatnonzero(emb.trained)
    lines = [f"{len(rows)} {emb.dim}"]
    for i in rows:
        word = itos[i]
        if not word or any(ch.isspace() for ch in word):
            raise ArtifactError(
                f"token {word!r} (id {i}) contains whitespace; rebuild the vocabulary with `textgen build-vocab`"
            )
        lines.append(word + " " + " ".join(repr(float(x)) for x in emb.vectors[i]))
    io.write_text(path, "\n".join(lines) + "\n")
    return len(rows)
