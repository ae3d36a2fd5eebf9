"""Evaluation: holdout, k-fold cross-validation and the bootstrap, in plain numpy."""
import numpy as np

import fastnn
from fastnn import layers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.normal(size=(600, 4)).astype(np.float32)
y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)         # an XOR-like pattern


def train(X_fit, y_fit):
    model = fastnn.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"), layers.Dense(2)],
                              seed=0)
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.01),
                  loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X_fit, y_fit, epochs=30, batch_size=32, verbose=0)
    return model


# Holdout: train on 75 %, test on the 25 % the model never saw.
idx = rng.permutation(len(X))
test, fit_idx = idx[:150], idx[150:]
holdout = train(X[fit_idx], y[fit_idx]).evaluate(X[test], y[test])["accuracy"]
print(f"holdout accuracy: {holdout:.3f}")

# k-fold: every sample is tested exactly once, by the model that did not train on it.
k = 5
folds = np.array_split(rng.permutation(len(X)), k)
scores = []
for i in range(k):
    fit_idx = np.concatenate([folds[j] for j in range(k) if j != i])
    scores.append(train(X[fit_idx], y[fit_idx]).evaluate(X[folds[i]], y[folds[i]])["accuracy"])
print("5-fold accuracies:", np.round(scores, 3))
print(f"5-fold estimate  : {np.mean(scores):.3f} +- {np.std(scores, ddof=1):.3f}")

# Bootstrap: train on n rows drawn with replacement, test on the rows left out
# ("out of bag", about 36.8 % of them).
oob_scores = []
for b in range(5):
    draw = rng.integers(0, len(X), size=len(X))
    oob = np.setdiff1d(np.arange(len(X)), draw)
    oob_scores.append(train(X[draw], y[draw]).evaluate(X[oob], y[oob])["accuracy"])
print("bootstrap out-of-bag accuracies:", np.round(oob_scores, 3))
print(f"bootstrap estimate: {np.mean(oob_scores):.3f}")
