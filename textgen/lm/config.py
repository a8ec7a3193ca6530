"""Generator configuration: model sizes and training settings, each field with its help and checks.

``ModelConfig`` rebuilds the network (recorded with the weights); ``TrainConfig`` holds everything
the training loop reads. Both are sections of the ``train-generator`` step's config, so their
fields are its CLI options and pipeline params (:mod:`textgen.options`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from textgen import device as devices
from textgen import options
from textgen.errors import UsageError
from textgen.options import Problem, option

Arch = Literal["lstm", "attention"]
Softmax = Literal["full", "adaptive"]
AttnScore = Literal["general", "additive"]
Optimizer = Literal["adamw", "adam"]
Schedule = Literal["plateau", "cosine", "constant"]
Amp = Literal["auto", "bf16", "off"]
ARCHS: tuple[str, ...] = ("lstm", "attention")


@dataclass(frozen=True)
class ModelConfig:
    """Network architecture and sizes (enough to rebuild the model from its weights)."""

    vocab_size: int = option(0, "Vocabulary size (the run's).", min=0, derived=True)
    arch: Arch = option("lstm", "Architecture: lstm or attention.")
    emb_dim: int = option(0, "Embedding width (0: the word vectors' width, else 200).", min=0)
    hidden: int = option(256, "LSTM hidden units per layer.", min=1)
    layers: int = option(1, "LSTM layers.", min=1)
    # 0.3 with weight drop on: 1.390 vs 1.399 (seed 0) and 1.385 vs 1.390 (seed 1) at 300 s (bench/BENCHMARKS.md)
    dropout: float = option(0.3, "Dropout on LSTM outputs and between layers.", min=0, lt=1)
    emb_dropout: float = option(0.1, "Share of input positions whose word vector is dropped.", min=0, lt=1)
    # measured at 300 s on 2 cores: 0.2 alone gave the best val_bpb of the AWD options (bench/BENCHMARKS.md, "Quality")
    weight_drop: float = option(
        0.2, "Share of the LSTM hidden-to-hidden weights dropped while training (AWD-LSTM weight drop).", min=0, lt=1
    )
    locked_dropout: bool = option(
        False, "One dropout mask per sequence for all time steps (variational) on LSTM outputs and between layers."
    )
    tie_weights: bool = option(True, "Share the embedding matrix with the output layer.")
    softmax: Softmax = option("adaptive", "Output layer: full or adaptive.")
    cutoffs: tuple[int, ...] = option(
        (), "Adaptive softmax cluster boundaries, e.g. 500,3000 (empty: automatic).", metavar="N,N"
    )
    # 300 s on the classic split (bench/BENCHMARKS.md): val_bpb 1.374 network alone, 1.347 mixed with a 4-gram at 0.25
    ngram_order: int = option(
        4, "Order of the Kneser-Ney n-gram of the training ids mixed into the distribution (0: none).", min=0, max=6
    )
    ngram_weight: float = option(0.25, "Share of that n-gram in the mixture.", gt=0, lt=1)
    attn_window: int = option(32, "attention: how many previous outputs each step sees.", min=1)
    attn_score: AttnScore = option("general", "attention: general (Luong) or additive (Bahdanau).")

    def cross_check(self) -> list[Problem]:
        cut = list(self.cutoffs)
        if self.softmax != "adaptive" or not cut:
            return []
        top = self.vocab_size if self.vocab_size > 0 else None
        if cut != sorted(set(cut)) or cut[0] < 1 or (top is not None and cut[-1] >= top):
            within = f"within (0, vocab size {top})" if top else "from 1 up"
            return [
                Problem(
                    "cutoffs", f"must increase strictly {within}, got {cut}; use smaller cutoffs or {{softmax}} full"
                )
            ]
        return []

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cutoffs"] = list(self.cutoffs)
        return d


def auto_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """Adaptive-softmax clusters for a vocabulary: a 500-word shortlist, then 500-3,000, then the rest.

    Measured against 2,000/8,000 on Seinfeld (bench/BENCHMARKS.md, "Quality"): the same val_bpb, 20-28%
    faster training and generation no slower (the shortlist holds most of a script's tokens).
    """
    return tuple(c for c in (500, 3000) if c < vocab_size)


@dataclass(frozen=True)
class TrainConfig:
    """Training-loop settings; defaults are sized for a 2-core CPU (see bench/BENCHMARKS.md)."""

    batch_size: int = option(64, "Parallel token streams per step (per process under torchrun).", min=1)
    bptt: int = option(32, "Tokens per truncated-BPTT chunk.", min=1)
    lr: float = option(5e-3, "Peak learning rate.", gt=0)
    optimizer: Optimizer = option("adamw", "adamw or adam.")
    weight_decay: float = option(0.1, "Decoupled weight decay (AdamW).", min=0)
    # measured: warm-up only slowed the first 100 steps (bench/BENCHMARKS.md)
    warmup_steps: int = option(0, "Linear warm-up steps.", min=0)
    schedule: Schedule = option("plateau", "After warm-up: plateau, cosine or constant.")
    lr_decay: float = option(0.5, "plateau: multiply the lr by this when validation stops improving.", gt=0, max=1)
    min_lr: float = option(1e-5, "The learning rate never drops below this.", min=0)
    clip: float = option(0.25, "Gradient-norm clipping (0 disables).", min=0)
    ar: float = option(0.0, "Activation regularisation: adds this x mean(dropped LSTM output^2) to the loss.", min=0)
    tar: float = option(
        0.0, "Temporal activation regularisation: adds this x mean((h_t - h_t-1)^2) of the LSTM output.", min=0
    )
    epochs: int = option(10, "Passes over the training split.", min=1)
    max_steps: int | None = option(None, "Stop after this many optimizer steps.", min=1)
    max_seconds: float | None = option(None, "Stop after this much training time (validation excluded).", gt=0)
    eval_every: int = option(200, "Validate and checkpoint every N steps (and at each epoch end).", min=1)
    eval_tokens: int | None = option(None, "Score only the first N validation tokens while training.", min=1)
    patience: int = option(4, "Stop after N validations without improvement.", min=1)
    log_every: int = option(20, "Log the training loss every N steps.", min=1, tracked=False)
    seed: int = option(0, "Random seed (same seed, same CPU run).", min=0)
    unk_replace: float = option(0.5, "Share of training singletons shown as <unk> (teaches p(<unk>)).", min=0, max=1)
    embeddings: str = option(
        "auto",
        "Word vectors that seed the embeddings: auto (the run's, if any), none (random) or a path.",
        metavar="auto|none|PATH",
    )
    freeze_embeddings: bool = option(False, "Keep the seeded embeddings fixed.")
    unfreeze_after: int | None = option(None, "With --freeze-embeddings: train them from this epoch on.", min=0)
    device: str = option("auto", f"{devices.CHOICES}.", tracked=False, check=devices.spec_problem)
    amp: Amp = option("auto", "bf16 autocast: auto (CUDA only), bf16 or off.")
    compile: bool = option(False, "torch.compile the training step.")
    compile_backend: str = option(
        "inductor", "torch.compile backend (inductor; eager to test the path).", tracked=False
    )
    threads: int | None = option(None, "CPU threads for torch.", min=1, tracked=False)

    def cross_check(self) -> list[Problem]:
        found = []
        if self.unfreeze_after is not None and not self.freeze_embeddings:
            found.append(Problem("unfreeze_after", "only applies with {freeze_embeddings}"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# TrainConfig fields a resumed run may change: when and where it stops; the rest is the checkpoint's
RESUMABLE = ("epochs", "max_steps", "max_seconds", "patience", "device", "amp", "compile", "compile_backend",
             "threads", "log_every", "eval_every")  # fmt: skip


@dataclass
class GeneratorConfig:
    """What a trained generator records: the model, how it was trained, and what it was trained on."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    vocab_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    embeddings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> GeneratorConfig:
        """Raise one :class:`UsageError` listing every bad value."""
        found = options.problems(self.model) + options.problems(self.train)
        if found:
            raise UsageError(options.render_cli(found))
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
    def from_dict(cls, data: Any) -> GeneratorConfig:
        """Read back :meth:`to_dict`; ValueError names the first field that is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for key in ("metrics", "embeddings", "versions", "tokenizer"):
            if not isinstance(data.get(key, {}), dict):
                raise ValueError(f"{key} is not a JSON object")
        if "model" not in data:
            raise ValueError("no 'model' section")
        model_data = data["model"]
        if isinstance(model_data, dict) and "ngram_order" not in model_data:
            model_data = {**model_data, "ngram_order": 0}  # written before the n-gram mixture existed
        model = options.from_dict(ModelConfig, model_data, "model")
        train_data = data.get("train", {})
        if isinstance(train_data, dict) and "embeddings" in train_data and train_data["embeddings"] is None:
            train_data = {**train_data, "embeddings": "none"}  # written before "none" had a name
        train = options.from_dict(TrainConfig, train_data, "train")
        return cls(
            model=model,
            train=train,
            vocab_sha256=str(data.get("vocab_sha256", "")),
            metrics=dict(data.get("metrics", {})),
            embeddings=dict(data.get("embeddings", {})),
            versions=dict(data.get("versions", {})),
            tokenizer=dict(data.get("tokenizer", {})),
        )


# `--preset gpu`: overrides of the defaults for one GPU (a 3-layer LSTM of 1150 units, full softmax)
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "gpu": {
        "emb_dim": 400, "hidden": 1150, "layers": 3, "dropout": 0.4, "softmax": "full",
        "batch_size": 128, "bptt": 70, "lr": 2e-3, "eval_every": 500, "epochs": 40, "patience": 6,
    },
}  # fmt: skip
