"""Seeding the embedding layer from the run's word vectors (``embeddings.safetensors``).

Rows whose vector is all zeros (words the embeddings stage skipped) are "filled": drawn from a
normal distribution with the per-dimension spread of the real vectors. All rows are then scaled so
the matrix has the standard deviation of our random init (the same matrix is the output layer
when weights are tied). If the vectors are wider than ``--emb-dim`` they are projected onto their
top principal components (PCA); narrower vectors are an error (pass a matching ``--emb-dim``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from textgen import io
from textgen.errors import ArtifactError, MissingArtifactError, UsageError
from textgen.rundir import RunDir
from textgen.vocab import Vocab

TARGET_STD = 0.1


def resolve_path(run_dir: RunDir, spec: str) -> Path | None:
    """``auto`` -> the run's file if present; ``none`` -> random init; else the given path (must exist)."""
    if spec == "none":
        return None
    if spec == "auto":
        path = run_dir / "embeddings.safetensors"
        return path if path.is_file() else None
    path = Path(spec)
    if not path.is_file():
        raise MissingArtifactError(
            f"embeddings file {path} not found; run `textgen train-embeddings` or pass --embeddings none"
        )
    return path


def vector_dim(path: Path) -> int:
    """Width of the stored vectors (reads the file)."""
    return int(_read(path).shape[1])


def _read(path: Path) -> torch.Tensor:
    tensors = io.load_tensors(path)
    if "embeddings" not in tensors or tensors["embeddings"].dim() != 2:
        raise ArtifactError(f"{path} has no [vocab, dim] tensor 'embeddings'; rerun `textgen train-embeddings`")
    return tensors["embeddings"].float()


def _expected_sha(path: Path) -> str | None:
    """The vocabulary fingerprint the vectors were trained on: in their header (older files: embeddings.json)."""
    sha = io.read_metadata(path).get("vocab_sha256")
    if sha:
        return str(sha)
    meta = path.with_name(path.name.replace(".safetensors", ".json"))
    if not meta.is_file():
        return None
    data = io.read_json(meta, "embeddings metadata")
    if not isinstance(data, dict):
        return None
    vocab = data.get("vocab")
    sha = data.get("vocab_sha256") or (vocab.get("sha256") if isinstance(vocab, dict) else None)
    return str(sha) if sha else None


def load_matrix(path: Path, vocab: Vocab, emb_dim: int, seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """An embedding matrix [len(vocab), emb_dim] seeded from ``path``, and a coverage report."""
    vectors = _read(path)
    sha = _expected_sha(path)
    if vectors.shape[0] != len(vocab) or (sha is not None and sha != vocab.sha256()):
        raise ArtifactError(
            f"embeddings {path} ({vectors.shape[0]} rows) were trained on a different vocabulary than this run's "
            f"({len(vocab)} words); rerun `textgen train-embeddings` or pass --embeddings none"
        )
    dim = vectors.shape[1]
    projected = False
    if dim < emb_dim:
        raise UsageError(f"--emb-dim {emb_dim} is wider than the {dim}-d vectors in {path}; pass --emb-dim {dim}")
    covered = vectors.norm(dim=1) > 0
    n_cov = int(covered.sum())
    if n_cov == 0:
        raise ArtifactError(f"embeddings {path} are all zero; rerun `textgen train-embeddings`")
    if dim > emb_dim:  # PCA onto the top emb_dim components of the covered rows
        rows = vectors[covered]
        mean = rows.mean(0, keepdim=True)
        _, _, v = torch.linalg.svd(rows - mean, full_matrices=False)
        vectors = torch.where(covered.unsqueeze(1), (vectors - mean), vectors) @ v[:emb_dim].T
        projected = True
    gen = torch.Generator().manual_seed(seed)
    real = vectors[covered]
    mu, sd = real.mean(0), real.std(0).clamp_min(1e-6) if n_cov > 1 else torch.ones(emb_dim)
    fill = mu + sd * torch.randn(len(vocab), emb_dim, generator=gen)
    matrix = torch.where(covered.unsqueeze(1), vectors, fill)
    scale = TARGET_STD / float(matrix[covered].std().clamp_min(1e-8))
    matrix = (matrix * scale).contiguous()
    info = {
        "source": str(path),
        "vector_dim": dim,
        "emb_dim": emb_dim,
        "projected": "pca" if projected else None,
        "rows_from_vectors": n_cov,
        "rows_filled": len(vocab) - n_cov,
        "fill": "normal with the vectors' per-dimension mean and spread",
        "scale": scale,
    }
    return matrix, info


def describe(info: dict[str, Any]) -> str:
    """One line for the CLI: coverage of the embedding seeding."""
    if not info.get("source"):
        return "embeddings: random init (no embeddings.safetensors; run `textgen train-embeddings` to seed them)"
    total = info["rows_from_vectors"] + info["rows_filled"]
    proj = f", projected {info['vector_dim']}->{info['emb_dim']} by PCA" if info.get("projected") else ""
    return (
        f"embeddings: {info['rows_from_vectors']}/{total} rows from {info['source']}{proj}; "
        f"{info['rows_filled']} filled at random with the vectors' spread"
    )
