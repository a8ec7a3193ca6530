"""Word-level language models: a closed registry ``{"lstm": ..., "attention": ...}``.

Both architectures share one interface (the generation stage codes against it)::

    state = model.init_state(batch_size, device)
    hidden, state = model(tokens, state)        # tokens [B, T]; hidden [B, T, D]; state carried
    logp = model.log_probs(hidden)              # [B, T, V] full log-softmax
    loss = model.loss(hidden, targets)          # mean NLL in nats per token
    hidden, state, attn = model(tokens, state, return_attention=True)   # attention only: [B, T, W]

Feeding T tokens at once or one at a time with the carried state gives the same outputs (in
``eval()`` mode): the LSTM state is exact, and the attention variant keeps a rolling cache of its
last W outputs in the state.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from textgen import device as devices
from textgen import options
from textgen.errors import ArtifactError
from textgen.lm import regularize
from textgen.lm.config import ModelConfig
from textgen.lm.ngram import Ngram
from textgen.lm.ngram import mix as mix_ngram
from textgen.lm.softmax import AdaptiveSoftmax, full_log_prob, full_nll

State = tuple[Tensor, ...]


@contextlib.contextmanager
def _lstm_kernel(x: Tensor) -> Iterator[None]:
    """bf16 autocast on a CPU whose oneDNN has no bf16 LSTM (no AVX-512): PyTorch's native kernel instead."""
    if not (x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not devices.cpu_bf16_lstm()):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # setting the oneDNN flags warns about Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


class WindowAttention(nn.Module):
    """Causal attention of each position over the W outputs before it (memory carried in the state).

    Keys are ``[memory (W, from earlier chunks) | this chunk (T)]``; position ``i`` of the chunk sits
    at key index ``W + i`` and may look at key indices ``i .. i+W-1`` (its W predecessors). A learned
    "nothing" slot with a zero value absorbs the weight when no predecessor is useful (or none exists).
    """

    def __init__(self, dim: int, window: int, score: str, out_dim: int) -> None:
        super().__init__()
        self.window, self.score = window, score
        if score == "general":  # Luong: q^T W k
            self.w = nn.Linear(dim, dim, bias=False)
        else:  # Bahdanau: v^T tanh(Wq q + Wk k)
            adim = min(dim, 128)
            self.wq = nn.Linear(dim, adim, bias=False)
            self.wk = nn.Linear(dim, adim)
            self.v = nn.Linear(adim, 1, bias=False)
        self.null = nn.Parameter(torch.zeros(dim))
        self.combine = nn.Linear(2 * dim, out_dim)

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        if self.score == "general":
            return torch.matmul(self.w(q), k.transpose(1, 2))
        return self.v(torch.tanh(self.wq(q).unsqueeze(2) + self.wk(k).unsqueeze(1))).squeeze(-1)

    def forward(self, out: Tensor, mem: Tensor, mem_valid: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return (combined [B,T,out_dim], weights over the W predecessors [B,T,W], new mem, new valid)."""
        b, t, _ = out.shape
        w = self.window
        keys = torch.cat([mem.to(out.dtype), out], dim=1)  # [B, W+T, H]
        valid = torch.cat([mem_valid, mem_valid.new_ones(b, t)], dim=1)  # [B, W+T]
        j = torch.arange(w + t, device=out.device)
        i = torch.arange(t, device=out.device).unsqueeze(1)
        band = (j >= i) & (j < i + w)  # [T, W+T]
        allowed = band.unsqueeze(0) & valid.unsqueeze(1)
        scores = self._scores(out, keys).masked_fill(~allowed, float("-inf"))
        null = self._scores(out, self.null.to(out.dtype).expand(b, 1, -1))  # [B, T, 1]
        weights = torch.softmax(torch.cat([scores, null], dim=-1).float(), dim=-1).to(out.dtype)
        context = torch.matmul(weights[..., :-1], keys)
        combined = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))
        idx = (i + torch.arange(w, device=out.device)).unsqueeze(0).expand(b, t, w)
        attn = weights[..., :-1].gather(2, idx)
        return combined, attn, keys[:, -w:].detach(), valid[:, -w:]


class _Generator(nn.Module):
    """Embedding -> LSTM -> features -> (tied) full or adaptive softmax."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        errors = [p.render(str, ": ") for p in options.problems(cfg)]
        errors += [f"{n}: must be set (got 0)" for n in ("vocab_size", "emb_dim") if not getattr(cfg, n)]
        if errors:
            raise ArtifactError(f"the generator's config cannot build a model ({'; '.join(errors)}); retrain it")
        self.cfg = cfg
        v, e, h = cfg.vocab_size, cfg.emb_dim, cfg.hidden
        self.embedding = nn.Embedding(v, e)
        self.lstm = nn.LSTM(e, h, cfg.layers, dropout=cfg.dropout if cfg.layers > 1 else 0.0, batch_first=True)
        self.out_dim = e if cfg.tie_weights else h
        self.out_weight = None if cfg.tie_weights else nn.Parameter(torch.empty(v, self.out_dim).uniform_(-0.1, 0.1))
        self.out_bias = nn.Parameter(torch.zeros(v))
        adaptive = cfg.softmax == "adaptive" and bool(cfg.cutoffs)  # no cutoffs: a plain softmax
        self.adaptive = AdaptiveSoftmax(self.out_dim, v, tuple(cfg.cutoffs)) if adaptive else None
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        # the n-gram mixed into scored distributions (textgen.lm.ngram): counted by training, saved beside
        # the weights, not a module (never moved to the device, trained or broadcast)
        self.ngram: Ngram | None = None

    # -- state ---------------------------------------------------------------------------------
    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """A zero state for ``batch_size`` independent streams."""
        shape = (self.cfg.layers, batch_size, self.cfg.hidden)
        return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    @staticmethod
    def select_state(state: State, index: Tensor) -> State:
        """Keep (or repeat) streams ``index`` of a batched state."""
        return tuple(s.index_select(1 if s.dim() == 3 and k < 2 else 0, index) for k, s in enumerate(state))

    # -- forward -------------------------------------------------------------------------------
    def embed(self, tokens: Tensor) -> Tensor:
        x = self.embedding(tokens)
        p = self.cfg.emb_dropout
        if self.training and p > 0:  # drop whole word vectors
            keep = torch.empty(x.shape[:-1] + (1,), device=x.device, dtype=x.dtype).bernoulli_(1 - p)
            x = x * keep / (1 - p)
        return x

    def _features(self, out: Tensor, state: State) -> tuple[Tensor, State, Tensor | None]:
        raise NotImplementedError

    def run(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State, Tensor | None, Tensor, Tensor]:
        """``(hidden, new state, attention or None, raw LSTM output, dropped LSTM output)``: the forward
        pass with the activations AR/TAR read (:mod:`textgen.lm.regularize`)."""
        if state is None:
            state = self.init_state(tokens.shape[0], tokens.device)
        cfg = self.cfg
        x = self.embed(tokens)
        h0 = (state[0].to(x.dtype), state[1].to(x.dtype))
        with _lstm_kernel(x):
            if regularize.needs_layerwise(self.lstm, cfg.weight_drop, cfg.locked_dropout, self.training):
                out, (h, c) = regularize.lstm_layerwise(self.lstm, x, h0, cfg.weight_drop, cfg.locked_dropout)
            else:
                out, (h, c) = self.lstm(x, h0)
        dropped = regularize.dropout(out, cfg.dropout, cfg.locked_dropout, self.training)
        hidden, extra, attn = self._features(dropped, state)
        return hidden, (h, c, *extra), attn, out, dropped

    def forward(self, tokens: Tensor, state: State | None = None, return_attention: bool = False) -> Any:
        hidden, new_state, attn, _, _ = self.run(tokens, state)
        if return_attention:
            if attn is None:
                raise ArtifactError("return_attention needs the attention architecture (--arch attention)")
            return hidden, new_state, attn
        return hidden, new_state

    # -- output layer --------------------------------------------------------------------------
    @property
    def output_weight(self) -> Tensor:
        """The word rows of the output layer (the embedding matrix when tied)."""
        return self.embedding.weight if self.out_weight is None else self.out_weight

    def log_probs(self, hidden: Tensor) -> Tensor:
        """Full log-softmax over the vocabulary: [B, T, V] (float32)."""
        b, t, d = hidden.shape
        flat = hidden.reshape(b * t, d)
        w, bias = self.output_weight.to(flat.dtype), self.out_bias.to(flat.dtype)
        if self.adaptive is None:
            return full_log_prob(flat, w, bias).view(b, t, -1)
        return self.adaptive.log_prob(flat, w, bias).view(b, t, -1)

    def token_nll(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Per-token NLL (nats, float32), flattened; drop padding first (``hidden[targets >= 0]``)."""
        flat = hidden.reshape(-1, hidden.shape[-1])
        tgt = targets.reshape(-1).long()
        w, bias = self.output_weight.to(flat.dtype), self.out_bias.to(flat.dtype)
        if self.adaptive is None:
            return full_nll(flat, tgt, w, bias)
        return self.adaptive.nll(flat, tgt, w, bias)

    def mix_ngram(self, logp: Tensor, ids: np.ndarray, positions: np.ndarray) -> Tensor:
        """``logp`` (the network's log-probabilities of ``ids[positions]``, each from the ids before it in the
        stream ``ids``) mixed with the n-gram's, when the model has one."""
        if self.ngram is None:
            return logp
        return mix_ngram(logp, self.ngram.log_prob_at(ids, positions), self.cfg.ngram_weight)

    def loss(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Mean NLL in nats per token."""
        return self.token_nll(hidden, targets).mean()


class LSTMGenerator(_Generator):
    """Multi-layer LSTM language model."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.proj = nn.Linear(cfg.hidden, cfg.emb_dim) if cfg.tie_weights and cfg.hidden != cfg.emb_dim else None

    def _features(self, out: Tensor, state: State) -> tuple[Tensor, State, Tensor | None]:
        return (self.proj(out) if self.proj is not None else out), (), None


class AttentionGenerator(_Generator):
    """LSTM whose every output attends causally over its previous W outputs (Luong or Bahdanau)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.attention = WindowAttention(cfg.hidden, cfg.attn_window, cfg.attn_score, self.out_dim)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        h, c = super().init_state(batch_size, device)
        mem = torch.zeros(batch_size, self.cfg.attn_window, self.cfg.hidden, device=device)
        valid = torch.zeros(batch_size, self.cfg.attn_window, dtype=torch.bool, device=device)
        return (h, c, mem, valid)

    def _features(self, out: Tensor, state: State) -> tuple[Tensor, State, Tensor | None]:
        hidden, attn, mem, valid = self.attention(out, state[2], state[3])
        return hidden, (mem, valid), attn


MODELS: dict[str, type[_Generator]] = {"lstm": LSTMGenerator, "attention": AttentionGenerator}


def build_model(cfg: ModelConfig) -> _Generator:
    """Instantiate the architecture named by ``cfg.arch`` (closed registry)."""
    try:
        cls = MODELS[cfg.arch]
    except KeyError:
        raise ArtifactError(f"unknown architecture {cfg.arch!r}; choose one of {', '.join(MODELS)}") from None
    return cls(cfg)
