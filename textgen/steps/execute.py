"""``run_step``: the one way a step runs, from a single command or from a pipeline.

It holds the run dir (:func:`textgen.rundir.exclusive`), finishes a commit a kill interrupted,
checks the step's inputs, runs it (in a staging dir for staged steps), and records what it ran
with in ``pipeline.lock``; for staged steps the lock entry is committed together with the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from textgen.rundir import RunDir, exclusive
from textgen.steps.base import Progress, Step, no_progress
from textgen.steps.lockfile import LOCK_NAME, FileState, Lock, code_version, file_state, make_entry
from textgen.steps.staging import Staging, recover

C = TypeVar("C")


def states(paths: Iterable[tuple[str, Path]], cached: Mapping[str, Any] | None) -> dict[str, FileState]:
    """File states of the existing ``(key, path)`` pairs, reusing ``cached`` hashes where size and mtime match."""
    cached = cached or {}
    return {key: file_state(path, cached.get(key)) for key, path in paths if path.is_file()}


def run_step(
    step: Step[C],
    run_dir: str | Path,
    config: C,
    progress: Progress = no_progress,
    *,
    main_process: bool = True,
) -> Any:
    """Run ``step`` with ``config`` in ``run_dir`` and record it; returns the step's result.

    ``main_process`` is False on the other ranks of a torchrun job: they run the step but neither
    hold the run dir nor record. A result that ``step.finished`` rejects (an interrupted training
    run) is not recorded.
    """
    rd = RunDir.of(run_dir)
    if not main_process:
        return step.run(rd.root, config, progress)
    with exclusive(rd.root, step.command):
        recover(rd.root)
        rd.require(*step.reads, *step.needs(config))  # before staging: the message names the run dir
        lock, warning = Lock.load(rd.root)
        if warning:
            progress("warning", {"message": warning})
        old = lock.steps.get(step.name) or {}
        inputs = states(((str(p), p) for p in step.external_deps(config)), old.get("inputs"))
        reads = step.reads + step.optional_reads(config)
        deps = states(((n, rd / n) for n in reads), old.get("deps"))
        outputs = step.outputs(config)
        code, params = code_version(step.sources), step.tracked(config)
        t0 = time.perf_counter()
        if step.staged:
            staging = Staging(rd.root, step.name, outputs, step.extras)
            with staging as where:
                result = step.run(where, config, progress)
                outs = states(((n, where / n) for n in outputs), None)
                lock.steps[step.name] = make_entry(code, params, inputs, deps, outs, time.perf_counter() - t0)
                staging.commit(also={LOCK_NAME: lock.to_bytes()})
            return result
        result = step.run(rd.root, config, progress)
        if step.finished(result):
            outs = states(((n, rd / n) for n in outputs), None)
            lock.steps[step.name] = make_entry(code, params, inputs, deps, outs, time.perf_counter() - t0)
            lock.save()
        return result
