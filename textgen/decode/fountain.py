"""Generated tokens -> a Fountain screenplay (fountain.io) that Fountain apps and fountain-py read back.

The tokens become screenplay elements (:func:`textgen.text.screenplay.elements_from_tokens`):
a speaker token opens a character cue (its extension and dual-dialogue tokens ride on the cue),
``<scene>`` a heading, ``<action>`` an action paragraph, ``<transition>``, ``<centered>``,
``<lyric>``; untagged text (a transcript run) is action. Cues, headings and transitions are
written in capitals, parentheticals on their own lines; ``@``, ``.``, ``!`` and ``>`` force an
element wherever its text alone would read as something else, and ``*``, ``_``, ``[[`` are
escaped so nothing turns into emphasis or a note. Elements are separated by blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from textgen.decode.render import script_tokens, truecase
from textgen.text import screenplay as sp
from textgen.text.screenplay import Element

_HEADING = sp.HEADING
_TRANSITION = re.compile(r"^[A-Z\s.'/-]+TO:$|^FADE IN:$|^FADE OUT\.$")  # what fountain-py reads unforced
_SLASHED = re.compile(r"^(INT\.?|I) ?/ ?(EXT\.?|E)\b", re.IGNORECASE)  # the detokenizer spaces "I / E"
_PLAIN_CUE = re.compile(r"^[A-Z0-9][A-Z0-9 _.'#-]*$")
_FORCING = ("!", "@", ".", ">", "~", "=", "#", "[", "/", "(")


def escape(text: str) -> str:
    """Text that Fountain reads back literally: emphasis marks escaped, note and boneyard marks broken."""
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    return text.replace("[[", "[ [").replace("]]", "] ]")


def _cue(element: Element, upper: bool) -> str:
    name = element.speaker.upper() if upper else element.speaker
    exts = "".join(f" ({sp.EXTENSION_TEXT.get(e, e.upper() if upper else e)})" for e in element.extensions)
    forced = not _PLAIN_CUE.match(name) or bool(_HEADING.match(name))
    return ("@" if forced else "") + name + exts + (" ^" if element.dual else "")


def _action(text: str) -> str:
    plain = escape(text)
    if (
        plain.startswith(_FORCING)
        or _HEADING.match(plain)
        or _TRANSITION.match(plain)
        or (plain.upper() == plain and any(c.isalpha() for c in plain))
        or plain.startswith("===")
    ):
        return "!" + plain
    return plain


def element_lines(element: Element, upper: bool = True) -> list[str]:
    """The Fountain lines of one element (``upper``: write cues, headings and transitions in capitals)."""
    kind = element.kind
    if kind == sp.SCENE:
        text = _SLASHED.sub(r"\1/\2", escape(element.text.upper() if upper else element.text))
        return [text if _HEADING.match(text) else "." + text]
    if kind == sp.ACTION:
        return [_action(element.text)]
    if kind == sp.TRANSITION:
        text = escape(element.text.upper() if upper else element.text)
        return [text if _TRANSITION.match(text) else "> " + text]
    if kind == sp.CENTERED:
        return [f"> {escape(element.text)} <"]
    if kind == sp.LYRICS:
        return ["~" + escape(p.text) for p in element.parts]
    lines = [_cue(element, upper)]
    for part in element.parts:
        if part.kind == sp.PAREN:
            lines.append(f"({escape(part.text)})")
        elif part.kind == sp.LYRIC:
            lines.append("~" + escape(part.text))
        else:
            lines.append(escape(part.text))
    if len(lines) == 1:  # a cue needs a line below it to be a cue: a speech cut off after its cue
        lines.append("...")
    return lines


def _title_entry(key: str, value: str) -> str:
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    if len(lines) == 1:
        return f"{key.title()}: {escape(lines[0])}"
    return "\n".join([f"{key.title()}:", *(f"    {escape(line)}" for line in lines)])


def write_fountain(elements: Sequence[Element], title_page: dict[str, str] | None = None, upper: bool = True) -> str:
    """A Fountain document: the title page (if any), then the elements, a blank line between each."""
    blocks: list[str] = []
    if title_page:
        blocks.append("\n".join(_title_entry(key, value) for key, value in title_page.items()))
    blocks.extend("\n".join(element_lines(e, upper)) for e in elements)
    return "\n\n".join(blocks) + "\n" if blocks else ""


def render_fountain(
    tokens: Sequence[str],
    restore_case: bool = True,
    names: frozenset[str] = frozenset(),
    title_page: dict[str, str] | None = None,
) -> str:
    """Fountain for ``tokens`` (prime included): ``restore_case`` capitalises a lower-cased corpus's text."""
    clean = script_tokens(tokens)
    if restore_case:
        clean = truecase(clean, names)
    return write_fountain(sp.elements_from_tokens(clean), title_page, upper=restore_case)
