"""Command-line interface: ``textgen <command>`` (also ``python -m textgen``)."""

from __future__ import annotations

import importlib

from textgen.cli.app import app

# Each module registers its commands on import; a stage not built yet is simply absent.
_COMMAND_MODULES = ("vocab", "embeddings", "train", "generate", "pipeline")
for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"textgen.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"textgen.cli.{_name}":
            raise


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
