"""The run directory: one experiment's artifacts, with fixed file names, and who may write it.

Any command given ``--run-dir`` finds its inputs here; a missing input names the command that
writes it (:data:`WRITERS` is the one table of file -> step). Commands that write hold the run dir
with :func:`exclusive`, so two of them never interleave their artifacts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from textgen.errors import MissingArtifactError, RunDirError

DEFAULT_RUN_DIR = Path("runs/default")
LOCK_FILE = ".textgen.lock"

VOCAB_FILES = ("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json")
EMBEDDING_FILES = ("embeddings.safetensors", "embeddings.json", "vectors.txt")
GENERATOR_FILES = ("generator.safetensors", "generator.json")
CLASSIFIER_FILES = ("classifier.safetensors", "classifier.json", "classifier_split.json", "classifier_metrics.json")

# file name -> the step (and command) that writes it
WRITERS: dict[str, str] = {
    **dict.fromkeys(VOCAB_FILES, "build-vocab"),
    **dict.fromkeys(EMBEDDING_FILES, "train-embeddings"),
    **dict.fromkeys((*GENERATOR_FILES, "metrics.jsonl", "generator.resume.pt"), "train-generator"),
    **dict.fromkeys((*CLASSIFIER_FILES, "confusion.png"), "train-classifier"),
}


@dataclass(frozen=True)
class RunDir:
    """Paths of the artifacts inside one run directory."""

    root: Path

    @classmethod
    def of(cls, path: str | os.PathLike[str] | None) -> RunDir:
        return cls(Path(path) if path is not None else DEFAULT_RUN_DIR)

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def command(self, name: str) -> str:
        """The command that writes ``name`` into this run dir."""
        return f"textgen {WRITERS.get(name, 'run')} --run-dir {self.root}"

    def require(self, *names: str) -> None:
        """Raise :class:`MissingArtifactError` naming the command that writes the first missing file."""
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"run dir {self.root} is a file; pass --run-dir with a directory")
        for name in names:
            if not (self.root / name).is_file():
                raise MissingArtifactError(f"{self.root / name} not found; run `{self.command(name)}` first")

    def ensure_writable(self) -> Path:
        """Create the directory if needed; raise :class:`RunDirError` if it cannot hold artifacts."""
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"run dir {self.root} is a file, not a directory; choose another --run-dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create run dir {self.root} ({exc.strerror}); choose another --run-dir") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise RunDirError(f"run dir {self.root} is not writable; fix its permissions or choose another --run-dir")
        return self.root


_HELD: set[str] = set()  # run dirs this process holds (holding is re-entrant)


def _holder_note(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
        return f"`{info['command']}` (pid {info['pid']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another textgen command"


@contextlib.contextmanager
def exclusive(run_dir: str | os.PathLike[str], command: str = "") -> Iterator[None]:
    """Hold ``run_dir`` for writing; :class:`RunDirError` naming the holder if another process has it.

    The lock file is never followed through a symbolic link, and it records who holds it. A run dir
    this call created is removed again when the command fails before writing anything into it.
    """
    rd = RunDir.of(run_dir)
    created = not rd.root.exists()
    rd.ensure_writable()
    key = os.path.realpath(rd.root)
    if key in _HELD:
        yield
        return
    path = rd.root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunDirError(f"{path} is a symbolic link; remove it (textgen never follows it)") from None
        raise RunDirError(f"cannot open {path} ({exc.strerror}); fix the run dir's permissions") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"run dir {rd.root} is in use by {_holder_note(fd)}; wait for it or pass another --run-dir"
            ) from None
        note = {
            "command": command or " ".join(["textgen", *sys.argv[1:3]]),
            "pid": os.getpid(),
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(note).encode("utf-8"), 0)
        _HELD.add(key)
        try:
            yield
        except BaseException:
            if created:
                _remove_if_empty(rd.root)
            raise
        finally:
            _HELD.discard(key)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _remove_if_empty(root: Path) -> None:
    """Remove a run dir that holds nothing but our lock file (and an empty staging dir)."""
    try:
        names = {p.name for p in root.iterdir()}
        if names <= {LOCK_FILE, ".staging"} and not any((root / ".staging").glob("*")):
            for name in names:
                path = root / name
                path.rmdir() if path.is_dir() else path.unlink()
            root.rmdir()
    except OSError:
        pass
