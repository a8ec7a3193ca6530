"""Sampling rules on hand-made distributions: bans, greedy, temperature, top-k, top-p, penalty, seeds."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from textgen.decode.sampling import Sampler, SamplingSettings, structural_mask
from textgen.errors import UsageError

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


def test_top_p_on_a_flat_distribution_breaks_ties_by_id_like_a_stable_sort() -> None:
    big = torch.full((1, 1000), -math.log(1000.0))  # pad/unk banned: 998 tied tokens of 1/998 each
    got = draws(SamplingSettings(top_p=0.5), big, n=2000)
    # the nucleus is the 499 lowest allowed ids (2..500): 498/998 < 0.5 <= 499/998 ahead of id 501
    assert set(got) <= set(range(2, 501))
    assert len(set(got)) > 400


def _sorted_nucleus(p: torch.Tensor, top_p: float) -> torch.Tensor:
    """The reference rule: sort, keep the smallest prefix holding top_p, renormalise."""
    vals, idx = p.sort(descending=True, stable=True)
    keep = (vals.cumsum(0) - vals) < top_p
    out = torch.zeros_like(p)
    out[idx[keep]] = vals[keep]
    return out / out.sum()


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """Thousands of tiny steps: intra-op threads only add spin-waits (many-fold on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("width", "top_p"), [(40, 0.8), (700, 0.9), (700, 0.3)])
def test_nucleus_rejection_draws_follow_the_sorted_rule(width: int, top_p: float, one_thread: None) -> None:
    """Chi-square against the sorted nucleus; wide rows also exercise the inverse-CDF draws."""
    gen = torch.Generator().manual_seed(7)
    p = torch.softmax(torch.randn(width, generator=gen) * 2.0, dim=0)
    p[:2] = 0.0  # pad/unk are banned (the sampler gives them zero mass)
    p = p / p.sum()
    want = _sorted_nucleus(p, top_p)
    n, batch = 12000, 24
    got = draws(SamplingSettings(top_p=top_p), p.log().expand(batch, -1).clone(), n=n, seed=3)
    counts = torch.bincount(torch.tensor(got), minlength=width).double()
    assert counts[want == 0].sum() == 0  # nothing outside the nucleus, ever
    expected = want.double() * len(got)
    keep = expected > 5
    chi2 = float((((counts - expected) ** 2) / expected)[keep].sum())
    dof = max(int(keep.sum()) - 1, 1)
    assert chi2 < dof + 6 * (2 * dof) ** 0.5, (chi2, dof)


def test_wide_plain_sampling_never_draws_zero_mass_entries() -> None:
    lp = torch.full((4, 2000), float("-inf"))
    lp[:, 1500:1503] = torch.tensor([0.5, 0.3, 0.2]).log()  # three live entries far from both ends
    got = draws(SamplingSettings(top_p=1.0), lp, n=4000)
    assert set(got) == {1500, 1501, 1502}
    assert 0.45 < got.count(1500) / len(got) < 0.55


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
