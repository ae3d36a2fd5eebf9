"""Plain-numpy float64 reference of every loss, written from the formulas.

Independent of fastnn: every function converts its inputs to fresh float64
arrays and returns (per-sample losses l of shape (n,), their gradient
dl_i/dpred_ij of shape (n, k)). Formulas are those of Keras 3
(keras/src/losses/losses.py and the backends' crossentropy ops), with its
epsilon 1e-7; fastnn's AsymmetricLoss / Pinball are the piecewise-linear cost.

Where Keras clips (MSLE, BCE and CCE on probabilities, KL), the gradient is the
derivative of the clipped expression: the clip's derivative is 1 inside the
closed interval and 0 outside (torch.clamp's convention).

`value_and_grad(name, pred, true, w, reduction, **params)` applies a
reduction ("mean": sum_i w_i l_i / n, "sum": sum_i w_i l_i,
"mean_with_sample_weight": / sum_i w_i) and returns the gradient of that value.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-7


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)


def _2d(pred, true):
    p = _f64(pred)
    t = _f64(true)
    if p.ndim == 1:
        p = p[:, None]
    if t.ndim == 1 and p.shape[1] == 1:
        t = t[:, None]
    return p, t


def _mean_rows(e, de):
    """Per-sample = mean over the k outputs; its gradient is de / k."""
    k = e.shape[1]
    return e.mean(axis=1), de / k


def mse(pred, true):
    p, t = _2d(pred, true)
    d = p - t
    return _mean_rows(d ** 2, 2 * d)


def mae(pred, true):
    p, t = _2d(pred, true)
    d = p - t
    return _mean_rows(np.abs(d), np.sign(d))


def huber(pred, true, delta=1.0):
    p, t = _2d(pred, true)
    d = p - t
    quad = np.abs(d) <= delta
    e = np.where(quad, 0.5 * d ** 2, delta * np.abs(d) - 0.5 * delta ** 2)
    de = np.where(quad, d, delta * np.sign(d))
    return _mean_rows(e, de)


def log_cosh(pred, true):
    # log(cosh(x)) = logaddexp(x, -x) - log 2: exact and overflow-free in float64.
    p, t = _2d(pred, true)
    d = p - t
    return _mean_rows(np.logaddexp(d, -d) - np.log(2.0), np.tanh(d))


def msle(pred, true):
    p, t = _2d(pred, true)
    pc = np.maximum(p, EPS)
    a = np.log(pc + 1.0) - np.log(np.maximum(t, EPS) + 1.0)
    return _mean_rows(a ** 2, np.where(p >= EPS, 2 * a / (pc + 1.0), 0.0))


def poisson(pred, true):
    p, t = _2d(pred, true)
    return _mean_rows(p - t * np.log(p + EPS), 1.0 - t / (p + EPS))


def asymmetric(pred, true, over_cost=1.0, under_cost=1.0):
    p, t = _2d(pred, true)
    d = p - t
    e = over_cost * np.maximum(d, 0) + under_cost * np.maximum(-d, 0)
    de = np.where(d > 0, over_cost, np.where(d < 0, -under_cost, 0.0))
    return _mean_rows(e, de)


def pinball(pred, true, quantile=0.5):
    return asymmetric(pred, true, 1.0 - quantile, quantile)


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def bce_logits(pred, true, label_smoothing=0.0):
    z, t = _2d(pred, true)
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    # -t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)), with log sigmoid(z) = -logaddexp(0, -z).
    e = t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
    return _mean_rows(e, _sigmoid(z) - t)


def bce_probs(pred, true, label_smoothing=0.0, hi=1 - EPS):
    """hi: the upper clip bound (1 - 1e-7 rounds to 1 - 2**-23 in float32, as in Keras's float32)."""
    p, t = _2d(pred, true)
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    pc = np.clip(p, EPS, hi)
    e = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    inside = (p >= EPS) & (p <= hi)
    return _mean_rows(e, np.where(inside, -t / pc + (1 - t) / (1 - pc), 0.0))


def kl_divergence(pred, true):
    p, t = _2d(pred, true)
    tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    inside = (p >= EPS) & (p <= 1)
    return (tc * np.log(tc / pc)).sum(axis=1), np.where(inside, -tc / pc, 0.0)


def hinge_labels(true):
    """Keras: labels all in {0, 1} become 2 t - 1; anything else is kept."""
    t = _f64(true)
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def hinge(pred, true):
    p, t = _2d(pred, true)
    t = hinge_labels(t)
    m = 1 - t * p
    return _mean_rows(np.maximum(m, 0), np.where(m > 0, -t, 0.0))


def squared_hinge(pred, true):
    p, t = _2d(pred, true)
    t = hinge_labels(t)
    m = np.maximum(1 - t * p, 0)
    return _mean_rows(m ** 2, -2 * t * m)


def _one_hot(labels, k):
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    return np.eye(k)[labels]


def _smooth(t, k, label_smoothing):
    return t * (1 - label_smoothing) + label_smoothing / k


def softmax_xent(pred, true, label_smoothing=0.0):
    """From logits; `true` is integer labels (n,) or target rows (n, k)."""
    z = _f64(pred)
    k = z.shape[1]
    t = np.asarray(true)
    t = _one_hot(t, k) if t.ndim == 1 else _f64(t)
    t = _smooth(t, k, label_smoothing)
    m = z.max(axis=1, keepdims=True)
    log_softmax = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    l = -(t * log_softmax).sum(axis=1)
    grad = np.exp(log_softmax) * t.sum(axis=1, keepdims=True) - t
    return l, grad


def probs_xent(pred, true, label_smoothing=0.0, hi=1 - EPS):
    """From probabilities (Keras): q = clip(p / sum p, EPS, hi), l = -sum t log q; exact gradient."""
    p = _f64(pred)
    n, k = p.shape
    t = np.asarray(true)
    t = _one_hot(t, k) if t.ndim == 1 else _smooth(_f64(t), k, label_smoothing)
    s = p.sum(axis=1, keepdims=True)
    q = p / s
    qc = np.clip(q, EPS, hi)
    l = -(t * np.log(qc)).sum(axis=1)
    dl_dq = np.where((q >= EPS) & (q <= hi), -t / qc, 0.0)
    # Jacobian of the row normalization: dq_j/dp_m = (delta_jm - q_j) / s.
    jac = (np.eye(k)[None, :, :] - q[:, :, None]) / s[:, :, None]  # [i, j, m]
    return l, np.einsum("ij,ijm->im", dl_dq, jac)


LOSSES = {
    "mse": mse, "mae": mae, "huber": huber, "log_cosh": log_cosh, "msle": msle,
    "poisson": poisson, "asymmetric": asymmetric, "pinball": pinball,
    "bce_logits": bce_logits, "bce_probs": bce_probs, "kl_divergence": kl_divergence,
    "hinge": hinge, "squared_hinge": squared_hinge, "softmax_xent": softmax_xent,
    "probs_xent": probs_xent,
}


def per_sample(name, pred, true, **params):
    return LOSSES[name](pred, true, **params)[0]


def reduce(l, w, reduction):
    """Reduced value of per-sample losses l with weights w (None = 1)."""
    n = len(l)
    wl = l if w is None else _f64(w) * l
    if reduction == "sum":
        return wl.sum()
    if reduction == "mean_with_sample_weight" and w is not None:
        return wl.sum() / _f64(w).sum()
    return wl.sum() / n


def value_and_grad(name, pred, true, w=None, reduction="mean", **params):
    """(reduced value, its gradient w.r.t. pred (n, k))."""
    l, dl = LOSSES[name](pred, true, **params)
    n = len(l)
    value = reduce(l, w, reduction)
    ww = np.ones(n) if w is None else _f64(w)
    if reduction == "sum":
        scale = 1.0
    elif reduction == "mean_with_sample_weight" and w is not None:
        scale = 1.0 / ww.sum()
    else:
        scale = 1.0 / n
    return value, scale * ww[:, None] * dl


def binary_accuracy(pred, true, threshold):
    """Mean over samples of the fraction of elements with (pred > thr) == (true > 0.5), times n."""
    p, t = _2d(pred, true)
    return float(((p > threshold) == (t > 0.5)).mean(axis=1).sum())


def argmax_correct(pred, true):
    p = _f64(pred)
    t = np.asarray(true)
    labels = t.reshape(-1) if t.ndim == 1 else np.argmax(t, axis=1)
    return int((np.argmax(p, axis=1) == labels).sum())


def numerical_grad(f, x, h=1e-6):
    """Central finite differences of the scalar f at x (float64), step h * max(1, |x|)."""
    x = _f64(x)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[idx]))
        xp, xm = x.copy(), x.copy()
        xp[idx] += step
        xm[idx] -= step
        g[idx] = (f(xp) - f(xm)) / (2 * step)
    return g
