"""Named tokens for punctuation, breaks and markers.

No token ever contains whitespace: punctuation becomes ``||name||`` (the classic TV-script table,
extended to every symbol by its Unicode name), a speaker at the start of a line becomes
``name:``, line and turn breaks become ``||return||`` and ``||turn||``.
"""

from __future__ import annotations

import unicodedata

PAD = "<pad>"
UNK = "<unk>"
EOS = "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, EOS)

RETURN = "||return||"  # a line break inside a turn
TURN = "||turn||"  # a blank line: the end of a turn
LAUGH = "<laugh>"  # the audience laughs (seinfeld corpus: **LOL** marks)

# Screenplay markers (see textgen/text/screenplay.py): written in script text exactly as the token.
SCENE = "<scene>"  # before a scene heading's words
ACTION = "<action>"  # before an action paragraph
TRANSITION = "<transition>"  # before a transition (CUT TO:)
CENTERED = "<centered>"  # before centred text (>THE END<)
LYRIC = "<lyric>"  # before each line of a lyric (~)
VO = "<vo>"  # cue extensions, right after the speaker token: (V.O.)
OS = "<os>"  # (O.S.)
OC = "<oc>"  # (O.C.)
CONTD = "<contd>"  # (CONT'D)
EXT = "<ext>"  # any other extension, followed by its words in parentheses: <ext> (on the radio)
DUAL = "<dual>"  # the second speech of a dual dialogue (^)
ELEMENT_MARKERS: tuple[str, ...] = (SCENE, ACTION, TRANSITION, CENTERED, LYRIC)
EXTENSION_MARKERS: tuple[str, ...] = (VO, OS, OC, CONTD, EXT)
SCREENPLAY_MARKERS: tuple[str, ...] = (*ELEMENT_MARKERS, *EXTENSION_MARKERS, DUAL)

# Text markers that map to single tokens (and back).
LAUGH_TEXT = "[laughter]"
EOS_TEXT = "<|endoftext|>"
MARKERS: dict[str, str] = {LAUGH_TEXT: LAUGH, EOS_TEXT: EOS, **{m: m for m in SCREENPLAY_MARKERS}}
MARKER_TEXT: dict[str, str] = {v: k for k, v in MARKERS.items()}

# The classic table, plus the multi-character punctuation spaCy keeps whole.
CLASSIC: dict[str, str] = {
    ".": "period",
    ",": "comma",
    '"': "quotation_mark",
    ";": "semicolon",
    "!": "exclamation_mark",
    "?": "question_mark",
    "(": "left_parentheses",
    ")": "right_parentheses",
    "-": "dash",
    "...": "ellipsis",
    "--": "double_dash",
    ":": "colon",
    "'": "apostrophe",
}
_BY_NAME: dict[str, str] = {v: k for k, v in CLASSIC.items()}


def is_symbolic(text: str) -> bool:
    """True if ``text`` has no letters, digits or whitespace (so it becomes a named token)."""
    return bool(text) and not any(c.isalnum() or c.isspace() or c == "_" for c in text)


def _char_name(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.lower().replace(" ", "_") if name else f"u{ord(char):04x}"


def punct_token(text: str) -> str:
    """``","`` -> ``"||comma||"``; unknown symbols by Unicode name (``"*"`` -> ``"||asterisk||"``)."""
    name = CLASSIC.get(text)
    if name is None:
        name = "+".join(_char_name(c) for c in text)
    return f"||{name}||"


def _char_from_name(name: str) -> str:
    if name.startswith("u") and len(name) >= 5 and all(c in "0123456789abcdef" for c in name[1:]):
        return chr(int(name[1:], 16))
    return unicodedata.lookup(name.replace("_", " ").upper())


def punct_text(token: str) -> str | None:
    """The text a ``||name||`` token stands for, or None if ``token`` is not a punctuation token."""
    if not (token.startswith("||") and token.endswith("||") and len(token) > 4):
        return None
    name = token[2:-2]
    if name in _BY_NAME:
        return _BY_NAME[name]
    try:
        return "".join(_char_from_name(part) for part in name.split("+"))
    except KeyError:
        return None


def is_speaker(token: str) -> bool:
    """Speaker tokens end with a colon and contain a letter (``jerry:``)."""
    return len(token) > 1 and token.endswith(":") and any(c.isalpha() for c in token) and not token.startswith("||")


def speaker_token(name: str) -> str:
    """``"mr. pitt"`` -> ``"mr._pitt:"`` (whitespace inside the name becomes ``_``)."""
    return "_".join(name.split()) + ":"


MAX_SPEAKER_WORDS = 3  # a longer name is written with ``_`` between its words (so it reads back as one speaker)


def speaker_name(token: str) -> str:
    """Inverse of :func:`speaker_token` (a name of more than three words keeps its ``_``)."""
    name = token[:-1]
    return name if name.count("_") >= MAX_SPEAKER_WORDS else name.replace("_", " ")
