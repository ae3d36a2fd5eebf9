"""Grid search and cross-validation of fastnn estimators on a Dask LocalCluster
(2 worker processes x 1 thread, loopback) equal the sequential run for the same seeds."""
import numpy as np
import pytest

try:
    import dask.distributed  # noqa: F401
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

    from fastnn.sklearn import MLPClassifier
    _missing = None
except ImportError as exc:
    _missing = f"dask.distributed or scikit-learn missing ({exc})"
    print(f"test_dask_model_selection: skipped: {_missing}")
pytestmark = [pytest.mark.skipif(_missing is not None, reason=str(_missing)), pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x[:600] / 16.0).astype(np.float32), y[:600]


def make():
    return MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, learning_rate_init=1e-2, random_state=0,
                         n_threads=1)


def test_grid_search_on_the_cluster_equals_the_sequential_run(client, digits):
    x, y = digits
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [3e-3, 1e-2]}
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    sequential = GridSearchCV(make(), grid, cv=cv, n_jobs=1).fit(x, y)
    from dask.distributed import get_task_stream
    with joblib.parallel_backend("dask"), get_task_stream(client) as tasks:
        remote = GridSearchCV(make(), grid, cv=cv, n_jobs=-1).fit(x, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])
    assert remote.best_params_ == sequential.best_params_
    # The refitted best model came back through fastnn's own serialization: same predictions.
    np.testing.assert_array_equal(remote.predict_proba(x), sequential.predict_proba(x))
    # ... and the 12 fits really ran on the workers (joblib may batch several per task).
    workers = {t["worker"] for t in tasks.data}
    assert tasks.data and workers <= set(client.scheduler_info()["workers"]), tasks.data[:2]


def test_cross_val_score_on_the_cluster_equals_the_sequential_run(client, digits):
    x, y = digits
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=1)
    sequential = cross_val_score(make(), x, y, cv=cv)
    with joblib.parallel_backend("dask"):
        remote = cross_val_score(make(), x, y, cv=cv, n_jobs=-1)
    np.testing.assert_array_equal(remote, sequential)
    assert sequential.mean() > 0.5  # learnable: far above 10% chance
