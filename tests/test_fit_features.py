"""fit's Keras features: validation_split, the learning rate in History, skipping
non-finite steps for TerminateOnNaN-like callbacks, stopping within an epoch."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers, optimizers


def model_and_data(n=60, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
    model = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)], seed=1, dtype=dtype)
    model.compile(optimizer=optimizers.SGD(0.1), loss="softmax_cross_entropy", metrics=["accuracy"])
    return model, X, y


def test_validation_split_holds_out_the_last_rows():
    model, X, y = model_and_data(60)
    twin, _, _ = model_and_data(60)
    h1 = model.fit(X, y, epochs=3, batch_size=10, validation_split=0.25, shuffle=False, verbose=0)
    # the same as training on the first 45 rows with the last 15 as validation_data
    h2 = twin.fit(X[:45], y[:45], epochs=3, batch_size=10, validation_data=(X[45:], y[45:]),
                  shuffle=False, verbose=0)
    assert h1.history == h2.history
    assert "val_loss" in h1.history and "val_accuracy" in h1.history


def test_validation_data_wins_over_validation_split():
    model, X, y = model_and_data(40)
    twin, _, _ = model_and_data(40)
    h1 = model.fit(X, y, epochs=2, batch_size=8, validation_data=(X[:5], y[:5]), validation_split=0.5,
                   shuffle=False, verbose=0)
    h2 = twin.fit(X, y, epochs=2, batch_size=8, validation_data=(X[:5], y[:5]), shuffle=False, verbose=0)
    assert h1.history == h2.history


@pytest.mark.parametrize("split", [-0.1, 1.0, "0.2", True])
def test_bad_validation_split_is_refused(split):
    model, X, y = model_and_data(20)
    with pytest.raises(ValueError, match=r"^validation_split: expected a float in \[0, 1\)"):
        model.fit(X, y, validation_split=split, verbose=0)


def test_validation_split_that_leaves_nothing_is_refused():
    model, X, y = model_and_data(2)
    with pytest.raises(ValueError, match=r"^validation_split: 0.6 of 2 samples leaves 0 for training"):
        model.fit(X, y, validation_split=0.6, verbose=0)


def test_history_logs_the_learning_rate():
    model, X, y = model_and_data(30)
    h = model.fit(X, y, epochs=2, batch_size=10, verbose=0)
    assert h.history["learning_rate"] == [0.1, 0.1]


class SkipNonFinite(callbacks.Callback):
    """Asks fit to skip non-finite steps, records the batch losses, stops on the first NaN."""
    skips_nonfinite_updates = True

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])
        if not np.isfinite(logs["loss"]):
            self.model.stop_training = True


def test_non_finite_step_is_skipped_and_training_stops_within_the_epoch():
    rng = np.random.default_rng(2)
    X, T = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    X[25] = 1e308  # finite input (fit accepts it) whose squared error overflows to inf
    model = fastnn.Sequential([layers.Dense(2)], seed=1, dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    cb = SkipNonFinite()
    with np.errstate(all="ignore"):
        model.fit(X[:20], T[:20], epochs=1, batch_size=10, shuffle=False, verbose=0)  # two finite steps
        before = [w.copy() for w in model.get_weights()]
        model.fit(X[20:], T[20:], epochs=3, batch_size=10, shuffle=False, verbose=0, callbacks=[cb])
    assert len(cb.losses) == 1 and not np.isfinite(cb.losses[0])  # stopped after the bad batch
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the bad step did not touch the weights
    with np.errstate(all="ignore"):  # without the callback the same step ruins the weights
        model.fit(X[20:30], T[20:30], epochs=1, batch_size=10, shuffle=False, verbose=0)
    assert not all(np.isfinite(w).all() for w in model.get_weights())


def test_non_finite_step_keeps_batch_norm_statistics():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 2, 20)
    model = fastnn.Sequential([layers.BatchNormalization(), layers.Dense(2)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=1, batch_size=20, verbose=0)
    state = model.state_arena.copy()
    Xbad = X.copy()
    Xbad[0, 0] = 1e308
    with np.errstate(all="ignore"):
        model.fit(Xbad, y, epochs=1, batch_size=20, verbose=0, callbacks=[SkipNonFinite()])
    np.testing.assert_array_equal(model.state_arena, state)
