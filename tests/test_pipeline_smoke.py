"""End to end: ``pipelines/smoke.yaml`` with the real stages on the fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textgen.errors import PipelineError
from textgen.pipeline import Runner, load_spec, record_stage
from textgen.pipeline.lock import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "pipelines" / "smoke.yaml"


@pytest.fixture()
def smoke(tmp_path: Path) -> tuple[Path, list[str]]:
    return tmp_path / "run", ["vocab.num_proc=1", "generator.threads=1"]


def test_smoke_pipeline_runs_skips_and_reruns_only_what_changed(smoke: tuple[Path, list[str]]) -> None:
    run_dir, base = smoke
    report = Runner(load_spec(SMOKE, base), run_dir).run()
    names = load_spec(SMOKE).names
    assert report.ran == names
    samples = (run_dir / "samples.txt").read_text(encoding="utf-8")
    assert samples.count("=== prime") == 2 and "Maya:" in samples
    lock = json.loads((run_dir / LOCK_NAME).read_text())
    assert set(lock["stages"]) == set(names)
    assert "threads" not in lock["stages"]["generator"]["params"]  # untracked

    report = Runner(load_spec(SMOKE, base), run_dir).run()
    assert report.ran == [] and report.skipped == names

    report = Runner(load_spec(SMOKE, [*base, "generator.max_steps=6"]), run_dir).run()
    assert report.ran == ["generator", "sample"]


def test_build_vocab_by_hand_then_pipeline_skips_it(smoke: tuple[Path, list[str]]) -> None:
    from typer.testing import CliRunner

    from textgen.cli import app

    run_dir, base = smoke
    res = CliRunner().invoke(app, ["build-vocab", "--corpus", "fixture", "--run-dir", str(run_dir), "--num-proc", "1"])
    assert res.exit_code == 0, res.output
    plan = Runner(load_spec(SMOKE, base), run_dir).plan(until="vocab")
    assert plan[0].action == "up to date"
    plan = Runner(load_spec(SMOKE, [*base, "vocab.min_count=2"]), run_dir).plan(until="vocab")
    assert plan[0].reasons == ["params changed: min_count 1 -> 2"]
    emb = ["--dim", "16", "--epochs", "1", "--min-count", "1", "--backend", "gensim", "--workers", "1", "--no-evaluate"]
    res = CliRunner().invoke(app, ["train-embeddings", "--run-dir", str(run_dir), *emb])
    assert res.exit_code == 0, res.output
    smoke_generator = load_spec(SMOKE).stage("generator").params
    flags = ["hidden", "batch_size", "bptt", "epochs", "max_steps", "eval_every", "warmup_steps"]
    args = [x for f in flags for x in (f"--{f.replace('_', '-')}", str(smoke_generator[f]))]
    res = CliRunner().invoke(app, ["train", "--run-dir", str(run_dir), "--threads", "1", *args])
    assert res.exit_code == 0, res.output
    plan = Runner(load_spec(SMOKE, base), run_dir).plan()
    assert [s.action for s in plan] == ["up to date"] * (len(plan) - 1) + ["run"]  # all but sample
    (run_dir / "vocab.json").unlink()
    with pytest.raises(PipelineError, match="vocab.json missing"):
        record_stage(run_dir, "vocab", {"corpus": "fixture"})
