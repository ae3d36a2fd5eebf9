"""Plain-numpy float64 reference implementations of fastnn's kernels.

Written from the math, independently of fastnn's code: every function converts
its inputs to float64, allocates its own outputs and never touches fastnn. The
kernel tests (tests/test_kernels.py) compare fastnn.ops with these functions,
and the gradient checks (tests/test_gradcheck.py) use the network forward and
losses below as an independent loss.

Conventions (those of fastnn): a dense layer keeps its kernel W as (inputs,
units), so a batch x of shape (n, inputs) maps to act(x @ W + b) of shape
(n, units); losses return the *sum* over samples of the per-sample loss and a
gradient multiplied by `scale` (1/n for a batch mean).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)  # always a fresh float64 copy


# -- activations ----------------------------------------------------------------------------

def sigmoid(z) -> np.ndarray:
    """1 / (1 + exp(-z)), evaluated as exp(-|z|) so that exp never overflows."""
    z = _f64(z)
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logsumexp_rows(z) -> np.ndarray:
    """log(sum_j exp(z_ij)) per row, with the row maximum factored out: (n,)."""
    z = _f64(z)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def softmax(z) -> np.ndarray:
    """Row-wise softmax: exp(z_ij - max_i) / sum_j exp(z_ij - max_i)."""
    z = _f64(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activate(z, act: str) -> np.ndarray:
    """act(z) for one of ACTIVATIONS."""
    z = _f64(z)
    if act == "linear":
        return z
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "sigmoid":
        return sigmoid(z)
    if act == "tanh":
        return np.tanh(z)
    if act == "softmax":
        return softmax(z)
    raise ValueError(f"unknown activation {act!r}")


def activation_backward(dy, y, act: str) -> np.ndarray:
    """Gradient w.r.t. the pre-activation z, given dL/dy and the output y = act(z).

    linear: dy; relu: dy * [y > 0]; sigmoid: dy * y (1 - y); tanh: dy * (1 - y^2);
    softmax (row-wise Jacobian dy_j/dz_k = y_j (delta_jk - y_k)), so the
    Jacobian-vector product is dz_k = y_k (dy_k - sum_j dy_j y_j).
    """
    dy, y = _f64(dy), _f64(y)
    if act == "linear":
        return dy
    if act == "relu":
        return np.where(y > 0, dy, 0.0)
    if act == "sigmoid":
        return dy * y * (1.0 - y)
    if act == "tanh":
        return dy * (1.0 - y * y)
    if act == "softmax":
        return y * (dy - (dy * y).sum(axis=1, keepdims=True))
    raise ValueError(f"unknown activation {act!r}")


# -- dense layer ----------------------------------------------------------------------------

def dense_preactivation(x, w, b=None) -> np.ndarray:
    """z = x @ W + b, (n, units)."""
    z = _f64(x) @ _f64(w)
    if b is not None:
        z = z + _f64(b)
    return z


def dense_forward(x, w, b, act: str) -> np.ndarray:
    """y = act(x @ W + b); b may be None."""
    return activate(dense_preactivation(x, w, b), act)


def dense_backward(x, w, y, dy, act: str):
    """Backward pass of dense_forward from dL/dy and the forward output y.

    Returns (dz, dW, db, dx): dz = dy * act'(.) (the softmax JVP for softmax),
    dW = x^T dz, db = column sums of dz, dx = dz W^T.
    """
    dz = activation_backward(dy, y, act)
    x, w = _f64(x), _f64(w)
    return dz, x.T @ dz, dz.sum(axis=0), dz @ w.T


# -- losses ---------------------------------------------------------------------------------

def softmax_xent_sparse(logits, labels, scale: float = 1.0):
    """Softmax cross-entropy with integer labels.

    loss_i = logsumexp(z_i) - z_i[y_i]; grad = scale * (softmax(z) - onehot(y)).
    Returns (sum_i loss_i, grad, number of rows whose argmax equals the label).
    """
    z = _f64(logits)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(z)
    rows = np.arange(n)
    loss = logsumexp_rows(z) - z[rows, labels]
    grad = softmax(z)
    grad[rows, labels] -= 1.0
    correct = int((z.argmax(axis=1) == labels).sum())
    return float(loss.sum()), scale * grad, correct


def softmax_xent_dense(logits, targets, scale: float = 1.0):
    """Softmax cross-entropy with target rows t (one-hot or soft, not necessarily normalised).

    loss_i = sum_j t_ij (logsumexp(z_i) - z_ij);
    dloss_i/dz_ik = (sum_j t_ij) softmax(z_i)_k - t_ik, times scale.
    Returns (sum_i loss_i, grad, rows whose argmax equals the target's argmax).
    """
    z, t = _f64(logits), _f64(targets)
    lse = logsumexp_rows(z)
    loss = (t * (lse[:, None] - z)).sum(axis=1)
    grad = softmax(z) * t.sum(axis=1, keepdims=True) - t
    correct = int((z.argmax(axis=1) == t.argmax(axis=1)).sum())
    return float(loss.sum()), scale * grad, correct


def mse(pred, targets, scale: float = 1.0):
    """Squared error: (sum of (p - t)^2, 2 * scale * (p - t))."""
    d = _f64(pred) - _f64(targets)
    return float((d * d).sum()), 2.0 * scale * d


# -- optimizers (torch.optim's rules) -------------------------------------------------------

def sgd_step(p, g, buf, lr: float, momentum: float = 0.0, nesterov: bool = False):
    """One torch.optim.SGD step (dampening 0, no weight decay).

    b = mu * b + g (b starts at 0); step = g + mu * b if nesterov else b
    (step = g without momentum); p = p - lr * step. Returns (p, b); b is None
    when buf is None.
    """
    p, g = _f64(p), _f64(g)
    if buf is None:
        return p - lr * g, None
    b = momentum * _f64(buf) + g
    step = g + momentum * b if nesterov else b
    return p - lr * step, b


def adam_step(p, g, m, v, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int):
    """One torch.optim.Adam step number `step` (1-based, no weight decay, no amsgrad).

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    (epsilon is added to sqrt(v_hat), as in PyTorch). Returns (p, m, v).
    """
    p, g, m, v = _f64(p), _f64(g), _f64(m), _f64(v)
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    step_size = lr / (1.0 - beta_1 ** step)
    denom = np.sqrt(v) / np.sqrt(1.0 - beta_2 ** step) + epsilon
    return p - step_size * m / denom, m, v


# -- whole networks -------------------------------------------------------------------------

Layer = tuple  # (W, b or None, activation name)


def layers_from_weights(weights: Sequence[np.ndarray], activations: Sequence[str],
                        use_bias: Sequence[bool] | None = None) -> list[Layer]:
    """Group a get_weights()-style list [W, b, W, b, ...] into (W, b, act) triples."""
    use_bias = [True] * len(activations) if use_bias is None else list(use_bias)
    out, i = [], 0
    for act, has_b in zip(activations, use_bias):
        w = weights[i]
        i += 1
        b = None
        if has_b:
            b = weights[i]
            i += 1
        out.append((w, b, act))
    if i != len(weights):
        raise ValueError(f"{len(weights)} arrays for {len(activations)} layers")
    return out


def network_forward(x, layers: Sequence[Layer], return_preactivations: bool = False):
    """Output of a stack of dense layers (and, optionally, each layer's pre-activation)."""
    h = _f64(x)
    pre = []
    for w, b, act in layers:
        z = dense_preactivation(h, w, b)
        pre.append(z)
        h = activate(z, act)
    return (h, pre) if return_preactivations else h


def mean_loss(out, y, loss: str) -> float:
    """Mean loss of network outputs, as fastnn's losses define it.

    "softmax_cross_entropy": `out` are logits; y integer labels (n,) or target rows
    (n, classes); mean over samples. "mse": mean over samples *and* outputs.
    """
    out = _f64(out)
    n = len(out)
    if loss == "softmax_cross_entropy":
        y = np.asarray(y)
        if y.ndim == 1:
            return softmax_xent_sparse(out, y)[0] / n
        return softmax_xent_dense(out, y)[0] / n
    if loss == "mse":
        y = _f64(y).reshape(out.shape)
        return mse(out, y)[0] / out.size
    raise ValueError(f"unknown loss {loss!r}")


def network_loss(x, y, layers: Sequence[Layer], loss: str) -> float:
    """Mean loss of a whole network: mean_loss(network_forward(x, layers), y, loss)."""
    return mean_loss(network_forward(x, layers), y, loss)
