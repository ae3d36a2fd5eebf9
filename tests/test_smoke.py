"""End-to-end smoke test: a small network learns a separable problem."""
import numpy as np

import fastnn
from fastnn import layers


def test_fit_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = fastnn.Sequential([layers.Dense(16, activation="tanh"), layers.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    before = model.evaluate(X, y)["accuracy"]
    history = model.fit(X, y, epochs=20, batch_size=32, verbose=0)
    after = model.evaluate(X, y)["accuracy"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after > 0.95 > before
