"""Generation: incremental decoding, sampling, rendering and explanations.

``textgen.load(run_dir).generate(prime="jerry", length=200)`` is the entry point; ``textgen
generate`` is its command line.
"""

from textgen.generate.api import Generation, Sample, TextGenerator, load, resolve_device
from textgen.generate.render import prime_tokens, render
from textgen.generate.sampling import Sampler, SamplingSettings

__all__ = [
    "Generation",
    "Sample",
    "Sampler",
    "SamplingSettings",
    "TextGenerator",
    "load",
    "prime_tokens",
    "render",
    "resolve_device",
]
