"""Token ids spooled to disk while a corpus streams past, remapped to the final vocabulary once.

The vocabulary (sorted by training count) is only known at the end, so each token first gets a
provisional id in first-seen order: the ids of every split go to a temporary raw uint32 file beside
the outputs, and the training count of each provisional id is kept in memory. :meth:`IdSpool.write`
then builds the final ``.npy`` files block by block through a provisional -> final lookup table.
Memory: the token table and counts (O(vocabulary)) plus one block; the temporary files are removed
whatever happens (hidden names, so a staging dir never commits them).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from textgen import io
from textgen.vocab import Vocab

BLOCK = 1 << 22  # ids remapped at a time
_SPOOL_DTYPE = np.dtype("<u4")


class IdSpool:
    """Provisional ids of several splits on disk, training counts in memory; :meth:`write` makes the final files."""

    def __init__(self, folder: Path, splits: tuple[str, ...], counted: str) -> None:
        self.folder, self.splits, self.counted = Path(folder), splits, counted
        self.stoi: dict[str, int] = {}
        self.itos: list[str] = []
        self.lengths = dict.fromkeys(splits, 0)
        self._counts = np.zeros(1 << 12, dtype=np.int64)  # occurrences in the counted split, per provisional id
        self._paths: dict[str, Path] = {}
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> IdSpool:
        for split in self.splits:
            fd, name = tempfile.mkstemp(prefix=f".{split}-ids-", suffix=".spool", dir=self.folder)
            self._paths[split] = Path(name)
            self._files[split] = os.fdopen(fd, "wb")
        return self

    def __exit__(self, *exc: Any) -> None:
        for fh in self._files.values():
            try:
                fh.close()
            except OSError:  # its last buffer did not fit on a full disk: the spool goes anyway
                pass
        for path in self._paths.values():
            path.unlink(missing_ok=True)

    def _failure(self, split: str, exc: OSError) -> Exception:
        """A full disk while spooling, named as the ids file it was for (``io.write_failure``)."""
        return io.write_failure(self.folder / f"{split}_ids.npy", exc) or exc

    def _lookup(self, tokens: list[str]) -> np.ndarray:
        stoi, itos = self.stoi, self.itos
        out = np.empty(len(tokens), dtype=_SPOOL_DTYPE)
        for i, tok in enumerate(tokens):
            pid = stoi.get(tok)
            if pid is None:
                pid = stoi[tok] = len(itos)
                itos.append(tok)
            out[i] = pid
        return out

    def add(self, split: str, tokens: list[str], ids: np.ndarray, counts: np.ndarray) -> None:
        """Append one chunk: its distinct ``tokens``, an index into them per position, their counts."""
        table = self._lookup(tokens)
        try:
            self._files[split].write(memoryview(np.ascontiguousarray(table[ids])).cast("B"))
        except OSError as exc:
            raise self._failure(split, exc) from exc
        self.lengths[split] += len(ids)
        if split == self.counted and len(tokens):
            if len(self.itos) > len(self._counts):
                grown = np.zeros(max(len(self.itos), 2 * len(self._counts)), dtype=np.int64)
                grown[: len(self._counts)] = self._counts
                self._counts = grown
            self._counts[table] += counts  # distinct within a chunk: plain fancy-index add is exact

    def train_counts(self) -> Counter[str]:
        """Occurrences of each token in the counted split (tokens only seen elsewhere left out)."""
        counts = self._counts[: len(self.itos)]
        return Counter({self.itos[i]: int(counts[i]) for i in np.flatnonzero(counts)})

    def write(
        self, vocab: Vocab, dest: dict[str, Path], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, int]:
        """Write each split's final ids (``vocab.id_dtype``) to ``dest[split]``; returns ``<unk>`` counts per split."""
        unk = vocab.unk_id
        table = np.fromiter((vocab.stoi.get(t, unk) for t in self.itos), dtype=np.int64, count=len(self.itos))
        table = table.astype(vocab.id_dtype)
        total, done = sum(self.lengths[s] for s in dest), 0
        unknown: dict[str, int] = {}
        for split, path in dest.items():
            try:
                self._files[split].flush()
            except OSError as exc:
                raise self._failure(split, exc) from exc
            n = self.lengths[split]
            unknown[split] = 0
            spooled = np.memmap(self._paths[split], dtype=_SPOOL_DTYPE, mode="r") if n else np.empty(0, _SPOOL_DTYPE)
            with io.npy_writer(path, vocab.id_dtype, n) as put:
                for start in range(0, n, BLOCK):
                    part = table[spooled[start : start + BLOCK]]
                    unknown[split] += int(np.count_nonzero(part == unk))
                    put(part)
                    done += len(part)
                    if progress is not None:
                        progress(done, total)
            del spooled
        return unknown
