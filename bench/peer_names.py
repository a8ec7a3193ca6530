"""The names peer: the seeds' character-RNN tutorial recipe, written by us (../shared/BENCHMARK.md).

One-hot ASCII letters after accent stripping, a Linear-based RNN cell (``i2h`` and ``i2o`` over
the letter and the previous hidden state, 128 hidden units), LogSoftmax + NLLLoss, plain SGD with
lr 0.005, one random training name per step, 100,000 steps. Also the protocol's split, written
independently of textgen's (the benchmark checks that the two agree).
"""

from __future__ import annotations

import math
import random
import string
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

LETTERS = string.ascii_letters + " .,;'"


def protocol_split(folder: Path) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """Languages and ``{"train"|"dev"|"test": [(name, language)]}`` as BENCHMARK.md describes them."""
    files = sorted(folder.glob("*.txt"))
    by_lang = {f.stem: {line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()}
               for f in files}  # fmt: skip
    seen = Counter(name for names in by_lang.values() for name in names)
    parts: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for lang, names in by_lang.items():
        kept = sorted(n for n in names if seen[n] == 1)
        random.Random(0).shuffle(kept)
        a, b = math.floor(0.8 * len(kept)), math.floor(0.9 * len(kept))
        for part, chunk in (("train", kept[:a]), ("dev", kept[a:b]), ("test", kept[b:])):
            parts[part] += [(n, lang) for n in chunk]
    return list(by_lang), parts


def to_ascii(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", name) if unicodedata.category(c) != "Mn" and c in LETTERS)


def name_tensor(name: str) -> torch.Tensor:
    t = torch.zeros(len(name), 1, len(LETTERS))
    for i, c in enumerate(name):
        t[i, 0, LETTERS.index(c)] = 1
    return t


class TutorialRNN(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden_size = n_hidden
        self.i2h = nn.Linear(n_in + n_hidden, n_hidden)
        self.i2o = nn.Linear(n_in + n_hidden, n_out)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        combined = torch.cat((x, hidden), 1)
        return self.softmax(self.i2o(combined)), self.i2h(combined)

    def run(self, name: torch.Tensor) -> torch.Tensor:
        hidden = torch.zeros(1, self.hidden_size)
        output = torch.zeros(1, 1)
        for i in range(name.size(0)):
            output, hidden = self(name[i], hidden)
        return output


def train_peer(labels: list[str], parts: dict[str, list[tuple[str, str]]], steps: int = 100_000,
               seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Train the tutorial RNN; the test predictions (label indices) and the training seconds."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    index = {lab: i for i, lab in enumerate(labels)}
    train = [(to_ascii(n), index[lab]) for n, lab in parts["train"]]
    train = [(n, y) for n, y in train if n]
    model = TutorialRNN(len(LETTERS), 128, len(labels))
    loss_fn = nn.NLLLoss()
    lr = 0.005
    t0 = time.perf_counter()
    for _ in range(steps):
        name, y = train[rng.randrange(len(train))]
        model.zero_grad()
        loss = loss_fn(model.run(name_tensor(name)), torch.tensor([y]))
        loss.backward()
        for p in model.parameters():
            p.data.add_(p.grad.data, alpha=-lr)
    seconds = time.perf_counter() - t0
    preds = []
    with torch.no_grad():
        for name, _ in parts["test"]:
            a = to_ascii(name)
            preds.append(int(model.run(name_tensor(a)).argmax(1)) if a else 0)
    return {"seconds": seconds, "pred": preds, "gold": [index[lab] for _, lab in parts["test"]], "steps": steps}
