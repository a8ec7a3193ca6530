"""Dynamic evaluation's step scale measured on the training text (Krause et al. 2018): what it measures,
the exact update it gives, that it reads no validation token, and `textgen evaluate --dynamic` without it."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import trained_run
from test_adapt import settings
from typer.testing import CliRunner

from textgen import io
from textgen.cli import app
from textgen.lm.adapt import adapted_log_probs
from textgen.lm.checkpoint import load_generator
from textgen.lm.dynamic import DynamicStep, adapted_parameters, stream_pass, stream_rows, training_mean_square

runner = CliRunner()
CPU = torch.device("cpu")


def network(run: Path | None = None) -> tuple[Any, np.ndarray, np.ndarray, int]:
    """The tiny LSTM without its n-gram (the steps train the network), its train and validation ids, <eos>."""
    run = run or trained_run("lstm")
    model, _, vocab = load_generator(run)
    model.ngram = None
    train = np.asarray(io.read_npy(run / "train_ids.npy"))
    val = np.asarray(io.read_npy(run / "val_ids.npy"))
    return model, train, val, vocab.eos_id


def segment_grads(model: Any, ids: np.ndarray, bos: int, segment: int) -> list[list[torch.Tensor]]:
    """Each segment's gradient of its mean NLL, the state carried and cut between segments (eval mode)."""
    model.eval()
    params = adapted_parameters(model)
    x, y = stream_rows(ids, bos)
    state, out = model.init_state(1, CPU), []
    for a in range(0, len(ids), segment):
        state = tuple(s.detach() for s in state)
        hidden, state = model(x[:, a : a + segment], state)
        nll = model.token_nll(hidden, y[:, a : a + segment]).mean()
        out.append([g.detach() for g in torch.autograd.grad(nll, params)])
    return out


def test_the_mean_square_is_each_weights_mean_squared_gradient_over_training_segments() -> None:
    model, train, _, bos = network()
    grads = segment_grads(model, train[:15], bos, 5)
    expected = [sum(g[k] ** 2 for g in grads) / 3 for k in range(len(grads[0]))]
    model.train()
    ms = training_mean_square(model, train, bos, 5, CPU, segments=3)
    assert model.training  # its mode is put back (it measures in eval mode: no dropout)
    assert len(ms) == len(adapted_parameters(model))
    for got, want in zip(ms, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-12)
    assert any(float(m.max()) > 0 for m in ms)


def test_the_mean_square_reads_only_the_training_text() -> None:
    model, train, val, bos = network()
    before = training_mean_square(model, train, bos, 7, CPU, segments=4)
    again = training_mean_square(model, train[:28].copy(), bos, 7, CPU, segments=4)  # only its first 4 x 7 ids
    assert all(torch.equal(a, b) for a, b in zip(before, again, strict=True))
    other = training_mean_square(model, val, bos, 7, CPU, segments=4)
    assert not all(torch.equal(a, b) for a, b in zip(before, other, strict=True))


def test_each_step_is_lr_times_the_gradient_over_the_training_rms() -> None:
    model, train, val, bos = network()
    segment, lr = 6, 0.01
    ms = list(training_mean_square(model, train, bos, segment, CPU, segments=5))
    ms[0] = torch.zeros_like(ms[0])  # a weight the training segments never moved
    ids = val[:24]
    got, _ = stream_pass(model, ids, bos, CPU, DynamicStep(lr=lr, segment=segment, mean_square=tuple(ms)))

    # by hand: score a segment, then p -= lr * g / (sqrt(MS) + 1e-8), MS fixed but for the zeros
    ref = copy.deepcopy(model).eval()
    params = adapted_parameters(ref)
    scale = [m.clone() for m in ms]
    x, y = stream_rows(ids, bos)
    state, want = ref.init_state(1, CPU), []
    for a in range(0, len(ids), segment):
        state = tuple(s.detach() for s in state)
        hidden, state = ref(x[:, a : a + segment], state)
        nll = ref.token_nll(hidden, y[:, a : a + segment])
        want.append(-nll.detach().double())
        grads = torch.autograd.grad(nll.mean(), params)
        with torch.no_grad():
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                scale[k] = torch.where(scale[k] > 0, scale[k], g * g)
                p -= lr * g / (scale[k].sqrt() + 1e-8)
    torch.testing.assert_close(got, torch.cat(want), rtol=0, atol=1e-5)
    assert bool(torch.isfinite(got).all())
    static, _ = stream_pass(model, ids, bos, CPU)
    assert float((got[segment:] - static[segment:]).abs().max()) > 1e-3  # the steps moved the later scores


@pytest.mark.parametrize("k", [0, 20, 59])
def test_with_the_training_mean_square_a_later_token_never_changes_an_earlier_probability(k: int) -> None:
    model, train, val, bos = network()
    cfg = settings(True, True)
    ms = training_mean_square(model, train, bos, cfg.dynamic_eval.dynamic_segment, CPU)
    ids = val[:60].copy()
    before, _ = adapted_log_probs(model, ids, bos, cfg, CPU, ms)
    changed = ids.copy()
    changed[k] = (ids[k] + 5) % model.cfg.vocab_size
    after, _ = adapted_log_probs(model, changed, bos, cfg, CPU, ms)
    assert torch.equal(after[:k], before[:k])
    if k + 1 < len(ids):
        assert not torch.equal(after[k + 1 :], before[k + 1 :])


def test_evaluate_dynamic_uses_the_training_text_and_says_what_makes_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run("lstm"), run)
    args = ["evaluate", "--run-dir", str(run), "--dynamic", "--dynamic-lr", "0.001", "--json", "--device", "cpu"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (run / "train_ids.npy").unlink()
    res = runner.invoke(app, ["evaluate", "--run-dir", str(run), "--cache", "--cache-theta", "8", "--device", "cpu"])
    assert res.exit_code == 0, res.output  # the cache alone does not need the training split
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert "train_ids.npy not found; run `textgen build-vocab" in res.stderr
