"""Streamed build-vocab: the same bytes as the one-shot path, bounded pieces, no partial artifacts."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURE_CORPUS, REPO, build_vocab_run
from hypothesis import given, settings
from hypothesis import strategies as st

from textgen import io
from textgen.corpus import load_corpus, local, split_lines
from textgen.corpus.base import make_corpus
from textgen.corpus.stream import Document, LineSplitter, joined, normalised, open_corpus
from textgen.errors import ArtifactError, CorpusError, EncodingError, WorkerError
from textgen.text import stream as tstream
from textgen.text.parallel import tokenize_lines_parallel
from textgen.text.tokenizer import PlanState, ScriptTokenizer, TokenizerSettings, state_after
from textgen.vocab import Vocab

CARD_TIMINGS = {"seconds", "tokenize_seconds", "tokens_per_second"}


def one_shot(run_dir: Path, corpus: str, val_fraction: float = 0.05, **vocab: Any) -> None:
    """The path build-vocab took before streaming: the whole text, both splits tokenized at once, encoded in memory."""
    text = load_corpus(corpus)
    train_lines, val_lines = split_lines(text.text, val_fraction)
    settings = TokenizerSettings(lowercase=text.lowercase)
    train = tokenize_lines_parallel(train_lines, settings, num_proc=1)
    val = tokenize_lines_parallel(val_lines, settings, num_proc=1) if val_lines else []
    built = Vocab.build(Counter(train), tokenizer=settings, **vocab)
    io.write_npy(run_dir / "train_ids.npy", built.encode(train))
    io.write_npy(run_dir / "val_ids.npy", built.encode(val))
    io.write_json(run_dir / "vocab.json", built.to_dict())
    n_bytes = sum(len(line.encode()) + 1 for line in val_lines)
    io.write_json(
        run_dir / "expected.json",
        {
            "sha256": text.sha256,
            "val_bytes": n_bytes,
            "documents": text.documents,
            "lines": len(train_lines) + len(val_lines),
            "val_tokens": len(val),
        },
    )


def same_outputs(a: Path, b: Path) -> None:
    for name in ("vocab.json", "train_ids.npy", "val_ids.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    card = json.loads((b / "corpus.json").read_text())
    expected = json.loads((a / "expected.json").read_text())
    assert {k: card[k] for k in expected} == expected


def episodes(folder: Path) -> Path:
    """Several documents with every edge the joining rules have: CRLF, blank edges, a blank file, odd line breaks."""
    text = FIXTURE_CORPUS.read_text(encoding="utf-8")
    parts = text.split("<|endoftext|>")
    folder.mkdir()
    (folder / "a.txt").write_bytes(("\n\n" + parts[0]).replace("\n", "\r\n").encode())
    (folder / "b.txt").write_text("  \n\n\t\n", encoding="utf-8")
    (folder / "c.txt").write_text(parts[1].replace("\n\n", "\n\u2028\n", 3) + "\n\n\n<|ENDOFTEXT|>\n", encoding="utf-8")
    tail = parts[0][:2000] + "\x0cgus: caf\u00e9 \u00e0 la carte\n"
    (folder / "d.txt").write_bytes(b"\xef\xbb\xbf" + tail.encode())
    return folder


def test_streaming_equals_one_shot_on_the_fixture(tmp_path: Path, vocab_run_dir: Path) -> None:
    one_shot(tmp_path, "fixture")
    same_outputs(tmp_path, vocab_run_dir)
    assert np.load(vocab_run_dir / "train_ids.npy", mmap_mode="r").dtype == np.uint16


@pytest.mark.parametrize("num_proc", [1, 2])
def test_streaming_equals_one_shot_in_many_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, num_proc: int
) -> None:
    corpus = str(episodes(tmp_path / "docs"))
    one_shot(tmp_path, corpus, val_fraction=0.3, min_count=2)
    seen: list[int] = []
    real = tstream.tokenize_chunk

    def spy(chunk: tstream.Chunk, tokenizer: ScriptTokenizer) -> tstream.ChunkTokens:
        seen.append(len(chunk.lines))
        return real(chunk, tokenizer)

    monkeypatch.setattr(tstream, "tokenize_chunk", spy)  # forked workers inherit the spy
    monkeypatch.setattr(tstream, "CHUNK_BYTES", 700)  # chunks end mid-turn, mid-blank-run, at the split
    monkeypatch.setattr(local, "BLOCK", 333)  # file pieces end inside lines and UTF-8 sequences
    build_vocab_run(tmp_path / "run", corpus=corpus, val_fraction=0.3, min_count=2, num_proc=num_proc)
    same_outputs(tmp_path, tmp_path / "run")
    if num_proc == 1:
        assert len(seen) > 10
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == [".textgen.lock"]  # no spool


def test_uint32_ids_for_a_vocabulary_over_65536(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(70_000)]
    lines = [f"maya: {' '.join(words[i : i + 50])}\n" for i in range(0, len(words), 50)]
    corpus = tmp_path / "big.txt"
    corpus.write_text("".join(lines), encoding="utf-8")  # the last 5% of the lines: words unseen in training
    one_shot(tmp_path, str(corpus))
    build_vocab_run(tmp_path / "run", corpus=str(corpus))
    same_outputs(tmp_path, tmp_path / "run")
    ids = io.read_npy(tmp_path / "run" / "train_ids.npy")
    vocab = Vocab.load(tmp_path / "run" / "vocab.json")
    assert len(vocab) > 65_536 and ids.dtype == np.uint32 and isinstance(ids, np.memmap)
    assert int(ids.max()) == len(vocab) - 1 and vocab.decode(ids[:3]) == ["maya:", "w0", "w1"]


# ----- the pieces the stream is made of ----------------------------------------------------------
# pieces of text with every line break str.splitlines() knows ("\r" then "\n" makes a CRLF)
LINE_TEXT = st.text(alphabet="ab \t\n\r\x0b\x0c\x85\u2028", max_size=12)


@given(st.lists(LINE_TEXT, max_size=8))
def test_line_splitter_is_splitlines_over_pieces(pieces: list[str]) -> None:
    splitter = LineSplitter()
    lines = [line for piece in pieces for line in splitter.feed(piece)] + splitter.close()
    assert lines == "".join(pieces).splitlines()


@given(st.lists(st.lists(LINE_TEXT, max_size=4), max_size=5))
def test_joined_documents_are_make_corpus_text(docs: list[list[str]]) -> None:
    documents = [Document(str(i), lambda pieces=pieces: iter(pieces)) for i, pieces in enumerate(docs)]
    streamed = "".join(joined(documents))
    try:
        expected = make_corpus("c", "s", ["".join(pieces) for pieces in docs]).text
    except CorpusError:  # nothing but whitespace: the scan raises the same error
        assert not streamed.strip()
    else:
        assert streamed == expected


def test_normalised_handles_a_crlf_across_pieces() -> None:
    assert "".join(normalised(["a\r", "\nb\r", "c\r"])) == "a\nb\nc\n"


SCRIPT_LINES = st.lists(
    st.sampled_from(
        ["", "  ", "maya: hi there.", "<|endoftext|>", "<|EndOfText|>", "theo: [laughter] no", "well, ok", "gus:"]
    ),
    max_size=25,
)


@pytest.fixture(scope="module")
def tokenizers() -> dict[bool, ScriptTokenizer]:
    return {lower: ScriptTokenizer(TokenizerSettings(lowercase=lower)) for lower in (True, False)}


@settings(max_examples=60, deadline=None)
@given(SCRIPT_LINES, st.lists(st.integers(0, 25), max_size=4), st.booleans())
def test_chunks_carry_the_rule_state(
    tokenizers: dict[bool, ScriptTokenizer], lines: list[str], cuts: list[int], lowercase: bool
) -> None:
    tok = tokenizers[lowercase]
    bounds = sorted({0, len(lines), *(min(c, len(lines)) for c in cuts)})
    state, tokens = PlanState(), []
    for a, b in zip(bounds, bounds[1:], strict=False):
        tokens += tok.tokenize_lines(lines[a:b], state=state)
        state = state_after(lines[a:b], lowercase, state)
    assert tokens == tok.tokenize_lines(lines)


def test_chunks_cut_at_the_split_and_restart_the_state() -> None:
    blocks = [["maya: a", "", "theo: b"], ["gus: c", ""], [], ["priya: d", "maya: e"]]
    chunks = list(tstream.chunks(blocks, cut=4, lowercase=True, chunk_bytes=12))
    assert [line for c in chunks for line in c.lines] == [line for b in blocks for line in b]
    splits = [c.split for c in chunks]
    assert len(chunks) > 3 and splits == sorted(splits, key=lambda split: split == "val")
    train = [line for c in chunks if c.split == "train" for line in c.lines]
    assert train == ["maya: a", "", "theo: b", "gus: c"]
    first_val = next(c for c in chunks if c.split == "val")
    assert first_val.state == PlanState()


def test_streamed_decoding_keeps_offsets_and_error_precedence(tmp_path: Path) -> None:
    text = "jerry: caf\u00e9 \u2014 na\u00efve \U0001f600\n" * 50
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    for block in (1, 2, 3, 5, 64):
        assert "".join(local.iter_text(path, block=block)) == text
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x" * 700 + b"\xff" + b"y" * 10)
    with pytest.raises(EncodingError, match="byte 0xff at offset 700"):
        "".join(local.iter_text(bad, block=64))
    nul = tmp_path / "nul.txt"  # an invalid byte first, a NUL later: binary, as a whole-file decode says
    nul.write_bytes(b"x" * 10 + b"\xff" + b"y" * 300 + b"\x00")
    with pytest.raises(EncodingError, match="binary .NUL byte at offset 311"):
        "".join(local.iter_text(nul, block=16))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("gus: na\u00efve\n".encode("latin-1") * 40)
    assert "".join(local.iter_text(latin, "latin-1", block=7)) == "gus: na\u00efve\n" * 40


def test_scan_counts_what_load_corpus_counts(tmp_path: Path) -> None:
    corpus = str(episodes(tmp_path / "docs"))
    text = load_corpus(corpus)
    scan = open_corpus(corpus).scan()
    assert (scan.sha256, scan.documents, scan.lines, scan.bytes) == (
        text.sha256,
        text.documents,
        len(text.text.splitlines()),
        len(text.text.encode()),
    )


def test_npy_writer_writes_np_save_bytes_or_nothing(tmp_path: Path) -> None:
    for dtype, n in ((np.uint16, 1000), (np.uint32, 7), (np.uint16, 0)):
        arr = np.arange(n, dtype=dtype)
        io.write_npy(tmp_path / "a.npy", arr)
        with io.npy_writer(tmp_path / "b.npy", dtype, n) as write:
            for i in range(0, n, 300):
                write(arr[i : i + 300])
        assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    with pytest.raises(ArtifactError, match="3 of 5"), io.npy_writer(tmp_path / "c.npy", np.uint16, 5) as write:
        write(np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy"]


# ----- interrupted runs --------------------------------------------------------------------------
def test_a_failing_write_leaves_the_run_dir_as_it_was(vocab_run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()}
    real = io.npy_writer

    def failing(path: Any, dtype: Any, length: int) -> Any:
        if Path(path).name == "val_ids.npy":  # train_ids.npy is already written (in the staging dir)
            raise OSError("disk full")
        return real(path, dtype, length)

    monkeypatch.setattr(io, "npy_writer", failing)
    with pytest.raises(OSError, match="disk full"):
        build_vocab_run(vocab_run_dir, min_count=2)
    assert {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()} == before


def test_a_dead_tokenizer_process_is_one_error_and_leaves_the_run_dir_as_it_was(
    vocab_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()}
    real = tstream.tokenize_chunk

    def killed_on_the_third(chunk: tstream.Chunk, tokenizer: ScriptTokenizer) -> tstream.ChunkTokens:
        if chunk.lines and chunk.lines[0] == third_first_line:  # as the kernel's OOM killer would
            os.kill(os.getpid(), signal.SIGKILL)
        return real(chunk, tokenizer)

    monkeypatch.setattr(tstream, "CHUNK_BYTES", 2000)
    text = FIXTURE_CORPUS.read_text(encoding="utf-8").splitlines()
    third_first_line = next(c.lines[0] for i, c in enumerate(tstream.chunks([text], len(text), False)) if i == 2)
    monkeypatch.setattr(tstream, "tokenize_chunk", killed_on_the_third)  # forked workers inherit it
    with pytest.raises(WorkerError, match=r"exit code -9.*--num-proc 1"):
        build_vocab_run(vocab_run_dir, min_count=2, num_proc=2)
    assert {p.name: p.read_bytes() for p in vocab_run_dir.iterdir()} == before


def big_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "big.txt"
    path.write_text(FIXTURE_CORPUS.read_text(encoding="utf-8") * 300, encoding="utf-8")  # 4 MB
    return path


def start(corpus: Path, run: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "textgen", "build-vocab", "--corpus", str(corpus), "--run-dir", str(run), *extra]
    # Ctrl-C as a terminal delivers it, even where this test process was started with SIGINT ignored
    reset = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=reset)


def wait_for_spool(proc: subprocess.Popen[bytes], run: Path) -> bool:
    """Poll until ids are being spooled (tokenizing has begun); False if the process ended first."""
    for _ in range(6000):
        if proc.poll() is not None:
            return False
        if any(p.stat().st_size > 0 for p in run.glob(".staging/*/.train-ids-*.spool")):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig, num_proc", [(signal.SIGKILL, "1"), (signal.SIGINT, "2")])
def test_kill_or_ctrl_c_mid_way_leaves_no_partial_artifacts(tmp_path: Path, sig: signal.Signals, num_proc: str) -> None:
    corpus, run = big_corpus(tmp_path), tmp_path / "run"
    proc = start(corpus, run, "--num-proc", num_proc)
    spooling = wait_for_spool(proc, run)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert spooling, err.decode()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and b"interrupted" in err
        assert not run.exists()  # the run dir the command created went at once, staging and all
    else:
        assert not [p.name for p in run.iterdir() if not p.name.startswith(".")]  # no id file, no vocab, no card
    # the next command finishes the clean-up (recover) and builds normally
    proc = start(FIXTURE_CORPUS, run, "--num-proc", "1", "--val-fraction", "0.5")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    visible = sorted(p.name for p in run.iterdir() if not p.name.startswith("."))
    assert visible == ["corpus.json", "pipeline.lock", "train_ids.npy", "val_ids.npy", "vocab.json"]
    assert not (run / ".staging").exists() and not list(run.glob(".*.tmp"))
    card = json.loads((run / "corpus.json").read_text())
    assert card["val_lines"] == math.floor(card["lines"] * 0.5)


def test_progress_reports_bytes_of_both_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tstream, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(local, "BLOCK", 2000)
    events: list[tuple[str, dict[str, Any]]] = []
    build_vocab_run(tmp_path, progress=lambda kind, info: events.append((kind, info)))
    size = FIXTURE_CORPUS.stat().st_size
    for phase, total in (("reading", size), ("tokenizing", size)):
        done = [info["done"] for kind, info in events if kind == "bytes" and info["phase"] == phase]
        assert len(done) > 5 and done == sorted(done) and done[-1] == total, phase
        assert {info["total"] for kind, info in events if kind == "bytes" and info["phase"] == phase} == {total}
    assert [info for kind, info in events if kind == "tokens"][-1]["done"] == json.loads(
        (tmp_path / "corpus.json").read_text()
    )["tokens"]


@pytest.mark.parametrize("layout", ["auto", "fountain", "transcript"])
def test_screenplays_stream_as_the_whole_text_reads_them(tmp_path: Path, layout: str) -> None:
    """A folder of a Fountain file, an indented screenplay and a transcript: same text, checksums and layout card."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    fixtures = REPO / "corpora" / "fixtures"
    for name in ("screenplay.fountain", "screenplay.txt", "tiny_show.txt"):
        shutil.copy(fixtures / name, folder / name)
    text = load_corpus(str(folder), layout=layout)
    stream = open_corpus(str(folder), layout=layout)
    scan = stream.scan()
    assert "".join(stream.pieces()) == text.text
    assert (scan.sha256, scan.source_sha256, scan.documents) == (text.sha256, text.source_sha256, text.documents)
    assert scan.layouts == text.layout_card()
    if layout == "auto":
        assert scan.layouts["layouts"] == {"transcript": 1, "fountain": 1, "screenplay": 1}
        assert scan.sha256 != scan.source_sha256  # the screenplays became script text


def test_build_vocab_streams_a_screenplay_registry_corpus_with_its_pin(tmp_path: Path) -> None:
    from textgen.steps import build_vocab

    result = build_vocab.run(tmp_path, build_vocab.BuildVocabConfig(corpus="screenplay-fixture", val_fraction=0.2))
    assert result.card["layouts"] and result.card["source_sha256"] != result.card["sha256"]
