"""`textgen build-vocab` end to end through the CLI, its artifacts and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_SEINFELD
from typer.testing import CliRunner

from textgen.cli import app
from textgen.io import read_npy
from textgen.text import ScriptTokenizer
from textgen.vocab import Vocab

runner = CliRunner()


def _run(*args: str) -> object:
    return runner.invoke(app, list(args))


def _one_line_error(result: object, code: int = 1) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr  # type: ignore[attr-defined]
    return lines[0]


def test_artifacts_of_the_fixture_corpus(vocab_run_dir: Path, fixture_text: str) -> None:
    vocab = Vocab.load(vocab_run_dir / "vocab.json")
    card = json.loads((vocab_run_dir / "corpus.json").read_text())
    train, val = read_npy(vocab_run_dir / "train_ids.npy"), read_npy(vocab_run_dir / "val_ids.npy")
    lines = fixture_text.splitlines()
    n_val = len(lines) // 20
    assert card["lines"] == len(lines) and card["val_lines"] == n_val
    assert card["val_bytes"] == sum(len(line.encode()) + 1 for line in lines[-n_val:])
    assert len(train) == card["train_tokens"] and len(val) == card["val_tokens"] and train.dtype == np.uint16
    assert card["vocab_size"] == len(vocab) and {"maya:", "theo:", "<laugh>", "||period||"} <= set(vocab.itos)
    # counts come from the training split only, and decode back to its tokens
    tok = ScriptTokenizer(vocab.tokenizer)
    train_tokens = tok.tokenize_lines(lines[:-n_val])
    assert vocab.decode(train) == train_tokens
    assert sum(vocab.counts) == len(train_tokens)
    val_only = set(tok.tokenize_lines(lines[-n_val:])) - set(train_tokens)
    assert val_only and not val_only & set(vocab.itos)
    assert card["val_oov_rate"] == pytest.approx(float((val == vocab.unk_id).mean()))
    assert card["sha256"] and "seconds" not in card and "tokens_per_second" not in card  # no timings


def test_cli_summary_and_options(tmp_path: Path) -> None:
    result = _run(
        "build-vocab",
        "--corpus",
        "fixture",
        "--run-dir",
        str(tmp_path / "r"),
        "--min-count",
        "2",
        "--max-vocab",
        "100",
        "--val-fraction",
        "0.1",
        "--no-lowercase",
    )
    assert result.exit_code == 0, result.output
    assert "vocabulary" in result.stdout and "top speakers" in result.stdout and "maya" in result.stdout
    vocab = Vocab.load(tmp_path / "r" / "vocab.json")
    assert len(vocab) == 100 and min(vocab.counts[3:]) >= 2 and vocab.tokenizer.lowercase is False
    card = json.loads((tmp_path / "r" / "corpus.json").read_text())
    assert card["val_fraction"] == 0.1


def test_same_input_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert _run("build-vocab", "--corpus", "fixture", "--run-dir", str(tmp_path / name)).exit_code == 0
    for artifact in ("vocab.json", "train_ids.npy", "val_ids.npy"):
        assert (tmp_path / "a" / artifact).read_bytes() == (tmp_path / "b" / artifact).read_bytes()


def test_corpus_list() -> None:
    result = _run("corpus", "list")
    assert result.exit_code == 0
    for name in ("seinfeld (default)", "seinfeld-classic", "fixture", "[laughter]"):
        assert name in result.stdout


def test_min_count_that_empties_the_vocabulary_keeps_old_artifacts(vocab_run_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()}
    line = _one_line_error(
        _run("build-vocab", "--corpus", "fixture", "--run-dir", str(vocab_run_dir), "--min-count", "100000")
    )
    assert "--min-count" in line
    assert {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()} == before


def test_missing_and_unknown_corpus(tmp_path: Path) -> None:
    assert "no such path" in _one_line_error(
        _run("build-vocab", "--corpus", str(tmp_path / "nope.txt"), "--run-dir", str(tmp_path / "r"))
    )
    assert "seinfeld" in _one_line_error(_run("build-vocab", "--corpus", "seinfield", "--run-dir", str(tmp_path / "r")))
    assert not (tmp_path / "r" / "vocab.json").exists()


def test_empty_binary_and_non_utf8_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    assert "empty" in _one_line_error(_run("build-vocab", "--corpus", str(empty), "--run-dir", str(tmp_path / "r")))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"jerry: hi\x00\x01\x02")
    assert "binary" in _one_line_error(_run("build-vocab", "--corpus", str(binary), "--run-dir", str(tmp_path / "r")))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("jerry: caf\u00e9 au lait\n\ngeorge: non\n".encode("latin-1"))
    line = _one_line_error(_run("build-vocab", "--corpus", str(latin), "--run-dir", str(tmp_path / "r")))
    assert "offset 10" in line and "--encoding" in line
    assert not (tmp_path / "r" / "vocab.json").exists()
    ok = _run(
        "build-vocab",
        "--corpus",
        str(latin),
        "--run-dir",
        str(tmp_path / "r"),
        "--encoding",
        "latin-1",
        "--val-fraction",
        "0.5",
    )
    assert ok.exit_code == 0, ok.output
    assert "café" in Vocab.load(tmp_path / "r" / "vocab.json").itos


def test_run_dir_that_is_a_file_or_unwritable(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert "is a file" in _one_line_error(_run("build-vocab", "--corpus", "fixture", "--run-dir", str(afile)))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as a user who can write anywhere")
        assert "not writable" in _one_line_error(_run("build-vocab", "--corpus", "fixture", "--run-dir", str(locked)))
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--val-fraction", "1.5"), "--val-fraction"),
        (("--val-fraction", "0"), "--val-fraction"),
        (("--min-count", "0"), "--min-count"),
        (("--max-vocab", "2"), "--max-vocab"),
        (("--lang", "klingon"), "language"),
        (("--num-proc", "0"), "--num-proc"),
        (("--encoding", "klingon"), "--encoding"),
    ],
)
def test_nonsense_options_are_usage_errors(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    line = _one_line_error(_run("build-vocab", "--corpus", "fixture", "--run-dir", str(tmp_path / "r"), *args), code=2)
    assert needle in line


@pytest.mark.skipif(not SHARED_SEINFELD.exists(), reason="shared Seinfeld corpus not present")
def test_shared_seinfeld_corpus(tmp_path: Path) -> None:
    result = _run("build-vocab", "--corpus", str(SHARED_SEINFELD), "--run-dir", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "r" / "corpus.json").read_text())
    assert card["lines"] == 109_232 and card["val_lines"] == 5_461 and card["bytes"] == 3_471_475
    vocab = Vocab.load(tmp_path / "r" / "vocab.json")
    assert {"jerry:", "george:", "elaine:", "kramer:", "jerry"} <= set(vocab.itos)
    assert 0 < card["val_oov_rate"] < 0.1 and len(vocab) > 15_000
