"""Weight and activity penalties: L1, L2 and L1L2 (Keras 3 names and definitions).

A regularizer adds a penalty to the training loss and its gradient to the
gradient of the array it watches (a layer's kernel, bias or output). In a
training step both come from one kernel pass, `fastnn.ops.add_penalty(x, dx, m,
reg.l1, reg.l2)`, which adds the gradient to dx and returns the penalty: every
regularizer here is described by its two factors `l1` and `l2`, so custom
penalties (other functions of the weights) are not supported.

As in Keras, a layer's activity regularizer penalizes the batch mean: its
penalty on the output y[:n] is divided by the batch size n (so that it does not
grow with the batch), i.e. add_penalty(y, dy, n * units, l1 / n, l2 / n); the
kernel and bias penalties are not divided.

Formula (all three classes)::

    penalty(x)  = l1 * sum(|x|) + l2 * sum(x ** 2)
    d penalty/dx = l1 * sign(x) + 2 * l2 * x        (sign(0) = 0)

Example
-------
>>> import numpy as np
>>> from fastnn import regularizers
>>> regularizers.L2(2.0)(np.ones((5, 5)))
50.0
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastnn._config import Configurable, deserialize_object, serialize_object
from fastnn._validation import as_ndarray

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize", "deserialize"]


def _factor(value: Any, name: str) -> float:
    """A finite float >= 0 (None means 0, as Keras reads it)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a finite float >= 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite float >= 0, got {value!r}")
    return value


class Regularizer(Configurable):
    """Base class: the penalty ``l1 * sum|x| + l2 * sum x**2``.

    Parameters
    ----------
    l1, l2 : float, default 0.0
        Finite factors >= 0 (0 turns that term off), kept as the attributes
        `l1` and `l2`: the training kernel reads only these two numbers, so a
        subclass changes defaults and config, never the formula.

    Notes
    -----
    Formula::

        penalty = l1 * sum(|x|) + l2 * sum(x ** 2)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, x: Any) -> float:
        """The penalty of an array x (any shape), computed in float64.

        Parameters
        ----------
        x : array_like of numbers
            The weights or activations to penalize.

        Returns
        -------
        float
            ``l1 * sum|x| + l2 * sum x**2`` (a zero factor contributes nothing,
            even for infinite x, as in Keras).
        """
        arr = as_ndarray(x, "x")
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"x: expected an array of numbers, got dtype {arr.dtype}")
        x64 = arr.astype(np.float64, copy=False)  # before abs: abs(int8(-128)) wraps
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(x64).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(x64).sum())
        return penalty

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as plain floats."""
        return {"l1": self.l1, "l2": self.l2}



class L1L2(Regularizer):
    """L1 and L2 penalties together.

    Parameters
    ----------
    l1 : float, default 0.0
        Factor of ``sum|x|``; finite, >= 0.
    l2 : float, default 0.0
        Factor of sum x**2; finite, >= 0.

    Notes
    -----
    Formula::

        penalty = l1 * sum(|x|) + l2 * sum(x ** 2)

    The string "l1_l2" gives L1L2(l1=0.01, l2=0.01), the values Keras documents
    for it (the constructor's own defaults are 0, as in Keras).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        super().__init__(l1, l2)


class L1(Regularizer):
    """L1 penalty (drives weights to exactly zero: sparse weights).

    Parameters
    ----------
    l1 : float, default 0.01
        Factor of ``sum|x|``; finite, >= 0.

    Notes
    -----
    Formula::

        penalty = l1 * sum(|x|),    gradient = l1 * sign(x)   (sign(0) = 0)
    """

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1")
        self.l2 = 0.0

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """L2 penalty (weight decay on the loss, Keras's definition: no 1/2 factor).

    Parameters
    ----------
    l2 : float, default 0.01
        Factor of sum x**2; finite, >= 0.

    Notes
    -----
    Formula::

        penalty = l2 * sum(x ** 2),    gradient = 2 * l2 * x
    """

    def __init__(self, l2: float = 0.01):
        self.l1 = 0.0
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


# Keys of a serialized object (Keras adds "module" and "registered_name"; ignored here).
_CLASSES: dict[str, type[Regularizer]] = {c.__name__: c for c in (L1, L2, L1L2)}
# Keras's string names; "l1_l2" with the 0.01 / 0.01 its documentation gives.
_NAMES = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01)}


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """{"class_name": ..., "config": ...} of a regularizer (None stays None)."""
    if regularizer is None:
        return None
    return serialize_object(regularizer, Regularizer, "regularizer")


def deserialize(config: dict[str, Any], argument: str = "regularizer") -> Regularizer:
    """The regularizer a serialize() dict describes."""
    return deserialize_object(config, _CLASSES, argument)


def get(identifier: Any, argument: str = "regularizer") -> Regularizer | None:
    """A regularizer from None, a name, an instance, a class or a config dict.

    Parameters
    ----------
    identifier : None, str, Regularizer, Regularizer subclass or dict
        None (no penalty); "l1", "l2", "l1_l2" or a class name ("L1", "L2",
        "L1L2": default arguments); an instance (returned as is); a dict from
        serialize().
    argument : str
        The argument name that errors mention (e.g. "kernel_regularizer").

    Raises
    ------
    ValueError
        Naming `argument`, the accepted forms and what came.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier in _NAMES:
            return _NAMES[identifier]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
    elif isinstance(identifier, dict):
        return deserialize(identifier, argument)
    elif isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    raise ValueError(f"{argument}: expected None, one of {sorted(_NAMES)}, a Regularizer "
                     f"(L1, L2, L1L2) or its config dict, got {identifier!r}")
