"""Affine maps ``x @ W.T + b`` for decoding, laid out once per precision; every output is float32.

Decoding multiplies a few rows (1 to 64 streams) by the same weights thousands of times, so the
layout is chosen once, when the generator is loaded:

* ``fp32``: the weight is stored transposed (``[in, out]``, row-major), which MKL reads about twice
  as fast as ``nn.Linear``'s ``[out, in]`` for one or a few rows (measured: 320 vs 610 us for one
  row times 300 x 12,669). Same arithmetic as the model, up to float summation order.
* ``bf16``: bfloat16 weights and inputs, float32 output (oneDNN on CPUs with AVX-512 BF16 or AMX;
  tensor cores on GPUs). About 2x fp32 for 64 rows on CPU; slower than fp32 for one row there.
* ``int8``: per-output-row symmetric int8 weights with dynamically quantized inputs (PyTorch's
  fbgemm kernels, x86 CPUs only): 3-10x fp32 for 1-64 rows, a quarter of the bytes read. Its
  error on the model's probabilities is measured in ``bench/BENCHMARKS.md`` and bounded in tests.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgen.errors import DeviceError, UsageError

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@functools.lru_cache(maxsize=1)
def int8_available() -> bool:
    """Whether fbgemm's dynamic-quantization kernels work in this PyTorch build (x86 CPU builds).

    Tried once on a tiny weight: the quantized-tensor constructors are deprecated upstream, so a
    release without them makes ``auto`` fall back to fp32 instead of failing mid-generation.
    """
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    if "fbgemm" not in engines and "x86" not in engines:
        return False
    try:
        packed = _int8_pack(torch.ones(2, 2), torch.zeros(2))
        out = torch.ops.quantized.linear_dynamic(torch.ones(1, 2), packed, True)
        return bool(torch.allclose(out, torch.full((1, 2), 2.0), atol=0.1))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def check_precision(precision: str, device: torch.device) -> Precision:
    """Validate ``precision`` for ``device`` (``auto``: int8 on x86 CPUs, else fp32); raise
    :class:`UsageError` with what to use instead."""
    if precision == "auto":
        return "int8" if device.type == "cpu" and int8_available() else "fp32"
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        if device.type != "cpu":
            raise UsageError("--precision int8 runs on CPU only; on a GPU use --precision bf16 (or fp32)")
        if not int8_available():
            raise DeviceError("--precision int8 needs PyTorch's fbgemm kernels (x86 CPU builds); use fp32 or bf16")
    return precision  # type: ignore[return-value]


class Affine:
    """``x [B, in] -> x @ weight.T + bias`` as float32 ``[B, out]``, in the chosen precision."""

    def __init__(self, weight: Tensor, bias: Tensor | None, precision: Precision) -> None:
        weight = weight.detach().float()
        bias = torch.zeros(weight.shape[0], device=weight.device) if bias is None else bias.detach().float()
        self.precision = precision
        if precision == "fp32":
            self._wt, self._b = weight.t().contiguous(), bias.contiguous()
        elif precision == "bf16":
            self._w, self._bb = weight.to(torch.bfloat16).contiguous(), bias.to(torch.bfloat16).contiguous()
        else:
            self._packed = _int8_pack(weight, bias)

    def __call__(self, x: Tensor) -> Tensor:
        if self.precision == "fp32":
            return torch.addmm(self._b, x.float(), self._wt)
        if self.precision == "bf16":
            if x.device.type == "cpu" and not torch.backends.mkldnn.enabled:
                with warnings.catch_warnings(), torch.backends.mkldnn.flags(enabled=True):
                    warnings.simplefilter("ignore")  # oneDNN's bf16 GEMM: the native one is ~10x slower
                    return F.linear(x.to(torch.bfloat16), self._w, self._bb).float()
            return F.linear(x.to(torch.bfloat16), self._w, self._bb).float()
        # reduce_range: 7-bit inputs, so AVX2 kernels without VNNI cannot saturate their 16-bit sums
        return torch.ops.quantized.linear_dynamic(x.float().contiguous(), self._packed, True)


def _int8_pack(weight: Tensor, bias: Tensor) -> object:
    """fbgemm's packed form of ``weight`` quantized per output row (symmetric int8) with ``bias``."""
    scales = (weight.abs().amax(dim=1) / 127.0).clamp_(min=1e-12).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantized-tensor constructors warn that they will move to torchao
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(weight.cpu(), scales, zeros, 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(q, bias.cpu())


_PREPARED: weakref.WeakKeyDictionary[nn.Module, dict[Hashable, tuple[tuple[int, ...], Any]]] = (
    weakref.WeakKeyDictionary()
)


def prepared(model: nn.Module, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` once per model and key, rebuilt when any parameter changed in place since."""
    versions = tuple(p._version for p in model.parameters())
    per_model = _PREPARED.setdefault(model, {})
    hit = per_model.get(key)
    if hit is None or hit[0] != versions:
        hit = (versions, build())
        per_model[key] = hit
    return hit[1]
