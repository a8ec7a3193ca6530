"""OrderedWorkers: results in task order, errors raised where they are handled, stopping never hangs."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from textgen.errors import WorkerError
from textgen.text.workers import OrderedWorkers

FORK = multiprocessing.get_context("fork")


def slow_for_small(n: int) -> tuple[int, int]:
    """Small tasks take longest, so results finish out of order; the pid says who did the work."""
    import time

    time.sleep(0.02 * (5 - n % 5))
    return n * n, os.getpid()


def fails_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three is not allowed")
    return n


def big(n: int) -> bytes:
    return bytes([n % 256]) * (4 << 20)  # far more than a pipe buffer holds


def dies_on_two(n: int) -> int:
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def test_results_come_back_in_task_order_from_every_worker() -> None:
    with OrderedWorkers(slow_for_small, 3, FORK) as workers:
        out = list(workers.map(range(20)))
    assert [square for square, _ in out] == [n * n for n in range(20)]
    assert len({pid for _, pid in out}) == 3 and os.getpid() not in {pid for _, pid in out}


def test_a_workers_exception_is_raised_in_the_caller() -> None:
    with OrderedWorkers(fails_on_three, 2, FORK) as workers:
        results = workers.map(range(10))
        assert [next(results) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three is not allowed"):
            next(results)


def test_a_killed_worker_is_a_typed_error_not_a_hang() -> None:
    hint = "rerun with --num-proc 1"
    with OrderedWorkers(dies_on_two, 2, FORK, hint) as workers, pytest.raises(WorkerError) as caught:
        list(workers.map(range(10)))
    assert str(caught.value).endswith(f"(exit code -9: killed, or out of memory?); {hint}")


def test_a_worker_killed_while_idle_is_the_same_typed_error() -> None:
    with OrderedWorkers(abs, 2, FORK, "rerun with --num-proc 1") as workers:
        os.kill(workers.pids[0], signal.SIGKILL)
        with pytest.raises(WorkerError, match=r"exit code -9.*--num-proc 1"):
            list(workers.map(range(-(1 << 20), 1 << 20)))  # the send to the dead one finds its pipe broken


def test_leaving_with_big_results_unread_kills_and_reaps_every_worker() -> None:
    workers = OrderedWorkers(big, 2, FORK)
    pids = workers.pids
    results = workers.map(range(50))
    assert next(results) == b"\x00" * (4 << 20)  # the other worker is blocked writing its 4 MB result
    results.close()
    workers.close()  # multiprocessing.Pool.terminate() can deadlock here (a worker holds the result lock)
    assert workers.pids == []
    with pytest.raises(RuntimeError, match="closed"):
        next(workers.map(range(3)))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped: not even a zombie is left
