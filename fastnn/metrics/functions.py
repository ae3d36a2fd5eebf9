"""Every metric as a plain function on numpy arrays: one batch in, the value out.

Each function builds the metric object, adds the whole input as one batch
and returns ``result()``, so a function and its class always agree. Unlike
Keras's metric functions (which return per-sample values), these return the
(weighted) mean over the samples, as scikit-learn's do. Inputs are fully
validated (finite values, weights >= 0, labels in range, matching shapes).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fastnn.metrics.accuracy_metrics import (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from fastnn.metrics.base import Metric
from fastnn.metrics.confusion_metrics import FBetaScore, Precision, Recall
from fastnn.metrics.probabilistic_metrics import (
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
from fastnn.metrics.ranking_metrics import AUC
from fastnn.metrics.regression_metrics import (
    MeanAbsoluteError, MeanSquaredError, R2Score, RootMeanSquaredError)


def evaluate(metric: Metric, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float | np.ndarray:
    """metric's value on one batch, with full validation (the metric is not reset first)."""
    t, p, w = metric._read(y_true, y_pred, sample_weight, strict=True)
    if p.shape[0] == 0:
        raise ValueError("y_pred: expected at least one sample, got 0 rows")
    metric._add(t, p, w)
    return metric.result()


# -- accuracy ----------------------------------------------------------------------------------

def accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Binary accuracy for one column, categorical accuracy otherwise (see `Accuracy`)."""
    return evaluate(Accuracy(), y_true, y_pred, sample_weight)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5, sample_weight: Any = None) -> float:
    """mean over samples of mean_j [(y_pred_ij > threshold) == (y_true_ij > 0.5)] (see `BinaryAccuracy`)."""
    return evaluate(BinaryAccuracy(threshold), y_true, y_pred, sample_weight)


def categorical_accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Fraction of rows whose argmax is the label (labels or one-hot rows; see `CategoricalAccuracy`)."""
    return evaluate(CategoricalAccuracy(), y_true, y_pred, sample_weight)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """categorical_accuracy under Keras's name for integer labels."""
    return evaluate(SparseCategoricalAccuracy(), y_true, y_pred, sample_weight)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5, sample_weight: Any = None) -> float:
    """Fraction of rows whose label is among the k highest scores (see `TopKCategoricalAccuracy`)."""
    return evaluate(TopKCategoricalAccuracy(k), y_true, y_pred, sample_weight)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5,
                                      sample_weight: Any = None) -> float:
    """top_k_categorical_accuracy under Keras's name for integer labels."""
    return evaluate(SparseTopKCategoricalAccuracy(k), y_true, y_pred, sample_weight)


# -- confusion-count metrics -------------------------------------------------------------------

def precision(y_true: Any, y_pred: Any, thresholds: float | Sequence[float] | None = None,
              top_k: int | None = None, class_id: int | None = None,
              sample_weight: Any = None) -> float | np.ndarray:
    """TP / (TP + FP) over every element (or class_id's column); see `Precision`."""
    return evaluate(Precision(thresholds, top_k, class_id), y_true, y_pred, sample_weight)


def recall(y_true: Any, y_pred: Any, thresholds: float | Sequence[float] | None = None,
           top_k: int | None = None, class_id: int | None = None,
           sample_weight: Any = None) -> float | np.ndarray:
    """TP / (TP + FN) over every element (or class_id's column); see `Recall`."""
    return evaluate(Recall(thresholds, top_k, class_id), y_true, y_pred, sample_weight)


def fbeta_score(y_true: Any, y_pred: Any, average: str | None = None, beta: float = 1.0,
                threshold: float | None = None, sample_weight: Any = None) -> float | np.ndarray:
    """F-beta per class or averaged (see `FBetaScore`)."""
    return evaluate(FBetaScore(average, beta, threshold), y_true, y_pred, sample_weight)


def f1_score(y_true: Any, y_pred: Any, average: str | None = None, threshold: float | None = None,
             sample_weight: Any = None) -> float | np.ndarray:
    """F1 per class or averaged (see `F1Score`): threshold None takes the argmax as the prediction."""
    return evaluate(FBetaScore(average, 1.0, threshold), y_true, y_pred, sample_weight)


# -- ranking -----------------------------------------------------------------------------------

def roc_auc(y_true: Any, y_score: Any, multi_label: bool = False,
            label_weights: Sequence[float] | None = None, sample_weight: Any = None) -> float:
    """Exact area under the ROC curve (scikit-learn's roc_auc_score; see `AUC`).

    One column: binary. Several: micro average (multi_label=False) or the
    mean of per-column AUCs (multi_label=True). NaN, with an
    UndefinedMetricWarning, when a curve lacks positives or negatives.
    """
    return evaluate(AUC("ROC", multi_label, label_weights=label_weights), y_true, y_score, sample_weight)


def pr_auc(y_true: Any, y_score: Any, multi_label: bool = False,
           label_weights: Sequence[float] | None = None, sample_weight: Any = None) -> float:
    """Average precision, the step-wise area under the PR curve (scikit-learn's
    average_precision_score; see `AUC`). 0.0, with a warning, without positives."""
    return evaluate(AUC("PR", multi_label, label_weights=label_weights), y_true, y_score, sample_weight)


average_precision = pr_auc


# -- log loss ----------------------------------------------------------------------------------

def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                        sample_weight: Any = None) -> float:
    """Mean binary cross-entropy (see `BinaryCrossentropy`)."""
    return evaluate(BinaryCrossentropy(from_logits, label_smoothing), y_true, y_pred, sample_weight)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, sample_weight: Any = None) -> float:
    """Mean categorical cross-entropy of rows (see `CategoricalCrossentropy`)."""
    return evaluate(CategoricalCrossentropy(from_logits, label_smoothing), y_true, y_pred, sample_weight)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    sample_weight: Any = None) -> float:
    """Mean categorical cross-entropy with integer labels (see `SparseCategoricalCrossentropy`)."""
    return evaluate(SparseCategoricalCrossentropy(from_logits), y_true, y_pred, sample_weight)


# -- regression --------------------------------------------------------------------------------

def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """``sum_i w_i mean_j |y_pred_ij - y_true_ij| / sum_i w_i``."""
    return evaluate(MeanAbsoluteError(), y_true, y_pred, sample_weight)


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """sum_i w_i mean_j (y_pred_ij - y_true_ij)^2 / sum_i w_i."""
    return evaluate(MeanSquaredError(), y_true, y_pred, sample_weight)


def root_mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """sqrt(mean_squared_error) (pooled over outputs, as Keras)."""
    return evaluate(RootMeanSquaredError(), y_true, y_pred, sample_weight)


def r2_score(y_true: Any, y_pred: Any, class_aggregation: str | None = "uniform_average",
             num_regressors: int = 0, sample_weight: Any = None) -> float | np.ndarray:
    """Coefficient of determination (scikit-learn's r2_score; see `R2Score`)."""
    return evaluate(R2Score(class_aggregation, num_regressors), y_true, y_pred, sample_weight)


mae = mean_absolute_error
mse = mean_squared_error
rmse = root_mean_squared_error
