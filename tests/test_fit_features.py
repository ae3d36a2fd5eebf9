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


# -- optimizer integration: EMA, per-layer clipnorm, schedules ---------------------------------

def ema_model(use_ema=True, **kw):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    model = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)], seed=1, dtype="float64")
    model.compile(optimizer=optimizers.Adam(0.05, use_ema=use_ema, ema_momentum=0.9, **kw),
                  loss="softmax_cross_entropy")
    return model, X, y


def test_ema_weights_swaps_the_numpy_average_in_and_out():
    model, X, y = ema_model()
    model.build((None, 5))
    for step in range(6):
        model.train_on_batch(X, y)
        # Keras 3: after each update, with momentum 0 on the first step
        ema = model.param_arena.copy() if step == 0 else 0.9 * ema + 0.1 * model.param_arena
    trained = model.get_weights()
    with model.ema_weights():
        np.testing.assert_allclose(model.param_arena, ema, rtol=1e-12)
        averaged_loss = model.evaluate(X, y)["loss"]
    for a, b in zip(model.get_weights(), trained):
        np.testing.assert_array_equal(a, b)  # back, bit for bit
    assert averaged_loss != model.evaluate(X, y)["loss"]


def test_fit_ends_on_the_average_with_use_ema():
    model, X, y = ema_model()
    twin, _, _ = ema_model()
    model.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    twin.build((None, 5))
    for _ in range(2):
        for s in range(0, 64, 16):
            twin.train_on_batch(X[s:s + 16], y[s:s + 16])
    with twin.ema_weights():
        averaged = twin.get_weights()
    for a, b in zip(model.get_weights(), averaged):
        np.testing.assert_array_equal(a, b)


def test_ema_weights_needs_an_averaging_optimizer():
    model, X, y = ema_model(use_ema=False)
    with pytest.raises(ValueError, match=r"^ema_weights: the optimizer keeps no moving average"):
        with model.ema_weights():
            pass
    model, X, y = ema_model()
    with pytest.raises(ValueError, match=r"^ema_weights: the optimizer has made no step"):
        with model.ema_weights():
            pass


def test_clipnorm_clips_each_weight_array_as_keras():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((32, 5)), rng.integers(0, 3, 32)
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.1, clipnorm=0.05), loss="softmax_cross_entropy")
    model.build((None, 5))
    w0 = [w.copy() for w in model.get_weights()]
    _, grads = model.compute_gradients(X, y)
    want = [w - 0.1 * g * min(1.0, 0.05 / np.linalg.norm(g)) for w, g in zip(w0, grads)]
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    for got, w in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)


def test_schedule_as_learning_rate_is_logged_per_epoch():
    from fastnn import schedules
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    sched = schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    model = fastnn.Sequential([layers.Dense(3)], seed=0)
    model.compile(optimizer=optimizers.SGD(sched), loss="softmax_cross_entropy")
    h = model.fit(X, y, epochs=3, batch_size=10, verbose=0)  # 4 steps per epoch
    # after epoch e the next update is step 4 (e + 1): 0.1 * 0.5 ** (e + 1)
    np.testing.assert_allclose(h.history["learning_rate"], [0.05, 0.025, 0.0125], rtol=1e-6)


def test_reduce_lr_on_plateau_shows_in_history():
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    model = fastnn.Sequential([layers.Dense(3)], seed=0)
    model.compile(optimizer=optimizers.SGD(1e-9), loss="softmax_cross_entropy")  # no progress: a plateau
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e-3)
    h = model.fit(X, y, epochs=5, batch_size=40, verbose=0, callbacks=[cb])
    lr = h.history["learning_rate"]
    assert lr[0] == pytest.approx(1e-9) and lr[-1] < lr[0] / 2


@pytest.mark.parametrize("sparse", [False, True])
def test_unshuffled_fit_is_train_on_batch_over_consecutive_slices(sparse):
    # Without shuffling, fit reads the rows, targets and weights in place (views, no
    # gather): the same steps as train_on_batch on consecutive slices, short last batch
    # included, bit for bit.
    model, X, y = model_and_data(47)
    twin, _, _ = model_and_data(47)
    w = np.random.default_rng(2).random(47)
    if sparse:
        sp = pytest.importorskip("scipy.sparse")
        X[np.abs(X) < 0.8] = 0
        X = sp.csr_matrix(X)
    history = model.fit(X, y, sample_weight=w, epochs=2, batch_size=10, shuffle=False, verbose=0)
    losses = []
    for _ in range(2):
        batch = [twin.train_on_batch(X[i:i + 10], y[i:i + 10], sample_weight=w[i:i + 10],
                                     return_dict=True)["loss"] for i in range(0, 47, 10)]
        losses.append(sum(l * len(y[i:i + 10]) for l, i in zip(batch, range(0, 47, 10))) / 47)
    assert history.history["loss"] == pytest.approx(losses, rel=1e-13)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
