"""Cluster-first sampling for the adaptive softmax: exact distribution, the model's own probabilities,
the exact path kept behind ``exact_sampling``, bf16 within tolerance, seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_generate_decode import full_forward_logp

import textgen
from textgen.decode.cluster import ClusterFirst
from textgen.decode.loop import DecodeOptions, decode
from textgen.decode.sampling import Sampler, SamplingSettings


def _hidden(gen: Any, word: str, rows: int) -> torch.Tensor:
    x = torch.tensor([[gen.vocab.stoi[word]]])
    with torch.inference_mode():
        hidden, _ = gen.model(x, gen.model.init_state(1, "cpu"))
    return hidden.expand(rows, -1, -1).contiguous()


@pytest.mark.parametrize("word", ["maya:", "the", "||period||"])
def test_cluster_first_draws_follow_the_full_softmax(lstm_run: Path, word: str) -> None:  # noqa: F811
    """Plain sampling: the two-stage draw's empirical frequencies match the full softmax (chi-square bound)."""
    gen = textgen.load(lstm_run, device="cpu")
    n = 40000
    sampler = Sampler(SamplingSettings(top_p=1.0), len(gen.vocab), (0, 1), seed=5)
    step = ClusterFirst.of(gen.model, sampler)
    assert step is not None and step.exact
    hidden = _hidden(gen, word, n)
    with torch.inference_mode():
        ids, logp = step.step(hidden)
        full = gen.model.log_probs(hidden[:1])[0, -1]
    assert step.tail_rows > 0  # the tails were reached, only for the rows that drew them
    assert step.tail_rows < n * len(step.clusters)
    p = full.exp()
    p[[0, 1]] = 0.0
    p = p / p.sum()
    # the recorded probabilities are the model's own
    torch.testing.assert_close(logp, full[ids], atol=1e-5, rtol=1e-5)
    # frequencies: the 30 likeliest tokens one by one, then each cluster's remaining mass as one bin
    top = p.topk(30).indices
    bins = [p[top]]
    counts = torch.bincount(ids, minlength=len(p)).float()
    seen = [counts[top]]
    rest = torch.ones_like(p, dtype=torch.bool)
    rest[top] = False
    for lo, hi in [(0, step.shortlist), *step.clusters]:
        mask = rest.clone()
        mask[:lo] = False
        mask[hi:] = False
        bins.append(p[mask].sum().unsqueeze(0))
        seen.append(counts[mask].sum().unsqueeze(0))
    expected, observed = torch.cat(bins) * n, torch.cat(seen)
    keep = expected > 5
    chi2 = float((((observed - expected) ** 2) / expected)[keep].sum())
    dof = int(keep.sum()) - 1
    assert chi2 < dof + 6 * (2 * dof) ** 0.5, (chi2, dof)  # ~6 sigma: a wrong rule fails by far more
    assert counts[[0, 1]].sum() == 0  # banned ids never drawn


def _assert_probs_are_the_models(gen: Any, out: Any, atol: float, rtol: float) -> None:
    """Each sample's recorded probabilities equal a full forward pass over prime + sample."""
    prime = [gen.vocab.stoi[t] for t in out.prime_tokens]
    for sample in out.samples:
        logp, _ = full_forward_logp(gen, prime + sample.token_ids)
        steps = logp[len(prime) - 1 : len(prime) - 1 + len(sample.token_ids)]
        want = steps.gather(1, torch.tensor(sample.token_ids).unsqueeze(1)).squeeze(1).exp()
        torch.testing.assert_close(torch.tensor(sample.probs), want, atol=atol, rtol=rtol)


@pytest.mark.parametrize("settings", [{"top_p": 1.0}, {"top_k": 5, "top_p": 1.0}, {}, {"temperature": 0.7}])
def test_cluster_first_records_model_probabilities_and_reproduces(lstm_run: Path, settings: dict) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    a = gen.generate("maya", length=40, seed=3, num_samples=3, precision="fp32", **settings)
    b = gen.generate("maya", length=40, seed=3, num_samples=3, precision="fp32", **settings)
    assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
    _assert_probs_are_the_models(gen, a, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("settings", [{"top_k": 5}, {"top_p": 0.9}, {"temperature": 1.3, "top_p": 1.0}])
def test_exact_sampling_keeps_the_exact_rule(lstm_run: Path, settings: dict) -> None:  # noqa: F811
    """``exact_sampling=True`` bypasses cluster-first and gives the lazy/full path's tokens exactly."""
    gen = textgen.load(lstm_run, device="cpu")
    _, ids = gen.prime_ids("gus")

    def run(exact: bool, head: str) -> Any:
        sampler = Sampler(SamplingSettings(exact_sampling=exact, **settings), len(gen.vocab), (0, 1), seed=11)
        assert (ClusterFirst.of(gen.model, sampler) is None) == exact
        opts = DecodeOptions(max_length=50, eos_id=gen.vocab.eos_id, pad_id=0, head=head)
        return decode(gen.model, ids, sampler, 4, opts)

    exact, reference = run(True, "auto"), run(False, "full")
    assert torch.equal(exact.ids, reference.ids)
    torch.testing.assert_close(exact.token_logp, reference.token_logp, atol=1e-6, rtol=1e-6)


def test_cluster_first_does_not_apply_where_it_would_change_the_rule(lstm_run: Path) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    for settings in (
        SamplingSettings(greedy=True),
        SamplingSettings(top_k=1),
        SamplingSettings(repetition_penalty=1.2),
    ):
        assert ClusterFirst.of(gen.model, Sampler(settings, len(gen.vocab), (0, 1))) is None
    assert ClusterFirst.of(gen.model, Sampler(SamplingSettings(), len(gen.vocab), (0, 1000))) is None  # ban in a tail


def test_bf16_output_layer_stays_within_tolerance(lstm_run: Path) -> None:  # noqa: F811
    """bf16 scoring: the recorded (model) probabilities stay within 2% (relative) of the fp32 ones."""
    gen = textgen.load(lstm_run, device="cpu")
    out = gen.generate("maya", length=60, seed=1, num_samples=4, top_p=1.0, precision="bf16")
    _assert_probs_are_the_models(gen, out, atol=1e-4, rtol=2e-2)
