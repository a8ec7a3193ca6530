"""The Kneser-Ney n-gram mixed into the generator: exact against a by-hand reference, a distribution,
bounded, saved whole inside generator.safetensors, refused when edited, and what `evaluate` reports."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import trained_run
from typer.testing import CliRunner

from textgen import io
from textgen.cli import app
from textgen.errors import ArtifactError
from textgen.lm import ngram
from textgen.lm.checkpoint import WEIGHTS, load_generator
from textgen.lm.config import GeneratorConfig
from textgen.lm.ngram import Ngram, contexts_before, mix

runner = CliRunner()
V, BOS = 12, 1


def reference(ids: list[int], order: int, v: int, bos: int):  # type: ignore[no-untyped-def]
    """Interpolated Kneser-Ney written out with tuples and dicts, as the textbook states it."""
    tok = [bos] * (order - 1) + list(ids)
    # every n-gram ending at a real token (not inside the <eos> padding) is one event
    grams = [Counter(tuple(tok[t - n + 1 : t + 1]) for t in range(order - 1, len(tok))) for n in range(1, order + 1)]
    used: list[dict[tuple[int, ...], int]] = []
    for n in range(1, order + 1):
        if n == order:
            used.append(dict(grams[n - 1]))
        else:
            cont: dict[tuple[int, ...], int] = defaultdict(int)
            for g in grams[n]:
                cont[g[1:]] += 1
            used.append(dict(cont))

    def discount(counts: dict[tuple[int, ...], int]) -> float:
        n1 = sum(1 for c in counts.values() if c == 1)
        n2 = sum(1 for c in counts.values() if c == 2)
        return 0.75 if n1 + 2 * n2 == 0 else min(0.95, max(0.05, n1 / (n1 + 2 * n2)))

    ds = [discount(u) for u in used]

    def p(w: int, ctx: tuple[int, ...]) -> float:
        if not ctx:
            c1 = used[0]
            total = sum(c1.values())
            types = sum(1 for c in c1.values() if c > 0)
            return max(c1.get((w,), 0) - ds[0], 0) / total + ds[0] * types / total / v
        n = len(ctx) + 1
        lower = p(w, ctx[1:])
        follow = {g: c for g, c in used[n - 1].items() if g[:-1] == ctx}
        total = sum(follow.values())
        if total == 0:
            return lower
        types = sum(1 for c in follow.values() if c > 0)
        d = ds[n - 1]
        return (max(follow.get((*ctx, w), 0) - d, 0) + d * types * lower) / total

    return p


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_it_is_kneser_ney_as_written_by_hand(order: int) -> None:
    rng = np.random.default_rng(order)
    ids = rng.choice(np.arange(2, V), 400, p=np.linspace(1, 3, V - 2) / np.linspace(1, 3, V - 2).sum())
    model = Ngram.fit(ids.astype(np.uint16), order, V, BOS)
    p = reference(ids.tolist(), order, V, BOS)
    seen = [tuple(ids[i : i + order - 1]) for i in range(0, 300, 7)]  # contexts that occur
    unseen = [tuple(rng.integers(0, V, order - 1)) for _ in range(20)]  # mostly contexts that never occur
    rows = seen + unseen + [(BOS,) * (order - 1)]
    contexts = np.array(rows, dtype=np.int64).reshape(len(rows), order - 1)
    for w in range(V):
        got = model.log_prob(contexts, np.full(len(contexts), w))
        want = [math.log(p(w, tuple(int(c) for c in ctx))) for ctx in contexts]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_every_next_word_distribution_sums_to_one_and_matches_the_scores() -> None:
    rng = np.random.default_rng(0)
    model = Ngram.fit(rng.integers(2, V, 500), 4, V, BOS)
    contexts = np.array(list(itertools.islice(itertools.product(range(V), repeat=3), 0, 1700, 17)), dtype=np.int64)
    full = model.next_log_probs(contexts)
    np.testing.assert_allclose(np.exp(full).sum(axis=1), 1.0, rtol=0, atol=1e-12)
    for w in (0, BOS, 5, V - 1):
        np.testing.assert_allclose(full[:, w], model.log_prob(contexts, np.full(len(contexts), w)), atol=1e-12)


def test_contexts_look_only_backwards_with_eos_before_the_start() -> None:
    ids = np.array([7, 8, 9, 10])
    assert contexts_before(ids, np.arange(4), 3, BOS).tolist() == [[1, 1, 1], [1, 1, 7], [1, 7, 8], [7, 8, 9]]


def test_counting_reads_at_most_max_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ngram, "MAX_TOKENS", 100)
    ids = np.random.default_rng(1).integers(2, V, 10_000)
    model = Ngram.fit(ids, 3, V, BOS)
    assert int(model.counts[2].sum()) == 100  # top-order raw counts: one per counted token
    assert model.log_prob(contexts_before(ids, np.arange(5), 2, BOS), ids[:5]).tolist() == (
        Ngram.fit(ids[:100], 3, V, BOS).log_prob(contexts_before(ids, np.arange(5), 2, BOS), ids[:5]).tolist()
    )


def test_the_mixture_is_the_weighted_sum_of_probabilities() -> None:
    model_logp = torch.log(torch.tensor([0.5, 0.1]))
    got = mix(model_logp, np.log([0.1, 0.9]), 0.25)
    torch.testing.assert_close(got, torch.log(torch.tensor([0.75 * 0.5 + 0.25 * 0.1, 0.75 * 0.1 + 0.25 * 0.9])))


def test_the_tables_travel_inside_the_weights_file_and_load_back() -> None:
    run = trained_run("lstm")
    model, config, vocab = load_generator(run)
    assert config.model.ngram_order == 4 and model.ngram is not None and model.ngram.order == 4
    stored = io.load_tensors(run / WEIGHTS)
    assert {k for k in stored if k.startswith("ngram.")} == {"ngram.counts.1"} | {
        f"ngram.{kind}.{n}" for kind in ("keys", "counts") for n in (2, 3, 4)
    }
    again = Ngram.fit(vocab.read_ids(run / "train_ids.npy"), 4, len(vocab), vocab.eos_id)  # what training counted
    val = np.asarray(io.read_npy(run / "val_ids.npy"), np.int64)
    ctx = contexts_before(val, np.arange(len(val)), 3, vocab.eos_id)
    assert model.ngram.log_prob(ctx, val).tolist() == again.log_prob(ctx, val).tolist()


def _edited(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    run = tmp_path / "run"
    shutil.copytree(trained_run("lstm"), run)
    tensors = io.load_tensors(run / WEIGHTS)
    meta = io.read_metadata(run / WEIGHTS)
    change(tensors, meta)
    io.save_tensors(run / WEIGHTS, tensors, metadata=meta)
    return run


def _set_order(meta: dict, order: int) -> None:  # type: ignore[type-arg]
    config = json.loads(meta["config"]) if isinstance(meta["config"], str) else meta["config"]
    config["model"]["ngram_order"] = order
    meta["config"] = config


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda t, m: t.pop("ngram.keys.3"), "no ngram.keys.3"),
        (lambda t, m: t.__setitem__("ngram.keys.4", t["ngram.keys.4"].flip(0)), "not sorted"),
        (lambda t, m: t.__setitem__("ngram.counts.2", -t["ngram.counts.2"]), "negative counts"),
        (lambda t, m: t.__setitem__("ngram.counts.1", t["ngram.counts.1"][:-1]), "unigram counts"),
        (lambda t, m: _set_order(m, 0), "does not use"),
        (lambda t, m: _set_order(m, 3), "ngram.counts.4 does not belong to its order-3 model"),
        (lambda t, m: t.__setitem__("ngram.keys.2", t["ngram.keys.2"].to(torch.bfloat16)), "not a list of integers"),
        (lambda t, m: t.__setitem__("ngram.counts.1", t["ngram.counts.1"][:, None]), "not a list of integers"),
        (lambda t, m: t.__setitem__("ngram.counts.3", t["ngram.counts.3"][0]), "not a list of integers"),
    ],
)
def test_edited_tables_are_refused_with_one_line(tmp_path: Path, change, needle: str) -> None:  # type: ignore[no-untyped-def]
    run = _edited(tmp_path, change)
    with pytest.raises(ArtifactError, match=needle):
        load_generator(run)
    res = runner.invoke(app, ["evaluate", "--run-dir", str(run), "--device", "cpu"])
    assert res.exit_code == 1 and needle in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 3  # one message (the console may wrap it)


def test_a_config_written_before_the_ngram_reads_as_none() -> None:
    data = GeneratorConfig.from_dict(io.read_json(trained_run("lstm") / "generator.json")).to_dict()
    del data["model"]["ngram_order"], data["model"]["ngram_weight"]
    old = GeneratorConfig.from_dict(data)
    assert old.model.ngram_order == 0


def test_evaluate_reports_the_network_alone_beside_the_mixture() -> None:
    res = runner.invoke(app, ["evaluate", "--run-dir", str(trained_run("lstm")), "--device", "cpu"])
    assert res.exit_code == 0 and "the network alone, without its n-gram: val_bpb" in res.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--ngram-order", "-1"], "--ngram-order must be in [0, 6], got -1"),
        (["--ngram-order", "7"], "--ngram-order must be in [0, 6], got 7"),
        (["--ngram-weight", "1"], "--ngram-weight must be in (0, 1), got 1.0"),
        (["--ngram-weight", "0"], "--ngram-weight must be in (0, 1), got 0.0"),
        (["--ngram-weight", "nan"], "--ngram-weight"),
    ],
)
def test_nonsense_ngram_options_are_usage_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    res = runner.invoke(app, ["train-generator", "--run-dir", str(tmp_path), *args])
    assert res.exit_code == 2 and needle in res.output, res.output


def test_generate_ngram_records_the_mixture_val_bpb_scores() -> None:
    import textgen

    gen = textgen.load(trained_run("lstm"), device="cpu")
    out = gen.generate("maya: the the", length=30, seed=2, precision="fp32", ngram=True)
    assert out.settings["ngram"] is True
    prime = [gen.vocab.stoi[t] for t in out.prime_tokens]
    ids = np.array(prime + out.samples[0].token_ids)
    with torch.no_grad():
        hidden, _ = gen.model(torch.tensor([ids.tolist()]))
        logp = gen.model.log_probs(hidden)[0]
    targets = torch.tensor(ids[1:])
    network = logp[:-1].gather(1, targets.unsqueeze(1)).squeeze(1).double()
    want = gen.model.mix_ngram(network, ids, np.arange(1, len(ids)))[len(prime) - 1 :].exp()
    torch.testing.assert_close(torch.tensor(out.samples[0].probs, dtype=torch.float64), want, atol=1e-5, rtol=1e-4)
    alone = gen.generate("maya: the the", length=30, seed=2, precision="fp32")
    assert "ngram" not in alone.settings and alone.samples[0].probs != out.samples[0].probs


def test_generate_ngram_on_a_generator_without_one_is_a_usage_error(tmp_path: Path) -> None:
    def strip(tensors: dict, meta: dict) -> None:  # type: ignore[type-arg]
        for key in [k for k in tensors if k.startswith("ngram.")]:
            del tensors[key]
        _set_order(meta, 0)

    run = _edited(tmp_path, strip)
    model, _, _ = load_generator(run)
    assert model.ngram is None  # a valid generator without an n-gram
    ok = runner.invoke(app, ["generate", "--run-dir", str(run), "--prime", "maya", "--seed", "0"])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["generate", "--run-dir", str(run), "--prime", "maya", "--ngram"])
    assert res.exit_code == 2 and "--ngram needs a generator trained with an n-gram" in res.stderr, res.output
    assert res.stderr.count("\n") == 1
    res = runner.invoke(app, ["evaluate", "--run-dir", str(run), "--device", "cpu"])
    assert res.exit_code == 0 and "without its n-gram" not in res.output
