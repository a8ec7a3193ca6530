"""Pipeline files: load the YAML, apply ``--set`` overrides, and validate everything at once.

A pipeline file::

    # textgen run pipelines/smoke.yaml
    description: what it is for
    run_dir: runs/smoke
    stages:
      build-vocab:
        params: {corpus: fixture, min_count: 1}
        outs: [vocab.json, train_ids.npy, val_ids.npy, corpus.json]
      train-embeddings:
        params: {dim: 16}

Stage names are step names from the closed registry (:data:`textgen.steps.STEPS`), listed in the
registry's order; a step may be left out. A stage's params are its step config's fields
(:mod:`textgen.options`), checked field by field and then together. ``outs`` is optional
documentation, checked against what the step writes. Relative paths are relative to the working
directory.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textgen import options
from textgen.errors import InputError, PipelineError
from textgen.steps.base import ConfigError, Step

TOP_KEYS = ("run_dir", "description", "stages")
STAGE_KEYS = ("params", "outs")


class SpecError(PipelineError):
    """A pipeline file (with its overrides) is invalid; ``errors`` lists every problem."""

    exit_code = 2

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        n = len(self.errors)
        super().__init__(f"{source}: {n} error{'s' if n != 1 else ''}: {'; '.join(self.errors)}; fix and rerun")


# stage names before the steps had one name everywhere
RENAMED = {
    "vocab": "build-vocab",
    "embeddings": "train-embeddings",
    "generator": "train-generator",
    "sample": "generate",
}


@dataclass(frozen=True)
class StageSpec:
    """One stage of a pipeline: its step and the checked config (defaults filled in)."""

    name: str
    step: Step[Any]
    config: Any

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter value, defaults included."""
        return options.flatten(self.config)


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline: where it runs and its stages in order."""

    source: str
    run_dir: Path
    stages: tuple[StageSpec, ...]
    description: str = ""
    overrides: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise PipelineError(f"no stage {name!r} in {self.source}{_suggest(name, self.names)}; use one of {self.names}")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last."""

    duplicates: list[str]


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            loader.duplicates.append(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.2 floats such as 3e-3 (PyYAML's YAML 1.1 rules read them as strings)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _load_scalar(text: str) -> Any:
    loader = _UniqueKeyLoader(text)
    loader.duplicates = []
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    """Parse YAML text; return the data and the duplicate-key errors. Syntax errors raise SpecError."""
    loader = _UniqueKeyLoader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(source, [f"{where}YAML syntax error: {problem}"]) from None
    finally:
        loader.dispose()
    return data, loader.duplicates


def parse_override(item: str) -> tuple[list[str], Any]:
    """``stage.key=value`` (or ``key=value`` for a top-level key) with YAML scalar typing."""
    key, sep, raw = item.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path) or len(path) > 2:
        raise ValueError(f"--set {item!r}: expected stage.key=value (for example train-generator.epochs=3)")
    try:
        value = _load_scalar(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return path, value


def _apply_overrides(data: dict[str, Any], overrides: Sequence[str], errors: list[str]) -> None:
    for item in overrides:
        try:
            path, value = parse_override(item)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if len(path) == 1:
            data[path[0]] = value
            continue
        stages = data.get("stages")
        stage = stages.get(path[0]) if isinstance(stages, dict) else None
        if not isinstance(stages, dict) or path[0] not in stages:
            names = list(stages) if isinstance(stages, dict) else []
            errors.append(f"--set {item}: no stage {path[0]!r} in this pipeline{_suggest(path[0], names)}")
            continue
        if stage is None:
            stage = stages[path[0]] = {}
        if isinstance(stage, dict):
            if not isinstance(stage.get("params"), dict):
                stage["params"] = {} if stage.get("params") is None else stage["params"]
            if isinstance(stage["params"], dict):
                stage["params"][path[1]] = value


def _check_stage(name: str, body: Any, step: Step[Any], errors: list[str]) -> Any:
    """The stage's checked config, or None after adding every problem to ``errors``."""
    where = f"stages.{name}"
    if body is None:
        body = {}
    if not isinstance(body, dict):
        errors.append(f"{where}: expected a mapping with 'params' (and optionally 'outs'), got {body!r}")
        return None
    for key in body:
        if key not in STAGE_KEYS:
            errors.append(f"{where}.{key}: unknown key{_suggest(key, STAGE_KEYS)}; a stage has {list(STAGE_KEYS)}")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        errors.append(f"{where}.params: expected a mapping of parameter: value, got {params!r}")
        params = {}
    known = step.params()
    good: dict[str, Any] = {}
    for key, value in params.items():
        leaf = known.get(key)
        if leaf is None:
            errors.append(f"{where}.params.{key}: unknown parameter{_suggest(key, known)}")
            continue
        problem = options.check_value(leaf, value)
        if problem:
            errors.append(f"{where}.params.{key}: {problem}")
        else:
            good[key] = value
    config = None
    try:  # with the bad values left out, to report the remaining problems (a missing corpus) too
        config = step.configure(good)
    except ConfigError as exc:
        kept = [p for p in exc.problems if p.field not in params or p.field in good]  # not about a bad value
        errors += [f"{where}.params.{p.render(str, ': ')}" for p in kept]
    if len(good) != len(params):
        config = None
    outs = body.get("outs")
    if outs is not None:
        written = step.outputs(config if config is not None else step.config())
        known_outs = written + step.extras
        if not isinstance(outs, list) or not all(isinstance(o, str) for o in outs):
            errors.append(f"{where}.outs: expected a list of file names, got {outs!r}")
        else:
            for o in outs:
                if o not in known_outs:
                    errors.append(f"{where}.outs: {name} does not write {o!r}{_suggest(o, known_outs)}")
            missing = [o for o in written if o not in outs]
            if missing:
                errors.append(f"{where}.outs: also list {', '.join(missing)} (it writes them)")
    return config


def validate(data: Any, source: str, steps: Mapping[str, Step[Any]], overrides: Sequence[str] = ()) -> PipelineSpec:
    """Check a parsed pipeline (after applying ``overrides``); raise :class:`SpecError` listing every error."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise SpecError(source, ["expected a mapping with 'run_dir' and 'stages' at the top level"])
    data = dict(data)
    _apply_overrides(data, overrides, errors)
    for key in data:
        if key not in TOP_KEYS:
            errors.append(f"{key}: unknown top-level key{_suggest(key, TOP_KEYS)}; allowed: {list(TOP_KEYS)}")
    run_dir = data.get("run_dir", f"runs/{Path(source).stem}")
    if not isinstance(run_dir, str) or not run_dir:
        errors.append(f"run_dir: expected a directory path, got {run_dir!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        errors.append(f"description: expected text, got {description!r}")
    stages_raw = data.get("stages")
    stages: list[StageSpec] = []
    if not isinstance(stages_raw, dict) or not stages_raw:
        errors.append(f"stages: expected a mapping of stage name to its params; stage names: {list(steps)}")
        stages_raw = {}
    order = list(steps)
    last = -1
    for name, body in stages_raw.items():
        if name not in steps:
            new = RENAMED.get(name)
            hint = f" (renamed to {new!r})" if new in steps else _suggest(name, steps)
            errors.append(f"stages.{name}: unknown stage{hint}; stages are {order}")
            continue
        if order.index(name) < last:
            errors.append(f"stages.{name}: out of order; stages run in the order {order}")
        last = max(last, order.index(name))
        config = _check_stage(name, body, steps[name], errors)
        if config is not None:
            stages.append(StageSpec(name, steps[name], config))
    if errors:
        raise SpecError(source, errors)
    stages.sort(key=lambda s: order.index(s.name))
    return PipelineSpec(source, Path(run_dir), tuple(stages), description, tuple(overrides))


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), steps: Mapping[str, Step[Any]] | None = None
) -> PipelineSpec:
    """Read and validate a pipeline file; raise :class:`SpecError` listing every problem."""
    if steps is None:
        from textgen.steps import STEPS as steps
    p = Path(path)
    if not p.is_file():
        raise InputError(f"pipeline file {path} not found; `textgen run --list` shows the shipped pipelines")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read pipeline file {path} ({exc}); check that it is a UTF-8 text file") from exc
    data, duplicates = parse_yaml(text, str(path))
    try:
        spec = validate(data, str(path), steps, overrides)
    except SpecError as exc:
        raise SpecError(str(path), duplicates + exc.errors) from None
    if duplicates:
        raise SpecError(str(path), duplicates)
    return spec
