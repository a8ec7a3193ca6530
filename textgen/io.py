"""Atomic, self-describing artifact I/O: JSON, NumPy arrays, safetensors.

Every write goes to a temporary file in the destination directory and is renamed into place, so
a killed process never leaves a half-written artifact behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from textgen.errors import ArtifactError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
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


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one JSON record as a line (metrics logs; a torn last line is skipped on read)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file, skipping a torn final line."""
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


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Atomically write torch tensors as safetensors."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


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
