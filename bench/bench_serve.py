"""Load test of ``textgen serve``: concurrent clients against a real uvicorn on 127.0.0.1.

    python bench/bench_serve.py --run-dir runs/smoke --run-dir runs/default           # 200 requests, 16 clients
    python bench/bench_serve.py --run-dir runs/default --requests 400 --clients 32 --write

For each run dir, ``textgen serve`` is started as its own process (``--port 0``, one CPU thread) and
``--requests`` generation requests (``--length`` tokens each; every fourth one streamed, the others
plain JSON; primes cycling over the run's top speakers; request ``i`` has seed ``i``) are sent by
``--clients`` concurrent clients. Every answer is checked against what its seed gives alone: the
same settings run in this process, one after another, with the ``generate`` step's own ``produce``
(plain: the same bytes; streamed: the same final JSON, and the streamed tokens in order). That
sequential run is also the peer: the ratio is served tokens/s over its tokens/s, so it shows what
HTTP, the queue and streaming cost. Reported: failed and mixed-up answers, latency p50/p95 (a
client's request sent -> its whole answer read, queueing included), time to first token of the
streams, aggregate tokens/s. The whole run is bounded by ``--time-limit`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch
from markdown_sections import replace_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH_MD = HERE / "BENCHMARKS.md"
START, END = "<!-- serve:start -->", "<!-- serve:end -->"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    latency: float
    tokens: int
    ok: bool
    mixed: bool
    first_token: float | None = None
    error: str = ""


@dataclass
class RunReport:
    name: str
    arch: str
    requests: int
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    direct_seconds: float = 0.0
    direct_tokens: int = 0


def bodies(speakers: list[str], n: int, length: int) -> list[dict[str, Any]]:
    return [
        {"prime": speakers[i % len(speakers)], "length": length, "seed": i, "temperature": 0.8, "stream": i % 4 == 0}
        for i in range(n)
    ]


def reference(run_dir: Path, requests: list[dict[str, Any]]) -> tuple[list[str], float, int]:
    """What each request's seed gives alone (this process, one after another), and how long that took."""
    from textgen.decode.generator import load
    from textgen.steps import STEPS
    from textgen.steps.generate import produce

    gen = load(run_dir, device="cpu")
    answers, tokens = [], 0
    t0 = time.perf_counter()
    for body in requests:
        values = {k: v for k, v in body.items() if k not in ("stream", "prime")}
        config = STEPS["generate"].configure(
            {**values, "primes": (body["prime"],), "format": "json", "explain": body["stream"]}
        )
        result = produce(run_dir, config, generator=gen)
        answers.append(result.text)
        tokens += sum(len(s.tokens) for g in result.generations for s in g.samples)
    return answers, time.perf_counter() - t0, tokens


def start_server(run_dir: Path, max_length: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "textgen", "serve", "--run-dir", str(run_dir), "--port", "0", "--device", "cpu"]
    cmd += ["--max-length", str(max_length), "--timeout", "600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("serving at "):
            return proc, line.split()[2].rstrip("/")
    raise RuntimeError(f"textgen serve did not start: {proc.stderr.read() if proc.stderr else ''}")


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in text.split("\n\n"):
        lines = frame.split("\n")
        name = next((x[7:] for x in lines if x.startswith("event: ")), "")
        data = "".join(x[6:] for x in lines if x.startswith("data: "))
        if name:
            out.append((name, json.loads(data)))
    return out


async def one(client: httpx.AsyncClient, run: str, body: dict[str, Any], want: str) -> Outcome:
    request = {k: v for k, v in body.items() if k != "stream"} | {"run": run}
    t0 = time.perf_counter()
    if not body["stream"]:
        response = await client.post("/api/generate", json=request)
        latency = time.perf_counter() - t0
        if response.status_code != 200:
            return Outcome(latency, 0, False, False, error=response.text[:200])
        data = response.json()
        tokens = len(data["samples"][0]["tokens"])
        return Outcome(latency, tokens, True, response.text != want)
    first: float | None = None
    chunks = []
    async with client.stream("POST", "/api/generate/stream", json=request) as response:
        async for chunk in response.aiter_text():
            if first is None and "event: token" in chunk:
                first = time.perf_counter() - t0
            chunks.append(chunk)
    latency = time.perf_counter() - t0
    events = parse_sse("".join(chunks))
    if response.status_code != 200 or not events or events[-1][0] != "done":
        return Outcome(latency, 0, False, False, error="".join(chunks)[-200:])
    result = events[-1][1]["result"]
    streamed = [d["token"] for n, d in events if n == "token"]
    mixed = result != json.loads(want) or streamed != result["samples"][0]["tokens"]
    return Outcome(latency, len(streamed), True, mixed, first)


async def load(url: str, run: str, requests: list[dict[str, Any]], wants: list[str], clients: int, limit: float) -> Any:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    outcomes: list[Outcome] = []
    deadline = time.perf_counter() + limit

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=600) as client:
            while not queue.empty() and time.perf_counter() < deadline:
                i = queue.get_nowait()
                try:
                    outcomes.append(await one(client, run, requests[i], wants[i]))
                except httpx.HTTPError as exc:
                    outcomes.append(Outcome(0.0, 0, False, False, error=repr(exc)))

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return outcomes, time.perf_counter() - t0


def bench_run(run_dir: Path, args: argparse.Namespace, deadline: float) -> RunReport:
    from textgen.serve.runs import load_registry

    served = next(iter(load_registry((str(run_dir),), "cpu").runs.values()))
    speakers = [s["prime"] for s in served.speakers(8)]
    report = RunReport(served.name, served.arch, args.requests)
    served.worker.close()
    requests = bodies(speakers, args.requests, args.length)
    log(f"{run_dir}: {args.requests} requests, alone and in order (the reference and the peer) ...")
    wants, report.direct_seconds, report.direct_tokens = reference(run_dir, requests)
    proc, url = start_server(run_dir, args.length)
    try:
        log(f"{run_dir}: served at {url}, {args.clients} clients ...")
        limit = max(1.0, deadline - time.perf_counter())
        report.outcomes, report.wall = asyncio.run(load(url, served.name, requests, wants, args.clients, limit))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table(reports: list[RunReport], args: argparse.Namespace, load_avg: str) -> str:
    rows = [
        "| run | requests done | failed | mixed up | latency p50 / p95 | first token p50 (streams) | served tokens/s "
        "| alone, in order | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        done = [o for o in r.outcomes if o.ok]
        lat = [o.latency for o in done]
        firsts = [o.first_token for o in done if o.first_token is not None]
        served = sum(o.tokens for o in done) / r.wall if r.wall else 0.0
        direct = r.direct_tokens / r.direct_seconds if r.direct_seconds else 0.0
        rows.append(
            f"| `{r.name}` ({r.arch}) | {len(r.outcomes)} of {r.requests} | {len(r.outcomes) - len(done)} "
            f"| {sum(o.mixed for o in done)} | {pct(lat, 0.5):.2f} s / {pct(lat, 0.95):.2f} s "
            f"| {statistics.median(firsts) if firsts else float('nan'):.2f} s | {served:,.0f} | {direct:,.0f} "
            f"| {served / direct if direct else float('nan'):.2f}x |"
        )
    when = dt.date.today().isoformat()
    command = "python bench/bench_serve.py " + " ".join(f"--run-dir {d}" for d in args.run_dir)
    command += f" --requests {args.requests} --clients {args.clients} --length {args.length}"
    return "\n".join(
        [
            START,
            "## Serving (`textgen serve`)",
            "",
            f"`{command} --write` ({when}, {platform.machine()} CPU, {os.cpu_count()} cores, torch "
            f"{torch.__version__}, one CPU thread, load average {load_avg} at the start; the server is its own "
            "process on 127.0.0.1, the clients and the in-order peer run in the benchmark's process).",
            "",
            f"{args.requests} requests of {args.length} tokens (temperature 0.8, request i has seed i, primes "
            f"cycling over the top speakers), every fourth one streamed, from {args.clients} concurrent clients. "
            '"Mixed up": answers that differ from what the same request gives alone (plain: other bytes; '
            "streamed: another final JSON, or streamed tokens that are not its own, in order). Latency is a "
            "client's whole request, its wait for the model included (one generation at a time per device). "
            '"Alone, in order" is the peer: the same requests run one after another in-process with '
            "`produce` (no HTTP); the ratio is served over alone tokens/s. With one generation at a time, a request",
            "waits for the ones ahead of it: latency and first token are about the number of clients times one",
            "request's time. The run dirs: `textgen run smoke --run-dir DIR` and `textgen run seinfeld --run-dir DIR`.",
            "",
            *rows,
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", action="append", required=True, type=Path)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=600.0, help="Seconds for the whole benchmark.")
    parser.add_argument("--write", action="store_true", help="Record the table in bench/BENCHMARKS.md.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_avg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    deadline = time.perf_counter() + args.time_limit
    reports = [bench_run(d, args, deadline) for d in args.run_dir]
    text = table(reports, args, load_avg)
    print(text)
    failures = [o.error for r in reports for o in r.outcomes if not o.ok]
    if failures:
        log(f"first failure: {failures[0]}")
    if args.write:
        replace_section(BENCH_MD, text, START, END)
        log(f"wrote {BENCH_MD}")


if __name__ == "__main__":
    main()
