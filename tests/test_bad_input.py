"""Bad input a careless user gives: every case ends in one line on stderr and a non-zero exit, never a traceback.

The cases are the ones the crash-safety review found ending in a traceback or a misleading message.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from textgen import io
from textgen.cli import app

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def one_line(code: int, err: str, expected_code: int, needle: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err


# ----- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["tpu", "meta", "mps", "cuda:x"])
@pytest.mark.parametrize("command", ["train-generator", "train", "evaluate", "train-embeddings"])
def test_nonsense_devices_are_usage_errors(vocab_run_dir: Path, command: str, device: str) -> None:
    code, _, err = cli(command, "--run-dir", str(vocab_run_dir), "--device", device)
    one_line(code, err, 2, f"--device must be auto, cpu, cuda or cuda:N, got '{device}'")


def test_a_click_usage_error_is_one_line_too() -> None:
    cmd = [sys.executable, "-m", "textgen", "generate", "--prime", "x", "--length", "many"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    one_line(proc.returncode, proc.stderr, 2, "Invalid value for '--length'")
    assert "see `textgen generate --help`" in proc.stderr


# ----- output paths ------------------------------------------------------------------------------------
def test_out_and_heatmap_that_name_a_directory_or_a_path_under_a_file(run_copy: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    base = ["generate", "--run-dir", str(run_copy), "--prime", "maya", "--length", "5"]
    code, _, err = cli(*base, "--out", str(tmp_path))
    one_line(code, err, 2, f"cannot write {tmp_path}: it is a directory")
    code, _, err = cli(*base, "--out", str(afile / "x.txt"))
    one_line(code, err, 2, f"{afile} is a file, not a directory")
    code, _, err = cli(*base, "--explain", "--heatmap", str(tmp_path))
    one_line(code, err, 2, "it is a directory")
    assert afile.read_text() == "x"


# ----- hand-edited or corrupt artifacts ------------------------------------------------------------------
def _legacy(run: Path) -> None:
    """Turn a run's generator into the format written before the config moved into the header."""
    tensors = io.load_tensors(run / "generator.safetensors")
    meta = io.read_metadata(run / "generator.safetensors")
    from safetensors.torch import save_file

    legacy = {"vocab_sha256": meta["vocab_sha256"], "arch": "lstm", "step": str(meta["step"])}
    save_file(tensors, str(run / "generator.safetensors"), metadata=legacy)


def test_an_older_run_dir_still_loads(run_copy: Path) -> None:
    _legacy(run_copy)
    config = json.loads((run_copy / "generator.json").read_text())
    config["train"]["embeddings"] = None  # what older versions wrote for "no vectors"
    (run_copy / "generator.json").write_text(json.dumps(config))
    code, out, err = cli("generate", "--run-dir", str(run_copy), "--prime", "maya", "--seed", "1", "--length", "8")
    assert code == 0 and out.startswith("Maya:"), err


@pytest.mark.parametrize(("path", "value"), [(("model", "hidden"), "lots"), (("model",), None), (("train", "lr"), [1])])
def test_hand_edited_configs_are_one_line_errors(run_copy: Path, path: tuple[str, ...], value: Any) -> None:
    _legacy(run_copy)  # the older format reads generator.json
    config = json.loads((run_copy / "generator.json").read_text())
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (run_copy / "generator.json").write_text(json.dumps(config))
    for command in (["generate", "--prime", "maya"], ["evaluate"]):
        code, _, err = cli(*command, "--run-dir", str(run_copy))
        one_line(code, err, 1, "holds no usable generator config")


def test_a_hand_edited_generator_json_is_not_what_loads(run_copy: Path) -> None:
    """generator.json is a readable copy: the weights' own header is what loads."""
    config = json.loads((run_copy / "generator.json").read_text())
    config["model"]["hidden"] = "lots"
    (run_copy / "generator.json").write_text(json.dumps(config))
    code, out, err = cli("generate", "--run-dir", str(run_copy), "--prime", "maya", "--length", "5", "--seed", "1")
    assert code == 0, err
    (run_copy / "generator.json").unlink()
    assert cli("generate", "--run-dir", str(run_copy), "--prime", "maya", "--length", "5", "--seed", "1")[1] == out


def test_a_corrupt_header_is_a_one_line_error(run_copy: Path) -> None:
    tensors = io.load_tensors(run_copy / "generator.safetensors")
    meta = io.read_metadata(run_copy / "generator.safetensors")
    meta["config"]["model"]["layers"] = "two"
    io.save_tensors(run_copy / "generator.safetensors", tensors, meta)
    code, _, err = cli("generate", "--run-dir", str(run_copy), "--prime", "maya")
    one_line(code, err, 1, "holds no usable generator config (layers: expected an integer")


@pytest.mark.parametrize("edit", ["number", "duplicate", "counts", "sha"])
def test_hand_edited_vocabularies(run_copy: Path, edit: str) -> None:
    vocab = json.loads((run_copy / "vocab.json").read_text())
    if edit == "number":
        vocab["itos"][5] = 42
    elif edit == "duplicate":
        vocab["itos"][6] = vocab["itos"][5]
    elif edit == "counts":
        vocab["counts"][4] = "many"
    else:
        vocab["itos"][7] = vocab["itos"][7] + "x"  # a plausible edit: caught by the recorded sha256
    (run_copy / "vocab.json").write_text(json.dumps(vocab))
    needle = "was edited" if edit == "sha" else "is not a textgen vocabulary"
    for command in (["generate", "--prime", "maya"], ["train-generator"], ["evaluate"]):
        code, _, err = cli(*command, "--run-dir", str(run_copy))
        one_line(code, err, 1, needle)


@pytest.mark.parametrize("which", ["train_ids.npy", "val_ids.npy"])
@pytest.mark.parametrize("bad", ["out of range", "negative", "2-D", "float"])
def test_id_arrays_that_do_not_fit_the_vocabulary(vocab_run_dir: Path, which: str, bad: str) -> None:
    ids = np.asarray(io.read_npy(vocab_run_dir / which)).astype(np.int64)
    if bad == "out of range":
        ids[3] = 10**6
    elif bad == "negative":
        ids[3] = -1
    arr: np.ndarray = ids
    if bad == "2-D":
        arr = ids[: len(ids) // 2 * 2].reshape(2, -1)
    elif bad == "float":
        arr = ids.astype(np.float32) + 0.5
    io.write_npy(vocab_run_dir / which, arr)
    needles = {"out of range": "ids outside", "negative": "ids outside", "2-D": "not one row", "float": "not integer"}
    needle = needles[bad]
    code, _, err = cli("train-generator", "--run-dir", str(vocab_run_dir), "--max-steps", "1", "--hidden", "8")
    one_line(code, err, 1, needle)
    if which == "train_ids.npy":
        code, _, err = cli("train-embeddings", "--run-dir", str(vocab_run_dir), "--epochs", "1")
        one_line(code, err, 1, needle)


def test_evaluate_static_and_adapted_check_the_validation_ids(vocab_run_dir: Path) -> None:
    code, _, err = cli("train-generator", "--run-dir", str(vocab_run_dir), "--max-steps", "2", "--hidden", "8",
                       "--emb-dim", "8", "--embeddings", "none")  # fmt: skip
    assert code == 0, err
    ids = np.asarray(io.read_npy(vocab_run_dir / "val_ids.npy")).astype(np.int64)
    ids[3] = 10**6
    io.write_npy(vocab_run_dir / "val_ids.npy", ids)
    for extra in ([], ["--cache", "--cache-theta", "1", "--cache-lambda", "0.1"]):
        code, _, err = cli("evaluate", "--run-dir", str(vocab_run_dir), *extra)
        one_line(code, err, 1, "ids outside")


def test_an_empty_validation_split_in_train(vocab_run_dir: Path) -> None:
    io.write_npy(vocab_run_dir / "val_ids.npy", np.zeros(0, dtype=np.uint16))
    code, _, err = cli("train-generator", "--run-dir", str(vocab_run_dir), "--max-steps", "1")
    one_line(code, err, 1, "val_ids.npy is empty")


# ----- corpora and the run dir --------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["jerry: one line only\n", "jerry: a\n\ngeorge: b\n"])
def test_a_corpus_too_short_for_a_validation_split_fails_where_it_is_made(tmp_path: Path, text: str) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text(text)
    code, _, err = cli("build-vocab", "--corpus", str(corpus), "--run-dir", str(tmp_path / "run"))
    one_line(code, err, 2, "validation split")
    assert not (tmp_path / "run").exists()  # a failed build-vocab leaves no empty run dir behind


def test_run_on_a_run_dir_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    code, _, err = cli("run", str(REPO / "pipelines" / "smoke.yaml"), "--run-dir", str(afile))
    one_line(code, err, 1, "is a file")


def test_run_on_a_read_only_run_dir(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True)
    if mounted.returncode != 0:
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        if os.access(ro, os.W_OK):
            pytest.skip("cannot make a read-only directory here (root, and no tmpfs mounts)")
    try:
        code, _, err = cli("run", str(REPO / "pipelines" / "smoke.yaml"), "--run-dir", str(ro))
        one_line(code, err, 1, "not writable")
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(ro)], check=False)
        ro.chmod(0o700)


def test_from_a_later_stage_without_the_vocabulary_names_the_full_command(tmp_path: Path) -> None:
    run = tmp_path / "elsewhere"
    smoke = str(REPO / "pipelines" / "smoke.yaml")
    code, _, err = cli("run", smoke, "--run-dir", str(run), "--from", "train-generator")
    one_line(code, err, 1, f"--run-dir {run} --until build-vocab` first")


def test_status_on_a_corrupt_lock_says_it_is_ignored(vocab_run_dir: Path) -> None:
    (vocab_run_dir / "pipeline.lock").write_text("{not json")
    res = CliRunner().invoke(app, ["status", str(REPO / "pipelines" / "smoke.yaml"), "--run-dir", str(vocab_run_dir)])
    assert res.exit_code == 0 and "is corrupt" in res.stderr and "ignored" in res.stderr
    assert (vocab_run_dir / "pipeline.lock").read_text() == "{not json"  # status changes nothing


def test_an_unknown_hub_dataset_fails_fast_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    def missing(self: Any, repo_id: str, **kw: Any) -> None:
        error = RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # as the Hub's 404 raises it
        Exception.__init__(error, f"404 {repo_id}")
        raise error

    monkeypatch.delenv("HF_HUB_OFFLINE")  # the probe runs online; its answers are faked here
    monkeypatch.setattr(HfApi, "dataset_info", missing)
    code, _, err = cli("build-vocab", "--corpus", "hf:no/such", "--run-dir", str(tmp_path / "r"))
    one_line(code, err, 1, "no dataset hf:no/such on the Hugging Face Hub")

    def unreachable(self: Any, repo_id: str, **kw: Any) -> None:
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(HfApi, "dataset_info", unreachable)
    code, _, err = cli("build-vocab", "--corpus", "hf:no/such", "--run-dir", str(tmp_path / "r"))
    one_line(code, err, 1, "cannot reach the Hugging Face Hub")


# ----- primes --------------------------------------------------------------------------------------------
def test_primes_with_no_close_word_or_a_special_token(run_copy: Path) -> None:
    base = ["generate", "--run-dir", str(run_copy), "--prime"]
    code, _, err = cli(*base, "zzqxv")
    one_line(code, err, 1, "nothing there is spelled like it; use words of the corpus; speakers here: ")
    for special in ("<pad>", "<unk>"):
        code, _, err = cli(*base, special)
        one_line(code, err, 2, f"--prime {special} is a special token")


# ----- permissions -----------------------------------------------------------------------------------------
def test_artifacts_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        os.umask(0o077)
        io.write_text(tmp_path / "b.txt", "x")
        assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    shutil.rmtree(tmp_path)
