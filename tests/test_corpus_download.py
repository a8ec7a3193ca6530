"""Downloaded corpora against a tiny HTTP server on 127.0.0.1: cache, checksum, errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from textgen.corpus import download, load_corpus, registry
from textgen.errors import CorpusError, DownloadError, UsageError

BODY = ("jerry: what's the deal with downloads?\n\ngeorge: i don't know. [laughter]\n" * 200).encode()
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "seinfeld_scripts.txt"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "Seinfeld_Scripts.txt").write_bytes(BODY)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., None]:
    """Pin the seinfeld-classic entry to a sha256 and point its URL at the test server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("TEXTGEN_CACHE", str(tmp_path / "home-cache"))

    def apply(url: str, sha256: str = hashlib.sha256(BODY).hexdigest()) -> None:
        entry = registry.entries()["seinfeld-classic"]
        monkeypatch.setitem(registry.entries(), "seinfeld-classic", replace(entry, sha256=sha256))
        monkeypatch.setenv("TEXTGEN_SEINFELD_CLASSIC_URL", url)

    return apply


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_download_caches_verified_file_with_progress(server: str, pin, tmp_path: Path) -> None:
    pin(f"{server}/Seinfeld_Scripts.txt")
    calls: list[tuple[int, int | None]] = []
    cache = tmp_path / "cache"
    c = load_corpus("seinfeld-classic", cache_dir=cache, progress=lambda done, total: calls.append((done, total)))
    assert c.text == BODY.decode() and c.sha256 == hashlib.sha256(BODY).hexdigest()
    assert c.source == f"{server}/Seinfeld_Scripts.txt" and c.lowercase
    assert _files(cache) == [cache / "seinfeld-classic" / "Seinfeld_Scripts.txt"]
    assert calls[-1] == (len(BODY), len(BODY)) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    # a second load uses the cache: the server is not asked again
    pin(f"{server}/gone.txt")
    assert load_corpus("seinfeld-classic", cache_dir=cache).text == c.text


def test_default_cache_dir_follows_env(server: str, pin, tmp_path: Path) -> None:
    pin(f"{server}/Seinfeld_Scripts.txt")
    load_corpus("seinfeld-classic")
    assert (tmp_path / "home-cache" / "corpora" / "seinfeld-classic" / "Seinfeld_Scripts.txt").is_file()


def test_checksum_mismatch_leaves_nothing_cached(server: str, pin, tmp_path: Path) -> None:
    pin(f"{server}/Seinfeld_Scripts.txt", sha256="f" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="nothing was cached.*--corpus /path/to/Seinfeld_Scripts.txt") as err:
        load_corpus("seinfeld-classic", cache_dir=cache)
    assert "\n" not in str(err.value)
    assert _files(cache) == []


def test_corrupt_cache_is_downloaded_again(server: str, pin, tmp_path: Path) -> None:
    pin(f"{server}/Seinfeld_Scripts.txt")
    cached = tmp_path / "cache" / "seinfeld-classic" / "Seinfeld_Scripts.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("truncated")
    assert load_corpus("seinfeld-classic", cache_dir=tmp_path / "cache").text == BODY.decode()
    assert cached.read_bytes() == BODY


def test_http_404(server: str, pin, tmp_path: Path) -> None:
    pin(f"{server}/missing.txt")
    with pytest.raises(DownloadError, match=r"HTTP 404.*--corpus /path/to/Seinfeld_Scripts.txt for offline use"):
        load_corpus("seinfeld-classic", cache_dir=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []


def test_connection_refused(pin, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pin(f"http://127.0.0.1:{port}/Seinfeld_Scripts.txt")
    with pytest.raises(DownloadError, match="check your network or pass --corpus"):
        load_corpus("seinfeld-classic", cache_dir=tmp_path / "cache")


def test_offline_path_is_checked(pin, tmp_path: Path) -> None:
    pin("http://127.0.0.1:9/unused")
    good = tmp_path / "good.txt"
    good.write_bytes(BODY)
    c = load_corpus("seinfeld-classic", offline_path=good, cache_dir=tmp_path / "cache")
    assert c.text == BODY.decode() and _files(tmp_path / "cache") == []
    bad = tmp_path / "bad.txt"
    bad.write_bytes(BODY + b"x")
    with pytest.raises(DownloadError, match="not the seinfeld-classic corpus"):
        load_corpus("seinfeld-classic", offline_path=bad)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus("seinfeld-classic", offline_path=tmp_path / "nope.txt")
    with pytest.raises(UsageError, match="only replaces a downloaded corpus"):
        load_corpus("fixture", offline_path=good)


def test_url_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = registry.entries()["seinfeld-classic"]
    monkeypatch.delenv("TEXTGEN_SEINFELD_CLASSIC_URL", raising=False)
    assert download.url_for(entry) == entry.source
    monkeypatch.setenv("TEXTGEN_SEINFELD_CLASSIC_URL", "http://127.0.0.1:1/x.txt")
    assert download.url_for(entry) == "http://127.0.0.1:1/x.txt"
    assert download.cached_path(entry, Path("/c")) == Path("/c/seinfeld-classic/Seinfeld_Scripts.txt")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_file(), reason="shared Seinfeld corpus absent")
def test_shared_classic_file_matches_registry(tmp_path: Path) -> None:
    c = load_corpus("seinfeld-classic", offline_path=SHARED, cache_dir=tmp_path)
    assert c.sha256 == registry.entries()["seinfeld-classic"].sha256
    assert len(c.text.splitlines()) == 109232 and len(c.text.encode("utf-8")) == 3471475
