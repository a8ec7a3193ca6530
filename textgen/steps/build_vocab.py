"""Step ``build-vocab``: corpus -> tokens -> vocabulary lookup tables and id arrays in the run dir.

Writes ``train_ids.npy``, ``val_ids.npy``, ``vocab.json`` and ``corpus.json`` (the card), each
atomically; run through :func:`textgen.steps.execute.run_step` they appear together. Vocabulary
and counts come from the training split only. The corpus streams (``corpus/stream.py``,
``text/stream.py``, ``spool.py``): memory is O(vocabulary + a few chunks), not O(corpus).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import __version__, io
from textgen.corpus.screenplay import FORMATS
from textgen.errors import UsageError
from textgen.options import Problem, option
from textgen.rundir import VOCAB_FILES, RunDir
from textgen.spool import IdSpool
from textgen.steps.base import Progress, Step, no_progress
from textgen.text.stream import TRAIN, VAL, chunks, default_procs, tokenize_chunks
from textgen.text.symbols import SPECIALS, is_speaker
from textgen.text.tokenizer import TokenizerSettings
from textgen.vocab import Vocab


@dataclass(frozen=True)
class BuildVocabConfig:
    """How a corpus becomes tokens, a vocabulary and id arrays."""

    corpus: str = option("seinfeld", "Registry name, a path (file, folder, glob) or hf:DATASET.")
    format: str = option(
        "auto",
        "Layout of each document: transcript (speaker: line), fountain, screenplay (indented plain text); "
        "auto detects it per document.",
        choices=FORMATS,
    )
    min_count: int = option(1, "Drop tokens seen fewer times in the training split.", min=1)
    max_vocab: int | None = option(None, "Keep at most this many entries (specials included).")
    val_fraction: float = option(0.05, "Last fraction of lines held out for validation.", gt=0, lt=1)
    lowercase: bool | None = option(None, "Lower-case the text (default: per corpus).")
    lang: str = option("en", "spaCy language code for the blank tokenizer.")
    encoding: str = option("utf-8", "Text encoding of local corpus files (e.g. latin-1).")
    offline_path: str | None = option(
        None, "Local copy of a downloadable corpus (checksum still verified).", tracked=False, metavar="PATH"
    )
    num_proc: int | None = option(None, "Tokenizer processes (default: by corpus size).", min=1, tracked=False)

    def cross_check(self) -> list[Problem]:
        if self.max_vocab is not None and self.max_vocab <= len(SPECIALS):
            return [
                Problem("max_vocab", f"must be more than {len(SPECIALS)} (the special tokens), got {self.max_vocab}")
            ]
        return []


@dataclass
class VocabResult:
    """What ``build-vocab`` made, for summaries."""

    run_dir: Path
    vocab: Vocab
    card: dict[str, Any]
    top_speakers: list[tuple[str, int]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)  # seconds, tokenize_seconds, tokens_per_second


def run(run_dir: Path, config: BuildVocabConfig, progress: Progress = no_progress) -> VocabResult:
    """Stream the corpus twice: count its lines (the split), then tokenize chunk by chunk into spooled ids.

    Memory is the vocabulary plus a few chunks whatever the corpus size; the outputs are the bytes
    a whole-text load would give (``tests/test_build_vocab_stream.py`` checks it).
    """
    from textgen.corpus.base import split_point
    from textgen.corpus.stream import open_corpus

    rd = RunDir.of(run_dir)
    rd.ensure_writable()
    start = time.perf_counter()

    def say(message: str) -> None:
        progress("status", {"message": message})

    def bytes_done(phase: str, done: int, total: int | None) -> None:
        progress("bytes", {"phase": phase, "done": done, "total": total})

    say("reading corpus")
    stream = open_corpus(
        config.corpus,
        encoding=config.encoding,
        offline_path=Path(config.offline_path) if config.offline_path else None,
        progress=lambda done, total: progress("download", {"done": done, "total": total}),
        layout=config.format,
    )
    scan = stream.scan(progress=lambda done, total: bytes_done("reading", done, total))
    cut = split_point(scan.lines, config.val_fraction)
    n_val = scan.lines - cut
    if scan.last_text_line < cut:  # no text in the validation lines
        n = scan.lines
        need = f"--val-fraction {min(0.5, 2 / n):.2g} or more" if n >= 4 else "a corpus of more lines"
        raise UsageError(
            f"the validation split of {config.corpus!r} is empty (the last {n_val} of {n} lines hold "
            f"no text); use {need}, so that val_bpb can be measured"
        )
    lowercase = stream.lowercase if config.lowercase is None else config.lowercase
    settings = TokenizerSettings(lang=config.lang, lowercase=lowercase)
    procs = config.num_proc if config.num_proc is not None else default_procs(scan.bytes)

    say("tokenizing")
    t0 = time.perf_counter()
    split_bytes = {TRAIN: 0, VAL: 0}
    with IdSpool(rd.root, (TRAIN, VAL), counted=TRAIN) as spool:
        parts = chunks(stream.line_blocks(), cut, lowercase)
        for part in tokenize_chunks(parts, settings, num_proc=procs):
            spool.add(part.split, part.tokens, part.ids, part.counts)
            split_bytes[part.split] += part.bytes
            bytes_done("tokenizing", split_bytes[TRAIN] + split_bytes[VAL], scan.bytes)
        tokenize_seconds = time.perf_counter() - t0
        n_train, n_valid = spool.lengths[TRAIN], spool.lengths[VAL]
        if not n_train:
            raise UsageError(
                f"the training split of {config.corpus!r} has no tokens; lower --val-fraction or use a larger corpus"
            )
        say("building vocabulary")
        counts = spool.train_counts()
        vocab = Vocab.build(counts, min_count=config.min_count, max_vocab=config.max_vocab, tokenizer=settings)
        say("writing id arrays")
        unknown = spool.write(
            vocab,
            {TRAIN: rd / "train_ids.npy", VAL: rd / "val_ids.npy"},
            progress=lambda done, total: progress("tokens", {"phase": "writing ids", "done": done, "total": total}),
        )
    speakers = sorted(((t, c) for t, c in counts.items() if is_speaker(t)), key=lambda tc: (-tc[1], tc[0]))

    card = {
        "name": stream.name,
        "source": stream.source,
        "licence": stream.licence,
        "sha256": scan.sha256,
        "source_sha256": scan.source_sha256,  # of the documents as read (differs once screenplays are converted)
        "bytes": scan.bytes,
        "lines": scan.lines,
        "documents": scan.documents,
        "val_fraction": config.val_fraction,
        "train_lines": cut,
        "val_lines": n_val,
        "train_bytes": split_bytes[TRAIN],
        "val_bytes": split_bytes[VAL],
        "tokens": n_train + n_valid,
        "train_tokens": n_train,
        "val_tokens": n_valid,
        "vocab_size": len(vocab),
        "train_coverage": (n_train - unknown[TRAIN]) / n_train,
        "val_oov_rate": unknown[VAL] / n_valid if n_valid else 0.0,
        "speakers": len(speakers),
        "format": config.format,
        **scan.layouts,
        "tokenizer": settings.to_dict(),
        "min_count": config.min_count,
        "max_vocab": config.max_vocab,
        "textgen_version": __version__,
    }  # no timings: the card decides whether later steps rerun, so the same input gives the same bytes
    say("writing artifacts")
    io.write_json(rd / "vocab.json", vocab.to_dict())
    io.write_json(rd / "corpus.json", card)
    timing = {
        "seconds": round(time.perf_counter() - start, 3),
        "tokenize_seconds": round(tokenize_seconds, 3),
        "tokens_per_second": round((n_train + n_valid) / max(tokenize_seconds, 1e-9)),
    }
    return VocabResult(rd.root, vocab, card, speakers[:10], timing)


def _corpus_files(config: BuildVocabConfig) -> list[Path]:
    return corpus_files(config.corpus)


def corpus_files(spec: str) -> list[Path]:
    """Files a corpus spec reads; pinned registry corpora (package, url) are fingerprinted by their pin."""
    from textgen.corpus.local import resolve_files
    from textgen.corpus.registry import entries
    from textgen.errors import CorpusError

    registry = entries()
    if spec in registry:
        path = registry[spec].path
        return [path] if path is not None else []
    if spec.startswith("hf:"):
        return []
    try:
        return resolve_files(spec)
    except CorpusError:
        return [Path(spec)]  # missing: the plan says so and the step reports why


STEP = Step(
    name="build-vocab",
    config=BuildVocabConfig,
    run=run,
    help="Tokenize a corpus and write the vocabulary tables and id arrays to the run dir.",
    outputs=lambda config: VOCAB_FILES,
    external_deps=_corpus_files,
    sources=("textgen.steps.build_vocab", "textgen.corpus", "textgen.text", "textgen.spool", "textgen.vocab"),
)
