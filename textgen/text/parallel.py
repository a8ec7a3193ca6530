"""Corpus-scale tokenization: script rules in this process, spaCy batched through ``datasets.map``.

The line-level rules (breaks, speakers, markers) are cheap and order-dependent, so they run here;
the spaCy segments go through ``Dataset.map(batched=True, num_proc=N)`` with one ``spacy.blank``
per worker process. The result is identical to :meth:`ScriptTokenizer.tokenize_lines`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from textgen.text.tokenizer import ScriptTokenizer, TokenizerSettings, assemble

_WORKER_TOKENIZERS: dict[tuple[Any, ...], ScriptTokenizer] = {}
_MIN_SEGMENTS_PER_PROC = 20_000


def process_tokenizer(settings: dict[str, Any]) -> ScriptTokenizer:
    """The tokenizer for ``settings`` in this process (one spaCy pipeline per process and settings)."""
    key = tuple(sorted(settings.items()))
    if key not in _WORKER_TOKENIZERS:
        _WORKER_TOKENIZERS[key] = ScriptTokenizer(TokenizerSettings.from_dict(settings))
    return _WORKER_TOKENIZERS[key]


def _tokenize_batch(batch: dict[str, list[str]], settings: dict[str, Any]) -> dict[str, list[list[str]]]:
    tok = process_tokenizer(settings)
    # tokens never contain whitespace, so one space-joined string per segment is lossless and
    # far cheaper for Arrow than a list column
    return {"tokens": [" ".join(tokens) for tokens in tok.segment_tokens(batch["text"])]}


def default_num_proc(n_segments: int) -> int:
    """Worker processes worth starting for ``n_segments`` (1 for small inputs)."""
    return max(1, min(os.cpu_count() or 1, n_segments // _MIN_SEGMENTS_PER_PROC))


def tokenize_lines_parallel(
    lines: Sequence[str], settings: TokenizerSettings, num_proc: int | None = None, batch_size: int = 2000
) -> list[str]:
    """Tokens of ``lines``; spaCy work fans out over ``num_proc`` processes via ``datasets``."""
    import datasets

    plan, segments = process_tokenizer(settings.to_dict()).plan(lines)  # cached: spaCy loads once per process
    if not segments:
        return [item for item in plan if isinstance(item, str)]
    procs = num_proc if num_proc is not None else default_num_proc(len(segments))
    progress_was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        ds = datasets.Dataset.from_dict({"text": segments})
        mapped = ds.map(
            _tokenize_batch,
            batched=True,
            batch_size=batch_size,
            num_proc=procs if procs > 1 else None,
            remove_columns=["text"],
            fn_kwargs={"settings": settings.to_dict()},
            new_fingerprint=f"textgen-tokenize-{len(segments)}-{procs}",
            keep_in_memory=True,
        )
        pieces: list[str] = mapped.data.column("tokens").to_pylist()
    finally:
        if progress_was_enabled:
            datasets.enable_progress_bars()
    return assemble(plan, (piece.split(" ") if piece else [] for piece in pieces))
