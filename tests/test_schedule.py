"""The learning-rate schedules: cosine over the planned steps, warm-up, plateau decay, and their resume state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_generator_train import small

from textgen import io
from textgen.lm.config import TrainConfig
from textgen.lm.schedule import LRSchedule
from textgen.lm.train import train_generator


def logged_lrs(run: Path) -> list[float]:
    """The lr of every logged training step, from the run's metrics.jsonl."""
    return [r["lr"] for r in io.read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]


def test_cosine_runs_from_the_peak_to_min_lr_over_the_planned_steps() -> None:
    sched = LRSchedule(TrainConfig(schedule="cosine", lr=0.012, min_lr=1e-5), total_steps=100)
    lrs = [sched.lr(s) for s in range(101)]
    assert lrs[0] == pytest.approx(0.012)
    assert lrs[50] == pytest.approx((0.012 + 1e-5) / 2)
    assert lrs[100] == pytest.approx(1e-5)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert sched.lr(150) == pytest.approx(1e-5)  # past the plan: stays at the floor


def test_warm_up_is_linear_then_the_cosine_spans_the_rest() -> None:
    sched = LRSchedule(TrainConfig(schedule="cosine", lr=0.01, warmup_steps=10, min_lr=0.0), total_steps=110)
    assert [sched.lr(s) for s in (0, 4, 9)] == pytest.approx([0.001, 0.005, 0.01])
    assert sched.lr(60) == pytest.approx(0.005)  # halfway through the 100 steps after the warm-up
    assert sched.lr(110) == pytest.approx(0.0, abs=1e-12)


def test_plateau_decays_only_without_improvement_and_never_below_min_lr() -> None:
    sched = LRSchedule(TrainConfig(schedule="plateau", lr=0.004, lr_decay=0.5, min_lr=0.0015), total_steps=None)
    assert not sched.on_validation(improved=True)
    assert sched.lr(7) == pytest.approx(0.004)
    assert sched.on_validation(improved=False)
    assert sched.lr(8) == pytest.approx(0.002)
    assert sched.on_validation(improved=False)
    assert sched.lr(9) == pytest.approx(0.0015)  # 0.001 would be below the floor
    assert not sched.on_validation(improved=False)  # already at the floor: no more decay
    restored = LRSchedule(sched.cfg, None)
    restored.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert restored.lr(10) == sched.lr(10)


def test_constant_and_cosine_ignore_validation() -> None:
    for kind in ("constant", "cosine"):
        sched = LRSchedule(TrainConfig(schedule=kind, lr=0.003), total_steps=50)  # type: ignore[arg-type]
        assert not sched.on_validation(improved=False)
        assert sched.lr(0) == pytest.approx(0.003)


def test_a_cosine_run_plans_its_steps_from_the_epochs_or_max_steps(vocab_run_dir: Path) -> None:
    """The logged lr falls along the cosine planned over --epochs: its last step one step short of the floor."""
    cfg = small(schedule="cosine", lr=0.01, min_lr=1e-4, epochs=2, log_every=1, eval_every=1000)
    train_generator(vocab_run_dir, cfg)
    lrs = logged_lrs(vocab_run_dir)
    assert len(lrs) > 4
    assert lrs[0] == pytest.approx(0.01)
    # the lr of the last step is one step short of the floor: cosine at (n - 1) / n of the way
    n = len(lrs)
    assert lrs[-1] == pytest.approx(1e-4 + (0.01 - 1e-4) * 0.5 * (1 + math.cos(math.pi * (n - 1) / n)))
    assert lrs == sorted(lrs, reverse=True)


def test_max_steps_shortens_the_cosine_plan(vocab_run_dir: Path) -> None:
    cfg = small(schedule="cosine", lr=0.01, min_lr=0.0, epochs=2, max_steps=4, log_every=1, eval_every=1000)
    train_generator(vocab_run_dir, cfg)
    lrs = logged_lrs(vocab_run_dir)
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)])
