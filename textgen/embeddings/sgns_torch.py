"""Skip-gram with negative sampling in PyTorch: batched pairs, manual sparse updates, CPU or CUDA.

One step takes ``batch_size`` consecutive centre words of the subsampled stream::

    stream  . . . [ W ctx rows | N centre rows | W ctx rows ] . . .
    centre i pairs with stream[i + o] for 0 < |o| <= R_i   (R_i drawn in 1..window)

Positive scores are one batched product of each centre row with its (2*window + 1)-row slice
of the gathered context block (a strided view, no per-pair gather). Negatives are drawn per group
of ``neg_group`` centres (``neg_pool`` words from unigram**ns_exponent), scored with one batched matmul and
weighted ``negatives / neg_pool`` per context pair, so the expected gradient equals word2vec's
(``negatives`` fresh negatives per pair). Updates touch only the rows a step used
(``index_add_``), with word2vec's linearly decaying learning rate, or SparseAdam.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from textgen.embeddings.base import (
    EpochStats,
    NeighboursFn,
    Progress,
    ProgressFn,
    TrainOutput,
    diverged,
    keep_probabilities,
    noise_distribution,
)
from textgen.embeddings.config import EmbeddingConfig

MIN_LR_FRACTION = 1e-4  # word2vec's floor: lr never drops below lr0 * 1e-4
REPORT_EVERY_S = 0.5


class _Tables:
    """Input/output tables and the optimizer that updates rows of them."""

    def __init__(self, vocab_size: int, config: EmbeddingConfig, device: str, gen: torch.Generator) -> None:
        dim = config.dim
        # gensim's init: inputs uniform in +-1/dim (word2vec.c's +-0.5/dim cost ~10% wiki analogy
        # accuracy here, bench/BENCHMARKS.md), outputs zero
        self.w_in = (torch.rand(vocab_size, dim, generator=gen, device=device) * 2 - 1) / dim
        self.w_out = torch.zeros(vocab_size, dim, device=device)
        self.adam: torch.optim.SparseAdam | None = None
        if config.optimizer == "sparse_adam":
            self.w_in.requires_grad_(True)
            self.w_out.requires_grad_(True)
            self.adam = torch.optim.SparseAdam([self.w_in, self.w_out], lr=config.learning_rate)

    def update(self, rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], lr: float) -> None:
        """Apply ascent directions ``(table, row ids, grads)``: SGD scaled by ``lr``, or SparseAdam."""
        if self.adam is None:
            for table, idx, grad in rows:
                table.index_add_(0, idx, grad, alpha=lr)
            return
        by_table: dict[int, tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]] = {}
        for table, idx, grad in rows:
            entry = by_table.setdefault(id(table), (table, [], []))
            entry[1].append(idx)
            entry[2].append(grad)
        for table, idxs, grads in by_table.values():
            index = torch.cat(idxs).unsqueeze(0)
            grad = torch.sparse_coo_tensor(index, -torch.cat(grads), table.shape, check_invariants=False)
            table.grad = grad.coalesce()
        self.adam.step()
        self.adam.zero_grad(set_to_none=True)


def _sample(cdf: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    u = torch.rand(n, generator=gen, device=cdf.device, dtype=cdf.dtype) * cdf[-1]
    return torch.searchsorted(cdf, u).clamp_(max=cdf.numel() - 1)


def _row_scale(
    lr: float, cap: float, vocab_size: int, *groups: list[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """Per-row factor ``min(1, cap / (lr * h))``; ``groups`` hold ``(row ids, pull per id)`` of one table.

    ``h`` sums ``|g_t| * |u_t|**2`` over every term t the row appears in this step (g: the term's
    gradient coefficient, u: the vector on the other side). ``lr * h`` bounds how far the summed step
    can move the row's scores. word2vec's Hogwild applies those terms one at a time, each seeing the
    previous moves, so the sigmoid saturates and a frequent row never jumps far; a batched sum of
    stale terms has no such brake and, for rows used hundreds of times per step (wide windows, large
    batches, frequent negatives), overshoots and diverges. The cap is that brake.
    """
    h = torch.zeros(vocab_size, dtype=torch.float32, device=groups[0][0][0].device)
    for group in groups:
        for idx, pull in group:
            h.index_add_(0, idx, pull)
    return (cap / (lr * h).clamp_(min=1e-30)).clamp_(max=1.0)


def _step(
    tables: _Tables,
    padded: torch.Tensor,
    start: int,
    n: int,
    length: int,
    config: EmbeddingConfig,
    cdf: torch.Tensor,
    gen: torch.Generator,
    lr: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update on centres ``start .. start+n`` of the (``window``-padded) stream; (loss sum, pairs)."""
    w, dim, dev = config.window, config.dim, padded.device
    centres = padded[w + start : w + start + n]
    ctx_ids = padded[start : start + n + 2 * w]
    c = tables.w_in.detach().index_select(0, centres)
    o = tables.w_out.detach().index_select(0, ctx_ids)

    # dynamic window and stream edges -> which of the 2w+1 offsets are real pairs (offset 0 never is)
    reach = torch.randint(1, w + 1, (n, 1), generator=gen, device=dev)
    offsets = torch.arange(-w, w + 1, device=dev)
    pos = torch.arange(start, start + n, device=dev).unsqueeze(1) + offsets
    mask = (offsets.abs() <= reach) & (offsets != 0) & (pos >= 0) & (pos < length)
    maskf = mask.to(c.dtype)
    win = o.unfold(0, 2 * w + 1, 1)  # [n, dim, 2w+1]: centre i's context rows o[i .. i+2w]
    scores = torch.bmm(c.unsqueeze(1), win).squeeze(1)  # [n, 2w+1]
    g_pos = torch.sigmoid(-scores).mul_(maskf)  # d log sigmoid(s) / ds, masked
    pairs = maskf.sum(1)

    # negatives shared within groups of neg_group centres, weighted to negatives per pair
    group, pool = config.neg_group, config.neg_pool
    groups = -(-n // group)
    c_grouped = F.pad(c, (0, 0, 0, groups * group - n)).view(groups, group, dim)
    neg_ids = _sample(cdf, groups * pool, gen)
    neg = tables.w_out.detach().index_select(0, neg_ids).view(groups, pool, dim)
    neg_scores = torch.bmm(c_grouped, neg.transpose(1, 2))  # [groups, group, pool]
    weight = F.pad(pairs * (config.negatives / pool), (0, groups * group - n)).view(groups, group, 1)
    sig_neg = torch.sigmoid(neg_scores)
    g_neg = (sig_neg * weight).neg_()  # d log sigmoid(-s) / ds, weighted

    loss = (F.softplus(-scores) * maskf).sum() + (F.softplus(neg_scores) * weight).sum()

    # block row of each (centre, offset) term: centre i, offset column j -> context block row i + j
    block = (torch.arange(n, device=dev).unsqueeze(1) + torch.arange(2 * w + 1, device=dev)).view(-1)
    grad_c = torch.bmm(g_neg, neg).view(-1, dim)[:n]
    grad_c.add_(torch.bmm(g_pos.unsqueeze(1), win.transpose(1, 2)).squeeze(1))
    grad_o = torch.zeros_like(o).index_add_(0, block, (g_pos.unsqueeze(2) * c.unsqueeze(1)).view(-1, dim))
    grad_neg = torch.bmm(g_neg.transpose(1, 2), c_grouped).view(-1, dim)
    if config.step_cap > 0 and tables.adam is None:
        # a term's pull on a row's scores: |g| |u|**2 (g: the term's gradient coefficient)
        pull_neg = -g_neg  # [groups, group, pool]
        sq_o = o.square().sum(1)  # [n + 2w]
        sq_c = c.square().sum(1)  # [n]
        sq_neg = neg.square().sum(2)  # [groups, pool]
        h_c = torch.bmm(pull_neg, sq_neg.unsqueeze(2)).view(-1)[:n]
        h_c.add_((g_pos * sq_o.unfold(0, 2 * w + 1, 1)).sum(1))
        h_o = torch.zeros_like(sq_o).index_add_(0, block, (g_pos * sq_c.unsqueeze(1)).view(-1))
        sq_cg = F.pad(sq_c, (0, groups * group - n)).view(groups, group, 1)
        h_neg = (pull_neg * sq_cg).sum(1).view(-1)
        vocab_size = tables.w_in.shape[0]
        scale_in = _row_scale(lr, config.step_cap, vocab_size, [(centres, h_c)])
        scale_out = _row_scale(lr, config.step_cap, vocab_size, [(ctx_ids, h_o), (neg_ids, h_neg)])
        grad_c.mul_(scale_in[centres].unsqueeze(1))
        grad_o.mul_(scale_out[ctx_ids].unsqueeze(1))
        grad_neg.mul_(scale_out[neg_ids].unsqueeze(1))
    tables.update(
        [(tables.w_in, centres, grad_c), (tables.w_out, ctx_ids, grad_o), (tables.w_out, neg_ids, grad_neg)], lr
    )
    return loss, pairs.sum()


def train_torch(
    ids: np.ndarray,
    counts: np.ndarray,
    trained: np.ndarray,
    config: EmbeddingConfig,
    device: str,
    progress: ProgressFn | None = None,
    neighbours: NeighboursFn | None = None,
) -> TrainOutput:
    """Train on the id stream ``ids``; rows of ``trained`` get vectors, all other ids are skipped."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(config.torch_threads)
        torch.set_flush_denormal(True)  # tiny gradients late in training otherwise slow every op down
    try:
        return _train(ids, counts, trained, config, device, progress, neighbours)
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def _train(
    ids: np.ndarray,
    counts: np.ndarray,
    trained: np.ndarray,
    config: EmbeddingConfig,
    device: str,
    progress: ProgressFn | None,
    neighbours: NeighboursFn | None,
) -> TrainOutput:
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    vocab_size = len(counts)
    tables = _Tables(vocab_size, config, device, gen)
    keep = torch.as_tensor(keep_probabilities(counts, trained, config.sample), dtype=torch.float32, device=device)
    cdf = torch.as_tensor(np.cumsum(noise_distribution(counts, trained, config.ns_exponent)), device=device)
    stream = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)
    raw = int(stream.numel())
    w, lr0 = config.window, config.learning_rate
    total_raw = raw * config.epochs
    stats: list[EpochStats] = []
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        last_report = t0
        kept = stream[torch.rand(raw, generator=gen, device=device) < keep[stream]]
        length = int(kept.numel())
        pad = torch.zeros(w, dtype=kept.dtype, device=device)
        padded = torch.cat([pad, kept, pad])
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        pair_sum = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, length, config.batch_size):
            n = min(config.batch_size, length - start)
            done = (epoch - 1) * raw + raw * start / max(length, 1)
            lr = lr0 * max(MIN_LR_FRACTION, 1.0 - done / total_raw) if tables.adam is None else lr0
            loss, pairs = _step(tables, padded, start, n, length, config, cdf, gen, lr)
            loss_sum += loss
            pair_sum += pairs
            now = time.perf_counter()
            if now - last_report >= REPORT_EVERY_S:
                last_report = now
                if not torch.isfinite(loss_sum):  # stop early: a NaN never recovers
                    raise diverged(epoch, float(loss_sum), lr0, config.batch_size)
            if progress is not None and last_report == now:
                words = int(raw * (start + n) / length)
                elapsed = now - t0
                progress(Progress("batch", epoch, config.epochs, words, raw, words / elapsed, (start + n) / elapsed))
        if device != "cpu":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        pairs_total = int(pair_sum.item())
        epoch_stats = EpochStats(epoch, seconds, raw, length, pairs_total, float(loss_sum.item()) / max(pairs_total, 1))
        if not math.isfinite(epoch_stats.loss_per_pair):
            raise diverged(epoch, epoch_stats.loss_per_pair, lr0, config.batch_size)
        if neighbours is not None:
            epoch_stats.neighbours = neighbours(tables.w_in.detach().cpu().numpy())
        stats.append(epoch_stats)
        if progress is not None:
            progress(
                Progress(
                    "epoch",
                    epoch,
                    config.epochs,
                    raw,
                    raw,
                    raw / seconds,
                    length / seconds,
                    epoch_stats.loss_per_pair,
                    epoch_stats.neighbours,
                )
            )
    vectors = tables.w_in.detach().cpu().numpy().astype(np.float32, copy=True)
    vectors[~trained] = 0.0
    return TrainOutput(vectors, trained.copy(), stats)
