"""`textgen generate` end to end on tiny trained models: every option, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import trained_run, vocab_run
from typer.testing import CliRunner

import textgen
from textgen.cli import app
from textgen.device import resolve as resolve_device
from textgen.errors import DeviceError

runner = CliRunner()


def gen(run: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["generate", "--run-dir", str(run), *args])
    return result.exit_code, result.stdout, result.stderr


def test_plain_text_output_is_a_readable_script(lstm_run: Path) -> None:  # noqa: F811
    code, out, err = gen(lstm_run, "--prime", "maya", "--seed", "1", "--length", "60")
    assert code == 0, err
    assert out.startswith("Maya:")
    assert "||" not in out and "<unk>" not in out and "<pad>" not in out


def test_seed_reproduces_and_differs(lstm_run: Path) -> None:  # noqa: F811
    a = gen(lstm_run, "--prime", "gus", "--seed", "5", "--length", "50")[1]
    b = gen(lstm_run, "--prime", "gus", "--seed", "5", "--length", "50")[1]
    c = gen(lstm_run, "--prime", "gus", "--seed", "6", "--length", "50")[1]
    assert a == b and a != c


def test_json_has_text_tokens_and_probabilities(lstm_run: Path) -> None:  # noqa: F811
    args = ["--prime", "maya: okay", "--seed", "2", "--length", "30", "--json", "--num-samples", "2"]
    code, out, err = gen(lstm_run, *args)
    assert code == 0, err
    data = json.loads(out)
    assert data["prime_tokens"] == ["maya:", "okay"] and data["seed"] == 2
    assert data["settings"]["top_p"] == 0.9 and data["settings"]["num_samples"] == 2
    assert len(data["samples"]) == 2
    for s in data["samples"]:
        assert len(s["tokens"]) == len(s["probs"]) == len(s["token_ids"]) <= 30
        assert all(0.0 < p <= 1.0 for p in s["probs"])
        assert s["text"].startswith("Maya: Okay")
        assert s["stop_reason"] in ("length", "eos", "turns")


def test_every_sampling_option(lstm_run: Path) -> None:  # noqa: F811
    base = ["--prime", "theo", "--length", "40", "--seed", "3", "--json"]
    variants = [
        ["--temperature", "0.7"],
        ["--top-k", "5", "--top-p", "1"],
        ["--top-p", "0.5"],
        ["--repetition-penalty", "1.3"],
        ["--greedy"],
        ["--device", "cpu"],
        ["--device", "auto"],
    ]
    texts = {}
    for extra in variants:
        code, out, err = gen(lstm_run, *base, *extra)
        assert code == 0, (extra, err)
        texts[" ".join(extra)] = json.loads(out)["samples"][0]["tokens"]
    assert len({tuple(t) for t in texts.values()} - {tuple(texts["--device cpu"])}) >= 4  # the options change the text
    greedy = json.loads(gen(lstm_run, *base, "--greedy", "--seed", "99")[1])["samples"][0]["tokens"]
    assert greedy == texts["--greedy"]  # greedy ignores the seed
    top1 = json.loads(gen(lstm_run, *base, "--top-k", "1")[1])["samples"][0]
    assert top1["tokens"] == greedy  # top-k 1 is greedy

    def variety(tokens: list[str]) -> float:
        words = [t for t in tokens if t.isalpha()]
        return len(set(words)) / max(1, len(words))

    assert variety(texts["--repetition-penalty 1.3"]) >= variety(greedy)


def test_max_turns_and_length_stop(lstm_run: Path) -> None:  # noqa: F811
    code, out, _ = gen(lstm_run, "--prime", "maya", "--seed", "0", "--max-turns", "2", "--length", "500", "--json")
    sample = json.loads(out)["samples"][0]
    assert code == 0 and sample["stop_reason"] in ("turns", "eos")
    assert sample["text"].rstrip("\n").count("\n\n") <= 1  # at most two turns
    short = json.loads(gen(lstm_run, "--prime", "maya", "--seed", "0", "--length", "7", "--json")[1])["samples"][0]
    assert len(short["tokens"]) <= 7


def test_out_file_is_written_atomically(lstm_run: Path, tmp_path: Path) -> None:  # noqa: F811
    dest = tmp_path / "deep" / "script.txt"
    args = ["--prime", "priya", "--seed", "1", "--length", "30", "--out", str(dest), "--num-samples", "2"]
    code, out, err = gen(lstm_run, *args)
    assert code == 0 and out == ""
    assert "wrote 2 sample(s)" in err
    text = dest.read_text()
    assert text.startswith("=== prime 'priya', sample 1 of 2, seed 1 ===\nPriya:") and "sample 2 of 2" in text
    assert [p.name for p in dest.parent.iterdir()] == ["script.txt"]  # no temporary file left behind
    code, _, _ = gen(lstm_run, "--prime", "priya", "--seed", "1", "--length", "30", "--out", str(dest), "--json")
    assert json.loads(dest.read_text())["samples"][0]["text"].startswith("Priya:")


def test_explain_table_for_lstm(lstm_run: Path) -> None:  # noqa: F811
    code, out, err = gen(lstm_run, "--prime", "maya", "--seed", "1", "--length", "12", "--explain")
    assert code == 0
    assert "H bits" in out and "alternatives" in out
    assert "no attention heatmap" in err


def test_explain_attention_heatmap(attention_run: Path, tmp_path: Path) -> None:  # noqa: F811
    png = tmp_path / "attn.png"
    args = ["--prime", "gus: i", "--seed", "1", "--length", "20", "--explain", "--heatmap", str(png), "--json"]
    code, out, err = gen(attention_run, *args)
    assert code == 0, err
    data = json.loads(out)
    assert f"attention heatmap: {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = data["samples"][0]
    assert len(s["entropy_bits"]) == len(s["tokens"]) and len(s["alternatives"][0]) == 5


def test_python_api(lstm_run: Path) -> None:  # noqa: F811
    g = textgen.load(lstm_run, device="cpu")
    out = g.generate(prime="maya", length=20, seed=9, num_samples=2)
    assert out.text == out.samples[0].text and len(out.samples) == 2
    assert out.to_dict()["samples"][1]["tokens"] == out.samples[1].tokens


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--prime", "maya: my sourdoh"], 1, "'sourdoh' is not in the vocabulary; closest: sourdough"),
        (["--prime", "  "], 2, "--prime is empty"),
        (["--prime", "maya", "--temperature", "0"], 2, "use --greedy"),
        (["--prime", "maya", "--temperature", "-1"], 2, "use --greedy"),
        (["--prime", "maya", "--top-p", "0"], 2, "(0, 1]"),
        (["--prime", "maya", "--top-p", "1.5"], 2, "(0, 1]"),
        (["--prime", "maya", "--length", "0"], 2, "--length must be in [1, 100000], got 0"),
        (["--prime", "maya", "--length", "100000000000"], 2, "--length must be in [1, 100000]"),
        (["--prime", "maya", "--num-samples", "0"], 2, "--num-samples"),
        (["--prime", "maya", "--max-turns", "0"], 2, "--max-turns"),
        (["--prime", "maya", "--device", "tpu"], 2, "--device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        (["--prime", "maya", "--device", "meta"], 2, "--device must be auto, cpu, cuda or cuda:N"),
        ([], 2, "--prime is missing"),
    ],
)
def test_bad_input_is_one_line(lstm_run: Path, args: list[str], code: int, needle: str) -> None:  # noqa: F811
    exit_code, out, err = gen(lstm_run, *args)
    assert exit_code == code and out == ""
    assert needle in err and err.count("\n") == 1 and err.startswith("error: ")


def test_cuda_without_cuda(lstm_run: Path) -> None:  # noqa: F811
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="use --device cpu"):
        resolve_device("cuda")
    code, _, err = gen(lstm_run, "--prime", "maya", "--device", "cuda")
    assert code == 1 and "CUDA is not available" in err


def test_run_dir_without_generator_says_train(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(vocab_run(), run)
    code, _, err = gen(run, "--prime", "maya")
    assert code == 1 and "run `textgen train-generator --run-dir" in err and err.count("\n") == 1
    code, _, err = gen(tmp_path / "nothing", "--prime", "maya")
    assert code == 1 and "textgen build-vocab" in err


def test_weights_not_matching_the_vocabulary(run_copy: Path) -> None:  # noqa: F811
    vocab = json.loads((run_copy / "vocab.json").read_text())
    vocab["itos"] = vocab["itos"] + ["brandnewword"]
    vocab["counts"] = vocab["counts"] + [1]
    vocab.pop("sha256")  # a vocabulary rebuilt from other text, not a hand-edited one
    (run_copy / "vocab.json").write_text(json.dumps(vocab))
    code, _, err = gen(run_copy, "--prime", "maya")
    assert code == 1 and "trained on another vocabulary" in err and "textgen train-generator" in err
    assert err.count("\n") == 1


def test_loads_only_run_dir_artifacts(tmp_path: Path) -> None:
    """A run dir holding only vocab.json, generator.json and generator.safetensors is enough."""
    run = tmp_path / "bare"
    run.mkdir()
    for name in ("vocab.json", "generator.json", "generator.safetensors"):
        shutil.copy(trained_run("lstm") / name, run / name)
    code, out, err = gen(run, "--prime", "maya", "--seed", "1", "--length", "10")
    assert code == 0, err and out.startswith("Maya:")


def test_precision_option_and_its_errors(lstm_run: Path) -> None:  # noqa: F811
    code, out, err = gen(lstm_run, "--prime", "maya", "--seed", "1", "--length", "30", "--precision", "fp32", "--json")
    assert code == 0, err
    assert json.loads(out)["settings"]["precision"] == "fp32"
    code, _, err = gen(lstm_run, "--prime", "maya", "--precision", "fp16")
    assert code == 2 and "--precision must be one of auto, fp32, bf16, int8; got 'fp16'" in err
    code, _, err = gen(lstm_run, "--prime", "maya", "--precision", "int8", "--device", "cuda")
    assert code != 0 and len(err.strip().splitlines()) == 1
