"""textgen: turn a corpus of scripts into a text generator."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textgen.classify.artifact import Classifier
    from textgen.decode.generator import TextGenerator

__version__ = "0.1.0"


def load(run_dir: str | os.PathLike[str] | None = None, device: Any = "auto") -> TextGenerator:
    """The trained generator of ``run_dir``: ``textgen.load("runs/default").generate(prime="jerry")``.

    Imports torch on first use, so ``import textgen`` stays light.
    """
    from textgen.decode.generator import load as _load

    return _load(run_dir, device=device)


def load_classifier(run_dir: str | os.PathLike[str] | None = None, device: Any = "auto") -> Classifier:
    """The trained classifier of ``run_dir``: ``textgen.load_classifier("runs/names").predict(["Nakamura"])``.

    Imports torch on first use, like :func:`load`.
    """
    from textgen.classify.artifact import load_classifier as _load

    return _load(run_dir, device=device)
