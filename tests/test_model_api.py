"""Sequential's public behaviour: building, weights and the parameter arena, summary,
fit/evaluate/predict/train_on_batch, the low-level gradient path, callbacks and
verbosity, threads, config; plus the two engine contracts that users cannot see
directly: no allocation in steady state, and determinism."""
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers, optimizers

FASTNN_DIR = str(Path(fastnn.__file__).parent)


def make_data(n=50, features=6, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(dtype)
    y = rng.integers(0, classes, n).astype(np.int64)
    return X, y


def small_model(seed=0, dtype="float32", input_layer=False, last_activation=None, units=(8, 3)):
    stack = [layers.Input((6,))] if input_layer else []
    stack += [layers.Dense(units[0], activation="relu"), layers.Dense(units[1], activation=last_activation)]
    return fastnn.Sequential(stack, seed=seed, dtype=dtype)


def numpy_forward(weights, X):
    """relu(X W0 + b0) W1 + b1 in float64, from get_weights()."""
    h = np.maximum(X.astype(np.float64) @ weights[0] + weights[1], 0)
    return h @ weights[2] + weights[3]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def restore_threads():
    before = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(before)


# --- building -----------------------------------------------------------------------------------

def test_explicit_build_creates_weights_with_keras_shapes():
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3),
                               layers.Dense(2, use_bias=False)], seed=0)
    assert not model.built
    model.build((None, 6))
    assert model.built
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(6, 8), (8,), (8, 3), (3,), (3, 2)]
    assert all(w.dtype == np.float32 for w in model.get_weights())
    model.build((None, 6))  # building again for the same width is a no-op
    with pytest.raises(ValueError, match="input_shape"):
        model.build((None, 5))


@pytest.mark.parametrize("first_call", ["fit", "train_on_batch", "compute_gradients", "evaluate", "predict"])
def test_lazy_build_on_first_call_with_data(first_call):
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    assert not model.built
    if first_call == "fit":
        model.fit(X, y, epochs=1, verbose=0)
    elif first_call == "predict":
        assert model.predict(X).shape == (50, 3)
    else:
        getattr(model, first_call)(X, y)
    assert model.built and model.input_dim == 6
    assert [w.shape for w in model.get_weights()] == [(6, 8), (8,), (8, 3), (3,)]
    # Built from seed 0 like an explicit build.
    reference = small_model()
    reference.build((None, 6))
    if first_call in ("evaluate", "predict"):
        for a, b in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_input_layer_fixes_the_width_and_predict_builds():
    model = small_model(input_layer=True)
    assert not model.built and model.input_dim == 6
    assert len(model.layers) == 2  # the Input is not a layer with parameters
    out = model.predict(make_data()[0])  # no compile, no build: the Input suffices
    assert model.built and out.shape == (50, 3)
    with pytest.raises(ValueError, match="input_shape"):
        small_model(input_layer=True).build((None, 5))


def test_same_seed_same_initial_weights_and_float64():
    a = small_model(seed=5, dtype="float64")
    b = small_model(seed=5, dtype="float64")
    for m in (a, b):
        m.build((None, 6))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.dtype == np.float64
        np.testing.assert_array_equal(wa, wb)
    c = small_model(seed=6, dtype="float64")
    c.build((None, 6))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


# --- summary -----------------------------------------------------------------------------------

def test_summary_lists_layers_shapes_and_counts(capsys):
    model = fastnn.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu", name="hidden"),
                               layers.Dense(10, name="logits")], seed=0)
    model.summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    expected = {"hidden": (256, 784 * 256 + 256), "logits": (10, 256 * 10 + 10)}
    for name, (units, count) in expected.items():
        row = [l for l in lines if name in l]
        assert len(row) == 1, text
        assert f"(None, {units})" in row[0]
        assert str(count) in row[0].replace(",", "")
    total = sum(c for _, c in expected.values())
    assert model.count_params() == total
    assert any("Total" in l and str(total) in l.replace(",", "") for l in lines), text
    collected = []
    model.summary(print_fn=collected.append)
    assert "\n".join(collected) == text.rstrip("\n")


# --- weights and the arena ---------------------------------------------------------------------

def test_set_weights_round_trip_and_get_weights_returns_copies():
    model = small_model()
    model.build((None, 6))
    rng = np.random.default_rng(1)
    new = [rng.standard_normal(w.shape) for w in model.get_weights()]  # float64 in, cast to float32
    model.set_weights(new)
    got = model.get_weights()
    for g, n in zip(got, new):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, n.astype(np.float32))
    got[0][...] = 0  # a copy: the model does not change
    assert not np.array_equal(model.get_weights()[0], got[0])
    # set_weights writes through the arena: predict sees the new weights.
    X = make_data()[0]
    np.testing.assert_allclose(model.predict(X), numpy_forward(new, X), rtol=1e-4, atol=1e-5)


def test_parameters_and_gradients_live_in_one_arena():
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(5),
                               layers.Dense(3, use_bias=False)], seed=0)
    model.build((None, 6))
    arena = model.param_arena
    assert arena.ndim == 1 and arena.flags.c_contiguous and arena.dtype == np.float32
    assert arena.size >= model.count_params()
    for layer in model.layers:
        assert np.shares_memory(arena, layer.kernel)
        assert layer.bias is None or np.shares_memory(arena, layer.bias)
    # Writes through the arena are seen by the layers (views, not copies).
    arena[...] = 0.5
    assert all((w == 0.5).all() for w in model.get_weights())
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    _, grads = model.compute_gradients(*make_data())
    assert len(grads) == 5
    for g, w in zip(grads, model.get_weights()):
        assert g.shape == w.shape and np.shares_memory(model.grad_arena, g)


# --- compile -----------------------------------------------------------------------------------

def test_softmax_last_layer_with_softmax_cross_entropy_is_refused():
    model = small_model(last_activation="softmax")
    with pytest.raises(ValueError, match="softmax") as info:
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
    assert "logits" in str(info.value) or "linear" in str(info.value)
    assert not model.compiled
    model.compile(optimizer="adam", loss="mse")  # fine with a regression loss


def test_accuracy_metric_needs_a_classification_loss():
    with pytest.raises(ValueError, match="metrics"):
        small_model().compile(optimizer="adam", loss="mse", metrics=["accuracy"])


# --- fit / evaluate / predict ------------------------------------------------------------------

def test_history_has_loss_and_metrics_per_epoch():
    X, y = make_data(80)
    Xv, yv = make_data(30, seed=1)
    model = small_model()
    model.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=3, batch_size=16, validation_data=(Xv, yv), verbose=0)
    assert isinstance(history, callbacks.History) and model.history is history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert history.history["learning_rate"] == [0.01] * 3
    assert history.epoch == [0, 1, 2]
    for values in history.history.values():
        assert len(values) == 3 and all(np.isfinite(values))
    for key in ("accuracy", "val_accuracy"):
        assert all(0 <= a <= 1 for a in history.history[key])
    # The last epoch's validation figures are those of the trained model.
    final = model.evaluate(Xv, yv)
    assert history.history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == final["accuracy"]


def test_history_without_metrics_or_validation():
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    history = model.fit(X, y, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "learning_rate"}


def test_fit_without_shuffle_equals_a_train_on_batch_loop():
    X, y = make_data(50)
    a, b = small_model(seed=1, dtype="float64"), small_model(seed=1, dtype="float64")
    for m in (a, b):
        m.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="softmax_cross_entropy")
    history = a.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    losses, sizes = [], []
    for start in range(0, 50, 16):
        losses.append(b.train_on_batch(X[start:start + 16], y[start:start + 16]))
        sizes.append(len(X[start:start + 16]))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-13, atol=1e-15)
    assert history.history["loss"][0] == pytest.approx(np.dot(losses, sizes) / 50, rel=1e-12)


def test_evaluate_returns_dict_consistent_with_predict():
    X, y = make_data(120)
    model = small_model()
    model.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=3, batch_size=16, verbose=0)
    result = model.evaluate(X, y)
    assert isinstance(result, dict) and set(result) == {"loss", "accuracy"}
    proba = model.predict(X)
    assert result["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y), abs=1e-12)
    want_loss = -np.mean(np.log(proba.astype(np.float64)[np.arange(len(y)), y]))
    assert result["loss"] == pytest.approx(want_loss, rel=1e-5)
    # Chunking does not change the result.
    chunked = model.evaluate(X, y, batch_size=7)
    assert chunked["accuracy"] == result["accuracy"]
    assert chunked["loss"] == pytest.approx(result["loss"], rel=1e-6)


def test_predict_returns_probabilities_for_softmax_cross_entropy():
    X, _ = make_data(40)
    model = small_model(dtype="float64")
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.build((None, 6))
    proba = model.predict(X)
    assert proba.shape == (40, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(proba, softmax(numpy_forward(model.get_weights(), X)), rtol=1e-10)
    np.testing.assert_allclose(model.predict(X, batch_size=3), proba, rtol=1e-12)


def test_predict_returns_raw_outputs_for_mse():
    X, _ = make_data(40)
    model = small_model(dtype="float64")
    model.compile(optimizer="adam", loss="mse")
    model.build((None, 6))
    out = model.predict(X)
    np.testing.assert_allclose(out, numpy_forward(model.get_weights(), X), rtol=1e-10, atol=1e-12)
    assert not np.allclose(out.sum(axis=1), 1.0)


def test_mse_accepts_one_dimensional_targets_for_one_output():
    X, _ = make_data(40)
    y = X[:, 0] - 2 * X[:, 1]
    model = small_model(units=(8, 1))
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    history = model.fit(X, y, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(X).shape == (40, 1)


# --- train_on_batch and the low-level path -----------------------------------------------------

def test_train_on_batch_return_forms():
    X, y = make_data()
    model = small_model(dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.build((None, 6))
    before = model.evaluate(X, y)
    out = model.train_on_batch(X, y)
    assert isinstance(out, list) and len(out) == 2
    # The loss and metrics of the batch are those before the update.
    assert out[0] == pytest.approx(before["loss"], rel=1e-12)
    assert out[1] == before["accuracy"]
    d = model.train_on_batch(X, y, return_dict=True)
    assert isinstance(d, dict) and set(d) == {"loss", "accuracy"}

    plain = small_model()
    plain.compile(optimizer="sgd", loss="softmax_cross_entropy")
    value = plain.train_on_batch(X, y)
    assert isinstance(value, float)
    assert set(plain.train_on_batch(X, y, return_dict=True)) == {"loss"}


def test_train_on_batch_changes_weights_and_counts_iterations():
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.build((None, 6))
    w0 = model.get_weights()
    model.train_on_batch(X, y)
    model.train_on_batch(X[:7], y[:7])  # a smaller batch reuses the buffers
    model.train_on_batch(X, y)
    assert model.optimizer.iterations == 3
    assert all(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))


@pytest.mark.parametrize("copy_grads", [False, True], ids=["views", "copies"])
def test_compute_then_apply_gradients_equals_train_on_batch(copy_grads):
    X, y = make_data()
    a, b = small_model(seed=2), small_model(seed=2)
    for m in (a, b):
        m.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy")
    for step in range(3):
        xb, yb = X[step * 10:step * 10 + 16], y[step * 10:step * 10 + 16]
        loss_a = a.train_on_batch(xb, yb)
        loss_b, grads = b.compute_gradients(xb, yb)
        b.apply_gradients([g.copy() for g in grads] if copy_grads else grads)
        assert loss_a == loss_b
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.optimizer.iterations == b.optimizer.iterations == 3


def test_one_hot_targets_train_like_integer_labels():
    X, y = make_data(32)
    onehot = np.eye(3)[y]
    a, b = small_model(seed=4, dtype="float64"), small_model(seed=4, dtype="float64")
    for m in (a, b):
        m.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy", metrics=["accuracy"])
    for _ in range(3):
        la = a.train_on_batch(X, y, return_dict=True)
        lb = b.train_on_batch(X, onehot, return_dict=True)
        assert la["loss"] == pytest.approx(lb["loss"], rel=1e-12)
        assert la["accuracy"] == lb["accuracy"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-15)
    ha = a.fit(X, y, epochs=1, batch_size=8, verbose=0)
    hb = b.fit(X, onehot, epochs=1, batch_size=8, verbose=0)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-12)


# --- verbosity and callbacks -------------------------------------------------------------------

def test_verbose_2_prints_one_line_per_epoch_with_throughput(capsys):
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=3, batch_size=16, verbose=2, validation_data=(X, y))
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    for i, line in enumerate(lines):
        assert f"Epoch {i + 1}/3" in line
        assert "samples/s" in line and "loss" in line and "val_accuracy" in line
        assert "\r" not in line


def test_verbose_0_prints_nothing(capsys):
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=2, verbose=0, validation_data=(X, y))
    model.evaluate(X, y)
    model.predict(X)
    model.train_on_batch(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_1_prints_epochs(capsys):
    X, y = make_data()
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "samples/s" in out


class Recorder(callbacks.Callback):
    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after = stop_after
        self.events, self.logs = [], []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch))
        self.logs.append(dict(logs))
        if epoch == self.stop_after:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch))

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callbacks_see_epoch_logs_and_batches():
    X, y = make_data(48)
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    rec = Recorder()
    history = model.fit(X, y, epochs=2, batch_size=16, validation_data=(X, y), verbose=0, callbacks=[rec])
    assert rec.model is model
    assert rec.params["epochs"] == 2 and rec.params["steps"] == 3
    expected = ["train_begin"]
    for e in range(2):
        expected += [("epoch_begin", e), ("batch_end", 0), ("batch_end", 1), ("batch_end", 2), ("epoch_end", e)]
    assert rec.events == expected + ["train_end"]
    assert [set(l) for l in rec.logs] == [{"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}] * 2
    assert [l["loss"] for l in rec.logs] == history.history["loss"]


def test_batch_begin_hook_is_called():
    """Callback declares on_train_batch_begin (Keras's hook): fit must call it once per batch."""
    class Begin(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_train_batch_begin(self, batch, logs=None):
            self.batches.append(batch)

    X, y = make_data(48)
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    cb = Begin()
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert cb.batches == [0, 1, 2, 0, 1, 2]


def test_stop_training_stops_after_that_epoch():
    X, y = make_data(48)
    model = small_model()
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    rec = Recorder(stop_after=1)
    history = model.fit(X, y, epochs=10, batch_size=16, verbose=0, callbacks=[rec])
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    assert rec.events[-2:] == [("epoch_end", 1), "train_end"]
    assert model.optimizer.iterations == 2 * 3
    # A new fit starts again (stop_training is reset).
    assert len(model.fit(X, y, epochs=2, batch_size=16, verbose=0).epoch) == 2


# --- threads -----------------------------------------------------------------------------------

def test_num_threads_round_trip(restore_threads):
    assert fastnn.get_num_threads() >= 1
    for n in (1, 2, 1):
        fastnn.set_num_threads(n)
        assert fastnn.get_num_threads() == n


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_num_threads_bad_values(restore_threads, bad):
    before = fastnn.get_num_threads()
    with pytest.raises((ValueError, TypeError), match=r"^n: ") as info:
        fastnn.set_num_threads(bad)
    assert repr(bad) in str(info.value)
    assert fastnn.get_num_threads() == before


# --- config ------------------------------------------------------------------------------------

def test_sequential_config_round_trip():
    model = fastnn.Sequential([layers.Input((6,)), layers.Dense(8, activation="tanh", name="h"),
                               layers.Dense(3, use_bias=False, kernel_initializer="he_normal", name="o")],
                              seed=7, dtype="float64", name="net")
    config = model.get_config()
    clone = fastnn.Sequential.from_config(config)
    assert clone.get_config() == config
    assert clone.name == "net" and clone.dtype == np.float64 and clone.seed == 7
    assert [type(l) for l in clone.layers] == [layers.Dense, layers.Dense]
    assert clone.layers[0].activation == "tanh" and not clone.layers[1].use_bias
    model.build((None, 6))
    clone.build((None, 6))
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- no allocation in steady state -------------------------------------------------------------

# Python-level bookkeeping of one step (a logs dict, floats) is a few hundred bytes;
# every buffer of the models below is at least 5 KB and a batch of x is 50+ KB.
PEAK_BOUND = 2048
GROWTH_BOUND = 1024  # over 200 steps: catches a leak of 6 bytes per step


@pytest.fixture
def traced():
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    yield
    if not was_tracing:
        tracemalloc.stop()


def peak_by_line(fn, top=3):
    """Run fn() under a line tracer: for each line of fastnn's own code (innermost fastnn
    frame), the most memory allocated above what was live when it started, largest
    first. Diagnostics only (the tracer's own bookkeeping is excluded)."""
    stats, state = {}, {"line": None, "start": 0}

    def where(frame):
        while frame is not None and not frame.f_code.co_filename.startswith(FASTNN_DIR):
            frame = frame.f_back
        return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)

    def tracer(frame, event, arg):
        peak = tracemalloc.get_traced_memory()[1]
        if state["line"] is not None:
            stats[state["line"]] = max(stats.get(state["line"], 0), peak - state["start"])
        # After a return, the caller's line runs on (e.g. a kernel call after an argument).
        state["line"] = where(frame.f_back if event == "return" else frame)
        state["start"] = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    ranked = sorted(stats.items(), key=lambda kv: -kv[1])[:top]
    return [f"{path}:{line} ({size} bytes)" for (path, line), size in ranked]


def alloc_model(loss, features):
    model = fastnn.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)], seed=0)
    opt = optimizers.Adam(1e-3) if loss == "softmax_cross_entropy" else optimizers.SGD(0.01, momentum=0.9)
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"] if loss == "softmax_cross_entropy" else [])
    model.build((None, features))
    return model


def alloc_targets(kind, rng, n):
    if kind == "labels":
        return rng.integers(0, 10, n).astype(np.int64)
    if kind == "onehot":
        return np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return rng.standard_normal((n, 10)).astype(np.float32)


@pytest.mark.parametrize("loss, kind", [("softmax_cross_entropy", "labels"),
                                        ("softmax_cross_entropy", "onehot"), ("mse", "values")])
def test_train_on_batch_allocates_nothing_in_steady_state(traced, loss, kind):
    rng = np.random.default_rng(0)
    n, features = 256, 256
    X = rng.random((n, features), dtype=np.float32)  # already float32, C-contiguous
    y = alloc_targets(kind, rng, n)
    model = alloc_model(loss, features)
    for _ in range(100):  # warm-up, long enough for the interpreter's free lists to fill
        model.train_on_batch(X, y)
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for _ in range(200):
        model.train_on_batch(X, y)
    current, peak = tracemalloc.get_traced_memory()
    growth, step_peak = current - start, peak - start
    if growth > GROWTH_BOUND or step_peak > PEAK_BOUND:
        culprits = peak_by_line(lambda: model.train_on_batch(X, y))
        pytest.fail(f"train_on_batch allocates in steady state: memory grew by {growth} bytes over "
                    f"200 steps, peak {step_peak} bytes above the start (bounds {GROWTH_BOUND}, "
                    f"{PEAK_BOUND}; the X batch is {X.nbytes} bytes). Peak while these lines ran: "
                    f"{culprits}")


class MemoryProbe(callbacks.Callback):
    """Traced memory (current, peak since the previous batch) after every batch."""

    def __init__(self, steps):
        super().__init__()
        self.current = np.zeros(steps, np.int64)  # preallocated: recording allocates nothing
        self.peak = np.zeros(steps, np.int64)

    def on_train_batch_end(self, batch, logs=None):
        current, peak = tracemalloc.get_traced_memory()
        self.current[batch] = current
        self.peak[batch] = peak
        tracemalloc.reset_peak()


@pytest.mark.parametrize("loss, kind", [("softmax_cross_entropy", "labels"), ("mse", "values")])
def test_fit_inner_loop_allocates_nothing(traced, loss, kind):
    rng = np.random.default_rng(1)
    batch, steps, features = 128, 200, 100
    X = rng.random((batch * steps, features), dtype=np.float32)
    y = alloc_targets(kind, rng, batch * steps)
    model = alloc_model(loss, features)
    model.fit(X[:batch * 4], y[:batch * 4], epochs=1, batch_size=batch, verbose=0)  # warm-up
    probe = MemoryProbe(steps)
    model.fit(X, y, epochs=1, batch_size=batch, verbose=0, callbacks=[probe])
    warm = 10
    growth = int(probe.current[-1] - probe.current[warm])
    per_batch_peak = int(np.max(probe.peak[warm + 1:] - probe.current[warm:-1]))
    assert growth <= GROWTH_BOUND, f"fit's loop grew traced memory by {growth} bytes over {steps - warm - 1} batches"
    assert per_batch_peak <= PEAK_BOUND, (f"a batch of fit allocated up to {per_batch_peak} bytes "
                                          f"(a batch buffer is {batch * features * 4} bytes)")


# --- determinism -------------------------------------------------------------------------------

def determinism_run(seed, X, y):
    # > 2**20 parameters, so that the optimizer pass runs threaded when 2 threads are set.
    model = fastnn.Sequential([layers.Dense(1024, activation="relu"), layers.Dense(1024, activation="relu"),
                               layers.Dense(10)], seed=seed)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=1, batch_size=64, verbose=0)
    assert model.param_arena.size > 1 << 20
    return model.get_weights()


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_and_threads_give_bit_identical_weights(restore_threads, threads):
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((448, 100)).astype(np.float32)
    y = rng.integers(0, 10, 448)
    first = determinism_run(0, X, y)
    second = determinism_run(0, X, y)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = determinism_run(1, X, y)
    assert all(not np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_toolkit_training_step_allocates_nothing_in_steady_state(traced, dtype):
    # Every toolkit layer, regularizers, a constraint, a fused BN + activation, a
    # parametrized loss and sample weights: still no allocation per step.
    from fastnn import constraints, losses, regularizers
    rng = np.random.default_rng(1)
    n, features = 256, 64
    X = rng.random((n, features)).astype(dtype)
    y = (rng.random((n, 4)) > 0.5).astype(dtype)
    w = rng.random(n).astype(dtype)
    norm = layers.Normalization()
    norm.adapt(X)
    model = fastnn.Sequential([
        norm, layers.GaussianNoise(0.05, seed=1), layers.Dropout(0.2, seed=2),
        layers.Dense(48, kernel_regularizer=regularizers.L1L2(1e-4, 1e-4),
                     activity_regularizer=regularizers.L2(1e-5), kernel_constraint=constraints.MaxNorm(2.0)),
        layers.BatchNormalization(), layers.Activation("swish"), layers.Dropout(0.2, seed=3),
        layers.Dense(48, activation="gelu"), layers.LayerNormalization(), layers.ELU(),
        layers.Dense(4)], seed=0, dtype=dtype)
    model.compile(optimizer=optimizers.Adam(1e-3),
                  loss=losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.05))
    for _ in range(100):
        model.train_on_batch(X, y, sample_weight=w)
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for _ in range(200):
        model.train_on_batch(X, y, sample_weight=w)
    current, peak = tracemalloc.get_traced_memory()
    growth, step_peak = current - start, peak - start
    if growth > GROWTH_BOUND or step_peak > PEAK_BOUND:
        culprits = peak_by_line(lambda: model.train_on_batch(X, y, sample_weight=w))
        pytest.fail(f"train_on_batch allocates in steady state: grew {growth} bytes, peak {step_peak} "
                    f"(bounds {GROWTH_BOUND}, {PEAK_BOUND}); peak lines: {culprits}")
