"""Request and response shapes of the HTTP API (what ``/docs`` shows).

The generation request is derived from the ``generate`` step's config
(:class:`textgen.steps.generate.GenerateConfig`): its fields are the CLI's options under their
field names (``--max-turns`` -> ``max_turns``), with the same help, defaults, bounds and choices,
so nothing is declared twice. Pydantic checks only the JSON types; the values are checked by the
step's own config (:func:`textgen.steps.generate.STEP.configure`), as on the command line.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

from textgen import options
from textgen.steps.generate import GenerateConfig

# config fields a request does not set: the primes come as "prime", the output is always JSON,
# and the device is the server's
NOT_REQUESTED = ("primes", "format", "device")
_STRICT: dict[Any, Any] = {int: StrictInt, float: StrictFloat | StrictInt, bool: StrictBool, str: StrictStr}
_BOUNDS = (("min", "minimum"), ("max", "maximum"), ("gt", "exclusiveMinimum"), ("lt", "exclusiveMaximum"))


def _field(leaf: options.Leaf) -> tuple[Any, Any]:
    base = leaf.base
    kind = _STRICT.get(base, StrictStr if typing.get_origin(base) is Literal else base)
    if leaf.nullable:
        kind = kind | None
    bounds = {key: getattr(leaf.spec, name) for name, key in _BOUNDS}
    schema: dict[str, Any] = {key: value for key, value in bounds.items() if value is not None}
    if leaf.choices:
        schema["enum"] = list(leaf.choices)
    return kind, Field(default=leaf.default, description=leaf.spec.help, json_schema_extra=schema or None)


GenerateRequest: type[BaseModel] = create_model(
    "GenerateRequest",
    __config__=ConfigDict(extra="forbid"),
    __doc__="What to generate: a run, a prime and the `textgen generate` options (by their field names).",
    run=(StrictStr | None, Field(None, description="A served run's name (GET /api/runs); optional with one run.")),
    prime=(
        StrictStr | list[StrictStr],
        Field(description="Start from these words; a lone speaker name starts their turn. A list: one result each."),
    ),
    **{leaf.name: _field(leaf) for leaf in options.leaves(GenerateConfig) if leaf.name not in NOT_REQUESTED},
)
REQUEST_FIELDS = frozenset(GenerateRequest.model_fields)


class Alternative(BaseModel):
    token: str
    prob: float


class SampleOut(BaseModel):
    """One sample, as ``textgen generate --json`` writes it."""

    text: str
    tokens: list[str]
    token_ids: list[int]
    probs: list[float]
    stop_reason: Literal["length", "eos", "turns"]
    entropy_bits: list[float] | None = Field(None, description="With explain.")
    alternatives: list[list[Alternative]] | None = Field(None, description="With explain.")


class GenerationOut(BaseModel):
    """The JSON of ``textgen generate --json`` for one prime (a list of these for several primes)."""

    prime: str
    prime_tokens: list[str]
    seed: int
    settings: dict[str, Any]
    samples: list[SampleOut]


class Speaker(BaseModel):
    name: str
    prime: str = Field(description="The prime that starts this speaker's turn.")
    count: int


class RunInfo(BaseModel):
    name: str
    corpus: str | None
    architecture: str
    val_bpb: float | None
    vocab_size: int
    speakers: list[Speaker]
    attention: bool = Field(description="Attention weights are streamed with each token.")
    embeddings: bool = Field(description="GET /api/similar works for this run.")
    turns: bool = Field(description="max_turns works (the vocabulary has turn breaks).")
    ngram: bool = Field(description="ngram works (the generator was trained with an n-gram).")


class RunsOut(BaseModel):
    runs: list[RunInfo]
    limits: dict[str, float]
    defaults: dict[str, Any] = Field(description="The generation settings a request leaves out.")


class Neighbour(BaseModel):
    word: str
    similarity: float


class SimilarOut(BaseModel):
    run: str
    word: str
    neighbours: list[Neighbour]


class HealthOut(BaseModel):
    status: str
    runs: dict[str, dict[str, int]]


class ErrorOut(BaseModel):
    """Every error: one line that says what to do next, and close matches where there are any."""

    model_config = ConfigDict(extra="allow")
    error: str
    suggestions: list[str] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown run or word (with suggestions)."},
    422: {"model": ErrorOut, "description": "Bad JSON or a value out of range."},
}
