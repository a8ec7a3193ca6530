"""``textgen generate``: new script text from a prime, with sampling controls and explanations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from textgen.cli.app import app, command, console, err_console
from textgen.rundir import DEFAULT_RUN_DIR

if TYPE_CHECKING:
    from textgen.generate.api import Sample


@command(app, name="generate")
def generate_cmd(
    prime: Annotated[
        str, typer.Option("--prime", help="Start from these words; a lone speaker name starts their turn.")
    ],
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Run directory holding the trained generator.")
    ] = DEFAULT_RUN_DIR,
    length: Annotated[int, typer.Option(help="Generate at most this many tokens after the prime.")] = 200,
    max_turns: Annotated[
        int | None, typer.Option(help="Stop after this many turns (the prime's turn is the first).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sharpen (<1) or flatten (>1) the distribution; > 0.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Sample among the K most likely tokens (0: off).")] = 0,
    top_p: Annotated[
        float, typer.Option(help="Sample within the smallest set holding this probability (1: off).")
    ] = 0.9,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repeating words (1: off).")] = 1.0,
    greedy: Annotated[
        bool, typer.Option("--greedy", help="Always take the most likely token (deterministic).")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: same seed, same text on CPU (default: random).")
    ] = None,
    exact_sampling: Annotated[
        bool,
        typer.Option(
            "--exact-sampling",
            help="Adaptive softmax: apply top-k/top-p/temperature exactly (slower) instead of cluster-first.",
        ),
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            metavar="auto|fp32|bf16|int8",
            help="Decoding arithmetic: fp32 (the model's own), bf16, int8 (x86 CPU, fastest); auto: int8 on CPU.",
        ),
    ] = "auto",
    bf16: Annotated[bool, typer.Option("--bf16", help="Same as --precision bf16.")] = False,
    num_samples: Annotated[int, typer.Option(help="Independent samples, generated as one batch.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", help="Write the output to this file instead of stdout.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: text, tokens and per-token probabilities.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Per-token probability, entropy and alternatives; attention heatmap PNG.")
    ] = False,
    heatmap: Annotated[
        Path | None,
        typer.Option(help="Where --explain writes the attention heatmap (default: RUN_DIR/attention.png)."),
    ] = None,
) -> None:
    """Generate new script text from a prime with the run's trained generator."""
    from textgen import io
    from textgen.generate.api import load
    from textgen.generate.explain import token_table, write_heatmap
    from textgen.generate.sampling import SamplingSettings

    SamplingSettings(
        temperature, top_k, top_p, repetition_penalty, greedy, exact_sampling
    ).validate()  # before loading anything
    generator = load(run_dir, device=device)
    gen = generator.generate(
        prime,
        length=length,
        max_turns=max_turns,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        greedy=greedy,
        seed=seed,
        num_samples=num_samples,
        explain=explain,
        exact_sampling=exact_sampling,
        bf16=bf16,
        precision=precision,  # type: ignore[arg-type]  (checked by generate)
    )
    heatmap_path: Path | None = None
    if explain and generator.arch == "attention":
        heatmap_path = heatmap or Path(run_dir) / "attention.png"
        write_heatmap(heatmap_path, gen.samples[0], gen.prime_tokens)

    if as_json:
        data = gen.to_dict()
        if heatmap_path is not None:
            data["heatmap"] = str(heatmap_path)
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        text = _plain(gen.samples, gen.seed)

    if out is not None:
        io.write_text(out, text)
        err_console.print(f"wrote {len(gen.samples)} sample(s) to {out} (seed {gen.seed})", markup=False)
    else:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    if explain and not as_json:
        for i, sample in enumerate(gen.samples):
            target = err_console if out is not None else console
            target.print(token_table(sample, title=f"sample {i + 1}" if len(gen.samples) > 1 else None))
    if explain:
        if heatmap_path is not None:
            err_console.print(f"attention heatmap: {heatmap_path}", markup=False)
        else:
            err_console.print(
                f"no attention heatmap: this run's model is {generator.arch!r}, not 'attention'", markup=False
            )


def _plain(samples: list[Sample], seed: int) -> str:
    """The samples as plain text; several get a header line each."""
    if len(samples) == 1:
        return samples[0].text
    parts = [f"=== sample {i + 1} of {len(samples)} (seed {seed}) ===\n{s.text}" for i, s in enumerate(samples)]
    return "\n".join(parts)
