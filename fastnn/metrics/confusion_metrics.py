"""Metrics from weighted confusion counts: Precision, Recall, FBetaScore, F1Score.

One kernel pass per batch (src_c/metrics.pyx, confusion_update) adds the
weighted counts of true positives (TP), predicted positives (PP = TP + FP)
and actual positives (AP = TP + FN) per threshold and class; `result()`
divides them, so no count is ever a difference of two sums. A prediction is
positive when it is strictly greater than the threshold, a target when it is
> 0.5 (or, for integer labels, in its label's column: labels with k > 1
columns are read as one-hot rows).

Undefined ratios (0 / 0: no predicted positives for precision, no actual
positives for recall) are 0.0, as in Keras and as scikit-learn's default
``zero_division`` gives them (without its warning).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from fastnn import ops
from fastnn._validation import check_int
from fastnn.metrics.accuracy_metrics import check_threshold
from fastnn.metrics.base import Metric

_TP, _PP, _AP = ops.CONFUSION_ROWS["tp"], ops.CONFUSION_ROWS["predicted"], ops.CONFUSION_ROWS["actual"]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den == 0 (Keras's divide_no_nan)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


class _ConfusionMetric(Metric):
    """Sums per threshold and class in self._acc (T, 3, k); micro-averaged over classes."""

    targets = "classes"

    def __init__(self, thresholds: float | Sequence[float] | None = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None):
        super().__init__(name)
        if top_k is not None:
            top_k = check_int(top_k, "top_k", minimum=1)
        if class_id is not None:
            class_id = check_int(class_id, "class_id", minimum=0)
        self.top_k, self.class_id = top_k, class_id
        if thresholds is None:
            # Keras: 0.5, or every top-k score when top_k is set.
            values, self._single = [0.5 if top_k is None else -math.inf], True
        elif isinstance(thresholds, (list, tuple, np.ndarray)):
            values = [check_threshold(v, "thresholds") for v in np.asarray(thresholds, dtype=object).ravel()]
            if not values:
                raise ValueError("thresholds: expected a float or a non-empty list of floats, got []")
            self._single = False
            thresholds = list(values)
        else:
            values, self._single = [check_threshold(thresholds, "thresholds")], True
            thresholds = values[0]
        self.thresholds = thresholds
        self._thr = np.array(values, dtype=np.float64)

    def _check_columns(self, k):
        if self.class_id is not None and self.class_id >= k:
            raise ValueError(f"class_id: expected a class index in [0, {k}) for y_pred with {k} columns, "
                             f"got {self.class_id}")

    def _build(self, k):
        self._acc = np.zeros((len(self._thr), 3, k))

    def _reset(self):
        self._acc.fill(0.0)

    def _update(self, t, p, w):
        ops.metric_confusion_update(t, p, w, self._thr, self._acc, p.shape[0], self.top_k or 0)

    def _cells(self) -> np.ndarray:
        """(T, 3) sums (TP, PP, AP): one class (class_id) or summed over classes (micro)."""
        if self.class_id is not None:
            return self._acc[:, :, self.class_id]
        return self._acc.sum(axis=2)

    def _value(self, cells: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def result(self) -> float | np.ndarray:
        if not self._seen:
            return 0.0 if self._single else np.zeros(len(self._thr))
        values = self._value(self._cells())
        return float(values[0]) if self._single else values

    def get_config(self):
        return {"name": self.name, "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """The fraction of positive predictions that are right.

    Formula (weighted counts over every element, or over one class with class_id)::

        precision = TP / (TP + FP)          (0.0 when TP + FP = 0)

    Parameters
    ----------
    thresholds : float or list of floats, optional
        A prediction is positive when strictly greater. Default 0.5 (with
        top_k: every top-k prediction). A list gives one precision per
        threshold (result() returns an array).
    top_k : int >= 1, optional
        Only the row's top_k predictions (ties by lower class index, as Keras)
        may be positive.
    class_id : int, optional
        Count only this class's column (else all columns: micro average).
    name : str, default "precision"
    """

    name = "precision"

    def _value(self, cells):
        return _ratio(cells[:, _TP], cells[:, _PP])


class Recall(_ConfusionMetric):
    """The fraction of actual positives that are predicted positive.

    Formula::

        recall = TP / (TP + FN)             (0.0 when TP + FN = 0)

    Parameters
    ----------
    thresholds, top_k, class_id : see `Precision`
    name : str, default "recall"
    """

    name = "recall"

    def _value(self, cells):
        return _ratio(cells[:, _TP], cells[:, _AP])


_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """F-beta score: the weighted harmonic mean of precision and recall, per class or averaged.

    Formula (weighted counts per class j; b2 = beta**2)::

        F_j = (1 + b2) TP_j / ((1 + b2) TP_j + b2 FN_j + FP_j)     (0.0 when 0 / 0)
            = (1 + b2) TP_j / (b2 AP_j + PP_j)     (AP: actual positives, PP: predicted positives)

        average=None:       the array (F_1, ..., F_k)
        average="macro":    mean_j F_j
        average="weighted": sum_j s_j F_j / sum_j s_j,  s_j = AP_j (weighted support)
        average="micro":    F of the counts summed over classes

    which equals precision/recall's form (1 + b2) P R / (b2 P + R) without
    Keras's epsilon in the divisions (so it matches scikit-learn's
    ``fbeta_score`` exactly).

    Predictions: with ``threshold=None`` the row's argmax is the one positive
    class (multi-class; the first maximum on ties, where Keras marks every
    tied maximum); with a threshold every prediction strictly above it is
    positive (multi-label). Targets: integer labels (n,) or rows (n, k).

    Parameters
    ----------
    average : {None, "micro", "macro", "weighted"}, default None
    beta : float > 0, default 1.0
    threshold : float, optional
    name : str, default "fbeta_score"
    """

    name = "fbeta_score"
    targets = "classes"

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str | None = None):
        super().__init__(name)
        if average not in _AVERAGES:
            raise ValueError(f"average: expected one of None, 'micro', 'macro', 'weighted', got {average!r}")
        beta = check_threshold(beta, "beta")
        if beta <= 0:
            raise ValueError(f"beta: expected a float > 0, got {beta!r}")
        self.average, self.beta = average, beta
        self.threshold = None if threshold is None else check_threshold(threshold)
        self._thr = np.array([0.0 if threshold is None else self.threshold])

    def _build(self, k):
        self._acc = np.zeros((1, 3, k))

    def _reset(self):
        self._acc.fill(0.0)

    def _update(self, t, p, w):
        ops.metric_confusion_update(t, p, w, self._thr, self._acc, p.shape[0], 0, self.threshold is None)

    def result(self) -> float | np.ndarray:
        if not self._seen:
            return 0.0
        tp, pp, ap = self._acc[0, _TP], self._acc[0, _PP], self._acc[0, _AP]
        b2 = self.beta ** 2
        if self.average == "micro":
            tp, pp, ap = tp.sum(), pp.sum(), ap.sum()
        # (1 + b2) TP / ((1 + b2) TP + b2 FN + FP), with FN = AP - TP and FP = PP - TP.
        f = _ratio((1 + b2) * tp, b2 * ap + pp)
        if self.average is None:
            return f
        if self.average == "weighted":
            support = ap
            total = support.sum()
            return float(f @ support / total) if total > 0 else 0.0
        return float(np.mean(f))

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score: FBetaScore with beta = 1, 2 P R / (P + R).

    Formula (per class j)::

        F1_j = 2 TP_j / (2 TP_j + FN_j + FP_j)           (0.0 when 0 / 0)

    Parameters
    ----------
    average : {None, "micro", "macro", "weighted"}, default None
        None returns one score per class (an array: give an average to
        monitor it with EarlyStopping).
    threshold : float, optional
        None: the argmax is the predicted class; else predictions > threshold.
    name : str, default "f1_score"
    """

    name = "f1_score"

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str | None = None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        return {"name": self.name, "average": self.average, "threshold": self.threshold}
