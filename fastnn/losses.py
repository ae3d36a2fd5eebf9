"""Losses: value and gradient w.r.t. the network output in one fused kernel.

A loss also decides how targets are read (integer labels or one-hot rows for
cross-entropy, real values for regression) and what `predict` returns
(probabilities for cross-entropy, raw outputs for regression).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import ops
from fastnn._validation import as_float_array, as_labels, as_ndarray


class Loss:
    """Base class. Subclasses implement `check_targets` and `value_and_grad`."""

    name = "loss"
    counts_correct = False  # whether value_and_grad also counts correct argmax predictions

    def check_targets(self, y: Any, n_outputs: int, dtype: np.dtype, name: str = "y") -> np.ndarray:
        """Validate targets for a model with n_outputs outputs; return a C-contiguous array."""
        raise NotImplementedError

    def value_and_grad(self, out: np.ndarray, targets: np.ndarray, grad: np.ndarray | None,
                       n: int) -> tuple[float, int]:
        """Mean loss over the first n rows, and the count of correct predictions
        (0 when not counted); writes d(mean loss)/d(out) into grad unless None."""
        raise NotImplementedError

    def transform_output(self, out: np.ndarray, n: int) -> None:
        """Turn the first n rows of the network output into predictions, in place."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        """Mean loss of predictions (the network output) against targets."""
        y_pred = as_float_array(y_pred, "y_pred", ndim=2)
        targets = self.check_targets(y_true, y_pred.shape[1], y_pred.dtype, "y_true")
        if len(targets) != len(y_pred):
            raise ValueError(f"y_true: expected {len(y_pred)} rows like y_pred, got {len(targets)}")
        return self.value_and_grad(y_pred, targets, None, len(y_pred))[0]

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy from logits (the last layer stays linear).

    Formula (per sample, logits z, class k or target distribution t)::

        loss = logsumexp(z) - z[k]            (integer label k)
        loss = sum_j t_j * (logsumexp(z) - z_j)  (one-hot / soft targets t)

    computed with the row maximum subtracted, so it never overflows; the
    gradient softmax(z) - t comes out of the same pass. Targets are integer
    class labels of shape (n,) or one-hot rows of shape (n, classes).
    `predict` returns class probabilities.
    """

    name = "softmax_cross_entropy"
    counts_correct = True

    def check_targets(self, y, n_outputs, dtype, name="y"):
        y_arr = as_ndarray(y, name)
        if y_arr.ndim == 2 and y_arr.shape[1] != 1:
            if y_arr.shape[1] != n_outputs:
                raise ValueError(f"{name}: expected one-hot rows of {n_outputs} classes, "
                                 f"got shape {y_arr.shape}")
            return as_float_array(y_arr, name, ndim=2, dtype=dtype)
        return as_labels(y_arr, name, n_outputs)

    def value_and_grad(self, out, targets, grad, n):
        scale = 1.0 / n if n else 0.0
        if targets.ndim == 1:
            total, correct = ops.softmax_xent_sparse(out, targets, grad, n, scale)
        else:
            total, correct = ops.softmax_xent_dense(out, targets, grad, n, scale)
        return total * scale, correct

    def transform_output(self, out, n):
        ops.softmax_rows(out, n)


class MeanSquaredError(Loss):
    """Mean squared error, averaged over outputs and samples (Keras and torch's mean).

    Formula::

        loss = mean((y_pred - y_true) ** 2)

    Targets have shape (n, outputs), or (n,) for one output.
    """

    name = "mean_squared_error"

    def check_targets(self, y, n_outputs, dtype, name="y"):
        y_arr = as_ndarray(y, name)
        if y_arr.ndim == 1 and n_outputs == 1:
            y_arr = y_arr.reshape(-1, 1)
        y_arr = as_float_array(y_arr, name, ndim=2, dtype=dtype)
        if y_arr.shape[1] != n_outputs:
            raise ValueError(f"{name}: expected {n_outputs} target columns, got shape {y_arr.shape}")
        return y_arr

    def value_and_grad(self, out, targets, grad, n):
        scale = 1.0 / (n * out.shape[1]) if n else 0.0
        return ops.mse(out, targets, grad, n, scale) * scale, 0


_ALIASES = {
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(loss: str | Loss) -> Loss:
    """A Loss instance from a name or an instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _ALIASES:
        return _ALIASES[loss]()
    raise ValueError(f"loss: expected a Loss or one of {sorted(_ALIASES)}, got {loss!r}")
