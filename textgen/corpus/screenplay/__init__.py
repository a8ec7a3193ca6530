"""Screenplays as scripts: recognise each document's layout and convert it to script text.

``convert_document(text, name, layout)`` -> :class:`ConvertedDocument` (layout, reason, script
text, title page). Layouts: ``transcript`` (``speaker: line``), ``fountain`` (fountain.io, read
with fountain-py), ``screenplay`` (plain text laid out by indentation); ``auto`` detects.
"""

from textgen.corpus.screenplay.convert import (
    ConvertedDocument,
    DocumentLayout,
    check_format,
    convert_document,
    layout_card,
)
from textgen.corpus.screenplay.detect import FORMATS, FOUNTAIN, FOUNTAIN_SUFFIX, LAYOUTS, SCREENPLAY, TRANSCRIPT, detect

__all__ = [
    "FORMATS",
    "FOUNTAIN",
    "FOUNTAIN_SUFFIX",
    "LAYOUTS",
    "SCREENPLAY",
    "TRANSCRIPT",
    "ConvertedDocument",
    "DocumentLayout",
    "check_format",
    "convert_document",
    "detect",
    "layout_card",
]
