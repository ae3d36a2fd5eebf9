"""Optimizer base class: state arenas and the one-kernel-call-per-step contract."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _as_list(arrays: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    return [arrays] if isinstance(arrays, np.ndarray) else list(arrays)


class Optimizer:
    """Base class of fastnn optimizers.

    An optimizer updates variables in place from their gradients. A model hands
    it its whole flat parameter arena, so one kernel call updates every
    parameter; a custom loop may hand it any list of float arrays.

    Subclasses implement `_slots` (names of the per-element state arrays) and
    `_update(param, grad, state, step)`.

    Parameters
    ----------
    learning_rate : float
        Step size, > 0.
    name : str
    """

    def __init__(self, learning_rate: float, name: str | None = None):
        self.learning_rate = _check_float(learning_rate, "learning_rate", low=0.0, low_open=True)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0  # completed update steps
        self._state: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None

    # -- subclass interface -----------------------------------------------------------------
    def _slots(self) -> list[str]:
        return []

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                step: int) -> None:
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------------
    def build(self, variables: np.ndarray | Sequence[np.ndarray]) -> None:
        """Allocate the state (zeros) for these variables."""
        variables = _as_list(variables)
        _check_variables(variables)
        self._shapes = [(v.shape, v.dtype) for v in variables]
        self._state = [{s: np.zeros(v.size, v.dtype) for s in self._slots()} for v in variables]
        self.iterations = 0

    def apply(self, grads: np.ndarray | Sequence[np.ndarray],
              variables: np.ndarray | Sequence[np.ndarray]) -> None:
        """Update `variables` in place from `grads` (one step), Keras's argument order.

        Builds the state on first use; later calls must pass variables of the same
        shapes and dtypes. Everything is checked before any state changes.
        """
        grads, variables = _as_list(grads), _as_list(variables)
        _check_variables(variables)
        if len(grads) != len(variables):
            raise ValueError(f"grads: expected {len(variables)} arrays (one per variable), got {len(grads)}")
        if self._state is not None and [(v.shape, v.dtype) for v in variables] != self._shapes:
            raise ValueError("variables: expected the shapes and dtypes this optimizer was built for "
                             f"{[(s, str(d)) for s, d in self._shapes]}, got "
                             f"{[(v.shape, str(v.dtype)) for v in variables]}")
        for i, (g, v) in enumerate(zip(grads, variables)):
            if not isinstance(g, np.ndarray) or g.shape != v.shape or g.dtype != v.dtype:
                got = (f"shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray)
                       else type(g).__name__)
                raise ValueError(f"grads[{i}]: expected an array of shape {v.shape} and dtype {v.dtype}, "
                                 f"got {got}")
        grads = [np.ascontiguousarray(g) for g in grads]
        if self._state is None:
            self.build(variables)
        self._apply_flat(grads, variables)

    def _apply_flat(self, grads: list[np.ndarray], variables: list[np.ndarray]) -> None:
        """Unchecked update: arrays already validated (the model's own arenas)."""
        step = self.iterations + 1
        for g, v, state in zip(grads, variables, self._state):
            self._update(v.reshape(-1), g.reshape(-1), state, step)
        self.iterations = step

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_variables(variables: list[np.ndarray]) -> None:
    """Variables are updated in place: they must be writable C-contiguous float arrays."""
    for i, v in enumerate(variables):
        if not isinstance(v, np.ndarray) or v.dtype not in (np.float32, np.float64):
            raise TypeError(f"variables[{i}]: expected a float32/float64 ndarray, got "
                            f"{getattr(v, 'dtype', type(v).__name__)}")
        if not v.flags.c_contiguous or not v.flags.writeable:
            raise ValueError(f"variables[{i}]: expected a writable C-contiguous array (updated in place), "
                             f"got a {'read-only' if not v.flags.writeable else 'non-contiguous'} array")


def _check_float(value: Any, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A real number within bounds; the error echoes the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    ok = np.isfinite(value)
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{name}: expected a finite number {' and '.join(x for x in (lo, hi) if x)}, "
                         f"got {value!r}")
    return value
