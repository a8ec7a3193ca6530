"""The script tokenizer: named punctuation, speakers, breaks, markers, and the round trip."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgen.text import ScriptTokenizer, TokenizerSettings, detokenize
from textgen.text.detokenize import normal_form
from textgen.text.parallel import tokenize_lines_parallel
from textgen.text.symbols import EOS, LAUGH, RETURN, TURN, punct_text, punct_token

_TOK = ScriptTokenizer()


@pytest.fixture(scope="module")
def tok() -> ScriptTokenizer:
    return _TOK


def test_classic_punctuation_becomes_named_tokens(tok: ScriptTokenizer) -> None:
    tokens = tok.tokenize('well. yes, "no"; wow! what? (sighs) so - well... -- ok: it\'s')
    for name in (
        "period",
        "comma",
        "quotation_mark",
        "semicolon",
        "exclamation_mark",
        "question_mark",
        "left_parentheses",
        "right_parentheses",
        "dash",
        "ellipsis",
        "double_dash",
        "colon",
    ):
        assert f"||{name}||" in tokens, name
    assert "'s" in tokens


def test_hyphenated_words_stay_whole(tok: ScriptTokenizer) -> None:
    expected = ["co-op", "e-mail", "x", "||dash||", "y", "a", "||double_dash||", "b"]
    assert tok.tokenize("co-op e-mail x - y a--b") == expected


def test_other_symbols_are_named_by_unicode_and_reversible() -> None:
    for sym in ["*", "$", "&", "#", "%", "…", "—", "?!"]:
        token = punct_token(sym)
        assert token.startswith("||") and token.endswith("||") and " " not in token
        assert punct_text(token) == sym


def test_speaker_token_is_distinct_from_the_word(tok: ScriptTokenizer) -> None:
    tokens = tok.tokenize("jerry: hello jerry.\nmr. pitt: nice")
    assert tokens[0] == "jerry:" and "jerry" in tokens[1:]
    assert "mr._pitt:" in tokens
    assert tokens.index(RETURN) < tokens.index("mr._pitt:")


def test_speakers_off_keeps_the_word(tok: ScriptTokenizer) -> None:
    plain = ScriptTokenizer(TokenizerSettings(speakers=False))
    assert plain.tokenize("jerry: hi")[:2] == ["jerry", "||colon||"]


def test_breaks_turns_and_markers(tok: ScriptTokenizer) -> None:
    tokens = tok.tokenize("a: one\ntwo\n\n\n\nb: three [laughter]\n<|endoftext|>\nc: four")
    assert tokens == ["a:", "one", RETURN, "two", TURN, "b:", "three", LAUGH, EOS, "c:", "four"]


def test_no_token_contains_whitespace(tok: ScriptTokenizer) -> None:
    tokens = tok.tokenize("a  b\tc\u00a0d \u2003 e:\n\n f  ...  g")
    assert tokens and all(t and not any(c.isspace() for c in t) for t in tokens)


def test_lowercase_setting() -> None:
    upper = ScriptTokenizer(TokenizerSettings(lowercase=False)).tokenize("JERRY: Hello")
    lower = ScriptTokenizer(TokenizerSettings(lowercase=True)).tokenize("JERRY: Hello")
    assert upper == ["JERRY:", "Hello"] and lower == ["jerry:", "hello"]


def test_detokenize_reads_like_a_script(tok: ScriptTokenizer) -> None:
    text = "jerry: don't you know... it's \"fine\" (laughs) [laughter]\n\nelaine: get out!\n"
    assert detokenize(tok.tokenize(text)) == text


def test_fixture_corpus_round_trip(tok: ScriptTokenizer, fixture_text: str) -> None:
    tokens = tok.tokenize(fixture_text)
    back = detokenize(tokens)
    assert normal_form(back) == normal_form(fixture_text)
    assert tok.tokenize(back) == tokens


def test_parallel_tokenization_matches_serial(tok: ScriptTokenizer, fixture_text: str) -> None:
    lines = fixture_text.splitlines()
    assert tokenize_lines_parallel(lines, tok.settings, num_proc=2) == tok.tokenize_lines(lines)
    assert tokenize_lines_parallel([], tok.settings) == []


_WORDS = st.sampled_from(
    [
        "jerry",
        "george",
        "hello",
        "it's",
        "don't",
        "i'm",
        "gonna",
        "what",
        "the",
        "a.m.",
        "3.5",
        "co-op",
        "$5",
        "[laughter]",
        "café",
        "naïve",
        "über",
        "x",
        "ok",
        "e-mail",
        "mr.",
    ]
)
_PUNCT = st.sampled_from([".", ",", "!", "?", ";", ":", "...", "--", "-", '"', "'", "(", ")", "*", "&", "…"])
_SPACE = st.sampled_from(["", " ", "  ", "\t", " \u00a0"])
_GAP = st.sampled_from([" ", "  ", "\t", " \u00a0"])
_BEFORE = st.sampled_from(["", "", "", "(", '"'])
_AFTER = st.sampled_from(["", "", "", ".", ",", "!", "?", "...", '!"', ")", ";", "?!", " --", " -"])


@st.composite
def _script_lines(draw: st.DrawFn, natural: bool) -> str:
    """Script-like lines; ``natural`` spaces words as people write them, else anything goes."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["turn", "blank", "plain", "eos"]))
        if kind == "blank":
            lines.append(draw(_SPACE))
            continue
        if kind == "eos":
            lines.append("<|endoftext|>")
            continue
        parts = []
        if kind == "turn":
            parts.append(draw(st.sampled_from(["jerry", "mr. pitt", "elaine", "Kramer"])) + ":" + draw(_SPACE) + " ")
        for _ in range(draw(st.integers(1, 8))):
            if natural:
                parts.append(draw(_BEFORE) + draw(_WORDS) + draw(_AFTER) + draw(_GAP))
            else:
                parts.append(draw(st.one_of(_WORDS, _PUNCT)) + draw(_SPACE))
        lines.append("".join(parts))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_script_lines(natural=False))
def test_round_trip_keeps_everything_but_spacing(text: str) -> None:
    tokens = _TOK.tokenize(text)
    assert normal_form(detokenize(tokens)) == normal_form(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_script_lines(natural=True))
def test_naturally_spaced_text_gives_back_the_same_tokens(text: str) -> None:
    tok = _TOK
    tokens = tok.tokenize(text)
    back = detokenize(tokens)
    assert normal_form(back) == normal_form(text)
    assert tok.tokenize(back) == tokens


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="_"), max_size=80))
def test_any_text_never_yields_whitespace_tokens_and_keeps_its_characters(text: str) -> None:
    tokens = _TOK.tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert normal_form(detokenize(tokens)) == normal_form(text)


WORDISH = st.lists(
    st.sampled_from(list("abcXYZ019'\".,;:!?-—–~()[]{}<>/\\@#$%&*+=_|^`") + [" ", "  ", "\t", "\xa0", "é", "…"]),
    max_size=40,
).map("".join)
# every special case spaCy's English tokenizer knows, and a few words that are none
SPECIAL_CASES = sorted({*_TOK._nlp.tokenizer.rules, "co-op", "n't", "y'all"})


@pytest.fixture(scope="module")
def tokenizers() -> dict[bool, ScriptTokenizer]:
    return {cased: ScriptTokenizer(TokenizerSettings(lowercase=not cased)) for cased in (False, True)}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.one_of(WORDISH, st.sampled_from(SPECIAL_CASES)), max_size=6), cased=st.booleans())
def test_word_cache_gives_spacys_tokens(tokenizers: dict[bool, ScriptTokenizer], parts: list[str], cased: bool) -> None:
    """segment_tokens (word by word, cached) and spaCy over the whole segment always agree."""
    tok = tokenizers[cased]
    segments = [" ".join(parts), "".join(parts), *parts]
    assert list(tok.segment_tokens(segments)) == list(tok.spacy_segment_tokens(segments))
    assert list(tok.segment_tokens(segments)) == list(tok.spacy_segment_tokens(segments))  # from the cache


@pytest.mark.parametrize("segment", ["( :)!(", "( =)bé", ") :1]", "x( :(,a", ": ):~", "(;`: ( ;)0", "mr .", "jerry' s"])
def test_special_case_pieces_across_a_space_read_as_spacy_does(tok: ScriptTokenizer, segment: str) -> None:
    """A space inside a special case's pattern (``( :)`` holds ``(:``) changes how spaCy splits the rest."""
    assert list(tok.segment_tokens([segment])) == list(tok.spacy_segment_tokens([segment]))


def test_words_without_special_case_pieces_across_a_space_are_cached(tok: ScriptTokenizer) -> None:
    tok._words.clear()
    segment = "well, hello there :) ( :)"
    assert list(tok.segment_tokens([segment])) == list(tok.spacy_segment_tokens([segment]))
    assert set(tok._words) == {"well,", "hello", "there", ":)", "("}  # read alone until the space inside "(:"


def test_word_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from textgen.text import tokenizer as module

    monkeypatch.setattr(module, "_WORD_CACHE", 5)
    tok = ScriptTokenizer()
    words = [f"w{i}" for i in range(23)]
    assert list(tok.segment_tokens([" ".join(words)])) == [words]
    assert len(tok._words) <= 5
