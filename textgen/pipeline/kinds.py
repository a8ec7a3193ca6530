"""What a stage kind is: its parameters, the files it reads and writes, and how to run it.

The registry of real kinds lives in :mod:`textgen.pipeline.stages`; tests build their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED: Any = object()  # sentinel default: the pipeline file must give the parameter

# type name -> (check, human description)
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "str_list": (lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v), "a list of strings"),
    "int_list": (
        lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
        "a list of integers",
    ),
}


@dataclass(frozen=True)
class Param:
    """One parameter a stage reads: its type, default and allowed range."""

    type: str
    default: Any = REQUIRED
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    gt: float | None = None  # exclusive lower bound
    lt: float | None = None  # exclusive upper bound
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    tracked: bool = True  # False: passed to the stage but not compared (device, workers)
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"unknown parameter type {self.type!r}; use one of {sorted(_TYPES)}")

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (a short phrase), or None if it is."""
        if value is None:
            return None if self.nullable else f"expected {_TYPES[self.type][1]}, got null"
        ok, what = _TYPES[self.type]
        if not ok(value):
            return f"expected {what}{' or null' if self.nullable else ''}, got {value!r} ({type(value).__name__})"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}; got {value!r}"
        if self.type == "str_list" and not value:
            return "must list at least one string"
        if self.type in ("int", "float"):
            for bound, bad, op in (
                (self.min, value < (self.min or 0), ">="),
                (self.max, value > (self.max or 0), "<="),
                (self.gt, value <= (self.gt or 0), ">"),
                (self.lt, value >= (self.lt or 0), "<"),
            ):
                if bound is not None and bad:
                    return f"must be {op} {bound:g}, got {value!r}"
        return None


# adapter: (run dir to write into, resolved params, log) -> None; raises on failure
StageFn = Callable[[Path, Mapping[str, Any], Callable[[str], None]], None]


@dataclass(frozen=True)
class StageKind:
    """A stage kind: a closed-registry entry that adapts pipeline params to a plain stage function.

    ``reads`` are run-dir files written by earlier stages; ``outs`` are the files it must write
    (hashed in the lock); ``extras`` are files it may also write (plots, resume files): never
    handed to a rerun and removed when a rerun does not write them again. ``external_deps`` maps
    the params to files outside the run dir that the stage reads (the corpus). ``sources`` are the
    modules or packages whose source code is the stage's code version.
    """

    name: str
    params: Mapping[str, Param]
    outs: tuple[str, ...]
    run: StageFn
    reads: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    external_deps: Callable[[Mapping[str, Any]], list[Path]] | None = None
    # run-dir files used when present (pretrained embeddings), or a function of the params giving them
    optional_reads: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]] = ()
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None  # cross-field and range checks
    command: str = ""  # the single command that runs this stage by hand, for hints
    help: str = ""

    def optional_files(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The run-dir files this stage reads when they exist, for these params."""
        return self.optional_reads(params) if callable(self.optional_reads) else self.optional_reads

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The full parameter values: ``given`` over the defaults (caller validated ``given``)."""
        out = {k: (given[k] if k in given else p.default) for k, p in self.params.items()}
        for k, p in self.params.items():  # 1 and 1.0 are the same float parameter
            if p.type == "float" and isinstance(out[k], int) and not isinstance(out[k], bool):
                out[k] = float(out[k])
        return out


def params_from_dataclass(
    cls: type,
    *,
    exclude: tuple[str, ...] = (),
    untracked: tuple[str, ...] = (),
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Param]:
    """Parameters named, typed and defaulted like the fields of a config dataclass.

    Supports int, float, bool, str, Literal[...] of strings, tuple[int, ...] and ``X | None``.
    Range checks stay with the dataclass (pass its checker as ``StageKind.validate``).
    """
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    out: dict[str, Param] = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        nullable = type(None) in args
        if nullable:
            rest = [a for a in args if a is not type(None)]
            hint = rest[0] if len(rest) == 1 else hint
            args = typing.get_args(hint)
        choices = None
        if typing.get_origin(hint) is typing.Literal:
            type_name, choices = "str", tuple(args)
        elif typing.get_origin(hint) is tuple and args and args[0] is int:
            type_name = "int_list"
        elif hint in (int, float, bool, str):
            type_name = hint.__name__
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {hint!r} for a pipeline parameter")
        if defaults and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        if isinstance(default, tuple):
            default = list(default)
        out[f.name] = Param(type_name, default, choices=choices, nullable=nullable, tracked=f.name not in untracked)
    return out
