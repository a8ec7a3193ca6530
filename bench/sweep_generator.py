"""One of ours at bench_quality's budget with changed settings: how the schedule and lr were re-tuned.

    python bench/sweep_generator.py cos3-lr12 '{}' '{"schedule": "cosine", "epochs": 3, "lr": 0.012}'

Trains on a copy of the base run dir that ``bench/bench_quality.py`` builds first (the classic
Seinfeld split and its vectors) for ``--seconds`` of training with one torch thread and prints one
``RESULT`` line (best val_bpb, steps, tokens/s, load). Two at once on the 2-core machine compare
fairly with each other (same load), not with figures from a quieter hour; BENCHMARKS.md's readings
say which ran side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality  # noqa: E402

from textgen.lm.config import ModelConfig, TrainConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="Run name (a folder under --work).")
    parser.add_argument("model", type=json.loads, help="ModelConfig overrides as JSON, e.g. '{\"hidden\": 320}'.")
    parser.add_argument("train", type=json.loads, help="TrainConfig overrides as JSON, e.g. '{\"lr\": 0.012}'.")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--base", type=Path, default=bench_quality.WORK / "base")
    parser.add_argument("--work", type=Path, default=Path("/tmp/textgen-sweep"))
    args = parser.parse_args()
    if not (args.base / "train_ids.npy").is_file():
        parser.error(f"{args.base} has no train_ids.npy; run bench/bench_quality.py once (it builds it first)")
    for label, given, cls in (("model", args.model, ModelConfig), ("train", args.train, TrainConfig)):
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            parser.error(f"{label}: unknown setting(s) {unknown}; see `textgen train-generator --help` (dashes as _)")
    torch.set_num_threads(1)
    res, _ = bench_quality.ours(args.base, args.work, args.name, args.seconds, args.model, **args.train)
    shown = {k: res[k] for k in ("val_bpb", "steps", "tokens_per_s", "load")}
    print("RESULT", args.name, json.dumps(shown))


if __name__ == "__main__":
    main()
