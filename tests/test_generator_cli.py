"""`textgen train` and `textgen evaluate` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from textgen.cli import app

SMALL = ["--emb-dim", "16", "--hidden", "24", "--batch-size", "4", "--bptt", "16", "--threads", "1"]


def test_train_then_evaluate_json(vocab_run_dir: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train",
            "--run-dir",
            str(vocab_run_dir),
            *SMALL,
            "--max-steps",
            "12",
            "--eval-every",
            "6",
            "--arch",
            "attention",
            "--embeddings",
            "none",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "best val_bpb" in res.output and "random init" in res.output
    res = runner.invoke(app, ["evaluate", "--run-dir", str(vocab_run_dir), "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"val_bpb", "loss", "perplexity", "val_oov_rate", "tokens", "bytes"} <= set(data)
    meta = json.loads((vocab_run_dir / "generator.json").read_text())
    assert abs(data["val_bpb"] - meta["metrics"]["val_bpb"]) < 1e-9
    res = runner.invoke(
        app, ["train", "--run-dir", str(vocab_run_dir), *SMALL, "--max-steps", "14", "--resume", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert '"steps": 14' in res.output


def test_bad_hyperparameters_exit_2_with_one_line(vocab_run_dir: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["train", "--run-dir", str(vocab_run_dir), "--hidden", "0", "--dropout", "1.5", "--lr", "-0.1"]
    )
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--hidden" in lines[0] and "--lr" in lines[0]
    assert not (vocab_run_dir / "generator.safetensors").exists()


def test_missing_run_dir_and_untrained_run(tmp_path: Path, vocab_run_dir: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "textgen build-vocab" in res.output
    res = runner.invoke(app, ["evaluate", "--run-dir", str(vocab_run_dir)])
    assert res.exit_code == 1 and "textgen train" in res.output
