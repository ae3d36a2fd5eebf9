"""examples/lr_schedules.py runs in seconds and shows what it claims: a too-large constant
learning rate oscillates (or diverges) on f(w) = w**2 / 2, an exponentially decayed one converges."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lr_schedules.py"


def load():
    spec = importlib.util.spec_from_file_location("lr_schedules", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load()


def test_constant_rate_oscillates_and_decayed_rate_converges(example, capsys):
    results = example.main()
    runs = results["descent"]
    n = example.DESCENT_STEPS
    for name, factor in (("constant lr 1.9", 0.9), ("constant lr 2.1", 1.1)):
        w = runs[name]
        assert len(w) == n + 1 and w[0] == 1.0
        assert np.all(np.sign(w[1:]) == -np.sign(w[:-1])), name  # overshoots the minimum every step
        # w_k = (1 - lr)**k w_0, computed here independently
        np.testing.assert_allclose(np.abs(w), factor ** np.arange(n + 1), rtol=1e-12)
    assert abs(runs["constant lr 1.9"][-1]) > 0.04  # 0.9**30 = 0.042: still far from 0
    assert abs(runs["constant lr 2.1"][-1]) > 10  # 1.1**30 = 17.4: diverging

    decayed = runs["ExponentialDecay from 2.1"]
    assert abs(decayed[-1]) < 1e-3
    # the update used lr(step) = 2.1 * 0.5**(step / 10) with step 0 for the first update
    lr = 2.1 * 0.5 ** (np.arange(n) / 10)
    np.testing.assert_allclose(decayed[1:], np.cumprod(1 - lr), rtol=1e-9, atol=1e-300)

    out = capsys.readouterr().out
    assert "constant lr 1.9" in out and "ExponentialDecay from 2.1" in out
    for name in example.make_schedules():
        assert name in out


def test_schedule_curves_are_the_schedules(example):
    results = example.main()
    curves = results["schedules"]
    assert list(curves) == list(example.make_schedules())
    for name, lr in curves.items():
        assert lr.shape == (example.STEPS,) and np.all(np.isfinite(lr)) and np.all(lr >= 0), name
    k = np.arange(example.STEPS)
    np.testing.assert_allclose(curves["ExponentialDecay"], 0.1 * 0.5 ** (k / 50), rtol=1e-12)
    np.testing.assert_allclose(curves["PerEpoch(Exponential)"], 0.1 * 0.8 ** (k // 25), rtol=1e-12)
    warm = curves["CosineDecay + warm-up"]
    assert warm[0] == 0.0 and np.argmax(warm) == 30 and warm[30] == pytest.approx(0.1)


def test_plot(example, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the test extra) draws the plot")
    png = tmp_path / "schedules.png"
    example.main(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "saved" in capsys.readouterr().out
