"""Training reads its batches straight from the memory-mapped ids: no copy of the split, same batches as before."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from textgen import io
from textgen.lm import ngram
from textgen.lm.collectives import LOCAL
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.data import ChunkBatcher, EvalRows, RareTokens, batchify, rare_draws
from textgen.lm.evaluate import evaluate_run
from textgen.lm.setup import resolve_config
from textgen.lm.train import Trainer, train_generator
from textgen.rundir import RunDir
from textgen.text.symbols import SPECIALS
from textgen.vocab import Vocab


def tiny(**train: object) -> GeneratorConfig:
    opts: dict[str, object] = dict(
        batch_size=8,
        bptt=16,
        epochs=1,
        eval_every=1000,
        log_every=1,
        threads=1,
        embeddings="none",
        device="cpu",
        seed=5,
    )
    opts.update(train)
    return GeneratorConfig(ModelConfig(emb_dim=8, hidden=12, softmax="full"), TrainConfig(**opts))  # type: ignore[arg-type]


def synthetic_run(run: Path, n_train: int, vocab_size: int = 300, seed: int = 0) -> Path:
    """A run dir as build-vocab writes it, with ``n_train`` random training ids (some singletons)."""
    rng = np.random.default_rng(seed)
    train = rng.integers(3, vocab_size - 20, n_train).astype(np.uint16)
    train[rng.choice(n_train, 20, replace=False)] = np.arange(vocab_size - 20, vocab_size)  # 20 singletons
    counts = np.bincount(train, minlength=vocab_size).tolist()
    counts[: len(SPECIALS)] = [0, 0, 0]
    vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(3, vocab_size)], counts)
    run.mkdir()
    io.write_json(run / "vocab.json", vocab.to_dict())
    io.write_npy(run / "train_ids.npy", train)
    io.write_npy(run / "val_ids.npy", rng.integers(3, vocab_size, 2000).astype(np.uint16))
    io.write_json(run / "corpus.json", {"val_bytes": 9000, "val_oov_rate": 0.0, "train_tokens": n_train})
    return run


def test_the_trainer_holds_a_view_of_the_memory_map(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path / "run", 50_000)
    rd, vocab = RunDir.of(run), Vocab.load(run / "vocab.json")
    trainer = Trainer(rd, resolve_config(tiny(), vocab, rd), vocab, None, LOCAL)
    view = trainer.batcher.data.view
    assert isinstance(view, np.memmap) and Path(view.filename) == run / "train_ids.npy"
    assert view.dtype == np.uint16 and not view.flags.owndata


def test_training_allocates_nothing_of_the_splits_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 2_000_000  # an int64 copy of the split: 16 MB; the old replace_rare + batchify made two
    # the n-gram counts a fixed number of tokens whatever the split's size (at its real cap, all of these)
    monkeypatch.setattr(ngram, "MAX_TOKENS", 2_000)
    run = synthetic_run(tmp_path / "run", n)
    warm = synthetic_run(tmp_path / "warm", 5_000)  # first imports (plots, compile helpers) allocate plenty
    train_generator(warm, tiny(max_steps=3, eval_tokens=500, unk_replace=0.5))
    tracemalloc.start()  # numpy reports its buffers to tracemalloc; the memory map is no allocation
    try:
        result = train_generator(run, tiny(max_steps=3, eval_tokens=500, unk_replace=0.5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.steps == 3
    assert peak < n * 8 / 4, f"{peak / 1e6:.1f} MB traced"


def old_batches(
    ids: np.ndarray,
    counts: list[int],
    streams: int,
    rank: int,
    world: int,
    bptt: int,
    offset: int,
    share: float,
    seed: int,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """What training did before: replace_rare on the whole split, an int64 copy of the rows, slices of it."""
    arr = np.asarray(ids, dtype=np.int64).copy()
    pick = np.random.default_rng(seed).random(len(arr)) < share
    arr[(np.asarray(counts)[arr] == 1) & pick] = 1
    length = len(arr) // (streams * world)
    data = torch.from_numpy(arr[: length * streams * world].reshape(-1, length)[rank * streams : (rank + 1) * streams])
    out = []
    i = offset
    while i < length - 1:
        t = min(bptt, length - 1 - i)
        out.append((data[:, i : i + t], data[:, i + 1 : i + 1 + t]))
        i += bptt
    return out


@pytest.mark.parametrize("world", [1, 2])
def test_batches_are_the_ones_of_replacing_the_whole_split(tmp_path: Path, world: int) -> None:
    run = synthetic_run(tmp_path / "run", 5_003, vocab_size=60)
    ids = io.read_npy(run / "train_ids.npy")
    counts = Vocab.load(run / "vocab.json").counts
    for rank in range(world):
        rare = RareTokens.of(counts, 1, 0.7, seed=11)
        batcher = ChunkBatcher(batchify(ids, 4, rank, world), bptt=7, seed=11, rare=rare)
        for epoch in range(3):
            got = [(x, y) for _, x, y in batcher.iter_epoch(epoch)]
            want = old_batches(ids, counts, 4, rank, world, 7, batcher.offset(epoch), 0.7, 11)
            assert len(got) == len(want) > 80
            assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(got, want, strict=True))
            assert any((x == 1).any() for x, _ in got)  # some singletons did show as <unk>


def test_rare_draws_jump_ahead() -> None:
    whole = np.random.default_rng(3).random(10_000)
    for start, n in ((0, 5), (1, 1), (9_000, 1_000)):
        assert np.array_equal(rare_draws(3, start, n), whole[start : start + n])


@pytest.mark.parametrize("n, streams, world", [(23, 4, 1), (23, 4, 2), (3, 8, 2), (101, 16, 3)])
def test_eval_windows_cover_the_old_layout(n: int, streams: int, world: int) -> None:
    ids = np.arange(10, 10 + n, dtype=np.uint16)
    total = max(1, min(streams, n))
    length = -(-n // total)
    targets = np.full(total * length, -1)
    targets[:n] = ids
    inputs = np.full(total * length, 2)
    inputs[1:n] = ids[: n - 1]
    per = -(-total // world)
    for rank in range(world):
        rows = EvalRows.of(ids, streams, 2, rank, world)
        pieces = [rows.window(i, i + 3) for i in range(0, rows.shape[1], 3)]
        got_in = torch.cat([p[0] for p in pieces], dim=1) if pieces else torch.zeros(rows.shape, dtype=torch.long)
        got_t = torch.cat([p[1] for p in pieces], dim=1) if pieces else torch.zeros(rows.shape, dtype=torch.long)
        lo, hi = rank * per, min(total, (rank + 1) * per)
        assert got_in.tolist() == inputs.reshape(total, length)[lo:hi].tolist()
        assert got_t.tolist() == targets.reshape(total, length)[lo:hi].tolist()


def test_old_int32_id_files_train_and_score_the_same(vocab_run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "int32"
    shutil.copytree(vocab_run_dir, old)
    for name in ("train_ids.npy", "val_ids.npy"):  # what build-vocab wrote for vocabularies over 65,536 entries
        np.save(old / name, np.load(vocab_run_dir / name).astype(np.int32))
    assert io.read_npy(old / "train_ids.npy").dtype == np.int32
    a = train_generator(vocab_run_dir, tiny(max_steps=6, log_every=1, eval_every=3))
    b = train_generator(old, tiny(max_steps=6, log_every=1, eval_every=3))
    losses = [[r.get("loss") for r in io.read_jsonl(run / "metrics.jsonl")] for run in (vocab_run_dir, old)]
    assert losses[0] == losses[1] and a.best_val_bpb == b.best_val_bpb
    assert evaluate_run(old, device="cpu").val_bpb == evaluate_run(vocab_run_dir, device="cpu").val_bpb
