"""The process-group seam of the training loop.

Training and evaluation talk to other processes only through a :class:`DistContext`: which rank
this is, how many there are, summing tensors across them, and agreeing on a stop. The default is a
single process (every reduction is the identity). A ``torch.distributed`` implementation (DDP
under torchrun) subclasses it, wraps the model, and only rank 0 writes artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


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

    def barrier(self) -> None:
        """Wait for every process."""


LOCAL = DistContext()


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    from textgen.errors import DeviceError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA is not available on this machine; pass --device cpu (or auto)")
    return dev
