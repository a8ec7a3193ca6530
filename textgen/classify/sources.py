"""Labelled examples from the three data shapes, in the form the classifier reads (:mod:`textgen.classify.units`).

* a folder of ``<label>.txt`` files, one example a line (the names tutorial's layout);
* a ``.tsv`` / ``.csv`` file whose header has ``text`` and ``label`` columns;
* with ``--label speaker``, a script corpus: every turn (``speaker: line``) labelled by its speaker,
  on the run's vocabulary. Without ``--data`` that is the training split of the run's own corpus,
  read from the token ids ``build-vocab`` wrote (no re-tokenizing; the validation turns are left to
  ``evaluate-generation``); with it, any corpus ``build-vocab`` takes, tokenized the way the run's
  vocabulary was (words outside it become ``<unk>``).

Every problem is an :class:`~textgen.errors.InputError` naming the file and what to do.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen.classify.config import SPEAKER, DataSettings
from textgen.classify.units import word_units
from textgen.corpus.local import decode
from textgen.errors import CorpusError, InputError
from textgen.io import sha256_bytes
from textgen.rundir import RunDir
from textgen.text import symbols
from textgen.text.tokenizer import ScriptTokenizer, TokenizerSettings

# word level on a folder or TSV: lower-cased tokens, no speaker rule (a text is not a script line)
PLAIN_WORDS = TokenizerSettings(lowercase=True, speakers=False)
TABLE_SUFFIXES = {".tsv": "\t", ".csv": ","}


@dataclass
class Examples:
    """Labelled examples before deduplication: ``texts[i]`` (recorded form) has label ``labels[i]``."""

    texts: list[str]
    labels: list[str]
    order: list[str]  # the labels in the order reports list them
    source: dict[str, Any]  # what was read (kind, path, sha256, ...)
    tokenizer: TokenizerSettings | None = None  # word level: how raw text becomes tokens
    vocab_itos: list[str] | None = None  # speaker mode: the run's vocabulary
    notes: list[str] = field(default_factory=list)


def read_examples(settings: DataSettings, run_dir: Path) -> Examples:
    """The examples ``settings`` name (``run_dir`` holds the vocabulary for ``--label speaker``)."""
    if settings.label == SPEAKER:
        return _speaker_examples(settings, run_dir)
    assert settings.data is not None  # DataSettings.cross_check
    path = Path(settings.data).expanduser()
    words = settings.resolved_level == "word"
    if path.is_dir():
        texts, labels, order, source = _folder(path, settings.encoding)
    elif path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        texts, labels, order, source = _table(path, settings.encoding)
    elif path.is_file():
        raise InputError(
            f"{path} is a single file: give a folder of <label>.txt files, a .tsv/.csv with text and label "
            "columns, or pass --label speaker to label a script's lines by speaker"
        )
    else:
        raise InputError(f"--data {settings.data} does not exist; check the path")
    if words:
        tok = ScriptTokenizer(PLAIN_WORDS)
        texts = [" ".join(word_units(tok.tokenize(t))) for t in texts]
    else:
        texts = [t.strip() for t in texts]
    kept = [(t, lab) for t, lab in zip(texts, labels, strict=True) if t]
    return Examples([t for t, _ in kept], [lab for _, lab in kept], order, source, PLAIN_WORDS if words else None)


def _read(path: Path, encoding: str) -> tuple[str, str]:
    """Decoded text and sha256 of one file (strict: a bad byte or a NUL is an error naming the file)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror}); check the path and its permissions") from exc
    return decode(data, path, encoding), sha256_bytes(data)


def _folder(folder: Path, encoding: str) -> tuple[list[str], list[str], list[str], dict[str, Any]]:
    files = sorted(p for p in folder.glob("*.txt") if p.is_file())
    if not files:
        raise InputError(f"folder {folder} has no <label>.txt files; put one example a line in one file per label")
    if len(files) == 1:
        raise InputError(f"folder {folder} has one label ({files[0].name}); a classifier needs at least two files")
    texts: list[str] = []
    labels: list[str] = []
    shas = []
    for f in files:
        text, sha = _read(f, encoding)
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise InputError(f"label file {f} is empty; add one example a line or remove the file")
        texts += lines
        labels += [f.stem] * len(lines)
        shas.append(f"{f.name}:{sha}")
    source = {
        "kind": "folder",
        "path": str(folder),
        "files": len(files),
        "sha256": sha256_bytes("\n".join(shas).encode()),
    }
    return texts, labels, [f.stem for f in files], source


def _table(path: Path, encoding: str) -> tuple[list[str], list[str], list[str], dict[str, Any]]:
    text, sha = _read(path, encoding)
    reader = csv.reader(io.StringIO(text), delimiter=TABLE_SUFFIXES[path.suffix.lower()])
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or []]
    if "text" not in columns or "label" not in columns:
        raise InputError(
            f"{path} has columns {columns or 'none'}; its first line must name a 'text' and a 'label' column"
        )
    ti, li = columns.index("text"), columns.index("label")
    texts, labels = [], []
    for n, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[ti] if ti < len(row) else ""
        label = (row[li] if li < len(row) else "").strip()
        if not label:
            raise InputError(f"{path} line {n} has no label; give every row a label or remove it")
        texts.append(cell)
        labels.append(label)
    if not texts:
        raise InputError(f"{path} has a header but no rows; add one example a row")
    order = sorted(set(labels))
    if len(order) == 1:
        raise InputError(f"{path} has one label ({order[0]!r}); a classifier needs at least two")
    return texts, labels, order, {"kind": "table", "path": str(path), "sha256": sha}


# ----- speaker lines ---------------------------------------------------------------------------
def speaker_turns(tokens: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """``(speaker name, units)`` for each turn of a token stream; text outside a speaker's turn is skipped.

    A turn runs from a speaker token to the next turn break, ``<eos>`` or speaker token.
    """
    speaker: str | None = None
    units: list[str] = []
    for token in tokens:
        if symbols.is_speaker(token) or token in (symbols.TURN, symbols.EOS):
            if speaker is not None and units:
                yield speaker, units
            speaker = symbols.speaker_name(token) if symbols.is_speaker(token) else None
            units = []
        elif speaker is not None and token != symbols.RETURN:
            units.append(token)
    if speaker is not None and units:
        yield speaker, units


def _speaker_examples(settings: DataSettings, run_dir: Path) -> Examples:
    from textgen.vocab import Vocab

    rd = RunDir.of(run_dir)
    rd.require("vocab.json")
    vocab = Vocab.load(rd / "vocab.json")
    if settings.data is None:
        from textgen.io import read_json, read_npy

        # the training split only: its validation turns stay unseen by the generator and the classifier alike,
        # so that evaluate-generation can compare generated turns with real ones neither has read
        rd.require("train_ids.npy", "corpus.json")
        card = read_json(rd / "corpus.json", "corpus card")
        streams: Sequence[list[str]] = [vocab.decode(read_npy(rd / "train_ids.npy"))]
        where = f"the training split of the run's corpus ({card.get('name', '?')})"
        source = {"kind": "run", "corpus": card.get("name"), "sha256": card.get("sha256"), "vocab": vocab.sha256(),
                  "split": "train_ids.npy"}  # fmt: skip
    else:
        from textgen.corpus import load_corpus
        from textgen.text.parallel import tokenize_lines_parallel

        try:
            corpus = load_corpus(settings.data, encoding=settings.encoding)
        except CorpusError as exc:
            raise InputError(str(exc).replace("--corpus", "--data")) from None
        # tokens outside the vocabulary become <unk>, as they are in the run's own ids
        tokens = tokenize_lines_parallel(corpus.text.splitlines(), vocab.tokenizer)
        streams = [[t if t in vocab.stoi else symbols.UNK for t in tokens]]
        where = settings.data
        source = {"kind": "corpus", "corpus": settings.data, "sha256": corpus.sha256, "vocab": vocab.sha256()}
    turns = [(s, u) for stream in streams for s, u in speaker_turns(stream)]
    turns = [(s, word_units(u)) for s, u in turns]
    turns = [(s, u) for s, u in turns if u]
    if not turns:
        raise InputError(
            f"{where} has no speaker lines ('name: text' at the start of a line); --label speaker needs them"
        )
    counts = Counter(s for s, _ in turns)
    ranked = sorted(counts, key=lambda s: (-counts[s], s))
    if len(ranked) < 2:
        raise InputError(f"{where} has one speaker ({ranked[0]}); --label speaker needs at least two")
    top = ranked[: settings.top_speakers]
    keep = set(top)
    kept = [(s, u) for s, u in turns if s in keep]
    note = f"{len(kept):,} of {len(turns):,} turns: the {len(top)} most frequent of {len(ranked)} speakers"
    source |= {"speakers": len(ranked), "turns": len(turns)}
    return Examples(
        [" ".join(u) for _, u in kept], [s for s, _ in kept], top, source, vocab.tokenizer, list(vocab.itos), [note]
    )
