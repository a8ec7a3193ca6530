"""Atomic, self-describing artifact I/O: JSON, NumPy arrays, safetensors.

Every write goes to a temporary file in the destination directory and is renamed into place, so
a killed process never leaves a half-written artifact behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from textgen.errors import ArtifactError, DiskFullError, OutputPathError, RunDirError, TextgenError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destination(dest: Path) -> None:
    """Raise :class:`OutputPathError` if ``dest`` cannot become a file (a directory, or under a file)."""
    if dest.is_dir():
        raise OutputPathError(f"cannot write {dest}: it is a directory; give a file path")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"cannot write {dest}: {parent} is a file, not a directory")
            break


def write_failure(dest: Path, exc: BaseException) -> TextgenError | None:
    """The typed error for a failed write of ``dest`` (a full disk, a read-only place), or None."""
    if dest.parent.parent.name == ".staging":  # a step's staging dir: name the run dir's file
        dest = dest.parent.parent.parent / dest.name
    code = getattr(exc, "errno", None)
    text = str(exc)
    full = ("No space left", "unexpected pos", "StorageFull", "os error 28", "code: 28")  # torch, safetensors
    short = "requested and" in text and "written" in text  # numpy's tofile on a full disk (no errno)
    if code in (errno.ENOSPC, errno.EDQUOT) or short or any(mark in text for mark in full):
        return DiskFullError(f"no space left on device writing {dest}; free some space and rerun (old file kept)")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return RunDirError(f"cannot write {dest} ({os.strerror(code)}); choose a writable place")
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The file gets the permissions the umask allows (as ``open`` would give it). A full disk or a
    read-only directory is a one-line typed error; the previous file and no temporary file remain.
    """
    dest = Path(path)
    check_destination(dest)
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except Exception as exc:  # the writers raise OSError, RuntimeError (torch) or SafetensorError
        failure = write_failure(dest, exc)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path``."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as pretty, key-sorted JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike[str], what: str = "artifact") -> Any:
    """Read JSON, raising :class:`ArtifactError` with the path if it is corrupt."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{what} {path} is corrupt ({exc}); delete it and rerun the stage that writes it") from exc


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file (metrics logs), skipping lines that are not JSON."""
    records = []
    p = Path(path)
    if not p.exists():
        return records
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def write_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Atomically save a NumPy array (``np.load(..., mmap_mode='r')`` can map it)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


@contextlib.contextmanager
def npy_writer(path: str | os.PathLike[str], dtype: Any, length: int) -> Iterator[Callable[[np.ndarray], None]]:
    """Write a 1-D ``.npy`` of ``length`` items piece by piece: ``with npy_writer(p, dt, n) as write: write(part)``.

    The header comes first (the length is known), then the parts; the file is renamed into place
    only when exactly ``length`` items were written, so its bytes are :func:`write_npy`'s and a kill
    leaves nothing behind.
    """
    dt = np.dtype(dtype)
    written = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False, "shape": (length,)}
        np.lib.format.write_array_header_1_0(fh, header)

        def write(part: np.ndarray) -> None:
            nonlocal written
            arr = np.ascontiguousarray(part, dtype=dt)
            if written + arr.size > length:
                raise ArtifactError(f"{path}: more than the announced {length} items; nothing was written")
            fh.write(memoryview(arr).cast("B"))
            written += arr.size

        yield write
        if written != length:
            raise ArtifactError(f"{path}: {written} of {length} items written; nothing was written")


def read_npy(path: str | os.PathLike[str], mmap: bool = True) -> np.ndarray:
    """Load an array saved by :func:`write_npy` (never unpickles); memory-mapped unless ``mmap`` is False."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}); rerun `textgen build-vocab`") from exc


META_KEY = "textgen"  # safetensors metadata: one key holding sorted JSON (a map of several keys has no fixed order)


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    """Atomically write torch tensors as safetensors, with ``metadata`` as JSON in the header.

    The tensors go in name order and the metadata as one sorted JSON string, so the same tensors
    and metadata give the same bytes.
    """
    from safetensors.torch import save_file

    header = {META_KEY: json.dumps(metadata, sort_keys=True, ensure_ascii=False)} if metadata else None
    with atomic_path(path) as tmp:
        save_file({k: tensors[k].contiguous() for k in sorted(tensors)}, str(tmp), metadata=header)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata :func:`save_tensors` wrote (older files: their plain string keys); reads only the header."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is corrupt or truncated ({exc}); retrain to rewrite it") from exc
    if META_KEY not in raw:
        return dict(raw)
    try:
        data = json.loads(raw[META_KEY])
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} has a corrupt header ({exc}); retrain to rewrite it") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} has a corrupt header (not a JSON object); retrain to rewrite it")
    return data


def load_tensors(path: str | os.PathLike[str], device: str = "cpu") -> dict[str, Any]:
    """Read a safetensors file, raising :class:`ArtifactError` if it is corrupt or truncated."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is corrupt or truncated ({exc}); retrain to rewrite it") from exc


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()
