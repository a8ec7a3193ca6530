"""Launch generator training under torchrun from this process, and the worker torchrun starts.

:func:`launch` runs ``python -m torch.distributed.run ... -m textgen.lm.torchrun RUN_DIR CONFIG
RESULT`` on this node (rendezvous on 127.0.0.1). Each worker joins the process group
(:func:`textgen.lm.collectives.from_env`) and trains; rank 0 prints its progress lines (forwarded to
the caller's progress) and writes the :class:`~textgen.lm.train.TrainResult` as JSON to RESULT.
Ctrl-C reaches the workers through torchrun: rank 0 validates and saves, and the result says
``interrupted``. This module defines no classes, so running it as ``__main__`` is harmless.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from textgen.errors import PipelineError, TextgenError, UsageError
from textgen.lm.collectives import LOCAL, DistContext, env_rank, from_env
from textgen.lm.config import GeneratorConfig
from textgen.lm.train import TrainResult, train_generator


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for a single-node rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# seconds torchrun gives the workers after forwarding Ctrl-C before it SIGKILLs them: its default,
# 30, can end rank 0's last validation and save on a large split or a slow machine
SHUTDOWN_TIMEOUT_S = 300


def torchrun_command(nproc: int, module_args: Sequence[str], port: int | None = None) -> list[str]:
    """``python -m torch.distributed.run`` for one node, rendezvous on 127.0.0.1."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
        "--master-addr", "127.0.0.1", "--master-port", str(port or free_port()),
        "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S), "-m", *module_args,
    ]  # fmt: skip


def launch(
    run_dir: Path, config: GeneratorConfig, nproc: int, log: Callable[[str], None], *, resume: bool = False
) -> TrainResult:
    """Train ``config`` in ``run_dir`` with ``nproc`` processes; rank 0's result (``interrupted`` after Ctrl-C).

    A failed run raises :class:`PipelineError` with rank 0's one-line error.
    """
    with tempfile.TemporaryDirectory(prefix="textgen-ddp-") as tmp:
        cfg_path, result_path = Path(tmp) / "config.json", Path(tmp) / "result.json"
        cfg_path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
        args = [__name__, str(run_dir), str(cfg_path), str(result_path), *(["--resume"] if resume else [])]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        err_path = Path(tmp) / "stderr.txt"
        with (
            open(err_path, "w", encoding="utf-8") as err_file,
            subprocess.Popen(
                torchrun_command(nproc, args), stdout=subprocess.PIPE, stderr=err_file, text=True, env=env
            ) as proc,
        ):
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.strip():
                        log(line.rstrip("\n"))
                code = proc.wait()
            except KeyboardInterrupt:
                code = proc.wait(
                    timeout=SHUTDOWN_TIMEOUT_S + 30
                )  # torchrun forwards the signal; the workers save and exit
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
    if result is not None:
        return TrainResult(**result)
    if code != 0:
        raise PipelineError(f"torchrun with {nproc} processes failed: {_failure_line(stderr, code)}")
    raise PipelineError(f"torchrun with {nproc} processes ended without a result; rerun with --nproc-per-node 1")


def _failure_line(stderr: str, code: int) -> str:
    """The most telling line of a failed torchrun: rank 0's ``error:`` line, else the last exception line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln[len("error: ") :] for ln in lines if ln.startswith("error: ")]
    if errors:
        return errors[0]
    exceptions = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return exceptions[-1] if exceptions else f"exit code {code}"


def _print_progress(kind: str, info: dict[str, Any]) -> None:
    if kind == "eval":
        print(
            f"step {info['step']}: val_bpb {info['val_bpb']:.4f}{' (best)' if info.get('improved') else ''}", flush=True
        )
    elif kind == "start":
        print(f"training: {info.get('total_steps')} steps planned", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Worker: ``python -m textgen.lm.torchrun RUN_DIR CONFIG_JSON RESULT_JSON [--resume]`` under torchrun."""
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    args = [a for a in args if a != "--resume"]
    quiet = env_rank() != 0
    dist: DistContext = LOCAL
    try:
        if len(args) != 3:
            raise UsageError("usage: python -m textgen.lm.torchrun RUN_DIR CONFIG_JSON RESULT_JSON [--resume]")
        config = GeneratorConfig.from_dict(json.loads(Path(args[1]).read_text(encoding="utf-8")))
        dist = from_env(config.train.device)
        result = train_generator(args[0], config, _print_progress if dist.is_main else None, resume=resume, dist=dist)
        if dist.is_main:
            Path(args[2]).write_text(json.dumps(asdict(result)), encoding="utf-8")
        return 130 if result.interrupted else 0
    except TextgenError as exc:
        if not quiet:
            print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # an unreadable config file
        if not quiet:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        with contextlib.suppress(Exception):
            dist.close()


if __name__ == "__main__":
    sys.exit(main())
