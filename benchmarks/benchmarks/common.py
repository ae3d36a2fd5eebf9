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


# The tabular MLP of issue 4: 130 features, 5 labels (multi-label), batch 4096.
TABULAR_FEATURES, TABULAR_LABELS, TABULAR_WIDTH, TABULAR_BATCH = 130, 5, 160, 4096


@functools.lru_cache(maxsize=None)
def tabular_data(n, seed=0):
    """Synthetic multi-label data: labels from random projections of skewed features."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, TABULAR_FEATURES)) * rng.uniform(0.5, 20, TABULAR_FEATURES)
         + rng.uniform(-50, 50, TABULAR_FEATURES)).astype(np.float32)
    proj = rng.standard_normal((TABULAR_FEATURES, TABULAR_LABELS))
    Z = (X - X.mean(0)) / X.std(0) @ proj / np.sqrt(TABULAR_FEATURES)
    Y = (Z + 0.5 * rng.standard_normal(Z.shape) > 0).astype(np.float32)
    return X, Y


def tabular_mlp(X, plain=False, dtype="float32"):
    """Normalization -> Dropout(0.2) -> 3 x [Dense(160) -> BatchNormalization -> swish ->
    Dropout(0.2)] -> Dense(5), BCE from logits (label smoothing 0.01), Adam(1e-3).
    plain=True: the same Dense stack without Dropout and BatchNormalization (swish fused)."""
    from fastnn import losses

    norm = layers.Normalization()
    norm.adapt(X)
    stack = [layers.Input((TABULAR_FEATURES,)), norm]
    if not plain:
        stack.append(layers.Dropout(0.2))
    for _ in range(3):
        if plain:
            stack.append(layers.Dense(TABULAR_WIDTH, activation="swish"))
        else:
            stack += [layers.Dense(TABULAR_WIDTH), layers.BatchNormalization(),
                      layers.Activation("swish"), layers.Dropout(0.2)]
    stack.append(layers.Dense(TABULAR_LABELS))
    model = fastnn.Sequential(stack, seed=0, dtype=dtype)
    model.compile(optimizer=optimizers.Adam(1e-3),
                  loss=losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.01))
    return model


# Tiny inputs for per-call overhead (bench_overhead.py): `width` features -> Dense(width, relu)
# -> Dense(10), batches of 1-8 rows. Labels come from a fixed random linear teacher, so a few
# epochs lower the loss and a track of it means something.
TINY_SAMPLES = 256


@functools.lru_cache(maxsize=None)
def tiny_data(width, dtype="float32", n=TINY_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, width))
    y = np.argmax(X @ rng.standard_normal((width, 10)), axis=1).astype(np.int64)
    return X.astype(dtype), y


def tiny_mlp(width, dtype="float32"):
    return mlp((width, width, 10), dtype)


# MNIST (bench_mnist.py): the network and batch size of examples/mnist_demo.py.
MNIST_SIZES, MNIST_BATCH = (784, 256, 256, 10), 128
MNIST_SOURCES = ("mnist-60k", "sample-6k")


@functools.lru_cache(maxsize=None)
def mnist_data(source, dtype="float32"):
    """((X, y), (X_test, y_test)) in `dtype`, or None when the full set is not on disk.

    "mnist-60k" is the real MNIST from $FASTNN_DATA/mnist or fastnn's cache folder (a
    benchmark never downloads); "sample-6k" is the sample bundled with fastnn
    (6000 train / 1000 test images), always available.
    """
    from fastnn.datasets import load_mnist, load_mnist_sample

    if source == "sample-6k":
        (X, y), (Xt, yt) = load_mnist_sample()
    elif source == "mnist-60k":
        try:
            (X, y), (Xt, yt) = load_mnist(download=False)
        except FileNotFoundError:
            return None
    else:
        raise ValueError(f"source: expected one of {MNIST_SOURCES}, got {source!r}")
    return (X.astype(dtype), y), (Xt.astype(dtype), yt)
