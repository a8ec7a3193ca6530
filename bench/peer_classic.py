"""The peer: our rewrite of the classic TV-script generator recipe (see ../shared/BENCHMARK.md).

Punctuation becomes ``||name||`` tokens, text is lower-cased and split on whitespace, lookup tables
are sorted by frequency; training uses stride-1 windows of 10 words that each predict only the next
word: Embedding(300) -> 2-layer LSTM(250, dropout 0.5) -> Linear on the last step, Adam lr 1e-3,
batch 128, shuffled (gradient-norm clipping at 5, as the recipe's training helper does). Generation
re-feeds the whole window every step and samples from the top 5 words.

It is scored with the benchmark's ``val_bpb``: every validation word predicted from its 10
preceding words (across the train/validation boundary), words unseen in training as ``<unk>``.

    python bench/peer_classic.py --seconds 300          # train, report val_bpb, generate
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

TOKEN_LOOKUP = {
    ".": "||period||",
    ",": "||comma||",
    '"': "||quotation_mark||",
    ";": "||semicolon||",
    "!": "||exclamation_mark||",
    "?": "||question_mark||",
    "(": "||left_parentheses||",
    ")": "||right_parentheses||",
    "-": "||dash||",
    "\n": "||return||",
}
PAD, UNK = "<pad>", "<unk>"
SEQ_LEN = 10
SEINFELD = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "seinfeld_scripts.txt"


def tokenize(text: str) -> list[str]:
    """The classic preprocessing: punctuation -> named tokens, lower-case, whitespace split."""
    for key, token in TOKEN_LOOKUP.items():
        text = text.replace(key, f" {token} ")
    return text.lower().split()


def split_lines(text: str) -> tuple[list[str], list[str]]:
    """BENCHMARK.md split: the last floor(N/20) lines (``str.splitlines``) are validation."""
    lines = text.splitlines()
    n_val = len(lines) // 20
    return lines[: len(lines) - n_val], lines[len(lines) - n_val :]


@dataclass
class PeerData:
    """Lookup tables (training split only) and id streams."""

    vocab_to_int: dict[str, int]
    int_to_vocab: dict[int, str]
    train: np.ndarray
    val: np.ndarray
    val_bytes: int
    val_oov_rate: float

    @classmethod
    def from_text(cls, text: str) -> PeerData:
        train_lines, val_lines = split_lines(text)
        train_words = tokenize("\n".join(train_lines) + "\n")
        val_words = tokenize("\n".join(val_lines) + "\n")
        counts = Counter(train_words)
        ordered = [PAD, UNK] + sorted(counts, key=lambda w: (-counts[w], w))
        vti = {w: i for i, w in enumerate(ordered)}
        unk = vti[UNK]
        train = np.array([vti[w] for w in train_words], dtype=np.int64)
        val = np.array([vti.get(w, unk) for w in val_words], dtype=np.int64)
        val_bytes = sum(len(line.encode("utf-8")) + 1 for line in val_lines)
        return cls(vti, dict(enumerate(ordered)), train, val, val_bytes, float((val == unk).mean()))


class PeerRNN(nn.Module):
    """Embedding(300) -> LSTM(250, 2 layers, dropout 0.5) -> Linear on the last step."""

    def __init__(
        self, vocab_size: int, embedding_dim: int = 300, hidden_dim: int = 250, n_layers: int = 2, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, n_layers, dropout=dropout, batch_first=True)
        self.fc = nn.Linear(hidden_dim, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(windows))  # a fresh zero state for every window
        return self.fc(out[:, -1])


def windows_of(ids: np.ndarray, seq_len: int = SEQ_LEN) -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-1 windows [N, seq_len] and the word after each."""
    t = torch.from_numpy(ids)
    return t[:-1].unfold(0, seq_len, 1)[: len(ids) - seq_len], t[seq_len:]


@torch.no_grad()
def token_nll(model: PeerRNN, data: PeerData, batch: int = 2048) -> np.ndarray:
    """Every validation word's NLL (nats), predicted from its 10 preceding words (training text before the first)."""
    model.eval()
    ids = np.concatenate([data.train[-SEQ_LEN:], data.val])
    x, y = windows_of(ids)
    parts = [
        nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch], reduction="none").double().numpy()
        for i in range(0, len(y), batch)
    ]
    model.train()
    return np.concatenate(parts)


def val_bpb(model: PeerRNN, data: PeerData, batch: int = 2048) -> dict[str, float]:
    """The benchmark's val_bpb over every validation word (see :func:`token_nll`)."""
    nll_all = token_nll(model, data, batch)
    nll = float(nll_all.sum())
    return {"val_bpb": nll / math.log(2) / data.val_bytes, "loss": nll / len(nll_all), "tokens": len(nll_all)}


@dataclass
class PeerRun:
    """Validation at each requested training time (seconds exclude validation)."""

    checkpoints: list[dict[str, float]] = field(default_factory=list)
    windows: int = 0
    train_seconds: float = 0.0

    @property
    def windows_per_second(self) -> float:
        return self.windows / max(self.train_seconds, 1e-9)


def train_peer(
    data: PeerData, seconds: float, checkpoints: list[float], seed: int = 0, log: Callable[[str], None] = print
) -> tuple[PeerRNN, PeerRun]:
    """Train for ``seconds`` of training time, scoring ``val_bpb`` as each checkpoint time passes."""
    torch.manual_seed(seed)
    model = PeerRNN(len(data.vocab_to_int))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = windows_of(data.train)
    gen = torch.Generator().manual_seed(seed)
    run, pending = PeerRun(), sorted(checkpoints)
    while run.train_seconds < seconds:
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(order) - 127, 128):
            t0 = time.perf_counter()
            idx = order[i : i + 128]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5)
            opt.step()
            run.train_seconds += time.perf_counter() - t0
            run.windows += len(idx)
            while pending and run.train_seconds >= pending[0]:
                res = {
                    "seconds": pending.pop(0),
                    "train_seconds": run.train_seconds,
                    "windows": run.windows,
                    **val_bpb(model, data),
                }
                run.checkpoints.append(res)
                log(
                    f"peer {res['seconds']:.0f}s: val_bpb {res['val_bpb']:.4f} loss {res['loss']:.3f} "
                    f"({run.windows_per_second:,.0f} windows/s)"
                )
            if run.train_seconds >= seconds:
                break
    return model, run


@torch.no_grad()
def generate(
    model: PeerRNN, data: PeerData, prime: str = "jerry", length: int = 400, top_k: int = 5, seed: int = 0
) -> list[str]:
    """The classic generator: re-feed the whole padded window every step, sample among the top k."""
    model.eval()
    rng = np.random.default_rng(seed)
    pad = data.vocab_to_int[PAD]
    window = np.full(SEQ_LEN, pad, dtype=np.int64)
    window[-1] = data.vocab_to_int[prime]
    words = [prime]
    for _ in range(length):
        probs = torch.softmax(model(torch.from_numpy(window).unsqueeze(0))[0], dim=-1)
        p, top = probs.topk(top_k)
        p = (p / p.sum()).numpy()
        word = int(rng.choice(top.numpy(), p=p))
        words.append(data.int_to_vocab[word])
        window = np.roll(window, -1)
        window[-1] = word
    return words


def detokenize(words: list[str]) -> str:
    text = " ".join(words)
    for key, token in TOKEN_LOOKUP.items():
        text = text.replace(" " + token.lower(), key if key != "\n" else "\n")
    return text.replace("\n ", "\n").replace("( ", "(").replace('" ', '"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SEINFELD)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = PeerData.from_text(args.corpus.read_text(encoding="utf-8"))
    print(
        f"peer: {len(data.vocab_to_int):,} words, {len(data.train):,} train / {len(data.val):,} val tokens, "
        f"val OOV {data.val_oov_rate:.2%}"
    )
    checkpoints = [c for c in (20.0, 60.0, 150.0, 300.0) if c < args.seconds] + [args.seconds]
    model, run = train_peer(data, args.seconds, checkpoints, args.seed)
    t0 = time.perf_counter()
    words = generate(model, data, "jerry", 400)
    print(f"generated 400 tokens at {400 / (time.perf_counter() - t0):,.0f} tokens/s")
    print(detokenize(words)[:600])


if __name__ == "__main__":
    main()
