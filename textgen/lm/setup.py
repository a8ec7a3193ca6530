"""Run setup: the config a training run uses (fresh or resumed) and the module it steps."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

from torch import Tensor, nn

from textgen import options
from textgen.errors import ArtifactError, UsageError
from textgen.lm import pretrained
from textgen.lm.config import RESUMABLE, GeneratorConfig, ModelConfig, auto_cutoffs
from textgen.lm.regularize import activation_penalty
from textgen.options import Problem
from textgen.rundir import RunDir
from textgen.vocab import Vocab

# model fields whose "automatic" value (filled in at the start of a run) matches any saved one
_AUTOMATIC = {"emb_dim": 0, "cutoffs": (), "vocab_size": 0}


class LMStep(nn.Module):
    """One forward + loss, as a module so DDP and ``torch.compile`` can wrap the whole step.

    Returns ``(objective, loss, state)``: the objective adds the AR/TAR penalties
    (:func:`textgen.lm.regularize.activation_penalty`) to the mean NLL ``loss`` that is logged.
    """

    def __init__(self, model: nn.Module, ar: float = 0.0, tar: float = 0.0) -> None:
        super().__init__()
        self.model, self.ar, self.tar = model, ar, tar

    def forward(self, x: Tensor, y: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        hidden, state, _, raw, dropped = self.model.run(x, state)
        loss = self.model.loss(hidden, y)
        penalty = activation_penalty(raw, dropped, self.ar, self.tar)
        objective = loss if penalty is None else loss + penalty
        return objective, loss, tuple(s.detach() for s in state)


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


def saved_config(payload: dict[str, Any], where: str) -> GeneratorConfig:
    """The config a resume file was written with."""
    try:
        return GeneratorConfig.from_dict(json.loads(payload["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"resume file {where} has no usable config ({exc}); train without --resume") from exc


def contradictions(saved: GeneratorConfig, given: GeneratorConfig) -> list[Problem]:
    """Settings of ``given`` a resumed run cannot take from a run saved with ``saved``."""
    found = []
    for f in fields(ModelConfig):
        old, new = getattr(saved.model, f.name), getattr(given.model, f.name)
        if new != old and _AUTOMATIC.get(f.name, object()) != new:
            found.append(
                Problem(f.name, f"{new!r} contradicts the checkpoint's {old!r}; drop it, or train without --resume")
            )
    for f in fields(saved.train):
        if f.name in RESUMABLE or f.name == "embeddings":  # embeddings seed only a fresh run
            continue
        old, new = getattr(saved.train, f.name), getattr(given.train, f.name)
        if new != old:
            found.append(
                Problem(f.name, f"{new!r} contradicts the checkpoint's {old!r}; drop it, or train without --resume")
            )
    return found


def resumed_config(payload: dict[str, Any], given: GeneratorConfig | None, where: str) -> GeneratorConfig:
    """The saved run's config with ``given``'s stopping rules and device; other differences are errors."""
    saved = saved_config(payload, where)
    if given is None:
        return saved.validate()
    found = contradictions(saved, given)
    if found:
        raise UsageError(options.render_cli(found))
    overrides = {k: getattr(given.train, k) for k in RESUMABLE}
    return replace(saved, train=replace(saved.train, **overrides)).validate()
