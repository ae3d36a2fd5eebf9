"""AUC: exact area under the ROC curve or average precision, from the epoch's scores.

`AUC.update_state` copies the batch's scores, 0/1 labels and weights into
buffers kept for the epoch (one kernel pass, src_c/metrics.pyx,
ranking_append); the buffers grow by doubling, so an epoch costs O(log n)
allocations the first time and none afterwards (reset_state keeps them).
`result()` sorts the scores (numpy's argsort, O(n log n) once) and computes
the exact value, with ties handled as scikit-learn does: a group of tied
scores is one point of the curve.

With scores sorted in decreasing order and cut into groups of tied scores
g = 1..G, let TP_g and FP_g be the weighted counts of positives and negatives
scoring >= the g-th score, P = TP_G and N = FP_G. Then::

    ROC AUC = sum_g (FP_g - FP_{g-1}) / N * (TP_g + TP_{g-1}) / (2 P)     (trapezoids; TP_0 = FP_0 = 0)
    PR  AUC = sum_g (TP_g - TP_{g-1}) / P * TP_g / (TP_g + FP_g)         (average precision, step-wise)

equal to scikit-learn's ``roc_auc_score`` and ``average_precision_score``
(Keras's AUC is an approximation on num_thresholds fixed thresholds; this one
is exact, so it ranks models the way the exact value does).

Undefined cases follow scikit-learn (1.9): ROC AUC without positives or
without negatives (P = 0 or N = 0) is NaN; average precision without
positives is 0.0, with only positives 1.0; both with an UndefinedMetricWarning
when undefined. Before any batch the result is 0.0 (Keras).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fastnn import ops
from fastnn._validation import check_int
from fastnn.metrics.base import Metric, warn_undefined
from fastnn.losses import _check_bool

_INITIAL_ROWS = 256


def curve_value(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, curve: str,
                what: str = "auc") -> float:
    """Exact ROC AUC or average precision of one binary problem (1-D arrays, labels 0/1)."""
    order = np.argsort(scores, kind="stable")[::-1]
    s = scores[order]
    pos = labels[order].astype(bool)
    w = weights[order]
    tps = np.cumsum(np.where(pos, w, 0.0))
    fps = np.cumsum(np.where(pos, 0.0, w))
    # The last index of each group of tied scores.
    ends = np.append(np.flatnonzero(s[1:] != s[:-1]), len(s) - 1)
    tp, fp = tps[ends], fps[ends]
    p_total, n_total = tp[-1], fp[-1]
    if curve == "ROC":
        if p_total <= 0 or n_total <= 0:
            warn_undefined(f"{what}: ROC AUC is undefined without both positive and negative targets "
                           f"(positive weight {p_total:g}, negative weight {n_total:g}); returning nan "
                           f"as scikit-learn does")
            return float("nan")
        tpr = np.concatenate(([0.0], tp / p_total))
        fpr = np.concatenate(([0.0], fp / n_total))
        return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)
    if p_total <= 0:
        warn_undefined(f"{what}: average precision is undefined without positive targets; "
                       f"returning 0.0 as scikit-learn does")
        return 0.0
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    return float(np.sum(np.diff(tp, prepend=0.0) / p_total * precision))


class AUC(Metric):
    """Exact area under the ROC curve, or average precision (the PR curve), over the epoch.

    Formula: see the module docstring (scikit-learn's ``roc_auc_score`` and
    ``average_precision_score``, ties included).

    Labels and columns:

    * one column (binary): scores y_pred[:, 0], targets y_true > 0.5;
    * several columns, ``multi_label=False`` (the default, as Keras): every
      (sample, class) element is one point of a single curve (the micro
      average: scikit-learn's ``average="micro"``);
    * several columns, ``multi_label=True``: one curve per column, then their
      mean (the macro average: Keras's multi_label=True, scikit-learn's
      ``average="macro"``; a column without both classes makes ROC AUC NaN,
      as scikit-learn does);
    * integer labels with k > 1 columns are read as one-hot rows (one-vs-rest:
      with multi_label=True, scikit-learn's ``multi_class="ovr"``).

    Sample weights weigh every element of their row (scikit-learn's
    ``sample_weight``).

    Parameters
    ----------
    curve : {"ROC", "PR"}, default "ROC"
    multi_label : bool, default False
    num_labels : int, optional
        The number of columns, checked against y_pred when given (Keras builds
        its state from it; here the first batch does).
    label_weights : sequence of k floats >= 0, optional
        multi_label=True: the weights of the per-column mean; False: element
        weights of each column (Keras's meaning in both cases).
    from_logits : bool, default False
        Accepted for Keras compatibility: the AUC depends only on the order of
        the scores, which a sigmoid keeps, so logits and probabilities give the
        same value (logits avoid the ties of saturated probabilities).
    name : str, default "auc"

    Notes
    -----
    Memory: 8 bytes per score, 1 per label and 8 per row for the weights, for
    every sample of the epoch (a validation set of 1e6 rows and 10 classes
    holds ~98 MB).
    """

    name = "auc"
    targets = "classes"

    def __init__(self, curve: str = "ROC", multi_label: bool = False, num_labels: int | None = None,
                 label_weights: Sequence[float] | None = None, from_logits: bool = False,
                 name: str | None = None):
        super().__init__(name)
        if not isinstance(curve, str) or curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"curve: expected 'ROC' or 'PR', got {curve!r}")
        self.curve = curve.upper()
        self.multi_label = _check_bool(multi_label, "multi_label")
        self.from_logits = _check_bool(from_logits, "from_logits")
        if num_labels is not None:
            num_labels = check_int(num_labels, "num_labels", minimum=1)
        self.num_labels = num_labels
        self.label_weights = None
        if label_weights is not None:
            lw = np.asarray(label_weights, dtype=np.float64)
            if lw.ndim != 1 or lw.size == 0 or not np.all(np.isfinite(lw)) or np.any(lw < 0):
                raise ValueError(f"label_weights: expected a 1-D sequence of finite weights >= 0, got "
                                 f"{label_weights!r}")
            if num_labels is not None and lw.size != num_labels:
                raise ValueError(f"label_weights: expected {num_labels} weights (num_labels), got {lw.size}")
            self.label_weights = lw
        self._count = 0
        self._scores = self._labels = self._weights = None

    def _check_columns(self, k):
        if self.num_labels is not None and k != self.num_labels:
            raise ValueError(f"y_pred: expected {self.num_labels} columns (num_labels), got {k}")
        if self.label_weights is not None and k != self.label_weights.size:
            raise ValueError(f"y_pred: expected {self.label_weights.size} columns like label_weights, got {k}")

    def _build(self, k):
        self._count = 0
        self._allocate(_INITIAL_ROWS, k)

    def _allocate(self, rows: int, k: int) -> None:
        scores, labels, weights = np.empty((rows, k)), np.empty((rows, k), np.int8), np.empty(rows)
        if self._scores is not None and self._scores.shape[1] == k:
            m = self._count
            scores[:m], labels[:m], weights[:m] = self._scores[:m], self._labels[:m], self._weights[:m]
        self._scores, self._labels, self._weights = scores, labels, weights

    def _reset(self):
        self._count = 0

    def _update(self, t, p, w):
        n, need = p.shape[0], self._count + p.shape[0]
        if need > len(self._weights):
            # Doubling: amortized O(1) per row; later epochs reuse the buffers.
            self._allocate(max(need, 2 * len(self._weights)), p.shape[1])
        ops.metric_ranking_append(t, p, w, self._scores, self._labels, self._weights, self._count, n)
        self._count = need

    def result(self) -> float:
        m = self._count
        if not self._seen or m == 0:
            return 0.0
        scores, labels, weights = self._scores[:m], self._labels[:m], self._weights[:m]
        k = scores.shape[1]
        if k == 1 or not self.multi_label:
            elem_w = weights[:, None] if self.label_weights is None else weights[:, None] * self.label_weights
            elem_w = np.broadcast_to(elem_w, (m, k)).ravel()
            return curve_value(scores.ravel(), labels.ravel(), elem_w, self.curve, self.name)
        values = np.array([curve_value(scores[:, j], labels[:, j], weights, self.curve,
                                       f"{self.name} (label {j})") for j in range(k)])
        if self.label_weights is None:
            return float(np.mean(values))
        total = self.label_weights.sum()
        return float(values @ self.label_weights / total) if total > 0 else 0.0

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "curve": self.curve, "multi_label": self.multi_label,
                "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                "from_logits": self.from_logits}
