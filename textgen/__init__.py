"""textgen: turn a corpus of scripts into a text generator."""

from __future__ import annotations

__version__ = "0.1.0"
