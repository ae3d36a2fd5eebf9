"""Plain-numpy float64 references for initializers, regularizers and constraints.

Written from the formulas (Keras 3's documentation and the papers), independently
of fastnn's code: every function converts its inputs to float64, allocates its
own outputs and never imports fastnn. tests/test_initializers.py and
tests/test_regularizers.py compare fastnn with these.
"""
from __future__ import annotations

import math

import numpy as np

#: Keras's backend.epsilon(), added to every norm by its norm constraints.
KERAS_EPSILON = 1e-7


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)  # always a fresh float64 copy


# -- penalties ------------------------------------------------------------------------------

def penalty(x, l1: float, l2: float) -> float:
    """l1 * sum|x| + l2 * sum x^2 (Keras's L1L2), with math.fsum (exactly rounded sums)."""
    x = _f64(x).ravel()
    return l1 * math.fsum(np.abs(x)) + l2 * math.fsum(x * x)


def penalty_grad(x, l1: float, l2: float) -> np.ndarray:
    """d penalty / dx = l1 * sign(x) + 2 * l2 * x, with sign(0) = 0 (TF/torch subgradient of |x|)."""
    x = _f64(x)
    return l1 * np.sign(x) + 2.0 * l2 * x


# -- constraints ----------------------------------------------------------------------------

def _norms(w: np.ndarray, axis: int) -> np.ndarray:
    """L2 norms along axis (a 1-D array has one norm), keepdims for broadcasting."""
    if w.ndim == 1:
        return np.sqrt(np.sum(w * w, keepdims=True))
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


def min_max_norm(w, min_value: float, max_value: float, rate: float, axis: int) -> np.ndarray:
    """Keras MinMaxNorm: w * (rate * clip(n, lo, hi) + (1 - rate) * n) / (eps + n)."""
    w = _f64(w)
    n = _norms(w, axis)
    desired = rate * np.clip(n, min_value, max_value) + (1.0 - rate) * n
    return w * (desired / (KERAS_EPSILON + n))


def max_norm(w, max_value: float, axis: int) -> np.ndarray:
    """Keras MaxNorm: w * clip(n, 0, max_value) / (eps + n)."""
    w = _f64(w)
    n = _norms(w, axis)
    return w * (np.clip(n, 0.0, max_value) / (KERAS_EPSILON + n))


def unit_norm(w, axis: int) -> np.ndarray:
    """Keras UnitNorm: w / (eps + n)."""
    w = _f64(w)
    return w / (KERAS_EPSILON + _norms(w, axis))


def non_neg(w) -> np.ndarray:
    """Keras NonNeg: max(w, 0)."""
    return np.maximum(_f64(w), 0.0)


# -- initializers ---------------------------------------------------------------------------

def phi(z: float) -> float:
    """Standard normal density."""
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def truncated_moments(a: float = 2.0) -> tuple[float, float]:
    """E[z^2] and E[z^4] of z ~ N(0, 1) conditioned on |z| <= a.

    With Z = P(|z| <= a) = erf(a / sqrt 2) and integration by parts
    (d phi / dz = -z phi):  int z^2 phi = Z - 2 a phi(a),
    int z^4 phi = 3 int z^2 phi - 2 a^3 phi(a) over [-a, a].
    """
    mass = math.erf(a / math.sqrt(2.0))
    m2 = mass - 2.0 * a * phi(a)
    m4 = 3.0 * m2 - 2.0 * a ** 3 * phi(a)
    return m2 / mass, m4 / mass


def scaling_spec(name: str, fan_in: int, fan_out: int) -> tuple[str, float]:
    """The textbook distribution of a named scaling initializer.

    Returns ("uniform", limit) for U(-limit, limit) or ("truncated", sigma) for
    N(0, sigma^2) truncated at 2 sigma, from the formulas as the papers and
    Keras's documentation state them (target std s; a truncated normal of
    wanted std s has sigma = s / std of the unit normal truncated at 2):
    glorot (Glorot & Bengio 2010): variance 2 / (fan_in + fan_out);
    he (He et al. 2015): 2 / fan_in; lecun (LeCun 1998): 1 / fan_in.
    """
    trunc_std = math.sqrt(truncated_moments(2.0)[0])
    var = {"glorot": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}[
        name.split("_")[0]]
    if name.endswith("uniform"):
        return "uniform", math.sqrt(3.0 * var)  # Var U(-a, a) = a^2 / 3
    return "truncated", math.sqrt(var) / trunc_std


def variance_scaling_spec(scale: float, mode: str, distribution: str, fan_in: int,
                          fan_out: int) -> tuple[str, float]:
    """("uniform", limit), ("truncated", sigma) or ("normal", std) of VarianceScaling."""
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    n = max(1.0, n)
    var = scale / n
    if distribution == "uniform":
        return "uniform", math.sqrt(3.0 * var)
    if distribution == "untruncated_normal":
        return "normal", math.sqrt(var)
    return "truncated", math.sqrt(var) / math.sqrt(truncated_moments(2.0)[0])


def sample_tolerances(kind: str, mean: float, scale: float, n: int,
                      k: float = 6.0) -> tuple[float, float]:
    """k-sigma bounds on |sample mean - mean| and |sample variance - variance|.

    kind "uniform" (scale = limit of U(mean - scale, mean + scale)), "normal"
    (scale = std) or "truncated" (scale = sigma of N(mean, sigma^2) cut at 2 sigma).
    Var(mean) = var / n; Var(sample variance) ~ (mu4 - var^2) / n.
    """
    if kind == "uniform":
        var, mu4 = scale ** 2 / 3.0, scale ** 4 / 5.0
    elif kind == "normal":
        var, mu4 = scale ** 2, 3.0 * scale ** 4
    else:
        m2, m4 = truncated_moments(2.0)
        var, mu4 = m2 * scale ** 2, m4 * scale ** 4
    return k * math.sqrt(var / n), k * math.sqrt((mu4 - var ** 2) / n)


def expected_variance(kind: str, scale: float) -> float:
    """Variance of the distributions of sample_tolerances."""
    if kind == "uniform":
        return scale ** 2 / 3.0
    if kind == "normal":
        return scale ** 2
    return truncated_moments(2.0)[0] * scale ** 2
