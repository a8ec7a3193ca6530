"""Run setup: the config a training run uses (fresh or resumed) and the module it steps."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from torch import Tensor, nn

from textgen.generator import pretrained
from textgen.generator.config import GeneratorConfig, ModelConfig, auto_cutoffs
from textgen.rundir import RunDir
from textgen.vocab import Vocab

# TrainConfig fields that may change on --resume (stopping criteria, device); the rest is the saved run's.
RESUMABLE = ("epochs", "max_steps", "max_seconds", "patience", "device", "amp", "compile", "compile_backend", "threads")


class LMStep(nn.Module):
    """One forward + loss, as a module so DDP and ``torch.compile`` can wrap the whole step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, y: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        hidden, state = self.model(x, state)
        return self.model.loss(hidden, y), tuple(s.detach() for s in state)


def resolve_config(config: GeneratorConfig | None, vocab: Vocab, rd: RunDir) -> GeneratorConfig:
    """Fill the vocabulary size and an automatic ``emb_dim`` (0: the vectors' width, else 200)."""
    config = config or GeneratorConfig(ModelConfig())
    model = replace(config.model, vocab_size=len(vocab))
    if model.softmax == "adaptive" and not model.cutoffs:
        model = replace(model, cutoffs=auto_cutoffs(len(vocab)))
    if model.emb_dim == 0:
        path = pretrained.resolve_path(rd, config.train.embeddings)
        model = replace(model, emb_dim=pretrained.vector_dim(path) if path else 200)
    return replace(config, model=model, vocab_sha256=vocab.sha256(), tokenizer=vocab.tokenizer.to_dict()).validate()


def resumed_config(payload: dict[str, Any], given: GeneratorConfig | None) -> GeneratorConfig:
    saved = GeneratorConfig.from_dict(json.loads(payload["config"]))
    if given is not None:  # stopping criteria and device may change on resume; nothing else
        overrides = {k: getattr(given.train, k) for k in RESUMABLE}
        saved = replace(saved, train=replace(saved.train, **overrides))
    return saved.validate()
