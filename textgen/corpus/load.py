"""``load_corpus``: resolve a spec (registry name, ``hf:ID``, or path) to a :class:`CorpusText`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textgen.corpus import download, hf, local, seinfeld
from textgen.corpus.base import CorpusText, Progress, make_corpus
from textgen.corpus.registry import CorpusEntry, entries, suggest
from textgen.errors import CorpusError, UsageError

# converter name -> function producing the documents of a ``package`` entry
CONVERTERS: dict[str, Callable[[], list[str]]] = {"seinfeld_laugh": seinfeld.convert}


def load_corpus(
    spec: str,
    *,
    encoding: str = "utf-8",
    cache_dir: Path | None = None,
    offline_path: Path | None = None,
    progress: Progress | None = None,
    layout: str = "auto",
) -> CorpusText:
    """Load a corpus by registry name, ``hf:<dataset-id>``, or an existing file, folder or glob.

    ``offline_path`` gives a ``url`` corpus's file instead of downloading it (its checksum is
    still checked); ``progress(done_bytes, total_bytes_or_None)`` reports a download. Each
    document is read in ``layout`` (``auto``: its own, detected; see :mod:`textgen.corpus.screenplay`).
    """
    spec = str(spec)
    registry = entries()
    check_offline(spec, offline_path)
    if spec in registry:
        return load_entry(
            registry[spec],
            encoding=encoding,
            cache_dir=cache_dir,
            offline_path=offline_path,
            progress=progress,
            layout=layout,
        )
    if spec.startswith(hf.PREFIX):
        dataset_id = spec[len(hf.PREFIX) :]
        if not dataset_id:
            raise CorpusError("hf: needs a dataset id, e.g. --corpus hf:user/dataset or hf:/path/to/folder")
        docs = hf.load_documents(dataset_id, encoding=encoding, cache_dir=cache_dir)
        return make_corpus(spec, dataset_id, docs, lowercase=True, layout=layout)
    path = Path(spec).expanduser()
    if path.exists() or local.is_glob(spec):
        named = local.read_named_documents(spec, encoding)
        source = str(path.resolve()) if path.exists() else spec
        names = [n for n, _ in named]
        return make_corpus(spec, source, [t for _, t in named], lowercase=True, layout=layout, names=names)
    raise unknown_corpus(spec)


def check_offline(spec: str, offline_path: Path | None) -> None:
    """:class:`UsageError` unless ``offline_path`` is None or ``spec`` names a downloaded corpus."""
    registry = entries()
    if offline_path is not None and (spec not in registry or registry[spec].kind != "url"):
        urls = ", ".join(e.name for e in registry.values() if e.kind == "url")
        raise UsageError(
            f"an offline file only replaces a downloaded corpus ({urls}); pass {offline_path} as --corpus instead"
        )


def unknown_corpus(spec: str) -> CorpusError:
    """The error for a spec that is neither a registry name, ``hf:ID`` nor an existing path."""
    close = suggest(spec)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return CorpusError(
        f"unknown corpus {spec!r} and no such path; {hint}"
        "`textgen corpus list` shows the named corpora, and a path must exist"
    )


def check_pin(entry: CorpusEntry, sha256: str) -> None:
    """:class:`CorpusError` if a pinned (non-``url``) entry's text as read (before any screenplay
    conversion: ``source_sha256``) has another sha256."""
    if entry.kind != "url" and entry.sha256 and sha256 != entry.sha256:
        raise CorpusError(
            f"corpus {entry.name} has sha256 {sha256[:12]}..., not the pinned {entry.sha256[:12]}... "
            f"(was {entry.source} changed or upgraded?); restore it or load the files by path"
        )


def entry_file(
    entry: CorpusEntry, cache_dir: Path | None, offline_path: Path | None, progress: Progress | None
) -> Path:
    """The file a ``url`` entry reads: ``offline_path`` (checksum verified) or the downloaded copy."""
    if offline_path is not None:
        path = Path(offline_path).expanduser()
        if not path.is_file():
            raise CorpusError(f"{path} does not exist; pass the downloaded {entry.filename or 'file'}")
        download.verify_file(entry, path)
        return path
    return download.fetch(entry, cache_dir=cache_dir, progress=progress)


def load_entry(
    entry: CorpusEntry,
    *,
    encoding: str = "utf-8",
    cache_dir: Path | None = None,
    offline_path: Path | None = None,
    progress: Progress | None = None,
    layout: str = "auto",
) -> CorpusText:
    """Load one registry entry and check the pinned sha256 of its text (as read, before conversion)."""
    if entry.kind == "package":
        converter = CONVERTERS.get(entry.converter)
        if converter is None:
            raise CorpusError(f"corpus {entry.name} names unknown converter {entry.converter!r}; fix the registry")
        docs, source, names = converter(), f"pypi:{entry.source}", None
    elif entry.kind == "url":
        path = entry_file(entry, cache_dir, offline_path, progress)
        docs, source, names = [local.read_text(path, encoding)], download.url_for(entry), [entry.filename or path.name]
    else:
        assert entry.path is not None
        docs, source, names = [local.read_text(entry.path, encoding)], str(entry.path), [entry.path.name]
    corpus = make_corpus(
        entry.name, source, docs, lowercase=entry.lowercase, licence=entry.licence, layout=layout, names=names
    )
    check_pin(entry, corpus.source_sha256)
    return corpus
