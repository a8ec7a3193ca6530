"""Incremental decoding on tiny trained models: same probabilities as a full forward pass, state
carried (no window re-feed), exact lazy tails, stopping rules, batches and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import trained_run

import textgen
from textgen.decode.lazy import LazyAdaptive
from textgen.decode.loop import DecodeOptions, decode
from textgen.decode.sampling import Sampler, SamplingSettings
from textgen.text import symbols


def full_forward_logp(gen: Any, ids: list[int], attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probabilities [len(ids), V] from one forward pass over the whole sequence."""
    model = gen.model
    with torch.inference_mode():
        x = torch.tensor([ids])
        if attention:
            hidden, _, attn = model(x, model.init_state(1, "cpu"), return_attention=True)
            return model.log_probs(hidden)[0], attn[0]
        hidden, _ = model(x, model.init_state(1, "cpu"))
        return model.log_probs(hidden)[0], None


def recorded_logp_errors(gen: Any, out: Any) -> torch.Tensor:
    """``|log p_recorded - log p_model|`` of every generated token, the model run in fp32 on CPU by ``gen``."""
    prime = [gen.vocab.stoi[t] for t in out.prime_tokens]
    errors = []
    for sample in out.samples:
        logp, _ = full_forward_logp(gen, prime + sample.token_ids)
        steps = logp[len(prime) - 1 : len(prime) - 1 + len(sample.token_ids)]
        want = steps.gather(1, torch.tensor(sample.token_ids).unsqueeze(1)).squeeze(1)
        errors.append((torch.tensor(sample.probs).log() - want).abs())
    return torch.cat(errors)


@pytest.mark.parametrize(
    "settings", [{"greedy": True}, {"top_k": 8, "temperature": 0.8}, {"top_p": 0.95}, {"top_p": 1.0}]
)
def test_incremental_probabilities_equal_full_forward(any_run: Path, settings: dict) -> None:  # noqa: F811
    gen = textgen.load(any_run, device="cpu")
    out = gen.generate("maya", length=40, seed=3, explain=True, **settings)
    sample = out.samples[0]
    prime = [gen.vocab.stoi[t] for t in out.prime_tokens]
    ids = prime + sample.token_ids
    logp, attn = full_forward_logp(gen, ids, attention=gen.arch == "attention")
    p = len(prime)
    steps = logp[p - 1 : p - 1 + len(sample.token_ids)]
    want = steps.gather(1, torch.tensor(sample.token_ids).unsqueeze(1)).squeeze(1).exp()
    torch.testing.assert_close(torch.tensor(sample.probs), want, atol=1e-5, rtol=1e-4)
    entropy = torch.special.entr(steps.exp()).sum(-1) / torch.log(torch.tensor(2.0))
    torch.testing.assert_close(torch.tensor(sample.entropy), entropy, atol=1e-4, rtol=1e-4)
    if attn is not None:  # the rolling cache gives the same attention as the full pass
        assert sample.attention is not None
        torch.testing.assert_close(
            torch.tensor(sample.attention), attn[p - 1 : p - 1 + len(sample.token_ids)], atol=1e-5, rtol=1e-4
        )


class Spy(torch.nn.Module):
    """Records the token shapes the decoder feeds the model."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner, self.shapes = model, []

    def forward(self, tokens: torch.Tensor, state: Any, **kw: Any) -> Any:
        self.shapes.append(tuple(tokens.shape))
        return self.inner(tokens, state, **kw)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def test_prime_fed_once_then_one_token_per_step(any_run: Path) -> None:  # noqa: F811
    gen = textgen.load(any_run, device="cpu")
    spy = Spy(gen.model)
    _, ids = gen.prime_ids("maya: okay , everybody")
    sampler = Sampler(SamplingSettings(), len(gen.vocab), (0, 1), seed=0)
    opts = DecodeOptions(max_length=25, eos_id=-1, pad_id=0)  # no eos: always 25 tokens
    out = decode(spy, ids, sampler, 3, opts)
    assert out.lengths == [25, 25, 25]
    assert spy.shapes[0] == (1, len(ids))  # the prime, once, for all three streams
    assert spy.shapes[1:] == [(3, 1)] * 24  # then constant work per token: no window re-feed


@pytest.mark.parametrize(
    "settings", [{"greedy": True}, {"top_k": 5}, {"top_k": 3, "temperature": 1.5, "top_p": 0.8}, {"top_p": 0.9}]
)
def test_lazy_tails_are_exact(lstm_run: Path, settings: dict) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    _, ids = gen.prime_ids("gus")

    def run(head: str) -> Any:
        sampler = Sampler(SamplingSettings(**settings), len(gen.vocab), (0, 1), seed=11)
        opts = DecodeOptions(max_length=60, eos_id=gen.vocab.eos_id, pad_id=0, head=head)
        return decode(gen.model, ids, sampler, 4, opts)

    fast, slow = run("lazy"), run("full")
    assert torch.equal(fast.ids, slow.ids)
    torch.testing.assert_close(fast.token_logp, slow.token_logp, atol=1e-5, rtol=1e-5)


def test_lazy_output_skips_tails_and_keeps_computed_rows_exact(lstm_run: Path) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    sampler = Sampler(SamplingSettings(top_k=2), len(gen.vocab), (0, 1), seed=0)
    lazy = LazyAdaptive.of(gen.model, sampler)
    assert lazy is not None
    x = torch.tensor([[gen.vocab.stoi[t]] for t in ("maya:", "the", "||period||", "gus:", "i", "flour")])
    with torch.inference_mode():
        hidden, _ = gen.model(x, gen.model.init_state(len(x), "cpu"))
        full = gen.model.log_probs(hidden)[:, -1]
        part = lazy.log_probs(hidden, sampler)
    assert lazy.skipped > 0
    s = lazy.shortlist
    torch.testing.assert_close(part[:, :s], full[:, :s])
    for lo, hi in zip(lazy.bounds[1:-1], lazy.bounds[2:], strict=True):
        scored = part[:, lo + 1 : hi].isfinite().all(dim=1)
        assert torch.equal(
            scored, part[:, lo + 1 : hi].isfinite().any(dim=1)
        )  # a cluster is scored fully or not at all
        torch.testing.assert_close(part[scored, lo:hi], full[scored, lo:hi], atol=1e-5, rtol=1e-5)
        # a skipped cluster keeps its whole mass in one placeholder, above any of its words
        mass = full[~scored, lo:hi].logsumexp(dim=1)
        torch.testing.assert_close(part[~scored, lo], mass, atol=1e-5, rtol=1e-5)


def test_never_emits_pad_or_unk(any_run: Path) -> None:  # noqa: F811
    gen = textgen.load(any_run, device="cpu")
    unk_mass = []
    for settings in ({"top_p": 1.0, "temperature": 2.0}, {"top_k": 50}, {"greedy": True}):
        out = gen.generate("maya", length=60, seed=0, num_samples=3, explain=True, **settings)
        for s in out.samples:
            assert symbols.PAD not in s.tokens and symbols.UNK not in s.tokens
            unk_mass += [dict(a).get(symbols.UNK, 0.0) for a in s.alternatives or []]
    assert all(m == 0.0 for m in unk_mass)  # not even shown as an alternative


def test_stops_at_eos_and_at_max_turns(lstm_run: Path) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    vocab = gen.vocab
    _, ids = gen.prime_ids("maya")
    turn = vocab.stoi[symbols.TURN]
    speakers = torch.tensor([symbols.is_speaker(t) for t in vocab.itos])
    for max_turns in (1, 3):
        sampler = Sampler(SamplingSettings(temperature=1.5, top_p=1.0), len(vocab), (0, 1), seed=5)
        opts = DecodeOptions(
            max_length=400, eos_id=vocab.eos_id, pad_id=0, turn_id=turn, max_turns=max_turns, speakers=speakers
        )
        out = decode(gen.model, ids, sampler, 6, opts)
        for i, n in enumerate(out.lengths):
            toks = vocab.decode(out.ids[i, :n].tolist())
            ended = sum(t == symbols.TURN for t in toks) + sum(
                symbols.is_speaker(t) and (j > 0 and toks[j - 1] != symbols.TURN or j == 0) for j, t in enumerate(toks)
            )
            if out.stop_reasons[i] == "turns":
                assert toks[-1] == symbols.TURN or ended == max_turns - 1  # a new speaker was cut off
                assert ended <= max_turns
            assert (out.ids[i, n:] == 0).all()
    # eos: make it the only allowed token after the prime
    sampler = Sampler(SamplingSettings(greedy=True), len(vocab), [i for i in range(len(vocab)) if i != vocab.eos_id])
    out = decode(gen.model, ids, sampler, 2, DecodeOptions(max_length=50, eos_id=vocab.eos_id, pad_id=0))
    assert out.lengths == [1, 1] and out.stop_reasons == ["eos", "eos"]


def test_batch_rows_differ_and_seed_reproduces(lstm_run: Path) -> None:  # noqa: F811
    gen = textgen.load(lstm_run, device="cpu")
    a = gen.generate("theo", length=30, seed=1, num_samples=3)
    b = gen.generate("theo", length=30, seed=1, num_samples=3)
    c = gen.generate("theo", length=30, seed=2, num_samples=3)
    assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
    assert [s.text for s in a.samples] == [s.text for s in b.samples]
    assert len({tuple(s.token_ids) for s in a.samples}) == 3
    assert [s.token_ids for s in a.samples] != [s.token_ids for s in c.samples]
    fresh = textgen.load(trained_run("lstm"), device="cpu")  # a new process-level load gives the same text
    assert fresh.generate("theo", length=30, seed=1, num_samples=3).samples[2].text == a.samples[2].text
