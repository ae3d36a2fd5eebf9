"""Activation functions by name, and the kernel code of each.

The kernels (src_c/_activations.pxd) implement each activation and its
gradient; this module maps Keras names to their codes. `softmax` is meant for an
output layer; with the softmax cross-entropy loss, leave the last layer linear
(the loss applies the softmax, fused and numerically stable).
"""
from __future__ import annotations

# Codes shared with src_c/_activations.pxd.
LINEAR, RELU, SIGMOID, TANH, SOFTMAX = 0, 1, 2, 3, 4

_CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH, "softmax": SOFTMAX}


def names() -> list[str]:
    """Names of the available activations."""
    return sorted(_CODES)


def get_code(activation: str | None) -> int:
    """Kernel code of an activation name (None means linear)."""
    if activation is None:
        return LINEAR
    if not isinstance(activation, str) or activation not in _CODES:
        raise ValueError(f"activation: expected one of {names()} or None, got {activation!r}")
    return _CODES[activation]
