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
from collections.abc import Iterator
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


def read_npy(path: str | os.PathLike[str], mmap: bool = True) -> np.ndarray:
    """Load an array saved by :func:`write_npy` (never unpickles)."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}); rerun `textgen build-vocab`") from exc


def _canonical_safetensors(data: bytes) -> bytes:
    """``data`` with its JSON header key-sorted: safetensors writes ``__metadata__`` in hash order, which
    changes from process to process, so a seeded run would not be byte-identical otherwise."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Atomically write torch tensors as safetensors (same tensors and metadata, same bytes)."""
    from safetensors.torch import save

    write_bytes(path, _canonical_safetensors(save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)))


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
