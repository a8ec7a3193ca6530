"""The classic peer in bench/ (the benchmarks of this issue and of generation reuse it)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from peer_classic import SEQ_LEN, PeerData, PeerRNN, generate, tokenize, train_peer, val_bpb, windows_of  # noqa: E402


def test_classic_tokens_and_tables(fixture_text: str) -> None:
    assert tokenize('Jerry: Hi, "you"!\n') == [
        "jerry:", "hi", "||comma||", "||quotation_mark||", "you", "||quotation_mark||", "||exclamation_mark||",
        "||return||",
    ]  # fmt: skip
    data = PeerData.from_text(fixture_text)
    counts = np.bincount(data.train, minlength=len(data.vocab_to_int))
    assert np.all(np.diff(counts[2:]) <= 0)  # frequency-sorted after <pad>, <unk>
    lines = fixture_text.splitlines()
    assert data.val_bytes == sum(len(line.encode()) + 1 for line in lines[len(lines) - len(lines) // 20 :])
    x, y = windows_of(np.arange(15))
    assert x.shape == (15 - SEQ_LEN, SEQ_LEN) and x[0].tolist() == list(range(10)) and y[0] == 10


def test_peer_trains_scores_and_generates(fixture_text: str) -> None:
    torch.set_num_threads(1)
    data = PeerData.from_text(fixture_text)
    model, run = train_peer(data, 1.0, [0.5, 1.0], log=lambda msg: None)
    assert [c["seconds"] for c in run.checkpoints] == [0.5, 1.0] and run.windows > 0
    res = val_bpb(model, data)
    uniform = len(data.val) * math.log2(len(data.vocab_to_int)) / data.val_bytes
    assert res["tokens"] == len(data.val) and res["val_bpb"] < uniform  # one second of training beats uniform
    # the score is -log2 p over the validation bytes
    assert math.isclose(res["val_bpb"], res["loss"] * res["tokens"] / math.log(2) / data.val_bytes)
    words = generate(model, data, "theo:", length=20, seed=1)
    assert len(words) == 21 and words == generate(model, data, "theo:", length=20, seed=1)
    assert all(w in data.vocab_to_int for w in words)
    assert isinstance(PeerRNN(10).fc, torch.nn.Linear)
