"""Nothing a kill, a full disk or a second command can break: the run dir always loads and resumes, or says why.

The kill test SIGKILLs a training process at every file it replaces (before and after the rename)
and checks that the run dir still holds a whole model and a resumable run, and that the previous
run's artifacts are kept until their successors are written.
"""

from __future__ import annotations

import errno
import gc
import io as io_module
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textgen import io
from textgen.cli import app
from textgen.errors import ArtifactError, DiskFullError, TextgenError
from textgen.lm import checkpoint as ckpt
from textgen.lm.checkpoint import load_generator
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.train import train_generator

REPO = Path(__file__).resolve().parents[1]


def small(seed: int = 0, **train: Any) -> GeneratorConfig:
    opts: dict[str, Any] = dict(batch_size=4, bptt=16, epochs=1, eval_every=3, log_every=3, threads=1, seed=seed)
    opts.update(train)
    return GeneratorConfig(ModelConfig(emb_dim=16, hidden=24), TrainConfig(**{"embeddings": "none", **opts}))


_KILLER = """
import os, signal, sys
run, kill_at, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real, count = os.replace, [0]
def counted(src, dst):
    count[0] += 1
    if count[0] == kill_at and mode == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if count[0] == kill_at and mode == "after":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = counted
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.train import train_generator
train = TrainConfig(batch_size=4, bptt=16, epochs=1, eval_every=3, log_every=3, threads=1, seed=1, max_steps=6,
                    embeddings="none")
train_generator(run, GeneratorConfig(ModelConfig(emb_dim=16, hidden=24), train))
print("replaced", count[0])
"""


def _killed_run(run: Path, kill_at: int, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _KILLER, str(run), str(kill_at), mode], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip


def test_a_kill_at_any_write_leaves_a_whole_model_and_a_resumable_run(vocab_run_dir: Path, tmp_path: Path) -> None:
    previous = train_generator(vocab_run_dir, small(seed=0, max_steps=6))  # the run a new one replaces
    before = {n: (vocab_run_dir / n).read_bytes() for n in ("generator.safetensors", "generator.resume.pt")}
    probe = tmp_path / "probe"
    shutil.copytree(vocab_run_dir, probe)
    done = _killed_run(probe, 10**9, "never")
    assert done.returncode == 0, done.stderr[-2000:]
    writes = int(done.stdout.split("replaced")[-1])
    assert writes >= 8  # two validations (resume, model, its copy, log) and the summary
    survived = 0
    # killed before the k-th rename is killed after the (k-1)-th: every gap between two writes is hit
    for kill_at, mode in [(k, "before") for k in range(1, writes + 1)] + [(writes, "after")]:
        run = tmp_path / f"k{kill_at}{mode}"
        shutil.copytree(vocab_run_dir, run)
        proc = _killed_run(run, kill_at, mode)
        assert proc.returncode == -signal.SIGKILL, (kill_at, mode, proc.stderr[-1000:])
        model, config, _ = load_generator(run)  # always a whole model: the old one or a new one
        weights = (run / "generator.safetensors").read_bytes()
        assert weights == before["generator.safetensors"] or config.train.seed == 1
        if (run / "generator.resume.pt").read_bytes() == before["generator.resume.pt"]:
            assert weights == before["generator.safetensors"]  # nothing of the old run lost before its successor
        res = CliRunner().invoke(app, ["train-generator", "--run-dir", str(run), "--resume", "--json"])
        assert res.exit_code == 0, (kill_at, mode, res.output)  # the saved settings, to where they stop
        assert json.loads(res.stdout)["steps"] == 6
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # a kill's temp file is gone
        load_generator(run)
        assert [r for r in io.read_jsonl(run / "metrics.jsonl") if r["kind"] == "val"]
        survived += 1
    assert survived == writes + 1 and previous.steps == 6


def test_a_fresh_run_keeps_the_old_resume_file_and_log_until_it_checkpoints(vocab_run_dir: Path) -> None:
    train_generator(vocab_run_dir, small(max_steps=6))
    names = ("generator.safetensors", "generator.json", "generator.resume.pt", "metrics.jsonl")
    before = {n: (vocab_run_dir / n).read_bytes() for n in names}

    def fail_early(kind: str, info: dict[str, Any]) -> None:
        if kind == "step":
            raise RuntimeError("the machine went away")

    with pytest.raises(RuntimeError):
        train_generator(vocab_run_dir, small(seed=3, max_steps=6), fail_early)
    assert {n: (vocab_run_dir / n).read_bytes() for n in names} == before
    assert train_generator(vocab_run_dir, None, resume=True).steps == 6


def test_resume_keeps_the_checkpoints_settings_unless_a_flag_is_given(vocab_run_dir: Path) -> None:
    runner = CliRunner()
    base = ["train-generator", "--run-dir", str(vocab_run_dir), "--emb-dim", "16", "--hidden", "24", "--bptt", "16"]
    res = runner.invoke(app, [*base, "--batch-size", "4", "--patience", "100000", "--max-steps", "6"])
    assert res.exit_code == 0, res.output
    resume = ["train-generator", "--run-dir", str(vocab_run_dir), "--resume"]
    res = runner.invoke(app, [*resume, "--max-steps", "9", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["steps"] == 9
    payload = ckpt.load_resume(vocab_run_dir)
    saved = json.loads(payload["config"])["train"]
    assert saved["patience"] == 100000 and saved["bptt"] == 16 and saved["max_steps"] == 9
    res = runner.invoke(app, ["train-generator", "--run-dir", str(vocab_run_dir), "--resume", "--hidden", "32"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: --hidden 32 contradicts the checkpoint's 24; drop it, or train without --resume"
    )
    res = runner.invoke(app, ["train-generator", "--run-dir", str(vocab_run_dir), "--resume", "--arch", "attention"])
    assert res.exit_code == 2 and "--arch 'attention' contradicts the checkpoint's 'lstm'" in res.stderr


def test_a_generator_or_vectors_from_another_run_dir_are_refused(vocab_run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(vocab_run_dir, other)
    vocab = json.loads((other / "vocab.json").read_text())
    vocab["itos"][-1] += "x"  # another vocabulary of the same size: every shape matches
    vocab.pop("sha256")
    io.write_json(other / "vocab.json", vocab)
    train_generator(other, small(max_steps=3))
    shutil.copy(other / "generator.safetensors", vocab_run_dir / "generator.safetensors")
    with pytest.raises(ArtifactError, match=r"trained on another vocabulary \(fingerprint [0-9a-f]{12}\) than vocab"):
        load_generator(vocab_run_dir)
    res = CliRunner().invoke(app, ["generate", "--run-dir", str(vocab_run_dir), "--prime", "maya"])
    assert res.exit_code == 1 and "textgen train-generator --run-dir" in res.stderr
    from textgen import steps

    steps.run("train-embeddings", other, dim=8, epochs=1, min_count=1, workers=1, evaluate=False)
    shutil.copy(other / "embeddings.safetensors", vocab_run_dir / "embeddings.safetensors")
    res = CliRunner().invoke(app, ["similar", "maya", "--run-dir", str(vocab_run_dir)])
    assert res.exit_code == 1 and "trained on another vocabulary" in res.stderr and "train-embeddings" in res.stderr
    with pytest.raises(ArtifactError, match="different vocabulary"):
        train_generator(vocab_run_dir, small(max_steps=1, embeddings="auto"))


def test_two_commands_never_write_one_run_dir_at_once(vocab_run_dir: Path) -> None:
    args = ["--run-dir", str(vocab_run_dir), "--emb-dim", "16", "--hidden", "24", "--max-steps", "100000"]
    args += ["--epochs", "1000", "--patience", "1000000", "--embeddings", "none", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "textgen", "train-generator", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (vocab_run_dir / "metrics.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run([sys.executable, "-m", "textgen", "train", *args], env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert second.returncode == 1
        assert f"in use by `textgen train-generator` (pid {first.pid}" in second.stderr
        assert second.stderr.count("\n") == 1
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    records = io.read_jsonl(vocab_run_dir / "metrics.jsonl")
    assert len({(r["kind"], r["step"]) for r in records}) == len(records)  # one writer, no interleaving


def test_seeded_runs_give_the_same_bytes_and_a_forced_vocab_rerun_stops_there(tmp_path: Path) -> None:
    from textgen.pipeline.runner import Runner
    from textgen.pipeline.spec import load_spec

    smoke = REPO / "pipelines" / "smoke.yaml"
    base = ["build-vocab.num_proc=1", "train-generator.threads=1"]
    for name in ("a", "b"):
        Runner(load_spec(smoke, base), tmp_path / name).run()
    for artifact in ("embeddings.safetensors", "generator.safetensors", "vectors.txt", "corpus.json", "samples.txt"):
        assert (tmp_path / "a" / artifact).read_bytes() == (tmp_path / "b" / artifact).read_bytes(), artifact
    report = Runner(load_spec(smoke, base), tmp_path / "a").run(force="build-vocab")
    assert report.ran == ["build-vocab"]  # same tokens, same card: nothing downstream reruns
    emb = json.loads((tmp_path / "a" / "generator.json").read_text())["embeddings"]
    assert emb["source"] == "embeddings.safetensors"  # the run's own vectors, never a staging path


# ----- full disks ------------------------------------------------------------------------------------------
def _no_space(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_in_training_keeps_the_last_checkpoint(vocab_run_dir: Path, monkeypatch: Any) -> None:
    train_generator(vocab_run_dir, small(max_steps=3))
    before = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir() if p.is_file()}
    import torch

    def full(obj: Any, f: Any, *a: Any, **k: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DiskFullError, match=r"no space left on device writing .*generator\.resume\.pt"):
        train_generator(vocab_run_dir, small(seed=5, max_steps=3))
    after = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir() if p.is_file()}
    assert after == before  # the resume file failed first: nothing else was touched


def test_a_full_disk_in_build_vocab_and_generate(vocab_run_dir: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from conftest import build_vocab_run

    from textgen import spool

    class FullFile(io_module.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    before = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir() if p.is_file()}
    for where in ("spooling", "writing the ids"):
        with monkeypatch.context() as m:
            if where == "spooling":
                m.setattr(spool.os, "fdopen", lambda fd, mode: (os.close(fd), FullFile())[1])
            else:
                m.setattr(io.np.lib.format, "write_array_header_1_0", _no_space)
            with pytest.raises(DiskFullError, match=r"no space left on device writing .*_ids\.npy"):
                build_vocab_run(vocab_run_dir)
        assert {p.name: p.read_bytes() for p in vocab_run_dir.iterdir() if p.is_file()} == before, where
        assert not (vocab_run_dir / ".staging").exists() and not list(vocab_run_dir.glob(".*.spool"))
    train_generator(vocab_run_dir, small(max_steps=3))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "scene.txt"
    out.write_text("an earlier scene")
    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", _no_space)
        args = ["generate", "--run-dir", str(vocab_run_dir), "--prime", "maya", "--out", str(out)]
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and res.stderr.startswith(f"error: no space left on device writing {out}")
    assert out.read_text() == "an earlier scene" and [p.name for p in out.parent.iterdir()] == ["scene.txt"]


def test_a_really_full_disk(vocab_run_dir: Path, tmp_path: Path) -> None:
    """On a small tmpfs, where this machine lets the test mount one."""
    small_fs = tmp_path / "fs"
    small_fs.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(small_fs)]
    if subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        run = small_fs / "run"
        shutil.copytree(vocab_run_dir, run)
        with pytest.raises(TextgenError, match="no space left on device"):
            train_generator(run, small(max_steps=3))
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
        gc.collect()  # the failed writer's open file (held by the exception) frees its space
        free = shutil.disk_usage(small_fs).free
        (small_fs / "filler").write_bytes(b"x" * max(0, free - 8192))  # leave less than the ids need

        res = CliRunner().invoke(app, ["build-vocab", "--corpus", "fixture", "--run-dir", str(small_fs / "r2")])
        assert res.exit_code == 1 and "no space left on device" in res.stderr
        assert not (small_fs / "r2").exists() or not any((small_fs / "r2").glob("*.npy"))
    finally:
        subprocess.run(["umount", str(small_fs)], check=False)


def test_kill_9_of_the_command_leaves_a_run_that_resumes(vocab_run_dir: Path) -> None:
    args = ["--run-dir", str(vocab_run_dir), "--emb-dim", "16", "--hidden", "24", "--eval-every", "3"]
    args += ["--epochs", "1000", "--patience", "1000000", "--embeddings", "none", "--threads", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "textgen", "train-generator", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            vals = [r for r in io.read_jsonl(vocab_run_dir / "metrics.jsonl") if r.get("kind") == "val"]
            if len(vals) >= 3:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    res = CliRunner().invoke(app, ["train-generator", "--run-dir", str(vocab_run_dir), "--resume", "--max-steps", "30"])
    assert res.exit_code == 0, res.output  # the run dir lock died with the process
    assert replace(load_generator(vocab_run_dir)[1].train, max_steps=None).patience == 1000000
