"""``textgen train`` and ``textgen evaluate``: thin wrappers over :mod:`textgen.generator`."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from textgen.cli.app import app, command, console, err_console
from textgen.errors import UsageError
from textgen.rundir import DEFAULT_RUN_DIR

RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory (needs `textgen build-vocab` first).")]


def _opt(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text)


@command(app, name="train")
def train_cmd(
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    preset: Annotated[str, _opt("Defaults to start from: cpu (2-core laptop) or gpu (larger model).")] = "cpu",
    arch: Annotated[str | None, _opt("Architecture: lstm or attention.")] = None,
    emb_dim: Annotated[int | None, _opt("Embedding width (default: the word vectors' width, else 200).")] = None,
    hidden: Annotated[int | None, _opt("LSTM hidden units per layer.")] = None,
    layers: Annotated[int | None, _opt("LSTM layers.")] = None,
    dropout: Annotated[float | None, _opt("Dropout on LSTM outputs and between layers, in [0, 1).")] = None,
    emb_dropout: Annotated[float | None, _opt("Share of input positions whose word vector is dropped.")] = None,
    tie_weights: Annotated[
        bool | None, _opt("Share the embedding matrix with the output layer.", "--tie-weights/--no-tie-weights")
    ] = None,
    softmax: Annotated[str | None, _opt("Output layer: full or adaptive.")] = None,
    cutoffs: Annotated[str | None, _opt("Adaptive softmax cluster boundaries, e.g. 2000,8000.")] = None,
    attn_window: Annotated[int | None, _opt("attention: how many previous outputs each step sees.")] = None,
    attn_score: Annotated[str | None, _opt("attention: general (Luong) or additive (Bahdanau).")] = None,
    batch_size: Annotated[int | None, _opt("Parallel token streams per step.")] = None,
    bptt: Annotated[int | None, _opt("Tokens per truncated-BPTT chunk.")] = None,
    lr: Annotated[float | None, _opt("Peak learning rate.")] = None,
    optimizer: Annotated[str | None, _opt("adamw or adam.")] = None,
    weight_decay: Annotated[float | None, _opt("Decoupled weight decay (AdamW).")] = None,
    warmup_steps: Annotated[int | None, _opt("Linear warm-up steps.")] = None,
    schedule: Annotated[str | None, _opt("After warm-up: plateau, cosine or constant.")] = None,
    clip: Annotated[float | None, _opt("Gradient-norm clipping (0 disables).")] = None,
    epochs: Annotated[int | None, _opt("Passes over the training split.")] = None,
    max_steps: Annotated[int | None, _opt("Stop after this many optimizer steps.")] = None,
    max_seconds: Annotated[float | None, _opt("Stop after this much training time (validation excluded).")] = None,
    eval_every: Annotated[int | None, _opt("Validate and checkpoint every N steps (and at each epoch end).")] = None,
    eval_tokens: Annotated[int | None, _opt("Score only the first N validation tokens while training.")] = None,
    patience: Annotated[int | None, _opt("Stop after N validations without improvement.")] = None,
    seed: Annotated[int | None, _opt("Random seed (same seed, same CPU run).")] = None,
    unk_replace: Annotated[float | None, _opt("Share of training singletons shown as <unk>.")] = None,
    embeddings: Annotated[Path | None, _opt("Word vectors to seed the embeddings (default: the run's).")] = None,
    no_embeddings: Annotated[bool, _opt("Random embedding init even if the run has vectors.")] = False,
    freeze_embeddings: Annotated[bool, _opt("Keep the seeded embeddings fixed.")] = False,
    unfreeze_after: Annotated[int | None, _opt("With --freeze-embeddings: train them from this epoch on.")] = None,
    device: Annotated[str | None, _opt("auto, cpu or cuda[:N].")] = None,
    amp: Annotated[str | None, _opt("bf16 autocast: auto (CUDA only), bf16 or off.")] = None,
    compile: Annotated[bool, _opt("torch.compile the training step.")] = False,
    threads: Annotated[int | None, _opt("CPU threads for torch.")] = None,
    resume: Annotated[bool, _opt("Continue from the run's resume file (same next batch, same lr).")] = False,
    as_json: Annotated[bool, _opt("Print the result as one JSON object.", "--json")] = False,
) -> None:
    """Train the word-level generator on the run's token ids; keeps the best checkpoint on validation."""
    from textgen.generator.config import PRESETS, GeneratorConfig, ModelConfig, TrainConfig
    from textgen.generator.distributed import env_rank, from_env
    from textgen.generator.train import result_dict, train_generator

    if env_rank() != 0:  # under torchrun rank 0 alone prints (errors too); every rank exits alike
        console.quiet = err_console.quiet = True
    dist = from_env(device or "auto")  # under torchrun: join the process group (left at exit)
    if preset not in PRESETS:
        raise UsageError(f"--preset must be one of {'|'.join(PRESETS)}, got {preset!r}")
    if no_embeddings and embeddings is not None:
        raise UsageError("--embeddings and --no-embeddings exclude each other; pass one")
    given = {k: v for k, v in locals().items() if v is not None}
    if cutoffs is not None:
        try:
            given["cutoffs"] = tuple(int(c) for c in cutoffs.split(",") if c.strip())
        except ValueError:
            raise UsageError(f"--cutoffs must be comma-separated integers, got {cutoffs!r}") from None
    given["embeddings"] = None if no_embeddings else (str(embeddings) if embeddings is not None else "auto")
    given["freeze_embeddings"], given["compile"] = freeze_embeddings, compile
    model_cfg = ModelConfig(**{**PRESETS[preset]["model"], **_pick(ModelConfig, given)})
    train_cfg = TrainConfig(**{**PRESETS[preset]["train"], **_pick(TrainConfig, given)})
    config = GeneratorConfig(model_cfg, train_cfg).validate()

    with _ProgressBar() as bar:
        result = train_generator(run_dir, config, bar.update, resume=resume, dist=dist)
    if as_json:
        console.print_json(json.dumps(result_dict(result)))
    else:
        best = f"{result.best_val_bpb:.4f}" if result.best_val_bpb is not None else "n/a"
        console.print(
            f"stopped ({result.stopped}) after {result.steps:,} steps, {result.tokens:,} tokens, "
            f"{result.train_seconds:.1f} s; best val_bpb {best} at step {result.best_step}; "
            f"saved {Path(run_dir) / 'generator.safetensors'}",
            markup=False,
            highlight=False,
        )
    if not result.interrupted and not resume and dist.is_main:
        from textgen.cli.pipeline import record_run  # so `textgen run` does not redo this stage

        params = {**model_cfg.to_dict(), **train_cfg.to_dict(), "nproc_per_node": dist.world_size}
        record_run(run_dir, "generator", {k: v for k, v in params.items() if k != "vocab_size"})
    if result.interrupted:
        err_console.print(f"interrupted: checkpoint saved; continue with `textgen train --run-dir {run_dir} --resume`")
        raise typer.Exit(130)


def _pick(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in given.items() if k in names}


class _ProgressBar:
    """Rich progress: loss, perplexity, tokens/s, ETA (by steps or by --max-seconds, whichever ends first)."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(
                "step {task.fields[step]} loss {task.fields[loss]} ppl {task.fields[ppl]} "
                "{task.fields[rate]} tok/s {task.fields[val]}"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.total_steps: int | None = None
        self.max_seconds: float | None = None
        self.val = ""

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.bar.__exit__(*exc)

    def update(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "start":  # the bar appears once training really starts (errors come before)
            self.total_steps, self.max_seconds = info.get("total_steps"), info.get("max_seconds")
            if self.task is None:
                from textgen.generator.pretrained import describe

                if info.get("step", 0) == 0:
                    console.print(describe(info.get("embeddings") or {}), markup=False, highlight=False)
                console.print(f"training on {info.get('device')}", markup=False, highlight=False)
                self.bar.__enter__()
                self.task = self.bar.add_task("training", total=1000, step=0, loss="-", ppl="-", rate="-", val="")
            return
        if self.task is None:
            return
        if kind == "eval":
            self.val = f"val_bpb {info['val_bpb']:.3f}"
            self.bar.update(self.task, val=self.val)
            return
        if kind != "step":
            return
        done = 0.0
        if self.total_steps:
            done = info["step"] / self.total_steps
        if self.max_seconds:
            done = max(done, info["train_seconds"] / self.max_seconds)
        self.bar.update(
            self.task,
            completed=min(1000, int(done * 1000)),
            step=f"{info['step']:,}",
            loss=f"{info['loss']:.3f}",
            ppl=f"{info['ppl']:.1f}",
            rate=f"{info['tokens_per_s']:,.0f}",
        )


@command(app, name="evaluate")
def evaluate_cmd(
    run_dir: RunDirOpt = DEFAULT_RUN_DIR,
    device: Annotated[str, _opt("auto, cpu or cuda[:N].")] = "auto",
    as_json: Annotated[bool, _opt("Print one JSON object.", "--json")] = False,
) -> None:
    """Score the best checkpoint on the validation split: val_bpb, loss, perplexity, OOV rate."""
    from textgen.generator.evaluate import evaluate_run

    result = evaluate_run(run_dir, device=device)
    if as_json:
        print(json.dumps(result.to_dict(), sort_keys=True))
        return
    oov = f"{result.val_oov_rate:.2%}" if result.val_oov_rate is not None else "n/a"
    console.print(
        f"val_bpb {result.val_bpb:.4f}  loss {result.loss:.4f} nats/token  perplexity {result.perplexity:.1f}  "
        f"tokens {result.tokens:,}  bytes {result.bytes:,}  val_oov_rate {oov}",
        markup=False,
        highlight=False,
    )
