"""Prime parsing and readable rendering, including a round trip of generated text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import vocab_run

import textgen
from textgen.decode.render import prime_tokens, proper_names, render, script_tokens, truecase
from textgen.errors import UnknownWordError, UsageError
from textgen.text import symbols
from textgen.text.detokenize import surface
from textgen.text.tokenizer import ScriptTokenizer
from textgen.vocab import Vocab


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.load(vocab_run() / "vocab.json")


def test_lone_speaker_name_starts_a_turn_else_the_word(vocab: Vocab) -> None:
    assert prime_tokens("maya", vocab) == ["maya:"]
    assert prime_tokens("  Maya ", vocab) == ["maya:"]  # lower-cased like the corpus
    assert prime_tokens("the", vocab) == ["the"]  # no `the:` speaker: the word itself
    assert prime_tokens("maya: okay, everybody", vocab) == ["maya:", "okay", "||comma||", "everybody"]
    assert prime_tokens("okay maya", vocab) == ["okay", "maya"]  # several words, fed in order


def test_unknown_and_empty_primes(vocab: Vocab) -> None:
    with pytest.raises(UnknownWordError, match=r"'sourdoh' is not in the vocabulary; closest: sourdough"):
        prime_tokens("maya: my sourdoh", vocab)
    with pytest.raises(UsageError, match="--prime is empty"):
        prime_tokens("   ", vocab)


def test_render_script_layout() -> None:
    tokens = [
        "maya:", "||left_parentheses||", "holding", "a", "jar", "||right_parentheses||", "okay", "||comma||",
        "this", "is", "gerald", "||period||", "<laugh>", "||turn||", "theo:", "you", "named", "the", "bread",
        "||question_mark||", "gus:", "i", "did", "n't", "||exclamation_mark||", "<eos>", "never", "shown",
    ]  # fmt: skip
    assert render(tokens, names=frozenset({"gerald"})) == (
        "Maya: (holding a jar) Okay, this is Gerald. [laughter]\n\nTheo: You named the bread?\n\nGus: I didn't!\n"
    )
    plain = render(tokens, restore_case=False)
    assert plain.startswith("maya: (holding a jar) okay, this is gerald. [laughter]\n\ntheo:")
    assert "never" not in plain  # nothing after <eos>


def test_script_tokens_and_truecase_rules() -> None:
    assert script_tokens(["a", "<pad>", "<unk>", "jerry:", "b"]) == ["a", symbols.TURN, "jerry:", "b"]
    lp, rp = "||left_parentheses||", "||right_parentheses||"
    got = truecase(["mr._pitt:", "i", "said", "||period||", "so", lp, "i", "sit", rp, "now"])
    assert got == ["Mr._Pitt:", "I", "said", "||period||", "So", lp, "I", "sit", rp, "now"]


def test_proper_names_come_from_speakers(vocab: Vocab) -> None:
    names = proper_names(vocab)
    assert {"maya", "theo", "gus", "priya"} <= names
    assert "the" not in names


def test_generated_text_detokenizes_faithfully(any_run: Path) -> None:  # noqa: F811
    """Rendering keeps every token's text in order and only decides spacing and line layout."""
    gen = textgen.load(any_run, device="cpu")
    out = gen.generate("maya", length=150, seed=4, num_samples=4, temperature=1.3, top_p=1.0)
    tokenizer = ScriptTokenizer(gen.vocab.tokenizer)
    seen: Counter[str] = Counter()
    for sample in out.samples:
        shown = script_tokens(out.prime_tokens + sample.tokens)
        text = render(shown, restore_case=False)
        glyphs = "".join(surface(t) for t in shown if t not in (symbols.TURN, symbols.RETURN))
        assert "".join(text.split()) == "".join(glyphs.split())  # every token's text, in order
        body = list(shown)
        while body and body[-1] in (symbols.TURN, symbols.RETURN):  # the text ends with one line break
            body.pop()
        assert text.count("\n\n") >= body.count(symbols.TURN)  # one blank line per turn break
        for line in text.splitlines():  # speakers only ever open a line
            assert not any(symbols.is_speaker(t) for t in tokenizer.tokenize(line)[1:]), line
        seen.update(shown)
    assert seen[symbols.TURN] > 0 and any(symbols.is_speaker(t) for t in seen)
    assert any(symbols.punct_text(t) for t in seen)
