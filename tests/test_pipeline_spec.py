"""Pipeline files: validation reports every error at once, ``--set`` overrides, the shipped pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from textgen.errors import InputError
from textgen.options import Problem, option
from textgen.pipeline.spec import SpecError, load_spec, parse_override
from textgen.steps.base import Step

REPO = Path(__file__).resolve().parents[1]


def _noop(*_: object) -> None:
    return None


@dataclass(frozen=True)
class VocabConfig:
    corpus: str = option("", "The corpus.")
    min_count: int = option(1, "Minimum count.", min=1)

    def cross_check(self) -> list[Problem]:
        return [] if self.corpus else [Problem("corpus", "is required")]


@dataclass(frozen=True)
class GeneratorConfig:
    hidden: int = option(8, "Width.", min=1)
    lr: float = option(0.1, "Rate.", gt=0)
    arch: Literal["lstm", "attention"] = option("lstm", "Architecture.")
    max_steps: int | None = option(None, "Steps.", min=1)

    def cross_check(self) -> list[Problem]:
        if self.arch == "attention" and self.hidden % 2:
            return [Problem("hidden", "must be even with {arch} attention")]
        return []


STEPS: dict[str, Step[Any]] = {
    "vocab": Step("vocab", VocabConfig, _noop, "v", outputs=lambda c: ("v.json",)),
    "generator": Step("generator", GeneratorConfig, _noop, "g", outputs=lambda c: ("g.bin",), extras=("g.png",)),
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_valid_pipeline_fills_defaults_and_orders_stages(tmp_path: Path) -> None:
    path = _write(tmp_path, "run_dir: runs/x\nstages:\n  vocab:\n    params: {corpus: fixture}\n  generator:\n")
    spec = load_spec(path, steps=STEPS)
    assert spec.run_dir == Path("runs/x") and spec.names == ["vocab", "generator"]
    assert spec.stage("generator").params == {"hidden": 8, "lr": 0.1, "arch": "lstm", "max_steps": None}
    assert load_spec(_write(tmp_path, "stages: {vocab: {params: {corpus: c}}}"), steps=STEPS).run_dir == Path("runs/p")


def test_validation_reports_every_error_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
run_dri: runs/x
stages:
  generator:
    params: {hiden: 3, lr: -1, arch: rnn, max_steps: 2.5}
    outs: [g.bin, g.pgn]
    parms: {}
  vocab:
    params: {min_count: "3"}
  vocabb: {}
""",
    )
    with pytest.raises(SpecError) as info:
        load_spec(path, steps=STEPS)
    errors = info.value.errors
    expected = [
        "run_dri: unknown top-level key (did you mean 'run_dir'?)",
        "stages.generator.parms: unknown key (did you mean 'params'?)",
        "stages.generator.params.hiden: unknown parameter (did you mean 'hidden'?)",
        "stages.generator.params.lr: must be > 0, got -1",
        "stages.generator.params.arch: must be one of lstm, attention; got 'rnn'",
        "stages.generator.params.max_steps: expected an integer or null, got 2.5 (float)",
        "stages.generator.outs: generator does not write 'g.pgn' (did you mean 'g.png'?)",
        "stages.vocab: out of order",
        "stages.vocab.params.min_count: expected an integer, got '3' (str)",
        "stages.vocab.params.corpus: is required",
        "stages.vocabb: unknown stage (did you mean 'vocab'?)",
    ]
    for text in expected:
        assert any(text in e for e in errors), (text, errors)
    assert len(errors) == len(expected)
    assert info.value.exit_code == 2 and "\n" not in str(info.value) and "11 errors" in str(info.value)


def test_cross_field_checks_duplicates_and_syntax(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  generator:\n    params: {arch: attention, hidden: 3}\n  generator: {}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path, steps=STEPS)
    assert info.value.errors == ["line 4: duplicate key 'generator'"]
    path = _write(tmp_path, "stages:\n  generator:\n    params: {arch: attention, hidden: 3}\n")
    with pytest.raises(SpecError, match="params.hidden: must be even with arch attention"):
        load_spec(path, steps=STEPS)
    with pytest.raises(SpecError, match="line 3: YAML syntax error"):
        load_spec(_write(tmp_path, "stages:\n  - [\n"), steps=STEPS)
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "missing.yaml", steps=STEPS)


def test_set_overrides_with_yaml_scalar_typing(tmp_path: Path) -> None:
    assert parse_override("generator.lr=3e-3") == (["generator", "lr"], 0.003)
    assert parse_override("generator.lr=1.5E+2") == (["generator", "lr"], 150.0)
    assert parse_override("generator.hidden=0x10") == (["generator", "hidden"], 16)
    assert parse_override("generator.max_steps=null") == (["generator", "max_steps"], None)
    assert parse_override("vocab.lowercase=false") == (["vocab", "lowercase"], False)
    assert parse_override("sample.prime=[jerry, george]") == (["sample", "prime"], ["jerry", "george"])
    assert parse_override("vocab.corpus=../x.txt") == (["vocab", "corpus"], "../x.txt")
    assert parse_override("run_dir=runs/y") == (["run_dir"], "runs/y")
    path = _write(tmp_path, "stages:\n  vocab: {params: {corpus: a}}\n  generator:\n")
    spec = load_spec(path, ["generator.hidden=64", "vocab.corpus=b.txt", "run_dir=runs/z", "generator.lr=1"], STEPS)
    assert spec.stage("generator").params["hidden"] == 64 and spec.stage("generator").params["lr"] == 1.0
    assert spec.stage("vocab").params["corpus"] == "b.txt" and spec.run_dir == Path("runs/z")
    with pytest.raises(SpecError) as info:
        load_spec(path, ["generator.hidden", "generator.hidden=big", "embeddings.dim=3", "a.b.c=1"], STEPS)
    assert len(info.value.errors) == 4
    assert "expected stage.key=value" in info.value.errors[0] and "got 'big'" in info.value.errors[-1]


def test_old_stage_names_say_what_they_are_called_now(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  vocab: {params: {corpus: fixture}}\n  sample: {}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "stages.vocab: unknown stage (renamed to 'build-vocab')" in info.value.errors[0]
    assert "stages.sample: unknown stage (renamed to 'generate')" in info.value.errors[1]


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate_and_say_how_to_run(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# textgen run pipelines/{path.name}" or first.startswith(f"# textgen run pipelines/{path.name} ")
    spec = load_spec(path)
    assert spec.names[0] == "build-vocab" and spec.description


def test_the_readme_pipeline_example_is_valid(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    assert blocks
    for i, block in enumerate(blocks):
        spec = load_spec(_write(tmp_path, block))
        assert spec.names == ["build-vocab", "train-embeddings", "train-generator", "generate"], i
