"""One generation at a time per device: a single worker thread per device, requests queued in order.

A model's decoding state (the stepper's buffers, prepared kernels) is not meant to be shared by two
loops at once, and torch's CPU thread count is process-wide (the loop sets it to one for a single
stream): two CPU loops side by side would change each other's arithmetic, so the same seed could
give other probabilities. So every run on a device shares that device's one thread, and requests
wait their turn without holding a thread. A :class:`Job` is how a request reaches into its running generation:
its decoding loop calls :meth:`Job.check` every step, which stops it (by raising) once the client
has gone, the request's time is up or the server is stopping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1  # how often a waiting request looks for its client having gone


class Cancelled(Exception):
    """The client went away (or the server is stopping): the generation was stopped."""


class TimedOut(Exception):
    """The request ran past its time, waiting for the model included."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the request took longer than {seconds:g} s (waiting for the model included); "
            "ask for fewer tokens or samples, or start the server with a larger --timeout"
        )


@dataclass
class Job:
    """One request's handle on its generation: when it must stop, and whether it was told to."""

    timeout: float
    started: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)  # the worker's: the server is closing

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def check(self, *_: Any) -> None:
        """Raise :class:`Cancelled` or :class:`TimedOut` when the generation must stop (a decode ``on_step``)."""
        if self.cancel.is_set() or self.stopping.is_set():
            raise Cancelled()
        if self.expired():
            raise TimedOut(self.timeout)


@dataclass
class Counters:
    """What one run's requests have come to, for ``/healthz``."""

    queued: int = 0
    running: int = 0
    finished: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Worker:
    """A single thread that runs the generations of one device's runs in the order they were submitted."""

    def __init__(self, name: str) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"textgen-serve-{name}")
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards the counters (the loop thread and the worker both update them)
        self.pending = 0  # queued or running, every run on this worker

    def _count(self, counters: Counters, pending: int = 0, **changes: int) -> None:
        with self._lock:
            self.pending += pending
            for name, delta in changes.items():
                setattr(counters, name, getattr(counters, name) + delta)

    def submit(self, fn: Callable[[Job], T], job: Job, counters: Counters) -> concurrent.futures.Future[T]:
        """Queue ``fn(job)``, counted in ``counters``; it does not start once the job was cancelled or
        its time is up."""
        job.stopping = self._stopping
        self._count(counters, pending=1, queued=1)

        def run() -> T:
            self._count(counters, queued=-1, running=1)
            try:
                job.check()
                result = fn(job)
            except Cancelled:
                self._count(counters, pending=-1, running=-1, cancelled=1)
                raise
            except TimedOut:
                self._count(counters, pending=-1, running=-1, timed_out=1)
                raise
            except BaseException:
                self._count(counters, pending=-1, running=-1, failed=1)
                raise
            self._count(counters, pending=-1, running=-1, finished=1)
            return result

        future = self._pool.submit(run)
        future.add_done_callback(
            lambda f: self._count(counters, pending=-1, queued=-1, cancelled=1) if f.cancelled() else None
        )
        return future

    def close(self) -> None:
        """Stop the running generation at its next step, drop the queued ones, and wait for the thread."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


async def wait(future: concurrent.futures.Future[T], job: Job, disconnected: Callable[[], Awaitable[bool]]) -> T:
    """The job's result; stops it when ``disconnected()`` says the client has gone or its time is up.

    A queued job is dropped at once; a running one stops at its next step (the worker thread always
    finishes it, so the model is free before the next job starts).
    """
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=POLL_SECONDS)
        if done:
            if future.cancelled():
                raise TimedOut(job.timeout) if job.expired() else Cancelled()
            return waiting.result()
        if await disconnected():
            job.cancel.set()
            future.cancel()
        elif job.expired() and future.cancel():
            raise TimedOut(job.timeout)
