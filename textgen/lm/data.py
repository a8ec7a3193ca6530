"""Token streams for language-model training: contiguous streams cut into truncated-BPTT chunks.

``batchify`` lays the id sequence out as ``streams`` parallel rows, each a contiguous run of the
corpus; a batch is the next ``bptt`` columns, and its targets are the same columns shifted by
one. The hidden state of row r at the end of one chunk is the right start for chunk i+1::

    ids: a b c d e f g h i j k l m n o p q r s t u v w x        (24 tokens, 4 streams of 6)

    stream 0 | a b c d e f |        chunk 0 (bptt 2): inputs  a b / g h / m n / s t
    stream 1 | g h i j k l |                          targets b c / h i / n o / t u
    stream 2 | m n o p q r |        chunk 1:          inputs  c d / i j / o p / u v ...
    stream 3 | s t u v w x |

With several processes (``rank`` of ``world_size``) the rows are dealt out so that each process
gets a disjoint block of ``streams`` rows of a ``streams * world_size`` layout. The rows are views
of the memory-mapped ids: each batch copies only its own window (to int64, with ``replace_rare``
applied), so a process touches its own shard of the split and nothing of the split's size is copied.

Validation uses the same layout but scores every token exactly once: the stream is prefixed with
``<eos>`` (so the first token has a context) and the last row is padded with target -1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from textgen.errors import UsageError


@dataclass(frozen=True)
class Rows:
    """This rank's ``[streams, L]`` rows of a ``streams * world_size`` layout: a view of the id array, never a copy.

    ``view[r, c]`` is token ``first + r * L + c`` of the split, so batches can be read straight from
    the memory map and :class:`RareTokens` knows each token's position.
    """

    view: np.ndarray  # [streams, L], a view of the (memory-mapped) ids
    first: int  # position in the split of view[0, 0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.view.shape[0], self.view.shape[1]

    def positions(self, column: int) -> np.ndarray:
        """Position in the split of ``view[r, column]`` for each row r."""
        return self.first + np.arange(self.shape[0], dtype=np.int64) * self.shape[1] + column


def batchify(ids: np.ndarray, streams: int, rank: int = 0, world_size: int = 1) -> Rows:
    """This rank's share of ``ids`` as ``streams`` contiguous rows (a view; the ragged tail is dropped)."""
    total = streams * world_size
    length = len(ids) // total
    if length < 2:
        raise UsageError(
            f"{len(ids)} training tokens cannot fill {total} streams; lower --batch-size or use a larger corpus"
        )
    grid = ids[: length * total].reshape(total, length)
    return Rows(grid[rank * streams : (rank + 1) * streams], rank * streams * length)


def rare_draws(seed: int, start: int, n: int) -> np.ndarray:
    """``np.random.default_rng(seed).random(N)[start : start + n]`` without drawing the first ``start``.

    PCG64 jumps ahead in O(log start) (one 64-bit step per double), so a batch gets the very draws
    a draw over the whole split gives its positions.
    """
    bits = np.random.PCG64(seed)
    bits.advance(start)
    return np.random.Generator(bits).random(n)


@dataclass(frozen=True)
class RareTokens:
    """``replace_rare`` on the fly: a seeded ``share`` of the singleton tokens shown as ``<unk>``, per window.

    Validation words unseen in training are scored as ``<unk>``; without this the model never sees
    ``<unk>`` as a target and gives it almost no probability. Position p of the split is replaced
    iff its id is a singleton and draw p of ``default_rng(seed)`` is below ``share``, so any window
    agrees with replacing the whole split at once.
    """

    singleton: np.ndarray  # bool per id: training count 1
    unk_id: int
    share: float
    seed: int

    @classmethod
    def of(cls, counts: list[int], unk_id: int, share: float, seed: int) -> RareTokens:
        return cls(np.asarray(counts, dtype=np.int64) == 1, unk_id, share, seed)

    def apply(self, window: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Replace in ``window`` ([rows, t], int64, changed in place); row r holds positions ``starts[r]`` on."""
        if self.share <= 0:
            return window
        rare = self.singleton[window]
        for r in np.flatnonzero(rare.any(axis=1)):
            cols = np.flatnonzero(rare[r])
            draws = rare_draws(self.seed, int(starts[r]), int(cols[-1]) + 1)
            window[r, cols[draws[cols] < self.share]] = self.unk_id
        return window


def replace_rare(
    ids: np.ndarray, counts: list[int], unk_id: int, share: float, seed: int, start: int = 0
) -> np.ndarray:
    """An int64 copy of ``ids`` (positions ``start`` on) with a seeded ``share`` of the singletons as ``<unk>``."""
    window = np.asarray(ids, dtype=np.int64).copy()[None, :]
    return RareTokens.of(counts, unk_id, share, seed).apply(window, np.array([start]))[0]


def num_chunks(length: int, bptt: int, offset: int = 0) -> int:
    """How many chunks of inputs+targets a row of ``length`` gives from ``offset``."""
    return max(0, (length - 1 - offset + bptt - 1) // bptt)


@dataclass
class ChunkBatcher:
    """Chunks of :class:`Rows` read from the memory map; epoch ``e`` starts at a seeded offset in ``[0, bptt)``.

    Each chunk copies only its own ``[streams, t + 1]`` window to int64 (``rare`` applied to it),
    ``pin`` puts it in page-locked memory for an asynchronous copy to the GPU.
    """

    data: Rows
    bptt: int
    seed: int = 0
    rare: RareTokens | None = None
    pin: bool = False

    def offset(self, epoch: int) -> int:
        if epoch == 0:
            return 0
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return int(torch.randint(0, self.bptt, (1,), generator=g))

    def chunks_in_epoch(self, epoch: int) -> int:
        return num_chunks(self.data.shape[1], self.bptt, self.offset(epoch))

    def window(self, i: int, t: int) -> Tensor:
        """Columns ``[i, i + t]`` of every row as int64 (inputs ``[:, :-1]``, targets ``[:, 1:]``)."""
        window = np.asarray(self.data.view[:, i : i + t + 1], dtype=np.int64)
        if self.rare is not None:
            window = self.rare.apply(window, self.data.positions(i))
        out = torch.from_numpy(window)
        return out.pin_memory() if self.pin else out

    def iter_epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[int, Tensor, Tensor]]:
        """``(index, inputs [B, t], targets [B, t])`` from chunk ``start`` on (t <= bptt)."""
        off = self.offset(epoch)
        length = self.data.shape[1]
        for index in range(start, self.chunks_in_epoch(epoch)):
            i = off + index * self.bptt
            t = min(self.bptt, length - 1 - i)
            window = self.window(i, t)
            yield index, window[:, :t], window[:, 1 : t + 1]


@dataclass(frozen=True)
class EvalRows:
    """Inputs and targets ``[rows, L]`` covering every token of ``ids`` once (targets -1 = padding), made per window.

    Row r predicts tokens ``ids[r*L : (r+1)*L]``; its inputs are the tokens just before those
    (``<eos>`` before the first). The ``streams`` rows are dealt to ranks in blocks, so the rows (and
    ``val_bpb``) do not depend on the number of processes. Windows are gathered from ``ids`` (a
    memory map) as they are scored: nothing of the split's size is allocated.
    """

    ids: np.ndarray
    bos: int
    length: int  # L
    rows: range  # this rank's rows of the layout

    @classmethod
    def of(cls, ids: np.ndarray, streams: int, bos: int, rank: int = 0, world_size: int = 1) -> EvalRows:
        n = len(ids)
        total = max(1, min(streams, n))
        length = -(-n // total)
        per = -(-total // world_size)
        return cls(ids, bos, length, range(rank * per, min(total, (rank + 1) * per)))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), self.length

    def positions(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``[rows, stop - start]``: where in ``ids`` each target of the window sits (``>= len(ids)``: padding)."""
        stop = self.length if stop is None else min(stop, self.length)
        rows = np.arange(self.rows.start, self.rows.stop, dtype=np.int64)[:, None]
        return rows * self.length + np.arange(start, stop, dtype=np.int64)[None, :]

    def window(self, start: int = 0, stop: int | None = None) -> tuple[Tensor, Tensor]:
        """Inputs and targets of columns ``[start, stop)`` of this rank's rows (int64)."""
        n = len(self.ids)
        pos = self.positions(start, stop)
        before = np.asarray(self.ids[np.clip(pos - 1, 0, n - 1)], np.int64) if n else np.zeros(pos.shape, np.int64)
        inputs = np.where((pos >= 1) & (pos < n), before, self.bos)
        targets = np.full(pos.shape, -1, dtype=np.int64)
        inside = pos < n
        targets[inside] = self.ids[pos[inside]]
        return torch.from_numpy(inputs), torch.from_numpy(targets)


def eval_rows(ids: np.ndarray, streams: int, bos: int, rank: int = 0, world_size: int = 1) -> tuple[Tensor, Tensor]:
    """All of :class:`EvalRows` at once (small splits and tests; scoring reads it window by window)."""
    return EvalRows.of(ids, streams, bos, rank, world_size).window()
