"""Decoding kernels: the fused LSTM step equals the module, bf16/int8 stay within measured bounds,
the prepared-weight cache follows the weights, and bad precision values are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_generate_decode import recorded_logp_errors

import textgen
from textgen.decode.kernels import Affine, check_precision, int8_available, prepared
from textgen.decode.output import log_probs_fn
from textgen.decode.stepper import LSTMStepper
from textgen.errors import UsageError
from textgen.lm.config import ModelConfig
from textgen.lm.model import build_model

needs_int8 = pytest.mark.skipif(not int8_available(), reason="no fbgemm int8 kernels in this torch build")


def _model(layers: int = 2, emb: int = 24, hidden: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=300, emb_dim=emb, hidden=hidden, layers=layers, softmax="adaptive", cutoffs=(100,))
    return build_model(cfg).eval()


@pytest.mark.parametrize(("layers", "emb", "hidden"), [(1, 24, 32), (2, 24, 32), (2, 32, 32)])
def test_fp32_step_equals_the_module_token_by_token(layers: int, emb: int, hidden: int) -> None:
    model = _model(layers, emb, hidden)
    tokens = torch.randint(3, 300, (3, 12))
    with torch.inference_mode():
        full, _ = model(tokens, model.init_state(3))
        stepper = LSTMStepper.of(model, "fp32")
        assert stepper is not None
        stepper.load(model.init_state(3))
        steps = torch.cat([stepper.step(tokens[:, t]) for t in range(tokens.shape[1])], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)


def test_stepper_is_only_for_eval_lstm_models() -> None:
    model = _model()
    assert LSTMStepper.of(model.train(), "fp32") is None
    cfg = ModelConfig(vocab_size=300, emb_dim=24, hidden=32, layers=1, arch="attention", attn_window=4)
    assert LSTMStepper.of(build_model(cfg).eval(), "fp32") is None


@pytest.mark.parametrize("precision", ["fp32", "bf16", pytest.param("int8", marks=needs_int8)])
def test_affine_matches_linear_within_its_precision(precision: str) -> None:
    torch.manual_seed(1)
    w, b, x = torch.randn(700, 64) * 0.1, torch.randn(700) * 0.1, torch.randn(5, 64)
    want = F.linear(x, w, b)
    got = Affine(w, b, precision)(x)  # type: ignore[arg-type]
    assert got.dtype == torch.float32 and got.shape == want.shape
    err = (got - want).abs().max().item() / want.abs().max().item()
    bound = {"fp32": 1e-6, "bf16": 2e-2, "int8": 3e-2}[precision]
    assert err < bound, err


def test_prepared_weights_follow_in_place_updates() -> None:
    model = _model()
    first = prepared(model, "k", lambda: object())
    assert prepared(model, "k", lambda: object()) is first
    with torch.no_grad():
        model.embedding.weight.add_(1.0)
    assert prepared(model, "k", lambda: object()) is not first


@pytest.mark.parametrize(("precision", "mean_bound"), [("bf16", 0.01), pytest.param("int8", 0.015, marks=needs_int8)])
def test_low_precision_probabilities_stay_close_to_the_model(
    lstm_run: Path,
    precision: str,
    mean_bound: float,  # noqa: F811
) -> None:
    """Recorded probabilities vs a full fp32 forward pass over the same tokens: mean |log-ratio| bounded."""
    gen = textgen.load(lstm_run, device="cpu")
    out = gen.generate("maya", length=80, seed=2, num_samples=4, top_p=1.0, precision=precision)  # type: ignore[arg-type]
    err = recorded_logp_errors(gen, out)
    assert err.mean().item() < mean_bound, err.mean().item()
    assert err.max().item() < 10 * mean_bound, err.max().item()
    assert out.settings["precision"] == precision


@pytest.mark.parametrize("precision", ["bf16", pytest.param("int8", marks=needs_int8)])
def test_low_precision_is_seeded_and_never_emits_banned_tokens(lstm_run: Path, precision: str) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    a = gen.generate("gus", length=60, seed=4, num_samples=3, precision=precision)  # type: ignore[arg-type]
    b = gen.generate("gus", length=60, seed=4, num_samples=3, precision=precision)  # type: ignore[arg-type]
    assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
    assert all(t not in (gen.vocab.pad_id, gen.vocab.unk_id) for s in a.samples for t in s.token_ids)


def test_precision_errors_say_what_to_use() -> None:
    with pytest.raises(UsageError, match="auto or one of fp32, bf16, int8"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(UsageError, match="--precision bf16"):
        check_precision("int8", torch.device("cuda"))
    assert check_precision("bf16", torch.device("cpu")) == "bf16"
    assert check_precision("auto", torch.device("cuda")) == "fp32"
    assert check_precision("auto", torch.device("cpu")) == ("int8" if int8_available() else "fp32")


def test_auto_precision_is_int8_on_cpu_and_fp32_for_explain(lstm_run: Path) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    assert gen.generate("gus", length=5).settings["precision"] == ("int8" if int8_available() else "fp32")
    assert gen.generate("gus", length=5, explain=True).settings["precision"] == "fp32"
    assert gen.generate("gus", length=5, explain=True, precision="bf16").settings["precision"] == "bf16"


def test_adaptive_log_probs_in_fp32_equal_the_model() -> None:
    model = _model()
    x = torch.randn(4, 24)
    with torch.inference_mode():
        want = model.log_probs(x.unsqueeze(1))[:, 0]
        got = log_probs_fn(model, "fp32")(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_full_softmax_log_probs_in_fp32_equal_the_model() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=300, emb_dim=24, hidden=32, layers=1, softmax="full")).eval()
    x = torch.randn(4, 24)
    with torch.inference_mode():
        want = model.log_probs(x.unsqueeze(1))[:, 0]
        got = log_probs_fn(model, "fp32")(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_without_int8_kernels_auto_falls_back_and_int8_says_what_to_use(
    lstm_run: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    from textgen.decode import kernels
    from textgen.errors import DeviceError

    monkeypatch.setattr(kernels, "int8_available", lambda: False)
    assert check_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(DeviceError, match="use fp32 or bf16") as info:
        check_precision("int8", torch.device("cpu"))
    assert "\n" not in str(info.value)
    gen = textgen.load(lstm_run, device="cpu")
    assert gen.generate("gus", length=5).settings["precision"] == "fp32"
