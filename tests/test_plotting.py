"""plot_history: one subplot per quantity, training and validation lines per epoch."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import fastnn
from fastnn import callbacks

HISTORY = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8], "learning_rate": [0.1, 0.1, 0.05],
           "val_loss": [1.1, 0.8, 0.7], "val_accuracy": [0.45, 0.6, 0.7]}


def lines_of(ax):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


def test_figure_has_one_axes_per_quantity_with_the_logged_values(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    path = tmp_path / "curves.png"
    fig = fastnn.plot_history(HISTORY, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]  # learning_rate only on request
    for ax, name in zip(axes, ["loss", "accuracy"]):
        assert ax.get_xlabel() == "epoch"
        assert lines_of(ax) == {"training": ([1, 2, 3], HISTORY[name]),
                                "validation": ([1, 2, 3], HISTORY["val_" + name])}


def test_history_object_from_fit_and_chosen_metrics():
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 2, 40)
    model = fastnn.Sequential([fastnn.layers.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="softmax_cross_entropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=4, verbose=0)
    assert isinstance(history, callbacks.History)
    fig = fastnn.plot_history(history, metrics=["learning_rate", "loss"])
    assert [ax.get_title() for ax in fig.axes] == ["learning_rate", "loss"]
    assert lines_of(fig.axes[1]) == {"training": ([1, 2, 3, 4], history.history["loss"])}  # no validation


def test_bad_requests_raise_clear_errors(monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    with pytest.raises(ValueError, match=r"^metrics: 'auc' was not logged; the history holds \['loss', 'accuracy', 'learning_rate'\]"):
        fastnn.plot_history(HISTORY, metrics=["auc"])
    with pytest.raises(ValueError, match=r"^metrics: expected a list of names"):
        fastnn.plot_history(HISTORY, metrics="loss")
    with pytest.raises(ValueError, match=r"^history: no epochs recorded"):
        fastnn.plot_history({"loss": []})
    with pytest.raises(ValueError, match=r"^history: expected a History or its .history dict, got list"):
        fastnn.plot_history([1.0, 2.0])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"matplotlib, an optional extra"):
        fastnn.plot_history(HISTORY)
