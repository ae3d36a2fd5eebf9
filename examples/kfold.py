"""Stratified 10-fold cross-validation of a fastnn MLP with scikit-learn's `cross_val_score`.

The data are cut into 10 folds that each keep the class proportions. Each fold serves
once as the test set while the model trains on the other 9, so every row is tested
exactly once and 10 accuracies come out: their mean estimates the accuracy on new
data, their standard deviation shows how much one split can vary.

    python examples/kfold.py [--quick] [--folds 10] [--seed 0]

Data: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).
"""
from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score

from fastnn.sklearn import MLPClassifier


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training epochs")
    parser.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and the model")
    args = parser.parse_args(argv)
    epochs = 15 if args.quick else 30
    # A fixed epoch budget on purpose: silence the "not converged yet" warning.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> 0..1

    model = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=epochs,
                          random_state=args.seed)
    # shuffle=True mixes the rows before cutting, so the folds do not depend on file order
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    # cross_val_score clones the model for every fold: no fold sees another's training
    scores = cross_val_score(model, X, y, cv=folds, scoring="accuracy")

    for i, acc in enumerate(scores, 1):
        print(f"fold {i:2d}: accuracy {acc:.4f}")
    # std with ddof=1: the folds are a sample of the possible splits
    mean, std = scores.mean(), scores.std(ddof=1)
    print(f"{args.folds}-fold accuracy: mean {mean:.4f}, std {std:.4f}")
    return {"scores": scores, "mean": mean, "std": std}


if __name__ == "__main__":
    main()
