"""``textgen.load(run_dir).generate(prime=...)``: the Python face of ``textgen generate``.

Loading reads only the run dir's artifacts (``vocab.json`` and
``generator.safetensors``), never the corpus.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from textgen import device as devices
from textgen import options
from textgen.decode.kernels import Precision, check_precision
from textgen.decode.loop import Decoded, DecodeOptions, OnStep, decode
from textgen.decode.render import prime_tokens, proper_names, render
from textgen.decode.sampling import Sampler, structural_mask
from textgen.decode.settings import MAX_LENGTH, MAX_SAMPLES, SamplingSettings
from textgen.errors import UsageError
from textgen.lm.adapt_settings import CacheSettings
from textgen.rundir import RunDir
from textgen.text import symbols
from textgen.vocab import Vocab

LOG2 = math.log(2.0)


@dataclass
class Sample:
    """One generated stream: readable text, its tokens and how sure the model was of each."""

    text: str
    tokens: list[str]  # generated tokens only (the prime is in Generation.prime_tokens)
    token_ids: list[int]
    probs: list[float]  # the model's probability of each token (before temperature/top-k/top-p)
    stop_reason: str  # "length" | "eos" | "turns"
    entropy: list[float] | None = None  # bits, with explain=True
    alternatives: list[list[tuple[str, float]]] | None = None  # top tokens and probabilities, with explain=True
    attention: list[list[float]] | None = None  # attention model with explain=True: [tokens, W]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "tokens": self.tokens,
            "token_ids": self.token_ids,
            "probs": self.probs,
            "stop_reason": self.stop_reason,
        }
        if self.entropy is not None:
            d["entropy_bits"] = self.entropy
        if self.alternatives is not None:
            d["alternatives"] = [[{"token": t, "prob": p} for t, p in alts] for alts in self.alternatives]
        return d


@dataclass
class Generation:
    """The result of one ``generate`` call."""

    prime: str
    prime_tokens: list[str]
    seed: int
    settings: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The first sample's text (see ``samples`` for the rest)."""
        return self.samples[0].text if self.samples else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "prime": self.prime,
            "prime_tokens": self.prime_tokens,
            "seed": self.seed,
            "settings": self.settings,
            "samples": [s.to_dict() for s in self.samples],
        }


class TextGenerator:
    """A trained generator with its vocabulary, ready to write script."""

    def __init__(self, model: Any, vocab: Vocab, device: torch.device, config: Any = None, run_dir: Path | None = None):
        self.model, self.vocab, self.device, self.config, self.run_dir = model, vocab, device, config, run_dir
        self._exempt = structural_mask(vocab.itos)
        self._speakers = torch.tensor([symbols.is_speaker(t) for t in vocab.itos], dtype=torch.bool)
        self._names = proper_names(vocab) if vocab.tokenizer.lowercase else frozenset()

    @property
    def arch(self) -> str:
        model_cfg = getattr(self.config, "model", None)
        return str(getattr(model_cfg, "arch", "lstm"))

    def fountain(self, tokens: list[str], title_page: dict[str, str] | None = None) -> str:
        """``tokens`` (prime included) as a Fountain screenplay (:mod:`textgen.decode.fountain`)."""
        from textgen.decode.fountain import render_fountain

        lower = self.vocab.tokenizer.lowercase
        return render_fountain(tokens, restore_case=lower, names=self._names, title_page=title_page)

    def prime_ids(self, prime: str) -> tuple[list[str], list[int]]:
        """Tokens and ids of ``prime`` (see :func:`textgen.decode.render.prime_tokens`)."""
        tokens = prime_tokens(prime, self.vocab)
        return tokens, [self.vocab.stoi[t] for t in tokens]

    def generate(
        self,
        prime: str,
        *,
        length: int = 200,
        max_turns: int | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 0.9,
        repetition_penalty: float = 1.0,
        greedy: bool = False,
        seed: int | None = None,
        num_samples: int = 1,
        explain: bool = False,
        restore_case: bool = True,
        exact_sampling: bool = False,
        precision: Precision | Literal["auto"] | None = None,
        on_step: OnStep | None = None,
        cache: CacheSettings | None = None,
        ngram: bool = False,
    ) -> Generation:
        """Write ``num_samples`` continuations of ``prime`` (one batch); same seed, same text on CPU.

        Adaptive-softmax models draw cluster-first (:mod:`textgen.decode.cluster`): exact for plain
        sampling, a cluster-level approximation of top-k/top-p/temperature unless ``exact_sampling``.
        ``precision`` is the arithmetic of the LSTM steps and that output layer
        (:mod:`textgen.decode.kernels`): ``fp32`` is the model's own; ``bf16`` and ``int8`` are faster
        with a small, measured error on the probabilities; ``auto`` (the default) is int8 on x86 CPUs and
        fp32 elsewhere, and fp32 with ``explain``. ``on_step`` sees each step as it is sampled
        (:class:`textgen.decode.loop.StepView`; ``textgen serve`` streams from it). ``cache`` (with
        ``cache.cache`` on) mixes a neural cache of the sample's own hidden states into the distribution
        (:mod:`textgen.lm.cache`; unset theta and lambda take the measured defaults); it needs the whole
        distribution each step, so it is slower. ``ngram`` samples from the network mixed with its
        n-gram (:mod:`textgen.lm.ngram`: the distribution ``val_bpb`` scores), also the whole
        distribution each step.
        """
        settings = SamplingSettings(temperature, top_k, top_p, repetition_penalty, greedy, exact_sampling).validate()
        cache = options.validated(cache).settled() if cache is not None and cache.cache else None
        _check_counts(length, max_turns, num_samples)
        if ngram and getattr(self.model, "ngram", None) is None:
            raise UsageError(
                "--ngram needs a generator trained with an n-gram (this one has --ngram-order 0); "
                "drop --ngram, or retrain with `textgen train-generator`"
            )
        if precision in (None, "auto"):  # --explain inspects the model itself: fp32 unless asked otherwise
            precision = "fp32" if explain else "auto"
        chosen = check_precision(precision, self.device)
        turn_id = self.vocab.stoi.get(symbols.TURN)
        if max_turns is not None and turn_id is None:
            raise UsageError("--max-turns needs a vocabulary with turn breaks (||turn||); use --length instead")
        tokens, ids = self.prime_ids(prime)
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        sampler = Sampler(
            settings, len(self.vocab), (self.vocab.pad_id, self.vocab.unk_id), self._exempt, seed, self.device
        )
        opts = DecodeOptions(
            max_length=length,
            eos_id=self.vocab.eos_id,
            pad_id=self.vocab.pad_id,
            turn_id=turn_id,
            max_turns=max_turns,
            speakers=self._speakers,
            banned=(self.vocab.pad_id, self.vocab.unk_id),
            stats=explain,
            precision=chosen,
            attention=explain and self.arch == "attention",
            cache=cache,
            ngram=ngram,
        )
        decoded = decode(self.model, ids, sampler, num_samples, opts, on_step)
        record = settings.to_dict() | {
            "length": length,
            "max_turns": max_turns,
            "num_samples": num_samples,
            "precision": chosen,
        }
        if ngram:
            record |= {"ngram": True}
        if cache is not None:
            record |= {"cache_size": cache.cache_size, "cache_theta": cache.cache_theta}
            record |= {"cache_lambda": cache.cache_lambda}
        gen = Generation(prime=prime, prime_tokens=tokens, seed=seed, settings=record)
        gen.samples = [self._sample(decoded, i, tokens, restore_case) for i in range(num_samples)]
        return gen

    def _sample(self, d: Decoded, i: int, prime: list[str], restore_case: bool) -> Sample:
        n = d.lengths[i]
        ids = d.ids[i, :n].tolist()
        words = self.vocab.decode(ids)
        sample = Sample(
            text=render(prime + words, restore_case, self._names),
            tokens=words,
            token_ids=ids,
            probs=d.token_logp[i, :n].exp().tolist(),
            stop_reason=d.stop_reasons[i],
        )
        if d.entropy is not None and d.top_ids is not None and d.top_logp is not None:
            sample.entropy = (d.entropy[i, :n] / LOG2).tolist()
            alt_ids, alt_p = d.top_ids[i, :n].tolist(), d.top_logp[i, :n].exp().tolist()
            sample.alternatives = [
                [(self.vocab.itos[t], p) for t, p in zip(ts, ps, strict=True)]
                for ts, ps in zip(alt_ids, alt_p, strict=True)
            ]
        if d.attention is not None:
            sample.attention = d.attention[i, :n].tolist()
        return sample


def _check_counts(length: int, max_turns: int | None, num_samples: int) -> None:
    if not 1 <= length <= MAX_LENGTH:
        raise UsageError(f"--length must be in [1, {MAX_LENGTH:,}] tokens, got {length}")
    if max_turns is not None and max_turns < 1:
        raise UsageError(f"--max-turns must be at least 1, got {max_turns}")
    if not 1 <= num_samples <= MAX_SAMPLES:
        raise UsageError(f"--num-samples must be in [1, {MAX_SAMPLES}], got {num_samples}")


def load(run_dir: str | os.PathLike[str] | None = None, device: str | torch.device = "auto") -> TextGenerator:
    """Load the trained generator of ``run_dir`` (default ``runs/default``) onto ``device``."""
    from textgen.lm.checkpoint import load_generator

    rd = RunDir.of(run_dir)
    rd.require("vocab.json", "generator.safetensors")
    dev = devices.resolve(device)
    model, config, vocab = load_generator(rd.root, device=dev)
    model.eval()
    return TextGenerator(model, vocab, dev, config, rd.root)
