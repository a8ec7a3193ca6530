"""CLI options derived from a config dataclass: one ``--flag`` per field, with the field's help and default.

Every derived option defaults to None ("not given"), so a command knows which flags the user
passed: :func:`given` returns only those, which the step applies over its defaults (or over a
checkpoint's settings on ``--resume``). Booleans become ``--x/--no-x``; ``tuple[int, ...]`` fields
take ``2000,8000``; ``tuple[str, ...]`` fields repeat (``--prime jerry --prime george``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from textgen import options
from textgen.cli.app import command
from textgen.errors import UsageError
from textgen.options import Leaf

GIVEN = "given"  # the parameter of a command function that receives the derived options


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _annotation(leaf: Leaf) -> Any:
    dash = leaf.name.replace("_", "-")
    base, origin = leaf.base, typing.get_origin(leaf.base)
    help_text = leaf.spec.help
    if leaf.default not in ((), None) or base is bool:
        help_text += f" [default: {_show(leaf.default)}]"
    if base is bool:
        names: tuple[str, ...] = (f"--{dash}/--no-{dash}",)
        kind: Any = bool
    else:
        names = (options.cli_flag(leaf.name, leaf),)
        if origin is tuple:
            kind = list[str] if typing.get_args(base)[0] is str else str
        elif origin is Literal:
            kind = str  # checked with the config, so a bad value is a one-line error like any other
        else:
            kind = base
    metavar = leaf.spec.metavar or ("|".join(map(str, leaf.choices)) if leaf.choices else None)
    return Annotated[kind | None, typer.Option(*names, help=help_text, metavar=metavar, show_default=False)]


def parameters(cls: type) -> list[inspect.Parameter]:
    """One keyword parameter per CLI field of ``cls`` (sections flattened)."""
    return [
        inspect.Parameter(leaf.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_annotation(leaf))
        for leaf in options.leaves(cls)
        if leaf.spec.cli and not leaf.spec.derived
    ]


def given(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The flags the user passed, as field values (``2000,8000`` -> ``(2000, 8000)``)."""
    known = options.leaf_map(cls)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        leaf = known[name]
        if typing.get_origin(leaf.base) is tuple:
            if typing.get_args(leaf.base)[0] is str:
                value = tuple(value)
                if not value:
                    continue
            else:
                try:
                    value = tuple(int(part) for part in str(value).split(",") if part.strip())
                except ValueError:
                    flag = options.cli_flag(name, leaf)
                    raise UsageError(f"{flag} takes comma-separated integers (e.g. 2000,8000), got {value!r}") from None
        out[name] = value
    return out


def derived_command(group: typer.Typer, cls: type, name: str, help: str) -> Callable[[Callable[..., Any]], Any]:
    """Register ``fn(given, **own)`` as command ``name``: its own parameters plus one option per field of ``cls``.

    ``given`` receives the derived options the user passed (see :func:`given`).
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name]) for p in inspect.signature(fn).parameters.values() if p.name != GIVEN
        ]
        derived = parameters(cls)
        clash = {p.name for p in own} & {p.name for p in derived}
        if clash:
            raise TypeError(f"{name}: {sorted(clash)} are both config fields and command parameters")
        field_names = {p.name for p in derived}

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {k: kwargs.pop(k) for k in list(kwargs) if k in field_names}
            return fn(given(cls, values), **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + derived
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__doc__ = help
        command(group, name=name)(wrapper)
        return fn

    return decorate
