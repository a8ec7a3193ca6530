"""The Seinfeld runs' embedding defaults put the main speakers among ``jerry``'s nearest neighbours.

Runs the pipelines' own vocab and embeddings stages with the parameters read from the YAML files
(so a change of defaults is what is tested), on the default corpus and on the shared classic file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, SHARED_SEINFELD

from textgen.embeddings.query import VectorIndex
from textgen.pipeline.spec import load_spec
from textgen.steps.execute import run_step

MAIN_SPEAKERS = {"george", "elaine", "kramer"}
SEEDS = (0, 1, 2)


def _jerry_top10(pipeline: str, tmp_path: Path, corpus: str | None = None) -> dict[int, list[str]]:
    spec = load_spec(REPO / "pipelines" / pipeline)
    vocab = spec.stage("build-vocab")
    run_step(
        vocab.step,
        tmp_path,
        vocab.step.configure({**vocab.params, "num_proc": 2, **({"corpus": corpus} if corpus else {})}),
    )
    emb = spec.stage("train-embeddings")
    assert emb.params["backend"] in ("auto", "gensim")  # the CPU path a user gets
    tops = {}
    for seed in SEEDS:  # one gensim worker: reproducible, and each seed is a separate trial
        config = emb.step.configure({**emb.params, "seed": seed, "workers": 1, "evaluate": False})
        run_step(emb.step, tmp_path, config)
        tops[seed] = [word for word, _ in VectorIndex.load(tmp_path).similar("jerry", 10)]
    return tops


def _assert_main_speakers(tops: dict[int, list[str]]) -> None:
    missing = {seed: sorted(MAIN_SPEAKERS - set(top)) for seed, top in tops.items()}
    assert not any(missing.values()), f"missing from jerry's top 10 per seed: {missing}; top 10s: {tops}"


@pytest.mark.slow
def test_default_pipeline_jerry_neighbours(tmp_path: Path) -> None:
    _assert_main_speakers(_jerry_top10("seinfeld.yaml", tmp_path))


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_SEINFELD.is_file(), reason="shared Seinfeld corpus absent")
def test_classic_pipeline_jerry_neighbours(tmp_path: Path) -> None:
    _assert_main_speakers(_jerry_top10("classic-seinfeld.yaml", tmp_path, corpus=str(SHARED_SEINFELD)))
