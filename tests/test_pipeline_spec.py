"""Pipeline files: validation reports every error at once, ``--set`` overrides, the shipped pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from textgen.errors import InputError
from textgen.pipeline.kinds import REQUIRED, Param, StageKind, params_from_dataclass
from textgen.pipeline.spec import SpecError, load_spec, parse_override

REPO = Path(__file__).resolve().parents[1]


def _noop(*_: object) -> None:
    return None


KINDS = {
    "vocab": StageKind("vocab", {"corpus": Param("str"), "min_count": Param("int", 1, min=1)}, ("v.json",), _noop),
    "generator": StageKind(
        "generator",
        {
            "hidden": Param("int", 8, min=1),
            "lr": Param("float", 0.1, gt=0),
            "arch": Param("str", "lstm", choices=("lstm", "attention")),
            "max_steps": Param("int", None, min=1, nullable=True),
        },
        ("g.bin",),
        _noop,
        extras=("g.png",),
        validate=lambda p: (
            ["hidden must be even with attention"] if p["arch"] == "attention" and p["hidden"] % 2 else []
        ),
    ),
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_valid_pipeline_fills_defaults_and_orders_stages(tmp_path: Path) -> None:
    path = _write(tmp_path, "run_dir: runs/x\nstages:\n  vocab:\n    params: {corpus: fixture}\n  generator:\n")
    spec = load_spec(path, kinds=KINDS)
    assert spec.run_dir == Path("runs/x") and spec.names == ["vocab", "generator"]
    assert spec.stage("generator").params == {"hidden": 8, "lr": 0.1, "arch": "lstm", "max_steps": None}
    assert load_spec(_write(tmp_path, "stages: {vocab: {params: {corpus: c}}}"), kinds=KINDS).run_dir == Path("runs/p")


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
        load_spec(path, kinds=KINDS)
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
        "stages.vocab.params.corpus: required",
        "stages.vocabb: unknown stage (did you mean 'vocab'?)",
    ]
    for text in expected:
        assert any(text in e for e in errors), (text, errors)
    assert len(errors) == len(expected)
    assert info.value.exit_code == 2 and "\n" not in str(info.value) and "11 errors" in str(info.value)


def test_cross_field_checks_duplicates_and_syntax(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  generator:\n    params: {arch: attention, hidden: 3}\n  generator: {}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path, kinds=KINDS)
    assert info.value.errors == ["line 4: duplicate key 'generator'"]
    path = _write(tmp_path, "stages:\n  generator:\n    params: {arch: attention, hidden: 3}\n")
    with pytest.raises(SpecError, match="hidden must be even with attention"):
        load_spec(path, kinds=KINDS)
    with pytest.raises(SpecError, match="line 3: YAML syntax error"):
        load_spec(_write(tmp_path, "stages:\n  - [\n"), kinds=KINDS)
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "missing.yaml", kinds=KINDS)


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
    spec = load_spec(path, ["generator.hidden=64", "vocab.corpus=b.txt", "run_dir=runs/z", "generator.lr=1"], KINDS)
    assert spec.stage("generator").params["hidden"] == 64 and spec.stage("generator").params["lr"] == 1.0
    assert spec.stage("vocab").params["corpus"] == "b.txt" and spec.run_dir == Path("runs/z")
    with pytest.raises(SpecError) as info:
        load_spec(path, ["generator.hidden", "generator.hidden=big", "embeddings.dim=3", "a.b.c=1"], KINDS)
    assert len(info.value.errors) == 4
    assert "expected stage.key=value" in info.value.errors[0] and "got 'big'" in info.value.errors[-1]


def test_params_from_dataclass() -> None:
    @dataclass
    class Cfg:
        dim: int
        lr: float | None = None
        backend: Literal["torch", "gensim"] = "torch"
        cutoffs: tuple[int, ...] = (10, 20)
        device: str = "auto"

    params = params_from_dataclass(Cfg, untracked=("device",), defaults={"dim": 16})
    assert params["dim"] == Param("int", 16)
    assert params["lr"] == Param("float", None, nullable=True)
    assert params["backend"].choices == ("torch", "gensim") and params["cutoffs"].default == [10, 20]
    assert params["cutoffs"].check([1, 2]) is None and params["cutoffs"].check(["a"]) is not None
    assert not params["device"].tracked
    assert params_from_dataclass(Cfg)["dim"].default is REQUIRED


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate_and_say_how_to_run(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# textgen run pipelines/{path.name}" or first.startswith(f"# textgen run pipelines/{path.name} ")
    spec = load_spec(path)
    assert spec.names[0] == "vocab"
