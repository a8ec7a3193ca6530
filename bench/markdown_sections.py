"""Each benchmark owns one marked section of ``bench/BENCHMARKS.md`` and rewrites only that."""

from __future__ import annotations

from pathlib import Path

from textgen import io


def replace_section(md: Path, block: str, start: str, end: str) -> None:
    """Put ``block`` (which starts with ``start`` and ends with ``end``) in place of the old one, or append it."""
    text = md.read_text(encoding="utf-8") if md.exists() else "# Benchmarks\n"
    block = block.rstrip("\n")
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    io.write_text(md, text)
