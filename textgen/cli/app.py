"""The root Typer app and the error boundary shared by every command.

Command modules register with ``@command(app_or_group)``; the wrapper turns a
:class:`textgen.errors.TextgenError` into one line on stderr and its exit code (1 for a failed
run, 2 for bad usage), and Ctrl-C into exit 130. :func:`main` gives click's own usage errors
(an unknown option, a value that is not a number) the same one-line form. Only this layer prints
or exits.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console

from textgen.errors import TextgenError

F = TypeVar("F", bound=Callable[..., Any])
# click's UsageError, whichever click this typer uses (newer typers vendor their own)
ClickUsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

app = typer.Typer(
    name="textgen",
    help="Turn a corpus of scripts into a text generator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
corpus_app = typer.Typer(help="Named corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    err_console.print(f"error: {message}", markup=False)
    return typer.Exit(code)


def command(group: typer.Typer = app, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``fn`` on ``group`` with the shared error boundary."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except TextgenError as exc:
                raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code) from None
            except KeyboardInterrupt:
                raise fail("interrupted", 130) from None

        group.command(name=name, **kwargs)(wrapper)
        return fn

    return decorate


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the app; usage errors are one line and exit 2."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="textgen", standalone_mode=False)
    except ClickUsageError as exc:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "textgen"
        message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
        err_console.print(f"error: {message}; see `{where} --help`", markup=False)
        sys.exit(2)
    except typer.Abort:
        err_console.print("error: interrupted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
