"""The closed registry of stage kinds: pipeline params -> the plain stage functions.

Each adapter calls one stage function against a run dir (the runner passes a staging dir).
Parameter names are the stage functions' own keyword or config-field names, so the single
commands can record their runs under the same names (:func:`textgen.pipeline.lock.record_stage`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from textgen.pipeline.kinds import Param, StageKind

Log = Callable[[str], None]

VOCAB_OUTS = ("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json")


# ----- vocab -------------------------------------------------------------------------------------
def _corpus_files(params: Mapping[str, Any]) -> list[Path]:
    """Files a corpus spec reads; pinned registry corpora (package, url) are fingerprinted by their pin."""
    from textgen.corpus.local import resolve_files
    from textgen.corpus.registry import entries
    from textgen.errors import CorpusError

    spec = str(params["corpus"])
    registry = entries()
    if spec in registry:
        path = registry[spec].path
        return [path] if path is not None else []
    if spec.startswith("hf:"):
        return []
    try:
        return resolve_files(spec)
    except CorpusError:
        return [Path(spec)]  # missing: the plan says so and the stage reports why


def _run_vocab(run_dir: Path, p: Mapping[str, Any], log: Log) -> None:
    from textgen.stages.build_vocab import build_vocab

    build_vocab(
        p["corpus"],
        run_dir,
        min_count=p["min_count"],
        max_vocab=p["max_vocab"],
        val_fraction=p["val_fraction"],
        lowercase=p["lowercase"],
        lang=p["lang"],
        encoding=p["encoding"],
        seed=p["seed"],
        num_proc=p["num_proc"],
        offline_path=Path(p["offline_path"]) if p["offline_path"] else None,
        progress=log,
    )


VOCAB = StageKind(
    name="vocab",
    help="corpus -> tokens -> vocabulary, train/validation ids",
    params={
        "corpus": Param("str", "seinfeld", help="registry name, a path (file, folder, glob) or hf:DATASET"),
        "min_count": Param("int", 1, min=1),
        "max_vocab": Param("int", None, min=4, nullable=True),
        "val_fraction": Param("float", 0.05, min=0, lt=1),
        "lowercase": Param("bool", None, nullable=True),
        "lang": Param("str", "en"),
        "encoding": Param("str", "utf-8"),
        "seed": Param("int", 0, min=0),
        "num_proc": Param("int", None, min=1, nullable=True, tracked=False),
        "offline_path": Param("str", None, nullable=True, tracked=False),
    },
    outs=VOCAB_OUTS,
    run=_run_vocab,
    external_deps=_corpus_files,
    sources=("textgen.stages.build_vocab", "textgen.corpus", "textgen.text", "textgen.vocab"),
    command="textgen build-vocab",
)

KINDS: dict[str, StageKind] = {"vocab": VOCAB}
