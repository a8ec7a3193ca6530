"""The script tokenizer: spaCy's rule-based tokenizer (``spacy.blank``) plus script rules.

Rules, in order, per line (lines as ``str.splitlines`` counts them):

* a blank line ends a turn (``||turn||``); a line break inside a turn is ``||return||``;
* a line that is exactly ``<|endoftext|>`` is the end-of-text token ``<eos>`` (documents are
  joined with it) and adds no break around itself;
* ``speaker:`` at the start of a line (a name of at most three words) is one speaker token
  ``speaker:``, distinct from the word ``speaker``;
* ``[laughter]`` is the laugh token ``<laugh>``; the screenplay markers (``<scene>``, ``<action>``,
  ``<vo>``, ... in :mod:`textgen.text.symbols`) are written as their own token;
* the rest goes through spaCy; whitespace tokens are dropped, tokens made only of symbols become
  named tokens (``||comma||``), everything else is a word. No token contains whitespace.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from textgen.text import symbols
from textgen.text.special_cases import NONE, CrossSpaceCases

_SPEAKER = re.compile(r"^\s*([^\W\d_][\w.'&\-]*(?: [\w.'&\-]+){0,2})\s*:(?=\s|$)")
_PIPES = re.compile(r"(\|+)")
_MARKER = re.compile("(" + "|".join(re.escape(m) for m in symbols.MARKERS) + ")")


def is_speaker_name(name: str) -> bool:
    """True if ``name: ...`` at the start of a line reads as the speaker ``name`` (at most three words)."""
    match = _SPEAKER.match(f"{name}: x")
    return match is not None and match.group(1) == name


@dataclass(frozen=True)
class PlanState:
    """Where the line rules stand between two lines: a chunk of a split starts in the state its predecessor left.

    ``seen_content``: a non-blank line since the start or the last ``<|endoftext|>`` line (so the
    next line needs a break token); ``blank_pending``: a blank line followed it (the break is a turn).
    """

    seen_content: bool = False
    blank_pending: bool = False


@dataclass(frozen=True)
class TokenizerSettings:
    """Everything that changes how text becomes tokens (saved in ``vocab.json``)."""

    lang: str = "en"
    lowercase: bool = True
    speakers: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerSettings:
        return cls(**{k: data[k] for k in ("lang", "lowercase", "speakers") if k in data})


def _load_blank(lang: str) -> Any:
    import spacy

    from textgen.errors import UsageError

    try:
        nlp = spacy.blank(lang)
    except (ImportError, KeyError, ValueError) as exc:
        raise UsageError(f"spaCy has no language {lang!r}; pass a language code such as 'en' or 'de'") from exc
    _keep_hyphenated_words(nlp)
    return nlp


def _keep_hyphenated_words(nlp: Any) -> None:
    """Drop spaCy's letter-hyphen-letter infix rule: ``co-op`` and ``e-mail`` stay one word.

    A free-standing ``-`` is still the ``||dash||`` token; without this rule the detokenizer
    could not tell ``co - op`` from ``co-op``.
    """
    from spacy.lang.char_classes import HYPHENS
    from spacy.util import compile_infix_regex

    dashes = "|".join(h for h in HYPHENS.split("|") if h != "-")  # still split "--", "—", "~"
    rules = list(nlp.Defaults.infixes or [])
    infixes = [rule.replace(f"(?:{HYPHENS})", f"(?:{dashes})") for rule in rules]
    if infixes != rules:
        nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


_WORD_CACHE = 1 << 20  # distinct words remembered per tokenizer


class ScriptTokenizer:
    """Turns script text into tokens. Create one per process (it holds a spaCy pipeline)."""

    def __init__(self, settings: TokenizerSettings | None = None) -> None:
        self.settings = settings or TokenizerSettings()
        self._nlp = _load_blank(self.settings.lang)
        # spaCy splits at whitespace first and reads each word alone, so a word's tokens can be cached;
        # a language whose special cases span a space would break that, and keeps spaCy's own batching
        self._by_word = not any(
            any(c.isspace() for c in key) and not key.isspace() for key in self._nlp.tokenizer.rules or {}
        )
        # a word's tokens, and the special-case pieces it ends and starts with (see CrossSpaceCases)
        self._words: dict[str, tuple[tuple[str, ...], frozenset[int], frozenset[int]]] = {}
        self._cross = CrossSpaceCases(self._nlp)

    def tokenize(self, text: str) -> list[str]:
        """Tokens of one text (see the module docstring for the rules)."""
        return self.tokenize_lines(text.splitlines())

    def tokenize_lines(self, lines: Iterable[str], batch_size: int = 1000, state: PlanState = PlanState()) -> list[str]:
        """Tokens of consecutive lines (after lines that left ``state``); spaCy runs batched over all of them."""
        plan, segments = self.plan(lines, state)
        return assemble(plan, self.segment_tokens(segments, batch_size))

    def plan(self, lines: Iterable[str], state: PlanState = PlanState()) -> tuple[list[str | int], list[str]]:
        """Apply the line rules: tokens, and indexes into the returned text segments for spaCy."""
        plan: list[str | int] = []
        segments: list[str] = []
        for item in self._plan(lines, state):
            if isinstance(item, tuple):
                plan.append(len(segments))
                segments.append(item[0])
            else:
                plan.append(item)
        return plan, segments

    def segment_tokens(self, segments: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
        """Our tokens for each text segment: word by word through a cache of spaCy's answers.

        The same tokens as spaCy on the whole segment (:meth:`spacy_segment_tokens`; tested on random
        text and the Seinfeld corpus). New words cost what spaCy costs (its affix rules, once per distinct
        word); words seen before cost a lookup, so a second pass over Seinfeld takes 0.4 s against spaCy's
        3 s. A segment where a special case's pieces stand on both sides of a space
        (:mod:`textgen.text.special_cases`) goes to spaCy whole.
        """
        if not self._by_word:
            yield from self.spacy_segment_tokens(segments, batch_size)
            return
        words, tokenizer, cross = self._words, self._nlp.tokenizer, self._cross
        for segment in segments:
            out: list[str] = []
            ends = NONE
            for word in segment.split():
                got = words.get(word)
                if got is None:
                    if len(words) >= _WORD_CACHE:  # memory stays bounded on any corpus
                        words.clear()
                    got = words[word] = (tuple(self._convert(tokenizer(word))), *cross.edges(word))
                if ends and got[2] and not ends.isdisjoint(got[2]):  # a special case may span this space
                    yield list(self._convert(tokenizer(segment)))
                    break
                out.extend(got[0])
                ends = got[1]
            else:
                yield out

    def spacy_segment_tokens(self, segments: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
        """Our tokens for each text segment, spaCy batched over whole segments."""
        for doc in self._nlp.tokenizer.pipe(segments, batch_size=batch_size):
            yield list(self._convert(doc))

    def _plan(self, lines: Iterable[str], state: PlanState) -> Iterator[str | tuple[str]]:
        lowercase = self.settings.lowercase
        seen_content, blank_pending = state.seen_content, state.blank_pending
        for raw in lines:
            line = raw.lower() if lowercase else raw
            stripped = line.strip()
            if not stripped:
                blank_pending = seen_content
                continue
            if stripped == symbols.EOS_TEXT:
                yield symbols.EOS
                seen_content = blank_pending = False
                continue
            if seen_content:
                yield symbols.TURN if blank_pending else symbols.RETURN
            seen_content, blank_pending = True, False
            rest = line
            if self.settings.speakers:
                match = _SPEAKER.match(line)
                if match:
                    yield symbols.speaker_token(match.group(1))
                    rest = line[match.end() :]
            for part in _MARKER.split(rest):
                if part in symbols.MARKERS:
                    yield symbols.MARKERS[part]
                elif part and not part.isspace():
                    yield (part,)

    @staticmethod
    def _convert(doc: Any) -> Iterator[str]:
        for tok in doc:
            yield from _token_for(tok.text)


def state_after(lines: Sequence[str], lowercase: bool, state: PlanState = PlanState()) -> PlanState:
    """The :class:`PlanState` the line rules are in after ``lines`` (started in ``state``), without spaCy.

    Only the last non-blank line matters, so this reads ``lines`` from the end: cheap enough for the
    main process to hand every chunk of a split its starting state while workers tokenize.
    """
    blank_after = False
    for raw in reversed(lines):
        stripped = (raw.lower() if lowercase else raw).strip()
        if not stripped:
            blank_after = True
        elif stripped == symbols.EOS_TEXT:
            return PlanState()
        else:
            return PlanState(True, blank_after)
    return PlanState(state.seen_content, state.seen_content) if lines else state


def assemble(plan: list[str | int], pieces: Iterable[list[str]]) -> list[str]:
    """Merge a :meth:`ScriptTokenizer.plan` with the tokens of its segments, in order."""
    it = iter(pieces)
    tokens: list[str] = []
    for item in plan:
        if isinstance(item, int):
            tokens.extend(next(it))
        else:
            tokens.append(item)
    return tokens


@functools.lru_cache(maxsize=1 << 16)
def _token_for(text: str) -> tuple[str, ...]:
    """Our token(s) for one spaCy token text: none for whitespace, a named token for symbols."""
    if text.isspace():
        return ()
    if symbols.is_symbolic(text):
        return (symbols.punct_token(text),)
    if "|" in text:  # never let a word pass for one of our ||named|| tokens
        parts = [p for p in _PIPES.split(text) if p]
        return tuple(symbols.punct_token(p) if symbols.is_symbolic(p) else p for p in parts)
    return tuple(text.split())  # defensive: spaCy never puts whitespace inside a token
