"""Step ``generate``: new script text from one or more primes with the run's trained generator.

:func:`produce` makes the text; ``textgen generate`` prints it or writes ``--out``, and the pipeline
stage writes it to ``samples.txt`` (``samples.json`` with ``format: json``): the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from textgen import device as devices
from textgen import io
from textgen.decode.settings import MAX_LENGTH, MAX_SAMPLES, SamplingSettings
from textgen.lm.adapt_settings import CacheSettings
from textgen.options import Problem, option, section
from textgen.rundir import GENERATOR_FILES
from textgen.steps.base import Progress, Step, no_progress

Format = Literal["text", "json"]
PRECISIONS = ("auto", "fp32", "bf16", "int8")


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate and how to sample it."""

    primes: tuple[str, ...] = option(
        (),
        "Start from these words; a lone speaker name starts their turn (repeat for several primes).",
        flag="--prime",
        metavar="TEXT",
    )
    length: int = option(200, "Generate at most this many tokens after the prime.", min=1, max=MAX_LENGTH)
    max_turns: int | None = option(None, "Stop after this many turns (the prime's turn is the first).", min=1)
    sampling: SamplingSettings = section(SamplingSettings)
    seed: int | None = option(None, "Random seed: same seed, same text on CPU (default: random).", min=0)
    num_samples: int = option(1, "Independent samples per prime, generated as one batch.", min=1, max=MAX_SAMPLES)
    neural_cache: CacheSettings = section(CacheSettings)
    precision: str = option(
        "auto",
        "Decoding arithmetic: fp32 (the model's own), bf16, int8 (x86 CPU, fastest); auto: int8 on CPU.",
        choices=PRECISIONS,
    )
    explain: bool = option(False, "Per-token probability, entropy and alternatives (and attention weights).")
    format: Format = option("text", "Output: text (a script) or json (tokens, probabilities, settings).")
    device: str = option("auto", f"{devices.CHOICES}.", tracked=False, check=devices.spec_problem)

    def cross_check(self) -> list[Problem]:
        found = []
        if not self.primes:
            found.append(Problem("primes", "is missing; give the words to start from, e.g. {primes} jerry"))
        return found

    @property
    def output_name(self) -> str:
        """The run-dir file the pipeline stage writes."""
        return "samples.json" if self.format == "json" else "samples.txt"


@dataclass
class GenerateResult:
    """The generations (one per prime), the text the step writes, and the generator used."""

    generations: list[Any]
    text: str
    generator: Any = field(repr=False, default=None)


def render(generations: list[Any], fmt: Format) -> str:
    """The output file's text: a script (headers when there are several samples), or JSON."""
    if fmt == "json":
        data = generations[0].to_dict() if len(generations) == 1 else [g.to_dict() for g in generations]
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    samples = [(g, j, s) for g in generations for j, s in enumerate(g.samples, 1)]
    if len(samples) == 1:
        return samples[0][2].text
    parts = [
        f"=== prime {g.prime!r}, sample {j} of {len(g.samples)}, seed {g.seed} ===\n{s.text.strip()}\n"
        for g, j, s in samples
    ]
    return "\n".join(parts)


def produce(
    run_dir: Path, config: GenerateConfig, progress: Progress = no_progress, generator: Any = None
) -> GenerateResult:
    """Generate from every prime (prime ``i`` with seed ``seed + i``); nothing is written."""
    import secrets

    from textgen.decode.generator import load

    gen = generator if generator is not None else load(run_dir, device=config.device)
    seed = secrets.randbelow(2**31) if config.seed is None else config.seed
    s = config.sampling
    generations = []
    for i, prime in enumerate(config.primes):
        generations.append(
            gen.generate(
                prime,
                length=config.length,
                max_turns=config.max_turns,
                temperature=s.temperature,
                top_k=s.top_k,
                top_p=s.top_p,
                repetition_penalty=s.repetition_penalty,
                greedy=s.greedy,
                seed=seed + i,
                num_samples=config.num_samples,
                explain=config.explain,
                exact_sampling=s.exact_sampling,
                precision=config.precision,  # type: ignore[arg-type]  (checked by generate)
                cache=config.neural_cache if config.neural_cache.cache else None,
            )
        )
        progress("status", {"message": f"prime {prime!r}: {config.num_samples} sample(s)"})
    return GenerateResult(generations, render(generations, config.format), gen)


def run(run_dir: Path, config: GenerateConfig, progress: Progress = no_progress) -> GenerateResult:
    """The pipeline stage: :func:`produce`, written to ``samples.txt`` (or ``samples.json``)."""
    result = produce(run_dir, config, progress)
    io.write_text(Path(run_dir) / config.output_name, result.text)
    return result


STEP = Step(
    name="generate",
    config=GenerateConfig,
    run=run,
    help="Generate new script text from a prime with the run's trained generator.",
    reads=("vocab.json", *GENERATOR_FILES),
    outputs=lambda config: (config.output_name,),
    sources=("textgen.steps.generate", "textgen.decode", "textgen.lm.cache", "textgen.lm.adapt_settings"),
)
