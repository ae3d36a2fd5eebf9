"""Metrics: stateful objects for a model's logs, and plain functions on numpy arrays.

Stateful, as in Keras: ``m.update_state(y_true, y_pred, sample_weight=None)``
per batch (one kernel pass that adds counts and sums to preallocated float64
accumulators), ``m.result()`` at the end of the epoch, ``m.reset_state()``
before the next one. As functions, on whole arrays::

    fastnn.metrics.roc_auc(y_true, y_score)
    fastnn.metrics.f1_score(labels, proba, average="macro")

By name in ``model.compile(metrics=[...])`` (Keras's names; the name given is
the key in the logs): "accuracy"/"acc", "binary_accuracy",
"categorical_accuracy", "sparse_categorical_accuracy",
"top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc",
"precision", "recall", "f1_score", "fbeta_score", "binary_crossentropy",
"categorical_crossentropy", "sparse_categorical_crossentropy",
"mae"/"mean_absolute_error", "mse"/"mean_squared_error",
"rmse"/"root_mean_squared_error", "r2_score".

How inputs are read (labels, rows, weights, positives) is described in
`fastnn.metrics.base`; every metric's docstring writes out its formula.
"""
from __future__ import annotations

from typing import Any

from fastnn import losses as _losses
from fastnn.metrics.accuracy_metrics import (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from fastnn.metrics.base import MeanMetricWrapper, Metric, UndefinedMetricWarning
from fastnn.metrics.confusion_metrics import F1Score, FBetaScore, Precision, Recall
from fastnn.metrics.functions import (
    accuracy, average_precision, binary_accuracy, binary_crossentropy, categorical_accuracy,
    categorical_crossentropy, f1_score, fbeta_score, mae, mean_absolute_error, mean_squared_error,
    mse, pr_auc, precision, r2_score, recall, rmse, roc_auc, root_mean_squared_error,
    sparse_categorical_accuracy, sparse_categorical_crossentropy, sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy)
from fastnn.metrics.probabilistic_metrics import (
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
from fastnn.metrics.ranking_metrics import AUC
from fastnn.metrics.regression_metrics import (
    MeanAbsoluteError, MeanSquaredError, R2Score, RootMeanSquaredError)

_CLASSES: dict[str, type[Metric]] = {cls.__name__: cls for cls in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, Precision, Recall, FBetaScore, F1Score, AUC, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanAbsoluteError, MeanSquaredError,
    RootMeanSquaredError, R2Score)}

_ALIASES: dict[str, type[Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "auc": AUC, "precision": Precision, "recall": Recall,
    "f1_score": F1Score, "fbeta_score": FBetaScore,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "r2_score": R2Score,
}


def names() -> list[str]:
    """The metric names `get` accepts."""
    return sorted(_ALIASES)


def _accuracy_for(loss: Any, name: str) -> Metric:
    """The accuracy that matches a loss: binary for binary/multi-label losses, categorical for CE."""
    loss_obj = loss if isinstance(loss, _losses.Loss) else _losses.get(loss)
    if isinstance(loss_obj, _losses._HingeBase):
        return BinaryAccuracy(threshold=0.0, name=name)  # raw outputs, labels in {-1, 1}
    if isinstance(loss_obj, _losses.BinaryCrossentropy):
        return BinaryAccuracy(threshold=0.5, name=name)  # the model passes probabilities
    if isinstance(loss_obj, _losses._CrossEntropy):
        return CategoricalAccuracy(name=name)
    if type(loss_obj).__name__ in _losses._CLASSES:
        raise ValueError(f"metrics: {name!r} needs a classification loss (cross-entropy or hinge), "
                         f"got loss {loss_obj.name!r}")
    return Accuracy(name=name)  # a custom loss: decide by shape, as Keras does


def get(identifier: Any, loss: Any = None) -> Metric:
    """A Metric from a name, a Metric class, an instance, a config dict or a function.

    Parameters
    ----------
    identifier : str, Metric, Metric subclass, dict or callable
        A name of `names()` gives a new metric with defaults whose `name` (the
        key in logs) is the string given ("mae" logs as "mae"); a class is
        instantiated with defaults; an instance is returned as it is (its
        state is the caller's); a dict is `deserialize`d; a function
        ``fn(y_true, y_pred) -> (n,)`` is wrapped in `MeanMetricWrapper`.
    loss : Loss or loss name, optional
        Resolves "accuracy"/"acc" for a model's loss: BinaryAccuracy for
        binary cross-entropy (threshold 0.5 on probabilities) and hinge losses
        (threshold 0), CategoricalAccuracy for the cross-entropies; a built-in
        regression loss is refused. Without a loss, `Accuracy` decides by
        shape (Keras's rule).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc") and loss is not None:
            return _accuracy_for(loss, identifier)
        cls = _ALIASES.get(identifier)
        if cls is not None:
            return cls(name=identifier)
    elif isinstance(identifier, dict):
        return deserialize(identifier)
    elif isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    elif callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"metrics: expected a Metric, a Metric class, a config dict, a function or one of "
                     f"{names()}, got {identifier!r}")


def serialize(metric: Metric) -> dict[str, Any]:
    """{"class_name": ..., "config": ...} of a metric."""
    if not isinstance(metric, Metric):
        raise ValueError(f"metric: expected a Metric, got {metric!r}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config: dict[str, Any] | str, custom_objects: dict[str, type] | None = None) -> Metric:
    """A metric from `serialize`'s output (or a name); custom classes come from custom_objects."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"metrics: expected a config {{'class_name': str, 'config': dict}}, got {config!r}")
    classes = {**_CLASSES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise ValueError(f"metrics: unknown metric class {config['class_name']!r}; expected one of "
                         f"{sorted(classes)} (pass custom metrics in custom_objects)")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ValueError(f"metrics: expected config['config'] to be a dict, got {inner!r}")
    return cls.from_config(inner)


__all__ = [
    "Metric", "MeanMetricWrapper", "UndefinedMetricWarning",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "FBetaScore", "F1Score", "AUC",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "R2Score",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "precision", "recall",
    "fbeta_score", "f1_score", "roc_auc", "pr_auc", "average_precision", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "mean_absolute_error",
    "mean_squared_error", "root_mean_squared_error", "r2_score", "mae", "mse", "rmse",
    "get", "serialize", "deserialize", "names",
]
