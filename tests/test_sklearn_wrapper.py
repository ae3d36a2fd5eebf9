"""fastnn.sklearn.KerasClassifier / KerasRegressor: a user's own fastnn model in scikit-learn."""
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastnn  # noqa: E402
from fastnn import layers  # noqa: E402
from fastnn.sklearn import KerasClassifier, KerasRegressor  # noqa: E402
from fastnn.sklearn._base import pinned_threads  # noqa: E402


def build_classifier(units=16, lr=0.01, n_features_in=None, n_outputs=None, seed=0):
    model = fastnn.Sequential([layers.Input((n_features_in,)), layers.Dense(units, activation="relu"),
                               layers.Dense(n_outputs)], seed=seed)
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=lr), loss="softmax_cross_entropy")
    return model


def build_binary(n_features_in=None, seed=0):
    model = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(1)], seed=seed)
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.02),
                  loss=fastnn.losses.BinaryCrossentropy(from_logits=True))
    return model


def build_regressor(units=16, n_outputs=1, **kwargs):
    model = fastnn.Sequential([layers.Dense(units, activation="relu"), layers.Dense(n_outputs)],
                              seed=kwargs.get("seed", 0))
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.01), loss="mse")
    return model


def _data(n=240, classes=3):
    X, y = make_classification(n, 6, n_informative=4, n_redundant=0, n_classes=classes,
                               n_clusters_per_class=1, random_state=0)
    return StandardScaler().fit_transform(X), y


def test_params_route_to_build_fn_and_clone():
    clf = KerasClassifier(build_classifier, epochs=3, model__units=5, model__lr=0.05)
    params = clf.get_params()
    assert params["model__units"] == 5 and params["epochs"] == 3 and params["build_fn"] is build_classifier
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    clf.set_params(model__units=7, epochs=4, model__seed=3)
    assert clf.model__units == 7 and clf.epochs == 4 and clf.get_params()["model__seed"] == 3
    X, y = _data()
    clf.fit(X, y)
    assert clf.model_.layers[0].units == 7 and clf.model_.seed == 3
    assert len(clf.history_["loss"]) == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(units=3)
    with pytest.raises(TypeError, match="'units'.*model__"):
        KerasClassifier(build_classifier, units=3).fit(X, y)


def test_classifier_learns_and_predicts_labels_of_any_type():
    X, y = _data()
    names = np.array(["ant", "bee", "cat"])[y]
    clf = KerasClassifier(build_classifier, epochs=30).fit(X, names)
    assert list(clf.classes_) == ["ant", "bee", "cat"]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, clf.model_.predict(X), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    assert clf.score(X, names) > 0.85


def test_binary_one_unit_model():
    X, y = _data(classes=2)
    clf = KerasClassifier(build_binary, epochs=30, batch_size=16).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert clf.score(X, y) > 0.85


def test_cross_val_score_equals_manual_loop():
    X, y = _data()
    clf = KerasClassifier(build_classifier, epochs=5, n_threads=1)
    scores = cross_val_score(clf, X, y, cv=StratifiedKFold(3))
    manual = []
    with pinned_threads(1):  # the thread count the wrapper ran with (results are per count)
        for tr, te in StratifiedKFold(3).split(X, y):
            model = build_classifier(n_features_in=6, n_outputs=3)
            model.fit(X[tr], y[tr], epochs=5, batch_size=32, verbose=0)
            manual.append(np.mean(np.argmax(model.predict(X[te]), axis=1) == y[te]))
    np.testing.assert_array_equal(scores, manual)


def test_grid_search_over_model_and_fit_params():
    X, y = _data()
    grid = GridSearchCV(KerasClassifier(build_classifier),
                        {"model__units": [2, 32], "epochs": [1, 20]}, cv=2).fit(X, y)
    assert grid.best_params_ == {"model__units": 32, "epochs": 20}
    assert grid.best_estimator_.model_.layers[0].units == 32


def test_regressor_pipeline_multi_output_and_pickle():
    X, Y = make_regression(200, 4, n_targets=2, noise=0.1, random_state=0)
    Y = Y / Y.std(axis=0)
    pipe = make_pipeline(StandardScaler(), KerasRegressor(build_regressor, epochs=40, model__units=32))
    pipe.fit(X, Y)
    assert pipe.predict(X).shape == (200, 2) and pipe.score(X, Y) > 0.9
    reg = KerasRegressor(build_regressor, epochs=2).fit(X, Y[:, 0])
    assert reg.predict(X).shape == (200,)
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    scores = cross_val_score(KerasRegressor(build_regressor, epochs=2), X, Y[:, 0], cv=KFold(2))
    assert scores.shape == (2,)


def test_callbacks_are_copied_and_used():
    X, y = _data()
    stop = fastnn.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    clf = KerasClassifier(build_classifier, epochs=50, callbacks=[stop]).fit(X, y)
    assert len(clf.history_["loss"]) == 2  # min_delta unreachable: stops after the patience
    assert clf.callbacks[0] is stop and stop.model is None


def test_bad_build_fn_is_named():
    X, y = _data()
    with pytest.raises(TypeError, match="build_fn"):
        KerasClassifier(None).fit(X, y)

    def uncompiled(**kwargs):
        return fastnn.Sequential([layers.Dense(3)])

    with pytest.raises(ValueError, match="build_fn.*compiled"):
        KerasClassifier(uncompiled).fit(X, y)
    with pytest.raises(TypeError, match="build_fn.*Sequential"):
        KerasClassifier(lambda **kw: "model").fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        KerasClassifier(build_classifier, epochs=0).fit(X, y)
