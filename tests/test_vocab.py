"""Vocabulary lookup tables: ordering, specials, limits, persistence, suggestions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from textgen.errors import ArtifactError, UnknownWordError, UsageError, VocabularyError
from textgen.vocab import Vocab


def test_sorted_by_count_then_text_with_fixed_specials() -> None:
    vocab = Vocab.build(Counter({"b": 3, "a": 3, "c": 5, "d": 1}))
    assert vocab.itos == ["<pad>", "<unk>", "<eos>", "c", "a", "b", "d"]
    assert vocab.stoi["c"] == 3 and vocab.itos[4] == "a"
    assert vocab.counts[3:] == [5, 3, 3, 1]


def test_min_count_and_max_vocab() -> None:
    counts = Counter({"a": 5, "b": 4, "c": 2, "d": 1})
    assert Vocab.build(counts, min_count=2).itos[3:] == ["a", "b", "c"]
    assert Vocab.build(counts, max_vocab=5).itos[3:] == ["a", "b"]


def test_bad_limits_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        Vocab.build(Counter({"a": 1}), min_count=0)
    with pytest.raises(UsageError):
        Vocab.build(Counter({"a": 1}), max_vocab=3)
    with pytest.raises(VocabularyError, match="lower --min-count"):
        Vocab.build(Counter({"a": 1}), min_count=2)


def test_encode_maps_unknowns_and_picks_dtype() -> None:
    vocab = Vocab.build(Counter({"a": 2, "b": 1}))
    ids = vocab.encode(["a", "zzz", "b"])
    assert ids.tolist() == [3, vocab.unk_id, 4] and ids.dtype == np.uint16
    big = Vocab.build(Counter({f"w{i}": 1 for i in range(70000)}))
    assert big.encode(["w1"]).dtype == np.uint32  # int32 before; readers take both


def test_round_trip_through_json(tmp_path: Path) -> None:
    vocab = Vocab.build(Counter({"jerry:": 4, "hello": 2}))
    vocab.save(tmp_path / "vocab.json")
    data = json.loads((tmp_path / "vocab.json").read_text())
    assert data["itos"] == vocab.itos and data["counts"] == vocab.counts and data["sha256"] == vocab.sha256()
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.itos == vocab.itos and again.tokenizer == vocab.tokenizer


def test_corrupt_vocab_is_an_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text('{"itos": ["<pad>"')
    with pytest.raises(ArtifactError, match="corrupt"):
        Vocab.load(path)
    path.write_text('{"itos": ["a"], "counts": [1]}')
    with pytest.raises(ArtifactError, match="build-vocab"):
        Vocab.load(path)


def test_unknown_word_suggests_close_entries() -> None:
    vocab = Vocab.build(Counter({"kramer": 5, "kramers": 2, "elaine": 3}))
    with pytest.raises(UnknownWordError, match="closest: kramer"):
        vocab.require("kramr")
    assert vocab.require("elaine") == vocab.stoi["elaine"]
