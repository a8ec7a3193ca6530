"""Sampling settings, importable without torch (the ``generate`` step's config uses them).

The rules themselves are applied by :class:`textgen.decode.sampling.Sampler`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from textgen import options
from textgen.options import option

MAX_LENGTH = 100_000  # tokens per sample: buffers are allocated for the whole length
MAX_SAMPLES = 1024  # streams per call (one batch)


@dataclass(frozen=True)
class SamplingSettings:
    """How the next token is chosen (checked by :meth:`validate`)."""

    temperature: float = option(
        1.0,
        "Sharpen (<1) or flatten (>1) the distribution.",
        gt=0,
        hint="for deterministic most-likely output use {greedy}",
    )
    top_k: int = option(0, "Sample among the K most likely tokens (0: off).", min=0)
    top_p: float = option(0.9, "Sample within the smallest set holding this probability (1: off).", gt=0, max=1)
    repetition_penalty: float = option(1.0, "> 1 discourages repeating words (1: off; 1.1-1.3 is typical).", gt=0)
    greedy: bool = option(False, "Always take the most likely token (deterministic).")
    exact_sampling: bool = option(
        False, "Adaptive softmax: apply top-k/top-p/temperature exactly (slower) instead of cluster-first."
    )

    def validate(self) -> SamplingSettings:
        """Raise :class:`UsageError` for values that cannot mean anything."""
        return options.validated(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
