"""Memory benchmark: peak resident memory and wall time of build-vocab and 50 training steps as the corpus grows.

    python bench/bench_memory.py --write                          # 1x, 10x, 100x (350 MB); long on 2 cores
    python bench/bench_memory.py --scales 1,10 --peer-ref 9bda4c6 # with the one-shot code of that commit beside

The shared Seinfeld file is repeated 1x, 10x and 100x into a temporary folder (deleted at the end,
never committed). Every measured command runs in a fresh child of a fresh measuring process, so
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is that command's own peak (the largest of its processes:
the main one or a tokenizer/torchrun worker); the process tree's summed RSS is also sampled every
0.2 s. Training is the default model, 50 optimizer steps, random embeddings, one thread, validation
on 2,000 tokens at the end; plus a 2-process torchrun at 10x. ``--peer-ref`` runs build-vocab and
training of an older commit (``git archive``) at the scales up to 10x: the one-shot peer.
The machine is shared: the load average is recorded beside every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from markdown_sections import replace_section

REPO = Path(__file__).resolve().parents[1]
BENCH_MD = REPO / "bench" / "BENCHMARKS.md"
START, END = "<!-- memory:start -->", "<!-- memory:end -->"
SEINFELD = REPO.parent / "shared" / "corpora" / "seinfeld_scripts.txt"
TRAIN_ARGS = ["--max-steps", "50", "--eval-every", "100000", "--eval-tokens", "2000", "--embeddings", "none",
              "--threads", "1", "--device", "cpu", "--log-every", "10"]  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----- the measuring process --------------------------------------------------------------------
def _tree_rss(pid: int) -> int:
    """Summed VmRSS (bytes) of ``pid`` and its descendants, read from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def measure_child(out: Path, cmd: list[str]) -> None:
    """Run ``cmd`` as this process's only child; write its wall time and peak memory to ``out``."""
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "rc": proc.returncode,
        "wall_s": time.perf_counter() - t0,
        "peak_rss": usage.ru_maxrss * 1024,  # Linux: KiB; the largest single process
        "peak_tree_rss": peak_tree,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "load": [load0, os.getloadavg()[0]],
        "stderr": err.decode("utf-8", "replace")[-3000:],
    }
    out.write_text(json.dumps(result), encoding="utf-8")


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """``cmd``'s figures, measured in a fresh process (so earlier children do not count)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    try:
        # run in the code's own folder: `python -m textgen` puts the working directory first on sys.path,
        # so from this checkout the peer's PYTHONPATH would silently lose to this code
        cwd = env.get("PYTHONPATH", str(REPO))
        script = str(Path(__file__).resolve())
        subprocess.run([sys.executable, script, "--measure", str(out), "--", *cmd], env=env, check=True, cwd=cwd)
        result = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result['stderr']}")
    return result


# ----- the runs ---------------------------------------------------------------------------------
def make_corpus(work: Path, scale: int) -> Path:
    path = work / f"seinfeld_x{scale}.txt"
    if not path.exists():
        data = SEINFELD.read_bytes()
        with open(path, "wb") as fh:
            for _ in range(scale):
                fh.write(data)
    return path


def env_for(code: Path) -> dict[str, str]:
    # a fresh datasets cache per command: the one-shot code's datasets.map would otherwise reload a
    # previous run's tokens from ~/.cache/huggingface and look fast and small
    cache = tempfile.mkdtemp(prefix="hf-cache-")
    return {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": cache}


def build_vocab(code: Path, corpus: Path, run: Path) -> dict[str, Any]:
    shutil.rmtree(run, ignore_errors=True)
    r = measure(
        [sys.executable, "-m", "textgen", "build-vocab", "--corpus", str(corpus), "--run-dir", str(run)], env_for(code)
    )
    card = json.loads((run / "corpus.json").read_text(encoding="utf-8"))
    # the whole command's wall time (imports included), the same measure for both codes: the card has no
    # timings since seeded runs became byte-identical
    r.update(bytes=card["bytes"], tokens=card["tokens"], step_s=r["wall_s"], vocab=card["vocab_size"])
    return r


def train(code: Path, base: Path, run: Path, nproc: int = 1) -> dict[str, Any]:
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    for name in ("vocab.json", "train_ids.npy", "val_ids.npy", "corpus.json"):
        os.link(base / name, run / name)
    cmd = [sys.executable, "-m", "textgen", "train-generator", "--run-dir", str(run), *TRAIN_ARGS]
    if nproc > 1:
        cmd += ["--nproc-per-node", str(nproc)]
    r = measure(cmd, env_for(code))
    rates = [
        rec["tokens_per_s"]
        for rec in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if rec.get("kind") == "train"
    ]
    r["tokens_per_s"] = rates[-1] if rates else None
    shutil.rmtree(run, ignore_errors=True)
    return r


def peer_code(ref: str, work: Path) -> Path:
    """The source tree of commit ``ref`` (``git archive``), to run the one-shot code beside this one."""
    dest = work / f"peer-{ref}"
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


# ----- the section ------------------------------------------------------------------------------
def mb(n: float) -> str:
    return f"{n / 1e6:,.0f}"


def slope(rows: list[dict[str, Any]], key: str, tokens: str = "tokens") -> float | None:
    """Bytes of peak RSS per token between the smallest and largest scale."""
    if len(rows) < 2:
        return None
    lo, hi = rows[0], rows[-1]
    return (hi[key] - lo[key]) / max(1, hi[tokens] - lo[tokens])


def vocab_sizes(res: dict[str, Any]) -> str:
    """The vocabulary size at each scale, as the build-vocab rows report it (every code gives the same)."""
    sizes = {r["scale"]: r["vocab"] for r in res["rows"] if r["stage"] == "build-vocab" and r.get("vocab")}
    return ", ".join(f"{size:,} at {scale}x" for scale, size in sorted(sizes.items()))


def render(res: dict[str, Any]) -> str:
    lines = [
        START,
        "## Memory (big corpora)",
        "",
        f"`{res['command']}` on {res['date']}: {res['machine']}, Python {res['python']}. The shared Seinfeld file",
        f"repeated 1x, 10x, 100x: what grows is the data (vocabulary entries {vocab_sizes(res)}: words once",
        "in the file pass min_count once repeated; the model the same size otherwise). Peak RSS: the largest",
        "process of the command (`getrusage`), and all its processes summed",
        "(sampled every 0.2 s: tokenizer workers, torchrun ranks). build-vocab MB/s: corpus bytes over the",
        "command's wall seconds (imports, both passes and writing included). Training: 50 steps of the default",
        "model, 1 thread.",
        "",
        "| code | stage | scale | corpus MB | tokens | wall s | MB/s | peak RSS MB (largest) | peak RSS MB (all) "
        "| load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in res["rows"]:
        rate = f"{row['bytes'] / 1e6 / row['step_s']:.2f}" if row["stage"] == "build-vocab" else "-"
        load = f"{row['load'][0]:.1f}-{row['load'][1]:.1f}"
        lines.append(
            f"| {row['code']} | {row['stage']} | {row['scale']}x | {row['bytes'] / 1e6:,.1f} | {row['tokens']:,} | "
            f"{row['wall_s']:.0f} | {rate} | {mb(row['peak_rss'])} | {mb(row['peak_tree_rss'])} | {load} |"
        )
    lines += ["", "Bytes of peak RSS per token (slope from the smallest to the largest scale of each row group):", ""]
    for (code, stage), value in res["slopes"].items():
        lines.append(f"- {code} {stage}: {value:,.2f} bytes/token" if value is not None else f"- {code} {stage}: -")
    lines += ["", res.get("notes", "").rstrip(), END]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--torchrun-scale", type=int, default=10, help="Scale of the 2-process run (0: none).")
    parser.add_argument("--peer-ref", help="Also run this commit's (one-shot) code at the scales up to 10x.")
    parser.add_argument("--work", type=Path, help="Temporary folder (default: a new one, deleted at the end).")
    parser.add_argument("--json", type=Path, help="Also write the raw results here.")
    parser.add_argument("--write", action="store_true", help="Update the Memory section of BENCHMARKS.md.")
    parser.add_argument("--render", type=Path, help="Only write the section from a saved --json file.")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the section (the reading of the figures).")
    args, rest = parser.parse_known_args()
    if args.measure:
        measure_child(args.measure, rest[1:] if rest[:1] == ["--"] else rest)
        return
    if args.render:
        res = json.loads(args.render.read_text(encoding="utf-8"))
        res["slopes"] = {tuple(k.split("|")): v for k, v in res["slopes"].items()}
        if args.notes:
            res["notes"] = args.notes.read_text(encoding="utf-8")
        replace_section(BENCH_MD, render(res), START, END)
        return
    scales = [int(s) for s in args.scales.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="textgen-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    codes = [("streaming", REPO)] + (
        [(f"one-shot ({args.peer_ref})", peer_code(args.peer_ref, work))] if args.peer_ref else []
    )
    rows: list[dict[str, Any]] = []
    try:
        for scale in scales:
            corpus = make_corpus(work, scale)
            for code, src in codes:
                if code != "streaming" and scale > 10:
                    continue  # ~120 bytes per token: 100x would need ~10 GB on a shared 24 GB machine
                run = work / f"run-{code.split()[0]}-x{scale}"
                log(f"{code}: build-vocab {scale}x")
                r = build_vocab(src, corpus, run)
                rows.append({"code": code, "stage": "build-vocab", "scale": scale, **r})
                log(f"  {r['wall_s']:.0f} s, {r['bytes'] / 1e6 / r['step_s']:.2f} MB/s, peak {mb(r['peak_rss'])} MB")
                log(f"{code}: train 50 steps {scale}x")
                t = train(src, run, work / "train")
                rows.append(
                    {
                        "code": code,
                        "stage": "train (50 steps)",
                        "scale": scale,
                        "bytes": r["bytes"],
                        "tokens": r["tokens"],
                        "step_s": t["wall_s"],
                        **t,
                    }
                )
                log(f"  {t['wall_s']:.0f} s, peak {mb(t['peak_rss'])} MB")
                if scale == args.torchrun_scale:
                    log(f"{code}: torchrun 2 processes, 50 steps {scale}x")
                    t = train(src, run, work / "train", nproc=2)
                    rows.append(
                        {
                            "code": code,
                            "stage": "train, torchrun 2 processes",
                            "scale": scale,
                            "bytes": r["bytes"],
                            "tokens": r["tokens"],
                            "step_s": t["wall_s"],
                            **t,
                        }
                    )
                    log(f"  {t['wall_s']:.0f} s, peak {mb(t['peak_rss'])} MB per process")
                if scale >= 100 or code != "streaming":
                    shutil.rmtree(run, ignore_errors=True)
            if scale >= 100:
                corpus.unlink()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    slopes: dict[str, float | None] = {}
    for code, _ in codes:
        for stage in ("build-vocab", "train (50 steps)"):
            group = [r for r in rows if r["code"] == code and r["stage"] == stage]
            slopes[f"{code}|{stage}"] = slope(group, "peak_rss")
    res = {
        "command": "python bench/bench_memory.py " + " ".join(sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "python": platform.python_version(),
        "rows": [{k: v for k, v in r.items() if k != "stderr"} for r in rows],
        "slopes": slopes,
    }
    if args.json:
        args.json.write_text(json.dumps(res, indent=2), encoding="utf-8")
    for row in res["rows"]:
        log(json.dumps(row))
    if args.write:
        res["slopes"] = {tuple(k.split("|")): v for k, v in slopes.items()}
        if args.notes:
            res["notes"] = args.notes.read_text(encoding="utf-8")
        replace_section(BENCH_MD, render(res), START, END)


if __name__ == "__main__":
    main()
