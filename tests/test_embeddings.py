"""train-embeddings end to end on the fixture run dir: both backends, artifacts, determinism, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from textgen import io
from textgen.embeddings import EmbeddingConfig, train_embeddings
from textgen.embeddings.export import load_safetensors
from textgen.errors import DeviceError, MissingArtifactError, UsageError, VocabularyError
from textgen.vocab import Vocab

TINY = dict(dim=8, epochs=2, window=2, negatives=3, min_count=2, batch_size=64, seed=3)


def _outputs(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith(("embeddings", "vectors")))


@pytest.mark.parametrize("backend", ["torch", "gensim"])
def test_end_to_end_writes_aligned_artifacts(vocab_run_dir: Path, backend: str) -> None:
    events = []
    result = train_embeddings(
        vocab_run_dir, EmbeddingConfig(**TINY, backend=backend, workers=1), progress=events.append
    )
    vocab = Vocab.load(vocab_run_dir / "vocab.json")
    assert _outputs(vocab_run_dir) == ["embeddings.json", "embeddings.safetensors", "embeddings_map.png", "vectors.txt"]

    emb = load_safetensors(vocab_run_dir / "embeddings.safetensors", vocab)
    assert emb.vectors.shape == (len(vocab), 8)
    counts = np.asarray(vocab.counts)
    expected = counts >= 2
    expected[[vocab.pad_id, vocab.unk_id]] = False
    assert np.array_equal(emb.trained, expected)
    assert not emb.vectors[~emb.trained].any()  # documented fill: zero rows
    assert np.all(np.linalg.norm(emb.vectors[emb.trained], axis=1) > 0)

    # word2vec text that gensim reads, realigned by key
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(vocab_run_dir / "vectors.txt"), binary=False)
    assert sorted(vocab.stoi[w] for w in kv.index_to_key) == np.flatnonzero(emb.trained).tolist()
    for word in kv.index_to_key:
        np.testing.assert_allclose(kv[word], emb.vectors[vocab.stoi[word]], rtol=0, atol=1e-6)

    report = json.loads((vocab_run_dir / "embeddings.json").read_text())
    assert report["backend"] == backend == result.backend
    assert report["config"]["dim"] == 8 and report["trained_words"] == int(expected.sum())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert all(e["loss_per_pair"] > 0 and e["effective_words"] <= e["raw_words"] for e in report["epochs"])
    assert set(report["evaluation"]) == {"analogy", "wordsim353", "simlex999"}
    assert 0 <= report["evaluation"]["analogy"]["oov_rate"] <= 1
    epoch_events = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epoch_events] == [1, 2] and epoch_events[-1].neighbours
    assert set(epoch_events[-1].neighbours) == set(report["probe_words"])


def test_torch_seed_is_bit_identical(vocab_run_dir: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(vocab_run_dir, other)
    a = train_embeddings(vocab_run_dir, EmbeddingConfig(**TINY, backend="torch"), evaluate=False)
    b = train_embeddings(other, EmbeddingConfig(**TINY, backend="torch"), evaluate=False)
    assert np.array_equal(a.embeddings.vectors, b.embeddings.vectors)
    assert (vocab_run_dir / "vectors.txt").read_bytes() == (other / "vectors.txt").read_bytes()
    c = train_embeddings(other, EmbeddingConfig(**{**TINY, "seed": 4}, backend="torch"), evaluate=False)
    assert not np.array_equal(a.embeddings.vectors, c.embeddings.vectors)


def test_gensim_one_worker_is_reproducible(vocab_run_dir: Path) -> None:
    cfg = EmbeddingConfig(**TINY, backend="gensim", workers=1)
    a = train_embeddings(vocab_run_dir, cfg, evaluate=False).embeddings.vectors
    b = train_embeddings(vocab_run_dir, cfg, evaluate=False).embeddings.vectors
    assert np.array_equal(a, b)


def _synthetic_run(run_dir: Path, seed: int = 0) -> Vocab:
    """Two topics that never share a window: words a0..a7 and b0..b7, sentences separated by fillers."""
    rng = np.random.default_rng(seed)
    tokens: list[str] = []
    for _ in range(1500):
        topic = "ab"[rng.integers(2)]
        tokens += [f"{topic}{i}" for i in rng.integers(0, 8, size=6)] + ["x0", "x1", "x2", "x3", "x4", "x5"]
    vocab = Vocab.build(Counter(tokens))
    vocab.save(run_dir / "vocab.json")
    io.write_npy(run_dir / "train_ids.npy", vocab.encode(tokens))
    return vocab


@pytest.mark.parametrize("backend", ["torch", "gensim"])
def test_learns_cooccurrence_structure(tmp_path: Path, backend: str) -> None:
    from textgen.embeddings.query import VectorIndex

    _synthetic_run(tmp_path)
    cfg = EmbeddingConfig(dim=16, epochs=3, window=3, min_count=1, sample=0, batch_size=256, backend=backend, workers=1)
    train_embeddings(tmp_path, cfg, evaluate=False)
    index = VectorIndex.load(tmp_path)
    for word in ("a0", "b3"):
        near = [w for w, _ in index.similar(word, n=5)]
        assert all(w[0] == word[0] for w in near), (word, near)


def test_missing_vocab_names_build_vocab(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError, match="textgen build-vocab"):
        train_embeddings(tmp_path, EmbeddingConfig(**TINY))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dim", 0, "--dim"),
        ("window", 0, "--window"),
        ("negatives", 0, "--negatives"),
        ("epochs", 0, "--epochs"),
        ("sample", 1.5, "--sample"),
        ("backend", "word2vec", "--backend"),
        ("lr", -1.0, "--lr"),
    ],
)
def test_nonsense_hyperparameters_are_usage_errors(
    vocab_run_dir: Path, field: str, value: object, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        train_embeddings(vocab_run_dir, EmbeddingConfig(**{**TINY, field: value}))
    assert _outputs(vocab_run_dir) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_device_error(vocab_run_dir: Path) -> None:
    with pytest.raises(DeviceError, match="--device cpu"):
        train_embeddings(vocab_run_dir, EmbeddingConfig(**TINY, device="cuda"))


def test_one_word_vocabulary_is_refused_without_outputs(tmp_path: Path) -> None:
    vocab = Vocab.build(Counter({"hello": 10}))
    vocab.save(tmp_path / "vocab.json")
    io.write_npy(tmp_path / "train_ids.npy", vocab.encode(["hello"] * 10))
    with pytest.raises(VocabularyError, match="lower --min-count"):
        train_embeddings(tmp_path, EmbeddingConfig(**{**TINY, "min_count": 1}))
    assert _outputs(tmp_path) == []


def test_min_count_above_every_word_is_refused(vocab_run_dir: Path) -> None:
    with pytest.raises(VocabularyError, match="min-count"):
        train_embeddings(vocab_run_dir, EmbeddingConfig(**{**TINY, "min_count": 10**9}))
    assert _outputs(vocab_run_dir) == []
