"""What the generator's n-gram costs at its cap: counting time, memory while counting and kept, file size.

    python bench/bench_ngram.py /tmp/textgen-bench-quality/base/train_ids.npy --repeat 2

Reads a run's ``train_ids.npy`` (repeated ``--repeat`` times, so it passes the cap as a big corpus
does), fits :class:`textgen.lm.ngram.Ngram` with tracemalloc on (numpy reports its buffers to it) and
prints one line; the vocabulary size is taken as the largest id + 1.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np

from textgen.lm.ngram import MAX_TOKENS, Ngram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", type=Path, help="A run's train_ids.npy.")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--order", type=int, default=4)
    args = parser.parse_args()
    ids = np.load(args.ids, mmap_mode="r")
    data = np.concatenate([ids] * args.repeat) if args.repeat > 1 else ids
    tracemalloc.start()
    t0 = time.perf_counter()
    model = Ngram.fit(data, args.order, int(ids.max()) + 1, 2)
    seconds = time.perf_counter() - t0
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stored = sum(t.numel() * t.element_size() for t in model.tensors().values())
    entries = sum(len(k) for k in model.keys)
    print(
        f"{min(len(data), MAX_TOKENS):,} of {len(data):,} tokens counted (cap {MAX_TOKENS:,}), order {args.order}: "
        f"{seconds:.2f} s, peak {peak / 1e6:.0f} MB, kept {kept / 1e6:.0f} MB, {entries:,} entries, "
        f"{stored / 1e6:.1f} MB in generator.safetensors"
    )


if __name__ == "__main__":
    main()
