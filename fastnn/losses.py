"""Losses: value and gradient w.r.t. the network output in one fused kernel.

A loss also decides how targets are read (integer labels or one-hot rows for
cross-entropy, real values for regression, {0, 1} for binary losses) and what
`predict` returns (probabilities for cross-entropy from logits, raw outputs
otherwise).

Every built-in loss runs one kernel pass (src_c/losses.pyx) that returns the
weighted sum of per-sample losses (accumulated in float64) and writes the
gradient, the per-sample losses and the count of correct predictions in the
same pass. A custom loss (a `Loss` subclass with numpy `value` and `gradient`)
runs the same contract in numpy: slower, but checked the same way.

Reductions follow Keras 3: with per-sample losses l_i and sample weights w_i
(1 without weights), over the n samples of a batch,

* ``"mean"`` (Keras's ``"sum_over_batch_size"``, the default): sum_i w_i l_i / n
  (divided by n, not by sum_i w_i);
* ``"mean_with_sample_weight"``: sum_i w_i l_i / sum_i w_i;
* ``"sum"``: sum_i w_i l_i;
* ``"none"`` (or None): calling the loss returns the (n,) array w_i l_i; a model
  trains on its mean.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from fastnn import ops
from fastnn._validation import as_float_array, as_labels, as_ndarray

_REDUCTIONS = {"mean": "mean", "sum_over_batch_size": "mean", "sum": "sum", "none": "none",
               None: "none", "mean_with_sample_weight": "mean_with_sample_weight"}


# -- argument checks ---------------------------------------------------------------------------

def _check_reduction(reduction: Any) -> str:
    if not (reduction is None or isinstance(reduction, str)) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of 'mean', 'sum', 'none', 'sum_over_batch_size', "
                         f"'mean_with_sample_weight' or None, got {reduction!r}")
    return _REDUCTIONS[reduction]


def _check_float(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf,
                 lo_open: bool = False, hi_open: bool = False, what: str | None = None) -> float:
    """A finite real number in the interval (bools refused); the error echoes it."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    what = what or f"a float in {left}{lo:g}, {hi:g}{right}"
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return float(value)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _check_axis(axis: Any) -> int:
    # Model outputs are (n, k): the class / output axis is the last one.
    if isinstance(axis, bool) or axis not in (-1, 1):
        raise ValueError(f"axis: expected -1 (the last axis of (n, k) outputs), got {axis!r}")
    return -1


def _snake(name: str) -> str:
    """CamelCase -> snake_case, acronyms kept whole (MyMAE -> my_mae), as Keras names losses."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{arr[idx]} at index {idx if len(idx) > 1 else idx[0]}"


def _check_range(arr: np.ndarray, name: str, lo: float | None, hi: float | None, why: str) -> None:
    """Refuse values outside [lo, hi]; min/max make no temporaries (train_on_batch stays allocation-free)."""
    if arr.size == 0:
        return
    if (lo is not None and arr.min() < lo) or (hi is not None and arr.max() > hi):
        bad = np.zeros(arr.shape, bool)
        if lo is not None:
            bad |= arr < lo
        if hi is not None:
            bad |= arr > hi
        interval = f"[{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise ValueError(f"{name}: expected {why} {interval}, got {_first_bad(arr, bad)}")


def _regression_targets(y: Any, n_outputs: int, dtype: np.dtype, name: str) -> np.ndarray:
    """(n, outputs) finite floats in dtype; (n,) is accepted for one output."""
    y_arr = as_ndarray(y, name)
    if y_arr.ndim == 1 and n_outputs == 1:
        y_arr = y_arr.reshape(-1, 1)
    y_arr = as_float_array(y_arr, name, ndim=2, dtype=dtype)
    if y_arr.shape[1] != n_outputs:
        raise ValueError(f"{name}: expected {n_outputs} target columns, got shape {y_arr.shape}")
    return y_arr


def check_sample_weight(sample_weight: Any, n: int, dtype: np.dtype,
                        name: str = "sample_weight") -> np.ndarray:
    """Per-sample weights as a C-contiguous (n,) array in dtype: finite and >= 0.

    Accepts shape (n,) or (n, 1). (Keras does not forbid negative weights; a
    negative weight turns minimisation into maximisation for that sample, so
    fastnn refuses it.)
    """
    w = as_ndarray(sample_weight, name)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    w = as_float_array(w, name, ndim=1, dtype=dtype)
    if len(w) != n:
        raise ValueError(f"{name}: expected {n} weights (one per sample), got {len(w)}")
    _check_range(w, name, 0.0, None, "weights")
    return w


# -- the base class ----------------------------------------------------------------------------

class Loss:
    """Base class of losses; also the base of a custom loss.

    Built-in losses run one fused kernel. A **custom loss** subclasses `Loss`
    and defines two vectorized numpy functions:

    * ``value(y_true, y_pred)`` -> per-sample losses, shape (n,) (average an
      element-wise loss over the last axis yourself);
    * ``gradient(y_true, y_pred)`` -> d value_i / d y_pred[i, j], shape (n, k).

    ``y_pred`` is the (n, k) network output and ``y_true`` the targets as
    `check_targets` returns them (by default real values of shape (n, k), like
    MeanSquaredError; override `check_targets` for other targets). Both are
    read-only views: return new arrays. The base class applies the reduction
    and the sample weights and checks the shapes and finiteness of what the two
    functions return. This path runs in numpy, in Python, once per batch: it is
    slower than a built-in loss and cannot count accuracy. Check the gradient
    with `fastnn.gradient_check`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none", "sum_over_batch_size", "mean_with_sample_weight"} or None
        See the module docstring; "mean" (Keras's "sum_over_batch_size") by default.
    name : str, optional

    Examples
    --------
    Mean absolute error written as a custom loss::

        class MyMAE(fastnn.losses.Loss):
            def value(self, y_true, y_pred):
                return np.mean(np.abs(y_pred - y_true), axis=-1)

            def gradient(self, y_true, y_pred):
                return np.sign(y_pred - y_true) / y_pred.shape[1]

        model.compile(optimizer="adam", loss=MyMAE())
    """

    name = "loss"
    reduction = "mean"
    counts_correct = False  # value_and_grad also counts correct predictions (accuracy)
    single_label = True     # one class per sample (class_weight applies)

    def __init__(self, reduction: str | None = "mean", name: str | None = None):
        self.reduction = _check_reduction(reduction)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        self.name = name or type(self).__dict__.get("name") or _snake(type(self).__name__)

    # -- targets and predictions -------------------------------------------------------------
    def check_targets(self, y: Any, n_outputs: int, dtype: np.dtype, name: str = "y") -> np.ndarray:
        """Validate targets for a model with n_outputs outputs; a C-contiguous array.

        The default reads real values: (n, n_outputs), or (n,) for one output.
        """
        return _regression_targets(y, n_outputs, dtype, name)

    def transform_output(self, out: np.ndarray, n: int) -> None:
        """Turn the first n rows of the network output into predictions, in place."""

    # -- values --------------------------------------------------------------------------------
    def _scale(self, n: int, sample_weight: np.ndarray | None) -> float:
        """The factor that turns sum_i w_i l_i into the reduced value."""
        if self.reduction == "sum":
            return 1.0
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            total = float(np.sum(sample_weight[:n], dtype=np.float64))
            return 1.0 / total if total > 0 else 0.0  # Keras: divide_no_nan
        return 1.0 / n if n else 0.0

    def value_and_grad(self, out: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int,
                       sample_weight: np.ndarray | None = None) -> tuple[float, float]:
        """Reduced loss of the first n rows and the number of correct predictions.

        Parameters
        ----------
        out : (>= n, k) network output
        targets : targets as returned by `check_targets` (>= n rows)
        grad : (>= n, k) buffer or None
            Receives d value / d out for the first n rows (exactly the gradient of
            the returned value).
        n : int
        sample_weight : (>= n,) C-contiguous array in out's dtype, or None

        Returns
        -------
        (value, correct): the reduction of w_i l_i ("none" reduces as "mean" here:
        a model trains on the mean), and the correct predictions among the n
        samples in sample units (0.0 for losses that do not count).
        """
        scale = self._scale(n, sample_weight)
        total, correct = self._run(out, targets, grad, n, scale, sample_weight, None)
        return total * scale, float(correct)

    def per_sample(self, out: np.ndarray, targets: np.ndarray, n: int) -> np.ndarray:
        """Unweighted per-sample losses of the first n rows, shape (n,), in out's dtype."""
        per = np.empty(n, out.dtype)
        self._run(out, targets, None, n, 0.0, None, per)
        return per

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float | np.ndarray:
        """The loss of predictions (network outputs) against targets.

        Returns a float, or the (n,) array w_i l_i when reduction is "none".
        y_pred of shape (n,) is read as one output column.
        """
        y_pred = as_ndarray(y_pred, "y_pred")
        if y_pred.ndim == 1:
            y_pred = y_pred.reshape(-1, 1)
        y_pred = as_float_array(y_pred, "y_pred", ndim=2)
        n = len(y_pred)
        targets = self.check_targets(y_true, y_pred.shape[1], y_pred.dtype, "y_true")
        if len(targets) != n:
            raise ValueError(f"y_true: expected {n} rows like y_pred, got {len(targets)}")
        w = None if sample_weight is None else check_sample_weight(sample_weight, n, y_pred.dtype)
        self._check_predictions(y_pred)
        if self.reduction == "none":
            per = self.per_sample(y_pred, targets, n)
            return per if w is None else per * w
        return float(self.value_and_grad(y_pred, targets, None, n, w)[0])

    def _check_predictions(self, y_pred: np.ndarray) -> None:
        """Refuse predictions the loss has no value for (called by __call__ only: a model's
        outputs are what they are, and TerminateOnNaN watches a training loss)."""

    # -- the custom-loss path (built-in losses override _run with a kernel call) ----------------
    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Per-sample losses (n,) of a custom loss (define it in your subclass)."""
        raise NotImplementedError(f"{type(self).__name__}: a custom loss defines value(y_true, y_pred) "
                                  f"-> (n,) and gradient(y_true, y_pred) -> (n, k)")

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """d value_i / d y_pred, shape (n, k), of a custom loss (define it in your subclass)."""
        raise NotImplementedError(f"{type(self).__name__}: a custom loss defines value(y_true, y_pred) "
                                  f"-> (n,) and gradient(y_true, y_pred) -> (n, k)")

    def _checked(self, result: Any, shape: tuple, what: str) -> np.ndarray:
        where = f"{type(self).__name__}.{what}"
        try:
            arr = np.asarray(result, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: expected a numeric array of shape {shape}, got "
                            f"{type(result).__name__} ({exc})") from None
        if arr.shape != shape:
            hint = " (average element-wise losses over the last axis)" if what == "value" else ""
            raise ValueError(f"{where}: expected shape {shape}, got {arr.shape}{hint}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}: expected finite values, got {_first_bad(arr, ~np.isfinite(arr))}")
        return arr

    def _run(self, out: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int,
             scale: float, sample_weight: np.ndarray | None,
             per_sample: np.ndarray | None) -> tuple[float, float]:
        """(sum_i w_i l_i, correct); grad[:n] = scale * w_i * dl_i/dout; per_sample[:n] = l_i.

        This base version is the custom-loss path, in numpy.
        """
        y_true, y_pred = targets[:n].view(), out[:n].view()
        y_true.flags.writeable = False  # the model's buffers: user code must not write them
        y_pred.flags.writeable = False
        losses = self._checked(self.value(y_true, y_pred), (n,), "value")
        w = None if sample_weight is None else np.asarray(sample_weight[:n], dtype=np.float64)
        if per_sample is not None:
            per_sample[:n] = losses
        total = float(losses @ w) if w is not None else float(losses.sum())
        if grad is not None:
            g = self._checked(self.gradient(y_true, y_pred), (n, out.shape[1]), "gradient")
            coef = scale if w is None else (scale * w)[:, None]
            grad[:n] = coef * g
        return total, 0

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (subclasses with their own arguments add them)."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Loss":
        """A new loss from the dict `get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# -- cross-entropy -----------------------------------------------------------------------------

def _one_hot_targets(y_arr: np.ndarray, n_outputs: int, dtype: np.dtype, name: str) -> np.ndarray:
    if y_arr.ndim != 2 or y_arr.shape[1] != n_outputs:
        raise ValueError(f"{name}: expected one-hot or probability rows of shape (n, {n_outputs}), "
                         f"got shape {y_arr.shape}")
    t = as_float_array(y_arr, name, ndim=2, dtype=dtype)
    _check_range(t, name, 0.0, None, "target probabilities")
    return t


class _CrossEntropy(Loss):
    """Shared kernel dispatch: logits or probabilities, labels (n,) or rows (n, k)."""

    counts_correct = True
    from_logits = True
    label_smoothing = 0.0

    def _run(self, out, targets, grad, n, scale, sample_weight, per_sample):
        if self.from_logits:
            if targets.ndim == 1:
                return ops.softmax_xent_sparse(out, targets, grad, n, scale, sample_weight, per_sample,
                                               self.label_smoothing)
            return ops.softmax_xent_dense(out, targets, grad, n, scale, sample_weight, per_sample,
                                          self.label_smoothing)
        if targets.ndim == 1:
            return ops.probs_xent_sparse(out, targets, grad, n, scale, sample_weight, per_sample)
        return ops.probs_xent_dense(out, targets, grad, n, scale, sample_weight, per_sample,
                                    self.label_smoothing)

    def transform_output(self, out, n):
        if self.from_logits:
            ops.softmax_rows(out, n)

    def _check_predictions(self, y_pred):
        # Probabilities are normalized by their row sum: a row summing to 0 (or less) has no
        # distribution, and 0/0 would come back as a silent NaN.
        if not self.from_logits and len(y_pred):
            sums = y_pred.sum(axis=1, dtype=np.float64)
            if sums.min() <= 0:
                row = int(np.argmin(sums))
                raise ValueError(f"y_pred: expected probability rows with a positive sum, got a row "
                                 f"summing to {sums[row]} at row {row}")


class SoftmaxCrossEntropy(_CrossEntropy):
    """Softmax cross-entropy from logits (the last layer stays linear).

    Formula (per sample, logits z of k classes, class y or target row t,
    smoothed targets t' = (1 - label_smoothing) t + label_smoothing / k)::

        loss = logsumexp(z) - z[y]                     (integer label y, no smoothing)
        loss = sum_j t'_j * (logsumexp(z) - z_j)       (one-hot / soft targets)
        d loss / d z = softmax(z) * sum_j t'_j - t'

    computed with the row maximum subtracted, so it never overflows (logits of
    +-1e4 are fine in float32). Targets are integer class labels of shape (n,)
    (or (n, 1)) or non-negative rows of shape (n, classes). `predict` returns
    class probabilities; accuracy counts argmax matches.

    Parameters
    ----------
    label_smoothing : float in [0, 1]
    reduction, name : see `Loss`
    """

    name = "softmax_cross_entropy"

    def __init__(self, label_smoothing: float = 0.0, reduction: str | None = "mean",
                 name: str | None = None):
        super().__init__(reduction, name)
        self.label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)

    def check_targets(self, y, n_outputs, dtype, name="y"):
        y_arr = as_ndarray(y, name)
        if y_arr.ndim == 2 and y_arr.shape[1] != 1:
            if y_arr.shape[1] != n_outputs:
                raise ValueError(f"{name}: expected one-hot rows of {n_outputs} classes, "
                                 f"got shape {y_arr.shape}")
            return _one_hot_targets(y_arr, n_outputs, dtype, name)
        return as_labels(y_arr, name, n_outputs)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with one-hot or soft targets (n, classes), Keras's semantics.

    Formula (per sample; t' = (1 - label_smoothing) t + label_smoothing / k)::

        from_logits=True:   loss = sum_j t'_j * (logsumexp(z) - z_j)
        from_logits=False:  q = clip(p / sum(p), 1e-7, 1 - 1e-7)
                            loss = -sum_j t'_j log(q_j)

    With probabilities (the default, as in Keras; the last layer applies
    softmax) the gradient is the exact one w.r.t. p, through the normalization
    and the clip (zero where q is clipped). `predict` applies softmax to logits
    and leaves probabilities as they are.

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float in [0, 1]
    axis : -1 (the class axis of (n, k) outputs)
    reduction, name : see `Loss`
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "mean", name: str | None = None):
        super().__init__(reduction, name)
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
        self.axis = _check_axis(axis)

    def check_targets(self, y, n_outputs, dtype, name="y"):
        y_arr = as_ndarray(y, name)
        if y_arr.ndim == 1:
            raise ValueError(f"{name}: expected one-hot rows of shape (n, {n_outputs}), got shape "
                             f"{y_arr.shape}; use SparseCategoricalCrossentropy for integer labels")
        return _one_hot_targets(y_arr, n_outputs, dtype, name)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer class labels (n,) in [0, classes), Keras's semantics.

    Formula (per sample, class y)::

        from_logits=True:   loss = logsumexp(z) - z[y]
        from_logits=False:  loss = -log(clip(p[y] / sum(p), 1e-7, 1 - 1e-7))

    The gradient w.r.t. probabilities goes through the normalization and the
    clip exactly. `predict` applies softmax to logits only.

    Parameters
    ----------
    from_logits : bool, default False
    reduction, name : see `Loss`
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, reduction: str | None = "mean",
                 name: str | None = None):
        super().__init__(reduction, name)
        self.from_logits = _check_bool(from_logits, "from_logits")

    def check_targets(self, y, n_outputs, dtype, name="y"):
        return as_labels(y, name, n_outputs)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


# -- element-wise losses (one kernel, a loss-kind switch) ----------------------------------------

class _Elementwise(Loss):
    """Per-sample loss = mean (KLDivergence: sum) over outputs of an element loss e(pred, target)."""

    _kind = ""

    def _params(self) -> tuple[float, float]:
        return 0.0, 0.0

    def _run(self, out, targets, grad, n, scale, sample_weight, per_sample):
        p1, p2 = self._params()
        total, correct = ops.elementwise_loss(ops.LOSS_KINDS[self._kind], out, targets, grad, n, scale,
                                              sample_weight, per_sample, p1, p2)
        # Binary losses count correct elements; accuracy is in samples (Keras's binary_accuracy).
        return total, (correct / out.shape[1] if self.counts_correct else 0)


class MeanSquaredError(_Elementwise):
    """Mean squared error, averaged over outputs and samples (Keras and torch's mean).

    Formula::

        loss = mean((y_pred - y_true) ** 2, axis=-1)

    Targets have shape (n, outputs), or (n,) for one output.
    """

    name = "mean_squared_error"
    _kind = "mean_squared_error"


class MeanAbsoluteError(_Elementwise):
    """Mean absolute error.

    Formula::

        loss = mean(|y_pred - y_true|, axis=-1)      (gradient sign(y_pred - y_true) / k, 0 at 0)
    """

    name = "mean_absolute_error"
    _kind = "mean_absolute_error"


class Huber(_Elementwise):
    """Huber loss: quadratic near 0, linear beyond delta (Keras's formula).

    Formula (x = y_pred - y_true)::

        e(x) = x**2 / 2                    if |x| <= delta
             = delta * (|x| - delta / 2)   otherwise
        loss = mean(e(x), axis=-1)

    Parameters
    ----------
    delta : float > 0, default 1.0
    reduction, name : see `Loss`
    """

    name = "huber_loss"
    _kind = "huber"

    def __init__(self, delta: float = 1.0, reduction: str | None = "mean", name: str | None = None):
        super().__init__(reduction, name)
        self.delta = _check_float(delta, "delta", 0.0, lo_open=True)

    def _params(self):
        return self.delta, 0.0

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(_Elementwise):
    """Logarithm of the hyperbolic cosine of the error.

    Formula (x = y_pred - y_true)::

        loss = mean(log(cosh(x)), axis=-1)       gradient tanh(x) / k

    evaluated as ``|x| + log1p(exp(-2|x|)) - log(2)`` for ``|x| >= 1`` (never overflows)
    and as log1p(u**2 / (2 (1 + u))), ``u = expm1(|x|)``, below (no cancellation for
    tiny errors).
    """

    name = "log_cosh"
    _kind = "log_cosh"


class MeanSquaredLogarithmicError(_Elementwise):
    """Mean squared logarithmic error (Keras's formula, clipped at epsilon 1e-7).

    Formula::

        loss = mean((log1p(max(y_pred, 1e-7)) - log1p(max(y_true, 1e-7))) ** 2, axis=-1)

    The gradient is that of the clipped value: 0 where y_pred < 1e-7.
    """

    name = "mean_squared_logarithmic_error"
    _kind = "mean_squared_logarithmic_error"


class Poisson(_Elementwise):
    """Poisson loss (negative log-likelihood up to a constant), Keras's formula.

    Formula::

        loss = mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)

    Targets are counts (>= 0); predictions must be > -1e-7 (use an exponential or
    softplus output), otherwise the loss is NaN, as in Keras.
    """

    name = "poisson"
    _kind = "poisson"

    def check_targets(self, y, n_outputs, dtype, name="y"):
        t = _regression_targets(y, n_outputs, dtype, name)
        _check_range(t, name, 0.0, None, "Poisson targets (counts)")
        return t


class AsymmetricLoss(_Elementwise):
    """Piecewise-linear cost of forecast errors: over- and under-prediction priced apart.

    Predicting too high costs `over_cost` per unit, too low `under_cost` per
    unit (the sales-forecast example: an unsold item costs 1, a missed sale 9,
    so the model learns to predict the 90% quantile).

    Formula (x = y_pred - y_true)::

        e(x) = over_cost * max(x, 0) + under_cost * max(-x, 0)
        loss = mean(e(x), axis=-1)
        gradient: over_cost (x > 0), -under_cost (x < 0), 0 (x = 0), over k

    Parameters
    ----------
    over_cost, under_cost : float >= 0, finite, not both 0 (default 1, 1: MAE)
    reduction, name : see `Loss`
    """

    name = "asymmetric_loss"
    _kind = "asymmetric"

    def __init__(self, over_cost: float = 1.0, under_cost: float = 1.0, reduction: str | None = "mean",
                 name: str | None = None):
        super().__init__(reduction, name)
        self.over_cost = _check_float(over_cost, "over_cost", 0.0, what="a finite cost >= 0")
        self.under_cost = _check_float(under_cost, "under_cost", 0.0, what="a finite cost >= 0")
        if self.over_cost == 0 and self.under_cost == 0:
            raise ValueError("over_cost, under_cost: expected at least one cost > 0, got 0 and 0")

    def _params(self):
        return self.over_cost, self.under_cost

    def get_config(self):
        return {**super().get_config(), "over_cost": self.over_cost, "under_cost": self.under_cost}


class Pinball(AsymmetricLoss):
    """Pinball (quantile) loss: AsymmetricLoss(over_cost=1 - quantile, under_cost=quantile).

    Minimising it makes the prediction the `quantile` of the target's
    conditional distribution.

    Formula (x = y_pred - y_true, q = quantile)::

        loss = mean((1 - q) * max(x, 0) + q * max(-x, 0), axis=-1)

    Parameters
    ----------
    quantile : float in (0, 1), default 0.5 (half the mean absolute error)
    reduction, name : see `Loss`
    """

    name = "pinball_loss"

    def __init__(self, quantile: float = 0.5, reduction: str | None = "mean", name: str | None = None):
        q = _check_float(quantile, "quantile", 0.0, 1.0, lo_open=True, hi_open=True)
        super().__init__(1.0 - q, q, reduction, name)
        self.quantile = q

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "quantile": self.quantile}


class BinaryCrossentropy(_Elementwise):
    """Binary cross-entropy for binary and multi-label targets in [0, 1].

    Formula (per element; t' = t (1 - label_smoothing) + label_smoothing / 2)::

        from_logits=True:   e = max(z, 0) - z t' + log1p(exp(-|z|)),  gradient sigmoid(z) - t'
        from_logits=False:  p' = clip(p, 1e-7, 1 - 1e-7)
                            e = -(t' log(p') + (1 - t') log(1 - p'))
        loss = mean(e, axis=-1)

    From logits it is stable for ``|z|`` up to 1e4 in float32. From probabilities
    (the Keras default; the last layer applies sigmoid) the gradient is that of
    the clipped value. Targets (n, outputs), or (n,) for one output. `predict`
    applies sigmoid to logits. Accuracy is Keras's binary_accuracy: the fraction
    of elements with (output > threshold) == (target > 0.5), threshold 0 for
    logits and 0.5 for probabilities.

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float in [0, 1]
    axis : -1
    reduction, name : see `Loss`
    """

    name = "binary_crossentropy"
    counts_correct = True
    single_label = False  # several outputs are independent labels

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "mean", name: str | None = None):
        super().__init__(reduction, name)
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
        self.axis = _check_axis(axis)
        self._kind = "binary_crossentropy_logits" if self.from_logits else "binary_crossentropy_probs"

    def _params(self):
        return self.label_smoothing, 0.0

    def check_targets(self, y, n_outputs, dtype, name="y"):
        t = _regression_targets(y, n_outputs, dtype, name)
        _check_range(t, name, 0.0, 1.0, "binary targets in")
        return t

    def transform_output(self, out, n):
        if self.from_logits:
            ops.sigmoid_rows(out, n)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class KLDivergence(_Elementwise):
    """Kullback-Leibler divergence of the predicted distribution from the target's.

    Formula (Keras: both clipped to [1e-7, 1])::

        loss = sum(t * log(t / p), axis=-1),   t = clip(y_true), p = clip(y_pred)

    A sum over the outputs, not a mean (torch's kl_div with reduction="batchmean"
    is this loss's "mean"). Targets in [0, 1]; the gradient -t / p is 0 where p
    is clipped.
    """

    name = "kl_divergence"
    _kind = "kl_divergence"

    def check_targets(self, y, n_outputs, dtype, name="y"):
        t = _regression_targets(y, n_outputs, dtype, name)
        _check_range(t, name, 0.0, 1.0, "target probabilities in")
        return t


class _HingeBase(_Elementwise):
    counts_correct = True
    single_label = False

    def check_targets(self, y, n_outputs, dtype, name="y"):
        # Keras converts labels in {0, 1} to {-1, 1}; done here once for the whole
        # set (the same result as Keras's per-batch test). Other values are refused.
        t = _regression_targets(y, n_outputs, dtype, name)
        if t.size == 0:
            return t
        if t.min() >= 0:
            bad = (t != 0) & (t != 1)
            if not bad.any():
                return np.ascontiguousarray(2 * t - 1, dtype=dtype)
        else:
            bad = np.abs(t) != 1
            if not bad.any():
                return t
        raise ValueError(f"{name}: expected hinge labels in {{0, 1}} or {{-1, 1}}, got {_first_bad(t, bad)}")


class Hinge(_HingeBase):
    """Hinge loss (Keras's formula).

    Formula (labels t in {-1, 1}; labels in {0, 1} are converted to {-1, 1})::

        loss = mean(max(1 - t * y_pred, 0), axis=-1)

    Accuracy is binary: sign of the output against the label.
    """

    name = "hinge"
    _kind = "hinge"


class SquaredHinge(_HingeBase):
    """Squared hinge loss (Keras's formula).

    Formula (labels t in {-1, 1}; labels in {0, 1} are converted to {-1, 1})::

        loss = mean(max(1 - t * y_pred, 0) ** 2, axis=-1)
    """

    name = "squared_hinge"
    _kind = "squared_hinge"


# -- lookup and serialization ------------------------------------------------------------------

_CLASSES = {cls.__name__: cls for cls in (
    SoftmaxCrossEntropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError,
    MeanAbsoluteError, Huber, LogCosh, MeanSquaredLogarithmicError, Poisson, AsymmetricLoss, Pinball,
    BinaryCrossentropy, KLDivergence, Hinge, SquaredHinge)}

_ALIASES = {
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "log_cosh": LogCosh, "logcosh": LogCosh,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge,
    "poisson": Poisson,
}


def names() -> list[str]:
    """The loss names `get` accepts."""
    return sorted(_ALIASES)


def serialize(loss: Loss) -> dict[str, Any]:
    """{"class_name": ..., "config": ...} of a loss (saved with a model)."""
    if not isinstance(loss, Loss):
        raise ValueError(f"loss: expected a Loss, got {loss!r}")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict[str, Any] | str,
                custom_objects: dict[str, type] | None = None) -> Loss:
    """A loss from `serialize`'s output (or a name); custom classes come from custom_objects."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"config: expected {{'class_name': str, 'config': dict}}, got {config!r}")
    classes = {**_CLASSES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise ValueError(f"config: unknown loss class {config['class_name']!r}; expected one of "
                         f"{sorted(classes)} (pass custom losses in custom_objects)")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ValueError(f"config['config']: expected a dict, got {inner!r}")
    return cls.from_config(inner)


def get(loss: str | dict | Loss) -> Loss:
    """A Loss instance from a name, a serialized dict, a Loss class or an instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _ALIASES:
        return _ALIASES[loss]()
    if isinstance(loss, dict):
        return deserialize(loss)
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    raise ValueError(f"loss: expected a Loss or one of {names()}, got {loss!r}")
