"""Judge generated turns against real ones: ``textgen evaluate-generation``.

For each speaker the classifier knows, the generator writes ``samples`` turns primed with the
speaker's name (one turn each, ``max_turns=1``), and as many real turns are drawn from the
generator run's validation split, leaving out any the classifier trained or early-stopped on.
Both sets get the same figures:

* speaker fidelity: the share of speaker X's turns that the classifier attributes to X;
* distinct-1 / distinct-2: distinct n-grams over all n-grams, pooled over the set's turns;
* repeated 4-grams: the share of 4-grams that repeat an earlier 4-gram of the same turn (loops);
* mean turn length in tokens (punctuation tokens count; line breaks do not).

Same seed, same figures on CPU.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

from textgen.classify.artifact import load_classifier
from textgen.classify.config import EvaluateGenerationConfig
from textgen.classify.sources import speaker_turns
from textgen.classify.split import SPLIT_FILE, load_split
from textgen.classify.units import word_units
from textgen.errors import InputError, UsageError
from textgen.rundir import RunDir
from textgen.text import symbols


def distinct(turns: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams / n-grams, pooled over ``turns`` (n-grams never cross a turn)."""
    grams = [tuple(t[i : i + n]) for t in turns for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_share(turns: Sequence[Sequence[str]], n: int = 4) -> float:
    """The share of n-grams that repeat an earlier n-gram of their own turn."""
    total = repeats = 0
    for t in turns:
        seen: set[tuple[str, ...]] = set()
        for i in range(len(t) - n + 1):
            gram = tuple(t[i : i + n])
            repeats += gram in seen
            seen.add(gram)
            total += 1
    return repeats / total if total else 0.0


def _first_turn(prime: str, tokens: Sequence[str]) -> list[str]:
    """The units of the prime speaker's turn in a generated sample (up to its turn break)."""
    for _, units in speaker_turns([prime, *tokens]):
        return word_units(units)
    return []


def figures(turns: dict[str, list[list[str]]], attributed: dict[str, list[str]]) -> dict[str, Any]:
    """The set's figures; ``attributed[x]``: the label the classifier gave each of ``turns[x]`` ('' when empty)."""
    pooled = [t for ts in turns.values() for t in ts]
    fidelity = {x: sum(1 for a in attributed[x] if a == x) / len(attributed[x]) for x in turns if attributed[x]}
    hits = sum(1 for x in turns for a in attributed[x] if a == x)
    return {
        "turns": len(pooled),
        "speaker_fidelity": hits / len(pooled) if pooled else 0.0,
        "speaker_fidelity_by_speaker": fidelity,
        "distinct_1": distinct(pooled, 1),
        "distinct_2": distinct(pooled, 2),
        "repeated_4grams": repeated_share(pooled, 4),
        "mean_turn_length": sum(map(len, pooled)) / len(pooled) if pooled else 0.0,
        "empty_turns": sum(1 for t in pooled if not t),
    }


def judge_generation(
    generator_run: str | os.PathLike[str],
    classifier_run: str | os.PathLike[str] | None,
    config: EvaluateGenerationConfig,
    progress: Any = None,
) -> dict[str, Any]:
    """Generated and real turns of every speaker the classifier knows, scored alike."""
    from textgen.decode.generator import load
    from textgen.io import read_npy

    say = progress or (lambda kind, info: None)
    gen_rd, cls_rd = (
        RunDir.of(generator_run),
        RunDir.of(classifier_run if classifier_run is not None else generator_run),
    )
    gen_rd.require("val_ids.npy")
    cls_rd.require(SPLIT_FILE)
    classifier = load_classifier(cls_rd.root, device=config.device)
    if classifier.level != "word" or classifier.config.get("label") != "speaker":
        raise UsageError(
            f"{cls_rd.root} holds a {classifier.level}-level classifier of {classifier.labels[:3]}...; "
            "evaluate-generation needs a speaker classifier: `textgen train-classifier --label speaker`"
        )
    split = load_split(cls_rd / SPLIT_FILE)
    seen = set(split.texts("train")) | set(split.texts("dev"))
    generator = load(gen_rd.root, device=config.device)
    vocab = generator.vocab
    missing = [x for x in classifier.labels if symbols.speaker_token(x) not in vocab]
    if missing:
        raise InputError(
            f"the generator in {gen_rd.root} has no speaker token for {', '.join(missing)}; train the classifier "
            "on the generator's corpus (`textgen train-classifier --label speaker --run-dir` the same run)"
        )
    pool: dict[str, list[list[str]]] = {x: [] for x in classifier.labels}
    excluded = 0
    for speaker, units in speaker_turns(vocab.decode(read_npy(gen_rd / "val_ids.npy"))):
        units = word_units(units)
        if speaker in pool and units:
            if " ".join(units) in seen:
                excluded += 1
            else:
                pool[speaker].append(units)
    empty = [x for x, turns in pool.items() if not turns]
    if empty:
        left_out = f" ({excluded} left out: the classifier trained on them)" if excluded else ""
        raise InputError(
            f"the validation split of {gen_rd.root} has no turns of {', '.join(empty)} that the classifier has not "
            f"read{left_out}; train it without --data (the run's training split) or with a larger --val-fraction"
        )
    rng = random.Random(config.seed)
    s = config.sampling
    real: dict[str, list[list[str]]] = {}
    made: dict[str, list[list[str]]] = {}
    cut = 0
    for i, speaker in enumerate(classifier.labels):
        m = min(config.samples, len(pool[speaker]))
        real[speaker] = rng.sample(pool[speaker], m)
        prime = symbols.speaker_token(speaker)
        out = generator.generate(
            speaker, length=config.length, max_turns=1, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
            repetition_penalty=s.repetition_penalty, greedy=s.greedy, exact_sampling=s.exact_sampling,
            seed=config.seed + i, num_samples=m,
        )  # fmt: skip
        made[speaker] = [_first_turn(prime, sample.tokens) for sample in out.samples]
        cut += sum(1 for sample in out.samples if sample.stop_reason == "length")
        say("speaker", {"message": f"{speaker}: {m} generated and {m} real turns"})
    result: dict[str, Any] = {}
    for name, turns in (("generated", made), ("real", real)):
        attributed: dict[str, list[str]] = {}
        for speaker, ts in turns.items():
            nonempty = [t for t in ts if t]
            labels = iter(classifier.predict_units(nonempty).argmax(1).tolist() if nonempty else [])
            attributed[speaker] = [classifier.labels[next(labels)] if t else "" for t in ts]
        result[name] = figures(turns, attributed)
    result["generated"]["cut_at_length"] = cut
    result |= {
        "generator": str(gen_rd.root),
        "classifier": str(cls_rd.root),
        "speakers": classifier.labels,
        "turns_per_speaker": {x: len(real[x]) for x in classifier.labels},
        "real_pool": {x: len(pool[x]) for x in classifier.labels},
        "real_excluded_seen_by_classifier": excluded,
        "settings": {"samples": config.samples, "length": config.length, "seed": config.seed, **s.to_dict()},
    }
    return result
