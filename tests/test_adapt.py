"""Adapted evaluation: the neural cache and dynamic evaluation are causal, exact where they should be,
tuned on the first half, reported by halves; `textgen evaluate` and `generate --cache` options and bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import trained_run, vocab_run
from typer.testing import CliRunner

from textgen import io, options
from textgen.cli import app
from textgen.decode.loop import DecodeOptions, decode
from textgen.decode.sampling import Sampler, SamplingSettings
from textgen.errors import UsageError
from textgen.lm.adapt import LRS, _search, adapted_log_probs, evaluate_model, half_figures, tune
from textgen.lm.adapt_settings import CacheSettings, DynamicSettings, EvaluateConfig
from textgen.lm.cache import StreamCache, cache_log_probs, mix
from textgen.lm.checkpoint import load_generator
from textgen.lm.dynamic import DynamicStep, adapted_parameters, stream_pass
from textgen.lm.evaluate import bits_per_byte, score

runner = CliRunner()
CPU = torch.device("cpu")


def settings(cache: bool = True, dynamic: bool = True, **kw: Any) -> EvaluateConfig:
    values: dict[str, Any] = {"cache": cache, "dynamic": dynamic, "device": "cpu"}
    if cache:
        values |= {"cache_size": 50, "cache_theta": 5.0, "cache_lambda": 0.2}
    if dynamic:
        values |= {"dynamic_lr": 0.003, "dynamic_segment": 7}
    return options.validated(options.build(EvaluateConfig, {**values, **kw}))


def loaded(arch: str = "lstm") -> tuple[Any, np.ndarray, int]:
    model, _, vocab = load_generator(trained_run(arch))
    return model, np.asarray(io.read_npy(trained_run(arch) / "val_ids.npy")), vocab.eos_id


@pytest.mark.parametrize("arch", ["lstm", "attention"])
@pytest.mark.parametrize(("cache", "dynamic"), [(True, False), (False, True), (True, True)])
def test_a_later_token_never_changes_an_earlier_probability(arch: str, cache: bool, dynamic: bool) -> None:
    model, ids, bos = loaded(arch)
    ids = ids[:120].copy()
    cfg = settings(cache, dynamic)
    before, _ = adapted_log_probs(model, ids, bos, cfg, CPU)
    for k in (0, 30, 64, 119):  # the first token, inside and at the edge of a dynamic segment (7), the last
        changed = ids.copy()
        changed[k] = (ids[k] + 5) % model.cfg.vocab_size
        after, _ = adapted_log_probs(model, changed, bos, cfg, CPU)
        assert torch.equal(after[:k], before[:k]), k  # bit for bit: nothing before k saw token k
        if k + 1 < len(ids):
            assert not torch.equal(after[k + 1 :], before[k + 1 :]), k  # later tokens do see it


def test_static_stream_is_the_benchmark_score_and_lambda_zero_changes_nothing() -> None:
    model, ids, bos = loaded()
    logp, hidden = stream_pass(model, ids, bos, CPU)
    nll, n = score(model, ids, bos, streams=1)
    assert n == len(ids) == logp.shape[0] == hidden.shape[0]
    assert float(-logp.sum()) == pytest.approx(nll, rel=1e-6)
    adapted, static = adapted_log_probs(model, ids, bos, settings(True, False, cache_lambda=0.0), CPU)
    assert torch.equal(adapted, logp) and torch.equal(static, logp)
    model_before = {k: v.clone() for k, v in model.state_dict().items()}
    dyn, _ = stream_pass(model, ids, bos, CPU, DynamicStep(lr=0.003, segment=9))
    # the first segment is scored before any step (equal up to float32 rounding: the pass runs with grad)
    torch.testing.assert_close(dyn[:9], logp[:9], rtol=0, atol=1e-5)
    assert float((dyn[9:] - logp[9:]).abs().max()) > 1e-3  # the steps do move the later scores
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in model_before.items())  # weights restored


def test_dynamic_evaluation_keeps_the_word_vectors() -> None:
    model, ids, bos = loaded()
    moved = {id(p) for p in adapted_parameters(model)}
    assert id(model.embedding.weight) not in moved and id(model.out_bias) in moved
    assert id(model.lstm.weight_hh_l0) in moved


def test_weights_are_restored_when_a_pass_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from textgen.lm import dynamic

    model, ids, bos = loaded()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = {"n": 0}
    real = dynamic._update

    def failing(*args: Any) -> None:
        calls["n"] += 1
        real(*args)
        if calls["n"] == 3:
            raise RuntimeError("boom")

    monkeypatch.setattr(dynamic, "_update", failing)
    with pytest.raises(RuntimeError, match="boom"):
        stream_pass(model, ids, bos, CPU, DynamicStep(lr=0.01, segment=5))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_offline_cache_equals_the_decoding_cache() -> None:
    torch.manual_seed(0)
    n, d, v, size = 40, 6, 9, 8
    hidden = torch.randn(n, d)
    targets = torch.randint(0, v, (n,))
    model_logp = torch.log_softmax(torch.randn(n, v), dim=-1)
    theta, lam = 0.7, 0.3
    offline, has = cache_log_probs(hidden, targets, size, [theta], chunk=16)  # chunks smaller than the stream
    mixed = mix(model_logp.gather(1, targets.unsqueeze(1)).squeeze(1).double(), offline[0].double(), has, lam)
    online = StreamCache(size, theta, lam)
    for t in range(n):
        row = online.log_mix(model_logp[t : t + 1], hidden[t : t + 1])
        torch.testing.assert_close(row.exp().sum(), torch.tensor(1.0))  # a distribution
        assert row[0, targets[t]].item() == pytest.approx(mixed[t].item(), abs=1e-5)
        online.add(hidden[t : t + 1], targets[t : t + 1])
    assert not bool(has[0]) and mixed[0].item() == pytest.approx(model_logp[0, targets[0]].item())


def test_the_cache_favours_words_already_seen() -> None:
    h = torch.nn.functional.normalize(torch.randn(30, 4), dim=1)
    targets = torch.full((30,), 3)
    logp, _ = cache_log_probs(h, targets, 100, [1.0])
    assert torch.allclose(logp[0, 1:], torch.zeros(29))  # every cached token was 3: p_cache(3) = 1
    assert math.isinf(float(logp[0, 0]))  # nothing cached yet


def test_tune_fills_only_what_was_not_given_and_reports_halves() -> None:
    model, ids, bos = loaded()
    model.ngram = None  # the network alone: on the tiny fixture its n-gram leaves the adaptation too little to find
    cfg = options.build(EvaluateConfig, {"cache": True, "dynamic": True, "cache_size": 30, "cache_lambda": 0.1})
    settled, tried, tuned = tune(model, ids[: len(ids) // 2], bos, cfg, CPU)
    assert tuned == ["dynamic_lr", "cache_theta"]
    assert settled.neural_cache.cache_lambda == 0.1 and settled.neural_cache.cache_theta is not None
    assert settled.dynamic_eval.dynamic_lr is not None and len(tried) > 3
    passes = {t["dynamic_lr"] for t in tried if t.get("cache") is False}  # one per pass over the half
    assert passes - set(LRS), "the best grid lr is refined between its neighbours"
    assert settled.dynamic_eval.dynamic_lr in passes
    best = min(t["nll"] for t in tried if t.get("cache_theta") is not None)
    chosen = [t for t in tried if t.get("cache_theta") == settled.neural_cache.cache_theta]
    assert any(t["nll"] == best for t in chosen)
    res = evaluate_model(model, ids, bos, 10_000, cfg, CPU)
    assert [h["half"] for h in res.halves] == ["first", "second"]
    assert sum(h["tokens"] for h in res.halves) == len(ids)
    assert res.val_bpb_adapted is not None and res.val_bpb_adapted < res.val_bpb_stream  # type: ignore[operator]
    adapted, static = adapted_log_probs(model, ids, bos, settled, CPU)
    halves = half_figures(adapted, static, 10_000)
    both = sum(h["val_bpb_adapted"] * h["bytes"] for h in halves) / 10_000
    assert both == pytest.approx(bits_per_byte(float(-adapted.sum()), 10_000))


@pytest.mark.parametrize("best", [0, 1, 2, 3, 4])
def test_the_learning_rate_search_finds_the_best_of_a_unimodal_curve(best: int) -> None:
    grid = (0.01, 0.03, 0.1, 0.3, 1.0)
    tried: list[float] = []

    def run(lr: float) -> dict[str, Any]:
        tried.append(lr)
        return {"dynamic_lr": lr, "nll": abs(grid.index(lr) - best) + 1.0}

    assert _search(grid, 2, run)["dynamic_lr"] == grid[best]
    assert len(tried) <= 4 and len(set(tried)) == len(tried)


def test_evaluate_cli_json_reports_static_and_adapted(tmp_path: Path) -> None:
    run = trained_run("lstm")
    res = runner.invoke(app, ["evaluate", "--run-dir", str(run), "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    plain = json.loads(res.stdout)
    assert plain["val_bpb_adapted"] is None and plain["val_bpb"] == pytest.approx(
        io.read_json(run / "generator.json")["metrics"]["val_bpb"]
    )
    args = ["evaluate", "--run-dir", str(run), "--json", "--cache", "--cache-size", "40", "--dynamic"]
    res = runner.invoke(app, [*args, "--dynamic-lr", "0.001", "--cache-theta", "8"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["val_bpb"] == plain["val_bpb"] and data["val_bpb_adapted"] != data["val_bpb_stream"]
    assert plain["val_bpb_neural"] > plain["val_bpb"]  # the fixture's n-gram helps its tiny network
    assert data["settings"]["cache_size"] == 40 and data["settings"]["dynamic_lr"] == 0.001
    assert data["tuned"] == ["cache_lambda"] and len(data["halves"]) == 2
    res = runner.invoke(app, ["evaluate", "--run-dir", str(run), "--cache", "--cache-theta", "8", "--device", "cpu"])
    assert res.exit_code == 0 and "val_bpb_adapted" in res.stdout and "second half" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--cache", "--cache-size", "0"], "--cache-size must be at least 1, got 0"),
        (["--cache", "--cache-lambda", "1.5"], "--cache-lambda must be in [0, 1], got 1.5"),
        (["--cache", "--cache-lambda", "-0.1"], "--cache-lambda must be in [0, 1]"),
        (["--cache", "--cache-theta", "0"], "--cache-theta must be > 0"),
        (["--dynamic", "--dynamic-lr", "0"], "--dynamic-lr must be > 0, got 0"),
        (["--dynamic", "--dynamic-lr", "-1"], "--dynamic-lr must be > 0"),
        (["--dynamic", "--dynamic-lr", "nan"], "--dynamic-lr must be a finite number, got nan"),
        (["--dynamic", "--dynamic-segment", "0"], "--dynamic-segment must be at least 1"),
        (["--cache-theta", "0.3"], "--cache-theta only applies with --cache"),
        (["--dynamic-lr", "0.3"], "--dynamic-lr only applies with --dynamic"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_evaluate_options_are_one_line(args: list[str], needle: str) -> None:
    res = runner.invoke(app, ["evaluate", "--run-dir", str(trained_run("lstm")), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")


def test_cache_on_a_run_without_a_generator(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(vocab_run(), run)
    for cmd in (["evaluate", "--cache"], ["generate", "--cache", "--prime", "maya"]):
        res = runner.invoke(app, [cmd[0], "--run-dir", str(run), *cmd[1:]])
        assert res.exit_code == 1 and "run `textgen train-generator --run-dir" in res.stderr, res.output
        assert res.stderr.count("\n") == 1


def test_decoding_cache_records_the_mixture_of_the_evaluation_formula() -> None:
    import textgen

    gen = textgen.load(trained_run("lstm"), device="cpu")
    cache = CacheSettings(cache=True, cache_size=16, cache_theta=8.0, cache_lambda=0.3)
    out = gen.generate("maya: the the", length=30, seed=2, precision="fp32", cache=cache)
    assert out.settings["cache_lambda"] == 0.3 and out.settings["cache_size"] == 16
    prime = [gen.vocab.stoi[t] for t in out.prime_tokens]
    ids = prime + out.samples[0].token_ids
    with torch.no_grad():
        hidden, _ = gen.model(torch.tensor([ids]))
        logp = gen.model.log_probs(hidden)[0]
    targets = torch.tensor(ids[1:])
    model_logp = logp[:-1].gather(1, targets.unsqueeze(1)).squeeze(1).double()
    cached, has = cache_log_probs(hidden[0, :-1], targets, 16, [8.0])
    want = mix(model_logp, cached[0].double(), has, 0.3)[len(prime) - 1 :].exp()
    torch.testing.assert_close(torch.tensor(out.samples[0].probs, dtype=torch.float64), want, atol=1e-5, rtol=1e-4)


def test_a_cache_with_lambda_zero_samples_what_the_full_head_samples() -> None:
    model, _, _ = loaded()
    vocab_size = model.cfg.vocab_size
    runs = []
    for cache in (None, CacheSettings(cache=True, cache_theta=0.5, cache_lambda=0.0)):
        sampler = Sampler(SamplingSettings(top_p=0.9), vocab_size, (0, 1), seed=4)
        opts = DecodeOptions(max_length=25, eos_id=2, pad_id=0, head="full", cache=cache)
        runs.append(decode(model, [5, 6, 7], sampler, 3, opts))
    assert torch.equal(runs[0].ids, runs[1].ids)
    torch.testing.assert_close(runs[0].token_logp, runs[1].token_logp)


def test_generate_cache_options_and_errors() -> None:
    run = str(trained_run("lstm"))
    res = runner.invoke(app, ["generate", "--run-dir", run, "--prime", "maya", "--cache", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["settings"]["cache_theta"] > 0 and data["settings"]["cache_size"] == 3000
    for args, needle in (
        (["--cache", "--cache-size", "0"], "--cache-size must be at least 1"),
        (["--cache", "--cache-lambda", "2"], "--cache-lambda must be in [0, 1]"),
        (["--cache-lambda", "0.2"], "--cache-lambda only applies with --cache"),
    ):
        res = runner.invoke(app, ["generate", "--run-dir", run, "--prime", "maya", *args])
        assert res.exit_code == 2 and needle in res.stderr and res.stderr.count("\n") == 1, res.output
    with pytest.raises(UsageError, match="cache_lambda|--cache-lambda"):
        import textgen

        textgen.load(run, device="cpu").generate("maya", cache=CacheSettings(cache=True, cache_lambda=3.0))


def test_settings_sections_have_one_declaration_each() -> None:
    from textgen.steps.generate import GenerateConfig

    shared = set(options.leaf_map(CacheSettings))
    assert shared <= set(options.params(GenerateConfig)) and shared <= set(options.params(EvaluateConfig))
    assert set(options.leaf_map(DynamicSettings)) <= set(options.params(EvaluateConfig))
