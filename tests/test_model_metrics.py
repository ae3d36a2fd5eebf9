"""Metrics through the model: compile by name, per-epoch values in History and in
evaluate, checked against scikit-learn on the model's own predictions."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import layers, losses, optimizers

sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the test peer for metrics")


def multilabel(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    Y = (X[:, :3] + 0.8 * rng.standard_normal((n, 3)) > 0).astype(np.float64)
    return X, Y


def test_classification_metrics_match_sklearn_on_the_predictions():
    X, Y = multilabel()
    Xv, Yv = multilabel(120, seed=1)
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer=optimizers.Adam(0.01), loss=losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy", "auc", "precision", "recall"])
    history = model.fit(X, Y, epochs=4, batch_size=32, validation_data=(Xv, Yv), verbose=0)
    for key in ("auc", "precision", "recall", "val_auc", "val_precision", "val_recall", "accuracy"):
        assert len(history.history[key]) == 4
    P = model.predict(Xv)  # probabilities: the loss is from logits
    result = model.evaluate(Xv, Yv)
    assert result["auc"] == pytest.approx(sk.roc_auc_score(Yv.ravel(), P.ravel()), rel=1e-12)
    assert result["precision"] == pytest.approx(sk.precision_score(Yv.ravel(), P.ravel() > 0.5), rel=1e-12)
    assert result["recall"] == pytest.approx(sk.recall_score(Yv.ravel(), P.ravel() > 0.5), rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean((P > 0.5) == Yv), rel=1e-12)
    # the last epoch's validation figures are those of the trained model
    assert history.history["val_auc"][-1] == pytest.approx(result["auc"], rel=1e-12)


def test_sparse_labels_with_auc_and_top_k():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((200, 6)), rng.integers(0, 4, 200)
    model = fastnn.Sequential([layers.Dense(4)], seed=1, dtype="float64")
    model.compile(optimizer="adam", loss="softmax_cross_entropy",
                  metrics=["accuracy", fastnn.metrics.SparseTopKCategoricalAccuracy(k=2)])
    model.fit(X, y, epochs=2, verbose=0)
    P = model.predict(X)
    result = model.evaluate(X, y)
    assert result["accuracy"] == pytest.approx(np.mean(P.argmax(1) == y))
    key = [k for k in result if k not in ("loss", "accuracy")][0]
    assert result[key] == pytest.approx(sk.top_k_accuracy_score(y, P, k=2, labels=range(4)), rel=1e-12)


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 4))
    T = X @ rng.standard_normal((4, 2)) + 0.1 * rng.standard_normal((150, 2))
    model = fastnn.Sequential([layers.Dense(2)], seed=2, dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.05), loss="mse", metrics=["mae", "rmse", "r2_score"])
    history = model.fit(X, T, epochs=3, batch_size=16, verbose=0)
    assert set(history.history) >= {"loss", "mae", "rmse", "r2_score", "learning_rate"}
    P = model.predict(X)
    result = model.evaluate(X, T)
    assert result["mae"] == pytest.approx(sk.mean_absolute_error(T, P), rel=1e-12)
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((T - P) ** 2)), rel=1e-12)  # pooled, as Keras
    assert result["r2_score"] == pytest.approx(sk.r2_score(T, P), rel=1e-10)
    assert result["loss"] == pytest.approx(sk.mean_squared_error(T, P), rel=1e-12)


def test_train_on_batch_reports_the_batch_metrics():
    X, Y = multilabel(64)
    model = fastnn.Sequential([layers.Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss=losses.BinaryCrossentropy(from_logits=True), metrics=["auc"])
    model.build((None, 8))
    P = model.predict(X)  # before the update, as train_on_batch measures
    logs = model.train_on_batch(X, Y, return_dict=True)
    assert logs["auc"] == pytest.approx(sk.roc_auc_score(Y.ravel(), P.ravel()), rel=1e-12)


def test_bad_and_duplicate_metrics_are_refused():
    model = fastnn.Sequential([layers.Dense(3)], seed=0)
    with pytest.raises(ValueError, match=r"^metrics: .*'aucc'"):
        model.compile(loss="mse", metrics=["aucc"])
    with pytest.raises(ValueError, match=r"^metrics: two metrics would be logged as 'auc'"):
        model.compile(loss=losses.BinaryCrossentropy(from_logits=True), metrics=["auc", "auc"])
    assert not model.compiled


def test_fit_with_metrics_allocates_nothing_per_batch():
    import tracemalloc
    from test_model_api import GROWTH_BOUND, PEAK_BOUND, MemoryProbe
    rng = np.random.default_rng(4)
    batch, steps = 128, 120
    X = rng.random((batch * steps, 40), dtype=np.float32)
    Y = (rng.random((batch * steps, 3)) > 0.5).astype(np.float32)
    model = fastnn.Sequential([layers.Dense(32, activation="relu"), layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy", "auc", "precision", "f1_score"])
    was = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        model.fit(X, Y, epochs=1, batch_size=batch, verbose=0)  # warm-up: the AUC buffer grows here
        probe = MemoryProbe(steps)
        model.fit(X, Y, epochs=1, batch_size=batch, verbose=0, callbacks=[probe])
    finally:
        if not was:
            tracemalloc.stop()
    warm = 10
    growth = int(probe.current[-1] - probe.current[warm])
    per_batch_peak = int(np.max(probe.peak[warm + 1:] - probe.current[warm:-1]))
    assert growth <= GROWTH_BOUND and per_batch_peak <= PEAK_BOUND, (growth, per_batch_peak)
