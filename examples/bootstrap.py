"""Bootstrap estimates of accuracy: out-of-bag, .632 and .632+, with percentile intervals.

A bootstrap replicate draws n rows *with replacement* from the n rows of the data,
trains a model on them and tests it on the rows that were never drawn ("out of bag",
about 36.8% of them). Repeating this gives:

- out-of-bag (OOB): the mean test accuracy. Pessimistic: each model saw only ~63.2%
  of the distinct rows.
- .632 (Efron 1983): 0.368 x training accuracy + 0.632 x OOB accuracy, pulling the
  pessimistic OOB value towards the optimistic training accuracy.
- .632+ (Efron & Tibshirani 1997): like .632, but moves the weight towards OOB the
  more the model overfits (compared with a model that ignores the inputs).

Each line also prints a percentile interval: the middle 95% of the estimates that
the single replicates give.

    python examples/bootstrap.py [--quick] [--replicates 50] [--seed 0]

Data: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).
"""
from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastnn.model_selection import bootstrap_score
from fastnn.sklearn import MLPClassifier


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer replicates and epochs")
    parser.add_argument("--replicates", type=int, default=None,
                        help="bootstrap replicates (default 50, 15 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling and the model")
    args = parser.parse_args(argv)
    replicates = args.replicates or (15 if args.quick else 50)
    epochs = 15 if args.quick else 30
    # A fixed epoch budget on purpose: silence the "not converged yet" warning.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> 0..1
    model = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=epochs,
                          random_state=args.seed)

    results = {}
    for method in ("oob", ".632", ".632+"):
        # The same random_state draws the same replicates for every method, so the three
        # estimates differ only in how they combine the same out-of-bag accuracies.
        # stratify=True keeps all 10 digits in every bootstrap sample in their proportions.
        r = bootstrap_score(model, X, y, n_bootstraps=replicates, method=method,
                            scoring="accuracy", confidence=0.95, stratify=True,
                            random_state=args.seed)
        results[method] = r
        print(f"{method:>5}: accuracy {r.estimate:.4f}, "
              f"95% interval [{r.ci_low:.4f}, {r.ci_high:.4f}]")
    last = results[".632+"]
    print(f"training accuracy {last.train_score:.4f} (optimistic), no-information accuracy "
          f"{last.no_information_score:.4f} (a model that ignores the pixels), "
          f"{replicates} replicates")
    return results


if __name__ == "__main__":
    main()
