"""The classifier on CUDA (skipped without a GPU): padding invariance on the device, training there,
the artifact loading on the CPU with the same answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import textgen
from textgen import steps
from textgen.classify.model import SequenceClassifier, Shape, logits_of

pytestmark = pytest.mark.gpu
NAMES = Path(__file__).parent / "fixtures" / "names"


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_a_padded_batch_on_cuda_gives_each_sequence_its_own_logits(arch: str) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(Shape(arch, 20, 4, 8, 16, 2, True, 0.0)).cuda().eval()
    seqs = [[3, 4, 5, 6, 7], [2], [9, 9], [2, 3, 4, 5, 6, 7, 8, 9]]
    together = logits_of(model, seqs, torch.device("cuda"))
    alone = torch.cat([logits_of(model, [s], torch.device("cuda")) for s in seqs])
    assert torch.allclose(together, alone, atol=1e-5)
    cpu = SequenceClassifier(model.shape)
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    assert torch.allclose(logits_of(cpu, seqs, torch.device("cpu")), together, atol=1e-4)


def test_train_on_cuda_and_use_it_anywhere(tmp_path: Path) -> None:
    run = tmp_path / "run"
    steps.run("train-classifier", run, data=str(NAMES), hidden=32, epochs=10, device="cuda", seed=0)
    card = json.loads((run / "classifier.json").read_text(encoding="utf-8"))
    assert card["training"]["device"].startswith("cuda")
    test = json.loads((run / "classifier_metrics.json").read_text(encoding="utf-8"))["test"]
    assert test["accuracy"] > test["majority_baseline"]
    texts = ["Strolvok", "Mailanui", "Vesolisca"]
    on_gpu = textgen.load_classifier(run, device="cuda").predict(texts)
    on_cpu = textgen.load_classifier(run, device="cpu").predict(texts)
    for g, c in zip(on_gpu, on_cpu, strict=True):
        assert g.label == c.label and g.probability == pytest.approx(c.probability, abs=1e-4)
