"""Plan and run a pipeline: each stage is skipped when its code, params, inputs and outputs match the lock.

Checks go cheapest first: the stage's code version and textgen version, its params, missing
outputs (a stat), then input and output hashes (cached by size and mtime). A stage that reruns
goes through :func:`textgen.steps.execute.run_step`, the same function the single commands use:
staged steps replace their outputs and lock entry only when they succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import __version__
from textgen.errors import MissingArtifactError, PipelineError, RunDirError, TextgenError, UsageError
from textgen.pipeline.spec import PipelineSpec, StageSpec, _suggest
from textgen.rundir import RunDir, exclusive
from textgen.steps.execute import run_step
from textgen.steps.lockfile import FileState, Lock, code_version, file_state
from textgen.steps.staging import recover

UP_TO_DATE = "up to date"
RUN = "run"
AFTER_UPSTREAM = "check after upstream"
NOT_SELECTED = "not selected"
BLOCKED = "blocked"  # an input is missing and no selected stage writes it


@dataclass
class StageStatus:
    """A stage's state in a plan: ``action`` is one of the constants above; ``reasons`` say why."""

    name: str
    action: str
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.action}: {'; '.join(self.reasons)}" if self.reasons else self.action


@dataclass
class StageEvent:
    """Progress for the caller: ``kind`` is skip, start, log, done or fail."""

    stage: str
    kind: str
    message: str = ""
    seconds: float | None = None


@dataclass
class RunReport:
    """What a run did: the stages it ran and skipped, and any warnings."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plan: list[StageStatus] = field(default_factory=list)


class StageFailed(PipelineError):
    """A stage raised; a staged step's previous outputs and lock entry are untouched."""


_MISSING = object()


def _fmt(value: Any) -> str:
    return "unset" if value is _MISSING else repr(value)


class Runner:
    """Plans and runs one pipeline in one run dir."""

    def __init__(self, spec: PipelineSpec, run_dir: str | Path | None = None) -> None:
        self.spec = spec
        self.run_dir = Path(run_dir) if run_dir is not None else spec.run_dir
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RunDirError(f"run dir {self.run_dir} is a file; pass --run-dir with a directory")
        self.lock, warning = Lock.load(self.run_dir)
        self.warnings = [warning] if warning else []
        self.lock_dirty = warning is not None

    # ----- selection -------------------------------------------------------------------------
    def _name(self, name: str | None, option: str) -> str | None:
        if name is None or name in self.spec.names:
            return name
        hint = _suggest(name, self.spec.names)
        raise UsageError(f"{option} {name!r}: no such stage{hint}; stages: {self.spec.names}")

    def select(self, from_: str | None = None, until: str | None = None) -> list[str]:
        """Names of the stages from ``from_`` through ``until`` (inclusive)."""
        names = self.spec.names
        lo = names.index(self._name(from_, "--from")) if from_ else 0
        hi = names.index(self._name(until, "--until")) if until else len(names) - 1
        if lo > hi:
            raise UsageError(f"--from {from_} comes after --until {until}; stages run in the order {names}")
        return names[lo : hi + 1]

    def _writer(self, filename: str) -> str | None:
        for s in self.spec.stages:
            if filename in s.step.outputs(s.config):
                return s.name
        return None

    # ----- checks ----------------------------------------------------------------------------
    def _state(self, path: Path, cached: Mapping[str, Any] | None) -> FileState | None:
        """Current state of ``path`` (None if missing), refreshing ``cached`` in place when only mtime moved."""
        if not path.is_file():
            return None
        state = file_state(path, cached)
        if cached is not None and state["sha256"] == cached.get("sha256") and state != cached:
            cached.update(state)  # touched, not changed: skip the hash next time
            self.lock_dirty = True
        return state

    def check(self, stage: StageSpec, pending: set[str]) -> tuple[str, list[str]]:
        """(action, reasons) for one stage; ``pending`` holds files that earlier stages will rewrite."""
        step, config, entry = stage.step, stage.config, self.lock.steps.get(stage.name)
        root = self.run_dir
        missing_deps = [n for n in step.reads if not (root / n).is_file() and n not in pending]
        if missing_deps:
            name = missing_deps[0]
            writer = self._writer(name)
            where = f" --run-dir {root}" if root != self.spec.run_dir else ""
            run = f"`textgen run {self.spec.source}{where} --until {writer}`"
            how = run if writer else f"`{RunDir(root).command(name)}`"
            return BLOCKED, [f"input missing: {name}; run {how} first"]
        if entry is None:
            return RUN, ["never run (no entry in pipeline.lock)"]
        if entry.get("textgen") != __version__:
            return RUN, [f"textgen version changed ({entry.get('textgen')} -> {__version__})"]
        if entry.get("code") != code_version(step.sources):
            return RUN, ["step code changed"]
        old, new = entry["params"], step.tracked(config)
        changed = [
            f"{k} {_fmt(old.get(k, _MISSING))} -> {_fmt(new.get(k, _MISSING))}"
            for k in sorted(set(old) | set(new))
            if old.get(k, _MISSING) != new.get(k, _MISSING)
        ]
        if changed:
            return RUN, [f"params changed: {', '.join(changed)}"]
        outputs = step.outputs(config)
        gone = [n for n in outputs if not (root / n).is_file()]
        if gone:
            return RUN, [f"output missing: {', '.join(gone)}"]
        upstream = [n for n in step.reads + step.optional_reads(config) if n in pending]
        if upstream:
            return AFTER_UPSTREAM, [f"reruns if {', '.join(upstream)} change"]
        reasons = self._changed_files(stage, entry)
        return (RUN, reasons) if reasons else (UP_TO_DATE, [])

    def _changed_files(self, stage: StageSpec, entry: dict[str, Any]) -> list[str]:
        step, config, root = stage.step, stage.config, self.run_dir
        recorded = entry.get("inputs") or {}
        paths = {str(p): p for p in step.external_deps(config)}
        if set(paths) != set(recorded):
            return [f"inputs changed: {sorted(recorded)} -> {sorted(paths)}"]
        for key, path in paths.items():
            state = self._state(path, recorded[key])
            if state is None:
                return [f"input missing: {key}"]
            if state["sha256"] != recorded[key]["sha256"]:
                return [f"input changed: {key}"]
        deps = entry.get("deps") or {}
        optional = step.optional_reads(config)
        for name in optional:
            if (name in deps) != (root / name).is_file():
                return [f"optional input {'removed' if name in deps else 'added'}: {name}"]
        for name in step.reads + tuple(n for n in optional if n in deps):
            state = self._state(root / name, deps.get(name))
            if name not in deps or state is None or state["sha256"] != deps[name]["sha256"]:
                return [f"input changed: {name}"]
        for name in step.outputs(config):
            state = self._state(root / name, entry["outs"].get(name))
            if name not in entry["outs"] or state is None or state["sha256"] != entry["outs"][name]["sha256"]:
                return [f"output altered: {name}"]
        return []

    def plan(self, force: str | None = None, from_: str | None = None, until: str | None = None) -> list[StageStatus]:
        """Per stage: up to date, run (and why), check after upstream, or not selected. Changes nothing on disk."""
        return self._plan(self.select(from_, until), self._name(force, "--force") if force != "all" else force)

    def _plan(self, selected: list[str], force: str | None) -> list[StageStatus]:
        pending: set[str] = set()
        out = []
        for stage in self.spec.stages:
            if stage.name not in selected:
                out.append(StageStatus(stage.name, NOT_SELECTED))
                continue
            action, reasons = self.check(stage, pending)
            if force in ("all", stage.name) and action in (UP_TO_DATE, AFTER_UPSTREAM):
                action, reasons = RUN, ["forced (--force)"]
            if action != UP_TO_DATE:
                pending.update(stage.step.outputs(stage.config))
            out.append(StageStatus(stage.name, action, reasons))
        return out

    # ----- running ---------------------------------------------------------------------------
    def run(
        self,
        force: str | None = None,
        from_: str | None = None,
        until: str | None = None,
        on_event: Callable[[StageEvent], None] | None = None,
    ) -> RunReport:
        """Run the selected stages in order, skipping those that are up to date."""
        emit = on_event or (lambda event: None)
        selected = self.select(from_, until)
        force = self._name(force, "--force") if force != "all" else force
        with exclusive(self.run_dir, f"textgen run {self.spec.source}"):
            recover(self.run_dir)
            self.lock, warning = Lock.load(self.run_dir)  # as it is now that this run holds the run dir
            self.lock_dirty = False
            report = RunReport(warnings=[warning] if warning else [], plan=self._plan(selected, force))
            for stage in self.spec.stages:
                if stage.name not in selected:
                    continue
                action, reasons = self.check(stage, set())
                if action == BLOCKED:
                    raise MissingArtifactError(f"stage {stage.name}: {reasons[0]}")
                if force in ("all", stage.name):
                    reasons = ["forced (--force)"] if action == UP_TO_DATE else reasons
                elif action == UP_TO_DATE:
                    report.skipped.append(stage.name)
                    emit(StageEvent(stage.name, "skip", UP_TO_DATE))
                    if self.lock_dirty:  # refreshed mtimes: save before the next stage rewrites the lock
                        self.lock.save()
                        self.lock_dirty = False
                    continue
                emit(StageEvent(stage.name, "start", "; ".join(reasons)))
                seconds = self._execute(stage, emit)
                report.ran.append(stage.name)
                emit(StageEvent(stage.name, "done", seconds=seconds))
            if self.lock_dirty:
                self.lock.save()
        return report

    def _execute(self, stage: StageSpec, emit: Callable[[StageEvent], None]) -> float:
        import time

        def progress(kind: str, info: dict[str, Any]) -> None:
            if "message" in info:
                emit(StageEvent(stage.name, "log", str(info["message"])))

        step = stage.step
        kept = "previous outputs kept" if step.staged else "the checkpoints it wrote so far are in the run dir"
        t0 = time.perf_counter()
        try:
            result = run_step(step, self.run_dir, stage.config, progress)
        except TextgenError as exc:
            emit(StageEvent(stage.name, "fail", str(exc)))
            failed = StageFailed(f"stage {stage.name} failed: {exc}; {kept}")
            failed.exit_code = exc.exit_code
            raise failed from exc
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            emit(StageEvent(stage.name, "fail", f"{type(exc).__name__}: {exc}"))
            raise StageFailed(
                f"stage {stage.name} failed ({type(exc).__name__}: {exc}); {kept}, fix and rerun"
            ) from exc
        self.lock, _ = Lock.load(self.run_dir)  # run_step recorded the stage
        if not step.finished(result):
            raise KeyboardInterrupt  # a stopped run is not a finished stage: it stays due
        return time.perf_counter() - t0
