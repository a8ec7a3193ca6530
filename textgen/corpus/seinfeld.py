"""Convert the ``seinfeld_laugh_corpus`` package's 96 laugh-annotated episodes to script text.

Each ``Seinfeld.SxxEyy.Title.merged`` file (CRLF) holds ``# SPEAKER`` headers, subtitle blocks
(``start`` / text lines / ``end``) and laugh blocks (``start`` / ``**LOL**`` / ``end``). The output
has one ``speaker: text`` line per turn, blank lines between turns, episodes in (season, episode)
order joined by ``<|endoftext|>`` lines. Timestamps are dropped; a turn is one speaker section,
but a laugh ends it: the turn's line gets `` [laughter]`` (the tokenizer's ``<laugh>`` token) and
the speaker's following blocks start a new turn. Speakers are lower-cased; the text is kept as
it is (the corpus's lowercase default is True). The package's modules are never imported.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from textgen.errors import CorpusError
from textgen.text.symbols import LAUGH_TEXT

PACKAGE = "seinfeld_laugh_corpus"
LAUGH_MARK = "**LOL**"
_TIMESTAMP = re.compile(r"\d+(?:\.\d+)?")
_EPISODE = re.compile(r"S(\d+)E(\d+)", re.IGNORECASE)
_HEBREW = re.compile("[\u0590-\u05ff]")
_C1 = re.compile("[\u0080-\u009f]")


def data_dir(package: str = PACKAGE) -> Path:
    """The package's ``the_corpus`` folder, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(f"package {package} is not installed; reinstall textgen (it is a dependency)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "the_corpus"
    if not folder.is_dir():
        raise CorpusError(f"{folder} not found; reinstall {package}")
    return folder


def episode_files(folder: Path) -> list[Path]:
    """The ``.merged`` files in (season, episode) order."""

    def key(p: Path) -> tuple[int, int, str]:
        m = _EPISODE.search(p.name)
        return (int(m.group(1)), int(m.group(2)), p.name) if m else (10**6, 0, p.name)

    return sorted(folder.glob("*.merged"), key=key)


def _decode(data: bytes) -> str:
    """UTF-8, else cp1252; repair text once read as cp1255 (``[ג™×]`` is ``[♪]``) and stray C1 characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if _HEBREW.search(text):
        text = "\n".join(_fix_mojibake(line) for line in text.split("\n"))
    if _C1.search(text):
        text = _C1.sub(lambda m: bytes([ord(m.group())]).decode("cp1252", errors="replace"), text)
    return text


def _fix_mojibake(line: str) -> str:
    if not _HEBREW.search(line):
        return line
    try:
        raw = line.encode("cp1255")
    except UnicodeError:
        return line
    for codec in ("utf-8", "cp1252"):  # UTF-8 or cp1252 bytes that were read as cp1255
        try:
            return raw.decode(codec)
        except UnicodeError:
            continue
    return line


def _speaker(header: str) -> tuple[str, str]:
    """``'# KRAMER: 1937. '`` -> ``('kramer', '1937.')``."""
    name, _, rest = header.lstrip("#").partition(":")
    return " ".join(name.split()).lower() or "unknown", rest.strip()


def convert_episode(text: str) -> str:
    """One episode's ``.merged`` text -> ``speaker: text`` turns separated by blank lines."""
    turns: list[str] = []
    speaker: str | None = None
    parts: list[str] = []

    def flush(laugh: bool = False) -> None:
        if parts and speaker is not None:
            turns.append(f"{speaker}: {' '.join(parts)}" + (f" {LAUGH_TEXT}" if laugh else ""))
        elif laugh and turns and not turns[-1].endswith(LAUGH_TEXT):
            turns[-1] += f" {LAUGH_TEXT}"
        parts.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line or _TIMESTAMP.fullmatch(line):
            continue
        if line.startswith("#"):
            flush()
            speaker, rest = _speaker(line)
            if rest:
                parts.append(rest)
        elif line == LAUGH_MARK:
            flush(laugh=True)
        elif speaker is not None:
            parts.append(line)
    flush()
    return "\n\n".join(turns) + "\n"


def convert(folder: Path | None = None) -> list[str]:
    """Every episode converted, in (season, episode) order."""
    files = episode_files(folder or data_dir())
    if not files:
        raise CorpusError(f"no .merged episode files in {folder or data_dir()}; reinstall {PACKAGE}")
    return [convert_episode(_decode(p.read_bytes())) for p in files]
