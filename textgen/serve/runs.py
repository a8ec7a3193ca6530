"""The served runs: each run dir loaded once at start-up, known to requests by name only.

A request names a run (``"run": "default"``); nothing it sends becomes a file path. A run's name
is its folder's name (``runs/default`` -> ``default``), made unique with the parent folder's name
when two folders share one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgen import io
from textgen.decode.render import proper_names
from textgen.errors import MissingArtifactError
from textgen.rundir import DEFAULT_RUN_DIR, RunDir
from textgen.serve.worker import Counters, Worker
from textgen.text import symbols

TOP_SPEAKERS = 12
DEFAULT_COMMAND = "textgen run seinfeld"  # writes runs/default


class UnknownRun(LookupError):
    """No served run has this name; ``suggestions`` are the closest names."""

    def __init__(self, name: str | None, served: list[str]) -> None:
        self.name = name  # None: the request named no run, and several are served
        if name is None:
            self.suggestions = served
            super().__init__(f'several runs are served; name one with "run": {", ".join(served)}')
        else:
            self.suggestions = difflib.get_close_matches(name, served, n=3, cutoff=0.3) or served[:5]
            super().__init__(f"no run named {name!r} is served; served: {', '.join(served)}")


@dataclass
class ServedRun:
    """One loaded run: its generator, its word vectors (if trained) and its device's worker."""

    name: str
    root: Path
    generator: Any  # textgen.decode.generator.TextGenerator
    worker: Worker  # shared by every run on the same device
    index: Any = None  # textgen.embeddings.query.VectorIndex, or None without embeddings
    names: frozenset[str] = frozenset()  # words capitalised everywhere (the layout's truecasing)
    counters: Counters = field(default_factory=Counters)

    def submit(self, fn: Any, job: Any) -> Any:
        """Queue ``fn(job)`` on this run's worker (a ``concurrent.futures.Future``)."""
        return self.worker.submit(fn, job, self.counters)

    @property
    def vocab(self) -> Any:
        return self.generator.vocab

    @property
    def arch(self) -> str:
        return str(self.generator.arch)

    def speakers(self, n: int = TOP_SPEAKERS) -> list[dict[str, Any]]:
        """The ``n`` most frequent speakers: their display name, the prime that starts their turn, count."""
        vocab = self.vocab
        found = [(c, t) for t, c in zip(vocab.itos, vocab.counts, strict=True) if symbols.is_speaker(t)]
        found.sort(key=lambda ct: (-ct[0], ct[1]))
        names = [(symbols.speaker_name(t), c) for c, t in found[:n]]
        return [{"name": _title(name), "prime": name, "count": c} for name, c in names]

    def info(self) -> dict[str, Any]:
        """What ``GET /api/runs`` says about this run."""
        corpus = _read_optional(self.root / "corpus.json")
        metrics = getattr(self.generator.config, "metrics", {}) or {}
        val_bpb = metrics.get("val_bpb")
        return {
            "name": self.name,
            "corpus": corpus.get("name") or corpus.get("source"),
            "architecture": self.arch,
            "val_bpb": None if val_bpb is None else float(val_bpb),
            "vocab_size": len(self.vocab),
            "speakers": self.speakers(),
            "attention": self.arch == "attention",
            "embeddings": self.index is not None,
            "turns": symbols.TURN in self.vocab,
            "ngram": getattr(self.generator.model, "ngram", None) is not None,
        }


def _title(name: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in name.split(" "))


def _read_optional(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = io.read_json(path, "corpus card")
    return data if isinstance(data, dict) else {}


def run_names(roots: list[Path]) -> list[str]:
    """Unique names for ``roots``: the folder's name, ``parent-folder`` where two share it, then a number."""
    bases = [root.resolve().name or "run" for root in roots]
    names: list[str] = []
    for root, base in zip(roots, bases, strict=True):
        name = base if bases.count(base) == 1 else f"{root.resolve().parent.name}-{base}"
        unique, k = name, 2
        while unique in names:
            unique, k = f"{name}-{k}", k + 1
        names.append(unique)
    return names


class Registry:
    """The served runs by name."""

    def __init__(self, runs: list[ServedRun]) -> None:
        self.runs = {run.name: run for run in runs}

    @property
    def names(self) -> list[str]:
        return list(self.runs)

    def get(self, name: str | None) -> ServedRun:
        """The run called ``name`` (None: the only one); :class:`UnknownRun` otherwise."""
        if name is None:
            if len(self.runs) == 1:
                return next(iter(self.runs.values()))
            raise UnknownRun(None, self.names)
        run = self.runs.get(name)
        if run is None:
            raise UnknownRun(name, self.names)
        return run

    def close(self) -> None:
        for worker in {id(run.worker): run.worker for run in self.runs.values()}.values():
            worker.close()


def load_registry(run_dirs: tuple[str, ...], device: str = "auto") -> Registry:
    """Load every run dir (default ``runs/default``); a missing generator names the command that makes it."""
    from textgen.decode.generator import load
    from textgen.embeddings.query import VectorIndex

    roots = [Path(d) for d in run_dirs] or [DEFAULT_RUN_DIR]
    if not run_dirs and not (DEFAULT_RUN_DIR / "generator.safetensors").is_file():
        raise MissingArtifactError(
            f"{DEFAULT_RUN_DIR} has no trained generator; make it with `{DEFAULT_COMMAND}` "
            "or pass --run-dir DIR (repeat for several runs)"
        )
    runs = []
    workers: dict[str, Worker] = {}
    for root, name in zip(roots, run_names(roots), strict=True):
        generator = load(root, device=device)
        where = str(generator.device)
        if where not in workers:
            workers[where] = Worker(where.replace(":", ""))
        worker = workers[where]
        rd = RunDir.of(root)
        index = VectorIndex.load(root) if (rd / "embeddings.safetensors").is_file() else None
        names = proper_names(generator.vocab) if generator.vocab.tokenizer.lowercase else frozenset()
        runs.append(ServedRun(name, root, generator, worker, index, names))
    return Registry(runs)
