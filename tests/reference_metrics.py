"""Plain numpy float64 references of the metric semantics scikit-learn does not share.

Written from the formulas in Keras's documentation (in_top_k ties, top_k
filtering of Precision/Recall, label smoothing of the cross-entropies), not
from fastnn's code.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-7


def weighted_mean(values, w):
    values = np.asarray(values, np.float64)
    w = np.ones(len(values)) if w is None else np.asarray(w, np.float64)
    return float(values @ w / w.sum()) if w.sum() > 0 else 0.0


def top_k_hits_keras(labels, p, k):
    """in_top_k: the label's score is >= the k-th largest score of its row (ties all count)."""
    p = np.asarray(p, np.float64)
    kth = np.sort(p, axis=1)[:, ::-1][:, min(k, p.shape[1]) - 1]
    return p[np.arange(len(p)), labels] >= kth


def top_k_mask(p, k):
    """True for the k highest scores of each row, ties broken by the lower column index."""
    order = np.argsort(-np.asarray(p, np.float64), axis=1, kind="stable")  # stable: lower index first
    mask = np.zeros(p.shape, bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return mask


def confusion(pos_true, pos_pred, w):
    """Weighted (tp, fp, fn) over all elements of two boolean arrays; w per row."""
    w = np.ones(pos_true.shape[0]) if w is None else np.asarray(w, np.float64)
    ww = np.broadcast_to(w[:, None], pos_true.shape)
    return (float(ww[pos_true & pos_pred].sum()), float(ww[~pos_true & pos_pred].sum()),
            float(ww[pos_true & ~pos_pred].sum()))


def bce(t, p, w=None, label_smoothing=0.0):
    """Keras binary cross-entropy on probabilities: clipped, mean over columns, weighted mean over rows."""
    t = np.asarray(t, np.float64) * (1 - label_smoothing) + 0.5 * label_smoothing
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    per = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)
    return weighted_mean(per, w)


def bce_logits(t, z, w=None):
    t = np.asarray(t, np.float64)
    z = np.asarray(z, np.float64)
    per = (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
    return weighted_mean(per, w)


def cce(t_rows, p, w=None, label_smoothing=0.0):
    """Keras categorical cross-entropy on probabilities: normalized, clipped, smoothed targets."""
    t = np.asarray(t_rows, np.float64)
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[1]
    q = np.asarray(p, np.float64)
    q = np.clip(q / q.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    return weighted_mean(-(t * np.log(q)).sum(axis=1), w)


def cce_logits(t_rows, z, w=None):
    z = np.asarray(z, np.float64)
    lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    t = np.asarray(t_rows, np.float64)
    return weighted_mean((t * (lse[:, None] - z)).sum(axis=1), w)
