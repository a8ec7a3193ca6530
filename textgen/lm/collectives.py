"""The process-group seam of the training loop: a single process, or one rank of a torchrun job.

Training and evaluation talk to other processes only through a :class:`DistContext`: which rank
this is, how many there are, summing tensors across them, and agreeing on a stop. The default
(:data:`LOCAL`) is one process, where every reduction is the identity; :class:`TorchDistContext`
is a rank of a ``torch.distributed`` group (DDP under torchrun; NCCL for CUDA tensors, gloo for
CPU tensors). Only rank 0 writes artifacts. :func:`from_env` reads torchrun's environment.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist
from torch import Tensor, nn

from textgen import device as devices
from textgen.errors import ArtifactError, UsageError
from textgen.lm.config import TrainConfig

# what torchrun sets for every worker; RANK/WORLD_SIZE/LOCAL_RANK mean "launched by torchrun"
LAUNCH_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
REQUIRED_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistContext:
    """One process: rank 0 of 1."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, metrics, plots and progress."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """Sum ``tensor`` over every process (in place) and return it."""
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every process if ``flag`` is true on any (stop together)."""
        return flag

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train (DDP wraps it; a single process trains it as is)."""
        return model

    def all_gather_bytes(self, data: bytes, size: int) -> list[bytes]:
        """Every rank's ``data`` (padded or cut to ``size`` bytes), in rank order."""
        return [data[:size].ljust(size, b"\0")]

    def prepare(self, cfg: TrainConfig) -> None:
        """Set up for training with ``cfg`` (DDP must look for unused parameters of frozen embeddings)."""

    def close(self) -> None:
        """Leave the process group, if any."""


LOCAL = DistContext()


def env_rank(environ: dict[str, str] | None = None) -> int:
    """This process's rank as torchrun set it (0 when absent or unreadable): who reports errors."""
    try:
        return int((environ if environ is not None else os.environ).get("RANK", "0"))
    except ValueError:
        return 0


def torchrun_env(environ: dict[str, str] | None = None) -> dict[str, Any] | None:
    """``rank``, ``world_size``, ``local_rank``, ``master`` from a torchrun environment, or None.

    Raises :class:`UsageError` when the environment is half set (say ``RANK`` without
    ``WORLD_SIZE`` or ``MASTER_ADDR``): a hand-made launch that would hang or train alone.
    """
    env = environ if environ is not None else dict(os.environ)
    present = [k for k in LAUNCH_KEYS if env.get(k)]
    if not present:
        return None
    missing = [k for k in REQUIRED_KEYS if not env.get(k)]
    if missing:
        raise UsageError(
            f"torchrun environment half set ({', '.join(present)} set but {', '.join(missing)} missing); "
            "launch with `torchrun --nproc-per-node N -m textgen train-generator ...` or unset "
            f"{', '.join(present)}"
        )
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK") or rank)
        int(env["MASTER_PORT"])
    except ValueError:
        raise UsageError(
            "RANK, WORLD_SIZE, LOCAL_RANK and MASTER_PORT must be integers; launch with torchrun"
        ) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UsageError(f"RANK {rank} is outside WORLD_SIZE {world}; launch with torchrun")
    return {
        "rank": rank,
        "world_size": world,
        "local_rank": local,
        "master": f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}",
    }


@dataclass
class TorchDistContext(DistContext):
    """One of ``world_size`` torchrun processes; collectives go through the default process group."""

    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    find_unused: bool = False  # DDP must look for parameters without a gradient (frozen embeddings)

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        # a CPU tensor goes through gloo: no GPU synchronisation for the per-step stop check
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return bool(t.item() > 0)

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(model, device_ids=ids, find_unused_parameters=self.find_unused)

    def all_gather_bytes(self, data: bytes, size: int) -> list[bytes]:
        buf = torch.zeros(size, dtype=torch.uint8)
        raw = torch.frombuffer(bytearray(data[:size]), dtype=torch.uint8) if data else buf[:0]
        buf[: raw.numel()] = raw
        out = [torch.zeros_like(buf) for _ in range(self.world_size)]
        tdist.all_gather(out, buf)
        return [bytes(t.tolist()) for t in out]

    def prepare(self, cfg: TrainConfig) -> None:
        self.find_unused = cfg.freeze_embeddings  # a frozen embedding takes no gradient for a while

    def close(self) -> None:
        """Leave the process group (every rank, also after an error)."""
        if not tdist.is_initialized():
            return
        # Leave together: a rank that tears gloo down while another still talks to it can abort
        # ("terminate called without an active exception").
        with contextlib.suppress(Exception):
            if tdist.get_backend() == "gloo":
                tdist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
            else:
                tdist.barrier()
        tdist.destroy_process_group()


def from_env(device: str = "auto", timeout_s: float = 600.0) -> DistContext:
    """The context torchrun's environment describes: :data:`LOCAL` without one (or with one process).

    CUDA ranks use the GPU ``LOCAL_RANK`` of their node; CPU tensors always go through gloo.
    """
    env = torchrun_env()
    if env is None or env["world_size"] == 1:
        return LOCAL
    dev = devices.resolve(device)
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        if env["local_rank"] >= count:
            raise UsageError(
                f"local rank {env['local_rank']} has no GPU ({count} on this node); "
                f"use --nproc-per-node {count} or --device cpu"
            )
        if dev.index is not None and dev.index != env["local_rank"]:
            raise UsageError(f"--device {device} under torchrun would put every rank on one GPU; pass --device cuda")
        dev = torch.device("cuda", env["local_rank"])
        torch.cuda.set_device(dev)
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    try:
        tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot join the process group at {env['master']} ({first}); check the torchrun options"
        ) from exc
    ctx = TorchDistContext(env["rank"], env["world_size"], env["local_rank"], dev)
    atexit.register(ctx.close)  # at exit too, ranks leave together (close is a no-op once left)
    return ctx


# ----- checks and state across ranks --------------------------------------------------------------
def prepare_run(dist: DistContext, vocab_sha256: str, train_tokens: int, cfg: TrainConfig) -> None:
    """Before training, on every rank: raise if the ranks cannot train this run together; set up DDP."""
    if dist.world_size == 1:
        return
    dist.prepare(cfg)
    batch_size, bptt = cfg.batch_size, cfg.bptt
    shas = [b.decode("ascii", "replace").rstrip("\0") for b in dist.all_gather_bytes(vocab_sha256.encode(), 64)]
    odd = [r for r, s in enumerate(shas) if s != shas[0]]
    if odd:
        raise ArtifactError(
            f"{'ranks' if len(odd) > 1 else 'rank'} {', '.join(map(str, odd))} "
            f"{'have' if len(odd) > 1 else 'has'} a different vocabulary than rank 0 "
            f"(vocab.json sha256 {shas[odd[0]][:12]} vs {shas[0][:12]}); "
            "give every node the same run dir (copy rank 0's vocab.json and *_ids.npy)"
        )
    streams = train_tokens // (bptt + 1)  # rows that hold at least one full chunk
    if dist.world_size > streams:
        raise UsageError(
            f"world size {dist.world_size} is larger than the {streams} training streams of {bptt + 1} tokens "
            f"that {train_tokens:,} tokens give; use at most {max(1, streams)} processes or a smaller --bptt"
        )
    if dist.world_size * batch_size > streams:
        raise UsageError(
            f"{dist.world_size} processes x --batch-size {batch_size} streams need more than the {streams} "
            f"training streams here; use --batch-size {max(1, streams // dist.world_size)} or fewer processes"
        )


def _stream_dim(k: int, s: Tensor) -> int:
    """Which dimension of state tensor ``k`` indexes streams (LSTM h/c: 1; attention memory: 0)."""
    return 1 if s.dim() == 3 and k < 2 else 0


def gather_streams(dist: DistContext, state: Sequence[Tensor]) -> list[Tensor]:
    """Every rank's carried state, stacked in global stream order (a collective: call on every rank)."""
    if dist.world_size == 1:
        return [s.detach() for s in state]
    out = []
    for k, s in enumerate(state):
        d = _stream_dim(k, s)
        n = s.shape[d]
        shape = list(s.shape)
        shape[d] = n * dist.world_size
        full = torch.zeros(shape, dtype=torch.float32, device=s.device)
        full.narrow(d, dist.rank * n, n).copy_(s.detach().float())
        out.append(dist.all_reduce_sum(full).to(s.dtype))
    return out


def shard_streams(dist: DistContext, state: Sequence[Tensor], streams: int) -> tuple[Tensor, ...]:
    """This rank's ``streams`` rows of a global state saved by :func:`gather_streams`."""
    return tuple(s.narrow(_stream_dim(k, s), dist.rank * streams, streams) for k, s in enumerate(state))


def resume_layout(
    dist: DistContext, position: dict[str, Any], state: Sequence[Tensor] | None, batch_size: int
) -> tuple[int, tuple[Tensor, ...] | None]:
    """Chunk index and this rank's carried state for a resume file saved with any process count.

    The same global stream count (``batch_size x world_size``) gives the same rows: the index is
    kept and each rank takes its rows of the saved state. Otherwise rows are ``train_tokens /
    streams`` long, so chunk ``i`` of the saved layout ends at the same share of every row as chunk
    ``i * saved / streams`` of the new one; that index is used and the state restarts from zeros.
    """
    index = int(position["index"])
    saved = int(position.get("batch_size", batch_size)) * int(position.get("world_size", 1))
    streams = batch_size * dist.world_size
    if saved != streams:
        return index * saved // streams, None
    return index, (shard_streams(dist, state, batch_size) if state else None)
