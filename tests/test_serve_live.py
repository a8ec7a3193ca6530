"""``textgen serve`` on a real uvicorn, 127.0.0.1 only: concurrent clients never see each other's
tokens, a client that disconnects stops its generation, and the command prints its URL and stops
cleanly on Ctrl-C."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import live_server, parse_sse
from typer.testing import CliRunner

from textgen.cli import app as cli_app
from textgen.serve import ServeConfig, create_app, load_registry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def url(lstm_run: Path, attention_run: Path) -> Iterator[str]:
    registry = load_registry((str(lstm_run), str(attention_run)), "cpu")
    with live_server(create_app(registry, ServeConfig(max_length=100_000, max_samples=8))) as address:
        yield address


def wait_until(check: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_concurrent_clients_get_what_their_seed_gives_alone(url: str) -> None:
    bodies = [
        {"run": ("lstm", "attention")[i % 2], "prime": ("maya", "theo", "gus")[i % 3], "length": 40, "seed": i}
        for i in range(12)
    ]
    with httpx.Client(base_url=url, timeout=120) as client:
        alone = [client.post("/api/generate", json=b).json() for b in bodies]

    def ask(i: int) -> tuple[int, dict]:
        with httpx.Client(base_url=url, timeout=120) as c:
            path = "/api/generate/stream" if i % 3 == 0 else "/api/generate"
            response = c.post(path, json=bodies[i])
            assert response.status_code == 200, response.text
            if path.endswith("stream"):
                return i, {"stream": parse_sse(response.text)[-1][1]["result"]}
            return i, response.json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = dict(pool.map(ask, [i for _ in range(2) for i in range(len(bodies))]))
    for i, answer in answers.items():
        if "stream" in answer:  # the stream is the explain generation: compare with the explain request
            with httpx.Client(base_url=url, timeout=120) as client:
                want = client.post("/api/generate", json={**bodies[i], "explain": True}).json()
            assert answer["stream"] == want
        else:
            assert answer == alone[i]


def test_a_client_that_disconnects_stops_its_generation(url: str) -> None:
    def counters() -> dict[str, int]:
        return httpx.get(f"{url}/healthz").json()["runs"]["lstm"]

    before = counters()
    body = {"run": "lstm", "prime": "maya", "length": 100_000, "num_samples": 8, "seed": 0}
    with httpx.Client(base_url=url, timeout=60) as client:
        with client.stream("POST", "/api/generate/stream", json=body) as response:
            seen = 0
            for line in response.iter_lines():
                seen += line.startswith("event: token")
                if seen >= 20:
                    break  # and hang up: leaving the block closes the connection
    wait_until(lambda: counters()["cancelled"] == before["cancelled"] + 1 and counters()["running"] == 0)
    # the model is free again at once (it would be busy for minutes with 8 x 100,000 tokens otherwise)
    answer = httpx.post(f"{url}/api/generate", json={"run": "lstm", "prime": "gus", "length": 5}, timeout=60)
    assert answer.status_code == 200 and counters()["finished"] == before["finished"] + 1


def test_a_non_streaming_client_that_disconnects_stops_too(url: str) -> None:
    def counters() -> dict[str, int]:
        return httpx.get(f"{url}/healthz").json()["runs"]["attention"]

    before = counters()
    body = {"run": "attention", "prime": "maya", "length": 100_000, "num_samples": 8, "seed": 0}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{url}/api/generate", json=body, timeout=1.0)
    wait_until(lambda: counters()["cancelled"] == before["cancelled"] + 1 and counters()["running"] == 0)


def test_the_command_prints_its_url_and_stops_on_ctrl_c(lstm_run: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "textgen", "serve", "--run-dir", str(lstm_run), "--port", "0", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving at "):
                break
        address = lines[-1].split()[2].rstrip("/")
        assert address.startswith("http://127.0.0.1:") and "lstm" in "".join(lines)
        health = httpx.get(f"{address}/healthz", timeout=30).json()
        assert health["status"] == "ok" and list(health["runs"]) == ["lstm"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped") and "Traceback" not in err


def test_without_a_run_dir_it_serves_runs_default_or_says_how_to_make_it(tmp_path: Path) -> None:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(cli_app, ["serve", "--port", "0"])
    finally:
        os.chdir(old)
    assert result.exit_code == 1
    assert "runs/default has no trained generator" in result.stderr and "textgen run seinfeld" in result.stderr


def test_bad_options_and_a_port_in_use_are_one_line_errors(lstm_run: Path) -> None:
    from textgen.serve import server

    result = CliRunner().invoke(cli_app, ["serve", "--run-dir", str(lstm_run), "--max-length", "0"])
    assert result.exit_code == 2 and "--max-length must be in [1, 100000]" in result.stderr
    taken = server.bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["serve", "--run-dir", str(lstm_run), "--port", str(port)])
        assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    finally:
        taken.close()
    result = CliRunner().invoke(cli_app, ["serve", "--run-dir", str(lstm_run / "nope"), "--port", "0"])
    assert result.exit_code == 1 and "not found; run `textgen" in result.stderr
