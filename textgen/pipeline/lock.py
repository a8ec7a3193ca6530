"""``pipeline.lock``: what each stage last ran with, so unchanged stages are skipped.

The lock is JSON in the run dir::

    {"format": 1, "stages": {"vocab": {
        "kind": "vocab", "textgen": "0.1.0", "code": "<sha256 of the kind's source files>",
        "params": {"corpus": "fixture", "min_count": 1, ...},
        "inputs": {"corpora/fixtures/tiny_show.txt": {"sha256": "...", "size": 14238, "mtime_ns": ...}},
        "deps": {"vocab.json": {...}},            # run-dir files written by earlier stages
        "outs": {"vocab.json": {...}, ...},        # what this stage wrote
        "finished": "2025-01-01T12:00:00+00:00", "seconds": 3.2}}}

File hashes are cached by (size, mtime_ns): a file whose size and mtime match the lock is not
re-hashed. The single commands call :func:`record_stage` after they succeed, so a stage run by
hand counts as done for ``textgen run``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textgen import __version__, io
from textgen.errors import PipelineError
from textgen.pipeline.kinds import StageKind

LOCK_NAME = "pipeline.lock"
FORMAT = 1
FileState = dict[str, Any]  # {"sha256": str, "size": int, "mtime_ns": int}


def file_state(path: Path, cached: Mapping[str, Any] | None = None) -> FileState:
    """sha256, size and mtime of ``path``; reuses ``cached``'s hash when size and mtime match."""
    st = path.stat()
    same = cached and cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns
    if same and cached and cached.get("sha256"):
        return {"sha256": cached["sha256"], "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"sha256": io.sha256_file(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _source_files(module: str) -> list[tuple[str, Path]]:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return []
    if spec.submodule_search_locations:
        files = []
        for root in spec.submodule_search_locations:
            base = Path(root)
            files += [(f"{module}/{p.relative_to(base).as_posix()}", p) for p in sorted(base.rglob("*.py"))]
        return files
    return [(module, Path(spec.origin))] if spec.origin and spec.origin.endswith(".py") else []


@functools.lru_cache(maxsize=64)
def _code_hash(sources: tuple[str, ...], stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for module in sources:
        files = _source_files(module)
        h.update(f"module {module} {len(files)}\0".encode())
        for name, path in files:
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def code_version(kind: StageKind) -> str:
    """sha256 of the source files of ``kind.sources`` (names included): changing code reruns the stage."""
    stamp = []
    for module in kind.sources:
        for name, path in _source_files(module):
            st = path.stat()
            stamp.append((name, st.st_size, st.st_mtime_ns))
    return _code_hash(tuple(kind.sources), tuple(stamp))


def tracked_params(kind: StageKind, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter values the lock compares (untracked ones such as the device are left out)."""
    return {k: params[k] for k, p in kind.params.items() if p.tracked and k in params}


def input_paths(kind: StageKind, params: Mapping[str, Any]) -> list[Path]:
    """Files outside the run dir that the stage reads (the corpus), as the params name them."""
    return list(kind.external_deps(params)) if kind.external_deps else []


class Lock:
    """The parsed lock file: one entry per stage that finished."""

    def __init__(self, path: Path, stages: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.stages: dict[str, dict[str, Any]] = stages or {}

    @classmethod
    def load(cls, run_dir: Path) -> tuple[Lock, str | None]:
        """The run dir's lock, or an empty one and a warning if it is corrupt."""
        path = Path(run_dir) / LOCK_NAME
        if not path.exists():
            return cls(path), None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            problem = _lock_problem(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"unreadable JSON ({exc})".splitlines()[0]
        if problem:
            return cls(path), f"{path} is corrupt ({problem}); rebuilt it, so every stage counts as never run"
        return cls(path, data["stages"]), None

    def save(self) -> None:
        io.write_json(self.path, {"format": FORMAT, "stages": self.stages})


def _lock_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        return "not a mapping with 'stages'"
    if data.get("format") != FORMAT:
        return f"format {data.get('format')!r}, expected {FORMAT}"
    for name, entry in data["stages"].items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), dict) for k in ("params", "outs", "deps")):
            return f"stage {name!r} has no params/deps/outs"
        for group in ("inputs", "deps", "outs"):
            for state in (entry.get(group) or {}).values():
                if not isinstance(state, dict) or not isinstance(state.get("sha256"), str):
                    return f"stage {name!r} has a {group} entry without a sha256"
    return None


def make_entry(
    kind: StageKind,
    params: Mapping[str, Any],
    inputs: Mapping[str, FileState],
    deps: Mapping[str, FileState],
    outs: Mapping[str, FileState],
    seconds: float | None = None,
) -> dict[str, Any]:
    """A lock entry for a stage that just finished."""
    return {
        "kind": kind.name,
        "textgen": __version__,
        "code": code_version(kind),
        "params": tracked_params(kind, params),
        "inputs": dict(inputs),
        "deps": dict(deps),
        "outs": dict(outs),
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": None if seconds is None else round(seconds, 3),
    }


def record_stage(
    run_dir: str | Path,
    stage: str,
    params: Mapping[str, Any],
    *,
    seconds: float | None = None,
    kinds: Mapping[str, StageKind] | None = None,
) -> str | None:
    """Record in ``run_dir/pipeline.lock`` that ``stage`` just ran with ``params``; return a warning or None.

    For the single commands (``build-vocab``, ``train-embeddings``, ``train``): pass the
    parameters under their pipeline names; missing ones take the pipeline defaults. Raises
    :class:`PipelineError` if a parameter is unknown or invalid, or an output is missing.
    """
    if kinds is None:
        from textgen.pipeline.stages import KINDS as kinds
    if stage not in kinds:
        raise PipelineError(f"unknown stage {stage!r}; stages are {list(kinds)}")
    kind = kinds[stage]
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    problems = [f"{k}: unknown parameter" for k in params if k not in kind.params]
    problems += [f"{k}: {msg}" for k, p in kind.params.items() if k in params and (msg := p.check(params[k]))]
    if problems:
        raise PipelineError(f"cannot record stage {stage}: {'; '.join(problems)}; report this as a bug")
    resolved = kind.resolve(params)
    root = Path(run_dir)
    missing = [name for name in kind.outs if not (root / name).is_file()]
    if missing:
        raise PipelineError(f"cannot record stage {stage}: {', '.join(missing)} missing in {root}; rerun the stage")
    lock, warning = Lock.load(root)
    old = lock.stages.get(stage, {})
    entry = make_entry(
        kind,
        resolved,
        {str(p): file_state(p, (old.get("inputs") or {}).get(str(p))) for p in input_paths(kind, resolved)},
        {
            n: file_state(root / n, old.get("deps", {}).get(n))
            for n in kind.reads + kind.optional_files(resolved)
            if (root / n).is_file()
        },
        {n: file_state(root / n) for n in kind.outs},
        seconds,
    )
    lock.stages[stage] = entry
    lock.save()
    return warning
