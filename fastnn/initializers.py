"""Weight initializers by name (Keras names and formulas).

Each takes (shape, fan_in, fan_out, rng, dtype) and returns a new array. Glorot
uniform is the default for Dense kernels: it is what makes a 784-256-256-10 MLP
reach ~97% on MNIST in 2 epochs (PyTorch's default init lands lower).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Initializer = Callable[[tuple, int, int, np.random.Generator, np.dtype], np.ndarray]


def zeros(shape, fan_in, fan_out, rng, dtype):
    return np.zeros(shape, dtype)


def ones(shape, fan_in, fan_out, rng, dtype):
    return np.ones(shape, dtype)


def glorot_uniform(shape, fan_in, fan_out, rng, dtype):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / max(1, fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def glorot_normal(shape, fan_in, fan_out, rng, dtype):
    """Truncated normal (at 2 std) with std = sqrt(2 / (fan_in + fan_out))."""
    return _truncated_normal(shape, np.sqrt(2.0 / max(1, fan_in + fan_out)), rng, dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype):
    """U(-limit, limit) with limit = sqrt(6 / fan_in)."""
    limit = np.sqrt(6.0 / max(1, fan_in))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape, fan_in, fan_out, rng, dtype):
    """Truncated normal (at 2 std) with std = sqrt(2 / fan_in)."""
    return _truncated_normal(shape, np.sqrt(2.0 / max(1, fan_in)), rng, dtype)


def _truncated_normal(shape, std, rng, dtype):
    # Keras scales the std by 1/0.8796... so that the truncated draw has the wanted std.
    std = std / 0.87962566103423978
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():  # redraw the (~5%) samples beyond two standard deviations
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return (out * std).astype(dtype)


_REGISTRY: dict[str, Initializer] = {f.__name__: f for f in (
    zeros, ones, glorot_uniform, glorot_normal, he_uniform, he_normal)}


def get(name: str, argument: str = "initializer") -> Initializer:
    """The initializer registered under `name` (`argument` names it in errors)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"{argument}: expected one of {sorted(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]
