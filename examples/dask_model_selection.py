"""Model selection on a Dask cluster: grid search and k-fold scores of fastnn estimators.

scikit-learn's GridSearchCV and cross_val_score fan their fits out through joblib;
joblib's "dask" backend sends each fit to a Dask worker. Each fit is one fastnn
training pinned to one thread (n_threads=1), so 2 workers x 1 thread use 2 cores
without oversubscribing. Estimators travel between processes as fastnn's own
archive bytes (JSON and arrays), never as pickled kernel objects.

    python examples/dask_model_selection.py            # a LocalCluster on this machine
    python examples/dask_model_selection.py --scheduler tcp://host:8786   # a real cluster
"""
import argparse
import time

import joblib
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from fastnn.sklearn import MLPClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    net = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0, n_threads=1)
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 3e-3]}
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    with client, joblib.parallel_backend("dask"):
        t0 = time.perf_counter()
        search = GridSearchCV(net, grid, cv=cv, n_jobs=-1).fit(x, y)
        scores = cross_val_score(search.best_estimator_, x, y, cv=cv, n_jobs=-1)
        seconds = time.perf_counter() - t0
    print(f"best parameters: {search.best_params_}")
    print(f"best mean CV accuracy: {search.best_score_:.4f}")
    print(f"3-fold accuracy of the best: {scores.mean():.4f} +- {scores.std():.4f}")
    print(f"{len(search.cv_results_['params']) * 3 + 3 + 1} fits on the cluster in {seconds:.1f} s")


if __name__ == "__main__":
    main()
