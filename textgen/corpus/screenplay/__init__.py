"""Screenplays as scripts: recognise each document's layout and convert it to script text.

``convert_document(text, name, layout)`` -> :class:`ConvertedDocument` (layout, reason, script
text, title page). Layouts: ``transcript`` (``speaker: line``), ``fountain`` (fountain.io, read
with fountain-py), ``screenplay`` (plain text laid out by indentation); ``auto`` detects.
"""

from textgen.corpus.screenplay.convert import (
    DETECT_CHARS,
    ConvertedDocument,
    DocumentLayout,
    LayoutTally,
    check_format,
    choose_layout,
    convert_as,
    convert_document,
    layout_card,
)
from textgen.corpus.screenplay.detect import FORMATS, FOUNTAIN, FOUNTAIN_SUFFIX, LAYOUTS, SCREENPLAY, TRANSCRIPT, detect

__all__ = [
    "DETECT_CHARS",
    "FORMATS",
    "FOUNTAIN",
    "FOUNTAIN_SUFFIX",
    "LAYOUTS",
    "SCREENPLAY",
    "TRANSCRIPT",
    "ConvertedDocument",
    "DocumentLayout",
    "LayoutTally",
    "check_format",
    "choose_layout",
    "convert_as",
    "convert_document",
    "detect",
    "layout_card",
]
