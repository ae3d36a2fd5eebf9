"""Weight constraints: projections applied to a weight array after each update.

Keras 3 names and definitions (MaxNorm, NonNeg, UnitNorm, MinMaxNorm, with
Keras's epsilon 1e-7 added to every norm). Unlike Keras, a constraint works IN
PLACE: `constraint(w)` rewrites the C-contiguous float array it is given (the
kernel's view in the model's parameter arena) through one kernel call and
returns None, so applying it allocates nothing.

`axis` is the axis the norms are taken over: for a Dense kernel of shape
(inputs, units), axis=0 gives one norm per column, i.e. per unit's incoming
weights (Keras's default); axis=1 (or -1) one norm per row. A 1-D array (a
bias) has a single norm over all its elements (axis 0 or -1).

Example
-------
>>> import numpy as np
>>> from fastnn import constraints
>>> w = np.array([[3.0, 0.1], [4.0, 0.1]])
>>> constraints.MaxNorm(1.0)(w)            # column norms 5 and 0.14
>>> np.round(w, 4)
array([[0.6, 0.1],
       [0.8, 0.1]])
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastnn import ops
from fastnn._config import Configurable, deserialize_object, serialize_object

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize",
           "deserialize"]

#: Added to every norm before dividing by it (Keras's backend.epsilon()).
EPSILON = 1e-7


def _nonneg_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite float >= 0, got {value!r}")
    return float(value)


def _axis(axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis not in (0, 1, -1):
        raise ValueError(f"axis: expected 0, 1 or -1, got {axis!r}")
    return int(axis)


def _check_weights(w: Any, norm_axis: int | None) -> np.ndarray:
    """w must be a writable C-contiguous float32/float64 ndarray (1-D or 2-D for norms)."""
    if not isinstance(w, np.ndarray):
        raise ValueError(f"w: expected a numpy array (constrained in place), got {type(w).__name__}")
    if w.dtype not in (np.float32, np.float64):
        raise ValueError(f"w: expected dtype float32 or float64, got {w.dtype}")
    if not w.flags.c_contiguous:
        raise ValueError("w: expected a C-contiguous array (constrained in place)")
    if not w.flags.writeable:
        raise ValueError("w: expected a writable array (constrained in place)")
    if norm_axis is not None:
        if w.ndim not in (1, 2):
            raise ValueError(f"w: expected a 1-D or 2-D array, got shape {w.shape}")
        if w.ndim == 1 and norm_axis == 1:
            raise ValueError(f"axis: expected 0 or -1 for a 1-D array of shape {w.shape}, got 1")
    return w


class Constraint(Configurable):
    """Base class of weight constraints: `constraint(w)` projects w in place.

    The base constraint leaves w as it is. Subclasses implement `__call__` with
    a kernel from fastnn.ops and `get_config`.
    """

    def __call__(self, w: np.ndarray) -> None:
        """Apply the constraint to w in place (no-op in the base class).

        Parameters
        ----------
        w : ndarray, float32 or float64, C-contiguous, writable
        """
        _check_weights(w, None)


class MinMaxNorm(Constraint):
    """Keeps the norm of each unit's weights within [min_value, max_value].

    Parameters
    ----------
    min_value : float, default 0.0
        Lower bound of the norm; finite, >= 0.
    max_value : float, default 1.0
        Upper bound of the norm; finite, >= min_value.
    rate : float, default 1.0
        In [0, 1]: 1 enforces the bounds at once, less moves the norm part of
        the way to them at each application.
    axis : {0, 1, -1}, default 0
        Axis the norms are taken over (0: one norm per column of a (inputs,
        units) kernel).

    Notes
    -----
    Formula::

        norm    = sqrt(sum(w ** 2, axis))
        desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm
        w       = w * desired / (1e-7 + norm)
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int = 0):
        self.min_value = _nonneg_float(min_value, "min_value")
        self.max_value = _nonneg_float(max_value, "max_value")
        if self.max_value < self.min_value:
            raise ValueError(f"max_value: expected a float >= min_value ({self.min_value}), "
                             f"got {max_value!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not 0 <= rate <= 1:
            raise ValueError(f"rate: expected a float in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> None:
        ops.norm_constraint_apply(_check_weights(w, self.axis), self.axis, self.min_value,
                                  self.max_value, self.rate)

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class MaxNorm(Constraint):
    """Caps the norm of each unit's incoming weights at max_value.

    Parameters
    ----------
    max_value : float, default 2
        Largest allowed norm; finite, >= 0.
    axis : {0, 1, -1}, default 0
        Axis the norms are taken over (0: one norm per column of a (inputs,
        units) kernel).

    Notes
    -----
    Formula::

        norm = sqrt(sum(w ** 2, axis))
        w    = w * clip(norm, 0, max_value) / (1e-7 + norm)

    (As in Keras, a norm below max_value is still scaled by norm / (1e-7 + norm).)
    """

    def __init__(self, max_value: float = 2, axis: int = 0):
        self.max_value = _nonneg_float(max_value, "max_value")
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> None:
        # MinMaxNorm(0, max_value, rate=1) is this formula exactly.
        ops.norm_constraint_apply(_check_weights(w, self.axis), self.axis, 0.0, self.max_value, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    """Scales each unit's incoming weights to norm 1.

    Parameters
    ----------
    axis : {0, 1, -1}, default 0
        Axis the norms are taken over.

    Notes
    -----
    Formula::

        w = w / (1e-7 + sqrt(sum(w ** 2, axis)))
    """

    def __init__(self, axis: int = 0):
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> None:
        # MinMaxNorm(1, 1, rate=1): desired norm 1 whatever the norm.
        ops.norm_constraint_apply(_check_weights(w, self.axis), self.axis, 1.0, 1.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero.

    Formula::

        w = max(w, 0)
    """

    def __call__(self, w: np.ndarray) -> None:
        ops.nonneg_apply(_check_weights(w, None))


# Keras's class names and snake_case names.
_CLASSES: dict[str, type[Constraint]] = {c.__name__: c for c in (MaxNorm, NonNeg, UnitNorm,
                                                                  MinMaxNorm)}
_NAMES: dict[str, type[Constraint]] = {"max_norm": MaxNorm, "non_neg": NonNeg,
                                       "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm}


def serialize(constraint: Constraint | None) -> dict[str, Any] | None:
    """{"class_name": ..., "config": ...} of a constraint (None stays None)."""
    if constraint is None:
        return None
    return serialize_object(constraint, Constraint, "constraint")


def deserialize(config: dict[str, Any], argument: str = "constraint") -> Constraint:
    """The constraint a serialize() dict describes."""
    return deserialize_object(config, _CLASSES, argument)


def get(identifier: Any, argument: str = "constraint") -> Constraint | None:
    """A constraint from None, a name, an instance, a class or a config dict.

    Parameters
    ----------
    identifier : None, str, Constraint, Constraint subclass or dict
        None (no constraint); "max_norm", "non_neg", "unit_norm",
        "min_max_norm" or a class name (default arguments); an instance
        (returned as is); a dict from serialize().
    argument : str
        The argument name that errors mention (e.g. "kernel_constraint").
    """
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    elif isinstance(identifier, dict):
        return deserialize(identifier, argument)
    elif isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    raise ValueError(f"{argument}: expected None, one of {sorted(_NAMES)}, a Constraint "
                     f"or its config dict, got {identifier!r}")
