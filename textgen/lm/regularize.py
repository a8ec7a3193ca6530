"""AWD-LSTM regularisation (Merity et al. 2017) for training only: weight drop, locked dropout, AR/TAR.

* **Weight drop** (DropConnect on the hidden-to-hidden matrices): each training forward drops a
  share of ``W_hh``'s entries, on a copy, and runs the functional LSTM kernel (``torch._VF.lstm``,
  the call ``nn.LSTM.forward`` makes) with those weights, so cuDNN and oneDNN still run the
  recurrence and ``nn.LSTM``'s parameters stay registered as they are (``flatten_parameters``,
  checkpoints and the decode stepper see the usual module).
* **Locked (variational) dropout**: one mask per sequence and feature, shared by every time step,
  on the LSTM outputs and between layers, instead of a fresh mask per position.
* **AR / TAR**: ``ar * mean(dropped output^2)`` and ``tar * mean((h_t - h_{t-1})^2)`` (raw output)
  added to the training loss (:func:`activation_penalty`).

``model.eval()`` turns all of it off: the eval-mode forward is the plain ``nn.LSTM`` on the same
parameters, which is what scoring and decoding compute.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dropout(x: Tensor, p: float, locked: bool, training: bool) -> Tensor:
    """Dropout on ``[B, T, D]``: with ``locked``, one mask per sequence and feature for all T steps."""
    if not training or p <= 0:
        return x
    if not locked:
        return F.dropout(x, p, training=True)
    mask = torch.empty(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype).bernoulli_(1 - p)
    return x * mask.div_(1 - p)


def needs_layerwise(lstm: nn.LSTM, weight_drop: float, locked: bool, training: bool) -> bool:
    """Whether training needs the layer-by-layer path (``nn.LSTM`` cannot drop ``W_hh`` or lock masks)."""
    return training and (weight_drop > 0 or (locked and lstm.num_layers > 1 and lstm.dropout > 0))


def lstm_layerwise(
    lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor], weight_drop: float, locked: bool
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """The stack of ``lstm`` one layer at a time: ``W_hh`` dropped by ``weight_drop``, the module's
    between-layer dropout applied (locked when asked). Same outputs as ``lstm`` when nothing drops."""
    h0, c0 = state
    hs, cs = [], []
    for k in range(lstm.num_layers):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{k}"), getattr(lstm, f"bias_hh_l{k}")
        if weight_drop > 0:
            w_hh = F.dropout(w_hh, weight_drop, training=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cuDNN: "weights are not part of single contiguous chunk" (copied)
            out, h, c = torch._VF.lstm(  # type: ignore[attr-defined]
                x, (h0[k : k + 1], c0[k : k + 1]), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, True, False, True
            )
        hs.append(h)
        cs.append(c)
        x = dropout(out, lstm.dropout, locked, True) if k < lstm.num_layers - 1 else out
    return x, (torch.cat(hs), torch.cat(cs))


def activation_penalty(raw: Tensor, dropped: Tensor, ar: float, tar: float) -> Tensor | None:
    """AR on the dropped LSTM output plus TAR on the raw output's change between steps, or None when both are 0."""
    terms = []
    if ar > 0:
        terms.append(ar * dropped.float().pow(2).mean())
    if tar > 0 and raw.shape[1] > 1:
        terms.append(tar * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean())
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]
