"""Training on the fixture corpus: artifacts, determinism, resume, Ctrl-C, kill -9, bad input."""

from __future__ import annotations

import os
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
from safetensors.torch import load_file

from textgen import io
from textgen.errors import ArtifactError, DeviceError, MissingArtifactError
from textgen.lm import checkpoint as ckpt
from textgen.lm.checkpoint import load_generator
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.evaluate import evaluate_run
from textgen.lm.pretrained import load_matrix
from textgen.lm.train import train_generator
from textgen.vocab import Vocab


def small(arch: str = "lstm", **train: Any) -> GeneratorConfig:
    opts: dict[str, Any] = dict(batch_size=4, bptt=16, epochs=1, eval_every=10, log_every=5, threads=1)
    opts.update(train)
    return GeneratorConfig(ModelConfig(arch=arch, emb_dim=16, hidden=24, attn_window=8), TrainConfig(**opts))


def resume_model(run: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_resume(run)["model"]


@pytest.mark.parametrize("arch", ["lstm", "attention"])
def test_train_writes_a_loadable_best_checkpoint(vocab_run_dir: Path, arch: str) -> None:
    events: list[str] = []
    result = train_generator(vocab_run_dir, small(arch, max_steps=30), lambda kind, info: events.append(kind))
    assert result.stopped == "max_steps" and result.steps == 30
    for name in ("generator.safetensors", "generator.json", "generator.resume.pt", "metrics.jsonl", "loss_curve.png"):
        assert (vocab_run_dir / name).is_file(), name
    assert events[0] == "start" and "step" in events and "eval" in events
    vals = [r["val_bpb"] for r in result.validations]
    assert result.best_val_bpb == min(vals) and len(vals) == 3
    meta = io.read_json(vocab_run_dir / "generator.json")
    vocab = Vocab.load(vocab_run_dir / "vocab.json")
    assert meta["arch"] == arch and meta["vocab_sha256"] == vocab.sha256() and meta["seed"] == 0
    assert meta["versions"]["torch"] == torch.__version__ and meta["tokenizer"]["lang"] == "en"
    assert meta["metrics"]["val_bpb"] == result.best_val_bpb and meta["metrics"]["training"]["steps"] == 30
    records = io.read_jsonl(vocab_run_dir / "metrics.jsonl")
    assert {r["kind"] for r in records} == {"train", "val"}
    model, config, loaded_vocab = load_generator(vocab_run_dir)
    assert not model.training and config.model.arch == arch and len(loaded_vocab) == config.model.vocab_size
    ev = evaluate_run(vocab_run_dir, device="cpu")
    assert ev.val_bpb == pytest.approx(result.best_val_bpb, rel=1e-6)
    assert ev.tokens == io.read_json(vocab_run_dir / "corpus.json")["val_tokens"]


def test_same_seed_same_weights_and_resume_is_exact(vocab_run_dir: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(vocab_run_dir, other)
    split = tmp_path / "split"
    shutil.copytree(vocab_run_dir, split)
    full = train_generator(vocab_run_dir, small(max_steps=40, epochs=3))
    again = train_generator(other, small(max_steps=40, epochs=3))
    assert [v["val_bpb"] for v in full.validations] == [v["val_bpb"] for v in again.validations]
    a, b = resume_model(vocab_run_dir), resume_model(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # 40 steps == 20 steps, stop, then resume to 40
    first = train_generator(split, small(max_steps=20, epochs=3))
    assert first.steps == 20
    second = train_generator(split, small(max_steps=40, epochs=3), resume=True)
    assert second.steps == 40
    c = resume_model(split)
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert [v["val_bpb"] for v in second.validations] == [v["val_bpb"] for v in full.validations]
    assert (
        ckpt.load_resume(split)["optimizer"]["param_groups"][0]["lr"]
        == ckpt.load_resume(vocab_run_dir)["optimizer"]["param_groups"][0]["lr"]
    )


def test_resume_across_an_epoch_boundary_is_exact(vocab_run_dir: Path, tmp_path: Path) -> None:
    import shutil

    split = tmp_path / "split"
    shutil.copytree(vocab_run_dir, split)
    cfg = dict(batch_size=8, eval_every=7, epochs=3)  # 26 chunks per epoch
    train_generator(vocab_run_dir, small(max_steps=35, **cfg))
    train_generator(split, small(max_steps=21, **cfg))
    train_generator(split, small(max_steps=35, **cfg), resume=True)
    a, c = resume_model(vocab_run_dir), resume_model(split)
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_ctrl_c_saves_and_resume_continues(vocab_run_dir: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        pytest.skip("this test process was started with SIGINT ignored (a background job)")

    def progress(kind: str, info: dict[str, Any]) -> None:
        if kind == "step" and info["step"] == 15:
            os.kill(os.getpid(), signal.SIGINT)

    result = train_generator(vocab_run_dir, small(max_steps=40, log_every=5), progress)
    assert result.interrupted and result.steps in (15, 16)
    assert ckpt.load_resume(vocab_run_dir)["position"]["step"] == result.steps
    load_generator(vocab_run_dir)  # a validated checkpoint exists
    after = train_generator(vocab_run_dir, small(max_steps=40), resume=True)
    assert after.steps == 40 and after.stopped == "max_steps"
    assert signal.getsignal(signal.SIGINT) is before


_KILL_SCRIPT = """
import sys
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
from textgen.lm.train import train_generator
cfg = GeneratorConfig(ModelConfig(emb_dim=16, hidden=24, attn_window=8),
                      TrainConfig(batch_size=4, bptt=16, epochs=1000, eval_every=3, log_every=3, threads=1,
                                  patience=10**6))
train_generator(sys.argv[1], cfg)
"""


def test_kill_9_leaves_the_last_checkpoint_intact(vocab_run_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(vocab_run_dir)])
    try:
        deadline = time.time() + 40
        while time.time() < deadline:
            vals = [r for r in io.read_jsonl(vocab_run_dir / "metrics.jsonl") if r.get("kind") == "val"]
            if len(vals) >= 4:
                break
            time.sleep(0.05)
        else:
            pytest.fail("training subprocess wrote no checkpoints")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    model, config, _ = load_generator(vocab_run_dir)  # never a torn file
    assert config.metrics["step"] >= 3
    payload = ckpt.load_resume(vocab_run_dir)
    step = payload["position"]["step"]
    assert step >= 3 and step % 3 == 0
    result = train_generator(vocab_run_dir, small(max_steps=step + 4, epochs=1000), resume=True)
    assert result.steps == step + 4


def test_corrupt_checkpoints_are_one_line_errors(vocab_run_dir: Path) -> None:
    train_generator(vocab_run_dir, small(max_steps=10))
    before = (vocab_run_dir / "generator.safetensors").read_bytes()
    resume = vocab_run_dir / "generator.resume.pt"
    resume.write_bytes(resume.read_bytes()[:200])
    with pytest.raises(ArtifactError, match="corrupt or truncated.*without --resume"):
        train_generator(vocab_run_dir, small(max_steps=20), resume=True)
    assert (vocab_run_dir / "generator.safetensors").read_bytes() == before  # untouched
    (vocab_run_dir / "generator.safetensors").write_bytes(before[: len(before) // 2])
    with pytest.raises(ArtifactError, match="corrupt or truncated"):
        load_generator(vocab_run_dir)
    resume.unlink()
    with pytest.raises(MissingArtifactError, match="without --resume"):
        train_generator(vocab_run_dir, small(max_steps=20), resume=True)


def test_missing_inputs_name_the_command(tmp_path: Path, vocab_run_dir: Path) -> None:
    with pytest.raises(MissingArtifactError, match="textgen build-vocab"):
        train_generator(tmp_path / "empty", small())
    (vocab_run_dir / "val_ids.npy").unlink()
    with pytest.raises(MissingArtifactError, match="val_ids.npy.*textgen build-vocab"):
        train_generator(vocab_run_dir, small())
    with pytest.raises(MissingArtifactError, match="textgen train"):
        load_generator(vocab_run_dir)


def test_embeddings_seed_the_layer_with_coverage(vocab_run_dir: Path) -> None:
    vocab = Vocab.load(vocab_run_dir / "vocab.json")
    gen = torch.Generator().manual_seed(0)
    vectors = torch.randn(len(vocab), 24, generator=gen)
    vectors[100:] = 0  # words the embeddings stage skipped
    io.save_tensors(vocab_run_dir / "embeddings.safetensors", {"embeddings": vectors})
    io.write_json(vocab_run_dir / "embeddings.json", {"vocab_sha256": vocab.sha256(), "dim": 24})
    cfg = small(max_steps=1)
    cfg.model = replace(cfg.model, emb_dim=0)  # automatic: the vectors' width
    result = train_generator(vocab_run_dir, cfg)
    info = result.embeddings
    assert info["rows_from_vectors"] == 100 and info["rows_filled"] == len(vocab) - 100
    assert info["emb_dim"] == 24 and info["projected"] is None
    projected = train_generator(vocab_run_dir, small(max_steps=1))  # emb_dim 16 < 24: PCA
    assert projected.embeddings["projected"] == "pca"
    seeded, _ = load_matrix(vocab_run_dir / "embeddings.safetensors", vocab, 16, seed=0)
    train_generator(vocab_run_dir, small(max_steps=5, freeze_embeddings=True))
    assert torch.equal(load_file(str(vocab_run_dir / "generator.safetensors"))["embedding.weight"], seeded)
    train_generator(vocab_run_dir, small(max_steps=5))
    assert not torch.equal(load_file(str(vocab_run_dir / "generator.safetensors"))["embedding.weight"], seeded)
    io.write_json(vocab_run_dir / "embeddings.json", {"vocab_sha256": "0" * 64, "dim": 24})  # an older file
    with pytest.raises(ArtifactError, match="different vocabulary.*--embeddings none"):
        train_generator(vocab_run_dir, small(max_steps=1))
    io.save_tensors(vocab_run_dir / "embeddings.safetensors", {"embeddings": vectors}, {"vocab_sha256": "1" * 64})
    with pytest.raises(ArtifactError, match="different vocabulary.*--embeddings none"):  # the header's own
        train_generator(vocab_run_dir, small(max_steps=1))
    no_emb = small(max_steps=1, embeddings="none")
    assert train_generator(vocab_run_dir, no_emb).embeddings == {"source": None}


def test_compile_and_bf16_paths_run_on_cpu(vocab_run_dir: Path) -> None:
    compiled = small("attention", max_steps=8, amp="bf16", compile=True, compile_backend="eager")
    fast = train_generator(vocab_run_dir, compiled)
    plain = train_generator(vocab_run_dir, small("attention", max_steps=8, amp="off"))
    assert fast.steps == 8 and fast.best_val_bpb is not None and plain.best_val_bpb is not None
    assert fast.best_val_bpb < uniform_bpb(vocab_run_dir)  # it learns in bf16, compiled ...
    assert fast.best_val_bpb == pytest.approx(plain.best_val_bpb, rel=0.02)  # ... as it does in fp32


def test_out_of_memory_suggests_a_smaller_batch(vocab_run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textgen.lm import train as train_mod

    train_generator(vocab_run_dir, small(max_steps=10))
    before = (vocab_run_dir / "generator.safetensors").read_bytes()

    def boom(self: Any, x: Any, y: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(train_mod.Trainer, "train_step", boom)
    with pytest.raises(DeviceError, match="--batch-size 2"):
        train_generator(vocab_run_dir, small(max_steps=20), resume=True)
    assert (vocab_run_dir / "generator.safetensors").read_bytes() == before
