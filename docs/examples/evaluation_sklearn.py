"""Evaluation with scikit-learn: fastnn's estimators in cross_val_score and the bootstrap."""
# requires: sklearn
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score

import fastnn
from fastnn.model_selection import bootstrap_score
from fastnn.sklearn import MLPClassifier

fastnn.set_num_threads(1)
# 30 epochs on purpose (as in the numpy example): silence "maximum iterations reached".
warnings.filterwarnings("ignore", category=ConvergenceWarning)
rng = np.random.default_rng(0)
X = rng.normal(size=(600, 4)).astype(np.float32)
y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)          # the data of the numpy example

# scikit-learn's MLP parameters; a fastnn Sequential trains underneath.
clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, batch_size=32,
                    max_iter=30, random_state=0)
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)   # class proportions kept
scores = cross_val_score(clf, X, y, cv=folds)
print("5-fold accuracies:", np.round(scores, 3))
print(f"5-fold estimate  : {scores.mean():.3f} +- {scores.std(ddof=1):.3f}")

# Out-of-bag and .632+ bootstrap estimates, each over 10 replicates.
for method in ["oob", ".632+"]:
    result = bootstrap_score(clf, X, y, n_bootstraps=10, method=method, random_state=0)
    print(f"bootstrap {method:>5}: {result.estimate:.3f}"
          f" ({result.confidence:.0%} interval {result.ci_low:.3f} to {result.ci_high:.3f})")
