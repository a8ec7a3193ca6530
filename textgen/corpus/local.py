"""Local corpora: a file, a folder of ``.txt`` and ``.fountain`` files (recursive, sorted), or a glob pattern.

Each file is one document, read in its own layout (see :mod:`textgen.corpus.screenplay`). Bytes are
decoded strictly; a bad byte raises :class:`EncodingError`
with the file and its offset, and NUL bytes mark a file as binary.
"""

from __future__ import annotations

import codecs
import glob
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


def decode(data: bytes, path: Path | str, encoding: str = "utf-8") -> str:
    """Decode ``data`` strictly, raising :class:`EncodingError` that names the file and byte offset."""
    codec = check_encoding(encoding)
    if codec == "utf-8":
        nul = data.find(b"\x00")
        if nul >= 0:
            raise EncodingError(
                f"{path} looks binary (NUL byte at offset {nul}); pass a text file, or --encoding if it is UTF-16"
            )
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise EncodingError(
            f"{path} is not valid {encoding}: byte 0x{bad} at offset {exc.start}; "
            "pass --encoding (e.g. --encoding latin-1) if it uses another encoding"
        ) from None
    if "\x00" in text:
        raise EncodingError(f"{path} looks binary (NUL character after decoding as {encoding}); pass a text file")
    return text.removeprefix("\ufeff")


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Read and decode one file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path} ({exc.strerror}); check the path and its permissions") from exc
    return decode(data, path, encoding)


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
