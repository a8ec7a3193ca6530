"""The decoding loop's ``on_step`` hook (what ``textgen serve`` streams from): every kept token, in
order, with the numbers the finished generation reports; raising from it stops the loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import textgen
from textgen.decode.loop import StepView


class Recorder:
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.kept: dict[int, list[int]] = {}
        self.logp: dict[int, list[float]] = {}
        self.top: dict[int, list[list[int]]] = {}
        self.attention: dict[int, list[list[float]]] = {}

    def __call__(self, view: StepView) -> None:
        self.steps.append(view.step)
        for b, keep in enumerate(view.kept.tolist()):
            if keep:
                self.kept.setdefault(b, []).append(int(view.ids[b]))
                self.logp.setdefault(b, []).append(float(view.token_logp[b]))
                if view.top_ids is not None:
                    self.top.setdefault(b, []).append(view.top_ids[b].tolist())
                if view.attention is not None:
                    self.attention.setdefault(b, []).append(view.attention[b].tolist())


@pytest.mark.parametrize("explain", [False, True])
def test_the_hook_sees_exactly_the_kept_tokens_in_order(any_run: Path, explain: bool) -> None:
    gen = textgen.load(any_run, device="cpu")
    plain = gen.generate("maya", length=60, max_turns=2, seed=4, num_samples=3, explain=explain)
    seen = Recorder()
    hooked = gen.generate("maya", length=60, max_turns=2, seed=4, num_samples=3, explain=explain, on_step=seen)
    assert [s.token_ids for s in hooked.samples] == [s.token_ids for s in plain.samples]  # the hook changes nothing
    assert seen.steps == list(range(len(seen.steps)))
    for b, sample in enumerate(hooked.samples):
        assert seen.kept[b] == sample.token_ids
        torch.testing.assert_close(torch.tensor(seen.logp[b]).exp(), torch.tensor(sample.probs))
        if explain:
            assert sample.alternatives is not None
            names = [[gen.vocab.itos[t] for t in row] for row in seen.top[b]]
            assert names == [[t for t, _ in alts] for alts in sample.alternatives]
            if gen.arch == "attention":
                assert sample.attention is not None
                torch.testing.assert_close(torch.tensor(seen.attention[b]), torch.tensor(sample.attention))
    assert {s.stop_reason for s in hooked.samples} <= {"turns", "eos", "length"}


def test_a_dropped_speaker_is_not_kept(lstm_run: Path) -> None:
    """With max_turns, the speaker that would open one turn too many is sampled but not part of the output."""
    gen = textgen.load(lstm_run, device="cpu")
    for seed in range(20):
        dropped: list[int] = []

        def spy(view: StepView) -> None:
            if not bool(view.kept[0]) and int(view.ids[0]) != gen.vocab.pad_id:
                dropped.append(int(view.ids[0]))  # noqa: B023

        out = gen.generate("maya", length=80, max_turns=1, seed=seed, on_step=spy)
        if dropped:
            assert gen.vocab.itos[dropped[0]].endswith(":")
            assert gen.vocab.itos[dropped[0]] not in out.samples[0].tokens[-1:]
            assert out.samples[0].stop_reason == "turns"
            return
    pytest.skip("no seed in 0..19 ended a turn with a speaker")


def test_raising_from_the_hook_stops_decoding(lstm_run: Path) -> None:
    gen = textgen.load(lstm_run, device="cpu")
    seen: list[int] = []

    class Stop(Exception):
        pass

    def stop_at_five(view: StepView) -> None:
        seen.append(view.step)
        if view.step == 5:
            raise Stop

    threads = torch.get_num_threads()
    with pytest.raises(Stop):
        gen.generate("maya", length=200, seed=0, on_step=stop_at_five)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert torch.get_num_threads() == threads  # the loop's one-thread setting was undone on the way out
    again = gen.generate("maya", length=20, seed=0)  # and the model is usable again
    assert len(again.samples[0].tokens) >= 1
