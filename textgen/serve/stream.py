"""Streaming a generation as server-sent events, token by token as the decoding loop samples them.

The stream is the ``explain`` generation (probabilities, entropy and alternatives need the whole
distribution each step): its text is that of ``POST /api/generate`` with ``"explain": true`` and of
``textgen generate --explain --json`` with the same seed. Events, each ``event: NAME`` and one
``data:`` line of JSON:

* ``queued`` ``{ahead}``: requests before this one on the same device (all runs there share one thread);
* ``start`` ``{prime_index, prime, seed, prime_tokens, prime_pieces, num_samples, attention}``;
* ``token`` ``{prime_index, sample, index, position, token, id, kind, text, prob, entropy_bits,
  alternatives: [{token, text, prob}], attention?: {start, weights}}``, where ``kind``/``text`` lay the
  token out as the script (:mod:`textgen.serve.layout`) and ``attention.weights[w]`` is the weight on
  the output after the token at position ``attention.start + w`` (prime tokens count from 0);
* ``end`` ``{prime_index, sample, stop_reason, length, text}`` once a prime's samples are done;
* ``done`` ``{result}``: the same JSON as the non-streaming response; or
* ``error`` ``{error, status}``: the request stopped (its time ran out, a bad prime).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from textgen.decode.explain import display
from textgen.decode.loop import StepView
from textgen.serve.errors import from_exception
from textgen.serve.layout import Layout
from textgen.serve.runs import ServedRun
from textgen.serve.worker import POLL_SECONDS, Cancelled, Job, TimedOut
from textgen.steps.generate import GenerateConfig, produce

END = object()  # the worker's future is done
DIGITS = 6  # probabilities and weights on the wire


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class Streamer:
    """Turns each decoding step into ``token`` events (in the worker thread); ``emit`` sends bytes on."""

    def __init__(self, run: ServedRun, config: GenerateConfig, job: Job, emit: Callable[[bytes], None]) -> None:
        self.run, self.config, self.job, self.emit = run, config, job, emit
        self.itos = run.vocab.itos
        self.prime_index = -1
        self.prime_len = 0
        self.layouts: list[Layout] = []
        self.counts: list[int] = []

    def _start(self) -> None:
        self.prime_index += 1
        prime = self.config.primes[self.prime_index]
        tokens, _ = self.run.generator.prime_ids(prime)
        layout = Layout(self.run.names)
        pieces = [{"token": t, **layout.add(t).to_dict()} for t in tokens]
        n = self.config.num_samples
        self.prime_len, self.layouts, self.counts = len(tokens), [layout.copy() for _ in range(n)], [0] * n
        self.emit(
            sse(
                "start",
                {
                    "prime_index": self.prime_index,
                    "prime": prime,
                    "seed": self.config.seed + self.prime_index if self.config.seed is not None else None,
                    "prime_tokens": tokens,
                    "prime_pieces": pieces,
                    "num_samples": n,
                    "attention": self.run.arch == "attention",
                },
            )
        )

    def on_step(self, view: StepView) -> None:
        """The decoding loop's hook: stop when told to, else one ``token`` event per stream still writing."""
        self.job.check()
        if view.step == 0:
            self._start()
        kept = view.kept.tolist()
        if not any(kept):
            return
        ids, logp = view.ids.tolist(), view.token_logp.tolist()
        entropy = view.entropy.tolist() if view.entropy is not None else None
        top_ids = view.top_ids.tolist() if view.top_ids is not None else None
        top_logp = view.top_logp.tolist() if view.top_logp is not None else None
        attention = view.attention.tolist() if view.attention is not None else None
        chunks = []
        for b, keep in enumerate(kept):
            if not keep:
                continue
            token = self.itos[ids[b]]
            index = self.counts[b]
            self.counts[b] += 1
            event: dict[str, Any] = {
                "prime_index": self.prime_index,
                "sample": b,
                "index": index,
                "position": self.prime_len + index,
                "token": token,
                "id": ids[b],
                **self.layouts[b].add(token).to_dict(),
                "prob": round(math.exp(logp[b]), DIGITS),
            }
            if entropy is not None:
                event["entropy_bits"] = round(entropy[b] / math.log(2.0), DIGITS)
            if top_ids is not None and top_logp is not None:
                event["alternatives"] = [
                    {"token": self.itos[t], "text": display(self.itos[t]), "prob": round(math.exp(lp), DIGITS)}
                    for t, lp in zip(top_ids[b], top_logp[b], strict=True)
                ]
            if attention is not None:
                weights = attention[b]
                event["attention"] = {
                    "start": self.prime_len + index - 1 - len(weights),
                    "weights": [round(w, 4) for w in weights],
                }
            chunks.append(sse("token", event))
        self.emit(b"".join(chunks))


def run_stream(run: ServedRun, config: GenerateConfig, job: Job, emit: Callable[[bytes], None]) -> None:
    """Generate in the worker thread, emitting events; then the samples' ends and the whole result."""
    streamer = Streamer(run, config, job, emit)
    result = produce(run.root, config, generator=run.generator, on_step=streamer.on_step)
    ends = [
        sse(
            "end",
            {"prime_index": i, "sample": j, "stop_reason": s.stop_reason, "length": len(s.tokens), "text": s.text},
        )
        for i, g in enumerate(result.generations)
        for j, s in enumerate(g.samples)
    ]
    emit(b"".join(ends))
    emit(sse("done", {"result": json.loads(result.text)}))


class Pipe:
    """Bytes from the worker thread to the response, through the event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        """From any thread; :class:`Cancelled` once the loop is gone (nobody is listening)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            raise Cancelled() from None

    def close(self, future: concurrent.futures.Future[Any]) -> None:
        try:
            self.put(END)
        except Cancelled:
            pass


async def events(pipe: Pipe, future: concurrent.futures.Future[Any], job: Job, ahead: int) -> AsyncIterator[bytes]:
    """The response body: the worker's events as they come, then an ``error`` event if it failed."""
    yield sse("queued", {"ahead": ahead})
    while True:
        try:
            item = await asyncio.wait_for(pipe.queue.get(), timeout=POLL_SECONDS * 5)
        except TimeoutError:
            if job.expired() and future.cancel():  # still queued: it never starts
                yield sse("error", {"error": str(TimedOut(job.timeout)), "status": 504})
                return
            continue
        if item is not END:
            yield item
            continue
        if future.cancelled():
            if job.expired():
                yield sse("error", {"error": str(TimedOut(job.timeout)), "status": 504})
            return
        exc = future.exception()
        if exc is not None and not isinstance(exc, Cancelled):
            error = from_exception(exc)
            yield sse("error", {**error.body(), "status": error.status})
        return


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that runs ``on_close`` however it ends (a client that
    disconnects included), so that its generation stops."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()
