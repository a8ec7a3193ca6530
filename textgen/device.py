"""The one device resolver: ``auto|cpu|cuda|cuda:N`` for every command, with the same errors.

:func:`spec_problem` checks the spelling without importing torch (config validation);
:func:`resolve` turns a spec into a ``torch.device`` and raises :class:`DeviceError` (exit 1) when
the machine lacks it, :class:`UsageError` (exit 2) for a name that is no device textgen uses.
"""

from __future__ import annotations

import re
from typing import Any

from textgen.errors import DeviceError, UsageError

CHOICES = "auto, cpu, cuda or cuda:N"
_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def spec_problem(spec: Any) -> str | None:
    """Why ``spec`` is not a device textgen accepts (a phrase), or None."""
    if isinstance(spec, str) and _SPEC.match(spec):
        return None
    return f"must be {CHOICES}, got {spec!r}"


def resolve(spec: Any = "auto") -> Any:
    """``auto`` -> CUDA when available, else CPU; ``cuda[:N]`` must exist on this machine."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    problem = spec_problem(spec)
    if problem:
        raise UsageError(f"--device {problem}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec}: CUDA is not available on this machine; use --device cpu (or auto)")
    index = int(spec.split(":", 1)[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"--device {spec}: this machine has {count} CUDA device(s); pick cuda:0..cuda:{count - 1}")
    return torch.device(spec)


_BF16_LSTM: bool | None = None  # probed once per process


def cpu_bf16_lstm() -> bool:
    """Whether oneDNN runs a bf16 LSTM on this CPU (it needs AVX-512 or AMX; older CPUs refuse).

    Where it cannot, bf16 autocast on CPU runs the LSTM on PyTorch's native kernel instead. Call it
    once before ``torch.compile`` traces a model, so that tracing only reads the answer.
    """
    global _BF16_LSTM
    if _BF16_LSTM is None:
        import torch

        lstm = torch.nn.LSTM(4, 4, batch_first=True)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                lstm(torch.zeros(1, 2, 4))
            _BF16_LSTM = True
        except RuntimeError:
            _BF16_LSTM = False
    return _BF16_LSTM
