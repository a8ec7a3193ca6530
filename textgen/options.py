"""Config fields that carry their own help, bounds and choices.

Every step's config is a dataclass whose fields are made with :func:`option` (a leaf) or
:func:`section` (a nested config). The CLI options and the pipeline params are derived from those
fields, so a default, a help line or a range check is written once::

    @dataclass(frozen=True)
    class Config:
        dim: int = option(100, "Vector size.", min=1)
        backend: str = option("auto", "auto, torch or gensim.", choices=("auto", "torch", "gensim"))

:func:`problems` checks types, bounds and choices, then each (sub)config's ``cross_check()``; a
:class:`Problem` names its field, and callers render it as ``--dim`` (CLI) or
``stages.X.params.dim`` (pipeline). Texts may name other fields as ``{field}``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from textgen.errors import UsageError

KEY = "textgen.option"
SECTION_KEY = "textgen.section"
T = TypeVar("T")


@dataclass(frozen=True)
class Spec:
    """What a leaf field says about itself besides its type and default."""

    help: str
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    gt: float | None = None  # exclusive
    lt: float | None = None  # exclusive
    choices: tuple[Any, ...] | None = None
    tracked: bool = True  # pipeline: compared to decide whether a step reruns (not: device, threads)
    cli: bool = True  # exposed as a --flag
    flag: str | None = None  # the CLI flag, when not --field-name
    derived: bool = False  # filled in at run time (vocabulary size): neither a flag nor a pipeline param
    metavar: str | None = None
    hint: str | None = None  # what to do instead, added to a range or choice error (may name {fields})
    check: Callable[[Any], str | None] | None = None  # a value check of the field's own (a phrase, or None)


def option(
    default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING, **spec: Any
) -> Any:
    """A config field with its help text and checks (see :class:`Spec` for the keywords)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={KEY: Spec(help, **spec)})


def section(cls: type) -> Any:
    """A nested config (its fields are leaves of the parent, under their own names)."""
    return dataclasses.field(default_factory=cls, metadata={SECTION_KEY: True})


@dataclass(frozen=True)
class Leaf:
    """One leaf field of a (possibly nested) config: its name, where it sits, its type and spec."""

    name: str
    path: tuple[str, ...]  # section names above it
    hint: Any
    spec: Spec
    default: Any

    @property
    def base(self) -> Any:
        """The hint without ``| None``."""
        args = [a for a in typing.get_args(self.hint) if a is not type(None)]
        return args[0] if _is_union(self.hint) and len(args) == 1 else self.hint

    @property
    def nullable(self) -> bool:
        return _is_union(self.hint) and type(None) in typing.get_args(self.hint)

    @property
    def choices(self) -> tuple[Any, ...] | None:
        if self.spec.choices is not None:
            return self.spec.choices
        base = self.base
        return tuple(typing.get_args(base)) if typing.get_origin(base) is Literal else None


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@functools.cache
def leaves(cls: type) -> tuple[Leaf, ...]:
    """Every leaf of ``cls`` in field order, sections flattened; names must be unique."""
    out: list[Leaf] = []

    def walk(c: type, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(c)
        for f in dataclasses.fields(c):
            if f.metadata.get(SECTION_KEY):
                walk(hints[f.name], (*path, f.name))
                continue
            spec = f.metadata.get(KEY)
            if spec is None:
                raise TypeError(f"{c.__name__}.{f.name} is not made with textgen.options.option()")
            out.append(Leaf(f.name, path, hints[f.name], spec, _default(f)))

    walk(cls, ())
    names = [leaf.name for leaf in out]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise TypeError(f"{cls.__name__}: leaf names must be unique, {clash} repeat")
    return tuple(out)


def leaf_map(cls: type) -> dict[str, Leaf]:
    return {leaf.name: leaf for leaf in leaves(cls)}


def params(cls: type) -> dict[str, Leaf]:
    """The leaves a pipeline file may set (derived fields are left out)."""
    return {leaf.name: leaf for leaf in leaves(cls) if not leaf.spec.derived}


def flatten(config: Any) -> dict[str, Any]:
    """``{leaf name: value}`` of a config (tuples as lists, as JSON and YAML have them)."""
    out: dict[str, Any] = {}
    for leaf in leaves(type(config)):
        obj = config
        for name in leaf.path:
            obj = getattr(obj, name)
        value = getattr(obj, leaf.name)
        out[leaf.name] = list(value) if isinstance(value, tuple) else value
    return out


def _coerce(leaf: Leaf, value: Any) -> Any:
    """JSON/YAML shapes to the field's: lists to tuples, ints to floats for float fields."""
    if isinstance(value, list) and typing.get_origin(leaf.base) is tuple:
        return tuple(value)
    if leaf.base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build(cls: type[T], values: Mapping[str, Any], base: T | None = None) -> T:
    """A ``cls`` from leaf values over ``base`` (or the defaults). Unknown names raise KeyError; nothing is checked."""
    known = leaf_map(cls)
    unknown = [k for k in values if k not in known]
    if unknown:
        raise KeyError(unknown[0])

    def make(c: type, path: tuple[str, ...], current: Any) -> Any:
        hints = typing.get_type_hints(c)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(c):
            old = getattr(current, f.name) if current is not None else dataclasses.MISSING
            if f.metadata.get(SECTION_KEY):
                kwargs[f.name] = make(hints[f.name], (*path, f.name), None if old is dataclasses.MISSING else old)
            elif f.name in values:
                kwargs[f.name] = _coerce(known[f.name], values[f.name])
            elif old is not dataclasses.MISSING:
                kwargs[f.name] = old
        return c(**kwargs)

    return make(cls, (), base)  # type: ignore[no-any-return]


# ----- checks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """A bad value: ``text`` says what is wrong with ``field``; ``{other}`` in it names another field."""

    field: str
    text: str

    def render(self, name: Callable[[str], str], sep: str = " ") -> str:
        return f"{name(self.field)}{sep}{self.text.format_map(_Namer(name))}"


class _Namer(dict[str, str]):
    def __init__(self, name: Callable[[str], str]) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return self.name(key)


def cli_flag(name: str, leaf: Leaf | None = None) -> str:
    """The CLI flag of a field: ``min_count`` -> ``--min-count`` (or the field's own flag)."""
    if leaf is not None and leaf.spec.flag:
        return leaf.spec.flag
    return "--" + name.replace("_", "-")


def cli_namer(cls: type | None = None) -> Callable[[str], str]:
    known = leaf_map(cls) if cls is not None else {}
    return lambda name: cli_flag(name, known.get(name))


def render_cli(problems: Iterable[Problem], cls: type | None = None) -> str:
    """Problems as one line naming ``--flags``."""
    namer = cli_namer(cls)
    return "; ".join(p.render(namer) for p in problems)


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def check_value(leaf: Leaf, value: Any) -> str | None:
    """Why ``value`` cannot be this field's (a phrase), or None."""
    if value is None:
        return None if leaf.nullable else f"expected {describe(leaf)}, got null"
    base = leaf.base
    origin = typing.get_origin(base)
    if origin is Literal:
        base = type(typing.get_args(base)[0])
    if origin is tuple:
        item = typing.get_args(base)[0]
        items = value if isinstance(value, tuple | list) else None
        if items is None or not all(_is(item, v) for v in items):
            return f"expected {describe(leaf)}, got {value!r} ({type(value).__name__})"
    elif base is float and isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    elif not _is(base, value):
        return f"expected {describe(leaf)}, got {value!r} ({type(value).__name__})"
    choices = leaf.choices
    problem = leaf.spec.check(value) if leaf.spec.check is not None else None
    if problem:
        pass
    elif choices is not None and value not in choices:
        problem = f"must be one of {', '.join(map(str, choices))}; got {value!r}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        problem = _check_bounds(leaf.spec, value)
    return f"{problem}; {leaf.spec.hint}" if problem and leaf.spec.hint else problem


def _is(kind: Any, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    return isinstance(value, kind)


def describe(leaf: Leaf) -> str:
    """What a field takes, in words."""
    base = leaf.base
    if typing.get_origin(base) is tuple:
        text = f"a list of {_TYPE_WORDS.get(typing.get_args(base)[0], 'values')[2:]}s"
    else:
        text = _TYPE_WORDS.get(base, "one of " + ", ".join(map(str, leaf.choices or ())))
    return text + (" or null" if leaf.nullable else "")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _check_bounds(spec: Spec, value: float) -> str | None:
    lo_ok = (spec.min is None or value >= spec.min) and (spec.gt is None or value > spec.gt)
    hi_ok = (spec.max is None or value <= spec.max) and (spec.lt is None or value < spec.lt)
    if lo_ok and hi_ok:
        return None
    lo = f"[{_fmt(spec.min)}" if spec.min is not None else (f"({_fmt(spec.gt)}" if spec.gt is not None else None)
    hi = f"{_fmt(spec.max)}]" if spec.max is not None else (f"{_fmt(spec.lt)})" if spec.lt is not None else None)
    if lo and hi:
        return f"must be in {lo}, {hi}, got {value!r}"
    if spec.min is not None:
        return f"must be at least {_fmt(spec.min)}, got {value!r}"
    if spec.gt is not None:
        return f"must be > {_fmt(spec.gt)}, got {value!r}"
    if spec.max is not None:
        return f"must be at most {_fmt(spec.max)}, got {value!r}"
    return f"must be < {_fmt(spec.lt or 0)}, got {value!r}"


def problems(config: Any) -> list[Problem]:
    """Every bad value of ``config``: field by field, then each (sub)config's ``cross_check()``."""
    found: list[Problem] = []
    for leaf in leaves(type(config)):
        obj = config
        for name in leaf.path:
            obj = getattr(obj, name)
        text = check_value(leaf, getattr(obj, leaf.name))
        if text:
            found.append(Problem(leaf.name, text))
    if found:
        return found  # cross-field checks assume well-typed values

    def cross(obj: Any) -> None:
        for f in dataclasses.fields(obj):
            if f.metadata.get(SECTION_KEY):
                cross(getattr(obj, f.name))
        check = getattr(obj, "cross_check", None)
        if callable(check):
            found.extend(check())

    cross(config)
    return found


def validated(config: T) -> T:
    """``config``, or :class:`UsageError` naming every bad value as ``--flags`` in one line."""
    found = problems(config)
    if found:
        raise UsageError(render_cli(found, type(config)))
    return config


def from_dict(cls: type[T], data: Any, what: str) -> T:
    """A config read back from JSON, with every field type-checked; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    flat: dict[str, Any] = {}

    def walk(c: type, obj: Mapping[str, Any], path: str) -> None:
        hints = typing.get_type_hints(c)
        for f in dataclasses.fields(c):
            if f.name not in obj:
                continue
            value = obj[f.name]
            if f.metadata.get(SECTION_KEY):
                if not isinstance(value, dict):
                    raise ValueError(f"{path}{f.name} is not a JSON object")
                walk(hints[f.name], value, f"{path}{f.name}.")
            else:
                flat[f.name] = value

    walk(cls, data, "")
    known = leaf_map(cls)
    for name, value in flat.items():
        text = check_value(known[name], _coerce(known[name], value))
        if text:
            raise ValueError(f"{name}: {text}")
    return build(cls, flat)
