"""AWD-LSTM regularisation: weight drop, locked dropout and AR/TAR change training, never eval-mode outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from textgen import options
from textgen.cli import app
from textgen.decode.stepper import LSTMStepper
from textgen.errors import UsageError
from textgen.lm import regularize
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.model import build_model
from textgen.lm.setup import LMStep, contradictions
from textgen.lm.train import train_generator
from textgen.steps.train_generator import TrainGeneratorConfig

V = 60
AWD = {"weight_drop": 0.5, "locked_dropout": True, "dropout": 0.3}


def tiny(**kw: Any) -> ModelConfig:
    base: dict[str, Any] = dict(vocab_size=V, emb_dim=8, hidden=12, layers=2, cutoffs=(10, 30), weight_drop=0.0)
    base.update(kw)
    return ModelConfig(**base)


def pair(**kw: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A plain model and a regularised one (``kw``) with the same weights."""
    torch.manual_seed(0)
    plain = build_model(tiny(arch=kw.get("arch", "lstm")))
    awd = build_model(tiny(**kw))
    awd.load_state_dict(plain.state_dict())
    return plain, awd


@pytest.mark.parametrize("arch", ["lstm", "attention"])
def test_eval_mode_outputs_equal_the_plain_model(arch: str) -> None:
    plain, awd = pair(arch=arch, **AWD)
    tokens = torch.randint(0, V, (3, 9))
    plain.eval(), awd.eval()
    with torch.no_grad():
        a, state_a = plain(tokens)
        b, state_b = awd(tokens)
    assert torch.equal(a, b) and all(torch.equal(x, y) for x, y in zip(state_a, state_b, strict=True))


def test_training_mode_differs_with_each_option() -> None:
    tokens = torch.randint(0, V, (3, 9))
    for kw in ({"weight_drop": 0.5}, {"locked_dropout": True, "dropout": 0.5}):
        plain, awd = pair(**kw)
        plain.train(), awd.train()
        torch.manual_seed(1)
        a, _ = plain(tokens)
        torch.manual_seed(1)
        b, _ = awd(tokens)
        assert not torch.allclose(a, b), kw


def test_layerwise_path_without_drops_is_the_lstm() -> None:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 12, 3, batch_first=True)
    x = torch.randn(2, 7, 8)
    state = (torch.randn(3, 2, 12), torch.randn(3, 2, 12))
    want, (h, c) = lstm(x, state)
    got, (h2, c2) = regularize.lstm_layerwise(lstm, x, state, 0.0, locked=True)  # lstm.dropout is 0
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(h2, h)
    torch.testing.assert_close(c2, c)


def test_weight_drop_masks_hidden_to_hidden_gradients() -> None:
    """A dropped W_hh entry takes no part in the forward pass, so its gradient is exactly zero."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 6, 1, batch_first=True)
    x = torch.randn(2, 5, 4)
    zeros = (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6))
    out, _ = regularize.lstm_layerwise(lstm, x, zeros, 0.5, locked=False)
    out.sum().backward()
    grad = lstm.weight_hh_l0.grad
    assert grad is not None
    share = float((grad == 0).float().mean())
    assert 0.3 < share < 0.7  # about half the entries dropped
    assert lstm.weight_ih_l0.grad is not None and float((lstm.weight_ih_l0.grad == 0).float().mean()) < 0.1


def test_locked_dropout_shares_one_mask_across_time() -> None:
    x = torch.ones(4, 11, 32)
    y = regularize.dropout(x, 0.5, locked=True, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert set(y.unique().tolist()) <= {0.0, 2.0} and 0.2 < float((y == 0).float().mean()) < 0.8
    free = regularize.dropout(x, 0.5, locked=False, training=True)
    assert not torch.equal(free, free[:, :1].expand_as(free))
    assert torch.equal(regularize.dropout(x, 0.5, locked=True, training=False), x)


def test_ar_tar_add_to_the_objective_not_to_the_logged_loss() -> None:
    torch.manual_seed(0)
    model = build_model(tiny())
    model.eval()  # no dropout: the same forward for both steps
    x, y = torch.randint(0, V, (2, 6)), torch.randint(0, V, (2, 6))
    state = model.init_state(2)
    objective, loss, _ = LMStep(model)(x, y, state)
    assert torch.equal(objective, loss)
    objective2, loss2, _ = LMStep(model, ar=2.0, tar=1.0)(x, y, state)
    _, _, _, raw, dropped = model.run(x, state)
    want = 2.0 * dropped.pow(2).mean() + 1.0 * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
    torch.testing.assert_close(objective2 - loss2, want)
    assert torch.equal(loss2, loss)


def test_each_option_changes_training_and_decoding_still_equals_the_model(vocab_run_dir: Path) -> None:
    def train(model: dict[str, Any], **extra: Any) -> dict[str, torch.Tensor]:
        from textgen.lm.checkpoint import load_generator

        cfg = GeneratorConfig(
            ModelConfig(emb_dim=16, hidden=24, layers=2, dropout=0.3, **model),
            TrainConfig(batch_size=4, bptt=16, max_steps=8, eval_every=8, embeddings="none", threads=1, **extra),
        )
        train_generator(vocab_run_dir, cfg)
        loaded, config, _ = load_generator(vocab_run_dir)
        assert all(getattr(config.model, k) == v for k, v in model.items())  # recorded with the weights
        assert all(getattr(config.train, k) == v for k, v in extra.items())
        stepper = LSTMStepper.of(loaded, "fp32")
        assert stepper is not None
        ids = torch.tensor([3, 7, 5, 9, 4])
        with torch.no_grad():
            full, state = loaded(ids.unsqueeze(0)[:, :1])
            stepper.load(state)
            steps = [full[:, -1]]
            for t in ids[1:]:
                steps.append(stepper.step(t.view(1))[:, -1])
            whole, _ = loaded(ids.unsqueeze(0))
        torch.testing.assert_close(torch.cat(steps), whole[0], atol=1e-5, rtol=1e-5)
        return {k: v.clone() for k, v in loaded.state_dict().items()}

    base = train({})
    for model, extra in (({"weight_drop": 0.5}, {}), ({"locked_dropout": True}, {}), ({}, {"ar": 2.0, "tar": 1.0})):
        other = train(model, **extra)
        assert any(not torch.equal(base[k], other[k]) for k in base), (model, extra)


def test_bad_values_and_resume_contradictions(vocab_run_dir: Path) -> None:
    with pytest.raises(UsageError, match=r"--weight-drop must be in \[0, 1\)"):
        GeneratorConfig(tiny(weight_drop=1.0)).validate()
    with pytest.raises(UsageError, match="--ar must be at least 0"):
        GeneratorConfig(tiny(), TrainConfig(ar=-1.0)).validate()
    saved = GeneratorConfig(tiny(weight_drop=0.3))
    found = contradictions(saved, replace(saved, model=replace(saved.model, weight_drop=0.0)))
    assert [p.field for p in found] == ["weight_drop"]
    found = contradictions(saved, replace(saved, train=replace(saved.train, tar=1.0)))
    assert [p.field for p in found] == ["tar"]
    res = CliRunner().invoke(app, ["train", "--run-dir", str(vocab_run_dir), "--weight-drop", "1.5", "--tar", "-1"])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--weight-drop" in lines[0] and "--tar" in lines[0]
    assert {"weight_drop", "locked_dropout", "ar", "tar"} <= set(options.params(TrainGeneratorConfig))


@pytest.mark.gpu
def test_weight_drop_trains_on_cuda_and_eval_matches_cpu() -> None:
    torch.manual_seed(0)
    model = build_model(tiny(**AWD)).cuda()
    model.lstm.flatten_parameters()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randint(0, V, (4, 12), device="cuda")
    for _ in range(3):
        model.train()
        objective, _, _ = LMStep(model, ar=1.0, tar=1.0)(x, x, model.init_state(4, "cuda"))
        opt.zero_grad()
        objective.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        gpu, _ = model(x)
        cpu_model = build_model(tiny(**AWD))
        cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
        cpu, _ = cpu_model.eval()(x.cpu())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
