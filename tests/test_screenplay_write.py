"""Fountain out: the renderer, its round trip through fountain-py, priming with a cue and a heading, the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from textgen.cli import app
from textgen.corpus.screenplay.fountain import parse_fountain
from textgen.decode.fountain import element_lines, render_fountain, write_fountain
from textgen.decode.render import prime_tokens
from textgen.steps.generate import GenerateConfig
from textgen.text import ScriptTokenizer, TokenizerSettings, symbols
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
    elements_from_tokens,
    script_text,
)
from textgen.vocab import Vocab

FOUNTAIN = REPO / "corpora" / "fixtures" / "screenplay.fountain"
runner = CliRunner()


@pytest.fixture(scope="module")
def fixture_script():  # type: ignore[no-untyped-def]
    return parse_fountain(FOUNTAIN.read_text(encoding="utf-8"), FOUNTAIN.name)


def _squash(elements: list[Element]) -> list[tuple[str, str, str, tuple[str, ...], bool, tuple[tuple[str, str], ...]]]:
    """Elements with spacing taken out (the detokenizer's spacing is normalised, like ``normal_form``)."""

    def sq(text: str) -> str:
        return "".join(text.split())

    return [
        (e.kind, sq(e.text), e.speaker, e.extensions, e.dual, tuple((p.kind, sq(p.text)) for p in e.parts))
        for e in elements
    ]


def test_written_fountain_reads_back_as_the_same_elements(fixture_script) -> None:  # type: ignore[no-untyped-def]
    text = write_fountain(fixture_script.elements, fixture_script.title_page, upper=False)
    back = parse_fountain(text, "written.fountain")
    assert back.elements == fixture_script.elements
    assert back.title_page == fixture_script.title_page


@pytest.mark.parametrize("lowercase", [False, True])
def test_tokens_to_fountain_and_back(fixture_script, lowercase: bool) -> None:  # type: ignore[no-untyped-def]
    tok = ScriptTokenizer(TokenizerSettings(lowercase=lowercase))
    tokens = tok.tokenize(script_text(fixture_script.elements))
    fountain = render_fountain(tokens, restore_case=lowercase)
    back = parse_fountain(fountain, "rendered.fountain")
    assert tok.tokenize(script_text(back.elements)) == tokens  # the same tokens: nothing gained or lost
    if not lowercase:
        assert _squash(back.elements) == _squash(fixture_script.elements)  # the same elements, spacing aside
    else:
        assert [e.kind for e in back.elements] == [e.kind for e in fixture_script.elements]
        assert "EDWARD (V.O.)" in fountain and "MARGOT ^" in fountain and "> The end <" in fountain


def test_elements_of_generated_token_streams() -> None:
    tokens = [
        "edward:",
        symbols.EXT,
        "(",
        "on",
        "radio",
        ")",
        "hi",
        "(",
        "beat",
        ")",
        "there",
        "margot:",
        symbols.DUAL,
        "no",
        symbols.TURN,
        symbols.SCENE,
        "int",
        ".",
        "diner",
        symbols.ACTION,
        "rain",
        symbols.RETURN,
        "falls",
        symbols.TURN,
        "toby:",
        symbols.TURN,
        symbols.LYRIC,
        "la",
        symbols.LYRIC,
        "da",
        symbols.TURN,
        "just",
        "words",
        symbols.VO,
        symbols.TURN,
        symbols.TRANSITION,
        "cut",
        "to",
        ":",
        symbols.TURN,
        "margot:",
        "(",
        "to",
        symbols.OS,
        "a",
        symbols.LYRIC,
        "la",
    ]
    tokens = [symbols.punct_token(t) if t in "().:" else t for t in tokens]
    got = elements_from_tokens(tokens)
    assert got == [
        Element(
            SPEECH,
            speaker="edward",
            extensions=("on radio",),
            parts=(Part(DIALOGUE, "hi"), Part(PAREN, "beat"), Part(DIALOGUE, "there")),
        ),
        Element(SPEECH, speaker="margot", dual=True, parts=(Part(DIALOGUE, "no"),)),  # a speaker mid-line: new speech
        Element(SCENE, text="int. diner"),
        Element(ACTION, text="rain"),
        Element(ACTION, text="falls"),
        Element(SPEECH, speaker="toby"),  # cut off after its cue
        Element(LYRICS, parts=(Part(LYRIC, "la"), Part(LYRIC, "da"))),
        Element(ACTION, text="just words"),  # untagged text is action; a stray extension says nothing
        Element(TRANSITION, text="cut to:"),
        Element(SPEECH, speaker="margot", parts=(Part(PAREN, "to a"), Part(LYRIC, "la"))),  # markers inside ( ... )
    ]
    fountain = write_fountain(got)
    assert "EDWARD (ON RADIO)\nhi\n(beat)\nthere" in fountain and "MARGOT ^\nno" in fountain
    assert "TOBY\n..." in fountain  # a cue needs a line below it
    kinds = [e.kind for e in parse_fountain(fountain).elements]
    assert kinds == [SPEECH, SPEECH, SCENE, ACTION, ACTION, SPEECH, LYRICS, ACTION, TRANSITION, SPEECH]


@pytest.mark.parametrize(
    "element, line",
    [
        (Element(ACTION, text="BANG. BANG."), "!BANG. BANG."),  # all caps: would be a cue or transition
        (Element(ACTION, text="INT. not a heading"), "!INT. not a heading"),
        (Element(ACTION, text="~not a lyric"), "!~not a lyric"),
        (Element(ACTION, text="a *star* and a_b [[no note]]"), "a \\*star\\* and a\\_b [ [no note] ]"),
        (Element(SCENE, text="flashback - day"), ".FLASHBACK - DAY"),
        (Element(SCENE, text="i / e doorway - dawn"), "I/E DOORWAY - DAWN"),
        (Element(TRANSITION, text="fade to black."), "> FADE TO BLACK."),
        (Element(TRANSITION, text="cut to:"), "CUT TO:"),
        (Element(CENTERED, text="The End"), "> The End <"),
    ],
)
def test_forced_and_escaped_lines(element: Element, line: str) -> None:
    assert element_lines(element)[0] == line
    assert [e.kind for e in parse_fountain("\n".join(element_lines(element))).elements] == [element.kind]


def test_mixed_case_cue_is_forced(fixture_script) -> None:  # type: ignore[no-untyped-def]
    mcgraw = next(e for e in fixture_script.elements if e.speaker == "McGRAW")
    assert element_lines(mcgraw, upper=False)[0] == "@McGRAW"
    assert element_lines(mcgraw, upper=True)[0] == "MCGRAW"


def test_output_names_and_format_choice() -> None:
    assert GenerateConfig(primes=("edward",), format="fountain").output_name == "samples.fountain"
    assert GenerateConfig(primes=("edward",)).output_name == "samples.txt"


# ----- a tiny generator trained on the fixture screenplay --------------------------------------


@pytest.fixture(scope="module")
def screenplay_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from textgen import steps
    from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
    from textgen.lm.train import train_generator

    run = tmp_path_factory.mktemp("screenplay_run")
    steps.run("build-vocab", run, corpus="screenplay-fixture", num_proc=1, val_fraction=0.1)
    model = ModelConfig(arch="lstm", layers=1, emb_dim=24, hidden=32, softmax="full")
    train = TrainConfig(
        batch_size=8, bptt=16, epochs=3, embeddings="none", eval_every=100, device="cpu", seed=0, threads=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_generator(run, GeneratorConfig(model, train))
    return run


def test_priming_with_a_cue_and_a_heading(screenplay_run: Path) -> None:
    vocab = Vocab.load(screenplay_run / "vocab.json")
    assert prime_tokens("edward", vocab) == ["edward:"]
    assert prime_tokens("EDWARD (V.O.)", vocab) == ["edward:", symbols.VO]
    heading = prime_tokens("INT. COMET DINER - NIGHT", vocab)
    assert heading[0] == symbols.SCENE and heading[1:] == ScriptTokenizer().tokenize("int. comet diner - night")


def _body(fountain: str) -> list[Element]:
    return parse_fountain(fountain, "generated.fountain").elements


def test_generate_fountain_starts_the_cue_and_the_scene(screenplay_run: Path, tmp_path: Path) -> None:
    base = ["generate", "--run-dir", str(screenplay_run), "--length", "60", "--seed", "3", "--format", "fountain"]
    cue = runner.invoke(app, [*base, "--prime", "edward"])
    assert cue.exit_code == 0, cue.output
    assert cue.stdout.startswith("Title: textgen sample\n") and "Notes: prime 'edward', seed 3" in cue.stdout
    first = _body(cue.stdout)[0]
    assert first.kind == SPEECH and first.speaker == "EDWARD"
    scene = runner.invoke(app, [*base, "--prime", "INT. COMET DINER - NIGHT"])
    assert scene.exit_code == 0, scene.output
    first = _body(scene.stdout)[0]
    assert first.kind == SCENE and first.text.startswith("INT. COMET DINER - NIGHT")  # and what the model adds
    again = runner.invoke(app, [*base, "--prime", "edward"])
    assert again.stdout == cue.stdout  # seeded: the same screenplay


def test_out_dot_fountain_writes_fountain(screenplay_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "scene.fountain"
    args = [
        "generate",
        "--run-dir",
        str(screenplay_run),
        "--prime",
        "margot",
        "--length",
        "40",
        "--seed",
        "1",
        "--num-samples",
        "2",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "[[prime 'margot', sample 2 of 2, seed 1]]" in text and "\n===\n" in text
    speeches = [e for e in _body(text) if e.kind == SPEECH]
    assert speeches and speeches[0].speaker == "MARGOT"
    plain = tmp_path / "scene.txt"
    assert runner.invoke(app, [*args[:-1], str(plain)]).exit_code == 0
    assert plain.read_text(encoding="utf-8").startswith("=== prime 'margot'")  # --format text keeps today's layout


def test_pipeline_stage_writes_samples_fountain(screenplay_run: Path) -> None:
    from textgen import steps

    steps.run("generate", screenplay_run, primes=("edward",), length=30, seed=0, format="fountain")
    text = (screenplay_run / "samples.fountain").read_text(encoding="utf-8")
    assert _body(text)[0].speaker == "EDWARD"


# ----- any screenplay: elements -> script text -> tokens -> elements, and -> Fountain -> elements ----

_WORD = st.sampled_from(["rain", "falls", "Edward", "pie", "cherry", "the", "night", "is", "old", "comet", "9", "it's"])
_END = st.sampled_from(["", ".", "!", "?", ",", "..."])
_NAME = st.sampled_from(["EDWARD", "MARGOT", "RADIO HOST", "TOBY", "DETECTIVE MCGRAW"])


@st.composite
def _sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORD, min_size=1, max_size=6))
    return " ".join(words) + draw(_END)


@st.composite
def _element(draw: st.DrawFn) -> Element:
    kind = draw(st.sampled_from([SCENE, ACTION, SPEECH, TRANSITION, CENTERED, LYRICS]))
    if kind == SCENE:
        prefix = draw(st.sampled_from(["INT.", "EXT.", "I/E", "EST."]))
        return Element(SCENE, text=f"{prefix} {draw(_sentence()).upper()}")
    if kind == TRANSITION:
        transitions = ["CUT TO:", "SMASH CUT TO:", "FADE OUT.", "FADE TO BLACK."]
        return Element(TRANSITION, text=draw(st.sampled_from(transitions)))
    if kind in (ACTION, CENTERED):
        return Element(kind, text=draw(_sentence()))
    if kind == LYRICS:
        return Element(LYRICS, parts=tuple(Part(LYRIC, s) for s in draw(st.lists(_sentence(), min_size=1, max_size=3))))
    parts: list[Part] = []
    for part_kind in draw(st.lists(st.sampled_from([DIALOGUE, PAREN, LYRIC]), min_size=1, max_size=4)):
        if part_kind == DIALOGUE and parts and parts[-1].kind == DIALOGUE:
            continue  # two dialogue runs in a row are one
        parts.append(Part(part_kind, draw(_sentence())))
    exts = tuple(draw(st.lists(st.sampled_from(["vo", "os", "contd", "on the phone"]), max_size=2)))
    return Element(SPEECH, speaker=draw(_NAME), extensions=exts, dual=draw(st.booleans()), parts=tuple(parts))


def _readable(elements: list[Element]) -> list[Element]:
    """Fountain has no dual dialogue without a speech just before it, and no dialogue after a lyric
    line in the same speech (the lyric would run on): leave those out of the random screenplays."""
    out = []
    for e in elements:
        if e.kind == SPEECH:
            if e.dual and not (out and out[-1].kind == SPEECH and not out[-1].dual):
                e = Element(SPEECH, speaker=e.speaker, extensions=e.extensions, parts=e.parts)
            kinds = [p.kind for p in e.parts]
            if LYRIC in kinds and DIALOGUE in kinds[kinds.index(LYRIC) :]:
                continue
        out.append(e)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements=st.lists(_element(), min_size=1, max_size=8))
def test_any_screenplay_round_trips(elements: list[Element]) -> None:
    elements = _readable(elements)
    tok = ScriptTokenizer(TokenizerSettings(lowercase=False))
    tokens = tok.tokenize(script_text(elements))
    assert _squash(elements_from_tokens(tokens)) == _squash(elements)
    fountain = render_fountain(tokens, restore_case=False)
    assert _squash(parse_fountain(fountain).elements) == _squash(elements), fountain


def test_a_dual_cue_whose_half_is_all_lyrics_stays_dual() -> None:
    """fountain-py pairs no dual dialogue when the right half holds only lyrics (found by the property test)."""
    from textgen.corpus.screenplay.fountain import parse_fountain

    speeches = [e for e in parse_fountain("INT. RAIN\n\nEDWARD\nrain\n\nEDWARD ^\n~rain\n").elements if e.speaker]
    assert [e.dual for e in speeches] == [False, True]
