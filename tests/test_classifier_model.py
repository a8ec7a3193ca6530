"""The classifier network, its training and its artifact: padding never changes a logit; seeded runs repeat."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import textgen
from textgen import steps
from textgen.classify.artifact import read_header
from textgen.classify.model import SequenceClassifier, Shape, logits_of, pad_batch
from textgen.errors import ArtifactError, MissingArtifactError

NAMES = Path(__file__).parent / "fixtures" / "names"
SMALL = {"hidden": 32, "epochs": 15, "batch_size": 16, "device": "cpu", "threads": 1, "seed": 0}


def train_names(run_dir: Path, **values: object) -> object:
    return steps.run("train-classifier", run_dir, **{"data": str(NAMES), **SMALL, **values})


@pytest.fixture(scope="module")
def names_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier trained on the invented names (shared; copy to modify)."""
    run = tmp_path_factory.mktemp("names")
    train_names(run)
    return run


@pytest.mark.parametrize("arch", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_padded_batch_gives_each_sequence_its_own_logits(arch: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(Shape(arch, 20, 5, 8, 12, 2, bidirectional, 0.3)).eval()
    seqs = [[3, 4, 5, 6, 7, 8, 9], [2], [5, 5, 5], [19, 18, 17, 16], [7, 8]]
    together = logits_of(model, seqs, torch.device("cpu"))
    for i, seq in enumerate(seqs):
        alone = logits_of(model, [seq], torch.device("cpu"))[0]
        assert torch.allclose(together[i], alone, atol=1e-6), (i, together[i], alone)
    # padding ids after the end are never read, whatever they are
    ids, lengths = pad_batch(seqs)
    ids[1, 1:] = 13
    assert torch.allclose(model(ids, lengths), together, atol=1e-6)


def test_an_unpadded_batch_takes_the_dense_path_with_the_same_result() -> None:
    torch.manual_seed(1)
    model = SequenceClassifier(Shape("gru", 10, 3, 4, 6, 1, True, 0.0)).eval()
    seqs = [[2, 3, 4], [5, 6, 7], [9, 8, 2]]
    ids, lengths = pad_batch(seqs)
    dense = model(ids, lengths)
    mixed = logits_of(model, [*seqs, [2]], torch.device("cpu"))[:3]  # packed: one shorter sequence
    assert torch.allclose(dense, mixed, atol=1e-6)


def test_training_learns_the_invented_languages(names_run: Path) -> None:
    metrics = json.loads((names_run / "classifier_metrics.json").read_text(encoding="utf-8"))
    test = metrics["test"]
    assert test["examples"] == 12 and test["majority_baseline"] == pytest.approx(1 / 3)
    assert test["accuracy"] >= 0.66 and test["macro_f1"] >= 0.6  # chance is 1/3
    history = metrics["history"]
    assert history[0]["train_loss"] > history[-1]["train_loss"]
    assert metrics["training"]["best_epoch"] == max(history, key=lambda r: r["dev_macro_f1"])["epoch"]
    assert {p.name for p in names_run.iterdir()} >= {
        "classifier.safetensors", "classifier.json", "classifier_split.json", "classifier_metrics.json",
        "confusion.png", "pipeline.lock",
    }  # fmt: skip
    assert (names_run / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seeded_runs_write_the_same_bytes(names_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    train_names(again)
    for name in ("classifier.safetensors", "classifier_split.json", "confusion.png"):
        assert (again / name).read_bytes() == (names_run / name).read_bytes(), name
    other = tmp_path / "other"
    train_names(other, seed=1, epochs=1)
    assert (other / "classifier_split.json").read_bytes() != (names_run / "classifier_split.json").read_bytes()


def test_load_classifier_predicts_and_reads_the_header_not_the_copy(names_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(names_run, run)
    (run / "classifier.json").write_text('{"labels": ["nonsense"]}', encoding="utf-8")
    clf = textgen.load_classifier(run, device="cpu")
    assert clf.labels == ["Krovak", "Ulumani", "Velmari"] and clf.level == "char"
    header = read_header(run / "classifier.safetensors")
    assert header["config"]["data"] == str(NAMES) and header["shape"]["hidden"] == 32
    preds = clf.predict(["Strolvok", "Mailanui", "Vesolisca", "Zd€"], top_k=2)
    assert [len(p.top) for p in preds] == [2, 2, 2, 2]
    assert all(p.top[0][1] >= p.top[1][1] for p in preds)
    assert preds[3].unknown == ["€"] and preds[0].unknown == []
    assert sum(prob for _, prob in clf.predict(["Kalunui"], top_k=10)[0].top) == pytest.approx(1.0, abs=1e-5)
    (run / "classifier.json").unlink()
    alone = textgen.load_classifier(run, device="cpu").predict(["Strolvok"], top_k=2)[0].top
    assert [lab for lab, _ in alone] == [lab for lab, _ in preds[0].top]
    assert [p for _, p in alone] == pytest.approx([p for _, p in preds[0].top], abs=1e-6)


def test_a_damaged_or_missing_classifier_is_an_artifact_error(names_run: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError, match="run `textgen train-classifier --run-dir"):
        textgen.load_classifier(tmp_path / "nothing")
    run = tmp_path / "run"
    shutil.copytree(names_run, run)
    data = (run / "classifier.safetensors").read_bytes()
    (run / "classifier.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="corrupt or truncated"):
        textgen.load_classifier(run)
    from textgen import io

    io.save_tensors(run / "classifier.safetensors", {"w": torch.zeros(1)}, metadata={"format": "other"})
    with pytest.raises(ArtifactError, match="is not a textgen classifier"):
        textgen.load_classifier(run)


def test_save_tensors_writes_the_same_bytes_for_the_same_metadata(tmp_path: Path) -> None:
    """safetensors writes a metadata map in hash order; textgen.io stores one sorted JSON key so seeded runs repeat."""
    from safetensors import safe_open

    from textgen import io

    meta = {k: f"value {k} ü" for k in ("format", "labels", "codec", "shape", "config", "zeta", "alpha")}
    tensors = {"b.weight": torch.arange(6.0).reshape(2, 3), "a": torch.ones(5, dtype=torch.int64)}
    blobs = []
    for i in range(6):
        order = dict(reversed(meta.items())) if i % 2 else meta
        io.save_tensors(tmp_path / f"{i}.safetensors", tensors, metadata=order)
        blobs.append((tmp_path / f"{i}.safetensors").read_bytes())
    assert len(set(blobs)) == 1
    assert io.read_metadata(tmp_path / "0.safetensors") == meta
    with safe_open(str(tmp_path / "0.safetensors"), framework="pt") as fh:
        assert torch.equal(fh.get_tensor("b.weight"), tensors["b.weight"])


def test_the_thread_setting_does_not_leak_into_the_next_step(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    train_names(tmp_path / "run", epochs=1, threads=before + 1)
    assert torch.get_num_threads() == before
