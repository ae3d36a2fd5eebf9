"""A short, representative fastnn workload for tools/sanitize.sh (run under valgrind).

Every kernel family runs at least once on small shapes: dense forward/backward
with several activations, batch and layer normalization, dropout and noise,
each loss family, every optimizer, CSR (sparse) inputs, predict at batch 1 and
in chunks, save/load. Small on purpose: valgrind runs ~30-50x slower.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import scipy.sparse as sp

import fastnn
from fastnn import callbacks, layers, losses, optimizers


def main() -> None:
    rng = np.random.default_rng(0)
    n, d, k = 96, 12, 4
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    for dtype in ("float32", "float64"):
        model = fastnn.Sequential([
            layers.Dense(16, activation="relu"), layers.BatchNormalization(),
            layers.Dropout(0.2), layers.Dense(16, activation="tanh"),
            layers.LayerNormalization(), layers.GaussianNoise(0.1), layers.Dense(k)], seed=0, dtype=dtype)
        model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy", "auc"])
        model.fit(X, y, epochs=2, batch_size=17, verbose=0, validation_split=0.25,
                  callbacks=[callbacks.TerminateOnNaN()])
        model.evaluate(X, y, batch_size=50)
        model.predict(X[:1])
        model.predict(X, batch_size=40)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.fastnn")
            model.save(path)
            fastnn.load_model(path).predict(X[:3])
    # sparse inputs through the zero-skipping kernels, dense inputs converted on the fly
    Xs = sp.random(n, d, density=0.2, format="csr", random_state=1, dtype=np.float32)
    for mode in ("auto", "always"):
        model = fastnn.Sequential([layers.Dense(8, activation="sigmoid"), layers.Dense(k)], seed=1)
        model.zero_skipping = mode
        model.compile(optimizer="sgd", loss="softmax_cross_entropy")
        model.fit(Xs if mode == "auto" else Xs.toarray(), y, epochs=1, batch_size=16, verbose=0)
        model.predict(Xs[:5])
    # every optimizer, and the regression / binary loss kernels
    targets = rng.standard_normal((n, 2)).astype(np.float32)
    names = [c for c in optimizers.__all__ if c not in ("Optimizer", "get", "serialize", "deserialize")]
    for i, opt in enumerate(names):
        for loss in ("mse", "mae", "huber", "log_cosh")[i % 2::2]:
            model = fastnn.Sequential([layers.Dense(6, activation="gelu"), layers.Dense(2)], seed=2)
            model.compile(optimizer=getattr(optimizers, opt)(), loss=loss)
            model.fit(X, targets, epochs=1, batch_size=32, verbose=0)
    binary = (rng.random((n, 1)) > 0.5).astype(np.float32)
    model = fastnn.Sequential([layers.Dense(5, activation="swish"), layers.Dense(1)], seed=3)
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True))
    model.fit(X, binary, epochs=1, batch_size=32, verbose=0)
    fastnn.gradient_check(model, X[:4], binary[:4], max_checks=3)
    print("sanitize_train: done")


if __name__ == "__main__":
    main()
