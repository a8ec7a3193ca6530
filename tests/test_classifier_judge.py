"""Judging generated turns with a speaker classifier, and the train-classifier stage of a pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textgen.classify.judge import distinct, repeated_share
from textgen.cli import app
from textgen.pipeline.runner import Runner
from textgen.pipeline.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
NAMES = Path(__file__).parent / "fixtures" / "names"
runner = CliRunner()

# the fixture sitcom with a third of its lines held out, so every main speaker has validation turns
PIPELINE = """
run_dir: runs/judge
stages:
  build-vocab:
    params: {corpus: fixture, val_fraction: 0.3, num_proc: 1}
  train-embeddings:
    params: {dim: 16, epochs: 1, min_count: 1, backend: gensim, workers: 1, evaluate: false, seed: 0}
  train-classifier:
    params: {label: speaker, hidden: 16, epochs: 4, device: cpu, threads: 1, seed: 0}
    outs: [classifier.safetensors, classifier.json, classifier_split.json, classifier_metrics.json, confusion.png]
  train-generator:
    params: {emb_dim: 0, hidden: 32, batch_size: 8, bptt: 16, epochs: 1, max_steps: 12, eval_every: 6,
             warmup_steps: 2, threads: 1, seed: 0}
"""


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("judge")
    (root / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    run = root / "run"
    report = Runner(load_spec(root / "p.yaml"), run).run()
    assert report.ran == ["build-vocab", "train-embeddings", "train-classifier", "train-generator"]
    again = Runner(load_spec(root / "p.yaml"), run).run()
    assert again.ran == [] and "train-classifier" in again.skipped
    return run


def _judge(*args: str) -> object:
    return runner.invoke(app, ["evaluate-generation", *args])


def test_the_classifier_stage_used_the_run_vectors(judged_run: Path) -> None:
    card = json.loads((judged_run / "classifier.json").read_text(encoding="utf-8"))
    assert card["level"] == "word" and card["labels"] == ["theo", "gus", "priya", "maya"]
    assert card["training"]["embeddings"]["source"] == "embeddings.safetensors"
    assert card["shape"]["emb_dim"] == 16 and card["source"]["kind"] == "run"


def test_evaluate_generation_is_seeded_and_scores_both_sets_alike(judged_run: Path) -> None:
    args = ["--run-dir", str(judged_run), "--samples", "6", "--length", "25", "--seed", "3", "--json"]
    res = _judge(*args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert json.loads(_judge(*args).stdout) == data  # same seed, same figures
    assert data["speakers"] == ["theo", "gus", "priya", "maya"]
    for speaker, n in data["turns_per_speaker"].items():
        assert 1 <= n <= 6 and n <= data["real_pool"][speaker]
    for name in ("generated", "real"):
        fig = data[name]
        assert fig["turns"] == sum(data["turns_per_speaker"].values())
        assert 0 <= fig["speaker_fidelity"] <= 1 and 0 < fig["distinct_1"] <= 1 and 0 <= fig["repeated_4grams"] <= 1
        assert set(fig["speaker_fidelity_by_speaker"]) <= set(data["speakers"])
    assert 0 < data["generated"]["mean_turn_length"] <= 25
    assert data["real_excluded_seen_by_classifier"] == 0  # trained on the run's training split only
    other = json.loads(_judge(*args[:-3], "--seed", "4", "--json").stdout)
    assert other["real"] != data["real"] or other["generated"] != data["generated"]
    table = _judge("--run-dir", str(judged_run), "--samples", "3", "--length", "20")
    assert table.exit_code == 0, table.output
    for row in ("speaker fidelity", "theo (", "distinct-2", "repeated 4-grams", "mean turn length"):
        assert row in table.stdout


def test_real_turns_the_classifier_read_are_left_out(judged_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(judged_run, run)
    res = runner.invoke(app, ["train-classifier", "--label", "speaker", "--data", "fixture", "--run-dir", str(run),
                              "--epochs", "1", "--hidden", "8", "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = _judge("--run-dir", str(run), "--samples", "3", "--length", "10")
    # the classifier read the whole corpus, validation too: what it read is no "real" line to judge by
    assert res.exit_code == 1 and "has no turns of maya that the classifier has not read (" in res.stderr
    assert "left out: the classifier trained on them); train it without --data" in res.stderr


def test_evaluate_generation_errors(judged_run: Path, tmp_path: Path) -> None:
    names = tmp_path / "names"
    res = runner.invoke(app, ["train-classifier", "--data", str(NAMES), "--run-dir", str(names), "--epochs", "1",
                              "--hidden", "8", "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 0, res.output
    wrong = _judge("--run-dir", str(judged_run), "--classifier", str(names))
    assert wrong.exit_code == 2 and "needs a speaker classifier" in wrong.stderr
    missing = _judge("--run-dir", str(judged_run), "--classifier", str(tmp_path / "none"))
    assert missing.exit_code == 1 and "run `textgen train-classifier" in missing.stderr
    no_gen = tmp_path / "no_gen"
    shutil.copytree(judged_run, no_gen)
    (no_gen / "generator.safetensors").unlink()
    res = _judge("--run-dir", str(no_gen))
    assert res.exit_code == 1 and "run `textgen train-generator --run-dir" in res.stderr
    bad = _judge("--run-dir", str(judged_run), "--samples", "0")
    assert bad.exit_code == 2 and "--samples must be in [1, 1024]" in bad.stderr


def test_distinct_and_repeats() -> None:
    turns = [["a", "b", "a", "b", "a", "b"], ["c", "d"]]
    assert distinct(turns, 1) == pytest.approx(4 / 8) and distinct(turns, 2) == pytest.approx(3 / 6)
    # a b a b | b a b a? no: a b a b, b a b a, a b a b (repeat): one of three 4-grams repeats
    assert repeated_share(turns, 4) == pytest.approx(1 / 3)
    assert repeated_share([["x"]], 4) == 0.0 and distinct([], 2) == 0.0


def test_the_seinfeld_pipeline_has_a_speaker_classifier_stage() -> None:
    spec = load_spec(REPO / "pipelines" / "seinfeld.yaml")
    assert spec.names == ["build-vocab", "train-embeddings", "train-classifier", "train-generator", "generate"]
    params = spec.stage("train-classifier").params
    assert params["label"] == "speaker" and params["data"] is None and params["max_seconds"] is not None
