"""The classifier's data: three shapes, deduplication, texts under several labels, the recorded seeded split."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest
from conftest import build_vocab_run

from textgen.classify.config import DataSettings
from textgen.classify.sources import read_examples, speaker_turns
from textgen.classify.split import SPLITS, load_split, make_split, save_split
from textgen.classify.units import Codec
from textgen.errors import ArtifactError, InputError

NAMES = Path(__file__).parent / "fixtures" / "names"
LANGS = ["Krovak", "Ulumani", "Velmari"]


def _lines(lang: str) -> list[str]:
    return [line for line in (NAMES / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_table(path: Path, delimiter: str, header: tuple[str, str] = ("label", "text")) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        for lang in LANGS:
            for name in _lines(lang):
                writer.writerow((lang, name) if header[0] == "label" else (name, lang))


def test_a_folder_of_label_files_gives_one_example_a_line() -> None:
    ex = read_examples(DataSettings(data=str(NAMES)), Path("unused"))
    assert ex.order == LANGS
    assert Counter(ex.labels) == {lang: len(_lines(lang)) for lang in LANGS}
    assert ex.texts[: len(_lines("Krovak"))] == _lines("Krovak")
    assert ex.source["kind"] == "folder" and ex.source["files"] == 3 and len(ex.source["sha256"]) == 64


@pytest.mark.parametrize("suffix,delimiter", [(".tsv", "\t"), (".csv", ",")])
def test_a_table_with_text_and_label_columns_gives_the_same_examples(
    tmp_path: Path, suffix: str, delimiter: str
) -> None:
    path = tmp_path / f"names{suffix}"
    _write_table(path, delimiter)  # label first: columns are found by name
    table = read_examples(DataSettings(data=str(path)), tmp_path)
    folder = read_examples(DataSettings(data=str(NAMES)), tmp_path)
    assert sorted(zip(table.texts, table.labels, strict=True)) == sorted(zip(folder.texts, folder.labels, strict=True))
    assert table.order == LANGS and table.source["kind"] == "table"


def test_a_table_keeps_commas_and_quotes_inside_cells(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"Smith, Jr.",a\n"say ""hi""",b\n\nplain,a\n', encoding="utf-8")
    ex = read_examples(DataSettings(data=str(path)), tmp_path)
    assert ex.texts == ["Smith, Jr.", 'say "hi"', "plain"] and ex.labels == ["a", "b", "a"]


def test_word_level_reads_lower_cased_tokens(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nHello, World!\tgreet\nBye now.\tpart\n", encoding="utf-8")
    ex = read_examples(DataSettings(data=str(path), level="word"), tmp_path)
    assert ex.texts == ["hello ||comma|| world ||exclamation_mark||", "bye now ||period||"]


def test_speaker_lines_of_the_run_corpus(tmp_path: Path) -> None:
    build_vocab_run(tmp_path)
    ex = read_examples(DataSettings(label="speaker"), tmp_path)
    assert ex.order == ["theo", "gus", "priya", "maya"]  # the 4 most frequent, most frequent first
    assert set(ex.labels) == set(ex.order) and ex.vocab_itos is not None
    assert ex.source["kind"] == "run" and ex.source["corpus"] == "fixture"
    first = ex.texts[0].split(" ")
    assert ex.labels[0] == "maya" and first[:4] == ["||left_parentheses||", "holding", "up", "a"]
    assert not any(t.endswith(":") or t in ("||turn||", "||return||") for text in ex.texts for t in text.split(" "))
    # the same corpus named with --data is tokenized again, the way the run's vocabulary was
    # (without --data: its training split, the validation turns left to evaluate-generation)
    again = read_examples(DataSettings(data="fixture", label="speaker"), tmp_path)
    assert again.source["kind"] == "corpus" and len(again.texts) > len(ex.texts)
    assert again.texts[: len(ex.texts) - 1] == ex.texts[:-1] and again.labels[: len(ex.labels)] == ex.labels
    two = read_examples(DataSettings(label="speaker", top_speakers=2), tmp_path)
    assert two.order == ["theo", "gus"]


def test_speaker_turns_end_at_breaks_and_the_next_speaker() -> None:
    tokens = ["(", "x", "||turn||", "a:", "hi", "||return||", "there", "b:", "yo", "||turn||", "c", "<eos>", "a:", "z"]
    assert list(speaker_turns(tokens)) == [("a", ["hi", "there"]), ("b", ["yo"]), ("a", ["z"])]


def test_dedup_drops_repeats_and_texts_under_several_labels() -> None:
    ex = read_examples(DataSettings(data=str(NAMES)), Path("unused"))
    split = make_split(ex.texts, ex.labels, ex.order, seed=0)
    stats = split.stats
    assert stats["examples_read"] == 124
    assert stats["duplicates_removed"] == 2  # Velmari repeats two names
    assert (stats["conflicting_texts"], stats["conflicting_examples"]) == (1, 2)  # Tormoki: Velmari and Ulumani
    assert stats["kept"] == 124 - 2 - 2 == sum(split.counts().values())
    everything = [t for name in SPLITS for t in split.texts(name)]
    assert "Tormoki" not in everything and len(everything) == len(set(everything))


def test_the_split_is_stratified_seeded_and_follows_the_protocol() -> None:
    ex = read_examples(DataSettings(data=str(NAMES)), Path("unused"))
    split = make_split(ex.texts, ex.labels, ex.order, seed=0)
    for lang in LANGS:
        n = len({t for t, lab in zip(ex.texts, ex.labels, strict=True) if lab == lang} - {"Tormoki"})
        sizes = {name: Counter(split.targets(name))[lang] for name in SPLITS}
        assert sizes == {"train": math.floor(0.8 * n), "dev": math.floor(0.9 * n) - math.floor(0.8 * n),
                         "test": n - math.floor(0.9 * n)}  # fmt: skip
    again = make_split(list(reversed(ex.texts)), list(reversed(ex.labels)), ex.order, seed=0)
    assert again.parts == split.parts  # the input order does not matter, the seed does
    other = make_split(ex.texts, ex.labels, ex.order, seed=1)
    assert other.texts("test") != split.texts("test") and sorted(other.texts("test")) != sorted(split.texts("test"))


def test_the_recorded_split_reads_back_exactly(tmp_path: Path) -> None:
    ex = read_examples(DataSettings(data=str(NAMES)), tmp_path)
    split = make_split(ex.texts, ex.labels, ex.order, seed=3)
    save_split(tmp_path / "s.json", split, ex.source)
    back = load_split(tmp_path / "s.json")
    assert back.parts == split.parts and back.labels == split.labels and back.seed == 3
    (tmp_path / "bad.json").write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ArtifactError, match="rerun `textgen train-classifier`"):
        load_split(tmp_path / "bad.json")


def test_a_label_left_without_training_examples_is_kept_and_noted() -> None:
    texts = ["aa", "ab", "ac", "ba", "bb", "bc", "shared", "shared", "only"]
    labels = ["x", "x", "x", "y", "y", "y", "z", "x", "z"]
    split = make_split(texts, labels, ["x", "y", "z"], seed=0)
    assert split.stats["per_label"]["z"] == {"train": 0, "dev": 0, "test": 1}
    assert split.stats["notes"] == ["label 'z' has 1 example(s) left, none for training"]
    with pytest.raises(InputError, match="only 1 label"):
        make_split(["a", "b", "c"], ["x", "x", "y"], ["x", "y"], seed=0)


def test_codec_maps_unseen_units_to_unk_and_reports_them() -> None:
    codec = Codec.build("char", ["abc", "abd"])
    assert codec.itos[:2] == ["<pad>", "<unk>"] and codec.itos[2:4] == ["a", "b"]  # by count, then text
    ids, unknown = codec.encode(codec.units("  abzzé "))
    assert ids[:2] == [2, 3] and ids[2:] == [1, 1, 1] and unknown == ["z", "é"]
    words = Codec.build("word", ["hi there", "hi you"])
    assert words.units("Hi, YOU!") == ["hi", "||comma||", "you", "||exclamation_mark||"]
    assert Codec.from_dict(words.to_dict()).itos == words.itos
