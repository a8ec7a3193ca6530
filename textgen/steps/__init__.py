"""The steps, one module each, in the order data flows: corpus -> ids -> vectors -> (classifier) -> weights -> text.

``STEPS`` is the closed registry; the CLI commands, the pipeline stages and the lock entries use
these names. Run a step with :func:`textgen.steps.execute.run_step`.
"""

from __future__ import annotations

from typing import Any

from textgen.steps import build_vocab, generate, train_classifier, train_embeddings, train_generator
from textgen.steps.base import Step

# train-classifier reads the vectors (after train-embeddings) and needs nothing of the generator
STEPS: dict[str, Step[Any]] = {
    step.name: step
    for step in (build_vocab.STEP, train_embeddings.STEP, train_classifier.STEP, train_generator.STEP, generate.STEP)
}

__all__ = ["STEPS", "Step", "run"]


def run(name: str, run_dir: Any, progress: Any = None, **values: Any) -> Any:
    """Run step ``name`` in ``run_dir`` with these parameter values, as its command does; its result."""
    from textgen.steps.base import no_progress
    from textgen.steps.execute import run_step

    step = STEPS[name]
    return run_step(step, run_dir, step.configure(values), progress or no_progress)
