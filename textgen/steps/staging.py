"""Run a step in a staging directory and move its outputs into the run dir only on success.

The staging dir sits inside the run dir (``.staging/<step>-XXXX``, same filesystem, so moves are
renames) and starts with hard links (copies where links fail) of the run dir's files, minus the
step's own outputs: the step never sees its stale outputs and cannot touch the good ones. On
failure or Ctrl-C the staging dir is deleted and the run dir is exactly as it was.

A commit is all-or-nothing even across a kill: it first writes ``.commit.json`` (what to move, what
to remove) into the staging dir, then renames. :func:`recover`, run whenever a command takes the
run dir, finishes a commit a kill interrupted and deletes every uncommitted staging dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from textgen import io
from textgen.errors import PipelineError
from textgen.rundir import LOCK_FILE
from textgen.steps.lockfile import LOCK_NAME

STAGING_DIR = ".staging"
COMMIT = ".commit.json"


def _link(src: Path, dst: Path) -> None:
    if src.is_dir():
        os.symlink(src.resolve(), dst, target_is_directory=True)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        trash = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _apply(staged: Path, run_dir: Path, manifest: Mapping[str, list[str]]) -> None:
    """Do (or finish) a commit: move the written files, then remove stale extras."""
    for name in manifest["move"]:
        if (staged / name).exists() or (staged / name).is_symlink():
            _replace(staged / name, run_dir / name)
    for name in manifest["remove"]:
        if name not in manifest["move"]:
            _remove(run_dir / name)


def recover(run_dir: Path) -> list[str]:
    """Finish commits a kill interrupted, drop uncommitted staging dirs and temporary files a kill left
    behind (call it holding the run dir); returns the finished step dirs."""
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    root = Path(run_dir) / STAGING_DIR
    if not root.is_dir():
        return []
    finished = []
    for staged in sorted(root.iterdir()):
        marker = staged / COMMIT
        if marker.is_file():
            try:
                manifest = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                manifest = None  # torn: the commit had not begun
            if isinstance(manifest, dict):
                _apply(staged, Path(run_dir), manifest)
                finished.append(staged.name)
        shutil.rmtree(staged, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()
    return finished


class Staging:
    """``with Staging(run_dir, "build-vocab", outs) as path: run the step in path; staging.commit()``."""

    def __init__(self, run_dir: Path, name: str, outs: tuple[str, ...], extras: tuple[str, ...] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.name, self.outs, self.extras = name, tuple(outs), tuple(extras)
        self.path: Path | None = None
        self._linked: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> Path:
        root = self.run_dir / STAGING_DIR
        root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=root))
        own = set(self.outs) | set(self.extras) | {LOCK_FILE, LOCK_NAME}
        for src in sorted(self.run_dir.iterdir()):
            if src.name in own or src.name.startswith("."):
                continue
            _link(src, self.path / src.name)
            st = (self.path / src.name).lstat()
            self._linked[src.name] = (st.st_dev, st.st_ino)
        return self.path

    def written(self) -> list[str]:
        """What the step wrote in the staging dir (its outputs and new files; inputs it left alone excluded)."""
        assert self.path is not None, "written() outside the with block"
        names = []
        for p in sorted(self.path.iterdir()):
            st = p.lstat()
            if p.name in self._linked and (st.st_dev, st.st_ino) == self._linked[p.name]:
                continue  # an input, untouched
            if p.name in self._linked and p.name not in self.outs + self.extras:
                continue  # an upstream file the step rewrote: not its business, keep the original
            if p.name.startswith("."):
                continue  # temporary files
            names.append(p.name)
        return names

    def commit(self, also: Mapping[str, bytes] | None = None) -> list[str]:
        """Move what the step wrote (and the ``also`` files, e.g. the lock) into the run dir, all or nothing."""
        assert self.path is not None, "commit() outside the with block"
        missing = [n for n in self.outs if not (self.path / n).exists()]
        if missing:
            raise PipelineError(
                f"step {self.name} finished without writing {', '.join(missing)}; previous outputs kept"
            )
        written = self.written()
        for name, data in (also or {}).items():
            (self.path / name).unlink(missing_ok=True)  # a hard link to the run dir's copy: never write through it
            (self.path / name).write_bytes(data)
            written.append(name)
        stale = [
            n
            for n in self.extras
            if n not in written and ((self.run_dir / n).exists() or (self.run_dir / n).is_symlink())
        ]
        manifest = {"move": written, "remove": stale}
        io.write_json(self.path / COMMIT, manifest)  # from here on, recover() completes the commit
        _apply(self.path, self.run_dir, manifest)
        return written

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.run_dir / STAGING_DIR).rmdir()
