"""Corpora: the named registry (``corpora/registry.toml``), local files, downloads, HF datasets.

``load_corpus(spec)`` returns plain script text (``speaker: line``, documents joined by
``<|endoftext|>`` lines) with its source, sha256 and licence; ``split_lines`` makes the
line-based train/validation split of ``BENCHMARK.md``.
"""

from textgen.corpus.base import DOC_SEPARATOR, CorpusText, split_lines
from textgen.corpus.load import load_corpus
from textgen.corpus.registry import CorpusEntry, default_corpus, list_corpora

__all__ = [
    "DOC_SEPARATOR",
    "CorpusEntry",
    "CorpusText",
    "default_corpus",
    "list_corpora",
    "load_corpus",
    "split_lines",
]
