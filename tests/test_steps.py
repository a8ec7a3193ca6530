"""One name and one config per step: the CLI options and the pipeline params come from the same fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textgen import options, rundir
from textgen.cli import app
from textgen.errors import UsageError
from textgen.steps import STEPS
from textgen.steps.base import ConfigError


def _flags(command: str) -> set[str]:
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", res.output))


@pytest.mark.parametrize("name", list(STEPS))
def test_every_param_is_a_flag_with_help(name: str) -> None:
    step = STEPS[name]
    flags = _flags(name)
    for leaf in step.params().values():
        assert leaf.spec.help, f"{name}.{leaf.name} has no help"
        flag = options.cli_flag(leaf.name, leaf)
        assert flag in flags, f"{name}: --help does not show {flag}"


def test_the_commands_are_the_step_names_and_train_is_an_alias() -> None:
    res = CliRunner().invoke(app, ["--help"])
    for name in STEPS:
        assert re.search(rf"^\s+{name}\s", res.output, re.M), name
    assert _flags("train") == _flags("train-generator")


def test_every_output_names_its_step() -> None:
    for name, step in STEPS.items():
        for out in step.outputs(step.config(primes=("x",)) if name == "generate" else step.config()):
            if out in rundir.WRITERS:
                assert rundir.WRITERS[out] == name, out
    assert set(rundir.WRITERS.values()) <= set(STEPS)


def test_configure_checks_fields_and_names_them() -> None:
    step = STEPS["train-generator"]
    with pytest.raises(ConfigError) as info:
        step.configure({"hidden": 0, "dropout": 1.5, "device": "tpu", "cutoffs": [30, 10]})
    fields = {p.field for p in info.value.problems}
    assert fields == {"hidden", "dropout", "device"}  # the cross-field check waits for valid values
    assert str(info.value).startswith("--hidden must be at least 1, got 0; --dropout must be in [0, 1)")
    with pytest.raises(ConfigError, match="--cutoffs must increase strictly"):
        step.configure({"cutoffs": [30, 10]})
    with pytest.raises(ConfigError, match="--unfreeze-after only applies with --freeze-embeddings"):
        step.configure({"unfreeze_after": 2})
    with pytest.raises(ConfigError, match="--bogus is not a parameter of this step"):
        step.configure({"bogus": 1})
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_presets_give_defaults_and_flags_win() -> None:
    step = STEPS["train-generator"]
    gpu = step.configure({"preset": "gpu", "layers": 2})
    assert (gpu.model.hidden, gpu.model.layers, gpu.train.bptt) == (1150, 2, 70)
    assert step.configure({}).model.hidden == 256
    with pytest.raises(ConfigError, match="--preset must be one of cpu, gpu"):
        step.configure({"preset": "tpu"})


def test_device_is_checked_the_same_by_every_step(tmp_path: Path) -> None:
    for name in ("train-embeddings", "train-generator", "generate"):
        with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda or cuda:N, got 'mps'"):
            STEPS[name].configure({"device": "mps", **({"primes": ("jerry",)} if name == "generate" else {})})
    res = CliRunner().invoke(app, ["evaluate", "--run-dir", str(tmp_path), "--device", "mps"])
    assert res.exit_code == 2 and "--device must be auto, cpu, cuda or cuda:N, got 'mps'" in res.output
