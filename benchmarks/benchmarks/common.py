"""Shared fixed-seed data and model builders for the asv suites.

Only append here; never change an existing workload, or the history breaks.
"""
import functools

import numpy as np

import fastnn
from fastnn import layers, optimizers

# name: (layer sizes, batch size, samples per timed epoch)
WORKLOADS = {
    "W1": ((784, 128, 10), 32, 8192),
    "W2": ((784, 256, 256, 10), 128, 16384),
    "W3": ((784, 2048, 2048, 10), 512, 4096),
}


@functools.lru_cache(maxsize=None)
def classification_data(n, n_features, n_classes, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features)).astype(dtype)
    y = rng.integers(0, n_classes, n).astype(np.int64)
    return X, y


def mlp(sizes, dtype="float32", optimizer=None):
    model = fastnn.Sequential([layers.Input((sizes[0],))] + [
        layers.Dense(n, activation="relu" if i < len(sizes) - 2 else None)
        for i, n in enumerate(sizes[1:])], seed=0, dtype=dtype)
    model.compile(optimizer=optimizer or optimizers.Adam(1e-3), loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    return model
