"""Generator configuration: model sizes and training settings, validated up front.

``ModelConfig`` rebuilds the network (recorded in ``generator.json``); ``TrainConfig`` holds
everything the training loop reads. ``validate()`` reports every bad value at once, in one line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from textgen.errors import UsageError

ARCHS = ("lstm", "attention")
SOFTMAXES = ("full", "adaptive")
ATTN_SCORES = ("general", "additive")
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("plateau", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "off")


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
    return cls(**kwargs)


@dataclass
class ModelConfig:
    """Network architecture and sizes (enough to rebuild the model from its weights)."""

    vocab_size: int = 0  # 0: the size of the run's vocabulary
    arch: str = "lstm"
    emb_dim: int = 0  # 0: the width of the run's word vectors, or 200 without them
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.4  # on LSTM outputs (and between layers)
    emb_dropout: float = 0.1  # drops whole word vectors at input positions
    tie_weights: bool = True  # output layer shares the embedding matrix (needs a projection if hidden != emb_dim)
    softmax: str = "adaptive"
    cutoffs: tuple[int, ...] = ()  # adaptive softmax cluster boundaries (ids are frequency-sorted); () = auto
    attn_window: int = 32
    attn_score: str = "general"

    def errors(self) -> list[str]:
        err = []
        if self.arch not in ARCHS:
            err.append(f"--arch must be one of {'|'.join(ARCHS)}, got {self.arch!r}")
        if self.softmax not in SOFTMAXES:
            err.append(f"--softmax must be one of {'|'.join(SOFTMAXES)}, got {self.softmax!r}")
        if self.attn_score not in ATTN_SCORES:
            err.append(f"--attn-score must be one of {'|'.join(ATTN_SCORES)}, got {self.attn_score!r}")
        for name in ("hidden", "layers", "attn_window"):
            if int(getattr(self, name)) < 1:
                err.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("vocab_size", "emb_dim"):  # 0: filled in from the run
            if int(getattr(self, name)) < 0:
                err.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "emb_dropout"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0):
                err.append(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        if self.softmax == "adaptive" and self.cutoffs:
            cut = list(self.cutoffs)
            if cut != sorted(set(cut)) or (cut and (cut[0] < 1 or cut[-1] >= self.vocab_size)):
                err.append(
                    f"--cutoffs must increase strictly within (0, vocab size {self.vocab_size}), got {cut}; "
                    "use smaller cutoffs or --softmax full"
                )
        return err

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cutoffs"] = list(self.cutoffs)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


def auto_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """Adaptive-softmax clusters for a vocabulary: a 2,000-word shortlist, then 2,000-8,000, then the rest."""
    return tuple(c for c in (2000, 8000) if c < vocab_size)


@dataclass
class TrainConfig:
    """Training-loop settings; defaults are sized for a 2-core CPU (see bench/BENCHMARKS.md)."""

    batch_size: int = 64
    bptt: int = 32
    lr: float = 5e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.1
    warmup_steps: int = 0  # measured: warm-up only slowed the first 100 steps (bench/BENCHMARKS.md)
    schedule: str = "plateau"
    lr_decay: float = 0.5  # plateau: multiply the lr by this when validation stops improving
    min_lr: float = 1e-5
    clip: float = 0.25
    epochs: int = 10
    max_steps: int | None = None
    max_seconds: float | None = None
    eval_every: int = 200  # validation (and checkpoint) every N optimizer steps; also at each epoch end
    eval_tokens: int | None = None  # score only the first N validation tokens between epochs (None: all)
    patience: int = 4  # stop after this many validations without improvement
    log_every: int = 20
    seed: int = 0
    unk_replace: float = 0.5  # share of training-split singletons replaced by <unk> (teaches p(<unk>))
    embeddings: str | None = "auto"  # "auto": the run's embeddings.safetensors if present; None: random init
    freeze_embeddings: bool = False
    unfreeze_after: int | None = None  # epochs
    device: str = "auto"
    amp: str = "auto"  # bf16 autocast: "auto" = on CUDA only
    compile: bool = False
    compile_backend: str = "inductor"
    threads: int | None = None

    def errors(self) -> list[str]:
        err = []
        for name in ("batch_size", "bptt", "epochs", "eval_every", "log_every"):
            if int(getattr(self, name)) < 1:
                err.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            err.append(f"--lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0:
            err.append(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.clip < 0:
            err.append(f"--clip must be >= 0 (0 disables clipping), got {self.clip}")
        if self.warmup_steps < 0 or self.patience < 1:
            err.append("--warmup-steps must be >= 0 and --patience at least 1")
        if not (0.0 < self.lr_decay <= 1.0):
            err.append(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if not (0.0 <= self.unk_replace <= 1.0):
            err.append(f"--unk-replace must be in [0, 1], got {self.unk_replace}")
        if self.max_steps is not None and self.max_steps < 1:
            err.append(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            err.append(f"--max-seconds must be positive, got {self.max_seconds}")
        if self.eval_tokens is not None and self.eval_tokens < 1:
            err.append(f"--eval-tokens must be at least 1, got {self.eval_tokens}")
        if self.unfreeze_after is not None and self.unfreeze_after < 0:
            err.append(f"--unfreeze-after must be >= 0, got {self.unfreeze_after}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("amp", AMP_MODES)):
            if getattr(self, name) not in allowed:
                err.append(f"--{name} must be one of {'|'.join(allowed)}, got {getattr(self, name)!r}")
        if self.threads is not None and self.threads < 1:
            err.append(f"--threads must be at least 1, got {self.threads}")
        return err

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


@dataclass
class GeneratorConfig:
    """What ``generator.json`` records: the model, how it was trained, and what it was trained on."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    vocab_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    embeddings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> GeneratorConfig:
        """Raise one :class:`UsageError` listing every bad value."""
        err = self.model.errors() + self.train.errors()
        if err:
            raise UsageError("; ".join(err))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "arch": self.model.arch,
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "seed": self.train.seed,
            "vocab_sha256": self.vocab_sha256,
            "tokenizer": self.tokenizer,
            "metrics": self.metrics,
            "embeddings": self.embeddings,
            "versions": self.versions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        return cls(
            model=ModelConfig.from_dict(data["model"]),
            train=TrainConfig.from_dict(data.get("train", {})),
            vocab_sha256=str(data.get("vocab_sha256", "")),
            metrics=dict(data.get("metrics", {})),
            embeddings=dict(data.get("embeddings", {})),
            versions=dict(data.get("versions", {})),
            tokenizer=dict(data.get("tokenizer", {})),
        )


# A larger preset for one GPU (`textgen train --preset gpu`); values are overrides of the defaults.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {"model": {}, "train": {}},
    "gpu": {
        "model": {"emb_dim": 400, "hidden": 1150, "layers": 3, "dropout": 0.4, "softmax": "full"},
        "train": {"batch_size": 128, "bptt": 70, "lr": 2e-3, "eval_every": 500, "epochs": 40, "patience": 6},
    },
}
