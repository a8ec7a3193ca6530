"""A generation request -> the served run and the ``generate`` step's checked config, or a 4xx.

The values are checked by the step's own config, as ``textgen generate`` checks its options, and
then against the server's caps; every problem is named by its JSON field, in one line. The prime
is tokenized here, before the request waits for the model, so an unknown word is a 404 at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from textgen import options
from textgen.serve.config import ServeConfig
from textgen.serve.errors import ApiError
from textgen.serve.runs import Registry, ServedRun
from textgen.steps import STEPS
from textgen.steps.base import ConfigError
from textgen.steps.generate import GenerateConfig
from textgen.text import symbols

_NAMES = {"primes": "prime"}  # config field -> request field where they differ


def _name(field: str) -> str:
    return _NAMES.get(field, field)


@dataclass(frozen=True)
class Plan:
    """What one request will run."""

    run: ServedRun
    config: GenerateConfig


def _caps(primes: tuple[str, ...], cfg: ServeConfig) -> list[str]:
    found = []
    if len(primes) > cfg.max_primes:
        found.append(f"prime has {len(primes)} entries; this server takes at most {cfg.max_primes} (--max-primes)")
    for prime in primes:
        if not prime.strip():
            found.append('prime is empty; give the words to start from, e.g. "jerry"')
        elif len(prime) > cfg.max_prime_chars:
            found.append(
                f"prime has {len(prime):,} characters; this server takes at most {cfg.max_prime_chars:,} "
                "(--max-prime-chars)"
            )
    return found


def _limits(config: GenerateConfig, cfg: ServeConfig) -> list[str]:
    found = []
    if config.length > cfg.max_length:
        found.append(f"length must be at most {cfg.max_length:,} on this server (--max-length), got {config.length}")
    if config.num_samples > cfg.max_samples:
        found.append(
            f"num_samples must be at most {cfg.max_samples} on this server (--max-samples), got {config.num_samples}"
        )
    return found


def plan(body: dict[str, Any], registry: Registry, cfg: ServeConfig) -> Plan:
    """Check a request's fields (those it set) and pick its run; :class:`ApiError` names every problem."""
    values = dict(body)
    run = registry.get(values.pop("run", None))
    prime = values.pop("prime")
    primes = (prime,) if isinstance(prime, str) else tuple(prime)
    problems = _caps(primes, cfg) or ([] if primes else ["prime is empty; give the words to start from"])
    if problems:
        raise ApiError(422, "; ".join(problems))
    default_length = options.leaf_map(GenerateConfig)["length"].default
    values.setdefault("length", min(default_length, cfg.max_length))
    if values.get("seed") is None:  # chosen here, so that a stream can say each prime's seed up front
        values["seed"] = secrets.randbelow(2**31)
    try:
        config = STEPS["generate"].configure({**values, "primes": primes, "format": "json"})
    except ConfigError as exc:
        raise ApiError(422, "; ".join(p.render(_name) for p in exc.problems)) from None
    problems = _limits(config, cfg)
    if config.max_turns is not None and symbols.TURN not in run.vocab:
        problems.append("max_turns needs a vocabulary with turn breaks (||turn||); use length instead")
    if problems:
        raise ApiError(422, "; ".join(problems))
    for p in primes:
        run.generator.prime_ids(p)  # UnknownWordError (404, with suggestions) before the request waits
    return Plan(run, config)


def defaults(cfg: ServeConfig) -> dict[str, Any]:
    """The settings a request leaves out, as ``GET /api/runs`` shows them."""
    flat = options.flatten(GenerateConfig())
    out = {name: value for name, value in flat.items() if name not in ("primes", "format", "device")}
    out["length"] = min(out["length"], cfg.max_length)
    return out
