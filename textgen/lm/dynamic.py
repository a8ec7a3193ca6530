"""One validation stream through the model, statically or with dynamic evaluation (Krause et al. 2018).

:func:`stream_pass` reads the token ids as a single stream (inputs ``<eos>`` then ``ids[:-1]``,
targets ``ids``), the state carried throughout, and returns every token's log-probability and
the hidden state that predicted it (what the cache of :mod:`textgen.lm.cache` stores).

With dynamic evaluation the stream is cut into segments; each segment is **scored first**, then
the mean NLL of that same segment takes one gradient step on every parameter but the word vectors
(:func:`adapted_parameters`), RMS-normalised as in Krause et al.: ``p -= lr * g / sqrt(MS)``
(optionally pulled back towards the trained weights by ``decay``), so a token's probability depends
only on the tokens before it. ``MS``, the mean of ``g^2`` per weight, is measured as Krause et al.
do, on segments of the **training** text before the pass starts (:func:`training_mean_square`);
without training ids it is a running mean over the validation segments so far. Measured on the
classic Seinfeld split (first 6,000 validation tokens, each rule at its best lr): 3.828 nats/token
static, 3.785 plain SGD, 3.768 RMS-normalised with the running mean; on the first half of that split
(a budget recipe checkpoint, with its n-gram, each at its best lr) 1.3255 val_bpb with the running
mean, 1.3090 with the training one, and with the cache 1.2901 against 1.2862. The trained weights are restored when
the pass ends, whatever happens. The model's n-gram (:mod:`textgen.lm.ngram`) is mixed into every
log-probability returned; the gradient steps train the network on its own NLL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

MS_DECAY = 0.99  # the running mean square of the gradients: about the last 100 segments
# training segments the mean square is measured on (50, 200 and 800 measured the same, 200 a little best)
MS_SEGMENTS = 200


@dataclass(frozen=True)
class DynamicStep:
    """How the weights move after each segment: ``p -= lr * g / sqrt(MS); p += decay * (p_trained - p)``."""

    lr: float
    segment: int = 20
    decay: float = 0.0
    mean_square: tuple[Tensor, ...] | None = None  # per adapted parameter; None: a running mean of the stream's


def training_mean_square(
    model: nn.Module, train_ids: np.ndarray, bos: int, segment: int, device: torch.device, segments: int = MS_SEGMENTS
) -> tuple[Tensor, ...]:
    """The mean of ``g^2`` per adapted parameter over the first ``segments`` segments of the training stream.

    Each segment's gradient is of its mean NLL, read as :func:`stream_pass` reads the validation
    stream (state carried, eval mode), so the steps of dynamic evaluation are scaled by what a
    segment's gradient usually is, from its first segment on. Reads no validation token.
    """
    params = adapted_parameters(model)
    was_training = model.training
    model.eval()
    total = [torch.zeros_like(p) for p in params]
    count = 0
    try:
        with _grad_kernels(device):
            for _a, hidden, y in _segments(model, train_ids[: segments * segment], bos, segment, device):
                grads = torch.autograd.grad(model.token_nll(hidden, y).mean(), params, allow_unused=True)
                for t, g in zip(total, grads, strict=True):
                    if g is not None:
                        t.addcmul_(g, g)
                count += 1
    finally:
        model.train(was_training)
    return tuple(t / max(count, 1) for t in total)


def stream_rows(ids: np.ndarray, bos: int) -> tuple[Tensor, Tensor]:
    """Inputs and targets ``[1, n]`` of one stream: every token predicted once from those before it."""
    y = torch.from_numpy(np.asarray(ids, dtype=np.int64)).unsqueeze(0)
    x = torch.cat([torch.full((1, 1), bos, dtype=torch.long), y[:, :-1]], dim=1)
    return x, y


def _segments(
    model: nn.Module, ids: np.ndarray, bos: int, segment: int, device: torch.device
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """``(start, hidden, targets)`` of each ``segment`` tokens of ``ids`` read as one stream, with gradients.

    The state is carried from segment to segment but detached, so a gradient reaches back one
    segment only (truncated BPTT); whatever the caller does to the weights between segments is
    what the next one is read with."""
    x_all, y_all = stream_rows(ids, bos)
    state = model.init_state(1, device)
    for a in range(0, y_all.shape[1], segment):
        x, y = x_all[:, a : a + segment].to(device), y_all[:, a : a + segment].to(device)
        hidden, state = model(x, tuple(s.detach() for s in state))
        yield a, hidden, y


@contextlib.contextmanager
def restored(params: list[nn.Parameter]) -> Iterator[list[Tensor]]:
    """Yield copies of ``params``; put the values back on exit (the trained weights stay the trained weights)."""
    saved = [p.detach().clone() for p in params]
    try:
        yield saved
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
                p.grad = None


@contextlib.contextmanager
def _grad_kernels(device: torch.device) -> Iterator[None]:
    """cuDNN's LSTM backward runs only in training mode; dynamic evaluation needs eval mode (no dropout)."""
    if device.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=False):
        yield


def stream_pass(
    model: nn.Module,
    ids: np.ndarray,
    bos: int,
    device: torch.device,
    dynamic: DynamicStep | None = None,
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(log p(target) [n] float64, hidden [n, D] float32)`` over ``ids`` as one stream, on ``device``."""
    was_training = model.training
    model.eval()
    n = len(ids)
    logps: list[Tensor] = []
    hiddens: list[Tensor] = []
    step = dynamic.segment if dynamic is not None else chunk
    try:
        if dynamic is None:
            with torch.no_grad():
                for a, hidden, y in _segments(model, ids, bos, step, device):
                    logps.append(_with_ngram(model, -model.token_nll(hidden, y).double(), ids, a))
                    hiddens.append(hidden[0].float())
                    if progress is not None:
                        progress(min(n, a + step), n)
        else:
            params = adapted_parameters(model)
            mean_square: list[Tensor | None] = [None] * len(params)
            if dynamic.mean_square is not None:  # the training text's, copied: the pass fills its zeros
                mean_square = [m.to(device).clone() for m in dynamic.mean_square]
            with restored(params) as trained, _grad_kernels(device):
                for a, hidden, y in _segments(model, ids, bos, step, device):
                    nll = model.token_nll(hidden, y)
                    logps.append(_with_ngram(model, -nll.detach().double(), ids, a))  # scored before the step
                    hiddens.append(hidden[0].detach().float())
                    _update(params, trained, mean_square, nll.mean(), dynamic)
                    if progress is not None:
                        progress(min(n, a + step), n)
    finally:
        model.train(was_training)
    return torch.cat(logps), torch.cat(hiddens)


def _with_ngram(model: nn.Module, logp: Tensor, ids: np.ndarray, start: int) -> Tensor:
    """The network's log-probabilities of ``ids[start : start + len(logp)]`` mixed with the model's n-gram, if any."""
    if getattr(model, "ngram", None) is None:
        return logp
    return model.mix_ngram(logp, ids, np.arange(start, start + logp.shape[0]))


def adapted_parameters(model: nn.Module) -> list[nn.Parameter]:
    """What dynamic evaluation moves: every parameter but the word-vector matrices (the embedding,
    which is also the output layer's rows when tied, and untied output rows). Keeping them fixed
    measured better at its best learning rate and about 3x faster per segment (bench/BENCHMARKS.md)."""
    words = {id(model.embedding.weight), id(getattr(model, "out_weight", None))}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in words]


def _update(
    params: list[nn.Parameter],
    trained: list[Tensor],
    mean_square: list[Tensor | None],
    loss: Tensor,
    dyn: DynamicStep,
) -> None:
    """One RMS-normalised step on ``loss``, then the decay towards ``trained``; ``mean_square`` is updated in place
    unless the step carries the training text's (then it stays as measured but for its zeros)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    with torch.no_grad():
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g is None:
                continue
            ms = mean_square[k]
            if ms is None:
                ms = mean_square[k] = g * g
            elif dyn.mean_square is None:
                ms.mul_(MS_DECAY).addcmul_(g, g, value=1 - MS_DECAY)
            else:  # a weight the training segments never moved takes its first nonzero gradient's square,
                # whichever segment that comes in (else its step would be g / 1e-8); one elementwise pass
                torch.where(ms > 0, ms, g * g, out=ms)
            p.addcdiv_(g, ms.sqrt().add(1e-8), value=-dyn.lr)
        if dyn.decay > 0:
            for p, t in zip(params, trained, strict=True):
                p.lerp_(t, dyn.decay)
