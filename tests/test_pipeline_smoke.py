"""End to end: ``pipelines/smoke.yaml`` with the real steps on the fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textgen.cli import app
from textgen.pipeline.runner import Runner
from textgen.pipeline.spec import load_spec
from textgen.steps.lockfile import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "pipelines" / "smoke.yaml"


@pytest.fixture()
def smoke(tmp_path: Path) -> tuple[Path, list[str]]:
    return tmp_path / "run", ["build-vocab.num_proc=1", "train-generator.threads=1"]


def test_smoke_pipeline_runs_skips_and_reruns_only_what_changed(smoke: tuple[Path, list[str]]) -> None:
    run_dir, base = smoke
    report = Runner(load_spec(SMOKE, base), run_dir).run()
    names = load_spec(SMOKE).names
    assert report.ran == names == ["build-vocab", "train-embeddings", "train-generator", "generate"]
    samples = (run_dir / "samples.txt").read_text(encoding="utf-8")
    assert samples.count("=== prime") == 2 and "Maya:" in samples
    lock = json.loads((run_dir / LOCK_NAME).read_text())
    assert set(lock["steps"]) == set(names)
    assert "threads" not in lock["steps"]["train-generator"]["params"]  # untracked

    report = Runner(load_spec(SMOKE, base), run_dir).run()
    assert report.ran == [] and report.skipped == names

    report = Runner(load_spec(SMOKE, [*base, "train-generator.max_steps=6"]), run_dir).run()
    assert report.ran == ["train-generator", "generate"]


def test_the_generate_stage_writes_what_the_command_writes(smoke: tuple[Path, list[str]], tmp_path: Path) -> None:
    run_dir, base = smoke
    Runner(load_spec(SMOKE, base), run_dir).run()
    params = load_spec(SMOKE).stage("generate").params
    args = [x for p in params["primes"] for x in ("--prime", p)]
    args += ["--length", str(params["length"]), "--seed", str(params["seed"])]
    out = tmp_path / "by_hand.txt"
    res = CliRunner().invoke(app, ["generate", "--run-dir", str(run_dir), *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == (run_dir / "samples.txt").read_bytes()


def test_steps_by_hand_then_the_pipeline_skips_them(smoke: tuple[Path, list[str]]) -> None:
    run_dir, base = smoke
    runner = CliRunner()
    res = runner.invoke(app, ["build-vocab", "--corpus", "fixture", "--run-dir", str(run_dir), "--num-proc", "1"])
    assert res.exit_code == 0, res.output
    plan = Runner(load_spec(SMOKE, base), run_dir).plan(until="build-vocab")
    assert plan[0].action == "up to date"
    plan = Runner(load_spec(SMOKE, [*base, "build-vocab.min_count=2"]), run_dir).plan(until="build-vocab")
    assert plan[0].reasons == ["params changed: min_count 1 -> 2"]
    emb = ["--dim", "16", "--epochs", "1", "--min-count", "1", "--backend", "gensim", "--workers", "1", "--no-evaluate"]
    res = runner.invoke(app, ["train-embeddings", "--run-dir", str(run_dir), *emb])
    assert res.exit_code == 0, res.output
    smoke_generator = load_spec(SMOKE).stage("train-generator").params
    flags = ["emb_dim", "hidden", "batch_size", "bptt", "epochs", "max_steps", "eval_every", "warmup_steps", "seed"]
    args = [x for f in flags for x in (f"--{f.replace('_', '-')}", str(smoke_generator[f]))]
    res = runner.invoke(app, ["train", "--run-dir", str(run_dir), "--threads", "1", *args])
    assert res.exit_code == 0, res.output
    plan = Runner(load_spec(SMOKE, base), run_dir).plan()
    assert [s.action for s in plan] == ["up to date"] * (len(plan) - 1) + ["run"]  # all but generate
