"""The closed registry of named corpora, read from ``corpora/registry.toml`` beside the package.

Each entry says where the text comes from (``kind``: ``package``, ``url`` or ``file``), its
licence, a pinned sha256 of the loaded text, the tokenizer's lowercase default and the converter
that turns the source into ``speaker: line`` script text.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textgen import data
from textgen.errors import CorpusError

CORPORA_DIR = data.folder("corpora")
REGISTRY_PATH = CORPORA_DIR / "registry.toml"
KINDS = ("package", "url", "file")

_ENTRIES: dict[str, CorpusEntry] | None = None


@dataclass(frozen=True)
class CorpusEntry:
    """One named corpus (one row of ``textgen corpus list``)."""

    name: str
    description: str
    kind: str  # package | url | file
    source: str  # package name, URL, or path relative to corpora/
    licence: str
    sha256: str | None  # of the loaded text (for ``url``: of the downloaded file); None = unpinned
    lowercase: bool
    converter: str = "plain"
    filename: str | None = None  # cache file name for ``url`` entries
    default: bool = False

    @property
    def path(self) -> Path | None:
        """Absolute path of a ``file`` entry."""
        return CORPORA_DIR / self.source if self.kind == "file" else None


def _parse(name: str, raw: dict[str, object], default: str | None) -> CorpusEntry:
    try:
        entry = CorpusEntry(
            name=name,
            description=str(raw["description"]),
            kind=str(raw["kind"]),
            source=str(raw["source"]),
            licence=str(raw["licence"]),
            sha256=str(raw["sha256"]) if raw.get("sha256") else None,
            lowercase=bool(raw.get("lowercase", True)),
            converter=str(raw.get("converter", "plain")),
            filename=str(raw["filename"]) if raw.get("filename") else None,
            default=name == default,
        )
    except KeyError as exc:
        raise CorpusError(f"{REGISTRY_PATH}: corpus {name!r} lacks {exc.args[0]!r}; fix the registry entry") from exc
    if entry.kind not in KINDS:
        raise CorpusError(f"{REGISTRY_PATH}: corpus {name!r} has kind {entry.kind!r}; use one of {', '.join(KINDS)}")
    return entry


def entries() -> dict[str, CorpusEntry]:
    """All registry entries by name, in file order (read once, then cached)."""
    global _ENTRIES
    if _ENTRIES is None:
        try:
            data = tomllib.loads(REGISTRY_PATH.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CorpusError(f"cannot read corpus registry {REGISTRY_PATH} ({exc}); reinstall textgen") from exc
        default = data.get("default")
        _ENTRIES = {name: _parse(name, raw, default) for name, raw in data.get("corpora", {}).items()}
    return _ENTRIES


def list_corpora() -> list[CorpusEntry]:
    """Registry entries in file order (the default corpus first)."""
    return sorted(entries().values(), key=lambda e: not e.default)


def default_corpus() -> str:
    """Name of the default corpus."""
    for entry in entries().values():
        if entry.default:
            return entry.name
    raise CorpusError(f'{REGISTRY_PATH} names no default corpus; add `default = "NAME"` at its top')


def suggest(name: str, n: int = 3) -> list[str]:
    """Registry names closest to ``name``."""
    return difflib.get_close_matches(name, list(entries()), n=n, cutoff=0.5)
