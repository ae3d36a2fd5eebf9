"""Callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, TerminateOnNaN, LambdaCallback,
LearningRateScheduler, ReduceLROnPlateau, TensorBoard.

Each is driven twice: directly with scripted logs (a fake model exposing
get_weights / set_weights / stop_training / optimizer), where the expected
outcome is worked out by hand from Keras's documented rule, and inside a real
fastnn.Sequential fit."""
from __future__ import annotations

import csv
import math
import os
import struct
import sys

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers, optimizers
from fastnn.callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint, ReduceLROnPlateau, TensorBoard, TerminateOnNaN)


class FakeOptimizer:
    def __init__(self, lr):
        self.learning_rate = lr


class FakeModel:
    """What the callbacks use of a model: weights, stop_training, optimizer."""

    def __init__(self, lr=0.1):
        self.weights = [np.zeros(3), np.zeros(2)]
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.metrics = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w, dtype=float) for w in weights]


def drive(cb, values, key="val_loss", model=None):
    """Run cb over scripted epoch logs {key: value}; the weights at the end of epoch
    e are all e. Returns (epochs run, model)."""
    model = model or FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        model.weights = [np.full(3, float(epoch)), np.full(2, float(epoch))]
        cb.on_epoch_end(epoch, {key: value})
        ran += 1
        if model.stop_training:
            break
    cb.on_train_end()
    return ran, model


def data(n=60, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


def model_for(seed=1, lr=0.1, optimizer=None):
    model = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)], seed=seed, dtype="float64")
    model.compile(optimizer=optimizer or optimizers.SGD(lr), loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


class Record(callbacks.Callback):
    """Weights and logs at each epoch end."""
    needs_batch_logs = False

    def __init__(self):
        super().__init__()
        self.weights, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.logs.append(dict(logs))


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# --- EarlyStopping ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, values, ran, stopped", [
    # best 0.9 at epoch 1; epochs 2 and 3 do not improve: wait reaches patience=2 at epoch 3
    (dict(patience=2), [1.0, 0.9, 0.95, 0.93, 0.5], 4, 3),
    # patience 0: the first epoch without improvement stops (never epoch 0)
    (dict(patience=0), [1.0, 0.5, 0.4, 0.4, 0.3], 4, 3),
    (dict(patience=0), [1.0, 2.0], 2, 1),
    # min_delta: 0.95 is not below 1.0 - 0.1, so it is no improvement
    (dict(patience=1, min_delta=0.1), [1.0, 0.95, 0.92, 0.85], 2, 1),
    (dict(patience=1), [1.0, 0.95, 0.92, 0.85], 4, 0),
    # mode max on a loss: a falling value never improves
    (dict(patience=0, mode="max"), [1.0, 0.9, 0.8], 2, 1),
    # baseline 0.5 never beaten: improvements do not reset the wait
    (dict(patience=2, baseline=0.5), [0.9, 0.95, 0.97, 0.99], 2, 1),
    (dict(patience=2), [0.9, 0.95, 0.97, 0.99], 3, 2),
    # an improvement over the baseline resets as usual
    (dict(patience=1, baseline=0.5), [0.4, 0.3, 0.35, 0.2], 3, 2),
    # warm-up: epochs 0 and 1 are not monitored
    (dict(patience=1, start_from_epoch=2), [0.1, 5.0, 4.0, 4.5, 4.6], 4, 3),
    (dict(patience=1), [0.1, 5.0, 4.0, 4.5, 4.6], 2, 1),
])
def test_early_stopping_on_scripted_losses(kwargs, values, ran, stopped):
    cb = EarlyStopping(**kwargs)
    n, model = drive(cb, values)
    assert n == ran and cb.stopped_epoch == stopped
    assert model.stop_training == (stopped > 0)


def test_early_stopping_auto_mode_maximizes_accuracy():
    cb = EarlyStopping(monitor="val_accuracy", patience=1)
    n, _ = drive(cb, [0.5, 0.6, 0.55, 0.58, 0.7], key="val_accuracy")
    assert n == 3 and cb.stopped_epoch == 2 and cb.best == 0.6
    cb = EarlyStopping(monitor="val_accuracy", patience=1, mode="min")
    n, _ = drive(cb, [0.5, 0.6, 0.55, 0.58, 0.7], key="val_accuracy")
    assert n == 2


def test_early_stopping_restores_the_best_weights():
    cb = EarlyStopping(patience=2, restore_best_weights=True)
    n, model = drive(cb, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert n == 4 and cb.best_epoch == 1
    assert all(np.all(w == 1.0) for w in model.weights)  # epoch 1's weights, not epoch 3's
    n, model = drive(EarlyStopping(patience=2), [1.0, 0.5, 0.7, 0.8, 0.1])
    assert all(np.all(w == 3.0) for w in model.weights)
    # restored even when training ran to the end
    _, model = drive(EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.2, 0.7])
    assert all(np.all(w == 1.0) for w in model.weights)


def test_early_stopping_restore_with_an_unbeaten_baseline_restores_the_best_epoch():
    """Keras: if no epoch improves on the baseline, train for `patience` epochs and
    restore the best of them."""
    cb = EarlyStopping(patience=3, baseline=0.1, restore_best_weights=True)
    n, model = drive(cb, [0.9, 0.8, 0.85, 0.95, 0.7])
    assert n == 3 and cb.stopped_epoch == 2
    assert all(np.all(w == 1.0) for w in model.weights)


def test_early_stopping_warns_on_a_missing_key_and_is_reusable():
    cb = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"'val_loss', which is not in the logs; available: loss"):
        n, model = drive(cb, [1.0, 2.0, 3.0], key="loss")
    assert n == 3 and not model.stop_training
    # a second run starts afresh
    cb = EarlyStopping(patience=0)
    drive(cb, [1.0, 2.0])
    n, _ = drive(cb, [5.0, 4.0, 3.0])
    assert n == 3


def reference_early_stop(values, patience, min_delta=0.0, direction="min"):
    """The epoch where training stops (None) and the best epoch, from Keras's rule."""
    best, wait, best_epoch = (math.inf if direction == "min" else -math.inf), 0, 0
    for e, v in enumerate(values):
        wait += 1
        if (v < best - min_delta) if direction == "min" else (v > best + min_delta):
            best, best_epoch, wait = v, e, 0
            continue
        if wait >= patience and e > 0:
            return e, best_epoch
    return None, best_epoch


def test_early_stopping_in_a_real_fit():
    X, y = data()
    rec = Record()
    model = model_for(lr=0.5)
    cb = EarlyStopping(monitor="loss", min_delta=0.02, patience=1, restore_best_weights=True)
    history = model.fit(X, y, epochs=60, batch_size=10, verbose=0, callbacks=[rec, cb])
    losses = history.history["loss"]
    stop, best = reference_early_stop(losses, patience=1, min_delta=0.02)
    assert stop is not None and len(losses) == stop + 1 < 60
    assert cb.stopped_epoch == stop and cb.best_epoch == best
    assert same_weights(model.get_weights(), rec.weights[best])
    assert not same_weights(model.get_weights(), rec.weights[-1])


# --- ModelCheckpoint --------------------------------------------------------------------------------

def test_checkpoint_per_epoch_files_reload_to_the_epoch_weights(tmp_path):
    X, y = data()
    rec = Record()
    model = model_for(optimizer=optimizers.Adam(0.01))
    pattern = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.3f}.fastnn")
    history = model.fit(X, y, epochs=3, batch_size=10, validation_data=(X[:20], y[:20]), verbose=0,
                        callbacks=[rec, ModelCheckpoint(pattern, monitor="val_loss")])
    names = sorted(os.listdir(tmp_path / "ckpt"))
    assert names == [f"m-{e + 1:02d}-{v:.3f}.fastnn" for e, v in enumerate(history.history["val_loss"])]
    twin = model_for(seed=9)
    twin.build((None, 5))
    for e, name in enumerate(names):
        loaded = fastnn.load_model(tmp_path / "ckpt" / name)
        assert same_weights(loaded.get_weights(), rec.weights[e])
        twin.set_weights(rec.weights[e])
        np.testing.assert_array_equal(loaded.predict(X), twin.predict(X))


def test_checkpoint_save_best_only_keeps_the_best_epoch(tmp_path):
    model = model_for()
    model.build((None, 5))
    path = tmp_path / "best.weights"
    cb = ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    cb.set_model(model)
    cb.on_train_begin()
    saved = {}
    for epoch, v in enumerate([0.5, 0.3, 0.4, 0.35]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        saved[epoch] = model.get_weights()
        cb.on_epoch_end(epoch, {"val_loss": v})
    twin = model_for(seed=5)
    twin.build((None, 5))
    twin.load_weights(path)
    assert same_weights(twin.get_weights(), saved[1])
    # max mode through "auto" on an accuracy, and initial_value_threshold
    cb = ModelCheckpoint(tmp_path / "acc.weights", monitor="val_accuracy", save_best_only=True,
                         save_weights_only=True, initial_value_threshold=0.65)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, v in enumerate([0.6, 0.8, 0.7, 0.9, 0.85]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        cb.on_epoch_end(epoch, {"val_accuracy": v})
    twin.load_weights(tmp_path / "acc.weights")
    assert same_weights(twin.get_weights(), [np.full_like(w, 3) for w in model.get_weights()])
    cb = ModelCheckpoint(tmp_path / "never", save_best_only=True, initial_value_threshold=0.1)
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_loss": 0.2})
    assert not (tmp_path / "never").exists()


def test_checkpoint_save_best_only_in_a_real_fit(tmp_path):
    X, y = data()
    rec = Record()
    model = model_for(lr=2.0)  # a large step: the validation loss goes up and down
    cb = ModelCheckpoint(tmp_path / "best.fastnn", save_best_only=True)
    history = model.fit(X[:40], y[:40], epochs=8, batch_size=5, validation_data=(X[40:], y[40:]),
                        verbose=0, callbacks=[rec, cb])
    best = int(np.argmin(history.history["val_loss"]))
    loaded = fastnn.load_model(tmp_path / "best.fastnn")
    assert same_weights(loaded.get_weights(), rec.weights[best])
    assert cb.best == min(history.history["val_loss"])


def test_checkpoint_every_n_batches(tmp_path):
    X, y = data(40)
    model = model_for()
    cb = ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.w"), save_freq=3, save_weights_only=True)
    assert cb.needs_batch_logs and not ModelCheckpoint("x").needs_batch_logs
    model.fit(X, y, epochs=3, batch_size=10, verbose=0, callbacks=[cb])  # 4 steps per epoch
    # global batches 3, 6, 9, 12 -> (epoch 1, batch 3), (2, 2), (3, 1), (3, 4)
    assert sorted(os.listdir(tmp_path)) == ["1-3.w", "2-2.w", "3-1.w", "3-4.w"]


def test_checkpoint_every_n_batches_counts_steps_from_coalesced_hooks(tmp_path):
    """A multi-step path may call the batch hook once for several steps: the
    checkpoint counts steps from the index it is given."""
    model = model_for()
    model.build((None, 5))
    cb = ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.w"), save_freq=3, save_weights_only=True)
    cb.set_model(model)
    cb.set_params({"epochs": 2, "steps": 5})
    cb.on_train_begin()
    for epoch, ends in enumerate([(1, 4), (0, 4)]):  # steps 2 and 5 of each epoch end a call
        cb.on_epoch_begin(epoch)
        for batch in ends:
            cb.on_train_batch_end(batch, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"loss": 1.0})
    # global steps 2 (-), 5 (crosses 3), 6 (crosses 6), 10 (crosses 9)
    assert sorted(os.listdir(tmp_path)) == ["1-5.w", "2-1.w", "2-5.w"]


def test_checkpoint_with_an_unknown_field_names_the_filepath(tmp_path):
    model = model_for()
    model.build((None, 5))
    cb = ModelCheckpoint(str(tmp_path / "m-{val_auc:.2f}"))
    cb.set_model(model)
    with pytest.raises(ValueError, match=r"filepath: cannot fill .*m-\{val_auc:.2f\}.*\['loss'\].*val_auc"):
        cb.on_epoch_end(0, {"loss": 1.0})
    cb = ModelCheckpoint(tmp_path / "b", save_best_only=True)
    cb.set_model(model)
    with pytest.warns(UserWarning, match="val_loss"):
        cb.on_epoch_end(0, {"loss": 1.0})
    assert not (tmp_path / "b").exists()


# --- CSVLogger --------------------------------------------------------------------------------------

def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    X, y = data()
    path = tmp_path / "log.csv"
    history = model_for().fit(X, y, epochs=3, batch_size=10, validation_data=(X[:20], y[:20]), verbose=0,
                              callbacks=[CSVLogger(path)])
    rows = read_csv(path)
    keys = sorted(history.history)
    assert "learning_rate" in keys and "val_accuracy" in keys
    assert rows[0] == ["epoch"] + keys
    assert len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert int(row[0]) == epoch
        assert [float(v) for v in row[1:]] == [history.history[k][epoch] for k in keys]  # exact repr


def test_csv_logger_appends_and_uses_the_separator(tmp_path):
    X, y = data()
    path = tmp_path / "log.csv"
    model = model_for()
    model.fit(X, y, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    h2 = model.fit(X, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";", append=True)])
    rows = read_csv(path, ";")
    assert rows[0] == ["epoch", "accuracy", "learning_rate", "loss"]
    assert len(rows) == 4 and [r[0] for r in rows[1:]] == ["0", "1", "0"]
    assert float(rows[3][3]) == h2.history["loss"][0]
    model.fit(X, y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])  # append=False overwrites
    assert len(read_csv(path)) == 2


def test_csv_logger_writes_na_for_a_missing_key(tmp_path):
    cb = CSVLogger(tmp_path / "x.csv")
    cb.set_model(FakeModel())
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
    cb.on_epoch_end(1, {"loss": 0.25})
    cb.on_train_end()
    assert read_csv(tmp_path / "x.csv") == [["epoch", "loss", "val_loss"], ["0", "0.5", "0.7"], ["1", "0.25", "NA"]]


# --- TerminateOnNaN ---------------------------------------------------------------------------------

def test_terminate_on_nan_stops_and_restores_finite_weights_as_a_fallback(capsys):
    cb = TerminateOnNaN()
    assert cb.skips_nonfinite_updates
    model = FakeModel()
    model.weights = [np.ones(3), np.ones(2)]
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_train_batch_end(0, {"loss": 0.7})
    assert not model.stop_training
    model.weights = [np.full(3, 2.0), np.full(2, 2.0)]
    cb.on_epoch_end(0, {"loss": 0.7})  # finite: these weights become the fallback
    model.weights = [np.full(3, np.nan), np.full(2, 3.0)]  # a loop that did not skip the bad update
    cb.on_train_batch_end(4, {"loss": float("nan")})
    assert model.stop_training and cb.stopped_batch == 4
    assert all(np.all(w == 2.0) for w in model.weights)
    assert "Batch 4: Invalid loss, terminating training" in capsys.readouterr().out
    # with finite weights (the model skipped the update) nothing is restored
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    model.weights = [np.full(3, 5.0), np.full(2, 5.0)]
    cb.on_train_batch_end(0, {"loss": float("inf")})
    assert model.stop_training and all(np.all(w == 5.0) for w in model.weights)


def test_terminate_on_nan_in_a_real_fit_keeps_the_last_finite_step():
    rng = np.random.default_rng(2)
    X, T = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    X[25] = 1e308  # finite input whose squared error overflows: batch 2 (rows 20-29) has loss inf

    def regression(seed=1):
        model = fastnn.Sequential([layers.Dense(2)], seed=seed, dtype="float64")
        model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
        return model

    model, reference = regression(), regression()
    with np.errstate(all="ignore"):
        history = model.fit(X, T, epochs=3, batch_size=10, shuffle=False, verbose=0,
                            callbacks=[TerminateOnNaN()])
    reference.fit(X[:20], T[:20], epochs=1, batch_size=10, shuffle=False, verbose=0)  # the two finite steps
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])
    assert model.stop_training
    assert same_weights(model.get_weights(), reference.get_weights())


# --- LambdaCallback ---------------------------------------------------------------------------------

def test_lambda_callback_calls_each_function_with_the_hook_arguments():
    X, y = data(30)
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_end=lambda logs: calls.append(("train_end",)))
    history = model_for().fit(X, y, epochs=2, batch_size=15, verbose=0, callbacks=[cb])
    expected = [("train_begin",)]
    for epoch in range(2):
        expected.append(("epoch_begin", epoch))
        for batch in range(2):
            expected += [("batch_begin", batch), ("batch_end", batch, ["accuracy", "loss"])]
        expected.append(("epoch_end", epoch, history.history["loss"][epoch]))
    expected.append(("train_end",))
    assert calls == expected


def test_lambda_callback_without_batch_end_needs_no_batch_logs():
    assert not LambdaCallback(on_epoch_end=lambda e, l: None).needs_batch_logs
    assert LambdaCallback(on_train_batch_end=lambda b, l: None).needs_batch_logs
    with pytest.raises(ValueError, match=r"^on_epoch_end: expected a callable or None, got 3"):
        LambdaCallback(on_epoch_end=3)


# --- learning rate ----------------------------------------------------------------------------------

def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    X, y = data()
    seen = []
    model = model_for(lr=0.1)
    cb = LearningRateScheduler(lambda epoch, lr: seen.append(lr) or 0.2 * 0.5 ** epoch)
    history = model.fit(X, y, epochs=3, batch_size=10, verbose=0, callbacks=[cb])
    assert seen == [0.1, 0.2, 0.1]  # the rate in force when each epoch starts
    assert history.history["learning_rate"] == [0.2, 0.1, 0.05]
    assert model.optimizer.learning_rate == 0.05
    # the same as setting the rate by hand before each epoch
    manual = model_for(lr=0.1)
    for epoch in range(3):
        manual.optimizer.learning_rate = 0.2 * 0.5 ** epoch
        manual.fit(X, y, epochs=1, batch_size=10, verbose=0)
    assert same_weights(model.get_weights(), manual.get_weights())


def test_learning_rate_scheduler_accepts_a_one_argument_schedule_and_checks_its_output():
    model = FakeModel(lr=0.3)
    cb = LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1), verbose=1)
    cb.set_model(model)
    cb.on_epoch_begin(4)
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    for bad in (-0.1, float("nan"), "0.1", None):
        cb = LearningRateScheduler(lambda epoch, lr, bad=bad: bad)
        cb.set_model(model)
        with pytest.raises(ValueError, match=r"^schedule: expected a finite float >= 0 from schedule\(2, 0.05"):
            cb.on_epoch_begin(2)
    assert model.optimizer.learning_rate == pytest.approx(0.05)


def test_reduce_lr_on_plateau_on_scripted_losses():
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=2, min_lr=0.02)
    model = FakeModel(lr=0.1)
    cb.set_model(model)
    cb.on_train_begin()
    rates = []
    for epoch in range(12):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})  # no improvement after epoch 0
        rates.append(model.optimizer.learning_rate)
    # wait reaches 2 at epoch 2 -> 0.05; epochs 3 and 4 end the cooldown (Keras counts it
    # down before looking, so epoch 4 already counts: wait 1), epoch 5 -> 0.025; epoch 8 ->
    # 0.0125 clamped to min_lr 0.02; epoch 11 leaves min_lr alone
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02])


def test_reduce_lr_on_plateau_respects_min_delta_and_mode():
    cb = ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=1, min_delta=0.05)
    model = FakeModel(lr=1.0)
    cb.set_model(model)
    cb.on_train_begin()
    rates = []
    for epoch, acc in enumerate([0.5, 0.6, 0.62, 0.7]):  # 0.62 is not above 0.6 + 0.05
        cb.on_epoch_end(epoch, {"val_accuracy": acc})
        rates.append(model.optimizer.learning_rate)
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1])


def test_reduce_lr_on_plateau_in_a_real_fit():
    X, y = data()
    model = model_for(lr=0.1)
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    history = model.fit(X, y, epochs=3, batch_size=10, verbose=0, callbacks=[cb])
    # epoch 0 improves on +inf; each later epoch halves the rate after it ran
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05]
    assert model.optimizer.learning_rate == 0.025
    with pytest.warns(UserWarning, match="ReduceLROnPlateau is conditioned on 'val_loss'"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau()])


# --- TensorBoard ------------------------------------------------------------------------------------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) masked as TFRecord files store it."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(run_dir):
    """Every Event in the run's event files, TFRecord framing and CRCs checked."""
    from tensorboardX.proto import event_pb2
    events = []
    files = [f for f in os.listdir(run_dir) if f.startswith("events.out.tfevents")]
    assert len(files) == 1, files
    raw = open(os.path.join(run_dir, files[0]), "rb").read()
    pos = 0
    while pos < len(raw):
        header = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        assert crc == masked_crc32c(header)
        body = raw[pos + 12:pos + 12 + length]
        (crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert crc == masked_crc32c(body)
        events.append(event_pb2.Event.FromString(body))
        pos += 16 + length
    return events


def scalars(events):
    out = {}
    for ev in events:
        for v in ev.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, []).append((ev.step, v.simple_value))
    return out


def test_tensorboard_writes_scalars_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX", reason="tensorboardX (optional extra) is not installed")
    X, y = data()
    rec = Record()
    model = model_for()
    history = model.fit(X, y, epochs=3, batch_size=10, validation_data=(X[:20], y[:20]), verbose=0,
                        callbacks=[TensorBoard(tmp_path / "tb", histogram_freq=2), rec])
    train = read_events(tmp_path / "tb" / "train")
    val = read_events(tmp_path / "tb" / "validation")
    f32 = lambda values: [(i, float(np.float32(v))) for i, v in enumerate(values)]
    s = scalars(train)
    assert set(s) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert s["epoch_loss"] == f32(history.history["loss"])
    assert s["epoch_accuracy"] == f32(history.history["accuracy"])
    assert s["epoch_learning_rate"] == f32([0.1, 0.1, 0.1])
    assert scalars(val) == {"epoch_loss": f32(history.history["val_loss"]),
                            "epoch_accuracy": f32(history.history["val_accuracy"])}
    histos = {}
    for ev in train:
        for v in ev.summary.value:
            if v.HasField("histo"):
                histos[(v.tag, ev.step)] = v.histo
    names = [f"{l.name}/{p}" for l in model.layers for p, _ in l.param_specs()]
    assert set(histos) == {(f"{n}/histogram", step) for n in names for step in (0, 2)}
    for step in (0, 2):
        for name, w in zip(names, rec.weights[step]):
            h = histos[(f"{name}/histogram", step)]
            assert h.num == w.size and h.min == w.min() and h.max == w.max()
            assert h.sum == pytest.approx(w.sum(), rel=1e-9, abs=1e-12)


def test_tensorboard_without_tensorboardx_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        TensorBoard("logs")


# --- argument checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("make, pattern", [
    (lambda: EarlyStopping(mode="sideways"), r"^mode: expected 'auto', 'min' or 'max', got 'sideways'"),
    (lambda: EarlyStopping(patience=-1), r"^patience: expected an integer >= 0, got -1"),
    (lambda: EarlyStopping(patience=1.5), r"^patience: expected an integer >= 0, got 1.5"),
    (lambda: EarlyStopping(min_delta=-0.1), r"^min_delta: expected a finite number >= 0, got -0.1"),
    (lambda: EarlyStopping(baseline="low"), r"^baseline: expected a finite number, got 'low'"),
    (lambda: EarlyStopping(restore_best_weights=1), r"^restore_best_weights: expected True or False"),
    (lambda: EarlyStopping(start_from_epoch=-2), r"^start_from_epoch: expected an integer >= 0"),
    (lambda: EarlyStopping(monitor=""), r"^monitor: expected the name of a logged quantity"),
    (lambda: ReduceLROnPlateau(factor=1.0), r"^factor: expected a float in \(0, 1\)"),
    (lambda: ReduceLROnPlateau(factor=0), r"^factor: expected a float in \(0, 1\)"),
    (lambda: ReduceLROnPlateau(patience=-1), r"^patience: expected an integer >= 0"),
    (lambda: ReduceLROnPlateau(cooldown=-1), r"^cooldown: expected an integer >= 0"),
    (lambda: ReduceLROnPlateau(min_lr=-1e-3), r"^min_lr: expected a finite number >= 0"),
    (lambda: ReduceLROnPlateau(mode="up"), r"^mode: expected"),
    (lambda: ModelCheckpoint(""), r"^filepath: expected a non-empty path"),
    (lambda: ModelCheckpoint("m", save_freq=0), r"^save_freq: expected 'epoch' or an integer >= 1"),
    (lambda: ModelCheckpoint("m", save_freq="batch"), r"^save_freq: expected 'epoch' or an integer >= 1"),
    (lambda: ModelCheckpoint("m", mode="best"), r"^mode: expected"),
    (lambda: ModelCheckpoint("m", save_best_only="yes"), r"^save_best_only: expected True or False"),
    (lambda: CSVLogger("log.csv", separator=", "), r"^separator: expected one character"),
    (lambda: CSVLogger(None), r"^filename: expected a non-empty path"),
    (lambda: CSVLogger("log.csv", append="no"), r"^append: expected True or False"),
    (lambda: LearningRateScheduler(0.1), r"^schedule: expected a callable"),
    (lambda: TensorBoard(histogram_freq=-1), r"^histogram_freq: expected an integer >= 0"),
])
def test_bad_arguments_raise_clear_errors(make, pattern):
    if "TensorBoard" in pattern or "histogram_freq" in pattern:
        pytest.importorskip("tensorboardX", reason="tensorboardX (optional extra) is not installed")
    with pytest.raises(ValueError, match=pattern):
        make()


def test_auto_mode_that_cannot_be_inferred_is_refused_before_training():
    X, y = data(20)
    model = model_for()
    model.build((None, 5))
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"^mode: cannot tell whether monitor='val_foo'.*mode='min'"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[EarlyStopping(monitor="val_foo")])
    assert same_weights(model.get_weights(), before)


@pytest.mark.parametrize("monitor, direction", [
    ("loss", "min"), ("val_loss", "min"), ("val_mae", "min"), ("mean_squared_error", "min"),
    ("val_categorical_crossentropy", "min"), ("accuracy", "max"), ("val_auc", "max"),
    ("val_precision", "max"), ("recall", "max"), ("f1_score", "max"), ("val_r2_score", "max"),
])
def test_monitor_direction_from_the_name(monitor, direction):
    assert callbacks.monitor_direction(monitor, "auto") == direction
    assert callbacks.monitor_direction(monitor, "max") == "max"


def test_epoch_only_callbacks_need_no_batch_logs(tmp_path):
    assert not EarlyStopping().needs_batch_logs
    assert not ReduceLROnPlateau().needs_batch_logs
    assert not LearningRateScheduler(lambda e, lr: lr).needs_batch_logs
    assert not CSVLogger(tmp_path / "x").needs_batch_logs
    assert not ModelCheckpoint(tmp_path / "x").needs_batch_logs
    assert TerminateOnNaN().needs_batch_logs
