"""Shared fixtures: the fixture corpus, a run dir with its vocabulary, tiny trained generators (once per session)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = REPO / "corpora" / "fixtures" / "tiny_show.txt"
SHARED_SEINFELD = REPO.parent / "shared" / "corpora" / "seinfeld_scripts.txt"


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the Hugging Face Hub (the hf: probe is skipped offline)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build_vocab_run(run_dir: Path, **values: Any) -> Any:
    """``textgen build-vocab`` on the fixture corpus (one tokenizer process), from Python."""
    from textgen import steps

    return steps.run("build-vocab", run_dir, **{"corpus": "fixture", "num_proc": 1, **values})


def uniform_bpb(run_dir: Path) -> float:
    """val_bpb of a model that gives every vocabulary entry the same probability: what training must beat."""
    import json
    import math

    card = json.loads((Path(run_dir) / "corpus.json").read_text(encoding="utf-8"))
    return card["val_tokens"] * math.log2(card["vocab_size"]) / card["val_bytes"]


@pytest.fixture(scope="session")
def fixture_text() -> str:
    return FIXTURE_CORPUS.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def vocab_run_dir_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir with build-vocab done on the fixture corpus (do not modify; copy it)."""
    run_dir = tmp_path_factory.mktemp("vocab_run")
    build_vocab_run(run_dir)
    return run_dir


@pytest.fixture()
def vocab_run_dir(vocab_run_dir_session: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture run dir, safe to modify."""
    dest = tmp_path / "run"
    shutil.copytree(vocab_run_dir_session, dest)
    return dest


# ----- tiny generators trained once per session on the fixture corpus ---------------------------
_CACHE: dict[str, Path] = {}
_ROOT: list[Path] = []

# a few seconds of CPU each: 1 layer, tiny widths, a handful of epochs
TINY = {
    "lstm": {"emb_dim": 24, "hidden": 32, "softmax": "adaptive", "cutoffs": (150, 400)},
    "attention": {"emb_dim": 24, "hidden": 32, "softmax": "full", "attn_window": 8},
}


def _root() -> Path:
    if not _ROOT:
        _ROOT.append(Path(tempfile.mkdtemp(prefix="textgen-generate-tests-")))
    return _ROOT[0]


def vocab_run() -> Path:
    """A run dir with build-vocab done on the fixture corpus (shared; do not modify)."""
    if "vocab" not in _CACHE:
        run = _root() / "vocab"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_vocab_run(run)
        _CACHE["vocab"] = run
    return _CACHE["vocab"]


def trained_run(arch: str) -> Path:
    """A run dir with a tiny ``arch`` generator trained on the fixture corpus (shared; copy to modify)."""
    if arch not in _CACHE:
        from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig
        from textgen.lm.train import train_generator

        run = _root() / arch
        shutil.copytree(vocab_run(), run)
        model = ModelConfig(arch=arch, layers=1, **TINY[arch])  # type: ignore[arg-type]
        train = TrainConfig(
            batch_size=8, bptt=16, epochs=3, embeddings="none", eval_every=100, device="cpu", seed=0, threads=1
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_generator(run, GeneratorConfig(model, train))
        _CACHE[arch] = run
    return _CACHE[arch]


@pytest.fixture(scope="session")
def lstm_run() -> Path:
    return trained_run("lstm")


@pytest.fixture(scope="session")
def attention_run() -> Path:
    return trained_run("attention")


@pytest.fixture(params=["lstm", "attention"])
def any_run(request: pytest.FixtureRequest) -> Path:
    return trained_run(request.param)


@pytest.fixture()
def run_copy(tmp_path: Path) -> Path:
    """A private copy of the trained LSTM run, safe to modify."""
    dest = tmp_path / "run"
    shutil.copytree(trained_run("lstm"), dest)
    return dest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
