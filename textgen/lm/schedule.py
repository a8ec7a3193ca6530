"""Learning-rate schedule: linear warm-up, then plateau decay, cosine decay or constant.

Decisions depend only on step counts and validation results, never on wall time, so a seeded run
(and a resumed one) follows the same learning rates.
"""

from __future__ import annotations

import math
from typing import Any

from textgen.lm.config import TrainConfig


class LRSchedule:
    """Computes the lr of each step; ``state_dict`` goes into the resume file."""

    def __init__(self, cfg: TrainConfig, total_steps: int | None) -> None:
        self.cfg = cfg
        self.total_steps = total_steps
        self.scale = 1.0  # plateau decay factor so far

    def lr(self, step: int) -> float:
        """Learning rate for optimizer step ``step`` (0-based)."""
        cfg = self.cfg
        lr = cfg.lr * self.scale
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return lr * (step + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine" and self.total_steps:
            span = max(1, self.total_steps - cfg.warmup_steps)
            frac = min(1.0, (step - cfg.warmup_steps) / span)
            return cfg.min_lr + (lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))
        return max(lr, cfg.min_lr)

    def on_validation(self, improved: bool) -> bool:
        """Plateau: decay when validation did not improve; returns True if the lr changed."""
        if self.cfg.schedule == "plateau" and not improved and self.cfg.lr * self.scale > self.cfg.min_lr:
            self.scale *= self.cfg.lr_decay
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state["scale"])
        self.total_steps = state.get("total_steps")
