"""Regression metrics: mean absolute / squared error, its root, and R2.

The error metrics are weighted means of per-sample errors averaged over the
outputs (Keras's reduction), accumulated in float64 by one kernel pass per
batch (src_c/metrics.pyx, mean_error_update)::

    MAE  = sum_i w_i mean_j |p_ij - t_ij|   / sum_i w_i
    MSE  = sum_i w_i mean_j (p_ij - t_ij)^2 / sum_i w_i
    RMSE = sqrt(MSE)

For one output these are scikit-learn's ``mean_absolute_error``,
``mean_squared_error`` and ``root_mean_squared_error``; for several outputs
MAE and MSE equal scikit-learn's uniform average, and RMSE is the root of the
pooled MSE (Keras's), not scikit-learn's mean of per-output roots.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fastnn import ops
from fastnn._validation import check_int
from fastnn.metrics.base import MeanSumMetric, Metric

_ERRORS = ops.METRIC_ERROR_KINDS


class MeanAbsoluteError(MeanSumMetric):
    """Mean absolute error: ``sum_i w_i mean_j |y_pred_ij - y_true_ij| / sum_i w_i``.

    Parameters
    ----------
    name : str, default "mean_absolute_error"
    """

    name = "mean_absolute_error"
    direction = "down"

    def _update(self, t, p, w):
        ops.metric_mean_error_update(_ERRORS["absolute"], t, p, w, self._acc, p.shape[0])


class MeanSquaredError(MeanSumMetric):
    """Mean squared error: sum_i w_i mean_j (y_pred_ij - y_true_ij)^2 / sum_i w_i.

    Parameters
    ----------
    name : str, default "mean_squared_error"
    """

    name = "mean_squared_error"
    direction = "down"

    def _update(self, t, p, w):
        ops.metric_mean_error_update(_ERRORS["squared"], t, p, w, self._acc, p.shape[0])


class RootMeanSquaredError(MeanSquaredError):
    """Root mean squared error: sqrt(MeanSquaredError) over every batch since the reset.

    Parameters
    ----------
    name : str, default "root_mean_squared_error"
    """

    name = "root_mean_squared_error"

    def result(self) -> float:
        return math.sqrt(super().result())


_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """Coefficient of determination, per output or aggregated (Keras's R2Score).

    Formula (per output j, weighted; mean_j the weighted mean of y_true[:, j])::

        SS_res_j = sum_i w_i (y_true_ij - y_pred_ij)^2
        SS_tot_j = sum_i w_i (y_true_ij - mean_j)^2
        R2_j = 1 - SS_res_j / SS_tot_j      (SS_tot_j = 0: 1.0 if SS_res_j = 0 else 0.0)

        class_aggregation="uniform_average":           mean_j R2_j
        class_aggregation="variance_weighted_average": sum_j SS_tot_j R2_j / sum_j SS_tot_j
        class_aggregation=None:                        the array (R2_1, ..., R2_k)

    and, with p = num_regressors > 0 and n samples, the adjusted score
    1 - (1 - R2) (n - 1) / (n - p - 1) (R2 unadjusted, with a warning, when
    n - p - 1 <= 0). This is scikit-learn's ``r2_score`` (force_finite=True)
    with ``multioutput`` "uniform_average", "variance_weighted" and
    "raw_values". SS_tot is accumulated batch by batch with the pairwise
    update of Chan, Golub and LeVeque, so targets with a large mean lose no
    precision. n counts samples (rows); Keras counts elements, the same for
    one output.

    Parameters
    ----------
    class_aggregation : {"uniform_average", "variance_weighted_average", None}
    num_regressors : int >= 0, default 0
    name : str, default "r2_score"
    """

    name = "r2_score"

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = None):
        super().__init__(name)
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(f"class_aggregation: expected one of 'uniform_average', "
                             f"'variance_weighted_average' or None, got {class_aggregation!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = check_int(num_regressors, "num_regressors", minimum=0)
        self._rows = 0

    def _build(self, k):
        self._acc = np.zeros((ops.R2_ACC_ROWS, k))
        self._work = np.zeros((ops.R2_WORK_ROWS, k))
        self._rows = 0

    def _reset(self):
        self._acc.fill(0.0)
        self._rows = 0

    def _update(self, t, p, w):
        n = p.shape[0]
        ops.metric_r2_update(t, p, w, self._acc, self._work, n)
        self._rows += n

    def result(self) -> float | np.ndarray:
        if not self._seen:
            return 0.0
        ss_tot, ss_res = self._acc[2], self._acc[3]
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
        if self.class_aggregation is None:
            score = raw
        elif self.class_aggregation == "variance_weighted_average" and np.any(ss_tot > 0):
            score = float(raw @ ss_tot / ss_tot.sum())
        else:  # uniform, or variance-weighted with no variance at all (scikit-learn falls back too)
            score = float(np.mean(raw))
        p, n = self.num_regressors, self._rows
        if p:
            if n - p - 1 <= 0:
                warnings.warn(f"{self.name}: the adjusted R2 needs more samples than num_regressors + 1 "
                              f"(got {n} samples, {p} regressors); returning the unadjusted R2",
                              RuntimeWarning, stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1) / (n - p - 1)
        return score

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
