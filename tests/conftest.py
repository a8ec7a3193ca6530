"""Shared fixtures: the fixture corpus and a run dir with its vocabulary built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = REPO / "corpora" / "fixtures" / "tiny_show.txt"
SHARED_SEINFELD = REPO.parent / "shared" / "corpora" / "seinfeld_scripts.txt"


@pytest.fixture(scope="session")
def fixture_text() -> str:
    return FIXTURE_CORPUS.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def vocab_run_dir_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir with build-vocab done on the fixture corpus (do not modify; copy it)."""
    from textgen.stages.build_vocab import build_vocab

    run_dir = tmp_path_factory.mktemp("vocab_run")
    build_vocab("fixture", run_dir, num_proc=1)
    return run_dir


@pytest.fixture()
def vocab_run_dir(vocab_run_dir_session: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture run dir, safe to modify."""
    dest = tmp_path / "run"
    shutil.copytree(vocab_run_dir_session, dest)
    return dest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
