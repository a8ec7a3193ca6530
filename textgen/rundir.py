"""The run directory: one experiment's artifacts, with fixed file names.

Any command given ``--run-dir`` finds its inputs here; a missing input names the command that
writes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textgen.errors import MissingArtifactError, RunDirError

DEFAULT_RUN_DIR = Path("runs/default")

# file name -> the command that writes it
ARTIFACTS: dict[str, str] = {
    "vocab.json": "textgen build-vocab",
    "train_ids.npy": "textgen build-vocab",
    "val_ids.npy": "textgen build-vocab",
    "corpus.json": "textgen build-vocab",
    "embeddings.safetensors": "textgen train-embeddings",
    "embeddings.json": "textgen train-embeddings",
    "vectors.txt": "textgen train-embeddings",
    "generator.safetensors": "textgen train",
    "generator.json": "textgen train",
}


@dataclass(frozen=True)
class RunDir:
    """Paths of the artifacts inside one run directory."""

    root: Path

    @classmethod
    def of(cls, path: str | os.PathLike[str] | None) -> RunDir:
        return cls(Path(path) if path is not None else DEFAULT_RUN_DIR)

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def require(self, *names: str) -> None:
        """Raise :class:`MissingArtifactError` naming the command that writes the first missing file."""
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"run dir {self.root} is a file; pass --run-dir with a directory")
        for name in names:
            if not (self.root / name).is_file():
                command = ARTIFACTS.get(name, "the stage that writes it")
                raise MissingArtifactError(
                    f"{self.root / name} not found; run `{command} --run-dir {self.root}` first"
                )

    def ensure_writable(self) -> Path:
        """Create the directory if needed; raise :class:`RunDirError` if it cannot hold artifacts."""
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"run dir {self.root} is a file, not a directory; choose another --run-dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create run dir {self.root} ({exc.strerror}); choose another --run-dir") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise RunDirError(f"run dir {self.root} is not writable; fix its permissions or choose another --run-dir")
        return self.root
