"""What bf16/int8 decoding costs in quality: teacher-forced NLL of validation tokens per precision.

The validation split is cut into ``streams`` contiguous pieces decoded side by side, each from a
zero state, one token per step through the decoding kernels (``LSTMStepper`` and the adaptive
output kernels) in each precision. Reported per precision: mean NLL per token (nats), its change
against fp32, and the mean and 99th percentile of ``|log p - log p_fp32|`` over the same tokens. The
module's own full forward pass (``model.token_nll``) is the fp32 reference the kernels must equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from textgen import io
from textgen.decode.kernels import Precision, int8_available
from textgen.decode.output import log_probs_fn
from textgen.decode.stepper import LSTMStepper


def _kernel_logp(model: Any, x: torch.Tensor, y: torch.Tensor, precision: Precision) -> torch.Tensor:
    """``[streams, T]`` log p(y) decoding ``x`` one token per step in ``precision``."""
    stepper = LSTMStepper.of(model, precision)
    assert stepper is not None, "an LSTM model with an adaptive softmax is needed"
    stepper.load(model.init_state(x.shape[0]))
    logp_of = log_probs_fn(model, precision)
    out = []
    for t in range(x.shape[1]):
        feats = stepper.step(x[:, t])[:, 0]
        out.append(logp_of(feats).gather(1, y[:, t : t + 1]).squeeze(1))
    return torch.stack(out, dim=1)


def precision_quality(gen: Any, tokens: int = 16384, streams: int = 64) -> list[dict[str, float | str]]:
    """Rows ``{precision, nll, delta_nll_pct, mean_abs_dlogp, p99_abs_dlogp}`` plus the module reference."""
    model = gen.model
    ids = np.asarray(io.read_npy(gen.run_dir / "val_ids.npy"), dtype=np.int64)
    per = min(tokens, len(ids) - 1) // streams
    chunks = torch.as_tensor(ids[: streams * per + 1])
    x = torch.stack([chunks[i * per : (i + 1) * per] for i in range(streams)])
    y = torch.stack([chunks[i * per + 1 : (i + 1) * per + 1] for i in range(streams)])
    with torch.inference_mode():
        hidden, _ = model(x, model.init_state(streams))
        module_nll = float(model.token_nll(hidden, y).mean())
        ref = _kernel_logp(model, x, y, "fp32")
        rows: list[dict[str, float | str]] = [
            {"precision": "module fp32 (full forward)", "nll": module_nll, "delta_nll_pct": 0.0}
        ]
        for precision in ("fp32", "bf16", "int8"):
            if precision == "int8" and not int8_available():
                continue
            logp = ref if precision == "fp32" else _kernel_logp(model, x, y, precision)  # type: ignore[arg-type]
            diff = (logp - ref).abs().flatten()
            nll = float(-logp.mean())
            rows.append(
                {
                    "precision": precision,
                    "nll": nll,
                    "delta_nll_pct": 100.0 * (nll - module_nll) / module_nll,
                    "mean_abs_dlogp": float(diff.mean()),
                    "p99_abs_dlogp": float(diff.quantile(0.99)),
                }
            )
    return rows


def quality_table(rows: list[dict[str, float | str]], tokens: int) -> str:
    lines = [
        f"| decoding ({tokens:,} validation tokens) | NLL nats/token | vs module | mean abs dlogp | p99 abs dlogp |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        mean, p99 = r.get("mean_abs_dlogp"), r.get("p99_abs_dlogp")
        cells = [f"{float(mean):.4f}" if mean is not None else "", f"{float(p99):.4f}" if p99 is not None else ""]
        nll, delta = float(r["nll"]), float(r["delta_nll_pct"])
        lines.append(f"| {r['precision']} | {nll:.4f} | {delta:+.3f}% | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
