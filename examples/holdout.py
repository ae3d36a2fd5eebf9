"""Hold-out evaluation: train on one part of the data, measure accuracy on the rest.

The simplest honest estimate of how a model does on data it has never seen: keep a
test set aside, train on the other rows, score once on the test set. The split is
stratified (every digit keeps its share in both parts) and repeated for three common
training fractions, 2/3, 3/4 and 4/5, to show that the estimate moves with the split.

    python examples/holdout.py [--quick] [--seed 0]

Data: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).
"""
from __future__ import annotations

import argparse
import warnings
from fractions import Fraction

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn.sklearn import MLPClassifier

TRAIN_FRACTIONS = (Fraction(2, 3), Fraction(3, 4), Fraction(4, 5))


def make_model(epochs: int, seed: int) -> MLPClassifier:
    """One hidden layer of 32 ReLU units, Adam; a fixed budget of `epochs` passes."""
    return MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=epochs,
                         random_state=seed)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the model")
    args = parser.parse_args(argv)
    epochs = 15 if args.quick else 30
    # We stop after a fixed number of epochs on purpose; the warning that the optimizer
    # has not fully converged is expected here.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities are 0..16: scale them to 0..1
    print(f"digits: {X.shape[0]} images of {X.shape[1]} pixels, {len(np.unique(y))} classes")

    results = {}
    for fraction in TRAIN_FRACTIONS:
        # stratify=y keeps each class's share equal in the training and the test part
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, train_size=float(fraction), stratify=y, random_state=args.seed)
        model = make_model(epochs, args.seed).fit(X_train, y_train)
        train_acc = model.score(X_train, y_train)   # optimistic: the model has seen these rows
        test_acc = model.score(X_test, y_test)      # the hold-out estimate
        results[str(fraction)] = test_acc
        print(f"train {fraction} ({len(y_train)} rows): train accuracy {train_acc:.4f}, "
              f"test accuracy {test_acc:.4f} on {len(y_test)} rows")
    spread = max(results.values()) - min(results.values())
    print(f"the three hold-out estimates differ by up to {spread:.4f}: one split is one sample")
    return results


if __name__ == "__main__":
    main()
