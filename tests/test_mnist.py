"""End-to-end accuracy on MNIST: the full data set (slow; needs the files) and the
sample bundled with fastnn (quick; always runs)."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import layers, optimizers
from fastnn.datasets import load_mnist, load_mnist_sample


@pytest.fixture(scope="module")
def mnist():
    where = os.environ.get("FASTNN_DATA")
    try:
        return load_mnist(download=False)  # $FASTNN_DATA/mnist, then the cache; never the network
    except FileNotFoundError:
        pytest.skip(f"full MNIST not found (FASTNN_DATA={where!r}): point FASTNN_DATA at a folder "
                    "containing mnist/ with the four .gz files to run the accuracy test")


def mlp(seed, hidden=(256, 256)):
    model = fastnn.Sequential([layers.Input((784,))] +
                              [layers.Dense(h, activation="relu") for h in hidden] +
                              [layers.Dense(10)], seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_mnist_two_epochs_reaches_96_5_percent(mnist, seed):
    (X, y), (Xt, yt) = mnist
    assert X.shape == (60000, 784) and X.dtype == np.float32
    model = mlp(seed)
    history = model.fit(X, y, epochs=2, batch_size=128, verbose=0)
    result = model.evaluate(Xt, yt)
    assert result["accuracy"] >= 0.965, (seed, result, history.history)
    assert history.history["loss"][1] < history.history["loss"][0]
    # evaluate's accuracy is what predict gives.
    assert np.mean(model.predict(Xt).argmax(axis=1) == yt) == pytest.approx(result["accuracy"], abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_mnist_sample_reaches_a_sane_accuracy(seed):
    (X, y), (Xt, yt) = load_mnist_sample()
    model = mlp(seed, hidden=(128,))
    history = model.fit(X, y, epochs=2, batch_size=64, verbose=0, validation_data=(Xt, yt))
    result = model.evaluate(Xt, yt)
    assert result["accuracy"] >= 0.85, (seed, result)
    assert history.history["val_accuracy"][-1] == result["accuracy"]
    assert history.history["accuracy"][-1] > 0.85
