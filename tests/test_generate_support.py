"""Shared by the generation tests: tiny generators trained once per session on the fixture corpus.

Imported by the ``test_generate_*`` modules; trains each architecture at most once per process.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
        from textgen.stages.build_vocab import build_vocab

        run = _root() / "vocab"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_vocab("fixture", run, num_proc=1)
        _CACHE["vocab"] = run
    return _CACHE["vocab"]


def trained_run(arch: str) -> Path:
    """A run dir with a tiny ``arch`` generator trained on the fixture corpus (shared; copy to modify)."""
    if arch not in _CACHE:
        from textgen.generator.config import GeneratorConfig, ModelConfig, TrainConfig
        from textgen.generator.train import train_generator

        run = _root() / arch
        shutil.copytree(vocab_run(), run)
        model = ModelConfig(arch=arch, layers=1, **TINY[arch])  # type: ignore[arg-type]
        train = TrainConfig(
            batch_size=8, bptt=16, epochs=3, embeddings=None, eval_every=100, device="cpu", seed=0, threads=1
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
