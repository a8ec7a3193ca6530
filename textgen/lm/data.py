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
gets a disjoint block of ``streams`` rows of a ``streams * world_size`` layout.

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


def batchify(ids: np.ndarray, streams: int, rank: int = 0, world_size: int = 1) -> Tensor:
    """Rows ``[streams, L]`` (int64) of this rank's share of ``ids``; the ragged tail is dropped."""
    total = streams * world_size
    length = len(ids) // total
    if length < 2:
        raise UsageError(
            f"{len(ids)} training tokens cannot fill {total} streams; lower --batch-size or use a larger corpus"
        )
    grid = np.asarray(ids[: length * total], dtype=np.int64).reshape(total, length)
    return torch.from_numpy(np.ascontiguousarray(grid[rank * streams : (rank + 1) * streams]))


def num_chunks(length: int, bptt: int, offset: int = 0) -> int:
    """How many chunks of inputs+targets a row of ``length`` gives from ``offset``."""
    return max(0, (length - 1 - offset + bptt - 1) // bptt)


@dataclass
class ChunkBatcher:
    """Chunks of a batchified tensor; epoch ``e`` starts at a seeded offset in ``[0, bptt)``."""

    data: Tensor  # [streams, L]
    bptt: int
    seed: int = 0

    def offset(self, epoch: int) -> int:
        if epoch == 0:
            return 0
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return int(torch.randint(0, self.bptt, (1,), generator=g))

    def chunks_in_epoch(self, epoch: int) -> int:
        return num_chunks(self.data.shape[1], self.bptt, self.offset(epoch))

    def iter_epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[int, Tensor, Tensor]]:
        """``(index, inputs [B, t], targets [B, t])`` from chunk ``start`` on (t <= bptt)."""
        off = self.offset(epoch)
        length = self.data.shape[1]
        for index in range(start, self.chunks_in_epoch(epoch)):
            i = off + index * self.bptt
            t = min(self.bptt, length - 1 - i)
            yield index, self.data[:, i : i + t], self.data[:, i + 1 : i + 1 + t]


def eval_rows(ids: np.ndarray, streams: int, bos: int, rank: int = 0, world_size: int = 1) -> tuple[Tensor, Tensor]:
    """Inputs and targets ``[streams, L]`` covering every token of ``ids`` once (targets -1 = padding).

    Row r predicts tokens ``ids[r*L : (r+1)*L]``; its inputs are the tokens just before those
    (``<eos>`` before the first). The ``streams`` rows are dealt to ranks in blocks, so the rows (and
    ``val_bpb``) do not depend on the number of processes.
    """
    n = len(ids)
    total = max(1, min(streams, n))
    length = -(-n // total)
    targets = np.full(total * length, -1, dtype=np.int64)
    targets[:n] = ids
    inputs = np.full(total * length, bos, dtype=np.int64)
    inputs[1:n] = ids[: n - 1]
    inputs[0] = bos
    inp = torch.from_numpy(inputs.reshape(total, length))
    tgt = torch.from_numpy(targets.reshape(total, length))
    per = -(-total // world_size)
    rows = slice(rank * per, min(total, (rank + 1) * per))
    return inp[rows].contiguous(), tgt[rows].contiguous()


def replace_rare(ids: np.ndarray, counts: list[int], unk_id: int, share: float, seed: int) -> np.ndarray:
    """Replace a seeded ``share`` of the singleton tokens with ``<unk>`` so the model learns p(<unk>).

    Validation words unseen in training are scored as ``<unk>``; without this the model never
    sees ``<unk>`` as a target and gives it almost no probability.
    """
    arr = np.asarray(ids, dtype=np.int64)
    if share <= 0:
        return arr
    singleton = np.asarray(counts, dtype=np.int64)[arr] == 1
    pick = np.random.default_rng(seed).random(arr.shape[0]) < share
    out = arr.copy()
    out[singleton & pick] = unk_id
    return out
