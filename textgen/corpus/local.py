"""Local corpora: a file, a folder of ``.txt`` and ``.fountain`` files (recursive, sorted), or a glob pattern.

Each file is one document, read in its own layout (see :mod:`textgen.corpus.screenplay`). Bytes are
decoded strictly; a bad byte raises :class:`EncodingError`
with the file and its offset, and NUL bytes mark a file as binary.
"""

from __future__ import annotations

import codecs
import glob
from collections.abc import Iterator
from pathlib import Path

from textgen.errors import CorpusError, EncodingError, UsageError

GLOB_CHARS = "*?["
SUFFIXES = (".txt", ".fountain")  # what a folder corpus reads


def is_glob(spec: str) -> bool:
    """True if ``spec`` contains glob wildcards."""
    return any(c in spec for c in GLOB_CHARS)


def _txt_files(folder: Path) -> list[Path]:
    files = (p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def resolve_files(spec: str) -> list[Path]:
    """The files a path or glob names, in reading order; :class:`CorpusError` if there are none."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = _txt_files(path)
        if not files:
            raise CorpusError(
                f"folder {spec} has no .txt or .fountain files; put the scripts in such files or pass a file"
            )
        return files
    if is_glob(spec):
        files = []
        for match in sorted(glob.glob(str(path), recursive=True)):
            m = Path(match)
            files.extend([m] if m.is_file() else _txt_files(m) if m.is_dir() else [])
        if not files:
            raise CorpusError(f"pattern {spec} matches no files; check the pattern or pass a folder of .txt files")
        return files
    raise CorpusError(f"corpus path {spec} does not exist; check the path")


def check_encoding(encoding: str) -> str:
    """The canonical codec name, or :class:`UsageError` for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UsageError(f"unknown --encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1") from None


BLOCK = 1 << 20  # bytes read at a time


class _Decoder:
    """Strict incremental decoding with the errors of a whole-file decode (same offsets, same precedence).

    For UTF-8 a NUL byte anywhere means binary, even after an invalid byte; for other codecs an
    invalid byte wins over a NUL character. So the error that a whole-file decode would raise first
    is raised, and a stream and a whole read of one file never disagree.
    """

    def __init__(self, path: Path | str, encoding: str) -> None:
        self.path, self.encoding = path, encoding
        self.codec = check_encoding(encoding)
        self.utf8 = self.codec == "utf-8"
        self._dec = codecs.getincrementaldecoder(self.codec)("strict")
        self._fed = 0  # bytes given to the decoder so far (after a UTF-8 BOM)
        self._started = False
        self._bom_done = False
        self._deferred: EncodingError | None = None  # an error that a later NUL may still overrule (UTF-8)
        self._nul_char = False  # a decoded NUL (other codecs): raised at the end unless a bad byte comes first

    def feed(self, data: bytes, offset: int, final: bool = False) -> str:
        """Text of the next ``data`` (starting at byte ``offset`` of the file)."""
        if self.utf8:
            nul = data.find(b"\x00")
            if nul >= 0:
                raise EncodingError(
                    f"{self.path} looks binary (NUL byte at offset {offset + nul}); "
                    "pass a text file, or --encoding if it is UTF-16"
                )
            if not self._started:
                self._started = True
                if data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
        if self._deferred is not None:  # only looking for a NUL byte now
            if final:
                raise self._deferred
            return ""
        buffered = len(self._dec.getstate()[0])
        try:
            text = self._dec.decode(data, final)
        except UnicodeDecodeError as exc:
            at = self._fed - buffered + exc.start
            bad = exc.object[exc.start : exc.start + 1].hex()
            error = EncodingError(
                f"{self.path} is not valid {self.encoding}: byte 0x{bad} at offset {at}; "
                "pass --encoding (e.g. --encoding latin-1) if it uses another encoding"
            )
            if not self.utf8 or final:
                raise error from None
            self._deferred = error
            return ""
        finally:
            self._fed += len(data)
        if "\x00" in text:
            self._nul_char = True
        if final and self._nul_char:
            raise EncodingError(
                f"{self.path} looks binary (NUL character after decoding as {self.encoding}); pass a text file"
            )
        if text and not self._bom_done:
            self._bom_done = True
            text = text.removeprefix("\ufeff")
        return text


def decode(data: bytes, path: Path | str, encoding: str = "utf-8") -> str:
    """Decode ``data`` strictly, raising :class:`EncodingError` that names the file and byte offset."""
    return _Decoder(path, encoding).feed(data, 0, final=True)


def iter_text(path: Path, encoding: str = "utf-8", block: int | None = None) -> Iterator[str]:
    """The decoded text of one file in pieces of about ``block`` bytes (:data:`BLOCK`; strict, as :func:`decode`)."""
    block = block or BLOCK
    decoder = _Decoder(path, encoding)
    try:
        with open(path, "rb") as fh:
            offset = 0
            data = fh.read(max(block, len(codecs.BOM_UTF8)))
            while True:
                nxt = fh.read(block) if data else b""
                text = decoder.feed(data, offset, final=not nxt)
                if text:
                    yield text
                if not nxt:
                    return
                offset += len(data)
                data = nxt
    except OSError as exc:
        raise CorpusError(f"cannot read {path} ({exc.strerror}); check the path and its permissions") from exc


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Read and decode one file."""
    return "".join(iter_text(path, encoding))


def read_documents(spec: str, encoding: str = "utf-8") -> list[str]:
    """One decoded document per file that ``spec`` names."""
    return [text for _, text in read_named_documents(spec, encoding)]


def document_name(path: Path, spec: str) -> str:
    """How a file is named in summaries and errors: relative to a folder corpus, else its file name."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return path.relative_to(folder).as_posix()
    return path.name


def read_named_documents(spec: str, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """``(name, decoded text)`` for each file that ``spec`` names (the name keeps the suffix: ``.fountain``)."""
    check_encoding(encoding)
    return [(document_name(p, spec), read_text(p, encoding)) for p in resolve_files(spec)]
