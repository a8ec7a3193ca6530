"""The transformer peer: a nanoGPT-style word-level model trained from scratch on textgen's own ids.

What a user would train instead (../shared/BENCHMARK.md, "The transformer peer"): token and
learned position embeddings, pre-LN blocks (``x + attn(LN(x))``, ``x + MLP(LN(x))``, GELU MLP of
4x width), causal self-attention (``scaled_dot_product_attention``), a final LN and an adaptive
softmax (``nn.AdaptiveLogSoftmaxWithLoss``, clusters at 2,000 and 8,000 words like ours); AdamW
(betas 0.9/0.95, weight decay 0.1 on matrices) with linear warm-up, then cosine decay to a tenth of
the peak over the time budget; every batch is ``batch`` windows at random offsets of the training ids.

Scored with the benchmark's ``val_bpb`` on the same validation ids as ours: the stream ``<eos>`` +
validation ids is read in windows of ``context`` tokens moving by ``context / 2``; each window
scores only the tokens not scored before, so every token is scored once, from at least half a
context of the tokens before it (fewer only at the start).

    python bench/peer_transformer.py --run-dir /tmp/textgen-bench-quality/base --seconds 300
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

EOS = 2  # textgen's <eos> id


@dataclass(frozen=True)
class PeerConfig:
    """One transformer configuration (BENCHMARK.md lists the two measured ones)."""

    name: str
    layers: int
    dim: int
    heads: int
    context: int
    batch: int
    lr: float
    dropout: float = 0.1
    warmup_steps: int = 100


SMALL = PeerConfig("transformer 2L d128 ctx64", layers=2, dim=128, heads=4, context=64, batch=64, lr=2e-3)
LARGE = PeerConfig("transformer 4L d256 ctx128", layers=4, dim=256, heads=4, context=128, batch=32, lr=1e-3)
CONFIGS = {"small": SMALL, "large": LARGE}


class Block(nn.Module):
    """Pre-LN transformer block: causal multi-head attention, then a GELU MLP, each residual."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.mlp(self.ln2(x))


class PeerTransformer(nn.Module):
    """Embeddings -> pre-LN blocks -> LN -> adaptive softmax."""

    def __init__(self, vocab_size: int, cfg: PeerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(vocab_size, cfg.dim)
        self.pos = nn.Embedding(cfg.context, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.dropout) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.dim)
        cutoffs = [c for c in (2000, 8000) if c < vocab_size - 1]
        self.out = nn.AdaptiveLogSoftmaxWithLoss(cfg.dim, vocab_size, cutoffs, div_value=4.0)
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        h = self.drop(self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device)))
        for block in self.blocks:
            h = block(h)
        return self.ln(h)

    def token_logp(self, x: Tensor, y: Tensor) -> Tensor:
        """log p(y) for every position: ``[B, T]``."""
        h = self.features(x)
        return self.out(h.reshape(-1, h.shape[-1]), y.reshape(-1)).output.view(y.shape)


def lr_at(cfg: PeerConfig, step: int, frac: float) -> float:
    """Linear warm-up by steps, then cosine by the share of the time budget spent, to a tenth of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def val_bpb(model: PeerTransformer, ids: np.ndarray, val_bytes: int, batch: int = 64) -> dict[str, float]:
    """The benchmark's val_bpb over every validation token (see :func:`token_nll`)."""
    nll_all = token_nll(model, ids, batch)
    nll = float(nll_all.sum())
    return {"val_bpb": nll / math.log(2) / val_bytes, "loss": nll / len(ids), "tokens": len(ids)}


@torch.no_grad()
def token_nll(model: PeerTransformer, ids: np.ndarray, batch: int = 64) -> np.ndarray:
    """Every validation token's NLL (nats), scored once: windows of ``context`` moving by half a context."""
    model.eval()
    c = model.cfg.context
    stream = torch.from_numpy(np.concatenate([[EOS], np.asarray(ids, dtype=np.int64)]))
    n = len(ids)
    stride = c // 2
    windows: list[tuple[int, int]] = []  # (start of the window's inputs, first position it scores)
    start = 0
    while start < n:
        lo = max(0, start + stride - c) if start else 0
        windows.append((lo, start))
        start += stride if start else c
    out = np.zeros(n, dtype=np.float64)
    scored = 0
    for i in range(0, len(windows), batch):
        group = windows[i : i + batch]
        xs, ys, masks = [], [], []
        for lo, first in group:
            x = stream[lo : lo + c]
            y = stream[lo + 1 : lo + 1 + c]
            keep = torch.zeros(c, dtype=torch.bool)
            keep[first - lo : len(y)] = True
            pad = c - len(y)
            xs.append(F.pad(x[: len(y)], (0, pad), value=EOS))
            ys.append(F.pad(y, (0, pad), value=EOS))
            masks.append(keep)
        logp = model.token_logp(torch.stack(xs), torch.stack(ys))
        for row, (_, first) in enumerate(group):
            keep = masks[row]
            out[first : first + int(keep.sum())] = -logp[row][keep].double().numpy()
            scored += int(keep.sum())
    model.train()
    assert scored == n, (scored, n)
    return out


@dataclass
class PeerRun:
    """Validation at each requested training time (seconds exclude validation)."""

    config: dict[str, object]
    checkpoints: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    parameters: int = 0
    model: PeerTransformer | None = field(default=None, repr=False)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.train_seconds, 1e-9)

    def summary(self) -> dict[str, object]:
        """Everything but the model, for JSON."""
        keys = ("config", "checkpoints", "steps", "tokens", "train_seconds", "parameters")
        return {k: getattr(self, k) for k in keys} | {"tokens_per_second": self.tokens_per_second}


def train_peer(
    run_dir: Path,
    cfg: PeerConfig,
    seconds: float,
    checkpoints: list[float],
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> PeerRun:
    """Train on the run dir's ids for ``seconds`` of training time; val_bpb as each checkpoint time passes."""
    from textgen import io

    corpus = json.loads((run_dir / "corpus.json").read_text(encoding="utf-8"))
    train = torch.from_numpy(np.asarray(io.read_npy(run_dir / "train_ids.npy"), dtype=np.int64))
    val = np.asarray(io.read_npy(run_dir / "val_ids.npy"))
    torch.manual_seed(seed)
    model = PeerTransformer(int(corpus["vocab_size"]), cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95)
    )
    gen = torch.Generator().manual_seed(seed)
    run = PeerRun(config=asdict(cfg), parameters=sum(p.numel() for p in model.parameters()))
    pending = sorted(checkpoints)
    offsets = torch.arange(cfg.context + 1)
    while run.train_seconds < seconds:
        t0 = time.perf_counter()
        starts = torch.randint(0, len(train) - cfg.context - 1, (cfg.batch, 1), generator=gen)
        chunk = train[starts + offsets]
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, run.steps, run.train_seconds / seconds)
        loss = -model.token_logp(chunk[:, :-1], chunk[:, 1:]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run.train_seconds += time.perf_counter() - t0
        run.steps += 1
        run.tokens += cfg.batch * cfg.context
        while pending and (run.train_seconds >= pending[0] or run.train_seconds >= seconds):
            res = {"seconds": pending.pop(0), "train_seconds": run.train_seconds, "steps": run.steps}
            res |= val_bpb(model, val, int(corpus["val_bytes"]))
            run.model = model
            run.checkpoints.append(res)
            log(
                f"{cfg.name} {res['seconds']:.0f}s: val_bpb {res['val_bpb']:.4f} "
                f"({run.steps} steps, {run.tokens_per_second:,.0f} tokens/s)"
            )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="A run dir with build-vocab done.")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    marks = [c for c in (20.0, 60.0, 150.0) if c < args.seconds] + [args.seconds]
    run = train_peer(args.run_dir, CONFIGS[args.config], args.seconds, marks)
    print(json.dumps(run.summary(), indent=2))


if __name__ == "__main__":
    main()
