"""Hyperparameters of the embedding stage, validated before any work starts."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from textgen.errors import DeviceError, UsageError

Backend = Literal["auto", "torch", "gensim"]
Optimizer = Literal["sgd", "sparse_adam"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Skip-gram negative sampling settings (word2vec's defaults, gensim's names in comments).

    ``batch_size`` counts centre words per torch step; ``min_count`` applies on top of the
    vocabulary's own; ``workers`` 0 means one per CPU core for gensim and one thread for torch.
    """

    dim: int = 100  # vector_size
    epochs: int = 5
    window: int = 5
    negatives: int = 5  # negative
    min_count: int = 5
    sample: float = 1e-3
    ns_exponent: float = 0.75
    lr: float | None = None  # alpha; None: 0.025 for sgd, 0.001 for sparse_adam
    batch_size: int = 256  # 128 no better with the +-1/dim init, 1.3x slower; 1024 lost ~30% analogy (stale sums)
    backend: Backend = "auto"
    optimizer: Optimizer = "sgd"
    device: str = "auto"
    seed: int = 0
    workers: int = 0
    neg_group: int = 16  # torch: centres that share one draw of negatives
    neg_pool: int = 32  # torch: negatives drawn per group (each weighted negatives/neg_pool)
    step_cap: float = 4.0  # torch sgd: per-row lr <= step_cap / (summed |g| |u|^2 of the row in the step); 0 off

    def validate(self) -> EmbeddingConfig:
        """Raise :class:`UsageError` naming the first nonsense value; return self."""
        checks: list[tuple[bool, str]] = [
            (self.dim >= 1, f"--dim must be at least 1, got {self.dim}"),
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.window >= 1, f"--window must be at least 1, got {self.window}"),
            (self.negatives >= 1, f"--negatives must be at least 1, got {self.negatives}"),
            (self.min_count >= 1, f"--min-count must be at least 1, got {self.min_count}"),
            (0 <= self.sample < 1, f"--sample must be in [0, 1) (0 disables subsampling), got {self.sample}"),
            (-5 <= self.ns_exponent <= 5, f"--ns-exponent must be in [-5, 5], got {self.ns_exponent}"),
            (self.lr is None or 0 < self.lr < float("inf"), f"--lr must be positive and finite, got {self.lr}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.backend in ("auto", "torch", "gensim"), f"--backend must be auto, torch or gensim: {self.backend!r}"),
            (self.optimizer in ("sgd", "sparse_adam"), f"--optimizer must be sgd or sparse_adam: {self.optimizer!r}"),
            (self.workers >= 0, f"--workers must be 0 (one per core) or more, got {self.workers}"),
            (self.neg_group >= 1 and self.neg_pool >= 1, "neg_group and neg_pool must be at least 1"),
            (self.step_cap >= 0, f"step_cap must be 0 (off) or positive, got {self.step_cap}"),
            (self.seed >= 0, f"--seed must be non-negative, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise UsageError(f"--device must be auto, cpu or cuda[:N], got {self.device!r}")
        return self

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.025 if self.optimizer == "sgd" else 0.001

    @property
    def threads(self) -> int:
        """gensim worker threads (0: one per core)."""
        return self.workers or os.cpu_count() or 1

    @property
    def torch_threads(self) -> int:
        """torch CPU threads (0: one; on a busy 2-core machine two OpenMP threads ran 15x slower)."""
        return self.workers or 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lr"] = self.learning_rate
        return data


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without CUDA -> :class:`DeviceError`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device} requested but CUDA is not available; use --device cpu")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s); pick another")
    return device


def resolve_backend(config: EmbeddingConfig, device: str) -> str:
    """``auto`` -> torch on CUDA, gensim on CPU; gensim cannot use a GPU."""
    if config.backend == "auto":
        return "torch" if device.startswith("cuda") else "gensim"
    if config.backend == "gensim" and device.startswith("cuda"):
        raise UsageError("--backend gensim runs on CPU only; use --backend torch with --device cuda")
    if config.backend == "gensim" and config.optimizer != "sgd":
        raise UsageError("--optimizer sparse_adam needs --backend torch")
    return config.backend
