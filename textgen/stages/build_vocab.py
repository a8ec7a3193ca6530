"""Stage one: corpus -> tokens -> vocabulary lookup tables and id arrays in the run dir.

Writes ``train_ids.npy``, ``val_ids.npy``, ``vocab.json`` and, last, ``corpus.json`` (the card),
each atomically. Vocabulary and counts come from the training split only.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import __version__, io
from textgen.errors import UsageError
from textgen.rundir import RunDir
from textgen.text.parallel import tokenize_lines_parallel
from textgen.text.symbols import is_speaker
from textgen.text.tokenizer import TokenizerSettings
from textgen.vocab import Vocab

Progress = Callable[[str], None]
# renamed into place in reverse order: corpus.json (the stage's completion mark) last
_OUTPUTS = ("corpus.json", "vocab.json", "val_ids.npy", "train_ids.npy")


@dataclass
class VocabResult:
    """What ``build_vocab`` made, for summaries and the pipeline lock."""

    run_dir: Path
    vocab: Vocab
    card: dict[str, Any]
    top_speakers: list[tuple[str, int]] = field(default_factory=list)


def text_bytes(lines: list[str]) -> int:
    """UTF-8 bytes of ``lines`` as a text, each line with its newline (the val_bpb denominator)."""
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def build_vocab(
    corpus: str = "seinfeld",
    run_dir: str | Path | None = None,
    *,
    min_count: int = 1,
    max_vocab: int | None = None,
    val_fraction: float = 0.05,
    lowercase: bool | None = None,
    lang: str = "en",
    encoding: str = "utf-8",
    seed: int = 0,
    num_proc: int | None = None,
    offline_path: Path | None = None,
    progress: Progress | None = None,
    download_progress: Callable[[int, int | None], None] | None = None,
) -> VocabResult:
    """Tokenize ``corpus``, split it by lines, build the vocabulary on the training split, save all."""
    from textgen.corpus import load_corpus, split_lines

    Vocab.check_limits(min_count, max_vocab)  # fail before the slow work
    if num_proc is not None and num_proc < 1:
        raise UsageError(f"--num-proc must be at least 1, got {num_proc}")
    rd = RunDir.of(run_dir)
    rd.ensure_writable()
    say = progress or (lambda _msg: None)
    start = time.perf_counter()

    say("loading corpus")
    text = load_corpus(corpus, encoding=encoding, offline_path=offline_path, progress=download_progress)
    train_lines, val_lines = split_lines(text.text, val_fraction)
    settings = TokenizerSettings(lang=lang, lowercase=text.lowercase if lowercase is None else lowercase)

    say("tokenizing")
    t0 = time.perf_counter()
    train_tokens = tokenize_lines_parallel(train_lines, settings, num_proc=num_proc)
    val_tokens = tokenize_lines_parallel(val_lines, settings, num_proc=num_proc) if val_lines else []
    tokenize_seconds = time.perf_counter() - t0
    if not train_tokens:
        raise UsageError(f"the training split of {corpus!r} has no tokens; lower --val-fraction or use a larger corpus")

    say("building vocabulary")
    counts = Counter(train_tokens)
    vocab = Vocab.build(counts, min_count=min_count, max_vocab=max_vocab, tokenizer=settings)
    train_ids = vocab.encode(train_tokens)
    val_ids = vocab.encode(val_tokens)
    unk = vocab.unk_id
    train_covered = float((train_ids != unk).mean())
    val_oov = float((val_ids == unk).mean()) if len(val_ids) else 0.0
    speakers = sorted(((t, c) for t, c in counts.items() if is_speaker(t)), key=lambda tc: (-tc[1], tc[0]))

    card = {
        "name": text.name,
        "source": text.source,
        "licence": text.licence,
        "sha256": text.sha256,
        "bytes": len(text.text.encode("utf-8")),
        "lines": len(train_lines) + len(val_lines),
        "documents": text.documents,
        "val_fraction": val_fraction,
        "train_lines": len(train_lines),
        "val_lines": len(val_lines),
        "train_bytes": text_bytes(train_lines),
        "val_bytes": text_bytes(val_lines),
        "tokens": len(train_tokens) + len(val_tokens),
        "train_tokens": len(train_tokens),
        "val_tokens": len(val_tokens),
        "vocab_size": len(vocab),
        "train_coverage": train_covered,
        "val_oov_rate": val_oov,
        "speakers": len(speakers),
        "tokenizer": settings.to_dict(),
        "min_count": min_count,
        "max_vocab": max_vocab,
        "seed": seed,
        "tokenize_seconds": round(tokenize_seconds, 3),
        "tokens_per_second": round((len(train_tokens) + len(val_tokens)) / max(tokenize_seconds, 1e-9)),
        "textgen_version": __version__,
    }
    say("writing artifacts")
    card["seconds"] = round(time.perf_counter() - start, 3)
    # Everything is written to temporary files first and renamed in one quick burst at the end,
    # corpus.json last: a failure while writing leaves the previous artifacts as they were.
    with contextlib.ExitStack() as stack:
        paths = {name: stack.enter_context(io.atomic_path(rd / name)) for name in _OUTPUTS}
        io.write_json(paths["corpus.json"], card)
        io.write_json(paths["vocab.json"], vocab.to_dict())
        io.write_npy(paths["val_ids.npy"], val_ids)
        io.write_npy(paths["train_ids.npy"], train_ids)
    return VocabResult(rd.root, vocab, card, speakers[:10])
