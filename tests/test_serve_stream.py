"""Streaming (``POST /api/generate/stream``): events in order, each token as it is sampled with its
probability and alternatives, laid out as the script, then why each sample stopped and the whole result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serve_support import parse_sse
from typer.testing import CliRunner

from textgen.cli import app as cli_app
from textgen.serve import ServeConfig, create_app, load_registry
from textgen.serve.layout import Layout
from textgen.text import symbols


@pytest.fixture(scope="module")
def client(lstm_run: Path, attention_run: Path) -> Iterator[TestClient]:
    registry = load_registry((str(lstm_run), str(attention_run)), "cpu")
    with TestClient(create_app(registry, ServeConfig(max_length=600, max_samples=16))) as c:
        yield c


def stream(client: TestClient, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    response = client.post("/api/generate/stream", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


def script(pieces: list[dict[str, Any]]) -> str:
    """The text a page draws from the pieces: lines and turns as ``detokenize`` writes them."""
    lines: list[str] = []
    line = ""
    for piece in pieces:
        kind = piece["kind"]
        if kind == "eos":
            break
        if kind in ("return", "turn") or piece.get("new_turn"):
            lines.append(line)
            if kind == "turn" or piece.get("new_turn"):
                lines.append("")
            line = ""
        if kind not in ("return", "turn"):
            line += piece["text"]
    if line:
        lines.append(line)
    text = "\n".join(lines).strip("\n")
    return text + "\n" if text else ""


@pytest.mark.parametrize("run", ["lstm", "attention"])
def test_events_come_in_order_and_end_with_the_explain_result(client: TestClient, run: str) -> None:
    events = stream(client, run=run, prime="maya", length=50, seed=11, num_samples=3, max_turns=3)
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[1] == "start" and names[-1] == "done"
    first_end = names.index("end")
    assert set(names[2:first_end]) == {"token"} and names[first_end:-1] == ["end"] * 3
    start, result = events[1][1], events[-1][1]["result"]
    assert start["prime_tokens"] == ["maya:"] and start["seed"] == 11 and start["attention"] == (run == "attention")
    tokens = [data for name, data in events if name == "token"]
    for j, sample in enumerate(result["samples"]):
        mine = [t for t in tokens if t["sample"] == j]
        assert [t["index"] for t in mine] == list(range(len(sample["tokens"])))
        assert [t["position"] for t in mine] == [1 + t["index"] for t in mine]
        assert [t["token"] for t in mine] == sample["tokens"]
        assert [t["id"] for t in mine] == sample["token_ids"]
        assert [t["prob"] for t in mine] == pytest.approx(sample["probs"], abs=1e-6)
        assert [t["entropy_bits"] for t in mine] == pytest.approx(sample["entropy_bits"], abs=1e-6)
        for t, alts in zip(mine, sample["alternatives"], strict=True):
            assert [a["token"] for a in t["alternatives"]] == [a["token"] for a in alts]
            assert 0 < t["prob"] <= 1 and all(0 < a["prob"] <= 1 for a in t["alternatives"])
            if run == "attention":
                weights = t["attention"]["weights"]
                assert t["attention"]["start"] == t["position"] - 1 - len(weights)
                assert 0.0 <= sum(weights) <= 1.0 + 1e-3
            else:
                assert "attention" not in t
        end = [data for name, data in events if name == "end"][j]
        assert end["sample"] == j and end["stop_reason"] == sample["stop_reason"] and end["text"] == sample["text"]
        assert end["length"] == len(sample["tokens"])
    # tokens arrive step by step: sample 0's k-th token before sample 1's (k+1)-th
    order = [(t["index"], t["sample"]) for t in tokens]
    assert order == sorted(order)


def test_the_stream_is_the_explain_generation_of_the_api_and_the_cli(client: TestClient, lstm_run: Path) -> None:
    body = {"run": "lstm", "prime": "theo", "length": 40, "seed": 2, "temperature": 0.9}
    result = stream(client, **body)[-1][1]["result"]
    plain = client.post("/api/generate", json={**body, "explain": True})
    assert plain.json() == result
    cli = CliRunner().invoke(
        cli_app,
        ["generate", "--run-dir", str(lstm_run), "--prime", "theo", "--length", "40", "--seed", "2"]
        + ["--temperature", "0.9", "--explain", "--json"],
    )
    assert cli.exit_code == 0, cli.stderr
    assert json.loads(cli.stdout) == result


def test_each_stop_reason_is_reported(client: TestClient) -> None:
    reasons: dict[str, dict[str, Any]] = {}
    length = stream(client, run="lstm", prime="maya", length=3, seed=0)
    reasons["length"] = [d for n, d in length if n == "end"][0]
    turns = stream(client, run="lstm", prime="maya", length=400, max_turns=1, seed=0)
    reasons["turns"] = [d for n, d in turns if n == "end"][0]
    for seed in range(30):  # the fixture has two documents: <eos> is rare but reachable
        events = stream(client, run="lstm", prime="maya", length=300, seed=seed, num_samples=16, temperature=1.5)
        ends = [d for n, d in events if n == "end" and d["stop_reason"] == "eos"]
        if ends:
            reasons["eos"] = ends[0]
            last = [d for n, d in events if n == "token" and d["sample"] == ends[0]["sample"]][-1]
            assert last["token"] == symbols.EOS and last["kind"] == "eos"
            break
    assert reasons["length"]["stop_reason"] == "length" and reasons["length"]["length"] == 3
    assert reasons["turns"]["stop_reason"] == "turns"
    sent = [d["token"] for n, d in turns if n == "token"]
    assert sent == [d for n, d in turns if n == "done"][0]["result"]["samples"][0]["tokens"]
    assert not any(symbols.is_speaker(t) for t in sent)  # the speaker that would open turn 2 was not sent
    assert "eos" in reasons, "no sample reached <eos> in 30 seeds x 16 samples"


@pytest.mark.parametrize("run", ["lstm", "attention"])
def test_the_pieces_lay_out_the_same_script_as_the_text(client: TestClient, run: str) -> None:
    events = stream(client, run=run, prime="gus: so", length=120, seed=5, num_samples=4)
    start = events[1][1]
    for j, sample in enumerate(events[-1][1]["result"]["samples"]):
        pieces = start["prime_pieces"] + [d for n, d in events if n == "token" and d["sample"] == j]
        assert script(pieces) == sample["text"]
        speakers = [p for p in pieces if p["kind"] == "speaker"]
        assert all(p["text"][:1].isupper() and p["text"].endswith(":") for p in speakers)


def test_layout_marks_speakers_laughs_and_breaks() -> None:
    layout = Layout(frozenset({"maya"}))
    tokens = ["maya:", "hi", "||comma||", "i", "do", "n't", "<laugh>", "||return||", "ok", "gus:", "maya", "||turn||"]
    pieces = [layout.add(t) for t in tokens]
    assert [p.kind for p in pieces] == [
        "speaker", "word", "word", "word", "word", "word", "laugh", "return", "word", "speaker", "word", "turn"
    ]  # fmt: skip
    assert [p.text for p in pieces] == [
        "Maya:",
        " Hi",
        ",",
        " I",
        " do",
        "n't",
        " [laughter]",
        "",
        "Ok",
        "Gus:",
        " Maya",
        "",
    ]
    assert pieces[9].new_turn and not pieces[0].new_turn
