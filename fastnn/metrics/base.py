"""The Metric base class, input reading shared by every metric, and the custom-function wrapper.

A metric is stateful, as in Keras: ``update_state(y_true, y_pred,
sample_weight=None)`` adds one batch to float64 accumulators with one kernel
pass (src_c/metrics.pyx), ``result()`` reads the value, ``reset_state()``
zeroes the accumulators in place (they are allocated once, when the first
batch shows the number of columns, and reused: a steady-state update
allocates nothing but small Python objects).

Inputs
------
* ``y_pred`` (n, k) or (n,) (read as (n, 1)): what a model's `predict`
  returns (probabilities for classification, raw values for regression).
* ``y_true``, read like the losses read targets:

  - "values" metrics (regression, binary, multi-label): real rows of y_pred's
    shape (n,) is accepted for k = 1;
  - "classes" metrics (categorical accuracies, cross-entropies, F-scores,
    precision/recall, AUC): integer class labels (n,) or (n, 1) in [0, k) when
    k > 1, or rows (n, k) (one-hot or multi-label). With k = 1, y_true is
    always read as values (binary targets).

  A target is positive when it is > 0.5 (``1`` for {0, 1} or {-1, 1} targets).
* ``sample_weight`` (n,) or (n, 1), >= 0: every sum and count is weighted.

Arrays that are already C-contiguous float32/float64 (targets and weights in
y_pred's dtype, labels int64) are used as they are: only their shapes and
dtypes are checked (labels also for their range), not their values, so a
model's batch buffers pass through without a copy. Targets and weights that
need a conversion (lists, other dtypes, non-contiguous views) are validated
as they are converted (finite, weights >= 0). `update_state` never checks
predictions for finiteness (a diverged model's NaN shows in the metric, as in
Keras); the plain functions in `fastnn.metrics` validate everything.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from fastnn import ops
from fastnn._validation import as_float_array, as_labels, as_ndarray
from fastnn.losses import check_sample_weight

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class UndefinedMetricWarning(RuntimeWarning):
    """A metric is undefined on the data seen (e.g. ROC AUC with one class only)."""


def warn_undefined(message: str) -> None:
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def check_name(name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    return name


def _is_fast(a: Any, dtype: np.dtype, ndim: int) -> bool:
    """A C-contiguous ndarray of this dtype and rank: usable without a copy."""
    return type(a) is np.ndarray and a.ndim == ndim and a.dtype == dtype and a.flags.c_contiguous


def read_pred(y_pred: Any, strict: bool = False) -> np.ndarray:
    """y_pred as a C-contiguous (n, k) float32/float64 array ((n,) -> (n, 1); other dtypes -> float64)."""
    if type(y_pred) is np.ndarray and y_pred.dtype in _FLOATS and y_pred.flags.c_contiguous:
        p = y_pred if y_pred.ndim == 2 else (y_pred.reshape(-1, 1) if y_pred.ndim == 1 else y_pred)
    else:
        p = as_ndarray(y_pred, "y_pred")
        if p.ndim == 1:
            p = p.reshape(-1, 1)
        if p.ndim == 2:
            if p.dtype.kind not in "fiub":
                raise TypeError(f"y_pred: expected numeric values, got dtype {p.dtype}")
            p = np.ascontiguousarray(p, dtype=p.dtype if p.dtype in _FLOATS else np.float64)
    if p.ndim != 2:
        raise ValueError(f"y_pred: expected an array of shape (n,) or (n, k), got shape {np.shape(y_pred)}")
    if p.shape[1] == 0:
        raise ValueError(f"y_pred: expected at least one column, got shape {p.shape}")
    if strict and p.size and not ops.all_finite(p):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(p))[0])
        raise ValueError(f"y_pred: expected finite values, got {p[bad]} at index {bad}")
    return p


def read_values(y_true: Any, p: np.ndarray, strict: bool = False) -> np.ndarray:
    """Targets of y_pred's shape and dtype ((n,) accepted for one column)."""
    n, k = p.shape
    if _is_fast(y_true, p.dtype, 2) and y_true.shape[0] == n and y_true.shape[1] == k:
        if strict and y_true.size and not ops.all_finite(y_true):
            as_float_array(y_true, "y_true", 2)  # raises with the first bad value
        return y_true
    t = as_ndarray(y_true, "y_true")
    if t.ndim == 1 and k == 1:
        t = t.reshape(-1, 1)
    if t.shape != (n, k):
        raise ValueError(f"y_true: expected shape {(n, k)} like y_pred, got {t.shape}")
    return as_float_array(t, "y_true", ndim=2, dtype=p.dtype)


def read_classes(y_true: Any, p: np.ndarray, strict: bool = False) -> np.ndarray:
    """int64 labels (n,) in [0, k) when k > 1 and y_true is (n,) or (n, 1); else rows like read_values."""
    n, k = p.shape
    if k == 1:
        return read_values(y_true, p, strict)
    if _is_fast(y_true, np.dtype(np.int64), 1) and y_true.shape[0] == n:
        return y_true  # the kernels check the range
    t = as_ndarray(y_true, "y_true")
    if t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1):
        if t.shape[0] != n:
            raise ValueError(f"y_true: expected {n} labels (one per row of y_pred), got {t.shape[0]}")
        return as_labels(t, "y_true", k)
    if t.ndim != 2 or t.shape[1] != k:
        raise ValueError(f"y_true: expected class labels (n,) or rows of shape {(n, k)} like y_pred, "
                         f"got shape {t.shape}")
    return read_values(t, p, strict)


def read_weights(sample_weight: Any, p: np.ndarray, strict: bool = False) -> np.ndarray | None:
    if sample_weight is None:
        return None
    n = p.shape[0]
    if _is_fast(sample_weight, p.dtype, 1) and sample_weight.shape[0] == n and not strict:
        return sample_weight
    return check_sample_weight(sample_weight, n, p.dtype)


class Metric:
    """Base class of the metrics: `update_state`, `result`, `reset_state`, config.

    Subclasses set `targets` ("values" or "classes", see the module
    docstring), implement `_update(t, p, w)` on validated arrays, `result()`
    and `_reset()`; `_build(k)` allocates state for k columns (called on the
    first batch after a reset, or when the column count changes then).

    Attributes
    ----------
    name : str
        The key in a model's logs (Keras's: "auc", "precision", "f1_score", ...).
    direction : {"up", "down"}
        Whether larger ("up") or smaller values are better (for EarlyStopping
        and ModelCheckpoint with mode="auto").
    """

    name = "metric"
    direction = "up"
    targets = "values"

    def __init__(self, name: str | None = None):
        self.name = check_name(name) or type(self).name
        self._k: int | None = None
        self._seen = False  # a batch was added since the last reset

    # -- the stateful API ----------------------------------------------------------------------
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch: predictions y_pred (n, k), targets y_true, optional weights (n,)."""
        t, p, w = self._read(y_true, y_pred, sample_weight, strict=False)
        self._add(t, p, w)

    def result(self) -> float | np.ndarray:
        """The metric over every batch since the last reset (0.0 before any batch, as in Keras)."""
        raise NotImplementedError

    def reset_state(self) -> None:
        """Forget every batch (the buffers are kept for the next epoch)."""
        self._seen = False
        if self._k is not None:
            self._reset()

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float | np.ndarray:
        """update_state, then result() (Keras's stateful call)."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    # -- plumbing ------------------------------------------------------------------------------
    def _read(self, y_true, y_pred, sample_weight, strict):
        p = read_pred(y_pred, strict)
        t = (read_classes if self.targets == "classes" else read_values)(y_true, p, strict)
        w = read_weights(sample_weight, p, strict)
        return t, p, w

    def _add(self, t: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> None:
        k = p.shape[1]
        if k != self._k:
            if self._seen:
                raise ValueError(f"y_pred: expected {self._k} columns like the previous batches of "
                                 f"{self.name!r}, got {k} (call reset_state() to start over)")
            self._check_columns(k)
            self._build(k)
            self._k = k
        self._update(t, p, w)
        self._seen = True

    def _check_columns(self, k: int) -> None:
        """Refuse a column count the configuration cannot use (e.g. class_id >= k)."""

    def _build(self, k: int) -> None:
        """Allocate the state for k columns."""

    def _reset(self) -> None:
        """Zero the state in place."""

    def _update(self, t: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> None:
        raise NotImplementedError

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (subclasses with their own arguments add them)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Metric":
        """A new metric from the dict `get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSumMetric(Metric):
    """A metric that is a weighted mean: result = acc[0] / acc[1] (0.0 when acc[1] = 0)."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self._acc = np.zeros(2)  # (sum_i w_i v_i, sum_i w_i): no column count needed

    def _build(self, k):
        pass

    def _reset(self):
        self._acc.fill(0.0)

    def result(self) -> float:
        total = float(self._acc[1])
        return float(self._acc[0]) / total if total > 0 else 0.0


class MeanMetricWrapper(MeanSumMetric):
    """A metric from a function ``fn(y_true, y_pred) -> (n,)`` per-sample values: their weighted mean.

    The custom-metric path (Keras's MeanMetricWrapper): ``fn`` runs in numpy,
    in Python, once per batch, on read-only (n, k) views (y_true as the
    "values" metrics read it: rows of y_pred's shape); slower than the
    built-in metrics and allocating what fn allocates.

    Parameters
    ----------
    fn : callable
    name : str, optional (default: fn's name)
    direction : {"up", "down"}
    """

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], Any], name: str | None = None,
                 direction: str = "up"):
        if not callable(fn):
            raise ValueError(f"fn: expected a callable fn(y_true, y_pred) -> per-sample values, got {fn!r}")
        if direction not in ("up", "down"):
            raise ValueError(f"direction: expected 'up' or 'down', got {direction!r}")
        super().__init__(name or getattr(fn, "__name__", None) or "mean_metric_wrapper")
        self.fn = fn
        self.direction = direction

    def _update(self, t, p, w):
        tv, pv = t.view(), p.view()
        tv.flags.writeable = False
        pv.flags.writeable = False
        n = p.shape[0]
        try:
            values = np.asarray(self.fn(tv, pv), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{self.name}: the metric function failed on shapes {t.shape}, {p.shape}: "
                            f"{exc}") from exc
        if values.shape == (n, 1):
            values = values[:, 0]
        if values.shape != (n,):
            raise ValueError(f"{self.name}: expected the metric function to return shape ({n},) "
                             f"(one value per sample), got {values.shape}")
        weights = np.ones(n) if w is None else w.astype(np.float64)
        self._acc[0] += float(values @ weights)
        self._acc[1] += float(weights.sum())

    def get_config(self):
        raise NotImplementedError(f"{self.name}: a metric wrapping a Python function has no config; "
                                   f"subclass Metric to save it")

    def __repr__(self) -> str:
        return f"MeanMetricWrapper({self.fn!r}, name={self.name!r}, direction={self.direction!r})"
