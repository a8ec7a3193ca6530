"""Generation on CUDA (skipped without a GPU): same probabilities as the CPU model, bf16 within
bounds, int8 refused with a hint, seeded reproducibility on the device."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_generate_decode import recorded_logp_errors

import textgen
from textgen.errors import UsageError

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize(("precision", "mean_bound"), [("fp32", 1e-4), ("bf16", 0.01)])
@pytest.mark.parametrize("settings", [{"top_p": 1.0}, {"top_k": 5, "top_p": 1.0}, {}])
def test_cuda_decoding_records_the_models_probabilities(
    lstm_run: Path,
    precision: str,
    mean_bound: float,
    settings: dict,  # noqa: F811
) -> None:
    cpu = textgen.load(lstm_run, device="cpu")
    gpu = textgen.load(lstm_run, device="cuda")
    out = gpu.generate("maya", length=60, seed=1, num_samples=8, precision=precision, **settings)  # type: ignore[arg-type]
    assert recorded_logp_errors(cpu, out).mean().item() < mean_bound
    assert all(t not in (cpu.vocab.pad_id, cpu.vocab.unk_id) for s in out.samples for t in s.token_ids)
    again = gpu.generate("maya", length=60, seed=1, num_samples=8, precision=precision, **settings)  # type: ignore[arg-type]
    assert [s.token_ids for s in again.samples] == [s.token_ids for s in out.samples]


def test_int8_on_cuda_is_a_usage_error(lstm_run: Path) -> None:  # noqa: F811
    gpu = textgen.load(lstm_run, device="cuda")
    with pytest.raises(UsageError, match="--precision bf16"):
        gpu.generate("maya", length=5, precision="int8")
    assert gpu.generate("maya", length=5).settings["precision"] == "fp32"  # auto on a GPU
