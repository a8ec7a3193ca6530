"""Fetch a ``url`` corpus into the user cache, streamed to a temp file and checksum-verified.

The cache lives in ``$TEXTGEN_CACHE/corpora`` (default ``~/.cache/textgen/corpora``). A file is
renamed into the cache only after its sha256 matches the registry, so the cache never holds a
partial or wrong download. ``TEXTGEN_<NAME>_URL`` (e.g. ``TEXTGEN_SEINFELD_CLASSIC_URL``)
overrides an entry's URL.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from textgen import io
from textgen.corpus.base import Progress
from textgen.corpus.registry import CorpusEntry
from textgen.errors import DownloadError

CHUNK = 1 << 16
TIMEOUT_S = 30.0


def cache_root(cache_dir: Path | None = None) -> Path:
    """Where downloaded corpora are kept."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("TEXTGEN_CACHE")
    return Path(env).expanduser() / "corpora" if env else Path.home() / ".cache" / "textgen" / "corpora"


def url_for(entry: CorpusEntry) -> str:
    """The entry's URL, or the ``TEXTGEN_<NAME>_URL`` override."""
    var = "TEXTGEN_" + entry.name.upper().replace("-", "_").replace(".", "_") + "_URL"
    return os.environ.get(var) or entry.source


def cached_path(entry: CorpusEntry, cache_dir: Path | None = None) -> Path:
    """Where ``entry``'s file lives in the cache."""
    filename = entry.filename or url_for(entry).rstrip("/").rsplit("/", 1)[-1] or "corpus.txt"
    return cache_root(cache_dir) / entry.name / filename


def _offline_hint(entry: CorpusEntry) -> str:
    name = entry.filename or "corpus.txt"
    return f"pass --corpus /path/to/{name} for offline use"


def verify_file(entry: CorpusEntry, path: Path) -> None:
    """Raise :class:`DownloadError` unless ``path`` has the entry's pinned sha256."""
    digest = io.sha256_file(path)
    if entry.sha256 and digest != entry.sha256:
        raise DownloadError(
            f"{path} has sha256 {digest[:12]}..., not the {entry.name} corpus ({entry.sha256[:12]}...); "
            f"give the original file or {_offline_hint(entry).removeprefix('pass ')}"
        )


def fetch(entry: CorpusEntry, cache_dir: Path | None = None, progress: Progress | None = None) -> Path:
    """The cached file for ``entry``, downloading it first if missing or corrupt."""
    dest = cached_path(entry, cache_dir)
    if dest.is_file():
        if not entry.sha256 or io.sha256_file(dest) == entry.sha256:
            return dest
        dest.unlink()  # corrupt cache entry: fetch again
    url = url_for(entry)
    try:
        _download(entry, url, dest, progress)
    except BaseException:
        _remove_empty(dest.parent)
        raise
    return dest


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _download(entry: CorpusEntry, url: str, dest: Path, progress: Progress | None) -> None:
    """Stream ``url`` to a temp file beside ``dest``; rename it only if its sha256 matches."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, io.atomic_path(dest) as tmp:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest, done = hashlib.sha256(), 0
            with open(tmp, "wb") as fh:
                while block := response.read(CHUNK):
                    fh.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
            if entry.sha256 and digest.hexdigest() != entry.sha256:
                raise DownloadError(
                    f"download of {entry.name} from {url} has sha256 {digest.hexdigest()[:12]}..., "
                    f"expected {entry.sha256[:12]}... (nothing was cached); retry later or {_offline_hint(entry)}"
                )
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"downloading {entry.name} from {url} failed (HTTP {exc.code} {exc.reason}); {_offline_hint(entry)}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(
            f"downloading {entry.name} from {url} failed ({reason}); check your network or {_offline_hint(entry)}"
        ) from None
