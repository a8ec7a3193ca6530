"""Worker processes that hand results back in order and can always be stopped.

``multiprocessing.Pool`` shares one task pipe and one result pipe between its workers, guarded
by locks and fed by threads. With megabyte-sized tasks and results, ending it mid-way (Ctrl-C)
can deadlock: ``terminate()`` waits for a lock that a worker holds while blocked writing a result
nobody reads any more. Here every worker has its own pipe, and at most one task is in flight
per worker, so nothing is shared: stopping is killing the workers and joining them, which
cannot hang, and the order of results is the order of tasks by construction (round robin).
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from textgen.errors import WorkerError

T = TypeVar("T")
R = TypeVar("R")


def _serve(conn: Connection, fn: Callable[[Any], Any]) -> None:
    """A worker's loop: a task in, its result (or the exception it raised) out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops us
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, fn(task))
        except Exception as exc:  # sent back and raised in the main process, where it is handled
            reply = (False, exc)
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # the result or exception would not pickle
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class OrderedWorkers(Generic[T, R]):
    """``n`` processes applying ``fn``; :meth:`map` yields results in task order. Use as a context manager."""

    def __init__(self, fn: Callable[[T], R], n: int, context: BaseContext, hint: str = "") -> None:
        """``hint``: what the user can do when a worker dies (the caller knows its own options)."""
        self._hint = hint
        self._procs: list[BaseProcess] = []
        self._conns: list[Connection] = []
        try:
            for _ in range(n):
                mine, theirs = context.Pipe(duplex=True)
                proc = context.Process(target=_serve, args=(theirs, fn), daemon=True)  # type: ignore[attr-defined]
                proc.start()
                theirs.close()
                self._procs.append(proc)
                self._conns.append(mine)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> OrderedWorkers[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (empty once closed)."""
        return [proc.pid for proc in self._procs if proc.pid is not None]

    def _died(self, worker: int) -> WorkerError:
        self._procs[worker].join(1.0)  # its pipe closed as it died: let its exit code arrive
        code = self._procs[worker].exitcode
        message = f"a worker process ended without its result (exit code {code}: killed, or out of memory?)"
        return WorkerError(f"{message}; {self._hint}" if self._hint else message)

    def _send(self, worker: int, task: T) -> None:
        try:
            self._conns[worker].send(task)
        except OSError:  # BrokenPipeError: it died idle; uncaught, click would exit 1 without a word
            raise self._died(worker) from None

    def _receive(self, worker: int) -> R:
        try:
            ok, value = self._conns[worker].recv()
        except (EOFError, OSError):
            raise self._died(worker) from None
        if not ok:
            raise value
        return value

    def map(self, tasks: Iterable[T]) -> Iterator[R]:
        """Each task's result, in order; at most one task per worker is in flight (memory stays bounded)."""
        n = len(self._procs)
        if n == 0:
            raise RuntimeError("these workers are closed; start new ones")
        in_flight: deque[int] = deque()
        for k, task in enumerate(tasks):
            # once all are busy, the oldest task is this worker's: read it, so the send below never blocks long
            done = [self._receive(in_flight.popleft())] if len(in_flight) == n else []
            self._send(k % n, task)
            in_flight.append(k % n)
            yield from done  # handed on once the worker has new work, so they overlap
        while in_flight:
            yield self._receive(in_flight.popleft())

    def close(self) -> None:
        """Kill and reap the workers: nothing is shared, so this never waits on a lock."""
        for proc in self._procs:
            if proc.exitcode is None:
                proc.kill()
        for proc in self._procs:
            proc.join()
            proc.close()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
