"""The incremental decoding loop: feed the prime once, then one token per step with the state carried.

Work per token is constant: the LSTM state (and, for the attention model, the rolling cache of its
last W outputs) lives in ``state``; nothing re-feeds a window. All streams of ``num_samples`` run
as one batch; a stream that stopped (``<eos>``, or its last turn) is masked with ``<pad>`` while
the others go on, and the loop ends when every stream has stopped or ``max_length`` is reached.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from textgen.decode import heads
from textgen.decode.kernels import Precision
from textgen.decode.sampling import Sampler
from textgen.decode.stepper import LSTMStepper
from textgen.lm.adapt_settings import CacheSettings

STOP_LENGTH, STOP_EOS, STOP_TURNS = "length", "eos", "turns"


@dataclass(frozen=True)
class DecodeOptions:
    """When to stop and what to record besides the tokens."""

    max_length: int
    eos_id: int
    pad_id: int
    turn_id: int | None = None  # the end-of-turn token (``||turn||``); needed for ``max_turns``
    max_turns: int | None = None  # stop once this many turns have ended (the prime's open turn is the first)
    speakers: Tensor | None = None  # [V] bool: speaker tokens (one not right after ``||turn||`` also ends a turn)
    banned: tuple[int, ...] = ()  # left out of the reported alternatives (never sampled)
    precision: Precision = "fp32"  # LSTM steps and output layer (textgen.decode.kernels)
    head: str = "auto"  # output path (textgen.decode.heads): auto, or force cluster, lazy or full
    stats: bool = False  # entropy and top alternatives per token
    top_n: int = 5
    attention: bool = False  # record attention weights (attention model only)
    cache: CacheSettings | None = None  # mix a neural cache into the distribution (heads.MixedHead)
    ngram: bool = False  # mix the model's n-gram into the distribution (heads.MixedHead)


@dataclass
class Decoded:
    """What the loop produced, on the CPU. ``L`` is the longest stream; shorter ones are padded."""

    ids: Tensor  # [B, L] generated ids (stop token included, then <pad>)
    lengths: list[int]
    token_logp: Tensor  # [B, L] the model's log-probability of each chosen token (before sampling tweaks)
    stop_reasons: list[str]
    entropy: Tensor | None = None  # [B, L] nats, of the model's distribution
    top_ids: Tensor | None = None  # [B, L, n]
    top_logp: Tensor | None = None  # [B, L, n]
    attention: Tensor | None = None  # [B, L, W] weights over the W outputs before each step


@contextlib.contextmanager
def single_thread(active: bool) -> Iterator[None]:
    """One intra-op thread while ``active``: one CPU stream's ops are too small to split, and extra
    OpenMP threads spin-wait many-fold longer whenever another process holds a core."""
    threads = torch.get_num_threads()
    if not active or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def fast_steps(device: torch.device) -> Iterator[None]:
    """On CPU, run one-token steps on the native LSTM kernel (oneDNN's per-call setup costs ~3x more)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@dataclass(frozen=True)
class StepView:
    """One decoding step as ``decode(..., on_step=...)`` sees it: views into the loop's buffers, on the
    decode device, valid during the call only (copy what you keep; never modify them)."""

    step: int
    ids: Tensor  # [B] the token chosen at this step (<pad> for streams that had stopped)
    kept: Tensor  # [B] bool: the token belongs to the stream's output (not after its stop, not a dropped speaker)
    token_logp: Tensor  # [B] the model's log-probability of each chosen token
    entropy: Tensor | None = None  # [B] nats (with ``stats``)
    top_ids: Tensor | None = None  # [B, n] (with ``stats``)
    top_logp: Tensor | None = None  # [B, n]
    attention: Tensor | None = None  # [B, W] (with ``attention``)


OnStep = Callable[[StepView], None]


def _forward(model: Any, tokens: Tensor, state: Any, attention: bool) -> tuple[Tensor, Any, Tensor | None]:
    if attention:
        hidden, state, attn = model(tokens, state, return_attention=True)
        return hidden, state, attn
    hidden, state = model(tokens, state)
    return hidden, state, None


def _feed_prime(model: Any, prime: Tensor, batch: int, attention: bool) -> tuple[Tensor, Any, Tensor | None]:
    """Run the prime once and copy its state to every stream (``select_state``) when the model can."""
    device = prime.device
    if hasattr(model, "select_state") and batch > 1:
        hidden, state, attn = _forward(model, prime, model.init_state(1, device), attention)
        rows = torch.zeros(batch, dtype=torch.long, device=device)
        state = model.select_state(state, rows)
        return hidden[:, -1:].expand(batch, -1, -1), state, None if attn is None else attn[:, -1:].expand(batch, -1, -1)
    hidden, state, attn = _forward(model, prime.expand(batch, -1), model.init_state(batch, device), attention)
    return hidden[:, -1:], state, None if attn is None else attn[:, -1:]


def decode(
    model: Any,
    prime_ids: Sequence[int],
    sampler: Sampler,
    num_samples: int,
    opts: DecodeOptions,
    on_step: OnStep | None = None,
) -> Decoded:
    """Generate up to ``opts.max_length`` tokens after ``prime_ids`` for ``num_samples`` streams.

    ``on_step`` sees every step as it is sampled (:class:`StepView`), for streaming; an exception it
    raises stops decoding and propagates. Without it the loop does exactly the same work.
    """
    device = sampler.device
    b, n = num_samples, opts.max_length
    prime = torch.tensor([list(prime_ids)], dtype=torch.long, device=device)
    ids = torch.full((b, n), opts.pad_id, dtype=torch.long, device=device)
    token_logp = torch.zeros(b, n, device=device)
    entropy = torch.zeros(b, n, device=device) if opts.stats else None
    top_ids = torch.zeros(b, n, opts.top_n, dtype=torch.long, device=device) if opts.stats else None
    top_logp = torch.zeros(b, n, opts.top_n, device=device) if opts.stats else None
    attn_rows: list[Tensor] = []
    done = torch.zeros(b, dtype=torch.bool, device=device)
    stop_at = torch.full((b,), n, dtype=torch.long, device=device)  # tokens kept per stream
    eos_hit = torch.zeros(b, dtype=torch.bool, device=device)
    turns = torch.zeros(b, dtype=torch.long, device=device)
    prev = prime[:, -1].expand(b).clone()
    speakers = opts.speakers.to(device) if opts.speakers is not None and opts.max_turns is not None else None
    banned = torch.tensor(opts.banned, dtype=torch.long, device=device)
    check_every = 1 if device.type == "cpu" else 16  # avoid a host sync per step on GPUs
    head = heads.choose(model, sampler, opts.precision, "full" if opts.stats else opts.head, opts.cache, opts.ngram)
    stepper = LSTMStepper.of(model, opts.precision)  # None for the attention model: module steps
    steps = 0
    with torch.inference_mode(), single_thread(device.type == "cpu" and b == 1):
        hidden, state, attn = _feed_prime(model, prime, b, opts.attention)
        if isinstance(head, heads.MixedHead):
            head.start(model, prime, b)
        if stepper is not None:
            stepper.load(state)
        sampler.start(prime.expand(b, -1))
        with contextlib.nullcontext() if stepper is not None else fast_steps(device):
            for step in range(n):
                if attn is not None:
                    attn_rows.append(attn[:, -1].float())
                nxt, token_logp[:, step] = head.step(hidden)
                if opts.stats:
                    logp = head.log_probs
                    assert entropy is not None and top_ids is not None and top_logp is not None and logp is not None
                    entropy[:, step] = torch.special.entr(logp.exp()).sum(dim=-1)
                    shown = logp.index_fill(1, banned, float("-inf")) if banned.numel() else logp
                    tl, ti = shown.topk(min(opts.top_n, logp.shape[-1]), dim=-1)
                    top_logp[:, step, : tl.shape[1]], top_ids[:, step, : ti.shape[1]] = tl, ti
                ids[:, step] = torch.where(done, opts.pad_id, nxt)
                is_eos, stop, keep = _stops(nxt, prev, turns, opts, speakers)
                ended = stop & ~done
                eos_hit |= ended & is_eos
                stop_at = torch.where(ended, step + keep.long(), stop_at)
                done |= ended
                if on_step is not None:
                    on_step(_view(step, ids, stop_at, token_logp, entropy, top_ids, top_logp, attn_rows))
                prev = nxt
                steps = step + 1
                if step + 1 == n or ((step + 1) % check_every == 0 and bool(done.all())):
                    break
                if stepper is not None:
                    hidden = stepper.step(nxt)
                else:
                    hidden, state, attn = _forward(model, nxt.unsqueeze(1), state, opts.attention)
    lengths = [min(int(x), steps) for x in stop_at.tolist()]
    reasons = [
        STOP_LENGTH if length == steps and not d else (STOP_EOS if e else STOP_TURNS)
        for length, d, e in zip(lengths, done.tolist(), eos_hit.tolist(), strict=True)
    ]
    width = max(lengths, default=0)
    ids.masked_fill_(
        torch.arange(n, device=device).unsqueeze(0) >= stop_at.unsqueeze(1), opts.pad_id
    )  # dropped speakers
    return Decoded(
        ids=ids[:, :width].cpu(),
        lengths=lengths,
        token_logp=token_logp[:, :width].cpu(),
        stop_reasons=reasons,
        entropy=None if entropy is None else entropy[:, :width].cpu(),
        top_ids=None if top_ids is None else top_ids[:, :width].cpu(),
        top_logp=None if top_logp is None else top_logp[:, :width].cpu(),
        attention=torch.stack(attn_rows[:width], dim=1).cpu() if attn_rows else None,
    )


def _view(
    step: int,
    ids: Tensor,
    stop_at: Tensor,
    token_logp: Tensor,
    entropy: Tensor | None,
    top_ids: Tensor | None,
    top_logp: Tensor | None,
    attn_rows: list[Tensor],
) -> StepView:
    return StepView(
        step=step,
        ids=ids[:, step],
        kept=stop_at > step,
        token_logp=token_logp[:, step],
        entropy=None if entropy is None else entropy[:, step],
        top_ids=None if top_ids is None else top_ids[:, step],
        top_logp=None if top_logp is None else top_logp[:, step],
        attention=attn_rows[-1] if attn_rows else None,
    )


def _stops(
    nxt: Tensor, prev: Tensor, turns: Tensor, opts: DecodeOptions, speakers: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """(is ``<eos>``, stops here, token kept) for the tokens just chosen; counts ended turns into ``turns``.

    ``||turn||`` ends a turn (and is kept); a speaker token not right after ``||turn||`` starts a new
    turn, so the one before has ended: when that is the last turn allowed, the speaker is dropped.
    """
    is_eos = nxt == opts.eos_id
    keep = torch.ones_like(is_eos)
    if opts.max_turns is None or opts.turn_id is None:
        return is_eos, is_eos, keep
    ends = nxt == opts.turn_id
    if speakers is not None:
        by_speaker = speakers[nxt] & (prev != opts.turn_id)
        ends |= by_speaker
        keep = ~by_speaker
    turns += ends.long()
    return is_eos, is_eos | (turns >= opts.max_turns), keep | is_eos
