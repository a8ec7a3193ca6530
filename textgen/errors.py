"""Typed errors raised by library code.

Only the CLI turns these into a one-line message on stderr and an exit code. Every message says
what went wrong and what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence


class TextgenError(Exception):
    """Base class: a failed run (exit code 1)."""

    exit_code = 1


class UsageError(TextgenError):
    """Nonsense option values or combinations (exit code 2)."""

    exit_code = 2


class InputError(TextgenError):
    """A corpus, file or word the user gave cannot be used as it is."""


class CorpusError(InputError):
    """A corpus is missing, empty, unknown or unreadable."""


class EncodingError(CorpusError):
    """A corpus file is not valid text in the expected encoding."""


class DownloadError(CorpusError):
    """A download failed or its checksum did not match."""


class RunDirError(TextgenError):
    """The run directory is unusable (a file, unwritable, locked by another run)."""


class MissingArtifactError(TextgenError):
    """A stage's input is missing from the run directory; the message names the command to run."""


class ArtifactError(TextgenError):
    """An artifact is corrupt, truncated, or does not match the run (vocabulary, model sizes)."""


class DiskFullError(TextgenError):
    """An artifact could not be written for lack of space; the previous file is kept."""


class OutputPathError(UsageError):
    """An output path names a directory, or a path under a file."""


class VocabularyError(TextgenError):
    """The vocabulary is empty or a word is not in it."""


class UnknownWordError(VocabularyError, InputError):
    """A word is not in the vocabulary; the message lists the closest entries (also in ``suggestions``)."""

    def __init__(self, message: str, word: str | None = None, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.word = word
        self.suggestions = list(suggestions)


class DeviceError(TextgenError):
    """The requested device is unavailable or ran out of memory."""


class PipelineError(TextgenError):
    """A pipeline file is invalid or a stage failed."""


class WorkerError(TextgenError):
    """A worker process ended without its result (killed, or out of memory)."""
