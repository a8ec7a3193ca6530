"""Pieces of the embedding stage: the torch update, subsampling, queries, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from textgen.cli import app
from textgen.embeddings import EmbeddingConfig, train_embeddings
from textgen.embeddings import sgns_torch as st
from textgen.embeddings.base import keep_probabilities, noise_distribution
from textgen.errors import UnknownWordError

TINY = dict(dim=8, epochs=2, window=2, negatives=3, min_count=2, batch_size=64, seed=3)


def _reference_loss(w_in, w_out, padded, n, w, cfg, reach, neg_ids):  # noqa: ANN001, ANN202
    offs = torch.tensor([k for k in range(-w, w + 1) if k]).long()
    pos = torch.arange(n).unsqueeze(1) + offs
    mask = ((offs.abs() <= reach) & (pos >= 0) & (pos < n)).float()
    c, o = w_in[padded[w : w + n]], w_out[padded[: n + 2 * w]]
    s = torch.stack([(c * o[w + k : w + k + n]).sum(1) for k in offs.tolist()], 1)
    groups = -(-n // cfg.neg_group)
    cg = F.pad(c, (0, 0, 0, groups * cfg.neg_group - n)).view(groups, cfg.neg_group, -1)
    neg = w_out[neg_ids].view(groups, cfg.neg_pool, -1)
    ns = torch.bmm(cg, neg.transpose(1, 2))
    weight = F.pad(mask.sum(1) * cfg.negatives / cfg.neg_pool, (0, groups * cfg.neg_group - n))
    return (F.softplus(-s) * mask).sum() + (F.softplus(ns) * weight.view(groups, cfg.neg_group, 1)).sum()


def test_manual_update_equals_autograd_sgd_step() -> None:
    cfg = EmbeddingConfig(dim=6, window=2, negatives=5, neg_group=4, neg_pool=8, step_cap=0)
    vocab, n, w, lr = 40, 30, 2, 1e-2
    tables = st._Tables(vocab, cfg, "cpu", torch.Generator().manual_seed(0))
    tables.w_out.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    w_in0, w_out0 = tables.w_in.clone(), tables.w_out.clone()
    body = torch.randint(3, vocab, (n,), generator=torch.Generator().manual_seed(2))
    padded = torch.cat([torch.zeros(w, dtype=torch.long), body, torch.zeros(w, dtype=torch.long)])
    cdf = torch.cumsum(torch.ones(vocab, dtype=torch.float64), 0)
    loss, pairs = st._step(tables, padded, 0, n, n, cfg, cdf, torch.Generator().manual_seed(5), lr)

    gen = torch.Generator().manual_seed(5)  # replay the step's random draws
    reach = torch.randint(1, w + 1, (n, 1), generator=gen)
    neg_ids = st._sample(cdf, -(-n // cfg.neg_group) * cfg.neg_pool, gen)
    w_in, w_out = w_in0.clone().requires_grad_(), w_out0.clone().requires_grad_()
    ref = _reference_loss(w_in, w_out, padded, n, w, cfg, reach, neg_ids)
    ref.backward()
    assert float(loss) == pytest.approx(float(ref.detach()), rel=1e-5)
    torch.testing.assert_close(tables.w_in, w_in0 - lr * w_in.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(tables.w_out, w_out0 - lr * w_out.grad, atol=1e-6, rtol=0)
    assert tables.w_in[0].abs().sum() == w_in0[0].abs().sum()  # padding row untouched
    assert 0 < int(pairs) <= n * 2 * w


def test_subsampling_keeps_rare_words_and_thins_frequent_ones() -> None:
    counts = np.array([0, 0, 5, 100_000, 10, 1])
    trained = np.array([False, False, True, True, True, False])
    keep = keep_probabilities(counts, trained, 1e-3)
    assert keep[[0, 1, 5]].tolist() == [0, 0, 0]
    assert keep[2] == 1.0 and keep[4] == 1.0
    t = 1e-3 * (5 + 100_000 + 10)
    assert keep[3] == pytest.approx((np.sqrt(100_000 / t) + 1) * t / 100_000)
    assert keep_probabilities(counts, trained, 0).tolist() == trained.astype(float).tolist()
    noise = noise_distribution(counts, trained, 0.75)
    assert noise.sum() == pytest.approx(1) and noise[5] == 0
    assert noise[3] / noise[2] == pytest.approx((100_000 / 5) ** 0.75)


def test_sparse_adam_trains(vocab_run_dir: Path) -> None:
    result = train_embeddings(
        vocab_run_dir, EmbeddingConfig(**TINY, backend="torch", optimizer="sparse_adam"), evaluate=False
    )
    losses = [e["loss_per_pair"] for e in result.report["epochs"]]
    assert losses[1] < losses[0]
    assert result.report["config"]["lr"] == 0.001


def test_queries_and_unknown_words(vocab_run_dir: Path) -> None:
    from textgen.embeddings.query import VectorIndex

    train_embeddings(vocab_run_dir, EmbeddingConfig(**TINY, backend="torch"), evaluate=False)
    index = VectorIndex.load(vocab_run_dir)
    word = index.vocab.itos[np.flatnonzero(index.trained)[0]]
    near = index.similar(word, n=4)
    assert len(near) == 4 and word not in [w for w, _ in near]
    assert [s for _, s in near] == sorted((s for _, s in near), reverse=True)
    assert all(index.trained[index.vocab.stoi[w]] for w, _ in near)
    with pytest.raises(UnknownWordError, match="closest"):
        index.similar(word + "x")
    rare = next(i for i in range(3, len(index.vocab)) if not index.trained[i])
    with pytest.raises(UnknownWordError, match="min-count"):
        index.similar(index.vocab.itos[rare])


def test_cli_train_query_evaluate(vocab_run_dir: Path) -> None:
    runner = CliRunner()
    opts = ["--run-dir", str(vocab_run_dir), "--dim", "8", "--epochs", "2", "--min-count", "2", "--backend", "torch"]
    res = runner.invoke(app, ["train-embeddings", *opts])
    assert res.exit_code == 0, res.output
    assert "epoch 2/2: loss/pair" in res.output and "wordsim353" in res.output
    res = runner.invoke(app, ["evaluate-embeddings", "--run-dir", str(vocab_run_dir), "--json"])
    assert res.exit_code == 0 and set(json.loads(res.output)) == {"analogy", "wordsim353", "simlex999"}
    word = json.loads((vocab_run_dir / "embeddings.json").read_text())["probe_words"][0]
    res = runner.invoke(app, ["similar", word, "-n", "3", "--run-dir", str(vocab_run_dir)])
    assert res.exit_code == 0 and len(res.output.strip().splitlines()) == 3
    res = runner.invoke(app, ["analogy", word, word, word, "--run-dir", str(vocab_run_dir)])
    assert res.exit_code == 0


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["train-embeddings", "--dim", "0"], 2, "--dim"),
        (["train-embeddings", "--window", "0"], 2, "--window"),
        (["train-embeddings", "--device", "cuda"], None, "cuda"),
        (["similar", "zzzzqq"], 1, "not in the vocabulary"),
        (["train-embeddings", "--run-dir", "MISSING"], 1, "textgen build-vocab"),
    ],
)
def test_cli_errors_are_one_line(
    vocab_run_dir: Path, tmp_path: Path, args: list[str], code: int | None, text: str
) -> None:
    if "--device" in args and torch.cuda.is_available():
        pytest.skip("checks the no-CUDA error")
    if "MISSING" in args:
        args = [a.replace("MISSING", str(tmp_path / "nothing")) for a in args]
    elif args[0] == "similar":
        train_embeddings(vocab_run_dir, EmbeddingConfig(**TINY, backend="torch"), evaluate=False)
        args = [*args, "--run-dir", str(vocab_run_dir)]
    else:
        args = [*args, "--run-dir", str(vocab_run_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == (code if code is not None else 1)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0]


def _losses(result) -> list[float]:  # noqa: ANN001
    return [e["loss_per_pair"] for e in result.report["epochs"]]


def test_wide_window_high_lr_config_that_used_to_diverge_trains(vocab_run_dir: Path) -> None:
    # with summed batch updates and a use-count cap, this went to 1e8 loss/pair by epoch 5, then NaN
    cfg = EmbeddingConfig(dim=32, epochs=5, window=10, lr=0.2, min_count=2, batch_size=4096, backend="torch")
    result = train_embeddings(vocab_run_dir, cfg, evaluate=False)
    losses = _losses(result)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] < 5
    assert np.isfinite(result.embeddings.vectors).all()
    assert (vocab_run_dir / "embeddings_map.png").is_file()


def test_divergence_is_a_one_line_error_and_writes_nothing(vocab_run_dir: Path) -> None:
    from textgen.embeddings.base import TrainingDivergedError

    cfg = EmbeddingConfig(**{**TINY, "lr": 1e3}, backend="torch", step_cap=0)  # the cap off: plain summed SGD
    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch 1 .*lower --lr") as info:
        train_embeddings(vocab_run_dir, cfg)
    assert "\n" not in str(info.value)
    assert not any(p.name.startswith(("embeddings", "vectors")) for p in vocab_run_dir.iterdir())


def test_cli_divergence_is_one_line(vocab_run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "_step", lambda *a, **k: (torch.tensor(float("nan")), torch.tensor(1.0)))
    res = CliRunner().invoke(
        app,
        ["train-embeddings", "--run-dir", str(vocab_run_dir), "--backend", "torch", "--min-count", "2", "--dim", "8"],
    )
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training diverged at epoch 1"), res.output
    assert not any(p.name.startswith(("embeddings", "vectors")) for p in vocab_run_dir.iterdir())


def test_map_skips_non_finite_rows(tmp_path: Path) -> None:
    from textgen.embeddings.export import Embeddings
    from textgen.embeddings.plot import plot_map

    itos = ["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(20)]
    vectors = np.random.default_rng(0).normal(size=(len(itos), 4)).astype(np.float32)
    vectors[[5, 9]] = np.nan
    trained = np.ones(len(itos), dtype=bool)
    assert plot_map(tmp_path / "a.png", itos, Embeddings(vectors, trained)) == 18
    vectors[:] = np.nan
    assert plot_map(tmp_path / "b.png", itos, Embeddings(vectors, trained)) == 0
    assert not (tmp_path / "b.png").exists()


def test_step_cap_bounds_each_rows_step_for_any_lr() -> None:
    cfg = EmbeddingConfig(dim=6, window=3, negatives=5, neg_group=4, neg_pool=8)
    vocab, n, w = 12, 200, 3  # few rows, each used many times in one step
    body = torch.randint(3, vocab, (n,), generator=torch.Generator().manual_seed(2))
    padded = torch.cat([torch.zeros(w, dtype=torch.long), body, torch.zeros(w, dtype=torch.long)])
    cdf = torch.cumsum(torch.ones(vocab, dtype=torch.float64), 0)
    steps = []
    for lr in (1e-2, 1e6):
        tables = st._Tables(vocab, cfg, "cpu", torch.Generator().manual_seed(0))
        tables.w_out.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
        w_in0 = tables.w_in.clone()
        st._step(tables, padded, 0, n, n, cfg, cdf, torch.Generator().manual_seed(5), lr)
        assert torch.isfinite(tables.w_in).all() and torch.isfinite(tables.w_out).all()
        steps.append(float((tables.w_in - w_in0).norm(dim=1).max()))
    assert steps[1] < 10 * max(steps[0], 1e-3)  # capped: a 1e8x larger lr does not give a 1e8x larger step
