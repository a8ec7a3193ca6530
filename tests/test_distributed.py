"""DDP under torchrun on CPU (gloo, 2 processes, 127.0.0.1 only), on the fixture corpus.

Two processes with ``--batch-size 4`` each train on the same 8 streams as one process with
``--batch-size 8`` (``batchify`` deals rows 0-3 to rank 0 and 4-7 to rank 1), and DDP averages the
two ranks' mean-loss gradients, which is the one-process mean-loss gradient. With dropout off the
runs differ only by float32 summation order (DDP sums gradients bucket by bucket across ranks; one
process sums them over 8 rows in one backward): ~1e-7 relative per step. We allow ``TOL`` (1e-4
relative) on losses after 20 optimizer steps and 1e-4 absolute on weights.
"""

from __future__ import annotations

import contextlib
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
import torch
from conftest import uniform_bpb

from textgen import io
from textgen.errors import ArtifactError, UsageError
from textgen.lm.collectives import DistContext, resume_layout, torchrun_env
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.data import num_chunks
from textgen.lm.torchrun import free_port, torchrun_command
from textgen.lm.train import train_generator

TOL = 1e-4
SMALL = ["--emb-dim", "16", "--hidden", "32", "--bptt", "16", "--warmup-steps", "2", "--embeddings", "none"]
EXACT = [*SMALL, "--dropout", "0", "--emb-dropout", "0", "--epochs", "1", "--eval-every", "10"]
ARTIFACTS = ("generator.safetensors", "generator.json", "metrics.jsonl", "loss_curve.png", "generator.resume.pt")


def _config(batch_size: int, max_steps: int, **train: Any) -> GeneratorConfig:
    model = ModelConfig(emb_dim=16, hidden=32, dropout=0.0, emb_dropout=0.0)
    cfg = TrainConfig(batch_size=batch_size, bptt=16, warmup_steps=2, epochs=1, eval_every=10, embeddings="none")
    return GeneratorConfig(model, replace(cfg, **{"max_steps": max_steps, "device": "cpu", **train}))


def _torchrun(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = torchrun_command(2, ["textgen", "train-generator", *args])
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"}


def _dump_and_kill(proc: subprocess.Popen[str]) -> None:
    """A hung torchrun: SIGABRT its workers (PYTHONFAULTHANDLER prints where each thread was), then kill it."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
            if int(fields[1]) == proc.pid:
                os.kill(int(stat.parent.name), signal.SIGABRT)
    time.sleep(2)
    proc.kill()
    proc.wait()


def _records(run_dir: Path, kind: str) -> dict[int, dict[str, Any]]:
    rows = [r for r in io.read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == kind]
    assert len({r["step"] for r in rows}) == len(rows), "a record written twice: only rank 0 may write"
    return {r["step"]: r for r in rows}


@pytest.fixture(scope="module")
def pair(vocab_run_dir_session: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same 20 steps with 2 processes x 4 streams (torchrun) and 1 process x 8 streams."""
    root = tmp_path_factory.mktemp("ddp")
    two, one = root / "two", root / "one"
    shutil.copytree(vocab_run_dir_session, two)
    shutil.copytree(vocab_run_dir_session, one)
    proc = _torchrun(["--run-dir", str(two), "--batch-size", "4", "--max-steps", "20", *EXACT], root)
    train_generator(one, _config(8, 20))
    return {"root": root, "two": two, "one": one, "proc": proc}


def test_two_processes_complete_and_rank0_alone_writes(pair: dict[str, Any]) -> None:
    proc, two = pair["proc"], pair["two"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ARTIFACTS:
        assert (two / name).is_file(), name
    assert proc.stdout.count("stopped (max_steps) after 20 steps") == 1  # one report, from rank 0
    assert sorted(_records(two, "val")) == [10, 20]
    assert not [p.name for p in two.iterdir() if "tmp" in p.name]  # atomic writes left nothing behind


def test_loss_matches_one_process_with_the_same_global_batch(pair: dict[str, Any]) -> None:
    assert pair["proc"].returncode == 0, pair["proc"].stderr[-2000:]
    two, one = _records(pair["two"], "val"), _records(pair["one"], "val")
    for step in (10, 20):
        assert two[step]["val_loss"] == pytest.approx(one[step]["val_loss"], rel=TOL)
        assert two[step]["tokens"] == one[step]["tokens"] == step * 8 * 16
    t2, t1 = _records(pair["two"], "train")[20], _records(pair["one"], "train")[20]
    assert t2["loss"] == pytest.approx(t1["loss"], rel=TOL)  # all-reduced mean over both ranks
    w2, w1 = (
        io.load_tensors(pair["two"] / "generator.safetensors"),
        io.load_tensors(pair["one"] / "generator.safetensors"),
    )
    assert w2.keys() == w1.keys()
    for k in w1:
        assert torch.allclose(w2[k], w1[k], atol=TOL, rtol=0), k


def test_resume_across_process_counts_and_ctrl_c(pair: dict[str, Any]) -> None:
    """1 process -> torchrun 2 (stopped by Ctrl-C), and 2 -> 1 up to step 30."""
    root = pair["root"]
    one_to_two, two_to_one = root / "one_to_two", root / "two_to_one"
    shutil.copytree(pair["one"], one_to_two)
    shutil.copytree(pair["two"], two_to_one)
    n = len(io.read_npy(root / "one" / "train_ids.npy"))
    # 8 streams -> 16: chunk 20 of 8 rows is the same share of the epoch as chunk 10 of 16 rows
    epoch_end = 20 + num_chunks(n // 16, 16) - 20 * 8 // 16
    args = ["--run-dir", str(one_to_two), "--resume", "--device", "cpu", "--max-steps", "100000", "--epochs", "10"]
    cmd = torchrun_command(2, ["textgen", "train-generator", *args])
    out_path, err_path = root / "ctrl_c.out", root / "ctrl_c.err"
    # files, not pipes: a pipe nobody reads until the end can fill and block a rank
    with open(out_path, "w") as out_file, open(err_path, "w") as err_file:
        proc = subprocess.Popen(cmd, cwd=root, stdout=out_file, stderr=err_file, text=True, env=_env())
        metrics, deadline = one_to_two / "metrics.jsonl", time.monotonic() + 180
        while f'"step": {epoch_end},' not in metrics.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()[:3000]
            time.sleep(0.1)
        reached = f'"step": {epoch_end},' in metrics.read_text()
        proc.send_signal(signal.SIGINT)  # what the terminal sends torchrun; torchrun forwards it to the ranks
        try:
            proc.wait(timeout=150)  # seconds here; SHUTDOWN_TIMEOUT_S lets a slow machine finish saving
        except subprocess.TimeoutExpired:
            _dump_and_kill(proc)
    out, err = out_path.read_text(), err_path.read_text()
    report = err if len(err) < 5000 else f"{err[:2000]}\n...\n{err[-3000:]}"  # the ranks' lines, a hang's dump
    assert reached, f"no step {epoch_end} in 180 s: {report}"
    stopped = out.count("stopped (interrupted)") == 1 and err.count("interrupted: checkpoint saved") == 1
    assert stopped, f"stdout: {out[-1000:]}\nstderr: {report}"
    val = _records(one_to_two, "val")
    last = max(val)
    assert sorted(val)[:3] == [10, 20, epoch_end] and val[epoch_end]["epoch"] == 1  # logged after the epoch
    position = torch.load(one_to_two / "generator.resume.pt", weights_only=True)["position"]
    assert (position["step"], position["world_size"]) == (last, 2)
    # SIGINT lands a few steps after epoch_end; on a fast machine that can be past the next epoch too
    assert position["epoch"] >= (1 if last > epoch_end else 0)
    if position["epoch"] == 1:
        assert position["index"] == last - epoch_end

    result = train_generator(two_to_one, _config(4, 30), resume=True)  # 2 x 4 streams -> 1 x 4
    assert result.steps == 30 and result.stopped == "max_steps" and sorted(_records(two_to_one, "val")) == [10, 20, 30]
    position = torch.load(two_to_one / "generator.resume.pt", weights_only=True)["position"]
    assert (position["world_size"], position["epoch"], position["index"]) == (1, 0, 20 * 8 // 4 + 10)


def test_resume_layout_keeps_rows_or_share_of_epoch() -> None:
    h = torch.arange(2 * 8 * 3, dtype=torch.float32).view(2, 8, 3)  # [layers, streams, hidden]
    mem = torch.arange(8 * 5 * 3, dtype=torch.float32).view(8, 5, 3)  # attention memory [streams, W, dim]
    rank1 = DistContext(rank=1, world_size=2)
    index, state = resume_layout(rank1, {"index": 7, "batch_size": 8, "world_size": 1}, [h, h, mem], 4)
    assert index == 7 and state is not None
    assert torch.equal(state[0], h[:, 4:]) and torch.equal(state[2], mem[4:])
    index, state = resume_layout(rank1, {"index": 7, "batch_size": 8, "world_size": 1}, [h, h, mem], 8)
    assert index == 3 and state is None  # 16 streams are half as long: 7 chunks of 8 rows = 3 of 16
    assert resume_layout(DistContext(), {"index": 3, "batch_size": 8, "world_size": 2}, [], 8)[0] == 6


def test_half_set_torchrun_environment_is_a_one_line_error() -> None:
    assert torchrun_env({}) is None
    with pytest.raises(UsageError, match=r"half set .*WORLD_SIZE, MASTER_ADDR, MASTER_PORT missing") as exc:
        torchrun_env({"RANK": "0"})
    assert "\n" not in str(exc.value)
    full = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    assert torchrun_env(full) == {"rank": 1, "world_size": 2, "local_rank": 1, "master": "127.0.0.1:1"}
    with pytest.raises(UsageError, match="outside WORLD_SIZE"):
        torchrun_env({**full, "RANK": "2"})


def test_half_set_environment_fails_the_cli(vocab_run_dir: Path) -> None:
    env = {**_env(), "RANK": "0"}
    cmd = [sys.executable, "-m", "textgen", "train", "--run-dir", str(vocab_run_dir), *SMALL, "--max-steps", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: torchrun environment half set")


def test_world_size_larger_than_streams_errors_once_and_every_rank_exits(vocab_run_dir: Path) -> None:
    n = len(io.read_npy(vocab_run_dir / "train_ids.npy"))
    bptt = str(n // 2 + 1)  # one stream of bptt+1 tokens fits, two do not
    args = ["--run-dir", str(vocab_run_dir), *SMALL[:4], "--bptt", bptt, "--batch-size", "1", "--max-steps", "1"]
    proc = _torchrun(args, vocab_run_dir.parent)
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error:")]
    assert proc.returncode != 0
    assert errors == [errors[0]] and "world size 2 is larger than the 1 training streams" in errors[0]
    assert "exitcode  : 2" in proc.stderr and "rank      : 1" in proc.stderr  # rank 1 exited too, silently
    assert not (vocab_run_dir / "generator.safetensors").exists()


# ----- collectives in spawned processes ------------------------------------------------------------
def _worker(rank: int, port: int, run_dirs: list[str], out: str) -> None:
    from textgen.lm.collectives import from_env, gather_streams

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist = from_env("cpu")
    try:
        report: dict[str, Any] = {"any": dist.any(rank == 1)}
        h = torch.full((1, 2, 3), float(rank))
        report["gathered"] = gather_streams(dist, [h])[0][0, :, 0].tolist()
        # only rank 1 runs out of time: both stop after the same step
        cfg = _config(2, 50, max_seconds=1e-9 if rank == 1 else None, eval_every=1000)
        result = train_generator(run_dirs[0], cfg, dist=dist)
        report["stop"] = [result.stopped, result.steps]
        try:
            train_generator(run_dirs[rank], _config(2, 5), dist=dist)
        except ArtifactError as exc:
            report["error"] = str(exc)
        torch.save(report, f"{out}.{rank}")
    finally:  # spawn's children skip atexit: leave the group together, as textgen's torchrun main does
        dist.close()


def test_ranks_agree_on_stops_and_reject_different_vocabularies(vocab_run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(vocab_run_dir, other)
    vocab = io.read_json(other / "vocab.json")
    vocab["itos"][-1] += "x"  # a different vocabulary on rank 1 (same size)
    vocab.pop("sha256", None)
    io.write_json(other / "vocab.json", vocab)
    out = str(tmp_path / "report")
    torch.multiprocessing.spawn(_worker, args=(free_port(), [str(vocab_run_dir), str(other)], out), nprocs=2)
    reports = [torch.load(f"{out}.{r}", weights_only=True) for r in range(2)]
    for rep in reports:
        assert rep["any"] is True and rep["gathered"] == [0.0, 0.0, 1.0, 1.0]
        assert rep["stop"] == ["max_seconds", 1]
        assert "rank 1 has a different vocabulary than rank 0" in rep["error"] and "\n" not in rep["error"]
    assert reports[0]["error"] == reports[1]["error"]


# ----- the pipeline hand-off -----------------------------------------------------------------------
def test_pipeline_hands_the_generator_stage_to_torchrun(vocab_run_dir_session: Path, tmp_path: Path) -> None:
    from textgen.pipeline.runner import Runner
    from textgen.pipeline.spec import load_spec

    spec_file = tmp_path / "ddp.yaml"
    spec_file.write_text(
        "run_dir: unused\nstages:\n  build-vocab:\n    params:\n      corpus: fixture\n"
        "    outs: [vocab.json, train_ids.npy, val_ids.npy, corpus.json]\n  train-generator:\n    params:\n"
        "      emb_dim: 16\n      hidden: 32\n      batch_size: 4\n      bptt: 16\n      epochs: 1\n"
        "      max_steps: 6\n      eval_every: 3\n      warmup_steps: 2\n      embeddings: none\n"
        "    outs: [generator.safetensors, generator.json, metrics.jsonl]\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    shutil.copytree(vocab_run_dir_session, run_dir)
    spec = load_spec(spec_file, ["train-generator.nproc_per_node=2", "train-generator.device=cpu"])
    logs: list[str] = []
    report = Runner(spec, run_dir).run(
        from_="train-generator", until="train-generator", on_event=lambda e: logs.append(e.message or "")
    )
    assert "train-generator" in report.ran
    assert any("stopped: max_steps after 6 steps" in m for m in logs)
    assert sorted(_records(run_dir, "val")) == [3, 6] and _records(run_dir, "val")[6]["tokens"] == 6 * 8 * 16
    assert io.read_json(run_dir / "generator.json")["metrics"]["val_bpb"] < uniform_bpb(run_dir)  # 6 steps learned
    lock = io.read_json(run_dir / "pipeline.lock")
    assert lock["steps"]["train-generator"]["params"]["nproc_per_node"] == 2
    from typer.testing import CliRunner

    from textgen.cli import app

    base = ["run", str(spec_file), "--run-dir", str(run_dir), "--dry-run", "--set", "train-generator.device=cpu"]
    same = CliRunner().invoke(app, [*base, "--nproc-per-node", "2"])
    assert same.exit_code == 0 and "params changed" not in same.output
    fewer = CliRunner().invoke(app, [*base, "--nproc-per-node", "1"])
    assert fewer.exit_code == 0 and "nproc_per_node 2 -> 1" in fewer.output
