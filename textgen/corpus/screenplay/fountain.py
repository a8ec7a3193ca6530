"""Fountain (fountain.io) documents to screenplay elements, read with the fountain-py parser.

fountain-py parses the spec's elements correctly (CONTRIBUTING.md, "Fountain", has the evaluation
of the PyPI parsers). This module maps its elements to :class:`textgen.text.screenplay.Element`,
counts what it drops (sections, synopses, notes, boneyard, page breaks), refuses unclosed boneyard
and notes with the line they open on, and works around its two gaps: a cue whose capitals fall outside
``[A-Z0-9 _.'#-]`` (``JOSÉ``, ``MR. & MRS. SMITH``) is forced with ``@`` first, as the spec reads
any all-caps line before dialogue as a cue; and the first half of a dual dialogue is parsed again
on its own, because fountain-py drops a lyric (and what follows it) from that half.
"""

from __future__ import annotations

import re
from typing import Any

from textgen.corpus.screenplay.script import HEADING, Script
from textgen.errors import CorpusError
from textgen.text.screenplay import (
    ACTION,
    CENTERED,
    DIALOGUE,
    LYRIC,
    LYRICS,
    PAREN,
    SCENE,
    SPEECH,
    TRANSITION,
    Element,
    Part,
    clean,
    extension_key,
)

_PARSER_CUE = re.compile(r"^[A-Z0-9\s_.'#-]*$")
_SPECIAL_START = ("!", "@", ".", ">", "~", "=", "#", "[[", "/*", "(")
_DROPPED = {"section": "sections", "synopsis": "synopses", "page_break": "page breaks"}  # notes, boneyard: counted
_NOTE = re.compile(r"(?<!\\)\[\[")
_BONEYARD = re.compile(r"(?<!\\)/\*")
_UNCLOSED = {
    "unclosed-boneyard": "boneyard '/*' is never closed by '*/'",
    "unclosed-note": "note '[[' is never closed by ']]'",
}


def spec_cue(line: str) -> bool:
    """A line the spec reads as a cue when dialogue follows: all capitals (extensions aside), a letter."""
    text = line.strip().removesuffix("^").strip()
    name = text.split("(", 1)[0].strip()
    return (
        bool(name)
        and any(c.isalpha() for c in name)
        and name == name.upper()
        and ":" not in text
        and not text.startswith(_SPECIAL_START)
        and not HEADING.match(text)
        and not text.endswith("TO:")
    )


def force_cues(text: str) -> str:
    """Prefix ``@`` to spec cues that fountain-py's ASCII pattern would read as action."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        before_blank = i == 0 or not lines[i - 1].strip()
        after_text = i + 1 < len(lines) and bool(lines[i + 1].strip())
        if before_blank and after_text and spec_cue(line):
            name = line.strip().removesuffix("^").split("(", 1)[0].strip()
            if not _PARSER_CUE.match(name):
                lines[i] = "@" + line.strip()
    return "\n".join(lines)


def _title_value(value: str) -> str:
    """A title-page value without emphasis marks, its lines kept."""
    lines = [clean(re.sub(r"(?<!\\)[*_]+", "", line)) for line in str(value).splitlines()]
    return "\n".join(line for line in lines if line)


def _parts(items: list[Any]) -> list[Part]:
    """Speech parts from fountain-py's parenthetical / dialogue / lyrics elements (dialogue lines joined)."""
    parts: list[Part] = []
    for item in items:
        kind = item.type.value
        text = clean(item.text)
        if not text:
            continue
        if kind == "parenthetical":
            parts.append(Part(PAREN, text.removeprefix("(").removesuffix(")").strip()))
        elif kind == "lyrics":
            parts.append(Part(LYRIC, text))
        elif parts and parts[-1].kind == DIALOGUE:
            parts[-1] = Part(DIALOGUE, f"{parts[-1].text} {text}")
        else:
            parts.append(Part(DIALOGUE, text))
    return parts


def _speech(character: Any, items: list[Any], dual: bool = False) -> Element:
    extension = str(character.metadata.get("extension") or "")
    extensions = tuple(extension_key(e) for e in re.split(r"\)\s*\(", extension) if e.strip())
    return Element(SPEECH, speaker=clean(character.text), extensions=extensions, dual=dual, parts=tuple(_parts(items)))


def _reparsed_block(text: str, line: int) -> list[Any]:
    """The parts of the speech whose cue is on ``line`` (1-based), parsed on their own.

    fountain-py drops a lyric, and everything after it, from the first half of a dual dialogue;
    the half read alone keeps them.
    """
    from fountain import FountainParser

    lines = text.split("\n")[max(0, line - 1) :]
    end = next((i for i, ln in enumerate(lines) if not ln.strip()), len(lines))
    elements = FountainParser().parse("\n".join(lines[:end]) + "\n").elements
    if not elements or elements[0].type.value != "character":
        return []
    return [e for e in elements[1:] if e.type.value in ("dialogue", "parenthetical", "lyrics")]


def parse_fountain(text: str, name: str = "document") -> Script:
    """Elements and title page of a Fountain document; :class:`CorpusError` for an unclosed boneyard or note."""
    from fountain import FountainParser

    parser = FountainParser()
    forced = force_cues(text)
    doc = parser.parse(forced)
    for issue in parser.diagnostics:
        if issue.code in _UNCLOSED:
            raise CorpusError(
                f"{name} line {issue.line_number}: {_UNCLOSED[issue.code]}; close it or delete it, then run again"
            )
    title_page = {str(k).lower(): _title_value(v) for k, v in (doc.metadata or {}).items() if _title_value(v)}
    script = Script([], title_page)
    script.dropped.update({"notes": len(_NOTE.findall(text)), "boneyard": len(_BONEYARD.findall(text))})
    speech: tuple[Any, list[Any], bool] | None = None  # cue, its parts so far, dual
    forced_lines = forced.split("\n")
    last_line = -1

    def flush() -> None:
        nonlocal speech
        if speech is not None:
            script.elements.append(_speech(*speech))
            speech = None

    for el in doc.elements:
        kind = el.type.value
        line = int(el.line_number or 0)
        if kind in ("dialogue", "parenthetical") and speech is not None:
            speech[1].append(el)
        elif kind == "lyrics" and speech is not None and line == last_line + 1:
            speech[1].append(el)
        else:
            flush()
            if kind == "character":  # a `^` cue that fountain-py did not pair (its half is all lyrics)
                source = forced_lines[line - 1] if 0 < line <= len(forced_lines) else ""
                speech = (el, [], source.rstrip().endswith("^"))
            elif kind == "dual_dialogue":  # the right half stays open: fountain-py leaves its lyrics outside
                m = el.metadata
                left = _reparsed_block(forced, int(m["left_character"].line_number or 0))
                script.elements.append(_speech(m["left_character"], left or list(m.get("left_dialogue") or [])))
                right = list(m.get("right_dialogue") or [])
                speech = (m["right_character"], right, True)
                line = max([int(x.line_number or 0) for x in [m["right_character"], *right]])
            elif kind == "lyrics":
                previous = script.elements[-1] if script.elements else None
                if previous is not None and previous.kind == LYRICS and line == last_line + 1:
                    script.elements[-1] = Element(LYRICS, parts=(*previous.parts, Part(LYRIC, clean(el.text))))
                else:
                    script.elements.append(Element(LYRICS, parts=(Part(LYRIC, clean(el.text)),)))
            elif kind in ("scene_heading", "action", "transition", "centered"):
                mapped = {"scene_heading": SCENE, "action": ACTION, "transition": TRANSITION, "centered": CENTERED}
                script.elements.append(Element(mapped[kind], text=clean(el.text)))
            elif kind in _DROPPED:
                script.dropped[_DROPPED[kind]] += 1
        last_line = max(last_line, line)
    flush()
    return script
