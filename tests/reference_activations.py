"""Plain-numpy float64 reference of every activation and of its derivative.

Written from the textbook formulas (Keras 3's definitions), independently of
fastnn: every function converts its input to a fresh float64 array and never
touches fastnn. Derivatives are written out by hand (not derived from the
forward code), with torch's conventions at the kinks: relu'(0) = 0,
leaky_relu'(0) = negative_slope, elu'(0) = alpha, relu6' and hard_sigmoid' are 0
at their corners.

Where a formula is evaluated as written it may lose *relative* precision in a
tail (1 + erf(z / sqrt 2) for z << 0, 1 - tanh(z)^2 for |z| >> 1): the tests
compare with an absolute term scaled to the size of the operands there (see
tests/test_activations.py), so the reference stays the plain formula.
"""
from __future__ import annotations

import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# name -> parameters (the defaults of fastnn.activations.get, Keras's)
DEFAULTS = {
    "linear": {}, "relu": {}, "relu6": {}, "leaky_relu": {"negative_slope": 0.2},
    "elu": {"alpha": 1.0}, "selu": {}, "gelu": {"approximate": False}, "sigmoid": {}, "tanh": {},
    "silu": {}, "softplus": {}, "softsign": {}, "hard_sigmoid": {}, "mish": {}, "exponential": {},
    "softmax": {}, "log_softmax": {},
}
ROWWISE = ("softmax", "log_softmax")
#: Points where the derivative jumps (finite differences must stay away from them).
KINKS = {"relu": (0.0,), "relu6": (0.0, 6.0), "leaky_relu": (0.0,), "elu": (0.0,),
         "selu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}

_erf = np.vectorize(math.erf, otypes=[float])


def _f64(z) -> np.ndarray:
    return np.array(z, dtype=np.float64)


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
    return np.logaddexp(0.0, z)  # log(exp(0) + exp(z)), numpy's stable form


def _sech2(z):
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(z) ** 2


def forward(name: str, z, **params) -> np.ndarray:
    """act(z); the softmax family along the last axis."""
    z = _f64(z)
    p = {**DEFAULTS[name], **params}
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "relu6":
        return np.minimum(np.maximum(z, 0.0), 6.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, p["negative_slope"] * z)
    if name == "elu":
        return np.where(z > 0, z, p["alpha"] * np.expm1(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "gelu":
        if p["approximate"]:
            return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "silu":
        return z * _sigmoid(z)
    if name == "softplus":
        return _softplus(z)
    if name == "softsign":
        return z / (1.0 + np.abs(z))
    if name == "hard_sigmoid":
        return np.clip(z / 6.0 + 0.5, 0.0, 1.0)  # Keras 3's doc form: x/6 + 0.5 on (-3, 3)
    if name == "mish":
        return z * np.tanh(_softplus(z))
    if name == "exponential":
        with np.errstate(over="ignore"):
            return np.exp(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "log_softmax":
        m = z.max(axis=-1, keepdims=True)
        return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    raise ValueError(f"unknown activation {name!r}")


def derivative(name: str, z, **params) -> np.ndarray:
    """d act / dz element-wise (not for the softmax family), written by hand."""
    z = _f64(z)
    p = {**DEFAULTS[name], **params}
    one, zero = np.ones_like(z), np.zeros_like(z)
    if name == "linear":
        return one
    if name == "relu":
        return np.where(z > 0, one, zero)
    if name == "relu6":
        return np.where((z > 0) & (z < 6), one, zero)
    if name == "leaky_relu":
        return np.where(z > 0, one, p["negative_slope"])
    if name == "elu":
        return np.where(z > 0, one, p["alpha"] * np.exp(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, one, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    if name == "gelu":
        if p["approximate"]:
            c = math.sqrt(2.0 / math.pi)
            u = c * (z + 0.044715 * z ** 3)
            du = c * (1.0 + 3 * 0.044715 * z ** 2)
            return 0.5 * (1.0 + np.tanh(u)) + 0.5 * z * _sech2(u) * du
        # Phi(z) + z phi(z), phi the standard normal density
        return 0.5 * (1.0 + _erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return _sech2(z)
    if name == "silu":
        s = _sigmoid(z)
        return s + z * s * (1.0 - s)
    if name == "softplus":
        return _sigmoid(z)
    if name == "softsign":
        return 1.0 / (1.0 + np.abs(z)) ** 2
    if name == "hard_sigmoid":
        return np.where((z > -3) & (z < 3), 1.0 / 6.0, zero)
    if name == "mish":
        sp = _softplus(z)
        return np.tanh(sp) + z * _sech2(sp) * _sigmoid(z)
    if name == "exponential":
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise ValueError(f"{name!r} has no element-wise derivative (use vjp)")


def vjp(name: str, z, upstream, **params) -> np.ndarray:
    """Gradient w.r.t. z of sum(upstream * act(z)).

    Element-wise: upstream * act'(z). softmax (Jacobian diag(y) - y y^T):
    y * (u - <u, y>). log_softmax (Jacobian I - 1 softmax^T): u - softmax * sum(u).
    """
    z, u = _f64(z), _f64(upstream)
    if name == "softmax":
        y = forward("softmax", z)
        return y * (u - (u * y).sum(axis=-1, keepdims=True))
    if name == "log_softmax":
        return u - forward("softmax", z) * u.sum(axis=-1, keepdims=True)
    return u * derivative(name, z, **params)


def jacobian_rows(name: str, z) -> np.ndarray:
    """(n, k, k) Jacobians dy_j/dz_l of a row-wise activation, from the formulas."""
    y = forward("softmax", z)
    n, k = y.shape
    eye = np.eye(k)
    if name == "softmax":
        return y[:, :, None] * (eye[None] - y[:, None, :])
    if name == "log_softmax":
        return eye[None] - np.broadcast_to(y[:, None, :], (n, k, k))
    raise ValueError(name)


# -- a dense layer and small networks ----------------------------------------------------------

def dense_forward(x, w, b, name: str, **params):
    """(z, y): z = x @ W + b, y = act(z)."""
    z = _f64(x) @ _f64(w)
    if b is not None:
        z = z + _f64(b)
    return z, forward(name, z, **params)


def dense_backward(x, w, z, dy, name: str, **params):
    """(dz, dW, db, dx) of y = act(x @ W + b) given dL/dy and the pre-activation z."""
    dz = vjp(name, z, dy, **params)
    x, w = _f64(x), _f64(w)
    return dz, x.T @ dz, dz.sum(axis=0), dz @ w.T


def mlp_mse(x, targets, weights, acts):
    """Mean squared error (mean over samples and outputs) of a stack of dense layers.

    weights: [W1, b1, W2, b2, ...]; acts: one (name, params) per layer, where name
    may also be a callable (a user-defined activation's value function).
    """
    h = _f64(x)
    for i, (name, params) in enumerate(acts):
        z = h @ _f64(weights[2 * i]) + _f64(weights[2 * i + 1])
        h = name(z) if callable(name) else forward(name, z, **params)
    d = h - _f64(targets).reshape(h.shape)
    return float((d * d).mean())
