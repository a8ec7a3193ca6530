"""`textgen train-classifier`, `classify` and `evaluate-classifier` through the CLI, and every bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import build_vocab_run
from typer.testing import CliRunner

from textgen.cli import app

runner = CliRunner()
NAMES = Path(__file__).parent / "fixtures" / "names"
FAST = ["--hidden", "16", "--epochs", "3", "--device", "cpu", "--threads", "1"]
OUTPUTS = ("classifier.safetensors", "classifier.json", "classifier_split.json", "classifier_metrics.json")


def _run(*args: str, input: str | None = None) -> object:
    return runner.invoke(app, list(args), input=input)


def _ok(result: object) -> str:
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined]


def _one_line_error(result: object, code: int = 1) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr  # type: ignore[attr-defined]
    return lines[0]


@pytest.fixture(scope="module")
def names_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "names"
    out = _ok(_run("train-classifier", "--data", str(NAMES), "--run-dir", str(run), "--seed", "0", *FAST))
    assert "124 examples read: 2 duplicates removed, 1 texts under several labels dropped (2 examples)" in out
    assert "split 96 / 12 / 12" in out and re.search(r"test: accuracy [01]\.\d+, macro-F1", out)
    return run


@pytest.fixture(scope="module")
def speaker_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture sitcom's four main speakers, word level on the run's vocabulary (no word vectors)."""
    run = tmp_path_factory.mktemp("cli") / "speakers"
    build_vocab_run(run)
    out = _ok(_run("train-classifier", "--label", "speaker", "--run-dir", str(run), *FAST))
    assert re.search(r"\d+ of \d+ turns: the 4 most frequent of \d+ speakers", out)
    return run


def _copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


# ----- classify ------------------------------------------------------------------------------------
def test_classify_texts_from_arguments_file_and_stdin(names_run: Path, tmp_path: Path) -> None:
    out = _ok(_run("classify", "--run-dir", str(names_run), "Strolvok", "Kalunui"))
    rows = out.strip().splitlines()
    assert len(rows) == 2 and rows[0].startswith("Strolvok\t") and rows[0].count("%") == 3
    (tmp_path / "in.txt").write_text("Strolvok\n\n  \nKalunui\n", encoding="utf-8")
    assert _ok(_run("classify", "--run-dir", str(names_run), "--file", str(tmp_path / "in.txt"))) == out
    assert _ok(_run("classify", "--run-dir", str(names_run), input="Strolvok\nKalunui\n")) == out
    two = _ok(_run("classify", "--run-dir", str(names_run), "--top-k", "9", "Strolvok"))
    assert two.count("%") == 3  # at most the number of labels


def test_classify_json_flags_characters_never_seen(names_run: Path) -> None:
    out = _ok(_run("classify", "--run-dir", str(names_run), "--json", "--top-k", "2", "Zdøvok", "Kalunui"))
    first, second = json.loads(out)["predictions"]
    assert first["text"] == "Zdøvok" and first["unknown"] == ["ø"] and second["unknown"] == []
    assert [t["label"] for t in first["top"]][0] == first["label"] and len(first["top"]) == 2
    assert first["top"][0]["probability"] >= first["top"][1]["probability"]


def test_classify_json_flags_words_never_seen(speaker_run: Path) -> None:
    out = _ok(_run("classify", "--run-dir", str(speaker_run), "--json", "theo: the flurbonic gerald"))
    (pred,) = json.loads(out)["predictions"]
    assert pred["label"] in ("theo", "gus", "priya", "maya") and pred["unknown"] == ["flurbonic"]


def test_classify_bad_inputs_are_one_line_errors(names_run: Path, speaker_run: Path, tmp_path: Path) -> None:
    run = str(names_run)
    assert "is empty: it has no characters" in _one_line_error(_run("classify", "--run-dir", run, "Kalunui", "  "))
    assert "no words to classify" in _one_line_error(_run("classify", "--run-dir", str(speaker_run), "theo:"))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    assert "has no text to classify" in _one_line_error(_run("classify", "--run-dir", run, "--file", str(blank)))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Müller\n".encode("latin-1"))
    assert "is not valid utf-8" in _one_line_error(_run("classify", "--run-dir", run, "--file", str(latin)))
    assert "cannot read --file" in _one_line_error(_run("classify", "--run-dir", run, "--file", str(tmp_path / "no")))
    both = _run("classify", "--run-dir", run, "--file", str(blank), "Kalunui")
    assert "not both" in _one_line_error(both, 2)
    assert "--top-k must be at least 1" in _one_line_error(_run("classify", "--run-dir", run, "--top-k", "0", "x"), 2)
    missing = _one_line_error(_run("classify", "--run-dir", str(tmp_path), "Kalunui"))
    assert f"run `textgen train-classifier --run-dir {tmp_path}` first" in missing


# ----- evaluate-classifier -------------------------------------------------------------------------
def test_evaluate_classifier_repeats_the_recorded_test_scores(names_run: Path, tmp_path: Path) -> None:
    run = _copy(names_run, tmp_path)
    before = (run / "confusion.png").read_bytes()
    out = _ok(_run("evaluate-classifier", "--run-dir", str(run)))
    for label in ("Krovak", "Ulumani", "Velmari", "precision", "recall", "support"):
        assert label in out
    assert re.search(r"accuracy [01]\.\d{4}  macro-F1 [01]\.\d{4}  majority baseline 0\.3333", out)
    assert (run / "confusion.png").read_bytes() == before  # same scores, same picture
    data = json.loads(_ok(_run("evaluate-classifier", "--run-dir", str(run), "--json")))
    recorded = json.loads((run / "classifier_metrics.json").read_text(encoding="utf-8"))["test"]
    assert {k: data[k] for k in recorded} == recorded
    dev = json.loads(_ok(_run("evaluate-classifier", "--run-dir", str(run), "--split", "dev", "--json")))
    assert dev["split"] == "dev" and dev["plot"].endswith("confusion_dev.png") and (run / "confusion_dev.png").is_file()
    png = tmp_path / "elsewhere" / "c.png"
    _ok(_run("evaluate-classifier", "--run-dir", str(run), "--plot", str(png)))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "--split must be one of test, dev" in _one_line_error(
        _run("evaluate-classifier", "--run-dir", str(run), "--split", "train"), 2
    )
    (run / "classifier_split.json").unlink()
    assert "run `textgen train-classifier" in _one_line_error(_run("evaluate-classifier", "--run-dir", str(run)))


def test_train_classifier_json_keeps_stdout_to_one_object(tmp_path: Path) -> None:
    result = _run("train-classifier", "--data", str(NAMES), "--run-dir", str(tmp_path / "r"), *FAST, "--json")
    data = json.loads(_ok(result))  # the progress lines went to stderr
    assert set(data) >= {"labels", "split", "test", "training"} and "epoch 1:" in result.stderr  # type: ignore[attr-defined]


# ----- train-classifier: bad input -----------------------------------------------------------------
def _names_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(NAMES, folder)
    return folder


def _fails(tmp_path: Path, *args: str, code: int = 1) -> str:
    run = tmp_path / "run"
    line = _one_line_error(_run("train-classifier", "--run-dir", str(run), *FAST, *args), code)
    assert not any((run / name).exists() for name in OUTPUTS)  # nothing half-written
    return line


def test_a_folder_with_one_label(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(NAMES / "Krovak.txt", folder)
    assert "has one label (Krovak.txt); a classifier needs at least two" in _fails(tmp_path, "--data", str(folder))
    empty = tmp_path / "none"
    empty.mkdir()
    assert "has no <label>.txt files" in _fails(tmp_path, "--data", str(empty))


def test_an_empty_label_file(tmp_path: Path) -> None:
    folder = _names_copy(tmp_path)
    (folder / "Empty.txt").write_text("\n \n", encoding="utf-8")
    assert "Empty.txt is empty; add one example a line" in _fails(tmp_path, "--data", str(folder))


def test_non_utf8_and_binary_data(tmp_path: Path) -> None:
    folder = _names_copy(tmp_path)
    (folder / "Krovak.txt").write_bytes("Dvořák\n".encode("cp1250"))
    assert "Krovak.txt is not valid utf-8: byte 0x" in _fails(tmp_path, "--data", str(folder))
    assert "--encoding is no text encoding" in _fails(tmp_path, "--data", str(folder), "--encoding", "nonsense", code=2)
    (folder / "Krovak.txt").write_bytes(b"\x00\x01\x02binary")
    assert "looks binary" in _fails(tmp_path, "--data", str(folder))


def test_a_table_without_the_columns(tmp_path: Path) -> None:
    table = tmp_path / "t.tsv"
    table.write_text("name\tlanguage\nKalunui\tUlumani\n", encoding="utf-8")
    assert "has columns ['name', 'language']; its first line must name a 'text' and a 'label'" in _fails(
        tmp_path, "--data", str(table)
    )
    table.write_text("text\tlabel\nKalunui\t\n", encoding="utf-8")
    assert "line 2 has no label" in _fails(tmp_path, "--data", str(table))
    table.write_text("text\tlabel\na\tx\nb\tx\n", encoding="utf-8")
    assert "has one label ('x')" in _fails(tmp_path, "--data", str(table))


def test_speaker_labels_need_speaker_lines_and_a_vocabulary(tmp_path: Path) -> None:
    prose = tmp_path / "prose.txt"
    prose.write_text("".join(f"line {i} of plain prose, with nobody speaking.\n" for i in range(40)), encoding="utf-8")
    run = tmp_path / "run"
    assert "vocab.json not found; run `textgen build-vocab --run-dir" in _fails(tmp_path, "--label", "speaker")
    line = _fails(tmp_path, "--label", "speaker", "--data", str(prose))  # checked before staging: the run dir's name
    assert "vocab.json not found; run `textgen build-vocab --run-dir" in line and ".staging" not in line
    build_vocab_run(run, corpus=str(prose))
    assert "has no speaker lines" in _fails(tmp_path, "--label", "speaker")
    assert "has no speaker lines" in _fails(tmp_path, "--label", "speaker", "--data", str(prose))
    assert "unknown corpus 'nowhere' and no such path" in _fails(tmp_path, "--label", "speaker", "--data", "nowhere")


def test_nonsense_options_are_usage_errors(tmp_path: Path) -> None:
    assert "--data is missing" in _fails(tmp_path, code=2)
    assert "--level char does not go with --label speaker" in _fails(
        tmp_path, "--label", "speaker", "--level", "char", code=2
    )
    assert "--arch must be one of rnn, gru, lstm" in _fails(tmp_path, "--data", str(NAMES), "--arch", "tcn", code=2)
    assert "--label must be one of speaker" in _fails(tmp_path, "--data", str(NAMES), "--label", "x", code=2)
    assert "--dropout must be in [0, 1)" in _fails(tmp_path, "--data", str(NAMES), "--dropout", "1", code=2)
    single = tmp_path / "one.txt"
    single.write_text("a\nb\n", encoding="utf-8")
    assert "is a single file" in _fails(tmp_path, "--data", str(single))
    assert "does not exist" in _fails(tmp_path, "--data", str(tmp_path / "missing"))


def test_a_failed_rerun_leaves_the_previous_classifier_intact(names_run: Path, tmp_path: Path) -> None:
    run = _copy(names_run, tmp_path)
    before = {name: (run / name).read_bytes() for name in (*OUTPUTS, "confusion.png", "pipeline.lock")}
    folder = _names_copy(tmp_path)
    (folder / "Empty.txt").write_text("", encoding="utf-8")
    _one_line_error(_run("train-classifier", "--run-dir", str(run), "--data", str(folder), *FAST))
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not (run / ".staging").exists()


@pytest.mark.parametrize(
    "command,cls",
    [("classify", "ClassifyConfig"), ("evaluate-classifier", "EvaluateClassifierConfig"),
     ("evaluate-generation", "EvaluateGenerationConfig")],
)  # fmt: skip
def test_the_read_only_commands_derive_their_options_from_a_config(command: str, cls: str) -> None:
    from textgen import options
    from textgen.classify import config

    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", res.output))
    leaves = options.leaves(getattr(config, cls))
    assert leaves and {options.cli_flag(leaf.name, leaf) for leaf in leaves} <= flags
