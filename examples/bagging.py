"""Bagging: average many fastnn MLPs, each trained on a bootstrap sample, vs one MLP.

`sklearn.ensemble.BaggingClassifier` trains each member on n rows drawn with
replacement and averages their predicted class probabilities. Members that
overfit in different ways partly cancel out, so the ensemble is usually at least as
accurate as one model, at the cost of training several. Two worker processes
(n_jobs=2) train the members side by side; each member runs fastnn with one thread
(n_threads=1) so that the two workers do not fight over the cores.

    python examples/bagging.py [--quick] [--members 10] [--seed 0]

Data: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes),
with a stratified 3/4 - 1/4 train/test split.
"""
from __future__ import annotations

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.ensemble import BaggingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn.sklearn import MLPClassifier


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer members and epochs")
    parser.add_argument("--members", type=int, default=None,
                        help="models in the ensemble (default 10, 5 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the models")
    args = parser.parse_args(argv)
    members = args.members or (5 if args.quick else 10)
    epochs = 15 if args.quick else 30
    # A fixed epoch budget on purpose: silence the "not converged yet" warning
    # (scikit-learn passes this filter on to its worker processes).
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=0.75, stratify=y, random_state=args.seed)

    mlp = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=epochs,
                        random_state=args.seed, n_threads=1)

    start = time.perf_counter()
    single = mlp.fit(X_train, y_train)
    single_acc = single.score(X_test, y_test)
    single_s = time.perf_counter() - start

    # BaggingClassifier clones `mlp` for each member and gives each clone its own
    # random_state, so the members differ in their bootstrap sample and their start.
    bag = BaggingClassifier(estimator=mlp, n_estimators=members, bootstrap=True,
                            n_jobs=2, random_state=args.seed)
    start = time.perf_counter()
    bag.fit(X_train, y_train)
    bag_acc = bag.score(X_test, y_test)
    bag_s = time.perf_counter() - start

    print(f"single MLP: test accuracy {single_acc:.4f} ({single_s:.2f} s)")
    # the time includes starting the two worker processes (each imports scikit-learn and fastnn)
    print(f"bagging of {members} MLPs: test accuracy {bag_acc:.4f} ({bag_s:.2f} s, n_jobs=2)")
    print(f"difference (bagging - single): {bag_acc - single_acc:+.4f} on {len(y_test)} test images")
    return {"single": single_acc, "bagging": bag_acc, "members": members}


if __name__ == "__main__":
    main()
