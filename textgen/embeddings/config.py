"""Hyperparameters of skip-gram negative sampling, checked before any work starts."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from textgen import device as devices
from textgen import options
from textgen.errors import UsageError
from textgen.options import Problem, option

Backend = Literal["auto", "torch", "gensim"]
Optimizer = Literal["sgd", "sparse_adam"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Skip-gram negative sampling settings (word2vec's defaults; gensim's names in the help).

    ``batch_size`` counts centre words per torch step; ``min_count`` applies on top of the
    vocabulary's own; ``workers`` 0 means one per CPU core for gensim and one thread for torch.
    """

    dim: int = option(100, "Vector size (gensim: vector_size).", min=1)
    epochs: int = option(5, "Passes over the training split.", min=1)
    window: int = option(5, "Maximum context distance (each centre draws 1..window).", min=1)
    negatives: int = option(5, "Negative samples per (centre, context) pair (gensim: negative).", min=1)
    min_count: int = option(5, "Skip words seen fewer times (on top of the vocabulary's own).", min=1)
    sample: float = option(1e-3, "Subsampling threshold for frequent words (0 disables).", min=0, lt=1)
    ns_exponent: float = option(0.75, "Exponent of the unigram distribution for negatives.", min=-5, max=5)
    lr: float | None = option(
        None, "Learning rate (gensim: alpha; default 0.025 for sgd, 0.001 for sparse_adam).", gt=0
    )
    # 128 no better with the +-1/dim init, 1.3x slower; 1024 lost ~30% analogy (stale sums)
    batch_size: int = option(256, "torch: centre words per update.", min=1)
    backend: Backend = option("auto", "auto (torch on CUDA, gensim on CPU), torch or gensim.")
    optimizer: Optimizer = option("sgd", "torch: sgd (linear decay) or sparse_adam.")
    device: str = option("auto", f"{devices.CHOICES}.", tracked=False, check=devices.spec_problem)
    seed: int = option(0, "Random seed (bit-identical CPU runs: torch; gensim with --workers 1).", min=0)
    workers: int = option(
        0, "gensim threads / torch CPU threads (0: torch 1, gensim one per core).", min=0, tracked=False
    )
    neg_group: int = option(16, "torch: centres that share one draw of negatives.", min=1)
    neg_pool: int = option(32, "torch: negatives drawn per group (each weighted negatives/neg_pool).", min=1)
    step_cap: float = option(
        4.0, "torch sgd: per-row lr <= step_cap / (summed |g| |u|^2 of the row in the step); 0 turns it off.", min=0
    )

    def cross_check(self) -> list[Problem]:
        found = []
        if self.backend == "gensim" and self.optimizer != "sgd":
            found.append(Problem("optimizer", "sparse_adam needs {backend} torch"))
        return found

    def validate(self) -> EmbeddingConfig:
        """Raise :class:`UsageError` naming every nonsense value; return self."""
        return options.validated(self)

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


def resolve_backend(config: EmbeddingConfig, device: str) -> str:
    """``auto`` -> torch on CUDA, gensim on CPU; gensim cannot use a GPU."""
    if config.backend == "auto":
        return "torch" if device.startswith("cuda") else "gensim"
    if config.backend == "gensim" and device.startswith("cuda"):
        raise UsageError("--backend gensim runs on CPU only; use --backend torch with --device cuda")
    return config.backend
