"""Sampling rules on hand-made distributions: bans, greedy, temperature, top-k, top-p, penalty, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from textgen.errors import UsageError
from textgen.generate.sampling import Sampler, SamplingSettings, structural_mask

V = 10
PAD, UNK = 0, 1


def logp(*probs: float, batch: int = 1) -> torch.Tensor:
    p = torch.tensor(probs, dtype=torch.float32)
    return (p / p.sum()).log().expand(batch, -1).clone()


def draws(settings: SamplingSettings, lp: torch.Tensor, n: int = 400, seed: int = 0) -> list[int]:
    sampler = Sampler(settings, lp.shape[-1], (PAD, UNK), seed=seed)
    sampler.start(torch.zeros(lp.shape[0], 1, dtype=torch.long))
    out: list[int] = []
    for _ in range(n // lp.shape[0]):
        out += sampler(lp).tolist()
    return out


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"temperature": 0.0}, "--greedy"),
        ({"temperature": -1.0}, "--greedy"),
        ({"top_p": 0.0}, "(0, 1]"),
        ({"top_p": 1.5}, "(0, 1]"),
        ({"top_k": -1}, "--top-k"),
        ({"repetition_penalty": 0.0}, "--repetition-penalty"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        SamplingSettings(**kwargs).validate()
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_banned_ids_never_drawn_even_when_most_likely() -> None:
    lp = logp(50, 40, 1, 1, 1, 1, 1, 1, 1, 1)  # pad and unk hold 90% of the mass
    for settings in (SamplingSettings(top_p=1.0), SamplingSettings(top_k=3), SamplingSettings(greedy=True)):
        got = draws(settings, lp, n=300)
        assert PAD not in got and UNK not in got


def test_greedy_takes_the_argmax_of_allowed_tokens() -> None:
    lp = logp(1, 1, 1, 5, 9, 2, 1, 1, 1, 1)
    assert set(draws(SamplingSettings(greedy=True), lp, n=20)) == {4}


def test_top_k_restricts_to_k_best() -> None:
    lp = logp(1, 1, 10, 9, 8, 7, 6, 5, 4, 3)
    got = draws(SamplingSettings(top_k=2, top_p=1.0), lp, n=600)
    assert set(got) == {2, 3}
    assert 0.4 < got.count(2) / len(got) < 0.65  # 10/19 after renormalising


def test_top_p_keeps_the_smallest_set_holding_p() -> None:
    lp = logp(0, 0, 50, 30, 15, 5, 0, 0, 0, 0)
    assert set(draws(SamplingSettings(top_p=0.7), lp, n=400)) == {2, 3}  # 0.5 < 0.7 <= 0.8
    assert set(draws(SamplingSettings(top_p=0.45), lp, n=200)) == {2}  # the first token alone holds p
    assert set(draws(SamplingSettings(top_p=0.9), lp, n=800)) == {2, 3, 4}


def test_top_p_on_a_flat_distribution_falls_back_to_the_full_sort() -> None:
    big = torch.full((1, 1000), -math.log(1000.0))  # the 256-token shortlist holds only 25.6%
    got = draws(SamplingSettings(top_p=0.5), big, n=2000)
    assert PAD not in got and UNK not in got
    assert len(set(got)) > 300  # about half of the vocabulary is in the nucleus
    assert max(got) < 1000


def test_top_k_then_top_p_renormalises_within_k() -> None:
    lp = logp(0, 0, 40, 30, 20, 10, 0, 0, 0, 0)
    # within the top 2 (40, 30): 4/7 = 0.57 < 0.6 so both are kept
    assert set(draws(SamplingSettings(top_k=2, top_p=0.6), lp, n=400)) == {2, 3}


def test_temperature_sharpens_and_flattens() -> None:
    lp = logp(0, 0, 6, 3, 1, 0, 0, 0, 0, 0)
    cold = draws(SamplingSettings(temperature=0.2, top_p=1.0), lp, n=1000)
    hot = draws(SamplingSettings(temperature=3.0, top_p=1.0), lp, n=1000)
    assert cold.count(2) > 950
    assert hot.count(2) < 600 and hot.count(4) > 150


def test_repetition_penalty_discourages_seen_words_but_not_structure() -> None:
    itos = ["<pad>", "<unk>", "<eos>", "||period||", "jerry:", "coffee", "soup", "x", "y", "z"]
    exempt = structural_mask(itos)
    assert exempt.tolist()[:6] == [True, True, True, True, True, False]
    lp = logp(0, 0, 1, 30, 30, 30, 30, 1, 1, 1)
    sampler = Sampler(SamplingSettings(repetition_penalty=3.0, top_p=1.0), V, (PAD, UNK), exempt, seed=0)
    sampler.start(torch.tensor([[3, 4, 5]]))  # period, jerry: and coffee already seen
    scores = sampler.scores(lp)[0]
    assert scores[5] == pytest.approx(3.0 * lp[0, 5].item())  # coffee: p**3
    assert scores[3] == lp[0, 3] and scores[4] == lp[0, 4] and scores[6] == lp[0, 6]

    def first_pick(seed: int) -> int:
        fresh = Sampler(SamplingSettings(repetition_penalty=3.0, top_p=1.0), V, (PAD, UNK), exempt, seed=seed)
        fresh.start(torch.tensor([[3, 4, 5]]))
        return int(fresh(lp))

    picks = [first_pick(seed) for seed in range(300)]
    assert picks.count(5) < picks.count(6) / 3  # coffee far rarer than the unseen soup at equal p
    sampler.observe(torch.tensor([6]))  # what a stream writes joins its history
    assert sampler.scores(lp)[0, 6] == pytest.approx(3.0 * lp[0, 6].item())


def test_same_seed_same_draws_and_batch_shape() -> None:
    lp = logp(0, 0, 5, 4, 3, 2, 1, 1, 1, 1, batch=4)
    a = draws(SamplingSettings(), lp, n=200, seed=7)
    b = draws(SamplingSettings(), lp, n=200, seed=7)
    c = draws(SamplingSettings(), lp, n=200, seed=8)
    assert a == b and a != c
    sampler = Sampler(SamplingSettings(top_k=3), V, (PAD, UNK))
    assert sampler(lp).shape == (4,)
