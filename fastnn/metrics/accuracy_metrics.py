"""Accuracy metrics: binary, categorical (labels or one-hot rows), top-k, and Keras's "accuracy".

Each is a weighted mean of per-sample hits, over every batch since the last
reset::

    accuracy = sum_i w_i hit_i / sum_i w_i          (0.0 when sum_i w_i = 0)

counted by one kernel pass per batch (src_c/metrics.pyx, accuracy_update).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastnn import ops
from fastnn._validation import check_int
from fastnn.metrics.base import MeanSumMetric

_KINDS = ops.METRIC_ACCURACY_KINDS


def check_threshold(value: Any, name: str = "threshold") -> float:
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, (bool, np.bool_)) and math.isfinite(value))
    if not ok:
        raise ValueError(f"{name}: expected a finite float, got {value!r}")
    return float(value)


class BinaryAccuracy(MeanSumMetric):
    """How often binary (or multi-label) predictions match their targets.

    Formula (per sample, k outputs)::

        hit_i = mean_j [ (y_pred_ij > threshold) == (y_true_ij > 0.5) ]

    Targets are {0, 1} (or {-1, 1}) rows of y_pred's shape; with several
    outputs every element counts (Keras's binary_accuracy).

    Parameters
    ----------
    threshold : float, default 0.5
        A prediction is positive when strictly greater (use 0.0 for logits
        or hinge outputs).
    name : str, default "binary_accuracy"
    """

    name = "binary_accuracy"

    def __init__(self, threshold: float = 0.5, name: str | None = None):
        super().__init__(name)
        self.threshold = check_threshold(threshold)

    def _update(self, t, p, w):
        ops.metric_accuracy_update(_KINDS["binary"], t, p, w, self._acc, p.shape[0], self.threshold)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(MeanSumMetric):
    """How often the highest prediction is the target class.

    Formula::

        hit_i = [ argmax_j y_pred_ij == c_i ]

    c_i is the integer label, or argmax_j y_true_ij for one-hot rows (both are
    accepted). argmax takes the first maximum on ties (numpy and Keras).

    Parameters
    ----------
    name : str, default "categorical_accuracy"
    """

    name = "categorical_accuracy"
    targets = "classes"

    def _update(self, t, p, w):
        ops.metric_accuracy_update(_KINDS["categorical"], t, p, w, self._acc, p.shape[0])


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """CategoricalAccuracy under Keras's name for integer labels (rows are accepted too).

    Parameters
    ----------
    name : str, default "sparse_categorical_accuracy"
    """

    name = "sparse_categorical_accuracy"


class TopKCategoricalAccuracy(MeanSumMetric):
    """How often the target class is among the k highest predictions.

    Formula (c_i the label, or argmax of the one-hot row)::

        hit_i = [ #{j : y_pred_ij > y_pred_i,c_i} < k ]

    so classes tied with the k-th score all count as within the top k (Keras's
    ``in_top_k``; scikit-learn's ``top_k_accuracy_score`` breaks such ties by
    class index instead: the two differ only on exactly tied scores). k larger
    than the number of classes makes every sample a hit.

    Parameters
    ----------
    k : int >= 1, default 5
    name : str, default "top_k_categorical_accuracy"
    """

    name = "top_k_categorical_accuracy"
    targets = "classes"

    def __init__(self, k: int = 5, name: str | None = None):
        super().__init__(name)
        self.k = check_int(k, "k", minimum=1)

    def _update(self, t, p, w):
        ops.metric_accuracy_update(_KINDS["top_k"], t, p, w, self._acc, p.shape[0], 0.5, self.k)

    def get_config(self):
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """TopKCategoricalAccuracy under Keras's name for integer labels (rows are accepted too).

    Parameters
    ----------
    k : int >= 1, default 5
    name : str, default "sparse_top_k_categorical_accuracy"
    """

    name = "sparse_top_k_categorical_accuracy"


class Accuracy(MeanSumMetric):
    """Keras's ``metrics=["accuracy"]``: binary or categorical accuracy, chosen by shape.

    Per batch, as Keras's compile resolves the string "accuracy":

    * y_pred with one column: `BinaryAccuracy` (threshold 0.5);
    * otherwise: `CategoricalAccuracy` (integer labels or one-hot rows).

    A multi-label model (several sigmoid outputs) wants `BinaryAccuracy`
    instead: ``fastnn.metrics.get("accuracy", loss=...)`` picks it from the
    loss. (Not Keras's ``keras.metrics.Accuracy`` class, which counts exact
    equality of y_true and y_pred.)

    Parameters
    ----------
    name : str, default "accuracy"
    """

    name = "accuracy"
    targets = "classes"  # k = 1 reads values; k > 1 labels or rows

    def _update(self, t, p, w):
        kind = _KINDS["binary"] if p.shape[1] == 1 else _KINDS["categorical"]
        ops.metric_accuracy_update(kind, t, p, w, self._acc, p.shape[0], 0.5)
