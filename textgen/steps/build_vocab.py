"""Step ``build-vocab``: corpus -> tokens -> vocabulary lookup tables and id arrays in the run dir.

Writes ``train_ids.npy``, ``val_ids.npy``, ``vocab.json`` and ``corpus.json`` (the card), each
atomically; run through :func:`textgen.steps.execute.run_step` they appear together. Vocabulary
and counts come from the training split only.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import __version__, io
from textgen.corpus.screenplay import FORMATS
from textgen.errors import UsageError
from textgen.options import Problem, option
from textgen.rundir import VOCAB_FILES, RunDir
from textgen.steps.base import Progress, Step, no_progress
from textgen.text.parallel import tokenize_lines_parallel
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


def text_bytes(lines: list[str]) -> int:
    """UTF-8 bytes of ``lines`` as a text, each line with its newline (the val_bpb denominator)."""
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def run(run_dir: Path, config: BuildVocabConfig, progress: Progress = no_progress) -> VocabResult:
    """Tokenize the corpus, split it by lines, build the vocabulary on the training split, save all."""
    from textgen.corpus import load_corpus, split_lines

    rd = RunDir.of(run_dir)
    rd.ensure_writable()
    start = time.perf_counter()

    def say(message: str) -> None:
        progress("status", {"message": message})

    say("loading corpus")
    text = load_corpus(
        config.corpus,
        encoding=config.encoding,
        offline_path=Path(config.offline_path) if config.offline_path else None,
        progress=lambda done, total: progress("download", {"done": done, "total": total}),
        layout=config.format,
    )
    train_lines, val_lines = split_lines(text.text, config.val_fraction)
    if not any(line.strip() for line in val_lines):
        n = len(train_lines) + len(val_lines)
        need = f"--val-fraction {min(0.5, 2 / n):.2g} or more" if n >= 4 else "a corpus of more lines"
        raise UsageError(
            f"the validation split of {config.corpus!r} is empty (the last {len(val_lines)} of {n} lines hold "
            f"no text); use {need}, so that val_bpb can be measured"
        )
    lowercase = text.lowercase if config.lowercase is None else config.lowercase
    settings = TokenizerSettings(lang=config.lang, lowercase=lowercase)

    say("tokenizing")
    t0 = time.perf_counter()
    train_tokens = tokenize_lines_parallel(train_lines, settings, num_proc=config.num_proc)
    val_tokens = tokenize_lines_parallel(val_lines, settings, num_proc=config.num_proc) if val_lines else []
    tokenize_seconds = time.perf_counter() - t0
    if not train_tokens:
        raise UsageError(
            f"the training split of {config.corpus!r} has no tokens; lower --val-fraction or use a larger corpus"
        )

    say("building vocabulary")
    counts = Counter(train_tokens)
    vocab = Vocab.build(counts, min_count=config.min_count, max_vocab=config.max_vocab, tokenizer=settings)
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
        "source_sha256": text.source_sha256,  # of the documents as read (differs once screenplays are converted)
        "bytes": len(text.text.encode("utf-8")),
        "lines": len(train_lines) + len(val_lines),
        "documents": text.documents,
        "val_fraction": config.val_fraction,
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
        "format": config.format,
        **text.layout_card(),
        "tokenizer": settings.to_dict(),
        "min_count": config.min_count,
        "max_vocab": config.max_vocab,
        "textgen_version": __version__,
    }  # no timings: the card decides whether later steps rerun, so the same input gives the same bytes
    say("writing artifacts")
    timing = {
        "seconds": round(time.perf_counter() - start, 3),
        "tokenize_seconds": round(tokenize_seconds, 3),
        "tokens_per_second": round((len(train_tokens) + len(val_tokens)) / max(tokenize_seconds, 1e-9)),
    }
    io.write_npy(rd / "train_ids.npy", train_ids)
    io.write_npy(rd / "val_ids.npy", val_ids)
    io.write_json(rd / "vocab.json", vocab.to_dict())
    io.write_json(rd / "corpus.json", card)
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
    sources=("textgen.steps.build_vocab", "textgen.corpus", "textgen.text", "textgen.vocab"),
)
