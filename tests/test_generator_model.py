"""Generator models, output layers, data layout and scoring (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textgen.errors import ArtifactError, UsageError
from textgen.lm.config import GeneratorConfig, ModelConfig, TrainConfig, auto_cutoffs
from textgen.lm.data import ChunkBatcher, batchify, eval_rows, replace_rare
from textgen.lm.evaluate import bits_per_byte, score
from textgen.lm.model import build_model

V = 60


def tiny(arch: str = "lstm", **kw: object) -> ModelConfig:
    base = dict(vocab_size=V, arch=arch, emb_dim=8, hidden=12, layers=2, cutoffs=(10, 30), attn_window=4)
    base.update(kw)
    return ModelConfig(**base)  # type: ignore[arg-type]


CASES = [
    ("lstm", "full", "general", True),
    ("lstm", "adaptive", "general", True),
    ("lstm", "adaptive", "general", False),
    ("attention", "full", "general", True),
    ("attention", "adaptive", "general", True),
    ("attention", "adaptive", "additive", False),
]


@pytest.mark.parametrize(("arch", "softmax", "score_kind", "tie"), CASES)
def test_incremental_decoding_matches_full_forward(arch: str, softmax: str, score_kind: str, tie: bool) -> None:
    torch.manual_seed(0)
    model = build_model(tiny(arch, softmax=softmax, attn_score=score_kind, tie_weights=tie)).eval()
    tokens = torch.randint(0, V, (3, 13))
    with torch.no_grad():
        hidden, _ = model(tokens, model.init_state(3, "cpu"))
        full = model.log_probs(hidden)
        state, steps = model.init_state(3, "cpu"), []
        for t in range(tokens.shape[1]):
            h, state = model(tokens[:, t : t + 1], state)
            steps.append(model.log_probs(h))
        # chunks of uneven length carry the state the same way
        state, chunks = model.init_state(3, "cpu"), []
        for a, b in ((0, 5), (5, 6), (6, 13)):
            h, state = model(tokens[:, a:b], state)
            chunks.append(model.log_probs(h))
    assert full.shape == (3, 13, V)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(chunks, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("arch", "softmax", "score_kind", "tie"), CASES)
def test_log_probs_normalised_and_loss_matches(arch: str, softmax: str, score_kind: str, tie: bool) -> None:
    torch.manual_seed(1)
    model = build_model(tiny(arch, softmax=softmax, attn_score=score_kind, tie_weights=tie)).eval()
    tokens = torch.randint(0, V, (2, 7))
    targets = torch.randint(0, V, (2, 7))
    with torch.no_grad():
        hidden, _ = model(tokens)
        logp = model.log_probs(hidden)
        nll = model.token_nll(hidden, targets)
        loss = model.loss(hidden, targets)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(nll, -logp.gather(2, targets.unsqueeze(-1)).reshape(-1), atol=1e-5, rtol=1e-5)
    assert math.isclose(float(loss), float(nll.mean()), rel_tol=1e-6)
    keep = torch.ones_like(targets, dtype=torch.bool)
    keep[0, :3] = False  # callers drop padding by indexing
    assert model.token_nll(hidden[keep], targets[keep]).shape == (11,)


def _naive_adaptive_nll(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Grave et al.'s formula written out with slices: the reference for the split-based layer."""
    bounds, s = [0, 10, 30, V], 10
    # the layer's cluster logits are zeroed by the test: two constant columns after the shortlist
    cluster_head = torch.log_softmax(torch.cat([x @ w[:s].T + b[:s], torch.zeros(len(x), 2)], -1), -1)
    out = []
    for i, t in enumerate(y.tolist()):
        if t < s:
            out.append(-cluster_head[i, t])
            continue
        k = 1 if t < bounds[2] else 2
        lo, hi = bounds[k], bounds[k + 1]
        tail = torch.log_softmax(x[i] @ w[lo:hi].T + b[lo:hi], -1)
        out.append(-(cluster_head[i, s + k - 1] + tail[t - lo]))
    return torch.stack(out)


def test_adaptive_softmax_gradients_match_the_sliced_formula() -> None:
    """The layer splits the word rows (one gradient write instead of a vocabulary-sized fill per slice):
    its loss and gradients must be what the formula written with slices gives."""
    from textgen.lm.softmax import AdaptiveSoftmax

    torch.manual_seed(3)
    layer = AdaptiveSoftmax(8, V, (10, 30))
    torch.nn.init.zeros_(layer.cluster.weight)
    torch.nn.init.zeros_(layer.cluster.bias)  # cluster logits 0: the reference's zero columns
    x = torch.randn(40, 8)
    y = torch.cat([torch.randint(0, 10, (20,)), torch.randint(10, 30, (15,)), torch.randint(30, V, (5,))])
    w = torch.randn(V, 8, requires_grad=True)
    b = torch.randn(V, requires_grad=True)
    got = layer.nll(x, y, w, b)
    (gw, gb) = torch.autograd.grad(got.sum(), (w, b))
    w2, b2 = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    want = _naive_adaptive_nll(x, y, w2, b2)
    (rw, rb) = torch.autograd.grad(want.sum(), (w2, b2))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gw, rw, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gb, rb, atol=1e-5, rtol=1e-5)
    # a cluster no target falls in gets a zero gradient, not a missing one
    (gw_head,) = torch.autograd.grad(layer.nll(x[:20], y[:20], w, b).sum(), (w,))
    assert torch.count_nonzero(gw_head[10:]) == 0 and torch.count_nonzero(gw_head[:10]) > 0


def test_attention_weights_are_causal_and_windowed() -> None:
    torch.manual_seed(2)
    model = build_model(tiny("attention", attn_window=3)).eval()
    tokens = torch.randint(0, V, (2, 6))
    with torch.no_grad():
        hidden, state, attn = model(tokens, model.init_state(2, "cpu"), return_attention=True)
    assert hidden.shape == (2, 6, model.out_dim) and attn.shape == (2, 6, 3)
    assert torch.all(attn[:, 0] == 0)  # the first token has no predecessor
    assert torch.all(attn[:, 1, :2] == 0) and torch.all(attn[:, 1, 2] > 0)  # one predecessor, newest slot
    assert torch.all(attn.sum(-1) <= 1 + 1e-6)
    assert state[2].shape == (2, 3, 12) and bool(state[3].all())
    with pytest.raises(ArtifactError, match="attention"):
        build_model(tiny("lstm"))(tokens, None, return_attention=True)


def test_select_state_and_detach() -> None:
    model = build_model(tiny("attention"))
    state = model.init_state(3, "cpu")
    picked = model.select_state(state, torch.tensor([2, 2]))
    assert [tuple(s.shape) for s in picked] == [(2, 2, 12), (2, 2, 12), (2, 4, 12), (2, 4)]


@pytest.mark.parametrize("arch", ["lstm", "attention"])
def test_bf16_autocast_on_cpu_matches_fp32(arch: str) -> None:
    """bf16 autocast runs on any CPU (the native LSTM kernel where oneDNN has no bf16 LSTM) and
    gives the fp32 loss and gradients up to bf16 rounding."""
    torch.manual_seed(0)
    model = build_model(tiny(arch)).eval()
    tokens = torch.randint(0, V, (2, 5))
    hidden, _ = model(tokens)
    exact = model.loss(hidden, tokens)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden, _ = model(tokens)
        loss = model.loss(hidden, tokens)
    loss.backward()
    grad = model.embedding.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert abs(loss.item() - exact.item()) < 0.02 * exact.item()


def test_nonsense_hyperparameters_listed_in_one_error() -> None:
    cfg = GeneratorConfig(tiny(hidden=0, dropout=1.5), TrainConfig(lr=-1.0))
    with pytest.raises(UsageError) as err:
        cfg.validate()
    msg = str(err.value)
    assert "--hidden must be at least 1" in msg and "--dropout must be in [0, 1)" in msg and "--lr" in msg
    assert "\n" not in msg
    with pytest.raises(UsageError, match="cutoffs"):
        GeneratorConfig(tiny(cutoffs=(30, 10))).validate()
    with pytest.raises(ArtifactError, match="unknown architecture"):
        build_model(tiny("transformer"))


def test_batchify_layout_matches_the_diagram() -> None:
    ids = np.arange(24)
    rows = batchify(ids, 4)
    assert rows.view.tolist()[1] == [6, 7, 8, 9, 10, 11] and np.shares_memory(rows.view, ids)  # a view, no copy
    chunks = list(ChunkBatcher(rows, bptt=2).iter_epoch(0))
    assert [c[0] for c in chunks] == [0, 1, 2]  # 6 columns: inputs need a next token
    _, x, y = chunks[0]
    assert x[:, 0].tolist() == [0, 6, 12, 18] and y[:, 0].tolist() == [1, 7, 13, 19]
    _, x, y = chunks[-1]
    assert x.shape == (4, 1) and y[:, -1].tolist() == [5, 11, 17, 23]
    # two processes get disjoint halves of a 2x-wide layout
    r0, r1 = batchify(ids, 2, 0, 2), batchify(ids, 2, 1, 2)
    assert set(r0.view.flatten().tolist()).isdisjoint(r1.view.flatten().tolist())
    assert r1.first == 12 and r1.positions(1).tolist() == [13, 19]
    with pytest.raises(UsageError, match="batch-size"):
        batchify(np.arange(5), 4)


def test_eval_rows_score_every_token_once() -> None:
    ids = np.arange(10, 33)
    inp, tgt = eval_rows(ids, 4, bos=2)
    real = tgt[tgt >= 0]
    assert sorted(real.tolist()) == ids.tolist()
    assert inp[0, 0] == 2
    flat_in, flat_t = inp.flatten(), tgt.flatten()
    for k in range(1, len(ids)):  # each target's input is its predecessor
        assert flat_in[k] == ids[k - 1] and flat_t[k] == ids[k]
    shards = [eval_rows(ids, 2, 2, r, 2)[1] for r in range(2)]
    assert sorted(torch.cat([s[s >= 0] for s in shards]).tolist()) == ids.tolist()


def test_replace_rare_only_touches_singletons() -> None:
    counts = [0, 0, 0, 5, 1, 1, 3]
    ids = np.array([3, 4, 5, 6] * 50)
    out = replace_rare(ids, counts, unk_id=1, share=0.5, seed=0)
    assert set(np.unique(out[ids == 3])) == {3} and set(np.unique(out[ids == 6])) == {6}
    assert 0.3 < (out[ids == 4] == 1).mean() < 0.7
    assert np.array_equal(replace_rare(ids, counts, 1, 0.0, 0), ids)


def test_score_is_the_benchmark_val_bpb() -> None:
    torch.manual_seed(3)
    model = build_model(tiny()).eval()
    ids = np.random.default_rng(0).integers(3, V, 41)
    nll, n = score(model, ids, bos=2, streams=3, bptt=5)
    # reference: each row read from a fresh state, the first token conditioned on <eos> / its predecessor
    _, tgt = eval_rows(ids, 3, bos=2)
    length = tgt.shape[1]
    ref = 0.0
    with torch.no_grad():
        for r in range(3):
            start = r * length
            ctx = np.concatenate([[2], ids])[start : start + length]
            hidden, _ = model(torch.as_tensor(ctx[None], dtype=torch.long))
            logp = model.log_probs(hidden)[0]
            for t in range(min(length, len(ids) - start)):
                ref -= float(logp[t, ids[start + t]])
    assert n == len(ids)
    assert math.isclose(nll, ref, rel_tol=1e-5)
    assert math.isclose(bits_per_byte(nll, 100), ref / math.log(2) / 100, rel_tol=1e-5)


@pytest.mark.parametrize(("vocab_size", "expected"), [(20_669, (500, 3000)), (2_000, (500,)), (500, ()), (400, ())])
def test_automatic_cutoffs_stay_inside_the_vocabulary(vocab_size: int, expected: tuple[int, ...]) -> None:
    cutoffs = auto_cutoffs(vocab_size)
    assert cutoffs == expected
    GeneratorConfig(ModelConfig(vocab_size=vocab_size, cutoffs=cutoffs)).validate()  # accepted as if given
