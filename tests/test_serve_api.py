"""``textgen serve``'s HTTP API with FastAPI's TestClient: every endpoint, every error, and the
same JSON and text as ``textgen generate --json`` for the same seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serve_support import run_with_vectors
from typer.testing import CliRunner

from textgen.cli import app as cli_app
from textgen.serve import ServeConfig, create_app, load_registry

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir() -> Path:
    return run_with_vectors("lstm")


@pytest.fixture(scope="module")
def client(run_dir: Path) -> Iterator[TestClient]:
    cfg = ServeConfig(max_length=400, max_samples=4, max_primes=2, max_prime_chars=100)
    with TestClient(create_app(load_registry((str(run_dir),), "cpu"), cfg)) as c:
        yield c


def cli_json(run_dir: Path, *args: str) -> str:
    result = runner.invoke(cli_app, ["generate", "--run-dir", str(run_dir), "--json", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    return message


# ----- the endpoints ---------------------------------------------------------------------------
def test_healthz(client: TestClient) -> None:
    data = client.get("/healthz").json()
    assert data["status"] == "ok"
    assert set(data["runs"]["lstm"]) >= {"queued", "running", "finished", "cancelled", "timed_out"}


def test_runs_describe_each_served_run(client: TestClient, run_dir: Path) -> None:
    data = client.get("/api/runs").json()
    (run,) = data["runs"]
    card = json.loads((run_dir / "generator.json").read_text())
    vocab = json.loads((run_dir / "vocab.json").read_text())
    assert run["name"] == "lstm" and run["corpus"] == "fixture" and run["architecture"] == "lstm"
    assert run["val_bpb"] == pytest.approx(card["metrics"]["val_bpb"])
    assert run["vocab_size"] == len(vocab["itos"])
    assert run["embeddings"] is True and run["attention"] is False and run["turns"] is True
    assert run["ngram"] is True  # the fixture generator was trained with its n-gram (the default)
    counts = [s["count"] for s in run["speakers"]]
    assert counts == sorted(counts, reverse=True) and len(counts) > 3
    speaker_counts = {t: c for t, c in zip(vocab["itos"], vocab["counts"], strict=True) if t.endswith(":")}
    assert counts[0] == max(speaker_counts.values())
    assert {"name": "Maya", "prime": "maya", "count": speaker_counts["maya:"]} in run["speakers"]
    assert data["limits"]["max_length"] == 400 and data["limits"]["max_samples"] == 4
    assert data["defaults"]["top_p"] == 0.9 and data["defaults"]["length"] == 200 and data["defaults"]["seed"] is None


@pytest.mark.parametrize(
    "settings",
    [
        {"length": 40, "seed": 7, "temperature": 0.8},
        {"length": 30, "seed": 3, "num_samples": 2, "top_k": 5, "top_p": 1.0, "explain": True},
        {"length": 60, "seed": 1, "max_turns": 2, "repetition_penalty": 1.3, "greedy": False},
        {"length": 30, "seed": 2, "ngram": True},  # the generate step's own option, derived into the API
    ],
)
def test_generate_is_the_cli_json_byte_for_byte(client: TestClient, run_dir: Path, settings: dict[str, Any]) -> None:
    response = client.post("/api/generate", json={"run": "lstm", "prime": "maya", **settings})
    assert response.status_code == 200, response.text
    flags = [
        f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')}={v}"
        for k, v in settings.items()
        if v is not False
    ]
    assert response.text == cli_json(run_dir, "--prime", "maya", *flags)
    data = response.json()
    assert data["seed"] == settings["seed"] and data["settings"]["length"] == settings["length"]


def test_several_primes_give_the_cli_list(client: TestClient, run_dir: Path) -> None:
    response = client.post("/api/generate", json={"prime": ["maya", "theo: okay"], "length": 20, "seed": 5})
    assert response.status_code == 200, response.text
    assert response.text == cli_json(
        run_dir, "--prime", "maya", "--prime", "theo: okay", "--length", "20", "--seed", "5"
    )
    assert [g["seed"] for g in response.json()] == [5, 6]


def test_a_seed_is_chosen_and_reported_when_none_is_given(client: TestClient) -> None:
    first = client.post("/api/generate", json={"prime": "gus", "length": 30}).json()
    again = client.post("/api/generate", json={"prime": "gus", "length": 30, "seed": first["seed"]}).json()
    assert again["samples"][0]["text"] == first["samples"][0]["text"]
    assert first["settings"]["top_p"] == 0.9  # left-out settings are the CLI's defaults


def test_similar_lists_nearest_words(client: TestClient) -> None:
    data = client.get("/api/similar", params={"run": "lstm", "word": "Maya", "n": 5}).json()
    assert data["word"] == "maya" and len(data["neighbours"]) == 5
    sims = [n["similarity"] for n in data["neighbours"]]
    assert sims == sorted(sims, reverse=True) and all(-1.0 <= s <= 1.0 for s in sims)
    assert "maya" not in [n["word"] for n in data["neighbours"]]
    assert client.get("/api/similar", params={"word": "maya"}).status_code == 200  # the one run


def test_the_page_and_the_docs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="controls"' in page.text and "/static/app.js" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text  # nothing from a CDN: works offline
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    request = schema["components"]["schemas"]["GenerateRequest"]["properties"]
    assert {"run", "prime", "length", "max_turns", "temperature", "top_k", "top_p", "seed", "num_samples"} <= set(
        request
    )
    assert "device" not in request and "format" not in request and "primes" not in request
    assert request["top_p"]["maximum"] == 1 and request["top_p"]["exclusiveMinimum"] == 0
    assert request["precision"]["enum"] == ["auto", "fp32", "bf16", "int8"]
    assert "length" in request and request["length"]["default"] == 200


# ----- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prime": "maya", "length": 0}, ["length", "[1, 100000]"]),
        ({"prime": "maya", "length": 401}, ["length", "at most 400", "--max-length"]),
        ({"prime": "maya", "num_samples": 5}, ["num_samples", "--max-samples"]),
        ({"prime": "maya", "top_p": 1.5}, ["top_p", "(0, 1]"]),
        ({"prime": "maya", "temperature": 0}, ["temperature", "greedy"]),
        ({"prime": "maya", "max_turns": 0}, ["max_turns", "at least 1"]),
        ({"prime": "maya", "seed": -1}, ["seed", "at least 0"]),
        ({"prime": "maya", "precision": "fp64"}, ["precision", "auto, fp32, bf16, int8"]),
        ({"prime": "maya", "length": "long"}, ["length", "integer", "'long'"]),
        ({"prime": "maya", "length": 10.5}, ["length", "integer"]),
        ({"prime": "maya", "greedy": "yes"}, ["greedy", "boolean"]),
        ({"prime": "maya", "temprature": 0.7}, ["temprature is not a setting", "temperature"]),
        ({"prime": 7}, ["prime", "string"]),
        ({"length": 10}, ["prime is missing"]),
        ({"prime": "   "}, ["prime is empty"]),
        ({"prime": []}, ["prime is empty"]),
        ({"prime": "m" * 101}, ["101 characters", "--max-prime-chars"]),
        ({"prime": ["maya", "gus", "theo"]}, ["3 entries", "--max-primes"]),
    ],
)
def test_bad_values_are_422_with_one_line(client: TestClient, body: dict[str, Any], words: list[str]) -> None:
    message = error(client.post("/api/generate", json=body), 422)
    for word in words:
        assert word in message, message
    if "prime" in body and "length" not in body:
        assert error(client.post("/api/generate/stream", json=body), 422) == message  # the stream checks first too


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"prime": "maya",', ["not valid JSON"]),
        (b"[1, 2]", ["JSON object"]),
        (b'"maya"', ["JSON object"]),
        (b"", ["missing"]),
    ],
)
def test_bad_json_is_422_with_one_line(client: TestClient, content: bytes, words: list[str]) -> None:
    response = client.post("/api/generate", content=content, headers={"content-type": "application/json"})
    message = error(response, 422)
    for word in words:
        assert word in message, message


def test_unknown_words_and_runs_are_404_with_suggestions(client: TestClient) -> None:
    response = client.post("/api/generate", json={"prime": "mayya: hello"})
    message = error(response, 404)
    assert "'mayya:'" in message and response.json()["word"] == "mayya:"
    assert "maya:" in response.json()["suggestions"]
    response = client.post("/api/generate", json={"run": "lstn", "prime": "maya"})
    assert "no run named 'lstn'" in error(response, 404) and response.json()["suggestions"] == ["lstm"]
    response = client.get("/api/similar", params={"word": "mayya"})
    assert "not in the vocabulary" in error(response, 404) and "maya" in response.json()["suggestions"]
    assert error(client.get("/api/similar", params={"run": "nope", "word": "maya"}), 404).startswith("no run named")


def test_similar_rejects_bad_queries(client: TestClient) -> None:
    assert "n" in error(client.get("/api/similar", params={"word": "maya", "n": 0}), 422)
    assert "n" in error(client.get("/api/similar", params={"word": "maya", "n": 101}), 422)
    assert "word is missing" in error(client.get("/api/similar"), 422)


def test_a_run_without_vectors_says_which_command_makes_them(lstm_run: Path) -> None:
    with TestClient(create_app(load_registry((str(lstm_run),), "cpu"))) as c:
        assert "textgen train-embeddings" in error(c.get("/api/similar", params={"word": "maya"}), 404)
        assert c.get("/api/runs").json()["runs"][0]["embeddings"] is False


def test_several_runs_need_a_name(run_dir: Path, attention_run: Path) -> None:
    registry = load_registry((str(run_dir), str(attention_run)), "cpu")
    with TestClient(create_app(registry)) as c:
        assert [r["name"] for r in c.get("/api/runs").json()["runs"]] == ["lstm", "attention"]
        message = error(c.post("/api/generate", json={"prime": "maya"}), 422)
        assert "several runs" in message and "lstm, attention" in message
        ok = c.post("/api/generate", json={"run": "attention", "prime": "maya", "length": 5, "seed": 0})
        assert ok.status_code == 200 and ok.json()["settings"]["length"] == 5


def test_request_bodies_over_the_cap_are_413(client: TestClient) -> None:
    huge = json.dumps({"prime": "maya " * 20000}).encode()
    assert "larger than" in error(client.post("/api/generate", content=huge), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        yield b'{"prime": "'
        for _ in range(40):
            yield b"x" * 4096

    response = client.post("/api/generate", content=chunks(), headers={"content-type": "application/json"})
    assert "larger than" in error(response, 413)


def test_unknown_pages_are_json_404(client: TestClient) -> None:
    assert "/api" in error(client.get("/api/nothing"), 404)
    assert error(client.get("/api/generate"), 405)


def test_a_request_past_its_time_is_504(run_dir: Path) -> None:
    with TestClient(create_app(load_registry((str(run_dir),), "cpu"), ServeConfig(timeout=1e-9))) as c:
        assert "--timeout" in error(c.post("/api/generate", json={"prime": "maya"}), 504)
        events = c.post("/api/generate/stream", json={"prime": "maya"}).text
        assert "event: error" in events and "--timeout" in events and "event: token" not in events
        assert c.get("/healthz").json()["runs"]["lstm"]["timed_out"] == 2
