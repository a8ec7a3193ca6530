"""Corpus layer: registry, fixture, seinfeld converter, local files, hf folders, split, errors."""

from __future__ import annotations

import collections
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from textgen.corpus import DOC_SEPARATOR, CorpusEntry, hf, list_corpora, load_corpus, registry, seinfeld, split_lines
from textgen.errors import CorpusError, EncodingError, UsageError

FIXTURE = Path(__file__).resolve().parents[1] / "corpora" / "fixtures" / "tiny_show.txt"


# --- registry -------------------------------------------------------------------------------


def test_list_corpora_is_a_table_with_default_first() -> None:
    rows = list_corpora()
    names = [e.name for e in rows]
    assert names[0] == "seinfeld" and rows[0].default
    assert {"seinfeld", "seinfeld-classic", "fixture"} <= set(names)
    for e in rows:
        assert isinstance(e, CorpusEntry)
        assert e.description and e.licence and e.source
        assert e.kind in registry.KINDS
        assert isinstance(e.lowercase, bool)
        assert e.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", e.sha256)
    classic = registry.entries()["seinfeld-classic"]
    assert classic.sha256 == "456ab68e2694b90ce5cccc384d5e7d8c79e33334856a60333fb5348d3696d3f6"
    assert classic.source.startswith("https://raw.githubusercontent.com/udacity/")
    assert "[laughter]" in registry.entries()["seinfeld"].description
    assert registry.default_corpus() == "seinfeld"


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(CorpusError) as err:
        load_corpus("seinfld")
    msg = str(err.value)
    assert "seinfeld" in msg and "path must exist" in msg and "\n" not in msg


def test_pinned_checksum_mismatch_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = registry.entries()["fixture"]
    monkeypatch.setitem(registry.entries(), "fixture", replace(entry, sha256="0" * 64))
    with pytest.raises(CorpusError, match="pinned"):
        load_corpus("fixture")


# --- the fixture ----------------------------------------------------------------------------


def test_fixture_corpus() -> None:
    c = load_corpus("fixture")
    assert c.name == "fixture" and c.source == str(FIXTURE)
    assert c.text == FIXTURE.read_text(encoding="utf-8")
    assert c.documents == 2 and c.lowercase and "MIT" in c.licence
    assert len(c.text.splitlines()) >= 300
    speakers = collections.Counter(re.findall(r"^([a-z. ]+):", c.text, flags=re.M))
    assert all(speakers[s] >= 20 for s in ("maya", "theo", "priya", "gus"))
    assert speakers["mr. lindqvist"] >= 3
    assert c.text.count("[laughter]") >= 20 and "[setting:" in c.text and "<|endoftext|>" in c.text
    words = collections.Counter(re.findall(r"[a-z']+", c.text))
    assert sum(words.values()) >= 2500
    assert sum(1 for n in words.values() if n >= 2) >= 250
    for mark in [".", ",", "!", "?", ";", ":", "...", "--", '"', "'", "-", "(", ")", "don't", "it's", "i'm"]:
        assert mark in c.text, mark


# --- seinfeld converter ---------------------------------------------------------------------

EPISODE = (
    "# JERRY\r\n1.106\r\nHere's what happened last\r\nweek.\r\n3.050\r\n3.600\r\n**LOL**\r\n3.074\r\n"
    "George and I went up to NBC.\r\n6.371\r\n6.444\r\nWe're waiting.\r\n7.822\r\n"
    "# KRAMER: 1937. \r\n8.000\r\nYeah!\r\n9.000\r\n9.100\r\n**LOL**\r\n9.900\r\n"
    "#  GEORGE\r\n10.0\r\nWhat?\r\n11.0\r\n\r\n"
)


def test_convert_episode_turns_and_laughs() -> None:
    out = seinfeld.convert_episode(EPISODE)
    assert out == (
        "jerry: Here's what happened last week. [laughter]\n\n"
        "jerry: George and I went up to NBC. We're waiting.\n\n"
        "kramer: 1937. Yeah! [laughter]\n\n"
        "george: What?\n"
    )


def test_convert_repairs_mojibake() -> None:
    text = seinfeld._decode("# JERRY\r\n1.0\r\n[ג™×]\r\nthe fiancיe, maסana\r\n2.0\r\n".encode())
    assert "[♪]" in text and "fiancée" in text and "mañana" in text


def test_seinfeld_corpus_structure() -> None:
    start = time.perf_counter()
    c = load_corpus("seinfeld")
    elapsed = time.perf_counter() - start
    assert elapsed < 5  # ~0.15 s alone; generous for a shared 2-core machine
    assert c.documents == 96 and c.lowercase and c.source == "pypi:seinfeld_laugh_corpus"
    assert c.sha256 == registry.entries()["seinfeld"].sha256
    lines = c.text.splitlines()
    assert not any(re.fullmatch(r"\d+(\.\d+)?", ln) for ln in lines)
    assert "**LOL**" not in c.text and "\r" not in c.text and "# " not in c.text
    assert c.text.count("[laughter]") > 10000
    speakers = collections.Counter(re.findall(r"^([^:\n]+): ", c.text, flags=re.M))
    for name in ("jerry", "george", "elaine", "kramer"):
        assert speakers[name] > 3000, name
    # turns separated by blank lines: every other line is blank
    assert all(ln == "" for ln in lines[1::2])
    assert all(re.match(r"^[^:]+: \S", ln) or ln == "<|endoftext|>" for ln in lines[0::2])
    assert c.text.count(DOC_SEPARATOR) == 95
    assert re.search(r"[\u0590-\u05ff]", c.text) is None


# --- local files ----------------------------------------------------------------------------


def test_file_crlf_is_normalised(tmp_path: Path) -> None:
    p = tmp_path / "show.txt"
    p.write_bytes(b"a: hi\r\n\r\nb: bye\r\n")
    c = load_corpus(str(p))
    assert c.text == "a: hi\n\nb: bye\n" and c.documents == 1 and c.name == str(p)


def test_folder_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ep2.txt").write_text("b: two\n")
    (tmp_path / "a.txt").write_text("a: one\n\n")
    (tmp_path / "notes.md").write_text("ignored")
    (tmp_path / "c.txt").write_text("   \n")  # empty documents are skipped
    c = load_corpus(str(tmp_path))
    assert c.text == "a: one\n\n<|endoftext|>\n\nb: two\n" and c.documents == 2


def test_glob(tmp_path: Path) -> None:
    for i in (2, 1):
        (tmp_path / f"ep{i}.txt").write_text(f"x: {i}\n")
    c = load_corpus(str(tmp_path / "ep*.txt"))
    assert c.text.splitlines()[0] == "x: 1" and c.documents == 2
    with pytest.raises(CorpusError, match="matches no files"):
        load_corpus(str(tmp_path / "nothing*.txt"))


def test_folder_without_txt(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("x")
    with pytest.raises(CorpusError, match="no .txt or .fountain files"):
        load_corpus(str(tmp_path))


def test_missing_path_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="path must exist"):
        load_corpus(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("content", [b"", b"  \n\r\n\t\n"])
def test_empty_corpus(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(CorpusError, match="is empty"):
        load_corpus(str(p))


def test_non_utf8_names_file_and_offset(tmp_path: Path) -> None:
    p = tmp_path / "latin.txt"
    p.write_bytes("jerry: caf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(EncodingError) as err:
        load_corpus(str(p))
    msg = str(err.value)
    assert str(p) in msg and "offset 10" in msg and "0xe9" in msg and "--encoding" in msg
    assert load_corpus(str(p), encoding="latin-1").text == "jerry: caf\u00e9 au lait\n"


def test_binary_file(tmp_path: Path) -> None:
    p = tmp_path / "blob.txt"
    p.write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(EncodingError, match="looks binary.*offset 3"):
        load_corpus(str(p))


def test_unknown_encoding_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfa: hi\n")
    assert load_corpus(str(p)).text == "a: hi\n"
    with pytest.raises(UsageError, match="unknown --encoding"):
        load_corpus(str(p), encoding="klingon")


# --- hf -------------------------------------------------------------------------------------


def test_hf_local_folder_keeps_documents_and_linebreaks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "2.txt").write_text("b: two\n\nc: three\n")
    (data / "1.txt").write_text("a: one\n")
    c = load_corpus(f"hf:{data}", cache_dir=tmp_path / "cache")
    assert c.text == "a: one\n\n<|endoftext|>\n\nb: two\n\nc: three\n"
    assert c.documents == 2 and c.name == f"hf:{data}"


def test_hf_errors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def boom(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("Dataset 'nobody/nothing' doesn't exist on the Hub\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    with pytest.raises(CorpusError, match=r"cannot load hf:nobody/nothing \(FileNotFoundError: Dataset"):
        load_corpus("hf:nobody/nothing")
    with pytest.raises(CorpusError, match="needs a dataset id"):
        load_corpus("hf:")


def test_hf_needs_a_text_column(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    table = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"line": ["x"], "speaker": ["y"]})})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: table)
    with pytest.raises(CorpusError, match=r"no 'text' column \(columns: line, speaker\)"):
        hf.load_documents("someone/table")


# --- split ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "fraction", "n_val"), [(10, 0.25, 2), (20, 0.05, 1), (19, 0.05, 0), (7, 0.5, 3)])
def test_split_floor_and_tail(n: int, fraction: float, n_val: int) -> None:
    lines = [f"line {i}" for i in range(n)]
    train, val = split_lines("\n".join(lines) + "\n", fraction)
    assert len(val) == n_val and train + val == lines and val == lines[n - n_val :]


def test_split_zero_and_invalid() -> None:
    assert split_lines("a\nb\r\nc", 0) == (["a", "b", "c"], [])
    for bad in (1, 1.0, -0.1, 2, float("nan"), "0.1", True):
        with pytest.raises(UsageError, match="--val-fraction"):
            split_lines("a\nb", bad)  # type: ignore[arg-type]


def test_split_of_fixture_matches_benchmark_rule() -> None:
    c = load_corpus("fixture")
    n = len(c.text.splitlines())
    train, val = split_lines(c.text, 0.05)
    assert len(val) == n // 20 and len(train) == n - n // 20
