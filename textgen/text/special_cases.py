"""Where spaCy's words interact: special cases whose pieces stand on both sides of a space.

spaCy tokenizes each whitespace-separated word alone, then looks for special cases (``:)``, ``(:``,
``mr.``) over the token sequence of the whole text. A match across a space (``( :)`` holds ``(:``)
is dropped, but it first wins over the match it overlaps (``:)``), so ``( :)`` splits otherwise than
``:)`` alone. A match across a space needs, at some space, a word ending in one piece of a key and
the next word starting with the key's following piece (the pieces are the key as spaCy splits it
without special cases: the pattern its matcher looks for). :class:`CrossSpaceCases` finds such
pairs of words, so that only text holding one goes to spaCy whole and every other word can be cached.
"""

from __future__ import annotations

import itertools
from typing import Any

NONE: frozenset[int] = frozenset()


class CrossSpaceCases:
    """The (piece, next piece) pairs of a tokenizer's special cases, looked up by word edges."""

    def __init__(self, nlp: Any) -> None:
        from spacy.tokenizer import Tokenizer

        tokenizer = nlp.tokenizer
        bare = Tokenizer(
            nlp.vocab,
            rules=None,
            prefix_search=tokenizer.prefix_search,
            suffix_search=tokenizer.suffix_search,
            infix_finditer=tokenizer.infix_finditer,
            token_match=tokenizer.token_match,
            url_match=tokenizer.url_match,
        )
        pairs = sorted(
            {(a, b) for key in tokenizer.rules or {} for a, b in itertools.pairwise(t.text for t in bare(key))}
        )
        self.ends: dict[str, frozenset[int]] = _index(a for a, _ in pairs)
        self.starts: dict[str, frozenset[int]] = _index(b for _, b in pairs)
        self._end_sizes = sorted({len(a) for a in self.ends})
        self._start_sizes = sorted({len(b) for b in self.starts})

    def edges(self, word: str) -> tuple[frozenset[int], frozenset[int]]:
        """The pairs ``word`` can end (as the piece before a space) and start (as the piece after one)."""
        return (
            _union(self.ends.get(word[-n:]) for n in self._end_sizes if n <= len(word)),
            _union(self.starts.get(word[:n]) for n in self._start_sizes if n <= len(word)),
        )


def _index(pieces: Any) -> dict[str, frozenset[int]]:
    index: dict[str, set[int]] = {}
    for pair_id, piece in enumerate(pieces):
        index.setdefault(piece, set()).add(pair_id)
    return {piece: frozenset(ids) for piece, ids in index.items()}


def _union(sets: Any) -> frozenset[int]:
    found = [s for s in sets if s]
    if not found:
        return NONE
    return found[0] if len(found) == 1 else frozenset().union(*found)
