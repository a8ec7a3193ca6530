"""The training loop: Adam on shuffled padded batches, class-weighted loss, early stopping on dev macro-F1.

Batches hold sequences of similar length (most need no packing). The learning rate warms up, then
follows a cosine to 5% of its peak by the planned end: the last epoch, or ``max_seconds`` when that
comes first, so a run cut short by the clock still anneals. After every epoch the dev split is
scored; the best epoch's weights are kept (in memory: the step writes them once, at the end), and
training stops after ``patience`` epochs without a better macro-F1, after ``epochs``, or once
``max_seconds`` have passed (the epoch under way is cut short and scored). Seeded CPU runs repeat
exactly unless ``max_seconds`` is set (the schedule then follows the clock).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from textgen import device as devices
from textgen.classify import metrics
from textgen.classify.config import CHAR_EMB_DIM, WORD_EMB_DIM, FitSettings, NetSettings
from textgen.classify.model import SequenceClassifier, Shape, logits_of, pad_batch
from textgen.classify.split import Split
from textgen.classify.units import Codec

ProgressFn = Callable[[str, dict[str, Any]], None]
CLIP = 1.0
WARMUP_STEPS = 50
WEIGHT_POWER = 0.35


@dataclass
class FitResult:
    """The best model and how training went; ``stopped`` is why it ended."""

    model: SequenceClassifier
    shape: Shape
    best_epoch: int
    best_dev: dict[str, float]
    epochs: int
    steps: int
    seconds: float
    stopped: str
    device: str
    class_weights: list[float] | None
    embeddings: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def class_weights(targets: list[int], n: int, mode: str) -> list[float] | None:
    """``auto``: ``(N / (n_classes * n_c)) ** WEIGHT_POWER``, a softened "balanced"; ``none``: None.

    On the names (Russian 54%, Vietnamese 0.3%) the power trades accuracy for macro-F1: in 60-s runs
    0.25 gave 0.853 / 0.556, 0.35 gave 0.853 / 0.588, 0.5 gave 0.848 / 0.597 (bench/BENCHMARKS.md).
    """
    if mode == "none":
        return None
    counts = Counter(targets)
    total = len(targets)
    return [(total / (n * counts[c])) ** WEIGHT_POWER if counts[c] else 0.0 for c in range(n)]


def _buckets(lengths: torch.Tensor, size: int, gen: torch.Generator) -> list[list[int]]:
    """Batches of similar length in random order: sort by (length, random key), cut, shuffle the batches.

    Most batches then hold one length and need no packing, which is a quarter of the step's time on CPU.
    """
    key = lengths + torch.rand(len(lengths), generator=gen, dtype=torch.float64) * 0.5
    order = torch.argsort(key).tolist()
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    return [chunks[i] for i in torch.randperm(len(chunks), generator=gen).tolist()]


def _schedule(done: float, step: int) -> float:
    """The learning-rate factor: a short linear warm-up, then a cosine to 5% at the end of the planned training
    (the planned epochs, or ``max_seconds`` if that comes first), so a cut-short run still anneals."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))


def _seeded_embeddings(
    codec: Codec, net: NetSettings, vectors: Path | None, vocab: Any, seed: int
) -> tuple[int, torch.Tensor | None, dict[str, Any]]:
    """(emb_dim, initial matrix or None, report): word vectors seed a word codec on the run's vocabulary."""
    if codec.level == "word" and vectors is not None and vocab is not None and net.embeddings == "auto":
        from textgen.lm.pretrained import load_matrix, vector_dim

        dim = net.emb_dim or vector_dim(vectors)
        matrix, info = load_matrix(vectors, vocab, dim, seed)
        return dim, matrix, {**info, "source": vectors.name}  # the run's file (the step may run in a staging dir)
    dim = net.emb_dim or (CHAR_EMB_DIM if codec.level == "char" else WORD_EMB_DIM)
    return dim, None, {}


def fit(
    split: Split,
    codec: Codec,
    net: NetSettings,
    cfg: FitSettings,
    *,
    vectors: Path | None = None,
    vocab: Any = None,
    progress: ProgressFn | None = None,
) -> FitResult:
    """Train on ``split`` (``vectors`` + ``vocab``: the run's word vectors and vocabulary, to seed embeddings)."""
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _fit(split, codec, net, cfg, vectors, vocab, progress or (lambda kind, info: None))
    finally:
        torch.set_num_threads(threads)  # the next step of a pipeline runs with its own setting


def _fit(
    split: Split, codec: Codec, net: NetSettings, cfg: FitSettings, vectors: Path | None, vocab: Any,
    say: ProgressFn,
) -> FitResult:  # fmt: skip
    device = devices.resolve(cfg.device)
    torch.manual_seed(cfg.seed)
    index = {label: i for i, label in enumerate(split.labels)}
    data = {
        name: ([codec.encode(codec.recorded_units(codec.level, t))[0] for t in split.texts(name)],
               [index[lab] for lab in split.targets(name)])
        for name in ("train", "dev")
    }  # fmt: skip
    train_x, train_y = data["train"]
    dev_name = "dev" if data["dev"][0] else "train"  # a tiny data set may have no dev examples
    dev_x, dev_y = data[dev_name]
    emb_dim, matrix, emb_info = _seeded_embeddings(codec, net, vectors, vocab, cfg.seed)
    shape = Shape(net.arch, len(codec), len(split.labels), emb_dim, net.hidden, net.layers, net.bidirectional,
                  net.dropout)  # fmt: skip
    model = SequenceClassifier(shape)
    if matrix is not None:
        with torch.no_grad():
            model.embed.weight.copy_(matrix)
            model.embed.weight[0].zero_()  # <pad>
    model.to(device)
    weights = class_weights(train_y, len(split.labels), cfg.class_weights)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weights, device=device) if weights else None)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    batches = math.ceil(len(train_x) / cfg.batch_size)
    say("start", {"epochs": cfg.epochs, "batches": batches, "device": str(device), "examples": len(train_x),
                  "embeddings": emb_info, "max_seconds": cfg.max_seconds})  # fmt: skip
    best_state: dict[str, torch.Tensor] | None = None
    best: dict[str, float] = {"macro_f1": -1.0, "accuracy": 0.0}
    best_epoch, stale, steps, stopped = 0, 0, 0, "epochs"
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    epoch = 0
    lengths_of = torch.tensor([len(x) for x in train_x], dtype=torch.float64)
    planned = cfg.epochs * batches
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for b, idx in enumerate(_buckets(lengths_of, cfg.batch_size, gen)):
            elapsed = time.perf_counter() - t0
            done = steps / planned
            if cfg.max_seconds is not None:
                done = max(done, elapsed / cfg.max_seconds)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * _schedule(done, steps)
            ids, lengths = pad_batch([train_x[i] for i in idx], device)
            target = torch.tensor([train_y[i] for i in idx], device=device)
            loss = loss_fn(model(ids, lengths), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            steps += 1
            total, seen = total + loss.item() * len(idx), seen + len(idx)
            elapsed = time.perf_counter() - t0
            if b % 20 == 0 or b == batches - 1:
                say("batch", {"epoch": epoch, "batch": b + 1, "batches": batches, "loss": total / seen,
                              "seconds": elapsed})  # fmt: skip
            if cfg.max_seconds is not None and elapsed >= cfg.max_seconds:
                stopped = "max_seconds"
                break
        pred = logits_of(model, dev_x, device).argmax(1).tolist()
        dev = {"macro_f1": metrics.macro_f1(dev_y, pred, len(split.labels)), "accuracy": metrics.accuracy(dev_y, pred)}
        improved = dev["macro_f1"] > best["macro_f1"]
        if improved:
            best, best_epoch, stale = dev, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
        record = {"epoch": epoch, "train_loss": total / max(seen, 1), "dev_macro_f1": dev["macro_f1"],
                  "dev_accuracy": dev["accuracy"], "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
        history.append(record)
        say("epoch", {**record, "improved": improved, "scored_on": dev_name})
        if stopped == "max_seconds":
            break
        if stale >= cfg.patience:
            stopped = "patience"
            break
    assert best_state is not None  # the first epoch always improves on -1
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    return FitResult(model, shape, best_epoch, best, epoch, steps, time.perf_counter() - t0, stopped, str(device),
                     weights, emb_info, history)  # fmt: skip
