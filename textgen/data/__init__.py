"""Package data: the corpus registry and fixture (``corpora/``) and the shipped pipelines (``pipelines/``).

The project keeps both folders at its top level; ``pyproject.toml`` maps them into this package
(``textgen/data/corpora``, ``textgen/data/pipelines``) when a wheel is built. An editable install
or a source checkout reads them where they are.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def folder(name: str) -> Path:
    """The folder of package data ``name`` (``corpora`` or ``pipelines``)."""
    inside = _HERE / name
    if inside.is_dir():  # installed from a wheel
        return inside
    return _HERE.parents[1] / name  # a source checkout
