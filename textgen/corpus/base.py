"""The loaded corpus (:class:`CorpusText`), text normalisation and the train/validation split."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from textgen.corpus.screenplay import DocumentLayout, check_format, convert_document, layout_card
from textgen.errors import CorpusError, UsageError
from textgen.io import sha256_bytes
from textgen.text.symbols import EOS_TEXT

DOC_SEPARATOR = f"\n\n{EOS_TEXT}\n\n"

# progress(done, total): bytes downloaded so far and the total size (None when unknown)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class CorpusText:
    """Plain script text of one corpus, with where it came from and its fingerprint."""

    name: str  # registry name, or the path / 'hf:ID' given
    source: str  # where it came from (path, URL, package, dataset id)
    text: str  # several documents joined by DOC_SEPARATOR
    sha256: str  # of text.encode('utf-8')
    lowercase: bool  # the corpus's default for tokenizer lowercasing
    licence: str
    documents: int
    layouts: tuple[DocumentLayout, ...] = field(default=(), repr=False)  # how each document was read
    source_sha256: str = ""  # of the documents as read, before screenplays were converted (registry pins)

    def layout_card(self) -> dict[str, Any]:
        """``corpus.json`` fields: documents per layout, each one's layout and reason, title pages."""
        return layout_card(self.layouts)


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def count_documents(text: str) -> int:
    """One more than the number of ``<|endoftext|>`` separator lines."""
    return 1 + sum(1 for line in text.splitlines() if line.strip() == EOS_TEXT)


def join_documents(documents: Sequence[str]) -> str:
    """One text: a single document as it is, several with blank edges trimmed, joined by ``<|endoftext|>`` lines."""
    if len(documents) == 1:
        return documents[0]
    kept = [d.strip("\n") for d in documents if d.strip()]
    return DOC_SEPARATOR.join(kept) + "\n" if kept else ""


def document_names(name: str, n: int) -> Iterator[str]:
    """Names of a corpus's ``n`` unnamed documents (rows, episodes): its own for one, ``NAME #i`` for several."""
    if n == 1:
        yield name
        return
    for i in range(n):
        yield f"{name} #{i + 1}"


def make_corpus(
    name: str,
    source: str,
    documents: Sequence[str],
    *,
    lowercase: bool = True,
    licence: str = "unknown",
    layout: str = "auto",
    names: Sequence[str] | None = None,
) -> CorpusText:
    """Read each document in its layout (:mod:`textgen.corpus.screenplay`) and join them into a :class:`CorpusText`.

    Newlines are normalised; a transcript is kept as it is, so a plain file's sha256 is the file's
    own. ``layout`` (``auto``, ``transcript``, ``fountain``, ``screenplay``) applies to every
    document; ``names`` (file names) help detection and name documents in errors and the card.
    Raises :class:`CorpusError` if nothing but whitespace is left.
    """
    check_format(layout)
    docs = [normalise_newlines(d) for d in documents]
    if names is None or len(names) != len(docs):
        names = list(document_names(name, len(docs)))
    converted = [convert_document(doc, doc_name, layout) for doc, doc_name in zip(docs, names, strict=True)]
    text = join_documents([c.text for c in converted])
    if not text.strip():
        raise CorpusError(f"corpus {name} is empty; give a file or folder with script text in it")
    return CorpusText(
        name=name,
        source=source,
        text=text,
        sha256=sha256_bytes(text.encode("utf-8")),
        lowercase=lowercase,
        licence=licence,
        documents=count_documents(text),
        layouts=tuple(c.info for c in converted),
        source_sha256=sha256_bytes(join_documents(docs).encode("utf-8")),
    )


def split_point(n_lines: int, val_fraction: float) -> int:
    """How many of ``n_lines`` lines are training: the last ``floor(N * val_fraction)`` are validation."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) or not 0 <= val_fraction < 1:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {val_fraction!r}")
    return n_lines - math.floor(n_lines * val_fraction)


def split_lines(text: str, val_fraction: float) -> tuple[list[str], list[str]]:
    """Split by ``str.splitlines()``: the last ``floor(N * val_fraction)`` lines are validation."""
    lines = text.splitlines()
    cut = split_point(len(lines), val_fraction)
    return lines[:cut], lines[cut:]
