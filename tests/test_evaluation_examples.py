"""The evaluation examples (hold-out, k-fold, bootstrap, bagging) run as scripts and print
sane numbers: accuracies far above chance (10 digit classes: 0.1), std >= 0, and every
bootstrap estimate inside its interval."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NUMBER = r"([-+]?\d+\.\d+)"

if importlib.util.find_spec("sklearn") is None:
    pytest.skip("the evaluation examples need scikit-learn (the sklearn extra)", allow_module_level=True)
if importlib.util.find_spec("fastnn.sklearn") is None:
    pytest.skip("the evaluation examples need fastnn.sklearn.MLPClassifier, not in this tree",
                allow_module_level=True)


def run(name: str, *args: str) -> str:
    """Run examples/<name>.py as a user would and return what it printed."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args],
                          check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name}.py failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def floats(pattern: str, text: str) -> list:
    found = re.findall(pattern, text)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return [tuple(map(float, m)) if isinstance(m, tuple) else float(m) for m in found]


def test_holdout_prints_a_test_accuracy_for_each_training_fraction():
    out = run("holdout", "--quick")
    rows = re.findall(r"train (\d)/(\d) \((\d+) rows\): train accuracy " + NUMBER
                      + r", test accuracy " + NUMBER + r" on (\d+) rows", out)
    assert [(a, b) for a, b, *_ in rows] == [("2", "3"), ("3", "4"), ("4", "5")], out
    for a, b, n_train, train_acc, test_acc, n_test in rows:
        n_train, n_test = int(n_train), int(n_test)
        assert n_train + n_test == 1797
        assert n_train == pytest.approx(1797 * int(a) / int(b), abs=1)
        assert 0.85 < float(test_acc) <= 1.0 and 0.85 < float(train_acc) <= 1.0
    test_accs = [float(r[4]) for r in rows]
    spread = floats(r"differ by up to " + NUMBER, out)[0]
    assert spread == pytest.approx(max(test_accs) - min(test_accs), abs=2e-4)


def test_kfold_prints_ten_folds_their_mean_and_std():
    out = run("kfold", "--quick")
    folds = floats(r"fold +\d+: accuracy " + NUMBER, out)
    assert len(folds) == 10 and all(0.8 < a <= 1.0 for a in folds), out
    mean, std = floats(r"10-fold accuracy: mean " + NUMBER + r", std " + NUMBER, out)[0]
    assert mean > 0.85 and std >= 0
    # the summary agrees with the folds it printed (to their 4 printed decimals)
    assert mean == pytest.approx(np.mean(folds), abs=2e-4)
    assert std == pytest.approx(np.std(folds, ddof=1), abs=2e-4)


def test_bootstrap_prints_three_estimates_inside_their_intervals():
    out = run("bootstrap", "--quick")
    lines = re.findall(r"(oob|\.632\+?): accuracy " + NUMBER + r", 95% interval \[" + NUMBER
                       + ", " + NUMBER + r"\]", out)
    est = {m: tuple(map(float, v)) for m, *v in lines}
    assert list(est) == ["oob", ".632", ".632+"], out
    for method, (estimate, low, high) in est.items():
        assert 0.85 < estimate <= 1.0, (method, estimate)
        assert low <= estimate <= high, (method, low, estimate, high)
    train, no_info = floats(r"training accuracy " + NUMBER + r" .*no-information accuracy "
                            + NUMBER, out)[0]
    # OOB is the pessimistic end, training accuracy the optimistic one; .632 weighs them
    assert est["oob"][0] <= est[".632+"][0] <= est[".632"][0] <= train
    assert est[".632"][0] == pytest.approx(0.368 * train + 0.632 * est["oob"][0], abs=3e-4)
    assert 0.05 < no_info < 0.2  # ten balanced classes: about 0.1


@pytest.mark.slow
def test_bagging_prints_single_and_ensemble_accuracies():
    out = run("bagging", "--quick")
    single = floats(r"single MLP: test accuracy " + NUMBER, out)[0]
    members, bag = floats(r"bagging of (\d+) MLPs: test accuracy " + NUMBER, out)[0]
    diff = floats(r"difference \(bagging - single\): " + NUMBER, out)[0]
    assert members == 5
    assert single > 0.85 and bag > 0.85
    assert diff == pytest.approx(bag - single, abs=2e-4)
