"""Command-line interface: ``textgen <command>`` (also ``python -m textgen``).

Each module registers its commands on import: one module per step, named as the step, whose
options derive from the step's config (``build_vocab``, ``train_embeddings``, ``train_classifier``,
``train_generator``, ``generate``); ``classify`` (classify, evaluate-classifier, evaluate-generation),
``queries`` (evaluate, similar, analogy, evaluate-embeddings, corpus list), ``pipeline`` (run,
status, pipelines) and ``serve`` (the web page and HTTP API, :mod:`textgen.serve`).
"""

# isort: skip_file  (commands are listed in the order they are imported: the order data flows)
from __future__ import annotations

from textgen.cli import (  # noqa: F401
    build_vocab,
    classify,
    generate,
    pipeline,
    queries,
    serve,
    train_classifier,
    train_embeddings,
    train_generator,
)
from textgen.cli.app import app, main

__all__ = ["app", "main"]
