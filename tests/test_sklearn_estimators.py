"""fastnn.sklearn.MLPClassifier / MLPRegressor against numpy float64 references and
scikit-learn's own MLP; model_to_bytes / model_from_bytes."""
import pickle
import pickletools
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import BaggingClassifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastnn  # noqa: E402
from fastnn import layers, losses, saving  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn.sklearn._base import pinned_threads  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=240, classes=3, features=6, seed=0):
    X, y = make_classification(n, features, n_informative=4, n_redundant=0, n_classes=classes,
                               n_clusters_per_class=1, random_state=seed)
    return StandardScaler().fit_transform(X), y


# -- a plain float64 numpy forward ----------------------------------------------------------------

_NP_ACT = {"identity": lambda z: z, "relu": lambda z: np.maximum(z, 0),
           "tanh": np.tanh, "logistic": lambda z: 1 / (1 + np.exp(-z))}


def _np_logits(est, X):
    a = np.asarray(X, np.float64)
    ws = [np.asarray(w, np.float64) for w in est.coefs_]
    bs = [np.asarray(b, np.float64) for b in est.intercepts_]
    for w, b in zip(ws[:-1], bs[:-1]):
        a = _NP_ACT[est.activation](a @ w + b)
    return a @ ws[-1] + bs[-1]


def _np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_classifier_matches_numpy_forward(activation):
    X, y = _data()
    clf = MLPClassifier((7, 5), activation=activation, max_iter=5, random_state=1,
                        dtype="float64").fit(X, y)
    assert [w.shape for w in clf.coefs_] == [(6, 7), (7, 5), (5, 3)]
    assert clf.out_activation_ == "softmax" and clf.n_layers_ == 4
    p_ref = _np_softmax(_np_logits(clf, X))
    np.testing.assert_allclose(clf.predict_proba(X), p_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(p_ref, axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p_ref), rtol=1e-10)


def test_binary_and_float32_match_numpy_forward():
    X, y = _data(classes=2)
    labels = np.array(["no", "yes"])[y]
    clf = MLPClassifier((6,), max_iter=5, random_state=0).fit(X, labels)
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (6, 1)
    p1 = _np_sigmoid(_np_logits(clf, X)).ravel()
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], p1, rtol=1e-5, atol=1e-6)  # float32 model
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.where(p1 > 0.5, "yes", "no"))


def test_regressor_multi_output_matches_numpy_forward():
    X, Y = make_regression(120, 5, n_targets=3, noise=0.1, random_state=0)
    reg = MLPRegressor((8,), activation="tanh", max_iter=5, random_state=0, dtype="float64").fit(X, Y)
    assert reg.predict(X).shape == (120, 3) and reg.n_outputs_ == 3
    np.testing.assert_allclose(reg.predict(X), _np_logits(reg, X), rtol=1e-12, atol=1e-12)


# -- the loss, alpha and the solver steps match scikit-learn's ------------------------------------

def _one_step_against_sklearn(ours, theirs, X, y):
    """Both take one full-batch step from the same weights w0 with a fresh optimizer
    (warm_start fit, max_iter=1): returns w0 and the biases b0."""
    ours.set_params(warm_start=True, max_iter=1).fit(X, y)  # builds the model
    theirs.set_params(warm_start=True, max_iter=1).fit(X, y)
    w0, b0 = ours.coefs_, ours.intercepts_
    theirs.coefs_ = [w.astype(np.float64) for w in w0]
    theirs.intercepts_ = [b.astype(np.float64) for b in b0]
    ours.fit(X, y)
    theirs.fit(X, y)
    return w0, b0


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression",
                                  "regression2"])
def test_sgd_step_and_penalised_loss_equal_sklearn(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    common = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, alpha=0.3, batch_size=40,
                  shuffle=False, learning_rate_init=0.05, activation="tanh")
    if kind.startswith("regression"):
        y = rng.normal(size=(40, 2)) if kind == "regression2" else rng.normal(size=40)
        ours, theirs = MLPRegressor(dtype="float64", **common), SkMLPRegressor(**common)
    else:
        if kind == "multiclass":
            y = rng.integers(0, 3, 40)
        elif kind == "binary":
            y = rng.integers(0, 2, 40)
        else:
            y = rng.integers(0, 2, (40, 3))
        ours, theirs = MLPClassifier(dtype="float64", **common), SkMLPClassifier(**common)
    w0, b0 = _one_step_against_sklearn(ours, theirs, X, y)
    # The loss of the epoch is the loss at w0 (one batch): compare with a hand computation.
    penalty = 0.3 / (2 * 40) * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in w0)
    h = np.tanh(X @ w0[0] + b0[0])
    z = h @ w0[1] + b0[1]
    if kind.startswith("regression"):
        # Half the squared error summed over outputs, averaged over samples (the objective
        # scikit-learn's gradient belongs to; its loss_ is the same for one output).
        data = 0.5 * np.sum((z - y.reshape(40, -1)) ** 2) / 40
    elif kind == "multiclass":
        data = -np.mean(np.log(_np_softmax(z)[np.arange(40), y]))
    else:
        t = y.reshape(40, -1)
        p = _np_sigmoid(z)
        data = -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p)) / 40
    np.testing.assert_allclose(ours.loss_, data + penalty, rtol=1e-10)
    if kind != "regression2":
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-10)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_alpha_adds_exactly_its_penalty():
    X, y = _data(n=50)
    a = MLPClassifier((4,), alpha=0.0, batch_size=50, max_iter=3, dtype="float64",
                      random_state=3).fit(X, y)
    b = pickle.loads(pickle.dumps(a)).set_params(alpha=2.0)
    w = a.coefs_
    a.partial_fit(X, y)  # one full batch: the epoch's loss is taken at w, before the step
    b.partial_fit(X, y)
    expected = 2.0 / (2 * 50) * sum(float(np.sum(v ** 2)) for v in w)
    np.testing.assert_allclose(b.loss_ - a.loss_, expected, rtol=1e-10)


def test_adam_step_close_to_sklearn():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    common = dict(hidden_layer_sizes=(4,), alpha=0.01, batch_size=30, shuffle=False,
                  learning_rate_init=0.01)
    ours, theirs = MLPRegressor(dtype="float64", **common), SkMLPRegressor(**common)
    _one_step_against_sklearn(ours, theirs, X, y)
    # Adam: fresh moments on both sides after the copy would differ; compare the loss exactly and
    # the updated weights loosely (scikit-learn adds epsilon before the bias correction).
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-10)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# -- training behaviour ---------------------------------------------------------------------------

def test_same_seed_is_deterministic_and_seeds_differ():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(8,), max_iter=8, dropout=0.1)
    a = MLPClassifier(random_state=5, **kw).fit(X, y).predict_proba(X)
    b = MLPClassifier(random_state=5, **kw).fit(X, y).predict_proba(X)
    c = MLPClassifier(random_state=6, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    rs = np.random.RandomState(0)
    d = MLPClassifier(random_state=np.random.RandomState(0), **kw).fit(X, y).predict_proba(X)
    e = MLPClassifier(random_state=rs, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(d, e)


def test_partial_fit_equals_fit_epoch_by_epoch():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(8,), random_state=2, batch_size=32, n_iter_no_change=100)
    one = MLPClassifier(max_iter=1, **kw).fit(X, y)
    inc = MLPClassifier(**kw).partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_array_equal(one.predict_proba(X), inc.predict_proba(X))
    assert one.loss_ == inc.loss_ and inc.n_iter_ == 1 and inc.t_ == len(X)
    three = MLPClassifier(max_iter=3, **kw).fit(X, y)
    inc.partial_fit(X, y).partial_fit(X, y)  # the optimizer state carries over
    np.testing.assert_array_equal(three.predict_proba(X), inc.predict_proba(X))
    assert three.loss_curve_ == inc.loss_curve_ and inc.t_ == 3 * len(X)
    assert three.n_iter_ == 3 and inc.n_iter_ == 1  # n_iter_ counts the epochs of the last call


def test_partial_fit_needs_classes_and_known_labels():
    X, y = _data()
    clf = MLPClassifier((4,))
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, np.where(y == 2, 7, y))


def test_convergence_rule_and_warning_like_sklearn():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(8,), max_iter=50, tol=1e3, n_iter_no_change=4, random_state=0)
    ours = MLPClassifier(**kw).fit(X, y)
    theirs = SkMLPClassifier(**kw).fit(X, y)
    # Nothing improves by tol after the first epoch: both stop once n_iter_no_change + 1
    # epochs in a row have not improved, after n_iter_no_change + 2 epochs.
    assert ours.n_iter_ == theirs.n_iter_ == 6
    assert len(ours.loss_curve_) == 6 and ours.best_loss_ == min(ours.loss_curve_)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(**kw).fit(X, y)  # stopped early: no warning


def test_early_stopping_keeps_the_best_epoch():
    X, y = _data(n=300)
    clf = MLPClassifier((8,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                        max_iter=60, learning_rate_init=0.05, random_state=0).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # The held-out split is scikit-learn's (same seed, stratified): the final weights score
    # the best validation score on it.
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    _, Xv, _, yv = train_test_split(X, y, random_state=check_random_state(0), test_size=0.2,
                                    stratify=y)
    assert clf.score(Xv, yv) == pytest.approx(clf.best_validation_score_)
    reg = MLPRegressor((8,), early_stopping=True, max_iter=20, random_state=0)
    with pytest.raises(ValueError, match="early_stopping"):
        reg.partial_fit(X, y.astype(float))


def test_accuracy_close_to_sklearn():
    X, y = make_classification(800, 10, n_informative=5, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, random_state=3)
    X = StandardScaler().fit_transform(X)
    Xtr, Xte, ytr, yte = X[:600], X[600:], y[:600], y[600:]
    kw = dict(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.005, random_state=0)
    ours = MLPClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
    theirs = SkMLPClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
    assert ours > 0.85
    assert abs(ours - theirs) <= 0.04, (ours, theirs)


def test_multilabel_classifier():
    from sklearn.datasets import make_multilabel_classification
    X, Y = make_multilabel_classification(200, 8, n_classes=4, random_state=0)
    clf = MLPClassifier((16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and list(clf.classes_) == [0, 1, 2, 3]
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 4)
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.3  # subset accuracy; chance is far below
    np.testing.assert_allclose(proba, _np_sigmoid(_np_logits(clf, X)), rtol=1e-5, atol=1e-6)


def test_regressor_learns_and_asymmetric_loss_shifts_the_quantile():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = X[:, 0] + rng.normal(scale=0.5, size=400)
    reg = MLPRegressor((16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.5
    q = MLPRegressor((16,), max_iter=60, learning_rate_init=0.01, random_state=0,
                     loss=losses.AsymmetricLoss(over_cost=1.0, under_cost=9.0)).fit(X, y)
    # Minimising it predicts the 90% quantile: about 90% of the targets lie below.
    assert 0.8 < np.mean(y < q.predict(X)) < 0.97
    assert np.mean(y < reg.predict(X)) < 0.65
    mae = MLPRegressor((4,), max_iter=3, loss="mae", random_state=0).fit(X, y)
    assert isinstance(mae.model_.loss, losses.MeanAbsoluteError)


@pytest.mark.filterwarnings("ignore:batch_size")
def test_sample_weight_zero_removes_samples_in_one_full_batch():
    X, y = _data(n=60)
    kw = dict(hidden_layer_sizes=(4,), batch_size=1000, max_iter=5, alpha=0.0, random_state=0,
              dtype="float64", shuffle=False)
    w = np.ones(60)
    w[:20] = 0
    a = MLPClassifier(**kw).fit(X, y, sample_weight=w).predict_proba(X)
    b = MLPClassifier(**kw).fit(X[20:], y[20:]).predict_proba(X)
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_batch_norm_and_dropout_build_and_predict():
    X, y = _data()
    clf = MLPClassifier((8, 8), batch_norm=True, dropout=0.2, max_iter=5, random_state=0).fit(X, y)
    kinds = [type(layer).__name__ for layer in clf.model_.layers]
    assert kinds.count("BatchNormalization") == 2 and kinds.count("Dropout") == 2
    assert clf.predict_proba(X).shape == (len(X), 3)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_optimizer_override_is_copied():
    X, y = _data()
    opt = fastnn.optimizers.RMSprop(learning_rate=0.01)
    clf = MLPClassifier((4,), optimizer=opt, max_iter=2, random_state=0).fit(X, y)
    assert isinstance(clf.model_.optimizer, fastnn.optimizers.RMSprop)
    assert clf.model_.optimizer is not opt and opt._state is None
    clf2 = MLPClassifier((4,), optimizer="sgd", max_iter=2, random_state=0).fit(X, y)
    assert isinstance(clf2.model_.optimizer, fastnn.optimizers.SGD)


# -- scikit-learn machinery -----------------------------------------------------------------------

def test_pipeline_and_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X * 10 + 3, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = pd.Series(np.array(["a", "b", "c"])[y])
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=40, random_state=0,
                                                         learning_rate_init=0.01))
    pipe.fit(df, labels)
    assert pipe.score(df, labels) > 0.85
    clf = MLPClassifier((4,), max_iter=2, random_state=0).fit(df, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    assert set(clf.predict(df)) <= {"a", "b", "c"} and clf.n_features_in_ == X.shape[1]
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_grid_search_two_hyperparameters():
    X, y = _data()
    grid = GridSearchCV(MLPClassifier(max_iter=15, random_state=0),
                        {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1e-1]}, cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["hidden_layer_sizes"] in [(4,), (16,)]
    assert grid.best_estimator_.coefs_[0].shape[1] == grid.best_params_["hidden_layer_sizes"][0]


def test_cross_val_score_equals_manual_stratified_loop():
    X, y = _data()
    est = MLPClassifier((8,), max_iter=10, random_state=4)
    scores = cross_val_score(est, X, y, cv=StratifiedKFold(3))
    manual = [clone(est).fit(X[tr], y[tr]).score(X[te], y[te])
              for tr, te in StratifiedKFold(3).split(X, y)]
    np.testing.assert_array_equal(scores, manual)


def test_bagging_with_two_jobs_matches_one_job():
    X, y = _data(n=150)
    base = MLPClassifier((6,), max_iter=20, learning_rate_init=0.05, random_state=0, n_threads=1)
    two = BaggingClassifier(base, n_estimators=4, n_jobs=2, random_state=0).fit(X, y)
    one = BaggingClassifier(base, n_estimators=4, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(two.predict_proba(X), one.predict_proba(X))
    assert two.score(X, y) > 0.8


def test_threaded_jobs_restore_the_thread_setting():
    import joblib
    X, y = _data(n=150)
    before = fastnn.get_num_threads()
    base = MLPClassifier((6,), max_iter=5, random_state=0, n_threads=1)
    with joblib.parallel_backend("threading", n_jobs=2):
        threaded = BaggingClassifier(base, n_estimators=4, random_state=0).fit(X, y)
    serial = BaggingClassifier(base, n_estimators=4, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(threaded.predict_proba(X), serial.predict_proba(X))
    assert fastnn.get_num_threads() == before


def test_pickle_is_bit_identical_and_holds_no_fastnn_objects():
    X, y = _data()
    clf = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    data = pickle.dumps(clf)
    modules = {arg.split(" ")[0] for op, arg, _ in pickletools.genops(data)
               if op.name in ("GLOBAL", "STACK_GLOBAL") and isinstance(arg, str)}
    strings = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    assert not any(s.startswith("fastnn") and s != "fastnn.sklearn.mlp" for s in strings + list(modules))
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.loss_curve_ == clf.loss_curve_
    # Training continues from the restored optimizer state exactly as the original does.
    clf.partial_fit(X, y)
    again.partial_fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    reg = MLPRegressor((4,), max_iter=3, random_state=0).fit(X, y.astype(float))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))
    unfitted = pickle.loads(pickle.dumps(MLPClassifier(alpha=0.5)))
    assert unfitted.alpha == 0.5 and not hasattr(unfitted, "model_")


def test_n_threads_is_pinned_and_restored():
    before = fastnn.get_num_threads()
    seen = []

    class Probe(fastnn.callbacks.Callback):
        needs_batch_logs = False

        def on_epoch_end(self, epoch, logs=None):
            seen.append(fastnn.get_num_threads())

    with pinned_threads(1):
        assert fastnn.get_num_threads() == 1
        model = fastnn.Sequential([layers.Dense(2)], seed=0)
        model.compile(loss="mse")
        model.fit(np.ones((4, 2)), np.ones((4, 2)), epochs=1, verbose=0, callbacks=[Probe()])
    assert seen == [1] and fastnn.get_num_threads() == before
    X, y = _data()
    MLPClassifier((4,), max_iter=2, n_threads=1, random_state=0).fit(X, y)
    assert fastnn.get_num_threads() == before


@pytest.mark.parametrize("params, name", [
    ({"activation": "foo"}, "activation"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
    ({"solver": "lbfgs"}, "solver"),
    ({"batch_size": 0}, "batch_size"),
    ({"alpha": -1.0}, "alpha"),
    ({"dtype": "float16"}, "dtype"),
    ({"optimizer": 3}, "optimizer"),
    ({"n_threads": 0}, "n_threads"),
    ({"dropout": 1.0}, "dropout"),
])
def test_bad_parameters_name_themselves(params, name):
    X, y = _data(n=30)
    with pytest.raises((ValueError, TypeError), match=name):
        MLPClassifier(**params).fit(X, y)


def test_regressor_bad_loss_and_classifier_bad_targets():
    X, y = _data(n=30)
    with pytest.raises((ValueError, TypeError), match="loss"):
        MLPRegressor(loss=3).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="no_such_loss").fit(X, y.astype(float))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, 30))


# -- fastnn.saving.model_to_bytes / model_from_bytes ----------------------------------------------

def _trained_model():
    X, y = _data()
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                               layers.Dropout(0.2), layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    return model, X, y


def test_model_bytes_round_trip_predicts_and_trains_identically():
    model, X, y = _trained_model()
    data = saving.model_to_bytes(model)
    assert isinstance(data, bytes) and data == saving.model_to_bytes(model)
    copy = saving.model_from_bytes(data)
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    for m in (model, copy):
        m.fit(X, y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    bare = saving.model_from_bytes(bytearray(data), compile=False)
    assert not bare.compiled
    np.testing.assert_array_equal(bare.get_weights()[0], saving.model_from_bytes(data).get_weights()[0])


def test_model_bytes_equal_the_saved_file(tmp_path):
    model, _, _ = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)
    assert path.read_bytes() == saving.model_to_bytes(model)


def test_model_from_bytes_rejects_bad_input():
    model, _, _ = _trained_model()
    data = saving.model_to_bytes(model)
    with pytest.raises(TypeError, match="data"):
        saving.model_from_bytes("not bytes")
    with pytest.raises(ValueError, match="not a fastnn archive"):
        saving.model_from_bytes(b"junk")
    with pytest.raises(ValueError, match="data"):
        saving.model_from_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    i = corrupt.find(b"\x93NUMPY") + 200  # inside the first array's values
    corrupt[i] ^= 0xFF
    with pytest.raises(ValueError, match="data"):
        saving.model_from_bytes(bytes(corrupt))


def test_batch_size_auto_clip_and_verbose(capsys):
    X, y = _data(n=50)
    clf = MLPClassifier((4,), max_iter=2, random_state=0, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert f"Iteration 2, loss = {clf.loss_:.8f}" in out
    assert clf.t_ == 100
    with pytest.warns(UserWarning, match="batch_size: 80 is larger than the 50"):
        MLPClassifier((4,), batch_size=80, max_iter=1).fit(X, y)
    # "auto" is min(200, n): 250 rows make two steps per epoch (Adam's step count says so).
    X2, y2 = _data(n=250)
    two = MLPClassifier((4,), max_iter=1, random_state=0).fit(X2, y2)
    assert int(two.model_.optimizer.iterations) == 2


@pytest.mark.parametrize("schedule, momentum, nesterov, extra", [
    ("constant", 0.9, True, {}),
    ("constant", 0.9, False, {}),
    ("invscaling", 0.0, True, {"power_t": 0.3}),
    ("adaptive", 0.0, True, {"tol": 1e3, "n_iter_no_change": 1}),
])
def test_sgd_epochs_and_schedules_equal_sklearn(schedule, momentum, nesterov, extra):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 3, 30)
    common = dict(hidden_layer_sizes=(4,), solver="sgd", momentum=momentum, nesterovs_momentum=nesterov,
                  learning_rate=schedule, alpha=0.01, batch_size=30, shuffle=False,
                  learning_rate_init=0.05, **extra)
    ours, theirs = MLPClassifier(dtype="float64", **common), SkMLPClassifier(**common)
    _one_step_against_sklearn(ours, theirs, X, y)  # same weights, then one epoch each
    # The first fits started from different random weights: forget their best losses so
    # that both stopping rules see only the common trajectory from here.
    for est in (ours, theirs):
        est.best_loss_, est._no_improvement_count = np.inf, 0
    ours.set_params(max_iter=40).fit(X, y)  # warm start, fresh optimizers, up to 40 epochs
    theirs.set_params(max_iter=40).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    if schedule == "adaptive":
        assert ours.n_iter_ < 40  # stopped once the rate fell to 1e-6
    # (the first entry is from the first fit, before the weights were made equal)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-11)


class HalfSquaredError(losses.Loss):
    """A user's own loss (numpy path), to test that estimators using it pickle."""

    def value(self, y_true, y_pred):
        return 0.5 * np.mean((y_pred - y_true) ** 2, axis=-1)

    def gradient(self, y_true, y_pred):
        return (y_pred - y_true) / y_pred.shape[1]


def test_custom_loss_estimator_pickles():
    X, y = make_regression(80, 3, noise=0.1, random_state=0)
    reg = MLPRegressor((4,), max_iter=3, loss=HalfSquaredError(), random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(reg))
    assert isinstance(again.model_.loss, HalfSquaredError)
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    assert reg.model_.loss is not reg.loss  # the parameter object is copied, never trained on


def test_failed_fit_leaves_the_fitted_model_alone():
    X, y = make_regression(60, 3, random_state=0)
    reg = MLPRegressor((4,), max_iter=3, random_state=0, warm_start=True).fit(X, y)
    model, before, curve = reg.model_, reg.predict(X), list(reg.loss_curve_)
    with pytest.raises(ValueError, match="validation_fraction"):
        reg.set_params(early_stopping=True, validation_fraction=0.01).fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        reg.partial_fit(X, y)
    assert reg.model_ is model and reg.loss_curve_ == curve
    np.testing.assert_array_equal(reg.predict(X), before)
