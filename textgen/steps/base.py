"""What a step is: one name, one config dataclass, the run-dir files it reads and writes, how to run it.

A step is a closed-registry entry (:mod:`textgen.steps`); the CLI command, the pipeline stage, the
lock entry and the docs all use its ``name``. Its config dataclass (fields made with
:func:`textgen.options.option`) owns every default, help line and check; :meth:`Step.configure`
turns pipeline params or CLI flags into a checked config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from textgen import options
from textgen.errors import UsageError

C = TypeVar("C")
# progress(kind, info): every step reports through this; an info with "message" is one human line
Progress = Callable[[str, dict[str, Any]], None]


def no_progress(kind: str, info: dict[str, Any]) -> None:
    """The default progress callback: ignore everything."""


def _nothing(config: Any) -> tuple[str, ...]:
    return ()


def _no_paths(config: Any) -> list[Path]:
    return []


def _always(result: Any) -> bool:
    return True


class ConfigError(UsageError):
    """Bad step parameters; ``problems`` names each field (rendered as ``--flags`` in the message)."""

    def __init__(self, cls: type, problems: list[options.Problem]) -> None:
        self.problems = problems
        super().__init__(options.render_cli(problems, cls))


@dataclass(frozen=True)
class Step(Generic[C]):
    """One step of the route corpus -> ids -> vectors -> weights -> text.

    ``reads`` are run-dir files earlier steps wrote; ``outputs(config)`` the files it must write
    (hashed in the lock); ``extras`` files it may also write (plots, resume files): removed when a
    rerun does not write them again. ``external_deps`` are files outside the run dir it reads (the
    corpus); ``optional_reads`` run-dir files used when present, ``needs(config)`` those a config
    requires (checked before staging). ``sources`` are the modules whose code is the step's version;
    ``finished(result)`` is False for a result that is not a finished step (an interrupted training
    run), which is then not recorded. ``staged`` steps write into a
    staging dir committed on success; the others (training) write checkpoints in place, each
    atomically, so a kill can resume.
    """

    name: str
    config: type[C]
    run: Callable[[Path, C, Progress], Any]
    help: str
    reads: tuple[str, ...] = ()
    outputs: Callable[[C], tuple[str, ...]] = _nothing
    extras: tuple[str, ...] = ()
    optional_reads: Callable[[C], tuple[str, ...]] = _nothing
    needs: Callable[[C], tuple[str, ...]] = _nothing  # run-dir files this config cannot do without
    external_deps: Callable[[C], list[Path]] = _no_paths
    sources: tuple[str, ...] = ()
    staged: bool = True
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # with a ``preset`` field
    finished: Callable[[Any], bool] = _always  # False for a result that is no finished step (interrupted)

    @property
    def command(self) -> str:
        return f"textgen {self.name}"

    def params(self) -> dict[str, options.Leaf]:
        """The parameters a pipeline file may set."""
        return options.params(self.config)

    def defaults(self, values: Mapping[str, Any]) -> C:
        """The config before ``values`` apply: the dataclass defaults, under the chosen preset's."""
        base = self.config()
        if self.presets:
            preset = values.get("preset", getattr(base, "preset", None))
            if preset in self.presets:
                base = options.build(self.config, {**self.presets[preset], "preset": preset})
        return base

    def configure(self, values: Mapping[str, Any], base: C | None = None) -> C:
        """A checked config from leaf values (over ``base``, else the defaults); :class:`ConfigError` if bad."""
        known = self.params()
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ConfigError(self.config, [options.Problem(k, "is not a parameter of this step") for k in unknown])
        config = options.build(self.config, values, base if base is not None else self.defaults(values))
        found = options.problems(config)
        if found:
            raise ConfigError(self.config, found)
        return config

    def tracked(self, config: C) -> dict[str, Any]:
        """The parameter values the lock compares (untracked ones such as the device left out)."""
        flat = options.flatten(config)
        return {k: flat[k] for k, leaf in self.params().items() if leaf.spec.tracked}
