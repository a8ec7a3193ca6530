"""Corpus-scale tokenization in bounded memory: chunks of lines, tokenized in order, serially or in worker processes.

The line rules carry a little state from line to line (was there text since the last
``<|endoftext|>``, and a blank line after it?), so every chunk is handed the
:class:`~textgen.text.tokenizer.PlanState` its predecessors leave (:func:`state_after` reads only the
end of a chunk) and chunks can be tokenized independently. Each split starts fresh, as when the
splits are tokenized one after the other. A chunk comes back as its distinct tokens, a uint32 index
into them per position and their counts: the workers do the per-token work, the main process only
maps distinct tokens. The result, chunk after chunk, is exactly ``ScriptTokenizer.tokenize_lines``
of each split.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from textgen.options import cli_flag
from textgen.text.parallel import process_tokenizer
from textgen.text.tokenizer import PlanState, ScriptTokenizer, TokenizerSettings, assemble, state_after
from textgen.text.workers import OrderedWorkers

TRAIN, VAL = "train", "val"
CHUNK_BYTES = 1 << 20  # text per chunk: the unit of work and of memory
_BYTES_PER_PROC = 1 << 20  # below this much text per process, fewer processes


@dataclass(frozen=True)
class Chunk:
    """Consecutive lines of one split, and the rule state the lines before them left."""

    split: str
    lines: list[str]
    state: PlanState


@dataclass
class ChunkTokens:
    """One chunk tokenized: ``tokens[ids[i]]`` is the i-th token; ``counts[j]`` how often ``tokens[j]`` occurs."""

    split: str
    tokens: list[str]
    ids: np.ndarray  # uint32, one per token position
    counts: np.ndarray  # int64, one per distinct token
    lines: int
    bytes: int  # UTF-8 bytes of the lines, each with its newline (what val_bpb divides by)


def sized(blocks: Iterable[list[str]], limit: int) -> Iterator[list[str]]:
    """Regroup blocks of lines into lists of about ``limit`` characters (big blocks are cut by line count)."""
    buf: list[str] = []
    size = 0
    for block in blocks:
        if not block:
            continue
        n = sum(map(len, block)) + len(block)
        if size + n < limit:
            buf.extend(block)
            size += n
            continue
        lines = buf + block if buf else block
        parts = max(1, round((size + n) / limit))
        step = -(-len(lines) // parts)
        for i in range(0, len(lines), step):
            yield lines[i : i + step]
        buf, size = [], 0
    if buf:
        yield buf


def chunks(blocks: Iterable[list[str]], cut: int, lowercase: bool, chunk_bytes: int | None = None) -> Iterator[Chunk]:
    """The corpus's lines as chunks: lines ``[0, cut)`` are training, the rest validation."""
    state = PlanState()
    index = 0
    in_val = False
    for lines in sized(blocks, chunk_bytes or CHUNK_BYTES):
        end = index + len(lines)
        if index < cut < end:
            parts = [(TRAIN, lines[: cut - index]), (VAL, lines[cut - index :])]
        else:
            parts = [(TRAIN if index < cut else VAL, lines)]
        for split, part in parts:
            if split == VAL and not in_val:
                state, in_val = PlanState(), True  # each split is tokenized from a fresh state
            yield Chunk(split, part, state)
            state = state_after(part, lowercase, state)
        index = end


def tokenize_chunk(chunk: Chunk, tokenizer: ScriptTokenizer) -> ChunkTokens:
    """Tokens of one chunk as distinct tokens, an index per position and counts."""
    plan, segments = tokenizer.plan(chunk.lines, chunk.state)
    tokens = assemble(plan, tokenizer.segment_tokens(segments))
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(t, len(index)) for t in tokens), dtype=np.uint32, count=len(tokens))
    counts = np.bincount(ids, minlength=len(index)).astype(np.int64)
    n_bytes = len("\n".join(chunk.lines).encode("utf-8")) + 1 if chunk.lines else 0
    return ChunkTokens(chunk.split, list(index), ids, counts, len(chunk.lines), n_bytes)


def _work(chunk: Chunk, settings: dict[str, Any]) -> ChunkTokens:
    return tokenize_chunk(chunk, process_tokenizer(settings))


def default_procs(n_bytes: int) -> int:
    """Tokenizer processes worth starting for ``n_bytes`` of text (1: tokenize in this process)."""
    return max(1, min(os.cpu_count() or 1, n_bytes // _BYTES_PER_PROC))


def tokenize_chunks(chunks: Iterable[Chunk], settings: TokenizerSettings, num_proc: int = 1) -> Iterator[ChunkTokens]:
    """Each chunk tokenized, in order; with ``num_proc`` > 1 in that many worker processes.

    At most ``num_proc`` chunks are in flight, so memory stays at a few chunks whatever the corpus
    size. spaCy loads here first (an unknown language fails before any process starts).
    """
    tokenizer = process_tokenizer(settings.to_dict())
    if num_proc <= 1:
        for chunk in chunks:
            yield tokenize_chunk(chunk, tokenizer)
        return
    methods = multiprocessing.get_all_start_methods()
    # fork: the workers inherit the loaded spaCy pipeline (datasets.map forks the same way)
    context = multiprocessing.get_context("fork" if sys.platform == "linux" and "fork" in methods else "spawn")
    hint = f"rerun with fewer processes ({cli_flag('num_proc')} 1 tokenizes in this process)"
    with OrderedWorkers(functools.partial(_work, settings=settings.to_dict()), num_proc, context, hint) as workers:
        yield from workers.map(chunks)  # leaving early (an error, Ctrl-C) kills the workers
