"""An interpolated Kneser-Ney n-gram model of the training ids, mixed into the generator's distribution.

Why: at a CPU budget the LSTM is undertrained, and word n-gram statistics it has not yet absorbed
cost almost nothing to count (0.3 s for the classic Seinfeld split's 0.8M tokens). Interpolating
``p = (1 - w) p_lstm + w p_kn`` is the classic combination (Mikolov et al. 2011); on the classic
split at 300 s of training it took ``val_bpb`` from 1.374 to about 1.349 (bench/BENCHMARKS.md).

The model is interpolated Kneser-Ney (Chen & Goodman 1998) with one discount per order,
``D = n1 / (n1 + 2 n2)`` from that order's count-of-counts: raw counts at the top order,
continuation counts ``N1+(. g)`` below it, a uniform floor under the unigrams, so every word of the
vocabulary has a probability. Contexts before the stream's start are ``<eos>`` (the LSTM's view too).

Storage: an n-gram's id is found from its prefix's id, ``key = id(prefix) * V + last word``;
order n keeps its sorted keys and the counts used at that order (``ngram.keys.N``,
``ngram.counts.N``; ``ngram.counts.1`` is indexed by word). They travel inside
``generator.safetensors``, beside the weights, so the mixture is one artifact. Counting reads at
most :data:`MAX_TOKENS` training tokens, which bounds its memory (and the file's size) on big corpora.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from textgen.errors import ArtifactError

# counting peaks at ~260 bytes per token for random ids (text has fewer distinct n-grams) and keeps ~135: at
# most ~260 MB while counting, whatever the corpus size (the classic Seinfeld split has 0.8M tokens)
MAX_TOKENS = 1_000_000
PREFIX = "ngram."


class Ngram:
    """Kneser-Ney tables of orders ``1..order`` over a vocabulary of ``vocab_size`` words."""

    def __init__(self, vocab_size: int, bos: int, keys: list[np.ndarray], counts: list[np.ndarray]) -> None:
        self.vocab_size, self.bos = vocab_size, bos
        self.order = len(counts)
        self.keys, self.counts = keys, counts  # keys[0] is unused (order 1 is indexed by word)
        self.discounts = [_discount(c) for c in counts]
        c1 = counts[0].astype(np.float64)
        d1 = self.discounts[0]
        total = max(float(c1.sum()), 1.0)
        floor = d1 * float((c1 > 0).sum()) / total / vocab_size if c1.sum() > 0 else 1.0 / vocab_size
        self.unigram = np.maximum(c1 - d1, 0.0) / total + floor  # p_1: sums to 1 over the vocabulary
        # per order n >= 2: the distinct prefixes, where their entries start, how many entries, how many
        # followers with a positive count (the ``N1+(ctx .)`` of the formula) and their count totals
        self.prefixes: list[tuple[np.ndarray, ...]] = [(np.empty(0),) * 5]
        for n in range(1, self.order):
            pre = keys[n] // vocab_size
            uniq, start, entries = np.unique(pre, return_index=True, return_counts=True)
            c = counts[n].astype(np.float64)
            totals = np.add.reduceat(c, start) if len(start) else np.empty(0)
            types = np.add.reduceat((c > 0).astype(np.float64), start) if len(start) else np.empty(0)
            self.prefixes.append((uniq, start, entries, types, totals))

    # -- counting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, ids: np.ndarray, order: int, vocab_size: int, bos: int) -> Ngram:
        """Count the first :data:`MAX_TOKENS` tokens of ``ids`` (a memory map is read, not copied whole)."""
        if order < 1:
            raise ValueError("an n-gram model needs order >= 1")
        tok = np.concatenate([np.full(order - 1, bos, np.int64), np.asarray(ids[:MAX_TOKENS], dtype=np.int64)])
        v = vocab_size
        gid = tok  # ids at order n of the n-gram ending at each position (aligned to the end of tok)
        keys: list[np.ndarray] = [np.empty(0, np.int64)]
        raw: list[np.ndarray] = [np.bincount(tok[order - 1 :], minlength=v)]
        suffix_of: list[np.ndarray] = [np.empty(0, np.int64)]
        for n in range(2, order + 1):
            key = gid[:-1] * v + tok[len(tok) - len(gid) + 1 :]
            uniq, inv = np.unique(key, return_inverse=True)
            suffix = np.empty(len(uniq), np.int64)
            suffix[inv] = gid[1:]  # the (n-1)-gram each n-gram ends with
            keys.append(uniq)
            # events are the n-grams ending at a real token (index >= order - n); those inside the <eos>
            # padding keep an id (contexts at the stream's start need it) and no count
            raw.append(np.bincount(inv[order - n :], minlength=len(uniq)))
            suffix_of.append(suffix)
            gid = inv
        counts = []
        for n in range(order):  # continuation counts below the top order: distinct events one longer
            if n == order - 1:
                counts.append(raw[n])
            else:
                counts.append(np.bincount(suffix_of[n + 1][raw[n + 1] > 0], minlength=len(raw[n])))
        return cls(v, bos, keys, [c.astype(np.int64) for c in counts])

    # -- artifact --------------------------------------------------------------------------------
    def tensors(self) -> dict[str, Tensor]:
        """What ``generator.safetensors`` stores under ``ngram.``."""
        out = {f"{PREFIX}counts.1": torch.from_numpy(self.counts[0].astype(np.int32))}
        for n in range(1, self.order):  # counts fit int32: at most MAX_TOKENS tokens are counted
            out[f"{PREFIX}keys.{n + 1}"] = torch.from_numpy(self.keys[n])
            out[f"{PREFIX}counts.{n + 1}"] = torch.from_numpy(self.counts[n].astype(np.int32))
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], order: int, vocab_size: int, bos: int, where: str) -> Ngram:
        """Read back :meth:`tensors`, checked: a missing, truncated or hand-edited table is an ArtifactError."""
        fix = f"{where} holds no usable n-gram tables ({{}}); retrain with `textgen train-generator`"
        names = [f"{PREFIX}counts.1"]
        names += [f"{PREFIX}{kind}.{n}" for n in range(2, order + 1) for kind in ("keys", "counts")]
        extra = sorted(set(tensors) - set(names))
        if extra:
            raise ArtifactError(fix.format(f"{extra[0]} does not belong to its order-{order} model"))

        def table(name: str) -> np.ndarray:
            t = tensors.get(name)
            if t is None:
                raise ArtifactError(fix.format(f"no {name}"))
            if t.ndim != 1 or t.dtype not in (torch.int32, torch.int64):
                raise ArtifactError(fix.format(f"{name} is not a list of integers"))
            return t.numpy().astype(np.int64)

        counts = [table(f"{PREFIX}counts.1")]
        keys = [np.empty(0, np.int64)]
        for n in range(2, order + 1):
            keys.append(table(f"{PREFIX}keys.{n}"))
            counts.append(table(f"{PREFIX}counts.{n}"))
        if len(counts[0]) != vocab_size:
            raise ArtifactError(fix.format(f"{len(counts[0])} unigram counts for {vocab_size} words"))
        for n in range(1, order):
            k, size_below = keys[n], len(counts[n - 1]) if n > 1 else vocab_size
            bad = len(k) != len(counts[n]) or (len(k) > 1 and bool(np.any(np.diff(k) <= 0)))
            bad = bad or (len(k) > 0 and (int(k[0]) < 0 or int(k[-1]) // vocab_size >= size_below))
            if bad:
                what = f"order {n + 1} keys are not sorted ids of the order below, one per count"
                raise ArtifactError(fix.format(what))
        if any(bool(np.any(c < 0)) for c in counts):
            raise ArtifactError(fix.format("negative counts"))
        return cls(vocab_size, bos, keys, counts)

    # -- scoring ---------------------------------------------------------------------------------
    def _lookup(self, n: int, key: np.ndarray) -> np.ndarray:
        """Index of each key in order ``n+1``'s table, -1 where absent."""
        table = self.keys[n]
        if len(table) == 0:
            return np.full(key.shape, -1, np.int64)
        i = np.minimum(np.searchsorted(table, key), len(table) - 1)
        return np.where(table[i] == key, i, -1)

    def _context_ids(self, ctx: np.ndarray) -> list[np.ndarray]:
        """``out[m]``: the order-m id of each row's last m context tokens (-1 if never seen), m = 1..order-1."""
        out: list[np.ndarray] = [np.empty(0)]
        k = ctx.shape[1]
        for m in range(1, self.order):
            cid = ctx[:, k - m].astype(np.int64)
            for j in range(1, m):
                cid = np.where(cid >= 0, self._lookup(j, np.maximum(cid, 0) * self.vocab_size + ctx[:, k - m + j]), -1)
            out.append(cid)
        return out

    def _prefix_stats(self, n: int, cid: np.ndarray) -> tuple[np.ndarray, ...]:
        """(seen, first entry, entries, followers, total count) of each context at order ``n+1``."""
        uniq, start, entries, types, totals = self.prefixes[n]
        i = np.minimum(np.searchsorted(uniq, cid), len(uniq) - 1)
        seen = (cid >= 0) & (uniq[i] == cid) & (totals[i] > 0)
        return seen, start[i], entries[i], types[i], totals[i]

    def log_prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``log p(target | context)`` [N] (float64); ``contexts [N, order-1]`` hold the preceding ids, oldest first."""
        targets = np.asarray(targets, np.int64)
        p = self.unigram[targets]
        cids = self._context_ids(np.asarray(contexts, np.int64))
        for n in range(1, self.order):
            if len(self.keys[n]) == 0:
                continue
            seen, _, _, types, totals = self._prefix_stats(n, cids[n])
            at = self._lookup(n, np.maximum(cids[n], 0) * self.vocab_size + targets)
            count = np.where((at >= 0) & seen, self.counts[n][np.maximum(at, 0)], 0)
            d = self.discounts[n]
            safe = np.where(seen, totals, 1.0)
            p = np.where(seen, (np.maximum(count - d, 0.0) + d * types * p) / safe, p)
        return np.log(p)

    def log_prob_at(self, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``log p(ids[t] | the ids before t)`` [N] for each position ``t`` of the stream ``ids``."""
        pos = np.asarray(positions, np.int64)
        return self.log_prob(contexts_before(ids, pos, self.order - 1, self.bos), np.asarray(ids[pos], np.int64))

    def next_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """``[B, V]`` log-probabilities of the next word after each row of ``contexts [B, order-1]``."""
        contexts = np.asarray(contexts, np.int64)
        b = contexts.shape[0]
        p = np.tile(self.unigram, (b, 1))
        cids = self._context_ids(contexts)
        v = self.vocab_size
        for n in range(1, self.order):
            if len(self.keys[n]) == 0:
                continue
            seen, start, entries, types, totals = self._prefix_stats(n, cids[n])
            d = self.discounts[n]
            for r in np.flatnonzero(seen):
                lo = int(start[r])
                hi = lo + int(entries[r])
                words = self.keys[n][lo:hi] % v
                row = p[r] * (d * types[r] / totals[r])
                row[words] += np.maximum(self.counts[n][lo:hi] - d, 0.0) / totals[r]
                p[r] = row
        return np.log(p)


def _discount(counts: np.ndarray) -> float:
    """Kneser-Ney's estimate ``n1 / (n1 + 2 n2)``, kept inside (0.05, 0.95); 0.75 without data."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    if n1 + 2 * n2 == 0:
        return 0.75
    return min(0.95, max(0.05, n1 / (n1 + 2 * n2)))


def contexts_before(ids: np.ndarray, positions: np.ndarray, width: int, bos: int) -> np.ndarray:
    """``[N, width]``: the ``width`` ids before each position of the stream ``ids`` (``<eos>`` before its start)."""
    pos = np.asarray(positions, np.int64)[:, None] - np.arange(width, 0, -1, dtype=np.int64)[None, :]
    n = len(ids)
    if n == 0:
        return np.full(pos.shape, bos, np.int64)
    before = np.asarray(ids[np.clip(pos, 0, n - 1)], np.int64)
    return np.where(pos >= 0, before, bos)


def mix(model_logp: Tensor, ngram_logp: np.ndarray, weight: float) -> Tensor:
    """``log((1 - w) p_model + w p_ngram)`` elementwise, in ``model_logp``'s dtype and device."""
    ng = torch.as_tensor(ngram_logp, device=model_logp.device, dtype=torch.float64)
    out = torch.logaddexp(model_logp.double() + math.log1p(-weight), ng + math.log(weight))
    return out.to(model_logp.dtype)
