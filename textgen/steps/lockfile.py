"""``pipeline.lock``: what each step last ran with in this run dir, so unchanged steps are skipped.

The lock is JSON in the run dir::

    {"format": 2, "steps": {"build-vocab": {
        "textgen": "0.1.0", "code": "<sha256 of the step's source files>",
        "params": {"corpus": "fixture", "min_count": 1, ...},
        "inputs": {"corpora/fixtures/tiny_show.txt": {"sha256": "...", "size": 14238, "mtime_ns": ...}},
        "deps": {"vocab.json": {...}},            # run-dir files written by earlier steps
        "outs": {"vocab.json": {...}, ...},        # what this step wrote
        "finished": "2025-01-01T12:00:00+00:00", "seconds": 3.2}}}

File hashes are cached by (size, mtime_ns): a file whose size and mtime match the lock is not
re-hashed. Every step run (a single command or a pipeline) records its entry through
:func:`textgen.steps.execute.run_step`.
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

LOCK_NAME = "pipeline.lock"
FORMAT = 2
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


def code_version(sources: tuple[str, ...]) -> str:
    """sha256 of the source files of these modules or packages (names included): changed code reruns a step."""
    stamp = []
    for module in sources:
        for name, path in _source_files(module):
            st = path.stat()
            stamp.append((name, st.st_size, st.st_mtime_ns))
    return _code_hash(tuple(sources), tuple(stamp))


class Lock:
    """The parsed lock file: one entry per step that finished."""

    def __init__(self, path: Path, steps: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.steps: dict[str, dict[str, Any]] = steps or {}

    @classmethod
    def load(cls, run_dir: Path) -> tuple[Lock, str | None]:
        """The run dir's lock, or an empty one and a warning saying why the old one cannot be used."""
        path = Path(run_dir) / LOCK_NAME
        if not path.exists():
            return cls(path), None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"unreadable JSON ({exc})".splitlines()[0]
        else:
            if isinstance(data, dict) and data.get("format") == 1:
                return cls(path), f"{path} is from an older textgen; every step counts as never run"
            problem = _lock_problem(data)
        if problem:
            return cls(path), f"{path} is corrupt ({problem}); it is ignored, so every step counts as never run"
        return cls(path, data["steps"]), None

    def to_bytes(self) -> bytes:
        text = json.dumps({"format": FORMAT, "steps": self.steps}, indent=2, sort_keys=True, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    def save(self) -> None:
        io.write_bytes(self.path, self.to_bytes())


def _lock_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        return "not a mapping with 'steps'"
    if data.get("format") != FORMAT:
        return f"format {data.get('format')!r}, expected {FORMAT}"
    for name, entry in data["steps"].items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), dict) for k in ("params", "outs", "deps")):
            return f"step {name!r} has no params/deps/outs"
        for group in ("inputs", "deps", "outs"):
            for state in (entry.get(group) or {}).values():
                if not isinstance(state, dict) or not isinstance(state.get("sha256"), str):
                    return f"step {name!r} has a {group} entry without a sha256"
    return None


def make_entry(
    code: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, FileState],
    deps: Mapping[str, FileState],
    outs: Mapping[str, FileState],
    seconds: float | None = None,
) -> dict[str, Any]:
    """A lock entry for a step that just finished."""
    return {
        "textgen": __version__,
        "code": code,
        "params": dict(params),
        "inputs": dict(inputs),
        "deps": dict(deps),
        "outs": dict(outs),
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": None if seconds is None else round(seconds, 3),
    }
