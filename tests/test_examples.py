"""The examples in examples/ run (in seconds) and show what they claim."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sales_forecast_asymmetric_cost_forecasts_high(capsys):
    results = load("sales_forecast").main()
    (w_mse, above_mse, cost_mse), (w_asym, above_asym, cost_asym) = results.values()
    np.testing.assert_allclose(w_mse, 1.0, atol=0.02)  # MSE: weights near 1
    assert 0.35 < above_mse < 0.65
    assert np.all(w_asym > 1.02)  # the cost of running short pushes the forecast up
    assert above_asym > 0.8
    assert cost_asym < 0.6 * cost_mse  # and it is cheaper for the business
    out = capsys.readouterr().out
    assert "MSE" in out and "Asymmetric" in out and "weights" in out


def test_activations_tour_trains_every_activation(tmp_path, capsys):
    tour = load("activations_tour")
    pytest.importorskip("matplotlib", reason="matplotlib (the test extra) draws the plot")
    png = tmp_path / "curves.png"
    results = tour.main(str(png))
    assert list(results) == tour.HIDDEN
    # a linear network cannot separate spirals; the usual non-linear choices can
    assert results["linear"] < 0.8
    for name in ("relu", "gelu", "silu", "mish", "elu", "leaky_relu"):
        assert results[name] > 0.95, (name, results[name])
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "saved" in capsys.readouterr().out


def test_mnist_two_layer_learns_and_reports_train_and_test_accuracy(capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the test extra) draws the curves")
    png = tmp_path / "curves.png"
    history = load("mnist_two_layer").main(epochs=5, sample=True, plot_path=str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    train, test = history["train_accuracy"], history["val_accuracy"]
    assert len(train) == len(test) == 5
    assert train[-1] > train[0] + 0.05 and test[-1] > 0.75  # SGD 0.1 on the 6,000-image sample
    assert all(b < a for a, b in zip(history["loss"], history["loss"][1:]))
    assert capsys.readouterr().out.count("train acc") == 5


def test_tabular_mlp_learns_and_keeps_its_best_epoch(capsys):
    result = load("tabular_mlp").main(samples=20000, epochs=25, patience=3, verbose=0)
    val_auc = result["history"]["val_auc"]
    assert max(val_auc) > 0.85 and val_auc[0] < 0.7  # RAdam at batch 4096 learns the labels
    # EarlyStopping(restore_best_weights=True): the model ends with its best epoch's weights.
    # fit validated in batch-size chunks, the final evaluate in 1024-row chunks: the GEMMs
    # of different row counts may round differently (float32), hence not to the bit.
    assert result["final"]["auc"] == pytest.approx(max(val_auc), rel=1e-6)
    assert "best validation AUC" in capsys.readouterr().out
