"""The pipelines that come with textgen: ``textgen run smoke`` finds ``pipelines/smoke.yaml`` from any folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textgen import data
from textgen.errors import InputError


@dataclass(frozen=True)
class Shipped:
    """One shipped pipeline: its name, file and one-line description."""

    name: str
    path: Path
    description: str


def _description(path: Path) -> str:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(doc.get("description", "")).strip() if isinstance(doc, dict) else ""


def shipped() -> list[Shipped]:
    """Every shipped pipeline, by name."""
    folder = data.folder("pipelines")
    return [Shipped(p.stem, p, _description(p)) for p in sorted(folder.glob("*.yaml"))]


def resolve(spec: str | Path) -> Path:
    """A pipeline file: an existing path, or the name of a shipped pipeline (``smoke``, ``seinfeld``)."""
    path = Path(spec)
    if path.is_file():
        return path
    by_name = {p.name: p.path for p in shipped()}
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if str(spec) in by_name or (name in by_name and not path.exists() and path.parent == Path("pipelines")):
        return by_name[str(spec) if str(spec) in by_name else name]
    if path.exists():
        raise InputError(f"pipeline {spec} is not a file; pass a pipeline .yaml file or a shipped name")
    names = ", ".join(by_name)
    raise InputError(
        f"pipeline {spec} not found: not a file and not a shipped pipeline ({names}); `textgen run --list`"
    )
