"""Screenplay elements and the script text they become; tokens read back into elements.

The screenplay readers (:mod:`textgen.corpus.screenplay`) turn Fountain or an indented plain-text
screenplay into :class:`Element` lists, and :func:`script_text` writes them as script text that
the tokenizer reads like a transcript: one element per line, a blank line between elements, so
each element is one turn::

    <scene> INT. COMET DINER - NIGHT
    <action> Rain hammers the long front windows.
    EDWARD: <vo> (to himself) Last call.
    MARGOT: <dual> I hid the cherry pie.
    HANS: <ext> (on the radio) Hello?
    TOBY: (singing) <lyric> Oh the Comet, oh the Comet!
    <lyric> Oh the Comet, <lyric> where the coffee never ends,
    <transition> CUT TO:
    <centered> THE END

Every line starts with a speaker or a marker, so no line of action or dialogue can pass for a
speaker. What a screenplay loses on the way (the normalisation): line breaks inside an action
paragraph or a speech (spaces), emphasis marks, scene numbers, page breaks, sections, synopses,
notes and boneyard, and ``(MORE)`` / ``CONTINUED`` page furniture. :func:`elements_from_tokens`
is the inverse: tokens (generated or tokenized) back to elements, for the Fountain renderer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from textgen.text import symbols
from textgen.text.detokenize import detokenize
from textgen.text.tokenizer import is_speaker_name

SCENE, ACTION, SPEECH, TRANSITION, CENTERED, LYRICS = "scene", "action", "speech", "transition", "centered", "lyrics"
DIALOGUE, PAREN, LYRIC = "dialogue", "paren", "lyric"

# cue extensions with their own token; anything else is written as <ext> (words)
_EXTENSION_KEYS = {
    "VO": "vo",
    "OS": "os",
    "OC": "oc",
    "CONTD": "contd",
    "CONT": "contd",
    "CONTINUED": "contd",
    "CONTINUING": "contd",
}
EXTENSION_TOKENS = {"vo": symbols.VO, "os": symbols.OS, "oc": symbols.OC, "contd": symbols.CONTD}
EXTENSION_TEXT = {"vo": "V.O.", "os": "O.S.", "oc": "O.C.", "contd": "CONT'D"}
_TOKEN_EXTENSION = {v: k for k, v in EXTENSION_TOKENS.items()}
_ELEMENT_OF_MARKER = {
    symbols.SCENE: SCENE,
    symbols.ACTION: ACTION,
    symbols.TRANSITION: TRANSITION,
    symbols.CENTERED: CENTERED,
    symbols.LYRIC: LYRICS,
}
# a scene heading's opening word (Fountain's list; case-insensitive, then a dot or a space)
HEADING = re.compile(r"^(?:INT|EXT|EST|INT\.?/EXT|I/E)[. ]", re.IGNORECASE)
_CUE = re.compile(r"^(?P<name>[^()]+?)\s*(?P<exts>(?:\([^()]*\)\s*)+)$")
_STARTERS = {symbols.SCENE, symbols.ACTION, symbols.TRANSITION, symbols.CENTERED}
_NAME_CHARS = re.compile(r"[^\w.'&\-\s]")
_OPEN, _CLOSE = symbols.punct_token("("), symbols.punct_token(")")
_BREAKS = {symbols.RETURN, symbols.TURN, symbols.EOS}


@dataclass(frozen=True)
class Part:
    """One piece of a speech (or a lyrics element): dialogue, a parenthetical (without its brackets), a lyric line."""

    kind: str  # DIALOGUE | PAREN | LYRIC
    text: str


@dataclass(frozen=True)
class Element:
    """One screenplay element: a heading, action, a speech, a transition, centred text or lyrics."""

    kind: str  # SCENE | ACTION | SPEECH | TRANSITION | CENTERED | LYRICS
    text: str = ""  # scene, action, transition, centered
    speaker: str = ""  # speech: the cue's name as written (EDWARD, McGRAW)
    extensions: tuple[str, ...] = ()  # speech: vo, os, oc, contd, or the words of another extension
    dual: bool = False  # speech: the second half of a dual dialogue
    parts: tuple[Part, ...] = ()  # speech and lyrics


def clean(text: str) -> str:
    """One line: runs of whitespace (line breaks included) become one space."""
    return " ".join(text.split())


def extension_key(raw: str) -> str:
    """``V.O.`` -> ``vo``, ``cont'd`` -> ``contd``; another extension keeps its words (``on the radio``)."""
    key = re.sub(r"[^A-Za-z]", "", raw).upper()
    return _EXTENSION_KEYS.get(key, clean(raw))


def speaker_text(name: str) -> str:
    """A cue name the tokenizer reads as one speaker: odd characters become spaces, more than three
    words are joined by ``_``, a leading number moves to the end (``2ND GUARD`` -> ``GUARD 2ND``)."""
    words = _NAME_CHARS.sub(" ", name).split()
    while words and not words[0][:1].isalpha() and any(w[:1].isalpha() for w in words):
        words.append(words.pop(0))
    text = " ".join(words) if len(words) <= symbols.MAX_SPEAKER_WORDS else "_".join(words)
    return text if is_speaker_name(text) else ""


def cue_parts(text: str) -> tuple[str, tuple[str, ...]] | None:
    """``EDWARD (V.O.) (CONT'D)`` -> ``("EDWARD", ("vo", "contd"))``; None without an extension."""
    match = _CUE.match(text.strip())
    if not match:
        return None
    exts = tuple(extension_key(e) for e in re.findall(r"\(([^()]*)\)", match.group("exts")) if e.strip())
    return clean(match.group("name")), exts


def extension_tokens(extensions: Sequence[str]) -> list[str]:
    """The tokens after a speaker for its extensions (``<vo>``, or ``<ext>`` and the words in parentheses)."""
    out: list[str] = []
    for ext in extensions:
        out.append(EXTENSION_TOKENS.get(ext, f"{symbols.EXT} ({ext})"))
    return out


def script_line(element: Element) -> str:
    """The element's one line of script text (see the module docstring)."""
    if element.kind == SPEECH:
        head = [f"{speaker_text(element.speaker)}:", *extension_tokens(element.extensions)]
        if element.dual:
            head.append(symbols.DUAL)
        return " ".join(head + [_part_text(p) for p in element.parts if p.text])
    if element.kind == LYRICS:
        return " ".join(_part_text(p) for p in element.parts if p.text)
    marker = {SCENE: symbols.SCENE, ACTION: symbols.ACTION, TRANSITION: symbols.TRANSITION, CENTERED: symbols.CENTERED}
    return f"{marker[element.kind]} {element.text}"


def _part_text(part: Part) -> str:
    if part.kind == PAREN:
        return f"({part.text})"
    if part.kind == LYRIC:
        return f"{symbols.LYRIC} {part.text}"
    return part.text


def script_text(elements: Sequence[Element]) -> str:
    """Script text for ``elements``: one line each, blank lines between."""
    lines = [script_line(e) for e in elements if has_text(e)]
    return "\n\n".join(lines) + "\n" if lines else ""


def has_text(element: Element) -> bool:
    """False for an element with nothing to say (an empty action, a speech without a name)."""
    if element.kind == SPEECH:
        return bool(speaker_text(element.speaker))
    if element.kind == LYRICS:
        return any(p.text for p in element.parts)
    return bool(element.text)


# ----- tokens back to elements ---------------------------------------------------------------


def _text(tokens: Sequence[str]) -> str:
    return detokenize(tokens).strip().replace("\n", " ")


def _pieces(tokens: Sequence[str]) -> Iterator[list[str]]:
    """Runs of tokens, one per element: a turn break, a speaker or an element marker starts a new run
    (a line break too, except inside a speech; a lyric line only outside speeches and lyrics)."""
    run: list[str] = []
    for token in tokens:
        in_speech = bool(run) and symbols.is_speaker(run[0])
        if token in _BREAKS:
            if token != symbols.RETURN or not in_speech:
                if run:
                    yield run
                run = []
            continue
        starts = symbols.is_speaker(token) or token in _STARTERS
        if starts or (token == symbols.LYRIC and run and not in_speech and run[0] != symbols.LYRIC):
            if run:
                yield run
            run = []
        run.append(token)
    if run:
        yield run


def _speech_parts(tokens: Sequence[str]) -> list[Part]:
    parts: list[Part] = []
    kind, run, depth = DIALOGUE, [], 0

    def flush() -> None:
        text = _text(run)
        if kind == PAREN:
            text = text.removeprefix("(").removesuffix(")").strip()
        if text:
            parts.append(Part(kind, text))
        run.clear()

    for token in tokens:
        if depth and token == symbols.LYRIC:  # a lyric line closes an unclosed parenthetical
            flush()
            kind, depth = LYRIC, 0
        elif depth and token in symbols.SCREENPLAY_MARKERS:
            continue
        elif depth:
            run.append(token)
            depth += (token == _OPEN) - (token == _CLOSE)
            if not depth:
                flush()
                kind = DIALOGUE
        elif token == _OPEN:
            flush()
            kind, depth = PAREN, 1
            run.append(token)
        elif token == symbols.LYRIC:
            flush()
            kind = LYRIC
        elif token in symbols.SCREENPLAY_MARKERS:
            continue  # a stray extension or dual marker inside a speech says nothing
        else:
            run.append(token)
    flush()
    return parts


def _speech(tokens: list[str]) -> Element:
    speaker = symbols.speaker_name(tokens[0])
    extensions: list[str] = []
    dual = False
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if token in _TOKEN_EXTENSION:
            extensions.append(_TOKEN_EXTENSION[token])
        elif token == symbols.DUAL:
            dual = True
        elif token == symbols.EXT and i + 1 < len(tokens) and tokens[i + 1] == _OPEN:
            close = tokens.index(_CLOSE, i + 1) if _CLOSE in tokens[i + 1 :] else len(tokens)
            words = _text(tokens[i + 2 : close])
            if words:
                extensions.append(words)
            i = close
        elif token != symbols.EXT:
            break
        i += 1
    parts = tuple(_speech_parts(tokens[i:]))
    return Element(SPEECH, speaker=speaker, extensions=tuple(extensions), dual=dual, parts=parts)


def elements_from_tokens(tokens: Sequence[str]) -> list[Element]:
    """Elements of a token stream: a speaker starts a speech, a marker its element, other text is action."""
    elements: list[Element] = []
    for run in _pieces(tokens):
        head = run[0]
        if symbols.is_speaker(head):
            element = _speech(run)
        elif head == symbols.LYRIC:
            element = Element(LYRICS, parts=tuple(p for p in _speech_parts(run) if p.kind == LYRIC))
        elif head in _ELEMENT_OF_MARKER:
            body = [t for t in run[1:] if t not in symbols.SCREENPLAY_MARKERS]
            element = Element(_ELEMENT_OF_MARKER[head], text=_text(body))
        else:
            element = Element(ACTION, text=_text([t for t in run if t not in symbols.SCREENPLAY_MARKERS]))
        if has_text(element):
            elements.append(element)
    return elements
