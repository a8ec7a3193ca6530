"""The closed registry of stage kinds: pipeline params -> the plain stage functions.

Each adapter calls one stage function against a run dir (the runner passes a staging dir).
Parameter names are the stage functions' own keyword or config-field names, so the single
commands can record their runs under the same names (:func:`textgen.pipeline.lock.record_stage`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from textgen.pipeline.kinds import Param, StageKind, params_from_dataclass

Log = Callable[[str], None]

VOCAB_OUTS = ("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json")
EMBEDDING_OUTS = ("embeddings.safetensors", "embeddings.json", "vectors.txt")


# ----- vocab -------------------------------------------------------------------------------------
def _corpus_files(params: Mapping[str, Any]) -> list[Path]:
    """Files a corpus spec reads; pinned registry corpora (package, url) are fingerprinted by their pin."""
    from textgen.corpus.local import resolve_files
    from textgen.corpus.registry import entries
    from textgen.errors import CorpusError

    spec = str(params["corpus"])
    registry = entries()
    if spec in registry:
        path = registry[spec].path
        return [path] if path is not None else []
    if spec.startswith("hf:"):
        return []
    try:
        return resolve_files(spec)
    except CorpusError:
        return [Path(spec)]  # missing: the plan says so and the stage reports why


def _run_vocab(run_dir: Path, p: Mapping[str, Any], log: Log) -> None:
    from textgen.stages.build_vocab import build_vocab

    build_vocab(
        p["corpus"],
        run_dir,
        min_count=p["min_count"],
        max_vocab=p["max_vocab"],
        val_fraction=p["val_fraction"],
        lowercase=p["lowercase"],
        lang=p["lang"],
        encoding=p["encoding"],
        seed=p["seed"],
        num_proc=p["num_proc"],
        offline_path=Path(p["offline_path"]) if p["offline_path"] else None,
        progress=log,
    )


VOCAB = StageKind(
    name="vocab",
    help="corpus -> tokens -> vocabulary, train/validation ids",
    params={
        "corpus": Param("str", "seinfeld", help="registry name, a path (file, folder, glob) or hf:DATASET"),
        "min_count": Param("int", 1, min=1),
        "max_vocab": Param("int", None, min=4, nullable=True),
        "val_fraction": Param("float", 0.05, min=0, lt=1),
        "lowercase": Param("bool", None, nullable=True),
        "lang": Param("str", "en"),
        "encoding": Param("str", "utf-8"),
        "seed": Param("int", 0, min=0),
        "num_proc": Param("int", None, min=1, nullable=True, tracked=False),
        "offline_path": Param("str", None, nullable=True, tracked=False),
    },
    outs=VOCAB_OUTS,
    run=_run_vocab,
    external_deps=_corpus_files,
    sources=("textgen.stages.build_vocab", "textgen.corpus", "textgen.text", "textgen.vocab"),
    command="textgen build-vocab",
)


# ----- embeddings --------------------------------------------------------------------------------
def _embedding_config(p: Mapping[str, Any]) -> Any:
    from dataclasses import fields

    from textgen.embeddings.config import EmbeddingConfig

    return EmbeddingConfig(**{f.name: p[f.name] for f in fields(EmbeddingConfig) if f.name in p})


def _check_embeddings(p: Mapping[str, Any]) -> list[str]:
    from textgen.errors import UsageError

    try:
        _embedding_config(p).validate()
    except UsageError as exc:
        return [re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), str(exc))]
    return []


def _run_embeddings(run_dir: Path, p: Mapping[str, Any], log: Log) -> None:
    from textgen.embeddings import train_embeddings

    def progress(event: Any) -> None:
        if getattr(event, "kind", None) == "epoch":
            loss = f", loss {event.loss:.4f}" if event.loss is not None else ""
            log(f"epoch {event.epoch}/{event.epochs}{loss}, {event.words_per_s:,.0f} words/s")

    result = train_embeddings(run_dir, _embedding_config(p), progress=progress, evaluate=p["evaluate"])
    log(f"{result.backend} on {result.device}: {result.report['trained_words']:,} words")


def _embeddings_kind() -> StageKind:
    from textgen.embeddings.config import EmbeddingConfig

    return StageKind(
        name="embeddings",
        help="skip-gram word vectors (gensim on CPU, torch on CUDA)",
        params={
            **params_from_dataclass(EmbeddingConfig, untracked=("device", "workers")),
            "evaluate": Param("bool", True, help="score analogies and word pairs into embeddings.json"),
        },
        outs=EMBEDDING_OUTS,
        extras=("embeddings_map.png",),
        run=_run_embeddings,
        reads=("vocab.json", "train_ids.npy"),
        validate=_check_embeddings,
        sources=("textgen.embeddings",),
        command="textgen train-embeddings",
    )


# ----- generator ---------------------------------------------------------------------------------
def _generator_configs(p: Mapping[str, Any]) -> tuple[Any, Any]:
    from dataclasses import fields

    from textgen.generator.config import ModelConfig, TrainConfig

    model = {f.name: p[f.name] for f in fields(ModelConfig) if f.name in p}
    model["cutoffs"] = tuple(model.get("cutoffs") or ())
    return ModelConfig(**model), TrainConfig(**{f.name: p[f.name] for f in fields(TrainConfig) if f.name in p})


def _check_generator(p: Mapping[str, Any]) -> list[str]:
    from dataclasses import replace

    model, train = _generator_configs(p)
    # vocabulary size and vector width are only known at run time: check the rest
    big = 2**31 - 1
    model = replace(model, vocab_size=big, emb_dim=model.emb_dim or 1)
    option = re.compile(r"--([a-z][a-z-]*)")  # their messages name CLI options; ours name params
    errors = [option.sub(lambda m: m.group(1).replace("-", "_"), e) for e in model.errors() + train.errors()]
    return [e.replace(f" {big}", "") for e in errors]


def _generator_inputs(p: Mapping[str, Any]) -> list[Path]:
    emb = p.get("embeddings")
    return [Path(emb)] if emb not in (None, "auto") else []


def _generator_optional(p: Mapping[str, Any]) -> tuple[str, ...]:
    return EMBEDDING_OUTS[:2] if p.get("embeddings") == "auto" else ()


def _run_generator(run_dir: Path, p: Mapping[str, Any], log: Log) -> None:
    from textgen.generator.config import GeneratorConfig
    from textgen.generator.train import train_generator

    def progress(kind: str, info: dict[str, Any]) -> None:
        if kind == "eval":
            log(f"step {info['step']}: val_bpb {info['val_bpb']:.4f}{' (best)' if info.get('improved') else ''}")
        elif kind == "start":
            log(f"training: {info.get('total_steps')} steps planned")

    model, train = _generator_configs(p)
    if p.get("nproc_per_node", 1) > 1:  # hand the stage to torchrun: DDP on this node
        from textgen.generator.distributed import launch

        res = launch(run_dir, GeneratorConfig(model, train), p["nproc_per_node"], log)
        log(f"stopped: {res.get('stopped')} after {res.get('steps')} steps; best val_bpb {res.get('best_val_bpb')}")
        return
    result = train_generator(run_dir, GeneratorConfig(model, train), progress=lambda k, i: progress(k, i))
    if result.interrupted:
        raise KeyboardInterrupt  # a stopped run is not a finished stage: keep the previous outputs
    log(f"stopped: {result.stopped} after {result.steps} steps; best val_bpb {result.best_val_bpb}")


def _generator_kind() -> StageKind:
    from dataclasses import replace

    from textgen.generator import config as cfg

    params = params_from_dataclass(cfg.ModelConfig, exclude=("vocab_size",))
    train = params_from_dataclass(cfg.TrainConfig, untracked=("device", "threads", "log_every", "compile_backend"))
    clash = set(params) & set(train)
    assert not clash, f"generator parameter names clash: {clash}"
    params.update(train)
    params["nproc_per_node"] = Param("int", 1, min=1, help="torchrun processes (DDP); global batch = batch_size x this")
    choices = {"arch": cfg.ARCHS, "softmax": cfg.SOFTMAXES, "attn_score": cfg.ATTN_SCORES}
    choices |= {"optimizer": cfg.OPTIMIZERS, "schedule": cfg.SCHEDULES, "amp": cfg.AMP_MODES}
    for name, allowed in choices.items():
        params[name] = replace(params[name], choices=tuple(allowed))
    return StageKind(
        name="generator",
        help="LSTM / attention language model",
        params=params,
        outs=("generator.safetensors", "generator.json", "metrics.jsonl"),
        extras=("loss_curve.png", "generator.resume.pt"),
        run=_run_generator,
        reads=VOCAB_OUTS,
        optional_reads=_generator_optional,
        external_deps=_generator_inputs,
        validate=_check_generator,
        sources=("textgen.generator",),
        command="textgen train",
    )


# ----- sample ------------------------------------------------------------------------------------
def _run_sample(run_dir: Path, p: Mapping[str, Any], log: Log) -> None:
    from textgen import io, load

    generator = load(run_dir, device=p["device"])
    parts = []
    for i, prime in enumerate(p["primes"]):
        gen = generator.generate(
            prime,
            length=p["length"],
            max_turns=p["max_turns"],
            temperature=p["temperature"],
            top_k=p["top_k"],
            top_p=p["top_p"],
            repetition_penalty=p["repetition_penalty"],
            seed=p["seed"] + i,
            num_samples=p["num_samples"],
        )
        for j, sample in enumerate(gen.samples, 1):
            parts.append(f"=== prime {prime!r}, sample {j}, seed {gen.seed} ===\n{sample.text.strip()}\n")
        log(f"prime {prime!r}: {len(gen.samples)} sample(s)")
    io.write_text(run_dir / "samples.txt", "\n".join(parts))


SAMPLE = StageKind(
    name="sample",
    help="a few generated scripts in samples.txt",
    params={
        "primes": Param("str_list", ["jerry"], help="one prime per script (a speaker name starts their turn)"),
        "length": Param("int", 200, min=1),
        "max_turns": Param("int", None, min=1, nullable=True),
        "temperature": Param("float", 0.8, gt=0),
        "top_k": Param("int", 0, min=0),
        "top_p": Param("float", 0.9, gt=0, max=1),
        "repetition_penalty": Param("float", 1.0, gt=0),
        "seed": Param("int", 0, min=0),
        "num_samples": Param("int", 1, min=1),
        "device": Param("str", "auto", tracked=False),
    },
    outs=("samples.txt",),
    run=_run_sample,
    reads=("vocab.json", "generator.json", "generator.safetensors"),
    sources=("textgen.generate",),
    command="textgen generate",
)

KINDS: dict[str, StageKind] = {
    "vocab": VOCAB,
    "embeddings": _embeddings_kind(),
    "generator": _generator_kind(),
    "sample": SAMPLE,
}
