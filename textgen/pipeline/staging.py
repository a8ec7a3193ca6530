"""Run a stage in a staging directory and move its outputs into the run dir only on success.

The staging dir sits inside the run dir (``.staging/<stage>-XXXX``, same filesystem, so moves
are renames) and starts with hard links (copies where links fail) of the run dir's files, minus
the stage's own outputs: the stage never sees its stale outputs and cannot touch the good ones.
On success its outputs replace the old ones; on failure or Ctrl-C the staging dir is deleted
and the run dir is exactly as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from textgen.errors import PipelineError, RunDirError
from textgen.pipeline.kinds import StageKind
from textgen.pipeline.lock import LOCK_NAME

STAGING_DIR = ".staging"
RUN_LOCK = ".pipeline.running"


@contextlib.contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` for a pipeline run; RunDirError if another run holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / RUN_LOCK, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"another textgen run is using {run_dir}; wait for it or pass another --run-dir"
            raise RunDirError(msg) from None
        try:
            shutil.rmtree(run_dir / STAGING_DIR, ignore_errors=True)  # left by a killed run
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


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


class Staging:
    """``with Staging(run_dir, kind) as path: run the stage in path; staging.commit()``."""

    def __init__(self, run_dir: Path, kind: StageKind) -> None:
        self.run_dir = Path(run_dir)
        self.kind = kind
        self.path: Path | None = None
        self._linked: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> Path:
        root = self.run_dir / STAGING_DIR
        root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.kind.name}-", dir=root))
        own = set(self.kind.outs) | set(self.kind.extras) | {LOCK_NAME, RUN_LOCK}
        for src in sorted(self.run_dir.iterdir()):
            if src.name in own or src.name.startswith("."):
                continue
            _link(src, self.path / src.name)
            st = (self.path / src.name).lstat()
            self._linked[src.name] = (st.st_dev, st.st_ino)
        return self.path

    def commit(self) -> list[str]:
        """Move what the stage wrote into the run dir; remove extras it no longer writes. Returns the names."""
        assert self.path is not None, "commit() outside the with block"
        missing = [n for n in self.kind.outs if not (self.path / n).exists()]
        if missing:
            raise PipelineError(
                f"stage {self.kind.name} finished without writing {', '.join(missing)}; previous outputs kept"
            )
        written = []
        for p in sorted(self.path.iterdir()):
            st = p.lstat()
            if p.name in self._linked and (st.st_dev, st.st_ino) == self._linked[p.name]:
                continue  # an input, untouched
            if p.name in self._linked and p.name not in self.kind.outs + self.kind.extras:
                continue  # an upstream file the stage rewrote: not its business, keep the original
            if p.name.startswith("."):
                continue  # temporary files
            written.append(p.name)
        for name in written:
            _replace(self.path / name, self.run_dir / name)
        for name in self.kind.extras:
            stale = self.run_dir / name
            if name not in written and (stale.exists() or stale.is_symlink()):
                shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
        return written

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.run_dir / STAGING_DIR).rmdir()
