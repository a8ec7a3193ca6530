"""Screenplays in: each Fountain element, the indented plain-text layout, detection per document, bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO

from textgen.corpus import load_corpus
from textgen.corpus.screenplay import convert_document, detect
from textgen.corpus.screenplay.fountain import force_cues, parse_fountain
from textgen.corpus.screenplay.indented import parse_indented
from textgen.errors import CorpusError, UsageError
from textgen.text import ScriptTokenizer, symbols
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
    script_text,
    speaker_text,
)

FOUNTAIN = REPO / "corpora" / "fixtures" / "screenplay.fountain"
INDENTED = REPO / "corpora" / "fixtures" / "screenplay.txt"


@pytest.fixture(scope="module")
def fixture_script() -> list[Element]:
    return parse_fountain(FOUNTAIN.read_text(encoding="utf-8"), FOUNTAIN.name).elements


def _one(text: str) -> list[Element]:
    return parse_fountain(text).elements


def speech(name: str, *parts: Part, ext: tuple[str, ...] = (), dual: bool = False) -> Element:
    return Element(SPEECH, speaker=name, extensions=ext, dual=dual, parts=parts)


# ----- each Fountain element -------------------------------------------------------------------


def test_title_page_goes_to_metadata_not_the_text() -> None:
    script = parse_fountain(FOUNTAIN.read_text(encoding="utf-8"))
    assert script.title_page["title"] == "LAST CALL AT THE COMET\nA short screenplay"  # emphasis marks gone
    assert script.title_page["credit"] == "Written by" and script.title_page["author"] == "The textgen team"
    assert {"source", "draft date", "contact"} <= set(script.title_page)
    text = script_text(script.elements)
    assert "title:" not in text.lower() and "author" not in text.lower() and "Written by" not in text


@pytest.mark.parametrize(
    "line, heading",
    [
        ("INT. DINER - NIGHT", "INT. DINER - NIGHT"),
        ("EXT. LOT - DAY", "EXT. LOT - DAY"),
        ("EST. ROUTE 9 - DAWN", "EST. ROUTE 9 - DAWN"),
        ("INT./EXT. TRUCK - MOVING", "INT./EXT. TRUCK - MOVING"),
        ("I/E DOORWAY - DAWN", "I/E DOORWAY - DAWN"),
        ("int. kitchen - day", "int. kitchen - day"),
        (".FLASHBACK - OPENING DAY", "FLASHBACK - OPENING DAY"),
        ("INT. HOUSE - DAY #12A#", "INT. HOUSE - DAY"),
    ],
)
def test_scene_headings(line: str, heading: str) -> None:
    assert _one(f"\n{line}\n\nShe waits.\n") == [Element(SCENE, text=heading), Element(ACTION, text="She waits.")]


def test_action_forced_action_and_joined_lines() -> None:
    elements = _one("\n!KNOCK. KNOCK.\n\nLine one.\nLine two.\n\nBANG!\n")
    assert elements == [
        Element(ACTION, text="KNOCK. KNOCK."),
        Element(ACTION, text="Line one. Line two."),
        Element(ACTION, text="BANG!"),
    ]


def test_cues_extensions_forced_and_dual() -> None:
    text = (
        "\nEDWARD (V.O.)\nOne.\n\nMARGOT (O.S.)\nTwo.\n\nEDWARD (CONT'D)\nThree.\n\nHANS (on the radio)\nFour.\n\n"
        "@McGRAW\nFive.\n\nTOBY\nSix.\n\nMARGOT ^\nSeven.\n\nEDWARD (V.O.) (CONT'D)\nEight.\n"
    )
    d = Part(DIALOGUE, "")
    got = _one(text)
    assert [(e.speaker, e.extensions, e.dual) for e in got] == [
        ("EDWARD", ("vo",), False),
        ("MARGOT", ("os",), False),
        ("EDWARD", ("contd",), False),
        ("HANS", ("on the radio",), False),
        ("McGRAW", (), False),
        ("TOBY", (), False),
        ("MARGOT", (), True),
        ("EDWARD", ("vo", "contd"), False),
    ]
    assert all(e.kind == SPEECH and e.parts[0].kind == d.kind for e in got)


def test_non_ascii_cue_is_still_a_cue() -> None:
    assert force_cues("\nJOSÉ\nHola.\n") == "\n@JOSÉ\nHola.\n"
    assert _one("\nJOSÉ\nHola.\n\nMR. & MRS. SMITH\nHello.\n") == [
        speech("JOSÉ", Part(DIALOGUE, "Hola.")),
        speech("MR. & MRS. SMITH", Part(DIALOGUE, "Hello.")),
    ]


def test_parentheticals_dialogue_lines_and_the_two_space_line() -> None:
    got = _one("\nEDWARD\n(quietly)\nOf course you did.\n  \nYou always hide it.\n(beat)\nYes.\n")
    assert got == [
        speech(
            "EDWARD",
            Part(PAREN, "quietly"),
            Part(DIALOGUE, "Of course you did. You always hide it."),
            Part(PAREN, "beat"),
            Part(DIALOGUE, "Yes."),
        )
    ]


def test_lyrics_alone_and_sung() -> None:
    got = _one("\n~Oh the Comet,\n~where the coffee never ends,\n\nTOBY\n(singing)\n~Oh the Comet!\n")
    assert got == [
        Element(LYRICS, parts=(Part(LYRIC, "Oh the Comet,"), Part(LYRIC, "where the coffee never ends,"))),
        speech("TOBY", Part(PAREN, "singing"), Part(LYRIC, "Oh the Comet!")),
    ]


def test_transitions_centred_and_page_breaks() -> None:
    got = _one("\nCUT TO:\n\nINT. A - DAY\n\n> FADE TO BLACK.\n\n===\n\n>THE END<\n")
    assert got == [
        Element(TRANSITION, text="CUT TO:"),
        Element(SCENE, text="INT. A - DAY"),
        Element(TRANSITION, text="FADE TO BLACK."),
        Element(CENTERED, text="THE END"),
    ]


def test_emphasis_marks_go_and_escaped_ones_stay() -> None:
    got = _one("\nThe *big* _red_ **dog** ***runs***, a \\*star\\*.\n")
    assert got == [Element(ACTION, text="The big red dog runs, a *star*.")]


def test_sections_synopses_notes_and_boneyard_are_dropped_and_counted() -> None:
    text = "# ACT ONE\n\n= The plan.\n\n/* old\nINT. GONE - DAY\n*/\n\nShe [[check]] waits.\n\n[[a note]]\n"
    script = parse_fountain(text)
    assert script.elements == [Element(ACTION, text="She waits.")]
    assert script.dropped == Counter({"sections": 1, "synopses": 1, "notes": 2, "boneyard": 1})


def test_fixture_uses_every_element(fixture_script: list[Element]) -> None:
    kinds = Counter(e.kind for e in fixture_script)
    assert {SCENE, ACTION, SPEECH, TRANSITION, CENTERED, LYRICS} <= set(kinds)
    parts = {p.kind for e in fixture_script for p in e.parts}
    assert parts == {DIALOGUE, PAREN, LYRIC}
    exts = {x for e in fixture_script for x in e.extensions}
    assert exts == {"vo", "os", "contd"} and any(e.dual for e in fixture_script)
    dropped = parse_fountain(FOUNTAIN.read_text(encoding="utf-8")).dropped
    assert set(dropped) == {"sections", "synopses", "notes", "boneyard", "page breaks"}


# ----- script text and tokens ------------------------------------------------------------------


def test_script_text_lines_start_with_a_speaker_or_a_marker(fixture_script: list[Element]) -> None:
    lines = [line for line in script_text(fixture_script).splitlines() if line]
    assert len(lines) == len(fixture_script)
    for line in lines:
        assert line.startswith("<") or line.split(":")[0].isupper() or line.startswith("McGRAW:"), line


def test_speaker_tokens_and_counts(fixture_script: list[Element]) -> None:
    tokens = ScriptTokenizer().tokenize(script_text(fixture_script))
    speakers = Counter(t for t in tokens if symbols.is_speaker(t))
    assert speakers == Counter(
        {"edward:": 12, "margot:": 10, "mcgraw:": 5, "toby:": 6, "radio_host:": 1, "young_edward:": 1}
    )
    assert tokens.count(symbols.SCENE) == 7 and tokens.count(symbols.TRANSITION) == 4
    assert tokens.count(symbols.VO) == 3 and tokens.count(symbols.OS) == 2 and tokens.count(symbols.CONTD) == 1
    assert tokens.count(symbols.DUAL) == 1 and tokens.count(symbols.LYRIC) == 5 and tokens.count(symbols.CENTERED) == 1
    i = tokens.index("radio_host:")
    assert tokens[i + 1] == symbols.VO  # RADIO HOST (V.O.) is still the radio host
    assert not {"title:", "author:", "credit:", "cut_to:", "fade_to:"} & set(tokens)


def test_speaker_names_the_tokenizer_can_read() -> None:
    assert speaker_text("GUARD #2") == "GUARD 2"
    assert speaker_text("2ND GUARD") == "GUARD 2ND"
    assert speaker_text("THE MAN IN THE HAT") == "THE_MAN_IN_THE_HAT"
    tokens = ScriptTokenizer().tokenize(script_text([speech("THE MAN IN THE HAT", Part(DIALOGUE, "Hi."))]))
    assert tokens[0] == "the_man_in_the_hat:"
    assert symbols.speaker_name(tokens[0]) == "the_man_in_the_hat"  # more than three words keep their _


# ----- the indented plain-text layout ----------------------------------------------------------


def test_indented_fixture_reads_as_the_fountain_fixture(fixture_script: list[Element]) -> None:
    script = parse_indented(INDENTED.read_text(encoding="utf-8"))
    page = {"title": "LAST CALL AT THE COMET", "credit": "Written by", "author": "The textgen team"}
    assert script.title_page == page
    assert script.dropped == Counter({"page numbers": 2, "continued marks": 2, "scene numbers": 1, "(MORE) marks": 1})

    def comparable(elements: list[Element]) -> list[Element]:  # plain text has no dual dialogue, no lyrics
        out = []
        for e in elements:
            if e.kind == LYRICS:
                e = Element(ACTION, text=" ".join(p.text for p in e.parts))
            parts = tuple(Part(DIALOGUE, p.text) if p.kind == LYRIC else p for p in e.parts)
            out.append(Element(e.kind, e.text, e.speaker, e.extensions, False, parts))
        return out

    assert comparable(script.elements) == comparable(fixture_script)


def test_indented_speech_across_a_page_break_is_one_speech() -> None:
    text = (
        "          INT. A - DAY\n\n          She waits.\n\n                         EDWARD\n"
        "                    (slowly)\n               One two\n               three.\n"
        "                         (MORE)\n\n                                                  2.\n"
        "                         EDWARD (CONT'D)\n               Four.\n"
    )
    assert parse_indented(text).elements == [
        Element(SCENE, text="INT. A - DAY"),
        Element(ACTION, text="She waits."),
        speech("EDWARD", Part(PAREN, "slowly"), Part(DIALOGUE, "One two three. Four.")),
    ]


def test_indented_all_caps_action_is_not_a_cue() -> None:
    text = (
        "INT. A - DAY\n\nKNOCK. KNOCK.\n\n          EDWARD\n     Who is it?\n\nBANG.\n\n                    THE END\n"
    )
    assert [e.kind for e in parse_indented(text).elements] == [SCENE, ACTION, SPEECH, ACTION, CENTERED]


# ----- detection and the per-document choice ----------------------------------------------------


def test_detection_says_which_layout_and_why(fixture_text: str) -> None:
    assert detect(FOUNTAIN.read_text(encoding="utf-8"), "x.fountain") == ("fountain", "the file name ends in .fountain")
    layout, reason = detect(FOUNTAIN.read_text(encoding="utf-8"))  # by structure, without the suffix
    assert layout == "fountain" and reason.startswith("a title page, ") and "EDWARD" in reason
    layout, reason = detect(INDENTED.read_text(encoding="utf-8"), "x.txt")
    assert layout == "screenplay" and "indented cues" in reason
    assert detect(fixture_text) == ("transcript", "194 'speaker: line' lines")
    assert detect("Just some prose.\nAnd more.\n")[1].endswith("read as plain text")


def test_forced_format_and_the_no_cue_fallback(fixture_text: str) -> None:
    doc = convert_document(fixture_text, "show.txt", "fountain")
    assert doc.info.layout == "transcript" and doc.text == fixture_text
    assert doc.info.reason == (
        "read as Fountain (--format fountain), but no character cues were found: fell back to plain text"
    )
    prose = convert_document("INT. HOUSE - DAY\n\nNobody talks here.\n", "quiet.fountain")
    assert prose.info.layout == "transcript" and "no character cues" in prose.info.reason
    assert convert_document(FOUNTAIN.read_text(encoding="utf-8"), "f", "transcript").info.layout == "transcript"
    with pytest.raises(UsageError, match="unknown --format 'pdf'; use one of auto, transcript, fountain, screenplay"):
        convert_document("x", "x", "pdf")


def test_title_page_only_is_a_one_line_error() -> None:
    with pytest.raises(CorpusError) as err:
        convert_document("Title: Nothing Here\nAuthor: Somebody\n", "empty.fountain")
    assert str(err.value) == (
        "empty.fountain has only a Fountain title page (title, author) and no script below it; "
        "add the screenplay after a blank line, or leave the file out"
    )


@pytest.mark.parametrize(
    "text, where",
    [
        (
            "INT. A - DAY\n\nText.\n\n/* an old scene\nmore\n\nEDWARD\nHi.\n",
            "x.fountain line 5: boneyard '/*' is never closed",
        ),
        (
            "INT. A - DAY\n\nText [[a note\nthat goes on\n\nEDWARD\nHi.\n",
            "x.fountain line 3: note '[[' is never closed",
        ),
    ],
)
def test_unbalanced_boneyard_and_notes_say_where(text: str, where: str) -> None:
    with pytest.raises(CorpusError) as err:
        convert_document(text, "x.fountain")
    assert str(err.value).startswith(where) and "\n" not in str(err.value)


def test_mixed_folder_reads_each_document_in_its_layout(tmp_path: Path, fixture_text: str) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_show.txt").write_text(fixture_text, encoding="utf-8")
    (folder / "b_film.fountain").write_text(FOUNTAIN.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "c_archive.txt").write_text(INDENTED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "d_notes.md").write_text("not read", encoding="utf-8")
    corpus = load_corpus(str(folder))
    card = corpus.layout_card()
    assert card["layouts"] == {"transcript": 1, "fountain": 1, "screenplay": 1}
    assert [(d["document"], d["layout"]) for d in card["document_layouts"]] == [
        ("a_show.txt", "transcript"),
        ("b_film.fountain", "fountain"),
        ("c_archive.txt", "screenplay"),
    ]
    assert [p["document"] for p in card["title_pages"]] == ["b_film.fountain", "c_archive.txt"]
    assert "okay, everybody, look at this" in corpus.text and "EDWARD: (to himself) Last call." in corpus.text
    assert corpus.text.count("<scene> INT. COMET DINER - NIGHT") == 4  # twice in each screenplay
    forced = load_corpus(str(folder), layout="screenplay").layout_card()
    assert forced["layouts"] == {"transcript": 2, "screenplay": 1}  # no indented cues: plain text, and it says so


def test_registry_screenplay_and_build_vocab_card(tmp_path: Path) -> None:
    from textgen import steps

    result = steps.run("build-vocab", tmp_path / "r", corpus="screenplay-fixture", num_proc=1, val_fraction=0.1)
    card = json.loads((tmp_path / "r" / "corpus.json").read_text(encoding="utf-8"))
    assert card["format"] == "auto" and card["layouts"] == {"fountain": 1}
    assert card["document_layouts"][0]["reason"] == "the file name ends in .fountain"
    assert card["title_pages"][0]["title"].startswith("LAST CALL AT THE COMET")
    assert card["source_sha256"] != card["sha256"]  # the pin is of the file; the text is converted
    top = dict(result.top_speakers)
    assert top["edward:"] > top["margot:"] > 0 and "title:" not in top and "cut_to:" not in top
    assert {symbols.SCENE, symbols.ACTION, symbols.TRANSITION, "edward:"} <= set(result.vocab.itos)


def test_cli_format_option_and_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from textgen.cli import app

    runner = CliRunner()
    args = ["build-vocab", "--corpus", str(FOUNTAIN), "--run-dir", str(tmp_path / "r"), "--num-proc", "1"]
    result = runner.invoke(app, [*args, "--val-fraction", "0.1"])
    assert result.exit_code == 0, result.output
    assert "screenplay.fountain: fountain (the file name ends in" in result.stdout
    assert "LAST CALL AT THE COMET" in result.stdout and "edward" in result.stdout
    bad = runner.invoke(app, [*args, "--format", "pdf"])
    assert bad.exit_code == 2 and "format" in bad.stderr and "auto, transcript, fountain, screenplay" in bad.stderr
