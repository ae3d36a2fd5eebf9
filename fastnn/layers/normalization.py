"""Normalization: input standardization with per-feature statistics learned by adapt()."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import ops
from fastnn._validation import as_float_array, as_ndarray
from fastnn.layers.base import Layer
from fastnn.layers.batch_normalization import check_axis

#: Keras's backend.epsilon(): the smallest standard deviation divided by.
MIN_STD = 1e-7


def _statistic(value: Any, name: str) -> np.ndarray:
    """A finite scalar or 1-D vector of numbers as float64 (never a view of the argument)."""
    arr = as_ndarray(value, name)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a number or a 1-D array of numbers, got dtype {arr.dtype}")
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a number or a non-empty 1-D array (one value per feature), "
                         f"got shape {arr.shape}")
    arr = np.array(arr, dtype=np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got {arr[~np.isfinite(arr)][0]}")
    return arr


class Normalization(Layer):
    """Standardizes each input feature with a fixed mean and variance (Keras's
    Normalization preprocessing layer on (batch, features) inputs).

    The statistics are given to the constructor or learned from data with
    `adapt(data)`; they are the layer's non-trainable state (in the model's state
    arena), so they appear in get_weights/set_weights and are saved with the model.

    Formula::

        y = (x - mean) / max(sqrt(variance), 1e-7)       (Keras's formula; 1e-7 is
                                                          Keras's backend epsilon)
        dx = dy / max(sqrt(variance), 1e-7)
        adapt(X): mean = X.mean(axis=0), variance = X.var(axis=0) (biased), in float64.

    Parameters
    ----------
    axis : int
        -1 only: one mean and variance per feature of a (batch, features) input.
    mean, variance : float or array-like (features,), optional
        Fixed statistics, both or neither; a scalar applies to every feature.
        Without them, call adapt() before the layer runs.
    name : str, optional

    Examples
    --------
    >>> norm = layers.Normalization()
    >>> norm.adapt(X_train)                  # before or after the model is built
    >>> model = fastnn.Sequential([norm, layers.Dense(1)])

    Notes
    -----
    A layer that has neither been adapted nor given statistics holds NaN as its
    statistics (so get_weights shows it) and its forward pass raises a
    ValueError. Keras instead runs it as the identity (mean 0, variance 1),
    which hides a forgotten adapt(). The output is formed as
    (x - mean) * (1 / std), within one rounding of Keras's division.
    """

    def __init__(self, axis: int = -1, mean: Any = None, variance: Any = None,
                 name: str | None = None):
        self.axis = check_axis(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"mean, variance: expected both or neither, got mean={mean!r} and "
                             f"variance={variance!r}")
        self._given: tuple[np.ndarray, np.ndarray] | None = None
        if mean is not None:
            m, v = _statistic(mean, "mean"), _statistic(variance, "variance")
            if m.shape != v.shape:
                raise ValueError(f"variance: expected the shape of mean {np.shape(mean)}, "
                                 f"got {np.shape(variance)}")
            if (v < 0).any():
                raise ValueError(f"variance: expected values >= 0, got {v[v < 0][0]}")
            self._given = (m, v)
        super().__init__(name)
        self._config_mean = None if mean is None else self._given[0].tolist()
        self._config_variance = None if variance is None else self._given[1].tolist()
        self._adapted: tuple[np.ndarray, np.ndarray] | None = None  # adapt() before bind_state
        self.mean: np.ndarray | None = None       # state views (model's state arena)
        self.variance: np.ndarray | None = None
        self._out = self._inv_std = None

    # -- statistics ---------------------------------------------------------------------
    def adapt(self, data: Any) -> None:
        """Learn the per-feature mean and (biased) variance of `data`.

        Parameters
        ----------
        data : array-like (samples, features)
            Finite numbers, at least one row; its width must match the layer's
            input width when the layer is already built.

        Notes
        -----
        Works before the model is built (the statistics are kept until then) and
        after (they are written into the model's state); replaces any statistics
        given to the constructor. Validation happens before anything changes.
        """
        X = as_float_array(data, "data", ndim=2, dtype=np.float64)
        if X.shape[0] < 1:
            raise ValueError(f"data: expected at least one row, got shape {X.shape}")
        if X.shape[1] < 1:
            raise ValueError(f"data: expected at least one feature column, got shape {X.shape}")
        if self.built and X.shape[1] != self.input_dim:
            raise ValueError(f"data: the layer is built for {self.input_dim} features, got {X.shape[1]}")
        mean = X.mean(axis=0)
        variance = X.var(axis=0)  # two-pass, biased (Keras: np.var)
        if self.mean is not None:
            self.mean[...] = mean
            self.variance[...] = variance
        else:
            self._adapted = (mean, variance)

    def _statistics(self, d: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The statistics to start from, broadcast to d features, or None."""
        stats = self._adapted if self._adapted is not None else self._given
        if stats is None:
            return None
        m, v = stats
        if m.size not in (1, d):
            source = "adapt()" if stats is self._adapted else "mean and variance"
            raise ValueError(f"input_dim: the layer's {source} hold {m.size} features, "
                             f"but its input has {d}")
        return np.broadcast_to(m, (d,)), np.broadcast_to(v, (d,))

    # -- construction -------------------------------------------------------------------
    def build(self, input_dim: int, dtype: np.dtype) -> None:
        self._statistics(input_dim)  # a width mismatch fails here, before the model builds
        super().build(input_dim, dtype)

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("mean", (self.input_dim,)), ("variance", (self.input_dim,))]

    def initial_state(self) -> list[np.ndarray]:
        d = self.input_dim
        stats = self._statistics(d)
        if stats is None:  # NaN marks "not adapted": forward refuses to run on it
            return [np.full(d, np.nan, self.dtype), np.full(d, np.nan, self.dtype)]
        return [stats[0].astype(self.dtype), stats[1].astype(self.dtype)]

    def bind_state(self, state: list[np.ndarray]) -> None:
        self.mean, self.variance = state
        self._adapted = None  # the state arena holds them from now on

    def allocate(self, capacity: int, need_dx: bool) -> None:
        self._out = np.empty((capacity, self.input_dim), self.dtype)
        self._inv_std = np.empty(self.input_dim, self.dtype)

    # -- computation --------------------------------------------------------------------
    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        if np.isnan(self.mean[0]):
            raise ValueError(f"{self.name}: Normalization has no statistics; call adapt(data) or pass "
                             f"mean= and variance= before fit, evaluate or predict")
        ops.normalization_forward(x, self.mean, self.variance, self._inv_std, self._out, n)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        if not need_dx:
            return None
        ops.normalization_backward(dout, self._inv_std, n)
        return dout

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, "mean": self._config_mean, "variance": self._config_variance,
                "name": self.name}
