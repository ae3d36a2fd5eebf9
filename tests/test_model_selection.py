"""fastnn.model_selection.bootstrap_score against hand-written bootstrap loops and
hand-computed .632 / .632+ values (Efron 1983; Efron & Tibshirani 1997)."""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fastnn.model_selection needs scikit-learn (the sklearn extra)")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import load_breast_cancer, make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from fastnn.model_selection import BootstrapResult, bootstrap_score

INT32_MAX = np.iinfo(np.int32).max


def replicate_indices(random_state: int, n_bootstraps: int, y: np.ndarray, stratify: bool = False):
    """The documented resampling, written out independently: (train, oob) per replicate."""
    seeds = np.random.RandomState(random_state).randint(INT32_MAX, size=n_bootstraps)
    n = len(y)
    out = []
    for seed in seeds:
        rng = np.random.RandomState(seed)
        while True:
            if stratify:
                parts = []
                for label in np.unique(y):
                    members = np.flatnonzero(y == label)
                    parts.append(members[rng.randint(0, len(members), size=len(members))])
                train = np.concatenate(parts)
            else:
                train = rng.randint(0, n, size=n)
            oob = np.setdiff1d(np.arange(n), train)
            if oob.size:
                break
        out.append((train, oob))
    return out


def plus_632_error(err: float, err1: float, gamma: float) -> float:
    """Efron & Tibshirani (1997), eq. (32) in weight form, on error rates (lower is better)."""
    err1_clamped = min(err1, gamma)
    overfit = (err1_clamped - err) / (gamma - err) if (err1 > err and gamma > err) else 0.0
    w = 0.632 / (1 - 0.368 * overfit)
    return (1 - w) * err + w * err1_clamped


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rows = np.random.RandomState(0).permutation(len(y))[:200]
    return X[rows], y[rows]


def test_matches_a_hand_written_bootstrap_loop(cancer):
    X, y = cancer
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    B, seed = 25, 123
    expected_oob = []
    for train, oob in replicate_indices(seed, B, y):
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[train], y[train])
        expected_oob.append(np.mean(model.predict(X[oob]) == y[oob]))
    expected_oob = np.array(expected_oob)
    full = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    pred = full.predict(X)
    train_acc = np.mean(pred == y)
    # no-information error rate: sum_l p_l (1 - q_l)
    p = np.bincount(y, minlength=2) / len(y)
    q = np.bincount(pred, minlength=2) / len(y)
    gamma = float(np.sum(p * (1 - q)))

    r_oob = bootstrap_score(tree, X, y, n_bootstraps=B, method="oob", random_state=seed)
    r_632 = bootstrap_score(tree, X, y, n_bootstraps=B, method=".632", random_state=seed)
    r_plus = bootstrap_score(tree, X, y, n_bootstraps=B, method=".632+", random_state=seed)
    for r in (r_oob, r_632, r_plus):
        np.testing.assert_array_equal(r.oob_scores, expected_oob)
        assert r.train_score == train_acc
        assert r.n_bootstraps == B and r.scores.shape == (B,)
    assert r_oob.estimate == pytest.approx(expected_oob.mean(), rel=1e-12)
    np.testing.assert_allclose(r_oob.scores, expected_oob, rtol=1e-12)
    assert r_632.estimate == pytest.approx(0.368 * train_acc + 0.632 * expected_oob.mean(), rel=1e-12)
    np.testing.assert_allclose(r_632.scores, 0.368 * train_acc + 0.632 * expected_oob, rtol=1e-12)
    assert r_plus.no_information_score == pytest.approx(1 - gamma, rel=1e-12)
    err, err1 = 1 - train_acc, 1 - expected_oob.mean()
    assert 0 < (err1 - err) / (gamma - err) < 1  # the interesting case: 0.632 < w < 1
    assert r_plus.estimate == pytest.approx(1 - plus_632_error(err, err1, gamma), rel=1e-12)
    per_replicate = [1 - plus_632_error(err, 1 - s, gamma) for s in expected_oob]
    np.testing.assert_allclose(r_plus.scores, per_replicate, rtol=1e-12)
    # overfitting pulls .632+ below .632, and both sit between OOB and training accuracy
    assert r_oob.estimate < r_plus.estimate < r_632.estimate < train_acc


def test_632_plus_hand_computed_intermediate_case():
    """err = 0, Err1 = 0.2, gamma = 0.5: R = 0.4, w = 0.632 / (1 - 0.1472) = 0.632 / 0.8528."""
    from fastnn.model_selection import _combine

    got = _combine(".632+", np.array([0.8]), 1.0, 0.5)[0]
    assert got == pytest.approx(1 - 0.2 * 0.632 / 0.8528, rel=1e-12)
    assert _combine(".632", np.array([0.8]), 1.0, None)[0] == pytest.approx(0.368 + 0.632 * 0.8)
    # any loss c - score gives the same estimate: shift every score by 3
    assert _combine(".632+", np.array([3.8]), 4.0, 3.5)[0] - 3 == pytest.approx(got, rel=1e-12)


def test_632_plus_of_a_perfect_memoriser_worse_than_chance_is_the_no_information_rate():
    # 1-NN memorises (training accuracy 1, err = 0); on alternating labels its out-of-bag
    # neighbour usually has the other label, so Err1 > gamma: Err1' = gamma, R = 1, w = 1.
    n = 60
    X = np.arange(n, dtype=float).reshape(-1, 1)
    y = np.arange(n) % 2
    r = bootstrap_score(KNeighborsClassifier(n_neighbors=1), X, y, n_bootstraps=30,
                        method=".632+", random_state=0)
    assert r.train_score == 1.0
    assert r.no_information_score == pytest.approx(0.5, rel=1e-12)  # p = q = (1/2, 1/2)
    assert r.oob_scores.mean() < 0.5
    assert r.estimate == pytest.approx(0.5, rel=1e-12)
    r632 = bootstrap_score(KNeighborsClassifier(n_neighbors=1), X, y, n_bootstraps=30,
                           method=".632", random_state=0)
    assert r632.estimate == pytest.approx(0.368 + 0.632 * r.oob_scores.mean(), rel=1e-12)


def test_632_plus_of_a_constant_predictor_does_not_overfit():
    # Predicting the majority class: err = gamma = 1 - p_major, so R = 0 and w = 0.632,
    # with Err1 clamped at gamma.
    rng = np.random.RandomState(1)
    n = 80
    y = (np.arange(n) < 24).astype(int)  # 24 ones, 56 zeros
    X = rng.normal(size=(n, 3))
    r = bootstrap_score(DummyClassifier(strategy="most_frequent"), X, y, n_bootstraps=40,
                        method=".632+", random_state=3)
    assert r.train_score == pytest.approx(56 / 80)
    assert r.no_information_score == pytest.approx(56 / 80, rel=1e-12)
    err = gamma = 24 / 80
    err1 = 1 - r.oob_scores.mean()
    assert r.estimate == pytest.approx(1 - (0.368 * err + 0.632 * min(err1, gamma)), rel=1e-12)


class CountRows(RegressorMixin, BaseEstimator):
    """Remembers how often each row (its id is the feature) is in the training set."""

    def __init__(self, n=0):
        self.n = n

    def fit(self, X, y):
        self.counts_ = np.bincount(X[:, 0].astype(int), minlength=self.n)
        return self


def test_stratified_and_plain_resampling_follow_the_documented_draws():
    n = 47
    y = np.r_[np.zeros(30, int), np.ones(12, int), np.full(5, 2)]
    y = y[np.random.RandomState(0).permutation(n)]
    X = np.arange(n, dtype=float).reshape(-1, 1)
    w = np.random.RandomState(1).uniform(size=n)

    def fingerprint(est, X_oob, y_oob):  # in-bag multiplicities and OOB rows in one number
        return float(est.counts_ @ w + np.sum(w[X_oob[:, 0].astype(int)] ** 2))

    for stratify in (False, True):
        r = bootstrap_score(CountRows(n), X, y, n_bootstraps=15, method="oob", scoring=fingerprint,
                            random_state=5, stratify=stratify)
        expected = [np.bincount(tr, minlength=n) @ w + np.sum(w[oob] ** 2)
                    for tr, oob in replicate_indices(5, 15, y, stratify)]
        np.testing.assert_allclose(r.oob_scores, expected, rtol=1e-12)

    def class_counts(est, X_oob, y_oob):  # distinct value per in-bag class-count vector
        return float(np.bincount(y[np.repeat(np.arange(n), est.counts_)], minlength=3) @ [1, 100, 10_000])

    strat = bootstrap_score(CountRows(n), X, y, n_bootstraps=20, method="oob", scoring=class_counts,
                            random_state=0, stratify=True)
    plain = bootstrap_score(CountRows(n), X, y, n_bootstraps=20, method="oob", scoring=class_counts,
                            random_state=0)
    np.testing.assert_array_equal(strat.oob_scores, 30 + 12 * 100 + 5 * 10_000)
    assert np.unique(plain.oob_scores).size > 1


def test_draws_without_out_of_bag_rows_are_redrawn():
    n = 3  # 6 of the 27 draws hold every row
    X = np.arange(n, dtype=float).reshape(-1, 1)
    y = np.zeros(n)

    def oob_rows(est, X_oob, y_oob):
        return float(np.sum(2.0 ** X_oob[:, 0]) + 10 * est.counts_ @ [1, 10, 100])

    r = bootstrap_score(CountRows(n), X, y, n_bootstraps=40, method="oob", scoring=oob_rows,
                        random_state=0)
    expected = [np.sum(2.0 ** oob) + 10 * np.bincount(tr, minlength=n) @ [1, 10, 100]
                for tr, oob in replicate_indices(0, 40, y)]
    np.testing.assert_array_equal(r.oob_scores, expected)


def test_regression_no_information_is_the_mean_over_all_pairs():
    X, y = make_regression(n_samples=120, n_features=5, noise=10.0, random_state=0)
    ridge = Ridge(alpha=1.0)
    r = bootstrap_score(ridge, X, y, n_bootstraps=20, scoring="neg_mean_squared_error",
                        random_state=0)
    pred = Ridge(alpha=1.0).fit(X, y).predict(X)
    gamma = np.mean((y[:, None] - pred[None, :]) ** 2)  # every (label i, prediction j) pair
    err = np.mean((y - pred) ** 2)
    assert r.no_information_score == pytest.approx(-gamma, rel=1e-10)
    assert r.train_score == pytest.approx(-err, rel=1e-10)
    err1 = -r.oob_scores.mean()
    assert r.estimate == pytest.approx(-plus_632_error(err, err1, gamma), rel=1e-10)
    assert err < -r.estimate < err1  # between the optimistic and pessimistic ends

    # R^2 through estimator.score: higher-is-better scores work the same way
    r2 = bootstrap_score(ridge, X, y, n_bootstraps=20, random_state=0)
    assert 0.5 < r2.estimate < r2.train_score <= 1.0
    assert r2.ci_low <= r2.estimate <= r2.ci_high


def test_default_scoring_is_estimator_score_and_a_custom_score_method_is_used():
    X, y = make_classification(n_samples=150, random_state=0)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    a = bootstrap_score(tree, X, y, n_bootstraps=10, random_state=0)
    b = bootstrap_score(tree, X, y, n_bootstraps=10, random_state=0, scoring="accuracy")
    assert a.estimate == b.estimate
    np.testing.assert_array_equal(a.oob_scores, b.oob_scores)

    class Balanced(DecisionTreeClassifier):
        def score(self, X, y, sample_weight=None):  # not the mixin's: used as given
            return float(np.mean(self.predict(X) == y) - 1.0)

    c = bootstrap_score(Balanced(max_depth=2, random_state=0), X, y, n_bootstraps=10,
                        random_state=0)
    np.testing.assert_allclose(c.oob_scores, a.oob_scores - 1.0, rtol=1e-12)
    assert c.estimate == pytest.approx(a.estimate - 1.0, rel=1e-12)  # c - score invariance


def test_interval_holds_the_estimate_and_narrows_with_more_data():
    X, y = make_classification(n_samples=1000, n_features=8, flip_y=0.1, random_state=0)
    widths = []
    for n in (60, 600):
        r = bootstrap_score(DecisionTreeClassifier(max_depth=3, random_state=0), X[:n], y[:n],
                            n_bootstraps=60, method=".632+", random_state=0)
        assert r.ci_low <= r.estimate <= r.ci_high
        lo, hi = np.percentile(r.scores, [2.5, 97.5])  # the documented percentile interval
        assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-12)
        widths.append(r.ci_high - r.ci_low)
    assert widths[1] < 0.6 * widths[0]
    r90 = bootstrap_score(DecisionTreeClassifier(max_depth=3, random_state=0), X[:600], y[:600],
                          n_bootstraps=60, method=".632+", random_state=0, confidence=0.5)
    assert r90.ci_high - r90.ci_low < widths[1]


def test_parallel_jobs_give_the_serial_result():
    X, y = make_classification(n_samples=200, random_state=0)
    est = LogisticRegression(max_iter=200)
    serial = bootstrap_score(est, X, y, n_bootstraps=12, random_state=0, n_jobs=1)
    parallel = bootstrap_score(est, X, y, n_bootstraps=12, random_state=0, n_jobs=2)
    np.testing.assert_array_equal(serial.oob_scores, parallel.oob_scores)
    assert serial.estimate == parallel.estimate
    assert (serial.ci_low, serial.ci_high) == (parallel.ci_low, parallel.ci_high)


def test_random_state_reproduces_and_instances_are_consumed():
    X, y = make_classification(n_samples=100, random_state=0)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    a = bootstrap_score(tree, X, y, n_bootstraps=8, random_state=4)
    b = bootstrap_score(tree, X, y, n_bootstraps=8, random_state=np.random.RandomState(4))
    np.testing.assert_array_equal(a.oob_scores, b.oob_scores)
    rs = np.random.RandomState(4)
    first = bootstrap_score(tree, X, y, n_bootstraps=8, random_state=rs)
    second = bootstrap_score(tree, X, y, n_bootstraps=8, random_state=rs)
    assert not np.array_equal(first.oob_scores, second.oob_scores)
    assert isinstance(a, BootstrapResult) and "bootstrap estimate" in str(a)


def test_lists_and_tiny_data_work():
    X = [[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]
    y = [0, 0, 0, 1, 1, 1]
    r = bootstrap_score(DecisionTreeClassifier(random_state=0), X, y, n_bootstraps=5,
                        random_state=0, method=".632")
    assert r.train_score == 1.0 and 0.0 <= r.estimate <= 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_bootstraps": 0}, ValueError, "n_bootstraps: expected an integer >= 1, got 0"),
    ({"n_bootstraps": 2.5}, ValueError, "n_bootstraps"),
    ({"n_bootstraps": True}, ValueError, "n_bootstraps"),
    ({"method": ".5"}, ValueError, r"method: expected one of .*got '.5'"),
    ({"method": None}, ValueError, "method"),
    ({"confidence": 1.0}, ValueError, "confidence: expected a number strictly between 0 and 1, got 1.0"),
    ({"confidence": 0}, ValueError, "confidence"),
    ({"confidence": "95%"}, ValueError, "confidence"),
    ({"scoring": "accurcy"}, ValueError, "scoring: expected .*scorer name.*'accurcy'"),
    ({"scoring": 3}, TypeError, "scoring: expected None, a scorer name or a callable"),
    ({"random_state": "seed"}, ValueError, "random_state: expected .*'seed'"),
    ({"stratify": "yes"}, TypeError, "stratify: expected True or False"),
    ({"n_jobs": 0}, ValueError, "n_jobs: expected None or a nonzero integer, got 0"),
    ({"n_jobs": 1.5}, ValueError, "n_jobs"),
])
def test_bad_arguments_name_themselves(kwargs, error, match):
    X, y = make_classification(n_samples=30, random_state=0)
    with pytest.raises(error, match=match):
        bootstrap_score(DecisionTreeClassifier(), X, y, **kwargs)


def test_bad_estimator_and_data():
    X, y = make_classification(n_samples=30, random_state=0)
    with pytest.raises(TypeError, match="estimator: expected an estimator instance, got the class"):
        bootstrap_score(DecisionTreeClassifier, X, y)
    with pytest.raises(TypeError, match="estimator: expected a scikit-learn estimator"):
        bootstrap_score(object(), X, y)

    class NoScore(BaseEstimator):
        def fit(self, X, y):
            return self

    with pytest.raises(TypeError, match="scoring: estimator NoScore has no score method"):
        bootstrap_score(NoScore(), X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        bootstrap_score(DecisionTreeClassifier(), X, y[:-1])
    with pytest.raises(ValueError, match="X: expected at least 2 samples"):
        bootstrap_score(DecisionTreeClassifier(), X[:1], y[:1])
    with pytest.raises(ValueError, match="stratify: expected class labels in y"):
        bootstrap_score(Ridge(), X, y + 0.5 * X[:, 0], stratify=True)
    with pytest.raises(ValueError, match="stratify: every class of y has a single row"):
        bootstrap_score(DecisionTreeClassifier(), X[:3], [0, 1, 2], stratify=True)


def test_no_information_score_reuses_predictions():
    calls = []

    class Counting(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            self.major_ = np.bincount(y).argmax()
            return self

        def predict(self, X):
            calls.append(len(X))
            return np.where(X[:, 0] > 0, self.classes_[1], self.major_)

    X, y = make_classification(n_samples=300, random_state=0)
    r = bootstrap_score(Counting(), X, y, n_bootstraps=3, random_state=0)
    # 3 OOB predicts + 1 training-score predict + 1 predict for all 300 pairings
    assert len(calls) == 5
    pred = Counting().fit(X, y).predict(X)
    p, q = np.bincount(y) / 300, np.bincount(pred, minlength=2) / 300
    assert r.no_information_score == pytest.approx(p @ q, rel=1e-12)


def test_pandas_inputs_give_the_numpy_result():
    pd = pytest.importorskip("pandas", reason="pandas (the test extra) for DataFrame inputs")
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    a = bootstrap_score(tree, X, y, n_bootstraps=6, random_state=0, stratify=True)
    b = bootstrap_score(tree, pd.DataFrame(X, columns=list("abcd")), pd.Series(y), n_bootstraps=6,
                        random_state=0, stratify=True)
    np.testing.assert_array_equal(a.oob_scores, b.oob_scores)
    assert a.estimate == b.estimate and a.no_information_score == b.no_information_score


def test_fastnn_mlp_classifier_matches_the_hand_loop():
    if importlib.util.find_spec("fastnn.sklearn") is None:
        pytest.skip("fastnn.sklearn (MLPClassifier) is not in this tree")
    from fastnn.sklearn import MLPClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)

    def make():
        return MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, learning_rate_init=1e-2,
                             random_state=0, n_threads=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixed 20-epoch budget does not converge
        r = bootstrap_score(make(), X, y, n_bootstraps=3, method=".632", random_state=2)
        expected = [make().fit(X[tr], y[tr]).score(X[oob], y[oob])
                    for tr, oob in replicate_indices(2, 3, y)]
        train = make().fit(X, y).score(X, y)
    np.testing.assert_allclose(r.oob_scores, expected, rtol=1e-12)
    assert r.estimate == pytest.approx(0.368 * train + 0.632 * np.mean(expected), rel=1e-12)
    assert 0.9 < r.estimate < 1.0
