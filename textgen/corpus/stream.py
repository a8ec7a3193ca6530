"""Streamed corpora: the text :func:`~textgen.corpus.load_corpus` returns, read in pieces, never whole.

A :class:`CorpusStream` is a re-readable sequence of :class:`Document` s (each one file, dataset row
or converted episode, read as decoded pieces of about a megabyte), each in its layout
(``read_as_script``: a transcript streams as it is, a screenplay is converted whole). ``pieces()``
joins them exactly as :func:`~textgen.corpus.base.make_corpus` does (newlines normalised, a single document kept as it
is, several stripped of blank edges and joined by ``<|endoftext|>`` lines), and ``line_blocks()``
cuts that text into lines as ``str.splitlines()`` would. So a big corpus costs one piece of memory,
and a pass over it gives the very lines a whole-text load gives. ``scan()`` is the first pass: line
count (the split is defined on it), sha256, bytes and document count.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen.corpus import download, hf, local
from textgen.corpus.base import DOC_SEPARATOR, Progress, document_names
from textgen.corpus.load import CONVERTERS, check_offline, check_pin, entry_file, unknown_corpus
from textgen.corpus.registry import entries
from textgen.corpus.screenplay import (
    DETECT_CHARS,
    TRANSCRIPT,
    DocumentLayout,
    LayoutTally,
    check_format,
    choose_layout,
    convert_as,
)
from textgen.errors import CorpusError
from textgen.text.symbols import EOS_TEXT

# the characters str.splitlines() breaks at ("\r\n" counts once)
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

# scan progress: (bytes read so far, the corpus's size on disk or None)
ScanProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Document:
    """One document of a corpus: ``read()`` yields its decoded text in order, each call from the start.

    A per-document converter (another input format to script text) wraps one with :meth:`converted`.
    """

    name: str  # the file, or a label such as 'hf:ID[3]'
    read: Callable[[], Iterator[str]]
    size: int | None = None  # bytes on disk, for progress

    @classmethod
    def of_text(cls, name: str, text: str, size: int | None = None) -> Document:
        return cls(name, lambda: iter((text,)), len(text) if size is None else size)

    @classmethod
    def of_file(cls, path: Path, encoding: str = "utf-8", name: str | None = None) -> Document:
        size = path.stat().st_size if path.is_file() else None
        return cls(name or str(path), lambda: local.iter_text(path, encoding), size)

    def text(self) -> str:
        """The whole document (for converters that need it; corpus passes use :meth:`read`)."""
        return "".join(self.read())

    def lines(self) -> Iterator[str]:
        """Its lines (newlines normalised, ``str.splitlines`` rules), one at a time."""
        for block in line_blocks(normalised(self.read())):
            yield from block

    def head(self, chars: int) -> str:
        """The first ``chars`` characters of its text (newlines normalised), reading no further."""
        got: list[str] = []
        n = 0
        for piece in normalised(self.read()):
            got.append(piece)
            n += len(piece)
            if n >= chars:
                break
        return "".join(got)[:chars]


def read_as_script(doc: Document, layout: str) -> tuple[Document, DocumentLayout]:
    """``doc`` as the script text the tokenizer reads, and how it was read (``make_corpus``'s rules).

    A transcript streams as it is; only a screenplay (short by nature) is read whole to convert it.
    """
    chosen, reason = choose_layout(doc.head(DETECT_CHARS) if layout == "auto" else "", doc.name, layout)
    if chosen == TRANSCRIPT:
        return doc, DocumentLayout(doc.name, TRANSCRIPT, reason)
    converted = convert_as("".join(normalised(doc.read())), doc.name, chosen, reason)
    if converted.info.layout == TRANSCRIPT:  # no cues: read as plain text after all
        return doc, converted.info
    return Document.of_text(doc.name, converted.text, doc.size), converted.info


@dataclass(frozen=True)
class CorpusScan:
    """What the first pass over a corpus learns (the split and ``corpus.json`` need it)."""

    lines: int
    bytes: int  # UTF-8 bytes of the joined text
    sha256: str  # of the joined text, as CorpusText.sha256
    documents: int  # 1 + the <|endoftext|> lines, as CorpusText.documents
    last_text_line: int  # index of the last non-blank line (-1: none)
    source_sha256: str = ""  # of the documents as read, before screenplays were converted
    layouts: dict[str, Any] = field(default_factory=dict)  # the corpus.json layout fields (LayoutTally.card)


@dataclass(frozen=True)
class CorpusStream:
    """A corpus to read in passes; the same fields as :class:`~textgen.corpus.base.CorpusText` but the text."""

    name: str
    source: str
    lowercase: bool
    licence: str
    documents: Callable[[], Iterator[Document]]  # as read (before screenplays are converted)
    pin: Callable[[str], None] | None = None  # raises unless the documents' sha256 is the pinned one
    size: int | None = None  # bytes on disk (progress of the first pass); None: unknown
    layout: str = "auto"  # --format: each document's layout (auto: detected)

    def script_documents(self, tally: LayoutTally | None = None) -> Iterator[Document]:
        """The documents as script text (screenplays converted), each one's layout added to ``tally``."""
        for doc in self.documents():
            script, info = read_as_script(doc, self.layout)
            if tally is not None:
                tally.add(info)
            yield script

    def pieces(self, tally: LayoutTally | None = None) -> Iterator[str]:
        """The corpus text (documents joined as ``make_corpus`` joins them) in pieces."""
        return joined(self.script_documents(tally))

    def line_blocks(self) -> Iterator[list[str]]:
        """The corpus's lines (``str.splitlines`` of the whole text), a block at a time."""
        return line_blocks(self.pieces())

    def scan(self, progress: ScanProgress | None = None) -> CorpusScan:
        """Read the corpus once: lines, bytes, sha256, documents; :class:`CorpusError` if it is empty or altered."""
        sha = hashlib.sha256()
        n_bytes = lines = eos_lines = 0
        last_text = -1
        has_text = False
        splitter = LineSplitter()
        tally = LayoutTally()

        def count(block: list[str]) -> None:
            nonlocal lines, eos_lines, last_text
            eos_lines += sum(1 for line in block if EOS_TEXT in line and line.strip() == EOS_TEXT)
            for i in range(len(block) - 1, -1, -1):
                if block[i].strip():
                    last_text = lines + i
                    break
            lines += len(block)

        for piece in self.pieces(tally):
            data = piece.encode("utf-8")
            sha.update(data)
            n_bytes += len(data)
            has_text = has_text or (bool(piece) and not piece.isspace())
            count(splitter.feed(piece))
            if progress is not None:
                progress(n_bytes, self.size)
        count(splitter.close())
        if not has_text:
            raise CorpusError(f"corpus {self.name} is empty; give a file or folder with script text in it")
        digest = sha.hexdigest()
        source = digest if not tally.converted else _sha256(joined(self.documents()))
        if self.pin is not None:
            self.pin(source)
        return CorpusScan(lines, n_bytes, digest, 1 + eos_lines, last_text, source, tally.card())


def _sha256(pieces: Iterable[str]) -> str:
    sha = hashlib.sha256()
    for piece in pieces:
        sha.update(piece.encode("utf-8"))
    return sha.hexdigest()


def normalised(pieces: Iterable[str]) -> Iterator[str]:
    """CRLF and lone CR become LF, also where a CRLF straddles two pieces."""
    carry = ""
    for piece in pieces:
        piece, carry = carry + piece, ""
        if piece.endswith("\r"):
            piece, carry = piece[:-1], "\r"
        if piece:
            yield piece.replace("\r\n", "\n").replace("\r", "\n")
    if carry:
        yield "\n"


def _stripped(pieces: Iterable[str]) -> Iterator[str]:
    """A document without its leading and trailing ``\\n`` (``d.strip("\\n")``); nothing if it is all whitespace."""
    head = ""  # whitespace before the first text, held until text shows
    held = ""  # trailing newlines, emitted only if more text follows
    started = False
    for piece in pieces:
        if not started:
            if piece.isspace() or not piece:
                head += piece
                continue
            started, piece = True, (head + piece).lstrip("\n")
        body = piece.rstrip("\n")
        if body:
            yield held + body
            held = piece[len(body) :]
        else:
            held += piece


def joined(documents: Iterable[Document]) -> Iterator[str]:
    """The corpus text of ``documents`` in pieces, exactly ``make_corpus(...).text``."""
    docs = iter(documents)
    head = list(itertools.islice(docs, 2))
    if len(head) == 1:  # one document is kept as it is
        yield from normalised(head[0].read())
        return
    kept = 0
    for doc in itertools.chain(head, docs):
        first = True
        for piece in _stripped(normalised(doc.read())):
            if first:
                if kept:
                    yield DOC_SEPARATOR
                kept, first = kept + 1, False
            yield piece
    if kept:
        yield "\n"


class LineSplitter:
    """``str.splitlines()`` over text that arrives in pieces: ``feed`` returns the lines each piece completes."""

    def __init__(self) -> None:
        self._carry = ""  # the unfinished last line

    def feed(self, piece: str) -> list[str]:
        text = self._carry + piece
        if not text:
            return []
        end = text[-1]
        if end in LINE_BREAKS and end != "\r":  # a lone CR may still be a CRLF
            self._carry = ""
            return text.splitlines()
        last = text.splitlines(keepends=True)[-1]
        self._carry = last
        return text[: len(text) - len(last)].splitlines()

    def close(self) -> list[str]:
        carry, self._carry = self._carry, ""
        return carry.splitlines()


def line_blocks(pieces: Iterable[str]) -> Iterator[list[str]]:
    """The lines of the text ``pieces`` make, one block per piece (blocks may be empty)."""
    splitter = LineSplitter()
    for piece in pieces:
        yield splitter.feed(piece)
    yield splitter.close()


def open_corpus(
    spec: str,
    *,
    encoding: str = "utf-8",
    cache_dir: Path | None = None,
    offline_path: Path | None = None,
    progress: Progress | None = None,
    layout: str = "auto",
) -> CorpusStream:
    """The streamed twin of :func:`~textgen.corpus.load_corpus`: same specs, same errors, same text."""
    spec = str(spec)
    check_offline(spec, offline_path)
    check_format(layout)
    local.check_encoding(encoding)
    registry = entries()
    if spec in registry:
        entry = registry[spec]
        if entry.kind == "package":
            converter = CONVERTERS.get(entry.converter)
            if converter is None:
                raise CorpusError(f"corpus {entry.name} names unknown converter {entry.converter!r}; fix the registry")
            texts = converter()
            docs = [Document.of_text(n, t) for n, t in zip(document_names(entry.name, len(texts)), texts, strict=True)]
            source = f"pypi:{entry.source}"
        elif entry.kind == "url":
            path = entry_file(entry, cache_dir, offline_path, progress)
            docs = [Document.of_file(path, encoding, entry.filename or path.name)]
            source = download.url_for(entry)
        else:
            assert entry.path is not None
            docs = [Document.of_file(entry.path, encoding, entry.path.name)]
            source = str(entry.path)
        return CorpusStream(
            entry.name,
            source,
            entry.lowercase,
            entry.licence,
            lambda: iter(docs),
            lambda sha: check_pin(entry, sha),
            _size(docs),
            layout,
        )
    if spec.startswith(hf.PREFIX):
        dataset_id = spec[len(hf.PREFIX) :]
        if not dataset_id:
            raise CorpusError("hf: needs a dataset id, e.g. --corpus hf:user/dataset or hf:/path/to/folder")
        data = hf.open_dataset(dataset_id, encoding=encoding, cache_dir=cache_dir)

        def rows() -> Iterator[Document]:
            for name, text in zip(document_names(spec, len(data)), hf.iter_documents(data), strict=True):
                yield Document.of_text(name, text)

        return CorpusStream(spec, dataset_id, True, "unknown", rows, layout=layout)
    path = Path(spec).expanduser()
    if path.exists() or local.is_glob(spec):
        files = [Document.of_file(p, encoding, local.document_name(p, spec)) for p in local.resolve_files(spec)]
        where = str(path.resolve()) if path.exists() else spec
        return CorpusStream(spec, where, True, "unknown", lambda: iter(files), size=_size(files), layout=layout)
    raise unknown_corpus(spec)


def _size(docs: list[Document]) -> int | None:
    sizes = [d.size for d in docs]
    return None if None in sizes else sum(s for s in sizes if s is not None)
