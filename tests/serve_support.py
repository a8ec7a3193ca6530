"""Helpers for the ``textgen serve`` tests: a served run with word vectors, SSE parsing, a real uvicorn."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import trained_run

_CACHE: dict[str, Path] = {}


def run_with_vectors(arch: str = "lstm") -> Path:
    """A copy of the tiny ``arch`` run with word vectors trained too (shared; do not modify)."""
    if arch not in _CACHE:
        from textgen import steps

        run = Path(tempfile.mkdtemp(prefix="textgen-serve-tests-")) / arch
        shutil.copytree(trained_run(arch), run)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            steps.run(
                "train-embeddings",
                run,
                dim=16,
                epochs=1,
                min_count=1,
                backend="gensim",
                workers=1,
                evaluate=False,
                seed=0,
            )
        _CACHE[arch] = run
    return _CACHE[arch]


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``[(event, data), ...]`` from a server-sent-events body."""
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name, data = "message", []
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, json.loads("\n".join(data))))
    return events


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn in a thread, on 127.0.0.1 and a free port; yields its URL."""
    import uvicorn

    from textgen.serve import server

    sock = server.bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield server.url(sock)
    finally:
        srv.should_exit = True
        thread.join(30)
        sock.close()
