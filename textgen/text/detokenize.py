"""Tokens back to readable script text.

Normalization (what a round trip may change): spaces and tabs inside a line, spacing around
punctuation, runs of blank lines (one is kept), leading/trailing blank lines, case when the
tokenizer lowercases, and ``_`` inside speaker names (written as spaces). Everything else,
characters, words, punctuation, line breaks, speakers, laughs, comes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from textgen.text import symbols

_NO_SPACE_BEFORE = {".", ",", ";", "!", "?", ")", "]", "}", "...", ":", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}
_CLITICS = ("'s", "'m", "'re", "'ve", "'ll", "'d", "n't", "'S", "'M", "'RE", "'VE", "'LL", "'D", "N'T")


def surface(token: str) -> str:
    """The text one token stands for (no spacing decisions)."""
    if token in symbols.MARKER_TEXT:
        return symbols.MARKER_TEXT[token]
    if token in (symbols.PAD, symbols.UNK):
        return token
    text = symbols.punct_text(token)
    if text is not None:
        return text
    if symbols.is_speaker(token):
        return symbols.speaker_name(token) + ":"
    return token


def detokenize(tokens: Iterable[str]) -> str:
    """Readable text: one ``speaker: line`` per turn, blank lines between turns."""
    out: list[str] = []
    line: list[str] = []
    quote_open = False
    prev = ""

    def flush() -> None:
        out.append("".join(line).rstrip())
        line.clear()

    for token in tokens:
        if token == symbols.RETURN:
            flush()
            prev, quote_open = "", False
            continue
        if token == symbols.TURN:
            flush()
            out.append("")
            prev, quote_open = "", False
            continue
        if token == symbols.EOS:
            if line:
                flush()
            out.extend(["", symbols.EOS_TEXT, ""])
            prev, quote_open = "", False
            continue
        text = surface(token)
        space = bool(line) and not _joins(prev, text, quote_open)
        if text == '"':
            quote_open = not quote_open
        if space:
            line.append(" ")
        line.append(text)
        prev = text
    if line:
        flush()
    return "\n".join(out).strip("\n") + "\n" if out else ""


def _joins(prev: str, text: str, quote_open: bool) -> bool:
    """True if ``text`` attaches to ``prev`` without a space."""
    if prev in _NO_SPACE_AFTER or prev == "-" or text == "-":
        return True
    if prev == '"' and quote_open:
        return True  # just after an opening quote
    if text == '"':
        return quote_open  # a closing quote hugs the word before it
    return text in _NO_SPACE_BEFORE or text in _CLITICS
