"""Generated tokens -> readable script, and the user's prime text -> tokens.

Rendering builds on :func:`textgen.text.detokenize`: punctuation tokens become punctuation with
natural spacing, one ``speaker: line`` per turn with a blank line between turns, stage directions
in parentheses, ``<laugh>`` as ``[laughter]``. On top of that it starts a new turn when a speaker
token turns up mid-line, drops a final ``<eos>``, and (for lower-cased corpora) restores capitals:
speaker names, the first word of each sentence and the pronoun ``I``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from textgen.errors import UsageError
from textgen.text import screenplay, symbols
from textgen.text.detokenize import detokenize
from textgen.text.tokenizer import ScriptTokenizer, TokenizerSettings
from textgen.vocab import Vocab

_SENTENCE_END = {".", "!", "?", "...", "!!", "??", "?!"}
_BREAKS = {symbols.RETURN, symbols.TURN}


@functools.lru_cache(maxsize=4)
def _tokenizer(settings: TokenizerSettings) -> ScriptTokenizer:
    return ScriptTokenizer(settings)


def prime_tokens(prime: str, vocab: Vocab) -> list[str]:
    """Tokens for ``prime``: a lone speaker name starts that speaker's turn (``jerry`` -> ``jerry:``)
    when the vocabulary has it, and so does a screenplay cue (``EDWARD (V.O.)`` -> ``edward: <vo>``);
    a scene heading (``INT. DINER - NIGHT``) starts a scene (``<scene>`` first) when the vocabulary
    has scenes; otherwise the text is tokenized like the corpus. Every token must be in the
    vocabulary (:class:`~textgen.errors.UnknownWordError` lists the closest entries)."""
    text = prime.strip()
    if not text:
        raise UsageError("--prime is empty; give one or more words to start from, e.g. --prime jerry")
    if text in (symbols.PAD, symbols.UNK):
        raise UsageError(f"--prime {text} is a special token, not text; prime with words of the corpus")
    lowered = text.lower() if vocab.tokenizer.lowercase else text
    if not lowered.endswith(":"):
        speaker = symbols.speaker_token(lowered)
        if speaker in vocab:
            return [speaker]
        cue = screenplay.cue_parts(lowered)
        if cue is not None and symbols.speaker_token(cue[0]) in vocab:
            text = " ".join([symbols.speaker_token(cue[0]), *screenplay.extension_tokens(cue[1])])
    if symbols.SCENE in vocab and screenplay.HEADING.match(text):
        text = f"{symbols.SCENE} {text}"
    tokens = _tokenizer(vocab.tokenizer).tokenize(text)
    if not tokens:
        raise UsageError(f"--prime {prime!r} has no tokens; give one or more words, e.g. --prime jerry")
    for token in tokens:
        vocab.require(token)
    return tokens


def script_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens cleaned for display: stop at ``<eos>``, no pad/unk, a speaker mid-line opens a new turn."""
    out: list[str] = []
    for token in tokens:
        if token == symbols.EOS:
            break
        if token in (symbols.PAD, symbols.UNK):
            continue
        if symbols.is_speaker(token) and out and out[-1] not in _BREAKS:
            out.append(symbols.TURN)
        out.append(token)
    return out


def proper_names(vocab: Vocab) -> frozenset[str]:
    """Words that are mostly names: a speaker token ``w:`` used at least half as often as the word ``w``."""
    names = set()
    for token, count in zip(vocab.itos, vocab.counts, strict=True):
        if symbols.is_speaker(token) and "_" not in token:
            word = token[:-1]
            word_count = vocab.counts[vocab.stoi[word]] if word in vocab.stoi else 0
            if count >= word_count / 2:
                names.add(word)
    return frozenset(names)


def truecase(tokens: Sequence[str], names: frozenset[str] = frozenset()) -> list[str]:
    """Capitalise speaker names, sentence starts, ``i`` and ``names`` (stage directions keep their case)."""
    caser = TrueCaser(names)
    return [caser.feed(token) for token in tokens]


class TrueCaser:
    """:func:`truecase` one token at a time (a token's case depends only on the tokens before it)."""

    def __init__(self, names: frozenset[str] = frozenset()) -> None:
        self.names = names
        self.start, self.saved, self.depth = True, True, 0

    def feed(self, token: str) -> str:
        text = symbols.punct_text(token)
        if token in _BREAKS:
            self.start, self.depth = True, 0
        elif symbols.is_speaker(token):
            token = "_".join(_cap(part) for part in token[:-1].split("_")) + ":"
            self.start = True
        elif text == "(":
            self.saved, self.depth = self.start, self.depth + 1
        elif text == ")":
            self.depth = max(0, self.depth - 1)
            self.start = self.saved if self.depth == 0 else self.start
        elif text is not None:
            if text in _SENTENCE_END and self.depth == 0:
                self.start = True
        elif token not in symbols.MARKER_TEXT and token not in (symbols.PAD, symbols.UNK):
            if token == "i" or token in self.names or (self.start and self.depth == 0):
                token = _cap(token)
            if any(c.isalnum() for c in token) and self.depth == 0:
                self.start = False
        return token


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:] if word[:1].isalpha() else word


def render(tokens: Sequence[str], restore_case: bool = True, names: frozenset[str] = frozenset()) -> str:
    """Readable script text for ``tokens`` (prime included); ``names`` are capitalised everywhere."""
    clean = script_tokens(tokens)
    return detokenize(truecase(clean, names) if restore_case else clean)
