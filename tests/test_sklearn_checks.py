"""scikit-learn's own estimator checks on fastnn's MLPClassifier / MLPRegressor."""
import pytest

sklearn = pytest.importorskip("sklearn")
if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 6):
    pytest.skip("parametrize_with_checks(expected_failed_checks=...) needs scikit-learn >= 1.6",
                allow_module_level=True)

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn import layers  # noqa: E402
from fastnn.sklearn import KerasClassifier, KerasRegressor, MLPClassifier, MLPRegressor  # noqa: E402


def build_classifier(n_features_in=None, n_outputs=None, units=8, seed=0):
    """A user's model for the wrapper checks (module level: the checks pickle it)."""
    model = fastnn.Sequential([layers.Dense(units, activation="relu"), layers.Dense(n_outputs)],
                              seed=seed)
    model.compile(optimizer=fastnn.optimizers.Adam(0.02), loss="softmax_cross_entropy")
    return model


def build_regressor(n_features_in=None, n_outputs=None, units=8, seed=0):
    model = fastnn.Sequential([layers.Dense(units, activation="relu"), layers.Dense(n_outputs)],
                              seed=seed)
    model.compile(optimizer=fastnn.optimizers.Adam(0.02), loss="mse")
    return model


# Small networks keep the ~100 checks fast; the learning rate is raised so that the
# checks that demand a trained model (accuracy > 0.83 on blobs, R^2 on a toy set) pass
# within max_iter epochs.
_ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, learning_rate_init=0.02, n_threads=1),
    MLPRegressor(hidden_layer_sizes=(8,), max_iter=60, learning_rate_init=0.02, n_threads=1),
    KerasClassifier(build_classifier, epochs=30, n_threads=1),
    KerasRegressor(build_regressor, epochs=30, n_threads=1),
]


# Mini-batch training: a sample of weight 2 is one row of a batch, its duplicate may
# land in another batch, so the two fits take different steps (scikit-learn's own MLP
# passes these checks only with its full-batch "lbfgs" solver, which fastnn does not offer).
_SW_REASON = ("mini-batch SGD/Adam: integer sample weights are not equivalent to repeated "
              "rows, because the repeats fall into other batches")


def _expected_failed_checks(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": _SW_REASON,
            "check_sample_weight_equivalence_on_sparse_data": _SW_REASON}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(_ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:batch_size")
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_sample_weight_equivalence_with_one_full_batch(cls):
    # The two checks marked above pass when every epoch is one batch (no penalty, float64):
    # the weighted mean of the loss then equals the mean over the repeated rows.
    from sklearn.utils.estimator_checks import (check_sample_weight_equivalence_on_dense_data,
                                                check_sample_weight_equivalence_on_sparse_data)
    est = cls(hidden_layer_sizes=(8,), max_iter=30, batch_size=100000, alpha=0.0,
              dtype="float64", learning_rate_init=0.01)
    check_sample_weight_equivalence_on_dense_data(cls.__name__, est)
    check_sample_weight_equivalence_on_sparse_data(cls.__name__, est)
