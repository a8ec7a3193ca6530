"""The wheel: every package and its data ship, and an installed textgen runs a shipped pipeline from anywhere."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    inits = [p for p in (REPO / "textgen").rglob("__init__.py") if "__pycache__" not in p.parts]
    found = {".".join(p.parent.relative_to(REPO).parts) for p in inits}
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert {"textgen.data.corpora", "textgen.data.pipelines"} <= listed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree (the checkout stays clean)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    skip = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*cache")
    shutil.copytree(REPO, src, ignore=skip)
    out = root / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(out.glob("*.whl"))


def test_the_wheel_carries_the_registry_fixture_and_pipelines(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "textgen/data/corpora/registry.toml",
        "textgen/data/corpora/fixtures/tiny_show.txt",
        "textgen/data/corpora/fixtures/screenplay.fountain",
        "textgen/data/corpora/fixtures/screenplay.txt",
        "textgen/data/pipelines/screenplay.yaml",
        "textgen/corpus/screenplay/fountain.py",
        "textgen/data/pipelines/smoke.yaml",
        "textgen/data/pipelines/seinfeld.yaml",
        "textgen/py.typed",
        "textgen/serve/static/index.html",
        "textgen/serve/static/app.js",
        "textgen/serve/static/app.css",
    ):
        assert name in names, name


def test_installed_wheel_runs_shipped_pipelines_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv with only the wheel installed (its dependencies borrowed from this environment)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # dependencies from this environment, after the venv's own site-packages (its .pth files are not run,
    # so an editable textgen there stays invisible)
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", purelib, str(wheel)]
    subprocess.run(install, check=True, timeout=300, capture_output=True)
    textgen = [str(py), "-m", "textgen"]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel, not a checkout on the path
    env |= {"OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    where = subprocess.run(
        [str(py), "-c", "import textgen; print(textgen.__file__)"], cwd=work, capture_output=True, text=True, env=env
    )
    assert where.stdout.startswith(purelib), where.stdout + where.stderr  # the wheel, not the checkout
    listed = subprocess.run([*textgen, "run", "--list"], cwd=work, capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "smoke" in listed.stdout and "seinfeld" in listed.stdout, listed.stderr
    run = subprocess.run(
        [*textgen, "run", "smoke", "--set", "build-vocab.num_proc=1"], cwd=work, capture_output=True, text=True,
        env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "ran 4, skipped 0" in run.stdout
    samples = (work / "runs" / "smoke" / "samples.txt").read_text(encoding="utf-8")
    assert samples.count("=== prime") == 2
    screenplay = subprocess.run(
        [*textgen, "build-vocab", "--corpus", "screenplay-fixture", "--run-dir", "sp", "--num-proc", "1",
         "--val-fraction", "0.1"], cwd=work, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert screenplay.returncode == 0, screenplay.stdout[-2000:] + screenplay.stderr[-2000:]
    assert "screenplay.fountain: fountain" in screenplay.stdout and "edward" in screenplay.stdout
    by_path = subprocess.run(
        [*textgen, "status", str(REPO / "pipelines" / "smoke.yaml")], cwd=work, capture_output=True, text=True, env=env
    )
    assert by_path.returncode == 0 and "up to date" in by_path.stdout
