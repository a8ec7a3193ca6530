"""The training loop: ``train_generator(run_dir, config, progress)``.

Language-model targets at every position of contiguous streams, truncated BPTT (state carried
between chunks and detached), AdamW with warm-up and plateau/cosine decay, gradient clipping,
validation every ``eval_every`` steps and at each epoch end, best checkpoint kept, early stopping.
Ctrl-C stops at the next step boundary, validates, saves and returns (``stopped="interrupted"``).
Everything a process shares with others goes through a :class:`DistContext` (one process by
default); only the main process writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from textgen import device as devices
from textgen import io
from textgen.errors import ArtifactError, DeviceError
from textgen.lm import checkpoint as ckpt
from textgen.lm import pretrained
from textgen.lm.collectives import LOCAL, DistContext, gather_streams, prepare_run, resume_layout
from textgen.lm.config import RESUMABLE, GeneratorConfig
from textgen.lm.data import ChunkBatcher, RareTokens, batchify
from textgen.lm.evaluate import corpus_stats, result_from_sums, score
from textgen.lm.interrupt import StopOnSigint
from textgen.lm.model import build_model
from textgen.lm.ngram import Ngram
from textgen.lm.schedule import LRSchedule
from textgen.lm.setup import LMStep, resolve_config, resumed_config
from textgen.rundir import RunDir
from textgen.vocab import Vocab

ProgressFn = Callable[[str, dict[str, Any]], None]
METRICS = "metrics.jsonl"
PLOT = "loss_curve.png"


@dataclass
class TrainResult:
    """What a training run did; ``stopped`` is why it ended."""

    best_val_bpb: float | None
    best_step: int | None
    steps: int
    tokens: int
    train_seconds: float
    stopped: str
    embeddings: dict[str, Any] = field(default_factory=dict)
    validations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return self.stopped == "interrupted"


class Trainer:
    """State of one training run; :func:`train_generator` is the entry point."""

    def __init__(
        self, rd: RunDir, config: GeneratorConfig, vocab: Vocab, progress: ProgressFn | None, dist: DistContext
    ) -> None:
        self.rd, self.config, self.vocab, self.dist = rd, config, vocab, dist
        self.progress = progress if (progress is not None and dist.is_main) else (lambda kind, info: None)
        cfg = self.cfg = config.train
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = devices.resolve(cfg.device)
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        if self.amp and self.device.type == "cpu":
            devices.cpu_bf16_lstm()  # probed now, not while torch.compile traces the model
        torch.manual_seed(cfg.seed)
        self.model = build_model(config.model)
        self.stats = corpus_stats(rd.root)
        train_ids = vocab.read_ids(rd / "train_ids.npy")
        if config.model.ngram_order > 0:  # deterministic, so a resumed run counts the same tables again
            self.model.ngram = Ngram.fit(train_ids, config.model.ngram_order, len(vocab), vocab.eos_id)
        # batches come straight from the memory map: this rank's rows are a view, each chunk copies its window
        rows = batchify(train_ids, cfg.batch_size, dist.rank, dist.world_size)
        rare = RareTokens.of(vocab.counts, vocab.unk_id, cfg.unk_replace, cfg.seed)
        self.batcher = ChunkBatcher(rows, cfg.bptt, cfg.seed, rare=rare, pin=self.device.type == "cuda")
        self.val_ids = vocab.read_ids(rd / "val_ids.npy")
        if len(self.val_ids) == 0:
            raise ArtifactError(
                f"{rd / 'val_ids.npy'} is empty, so val_bpb cannot be measured; "
                f"rerun `textgen build-vocab --run-dir {rd.root}` with a larger --val-fraction"
            )
        per_epoch = self.batcher.chunks_in_epoch(0)
        total = per_epoch * cfg.epochs
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        self.schedule = LRSchedule(cfg, self.total_steps)
        self.step = self.epoch = self.index = self.tokens = self.bad_evals = 0
        self.train_seconds = 0.0
        self.best: dict[str, Any] | None = None
        self.last_eval_step = -1
        self.validations: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []  # this run's log, rewritten whole into metrics.jsonl
        self.run_id = run_fingerprint(config)
        self.state: tuple[Tensor, ...] | None = None

    # -- setup -----------------------------------------------------------------------------------
    def seed_embeddings(self) -> dict[str, Any]:
        path = pretrained.resolve_path(self.rd, self.cfg.embeddings)
        info: dict[str, Any] = {"source": None}
        if path is not None:
            matrix, info = pretrained.load_matrix(path, self.vocab, self.config.model.emb_dim, self.cfg.seed)
            if path.parent.resolve() == self.rd.root.resolve():  # the run's own vectors: a name, not a path
                info["source"] = path.name
            with torch.no_grad():
                self.model.embedding.weight.copy_(matrix)
        return info

    def build_optimizer(self) -> None:
        self.model.to(self.device)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        opt_cls = torch.optim.AdamW if self.cfg.optimizer == "adamw" else torch.optim.Adam
        # one fused kernel instead of a loop of elementwise ops over the 4M-weight embedding: the
        # optimizer step 34 -> 3.5 ms on one CPU thread, +8% training tokens/s (bench/BENCHMARKS.md)
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.optimizer = opt_cls(groups, lr=self.cfg.lr, fused=fused)
        runner: nn.Module = self.dist.wrap(LMStep(self.model, self.cfg.ar, self.cfg.tar))
        self.runner = torch.compile(runner, backend=self.cfg.compile_backend) if self.cfg.compile else runner

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue exactly where the resume file stopped."""
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.schedule.load_state_dict(payload["schedule"])
            torch.set_rng_state(payload["rng"]["torch"])
            if self.device.type == "cuda" and payload["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(payload["rng"]["cuda"])
            pos = payload["position"]
            self.step, self.epoch, self.index = int(pos["step"]), int(pos["epoch"]), int(pos["index"])
            self.tokens, self.train_seconds = int(pos["tokens"]), float(pos["train_seconds"])
            self.bad_evals, self.last_eval_step = int(pos["bad_evals"]), int(pos["last_eval_step"])
            self.best = json.loads(payload["best"]) if payload.get("best") else None
            self.validations = json.loads(payload.get("validations", "[]"))
            self.run_id = str(payload.get("run", self.run_id))
            if "records" in payload:
                self.records = json.loads(payload["records"])
            else:  # written before the log moved into the resume file
                self.records = [r for r in io.read_jsonl(self.rd / METRICS) if r.get("step", 0) <= self.step]
            # same global stream count: this rank's rows of the saved state; else keep the epoch's share
            self.index, rows = resume_layout(self.dist, pos, payload.get("state"), self.cfg.batch_size)
            self.state = tuple(s.to(self.device) for s in rows) if rows else None
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ArtifactError(
                f"resume file {self.rd / ckpt.RESUME} does not fit this run ({exc}); train without --resume"
            ) from exc
        self._check_best(payload)

    def _check_best(self, payload: dict[str, Any]) -> None:
        """After a kill between the resume file and the best model: the best on disk may not be this run's."""
        if self.best is None or "run" not in payload:
            return
        path = self.rd / ckpt.WEIGHTS
        meta = io.read_metadata(path) if path.is_file() else {}
        if (meta.get("run"), meta.get("step")) != (self.run_id, self.best.get("step")):
            self.best = None  # the next validation writes this run's model

    # -- checkpoints ---------------------------------------------------------------------------
    def save_resume(self) -> None:
        state = gather_streams(self.dist, self.state) if self.state is not None else []  # every rank's rows
        if not self.dist.is_main:
            return
        payload = {
            "format_version": 2,
            "run": self.run_id,
            "records": json.dumps(self.records),
            "config": json.dumps(self.config.to_dict()),
            "vocab_sha256": self.vocab.sha256(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            },
            "position": {
                "step": self.step,
                "epoch": self.epoch,
                "index": self.index,
                "tokens": self.tokens,
                "train_seconds": self.train_seconds,
                "bad_evals": self.bad_evals,
                "last_eval_step": self.last_eval_step,
                "world_size": self.dist.world_size,
                "rank": self.dist.rank,
                "batch_size": self.cfg.batch_size,
            },
            "state": [s.cpu() for s in state],
            "best": json.dumps(self.best) if self.best else "",
            "validations": json.dumps(self.validations),
        }
        ckpt.save_resume(self.rd.root, payload)

    def validate(self) -> None:
        ids = self.val_ids if self.cfg.eval_tokens is None else self.val_ids[: self.cfg.eval_tokens]
        nll, n = score(
            self.model,
            ids,
            self.vocab.eos_id,
            bptt=max(self.cfg.bptt, 64),
            device=self.device,
            autocast=self.amp,
            dist=self.dist,
        )
        n_bytes = int(self.stats["val_bytes"]) * len(ids) // max(1, len(self.val_ids))
        res = result_from_sums(nll, n, max(1, n_bytes), self.stats.get("val_oov_rate"))
        improved = self.best is None or res.val_bpb < self.best["val_bpb"]
        record = {
            "kind": "val",
            "step": self.step,
            "epoch": self.epoch,
            "tokens": self.tokens,
            "train_seconds": round(self.train_seconds, 3),
            "val_loss": res.loss,
            "val_bpb": res.val_bpb,
            "val_ppl": res.perplexity,
            "val_tokens": res.tokens,
            "improved": improved,
        }
        self.validations.append(record)
        self.last_eval_step = self.step
        if improved:
            self.best = record
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        self.schedule.on_validation(improved)
        self.log(record)
        # Three files, each atomic, in an order a kill between any two cannot make inconsistent:
        # the resume file first (what --resume continues from), then the best model (checked
        # against the resume file's best on resume), then the log.
        self.save_resume()
        if improved and self.dist.is_main:
            # no timing in the model's header: seeded runs give the same bytes
            metrics = {k: v for k, v in record.items() if k != "train_seconds"}
            metrics |= {"val_bytes": res.bytes, "val_oov_rate": res.val_oov_rate}
            ckpt.save_generator(self.rd.root, self.model, replace(self.config, metrics=metrics), self.run_id)
        self.write_metrics()
        self.progress("eval", record)

    def log(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            self.records.append(record)

    def write_metrics(self) -> None:
        if self.dist.is_main:
            io.write_text(self.rd / METRICS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))

    # -- the loop --------------------------------------------------------------------------------
    def set_frozen(self) -> None:
        cfg = self.cfg
        frozen = cfg.freeze_embeddings and (cfg.unfreeze_after is None or self.epoch < cfg.unfreeze_after)
        self.model.embedding.weight.requires_grad_(not frozen)

    def train_step(self, x: Tensor, y: Tensor) -> Tensor:
        lr = self.schedule.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()
        with amp:
            objective, loss, self.state = self.runner(x, y, self.state)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if self.cfg.clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        return loss.detach()

    def stop_reason(self, interrupted: bool) -> str | None:
        cfg = self.cfg
        if self.dist.any(interrupted):
            return "interrupted"
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "max_steps"
        if self.dist.any(cfg.max_seconds is not None and self.train_seconds >= cfg.max_seconds):
            return "max_seconds"
        if self.bad_evals >= cfg.patience:
            return "early_stop"
        return None

    def run(self, stop: StopOnSigint) -> str:
        cfg = self.cfg
        run_loss = torch.zeros((), device=self.device)
        run_steps, window_start, window_tokens = 0, self.train_seconds, 0
        self.progress(
            "start",
            {
                "total_steps": self.total_steps,
                "max_seconds": cfg.max_seconds,
                "step": self.step,
                "train_seconds": self.train_seconds,
                "embeddings": self.config.embeddings,
                "device": str(self.device),
            },
        )
        reason = self.stop_reason(stop.requested)  # a resumed run may already be done
        if reason:
            return reason
        while self.epoch < cfg.epochs:
            self.set_frozen()
            if self.state is None:
                self.state = self.model.init_state(cfg.batch_size, self.device)
            for index, x, y in self.batcher.iter_epoch(self.epoch, self.index):
                t0 = time.perf_counter()
                run_loss += self.train_step(x, y)
                self.step, self.index = self.step + 1, index + 1
                self.tokens += x.numel() * self.dist.world_size
                window_tokens += x.numel() * self.dist.world_size
                run_steps += 1
                if self.step % cfg.log_every == 0:
                    loss = float(self.dist.all_reduce_sum(run_loss)) / run_steps / self.dist.world_size  # 1 sync
                    self.train_seconds += time.perf_counter() - t0
                    rate = window_tokens / max(1e-9, self.train_seconds - window_start)
                    record = {
                        "kind": "train",
                        "step": self.step,
                        "epoch": self.epoch,
                        "loss": loss,
                        "ppl": math.exp(min(loss, 700.0)),
                        "lr": self.schedule.lr(self.step - 1),
                        "tokens": self.tokens,
                        "tokens_per_s": rate,
                        "train_seconds": round(self.train_seconds, 3),
                    }
                    self.log(record)
                    self.progress("step", record)
                    run_loss.zero_()
                    run_steps, window_start, window_tokens = 0, self.train_seconds, 0
                else:
                    self.train_seconds += time.perf_counter() - t0
                if self.step % cfg.eval_every == 0:
                    self.validate()
                reason = self.stop_reason(stop.requested)
                if reason:
                    return reason
            self.epoch, self.index, self.state = self.epoch + 1, 0, None
            if self.last_eval_step != self.step:
                self.validate()
            reason = self.stop_reason(stop.requested)
            if reason:
                return reason
        return "epochs"

    def finish(self, stopped: str, embeddings: dict[str, Any]) -> TrainResult:
        if self.last_eval_step != self.step or self.best is None:
            self.validate()
        if self.dist.is_main:
            from textgen.lm.plots import plot_loss_curve

            self.write_metrics()
            plot_loss_curve(self.records, self.rd / PLOT)
            config = ckpt.read_config(self.rd.root)
            config.metrics["training"] = {
                "stopped": stopped,
                "steps": self.step,
                "tokens": self.tokens,
                "train_seconds": round(self.train_seconds, 3),
            }
            io.write_json(self.rd / ckpt.CONFIG, config.to_dict())
        best = self.best or {}
        return TrainResult(
            best.get("val_bpb"),
            best.get("step"),
            self.step,
            self.tokens,
            self.train_seconds,
            stopped,
            embeddings,
            self.validations,
        )


def run_fingerprint(config: GeneratorConfig) -> str:
    """Which run a checkpoint belongs to: the settings that fix its course (not where or when it stops)."""
    import hashlib

    train = {k: v for k, v in config.train.to_dict().items() if k not in RESUMABLE}
    blob = json.dumps({"model": config.model.to_dict(), "train": train, "vocab": config.vocab_sha256}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_generator(
    run_dir: str | os.PathLike[str],
    config: GeneratorConfig | None = None,
    progress: ProgressFn | None = None,
    *,
    resume: bool = False,
    dist: DistContext = LOCAL,
) -> TrainResult:
    """Train (or with ``resume``, continue) the run's generator; returns how it went."""
    rd = RunDir.of(run_dir)
    rd.require("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json")
    vocab = Vocab.load(rd / "vocab.json")
    payload = ckpt.load_resume(rd.root) if resume else None
    if payload is not None:
        if payload.get("vocab_sha256") != vocab.sha256():
            raise ArtifactError(f"{rd / ckpt.RESUME} was trained on a different vocabulary; train without --resume")
        config = resumed_config(payload, config, str(rd / ckpt.RESUME))
    else:
        config = resolve_config(config, vocab, rd)
    prepare_run(dist, vocab.sha256(), len(vocab.read_ids(rd / "train_ids.npy")), config.train)
    if dist.is_main:
        rd.ensure_writable()
    trainer = Trainer(rd, replace(config, versions=ckpt.versions()), vocab, progress, dist)
    embeddings = config.embeddings
    if payload is None:
        embeddings = trainer.seed_embeddings()
        trainer.config = replace(trainer.config, embeddings=embeddings)
    trainer.build_optimizer()
    if payload is not None:
        trainer.restore(payload)
    with StopOnSigint() as stop:
        try:
            stopped = trainer.run(stop)
        except torch.OutOfMemoryError as exc:
            b = trainer.cfg.batch_size
            raise DeviceError(
                f"out of memory on {trainer.device} with --batch-size {b}; retry with --batch-size {max(1, b // 2)}"
            ) from exc
    return trainer.finish(stopped, embeddings)
