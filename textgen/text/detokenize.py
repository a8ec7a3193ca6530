"""Tokens back to readable script text.

Normalization (what a round trip may change): spaces and tabs inside a line, spacing around
punctuation, runs of blank lines (one is kept), leading/trailing blank lines, case when the
tokenizer lowercases, and ``_`` inside speaker names of at most three words (written as spaces;
a longer name keeps its ``_``, so that it reads back as one speaker). Everything else,
characters, words, punctuation, line breaks, speakers, laughs and the screenplay markers
(``<scene>``, ``<action>``, ``<vo>``, ...: written as they are), comes back. A screenplay's own
normalisation, Fountain or indented text to script text, is :mod:`textgen.text.screenplay`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from textgen.text import symbols

_NO_SPACE_BEFORE = {".", ",", ";", "!", "?", ")", "]", "}", "...", ":", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}
_CLOSERS = {")", "]", '"', "!", "?", ","}
_OPENERS = {'"', "(", "["}
_ENDS = {".", "!", "?", ")", "]", '"', "..."}
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


@functools.lru_cache(maxsize=8)
def glued_pairs(lang: str = "en") -> frozenset[tuple[str, str]]:
    """Word pairs spaCy splits out of one written word (``dont`` -> ``do`` + ``nt``): write them joined."""
    import spacy

    nlp = spacy.blank(lang)
    pairs = set()
    for key, pieces in nlp.tokenizer.rules.items():
        orths = [piece[65] for piece in pieces]  # 65 is spaCy's ORTH attribute id
        if len(orths) == 2 and "".join(orths) == key:
            pairs.add((orths[0], orths[1]))
    return frozenset(pairs)


def detokenize(tokens: Iterable[str], lang: str = "en") -> str:
    """Readable text: one ``speaker: line`` per turn, blank lines between turns."""
    out: list[str] = []
    line: list[str] = []  # tokens of the current line
    glued = glued_pairs(lang)

    for token in tokens:
        if token in (symbols.RETURN, symbols.TURN, symbols.EOS):
            if line or token != symbols.EOS:
                out.append(_render_line(line, glued))
            line = []
            if token == symbols.TURN:
                out.append("")
            elif token == symbols.EOS:
                out.extend(["", symbols.EOS_TEXT, ""])
            continue
        line.append(token)
    if line:
        out.append(_render_line(line, glued))
    text = "\n".join(out).strip("\n")
    return text + "\n" if text else ""


def _render_line(tokens: list[str], glued: frozenset[tuple[str, str]]) -> str:
    texts = [surface(t) for t in tokens]
    parts: list[str] = []
    quote_open = False
    for i, text in enumerate(texts):
        # a speaker is always followed by a space, so it reads back as a speaker
        if i > 0 and (
            symbols.is_speaker(tokens[i - 1]) or not ((texts[i - 1], text) in glued or _joins(texts, i, quote_open))
        ):
            parts.append(" ")
        if text == '"':
            quote_open = not quote_open
        parts.append(text)
    return "".join(parts).rstrip()


def _safe_symbol_pair(prev: str, text: str) -> bool:
    """Adjacent symbols that spaCy always splits again."""
    if text in _CLOSERS:
        return prev in _ENDS  # not ";)" or ":)": spaCy keeps emoticons whole
    return prev in _OPENERS and text in _OPENERS


def _joins(texts: list[str], i: int, quote_open: bool) -> bool:
    """True if ``texts[i]`` attaches to ``texts[i - 1]`` without a space."""
    prev, text = texts[i - 1], texts[i]
    if text == "-" or prev == "-":  # hyphenated words are single tokens; a lone dash stands apart
        return False
    if not prev[-1:].isalnum() and symbols.is_symbolic(text) and not _safe_symbol_pair(prev, text):
        return False  # spaCy would read some joined pairs as one token ("..", ":)")
    if prev in _NO_SPACE_AFTER:
        return True
    if prev == '"' and quote_open:
        return True  # just after an opening quote
    if text == '"':
        return quote_open  # a closing quote hugs the word before it
    return text in _NO_SPACE_BEFORE or text in _CLITICS


def normal_form(text: str, lowercase: bool = True) -> str:
    """``text`` with everything a round trip may change taken out (see the module docstring).

    ``normal_form(detokenize(tokenize(t))) == normal_form(t)`` holds for script text whose
    speaker names contain no ``_``.
    """
    if lowercase:
        text = text.lower()
    lines: list[str] = []
    for raw in text.splitlines():
        line = "".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    # blank lines around an end-of-text line are ours, not the text's
    kept = [
        line
        for i, line in enumerate(lines)
        if line
        or not (
            (i > 0 and lines[i - 1] == symbols.EOS_TEXT) or (i + 1 < len(lines) and lines[i + 1] == symbols.EOS_TEXT)
        )
    ]
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)
