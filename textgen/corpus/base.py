"""The loaded corpus (:class:`CorpusText`), text normalisation and the train/validation split."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def count_documents(text: str) -> int:
    """One more than the number of ``<|endoftext|>`` separator lines."""
    return 1 + sum(1 for line in text.splitlines() if line.strip() == EOS_TEXT)


def make_corpus(
    name: str, source: str, documents: Sequence[str], *, lowercase: bool = True, licence: str = "unknown"
) -> CorpusText:
    """Join documents (newlines normalised, blank edges trimmed) into a :class:`CorpusText`.

    A single document keeps its text exactly (after newline normalisation), so a plain file's
    sha256 is the file's own. Raises :class:`CorpusError` if nothing but whitespace is left.
    """
    docs = [normalise_newlines(d) for d in documents]
    if len(docs) == 1:
        text = docs[0]
    else:
        kept = [d.strip("\n") for d in docs if d.strip()]
        text = DOC_SEPARATOR.join(kept) + "\n" if kept else ""
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
