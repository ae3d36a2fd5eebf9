"""Runtime reliability: interrupts during fit, thread safety, the GIL.

Interrupts. A KeyboardInterrupt (a callback's, or a real SIGINT) ends fit at a step
boundary: weights, optimizer state, batch-norm statistics and dropout counters all
belong to the last completed step, which the tests check against a model trained for
exactly that many steps (bit for bit: same seed, same thread count), and continuing
training from there equals an uninterrupted run. model.history gets the partial epoch.

Threads. Concurrent predict/evaluate calls on one model take turns on its buffers and
return what a lone call returns; while fit runs, other threads' calls are refused with a
RuntimeError naming fit; the kernels release the GIL, so Python threads run during fit.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from thread_checks import same_bits

import fastnn
from fastnn import callbacks, layers

BATCH = 8


def make_model(seed=0, dtype="float32", optimizer=None):
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                               layers.Dropout(0.25), layers.Dense(3)], seed=seed, dtype=dtype)
    opt = optimizer or fastnn.optimizers.Adam(
        learning_rate=fastnn.schedules.ExponentialDecay(1e-2, decay_steps=3, decay_rate=0.9))
    model.compile(optimizer=opt, loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    return x, rng.integers(0, 3, 64)


def full_state(model):
    """Everything a step changes: weights (with batch-norm statistics), optimizer state,
    dropout counters."""
    arrays = [w.copy() for w in model.get_weights()]
    opt = {k: np.array(v, copy=True) for k, v in model.optimizer.get_state().items()}
    counters = [l.counter for l in model.layers if isinstance(l, layers.Dropout)]
    return arrays, opt, counters


def assert_same_state(a, b):
    (wa, oa, ca), (wb, ob, cb) = a, b
    assert len(wa) == len(wb) and all(same_bits(x, y) for x, y in zip(wa, wb)), "weights differ"
    assert oa.keys() == ob.keys() and all(same_bits(oa[k], ob[k]) for k in oa), "optimizer state differs"
    assert ca == cb, f"dropout counters {ca} != {cb}"


class InterruptAt(callbacks.Callback):
    """Raises KeyboardInterrupt at (epoch, step) from the chosen batch hook."""

    def __init__(self, epoch, step, hook):
        super().__init__()
        self.at, self.hook, self.epoch = (epoch, step), hook, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.hook == "begin" and (self.epoch, batch) == self.at:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        if self.hook == "end" and (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


class BatchLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def trained_for(steps, data, shuffle=False):
    """A fresh model trained for exactly `steps` steps of batch BATCH (no shuffling)."""
    x, y = data
    model = make_model()
    per_epoch = len(x) // BATCH
    epochs, rest = divmod(steps, per_epoch)
    if epochs:
        model.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=shuffle, verbose=0)
    if rest:
        model.fit(x[:rest * BATCH], y[:rest * BATCH], epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    return model


# -- KeyboardInterrupt from a callback -------------------------------------------------------
@pytest.mark.parametrize("hook, done", [("end", 8 + 3), ("begin", 8 + 2)])
def test_interrupt_from_callback_keeps_the_last_completed_step(data, hook, done):
    x, y = data
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=False, verbose=0,
                  callbacks=[InterruptAt(1, 2, hook)])
    assert model.optimizer.iterations == done
    assert_same_state(full_state(model), full_state(trained_for(done, data)))
    # The handler fit installs for SIGINT is gone again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_history_records_the_partial_epoch(data):
    x, y = data
    ref_logs = BatchLogs()
    make_model().fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[ref_logs])
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=False, verbose=0,
                  callbacks=[InterruptAt(1, 2, "end")])
    h = model.history
    assert h.epoch == [0, 1]
    assert h.params["interrupted"] == {"epoch": 1, "steps_done": 3}
    assert h.params["steps"] == 8  # the fit's own params are kept
    # The partial entry: running means over the 3 steps of epoch 1 that ran, as the
    # uninterrupted run's batch logs had them after that step.
    expected = ref_logs.logs[8 + 2]
    assert h.history["loss"][1] == pytest.approx(expected["loss"], rel=1e-12)
    assert h.history["accuracy"][1] == pytest.approx(expected["accuracy"], rel=1e-12)
    # ... and independently: mean of the per-batch losses (running mean differences).
    per_batch = [ref_logs.logs[8]["loss"]] + [
        (k + 1) * ref_logs.logs[8 + k]["loss"] - k * ref_logs.logs[8 + k - 1]["loss"] for k in (1, 2)]
    assert h.history["loss"][1] == pytest.approx(np.mean(per_batch), rel=1e-5)
    assert h.history["learning_rate"][1] == pytest.approx(1e-2 * 0.9 ** (11 / 3), rel=1e-6)


class InterruptAtEpochEnd(callbacks.Callback):
    """Raises KeyboardInterrupt in on_epoch_end of `epoch` (user callbacks run before History)."""

    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def test_interrupt_after_the_last_step_records_the_whole_epoch(data):
    # All steps ran and validation too: History gets the epoch's complete logs (the
    # training metrics, not the validation run's that the metric objects hold by then).
    x, y = data

    def model_with_metrics():
        model = make_model()
        model.compile(optimizer=model.optimizer, loss="softmax_cross_entropy",
                      metrics=["accuracy", "sparse_categorical_crossentropy"])
        return model

    kwargs = {"batch_size": BATCH, "shuffle": False, "verbose": 0, "validation_data": (x[:16], y[:16])}
    reference = model_with_metrics()
    reference.fit(x, y, epochs=2, **kwargs)
    model = model_with_metrics()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, callbacks=[InterruptAtEpochEnd(1)], **kwargs)
    assert model.history.epoch == [0, 1]
    assert model.history.history == reference.history.history
    assert model.history.params["interrupted"] == {"epoch": 1, "steps_done": 8}
    assert "val_sparse_categorical_crossentropy" in model.history.history


def test_interrupt_before_any_step_of_an_epoch_adds_no_entry(data):
    x, y = data
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=False, verbose=0,
                  callbacks=[InterruptAt(1, 0, "begin")])
    assert model.history.epoch == [0]
    assert model.history.params["interrupted"] == {"epoch": 1, "steps_done": 0}
    assert model.optimizer.iterations == 8


def test_continuing_after_an_interrupt_equals_an_uninterrupted_run(data):
    x, y = data
    straight = make_model()
    straight.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0,
                  callbacks=[InterruptAt(0, 3, "end")])
    model.fit(x[4 * BATCH:], y[4 * BATCH:], epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    assert model.optimizer.iterations == straight.optimizer.iterations == 8
    assert_same_state(full_state(model), full_state(straight))


def test_sigint_during_a_step_takes_effect_when_the_step_is_complete(data, monkeypatch):
    # A SIGINT that arrives inside a step (here: raised just before its forward pass)
    # must not split the step: its update, batch-norm statistics and dropout counter
    # all happen, then fit stops.
    x, y = data
    model = make_model()
    inner = model._loss_and_grads
    calls = []

    def signalling(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            signal.raise_signal(signal.SIGINT)
        return inner(*args, **kwargs)

    monkeypatch.setattr(model, "_loss_and_grads", signalling)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 5
    assert_same_state(full_state(model), full_state(trained_for(5, data)))
    assert model.history.params["interrupted"] == {"epoch": 0, "steps_done": 5}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_programs_own_sigint_handler_is_left_alone(data):
    x, y = data
    seen = []

    def mine(signum, frame):
        seen.append(signum)

    class Check(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(signal.getsignal(signal.SIGINT) is mine)

    previous = signal.signal(signal.SIGINT, mine)
    try:
        make_model().fit(x, y, epochs=1, batch_size=BATCH, verbose=0, callbacks=[Check()])
        assert seen == [True]
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)


SIGINT_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    import numpy as np
    import fastnn
    from fastnn import callbacks, layers

    fastnn.set_num_threads(1)
    BATCH, STEPS = 256, 20  # steps per epoch; fit asks for far more epochs than run
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * STEPS, 256)).astype(np.float32)
    y = rng.integers(0, 10, BATCH * STEPS)

    def make():
        m = fastnn.Sequential([layers.Dense(512, activation="relu"), layers.Dropout(0.1),
                               layers.Dense(512, activation="relu"), layers.Dense(10)], seed=0)
        m.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
        return m

    class Times(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends, self.started = [], threading.Event()
        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())
            if len(self.ends) == int(sys.argv[1]):
                self.started.set()

    model, times = make(), Times()
    sent = []
    def kill():
        times.started.wait()
        time.sleep(float(np.median(np.diff(times.ends))) / 2)  # most likely inside a step
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=kill, daemon=True).start()
    try:
        model.fit(x, y, epochs=10_000, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[times])
        result = {"interrupted": False}
    except KeyboardInterrupt:
        caught = time.perf_counter()
        done = model.optimizer.iterations
        ref = make()
        epochs, rest = divmod(done, STEPS)
        if epochs:
            ref.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=False, verbose=0)
        if rest:
            ref.fit(x[:rest * BATCH], y[:rest * BATCH], epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
        same = all(a.tobytes() == b.tobytes() for a, b in zip(model.get_weights(), ref.get_weights()))
        same_opt = all(np.array_equal(v, ref.optimizer.get_state()[k])
                       for k, v in model.optimizer.get_state().items())
        steps = np.diff(times.ends)
        result = {"interrupted": True, "done": int(done), "epochs": epochs, "rest": rest,
                  "same_weights": same, "same_optimizer": same_opt,
                  "ended_before_kill": sum(t <= sent[0] for t in times.ends),
                  "latency": caught - sent[0], "median_step": float(np.median(steps)),
                  "history_loss": model.history.history.get("loss"),
                  "interrupted_at": model.history.params.get("interrupted"),
                  "handler_restored": signal.getsignal(signal.SIGINT) is signal.default_int_handler}
    print("RESULT " + json.dumps(result))
""")


def test_real_sigint_stops_fit_within_one_step(tmp_path):
    script = tmp_path / "sigint_fit.py"
    script.write_text(SIGINT_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), "30"], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    r = json.loads(lines[-1][len("RESULT "):])
    assert r["interrupted"], "fit ended before the SIGINT came"
    # Within one step: at most the step in flight when the signal came was completed.
    assert r["done"] - r["ended_before_kill"] <= 1, r
    assert r["done"] >= 30 and r["same_weights"] and r["same_optimizer"], r
    assert r["interrupted_at"] == {"epoch": r["epochs"], "steps_done": r["rest"]}
    assert len(r["history_loss"]) == r["epochs"] + (r["rest"] > 0)
    assert np.all(np.isfinite(r["history_loss"]))
    assert r["handler_restored"]
    print(f"SIGINT latency {r['latency'] * 1e3:.1f} ms, median step {r['median_step'] * 1e3:.1f} ms")


# -- threads --------------------------------------------------------------------------------
def inference_model():
    model = fastnn.Sequential([layers.Dense(128, activation="relu"), layers.BatchNormalization(),
                               layers.Dense(64, activation="tanh"), layers.Dense(4)], seed=3)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


def test_concurrent_predict_and_evaluate_match_a_lone_call():
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((n, 20)).astype(np.float32) for n in (1, 3, 50, 700, 2100)]
    labels = [rng.integers(0, 4, len(x)) for x in inputs]
    model = inference_model()
    model.fit(inputs[-1], labels[-1], epochs=1, batch_size=64, verbose=0)
    # Single-threaded references.
    # (Chunks of other sizes round differently: one reference per batch_size.)
    expected = {bs: [model.predict(x, batch_size=bs) for x in inputs] for bs in (None, 512)}
    expected_eval = [model.evaluate(x, t) for x, t in zip(inputs, labels)]
    mismatches, errors = [], []
    start = threading.Barrier(4)

    def work(i):
        try:
            start.wait()
            for r in range(25):
                k = (i + r) % len(inputs)
                if r % 5 == 4:
                    got = model.evaluate(inputs[k], labels[k])
                    if got != expected_eval[k]:
                        mismatches.append(("evaluate", k, got, expected_eval[k]))
                else:
                    bs = None if r % 2 else 512
                    p = model.predict(inputs[k], batch_size=bs)
                    if not same_bits(p, expected[bs][k]):
                        mismatches.append(("predict", k))
        except (RuntimeError, ValueError, TypeError) as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not mismatches, mismatches[:3]


class Pause(callbacks.Callback):
    """Holds fit inside its first batch hook until released."""

    def __init__(self):
        super().__init__()
        self.inside, self.release = threading.Event(), threading.Event()

    def on_train_batch_end(self, batch, logs=None):
        if not self.inside.is_set():
            self.inside.set()
            assert self.release.wait(30)
            # fit's own thread may still use the model.
            self.own_predict = self.model.predict(np.zeros((2, 20), np.float32))


def test_other_threads_are_refused_while_fit_runs():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((256, 20)).astype(np.float32), rng.integers(0, 4, 256)
    model = inference_model()
    model.predict(x[:5])
    pause, failures = Pause(), []

    def train():
        try:
            model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[pause])
        except (RuntimeError, ValueError, TypeError, AssertionError) as exc:  # pragma: no cover
            failures.append(exc)

    t = threading.Thread(target=train, name="trainer")
    t.start()
    try:
        assert pause.inside.wait(30)
        before = model.get_weights()
        for call in (lambda: model.predict(x), lambda: model.evaluate(x, y),
                     lambda: model.train_on_batch(x[:8], y[:8]),
                     lambda: model.fit(x, y, epochs=1, verbose=0)):
            with pytest.raises(RuntimeError, match=r"fit\(\) is running on this model in thread 'trainer'"):
                call()
        assert all(same_bits(a, b) for a, b in zip(before, model.get_weights()))
    finally:
        pause.release.set()
        t.join(60)
    assert not failures, failures
    assert pause.own_predict.shape == (2, 4)
    # Once fit returned, every thread may use the model again.
    out = []
    th = threading.Thread(target=lambda: out.append(model.predict(x[:3])))
    th.start()
    th.join()
    assert same_bits(out[0], model.predict(x[:3]))


def test_kernels_release_the_gil_during_fit():
    # With one kernel thread, a Python thread counting on the other core gets most of
    # its solo rate while fit runs, which it could not if the GEMMs (most of each step
    # here) held the GIL.
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((1024, 512)).astype(np.float32), rng.integers(0, 10, 1024)
    model = fastnn.Sequential([layers.Dense(1024, activation="relu"), layers.Dense(1024, activation="relu"),
                               layers.Dense(10)], seed=0)
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    previous = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    try:
        model.fit(x[:256], y[:256], epochs=1, batch_size=256, verbose=0)  # buffers, warm caches

        def count_for(seconds=None, stop=None):
            n, end = 0, time.perf_counter() + (seconds or 1e9)
            while not (stop.is_set() if stop else time.perf_counter() >= end):
                n += 1
            return n

        solo_t = time.perf_counter()
        solo = count_for(0.3) / (time.perf_counter() - solo_t)
        stop, counted = threading.Event(), []
        counter = threading.Thread(target=lambda: counted.append(count_for(stop=stop)))
        t0 = time.perf_counter()
        counter.start()
        model.fit(x, y, epochs=3, batch_size=256, verbose=0)
        stop.set()
        counter.join()
        during = counted[0] / (time.perf_counter() - t0)
    finally:
        fastnn.set_num_threads(previous)
    print(f"counter rate during fit: {during / solo:.2f} of its solo rate")
    assert during >= 0.3 * solo, f"counter ran at {during / solo:.2f} of its solo rate during fit"


def test_batch1_predict_latency_with_the_lock():
    # The lock around predict's buffered path costs well under a few % at batch 1.
    # Asserted on the lock's own cost (stable on a busy machine), and end to end,
    # interleaved, against the same model with a no-op lock (noisier: a loose bound).
    model = fastnn.Sequential([layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
                               layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    model.predict(x)

    class NoLock:
        def acquire(self, what):
            pass

        def release(self):
            pass

    real = model._lock
    times = {"lock": [], "none": [], "pair": []}
    for _ in range(9):
        for name, lock in (("lock", real), ("none", NoLock())):
            model._lock = lock
            t = time.perf_counter()
            for _ in range(200):
                model.predict(x)
            times[name].append((time.perf_counter() - t) / 200)
        t = time.perf_counter()
        for _ in range(2000):
            real.acquire("predict")
            real.release()
        times["pair"].append((time.perf_counter() - t) / 2000)
    model._lock = real
    lock, none, pair = (float(np.median(times[k])) for k in ("lock", "none", "pair"))
    print(f"batch-1 predict: {lock * 1e6:.1f} us with the lock, {none * 1e6:.1f} us without "
          f"(ratio {lock / none:.3f}); lock acquire+release {pair * 1e9:.0f} ns")
    assert pair < 0.02 * none, (pair, none)
    assert lock / none < 1.25, (lock, none)


def test_predicts_around_a_fit_in_another_thread_are_correct_or_refused():
    # A thread predicting in a loop while the main thread trains: every call either
    # returns the predictions of the weights before fit or after it (never a mix, never
    # corrupted buffers) or raises the RuntimeError naming fit.
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((512, 20)).astype(np.float32), rng.integers(0, 4, 512)
    probe = rng.standard_normal((1500, 20)).astype(np.float32)
    model = inference_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    before = model.predict(probe)
    outcomes, stop = [], threading.Event()

    def predict_loop():
        while not stop.is_set():
            try:
                outcomes.append(model.predict(probe))
            except RuntimeError as exc:
                outcomes.append(str(exc))

    t = threading.Thread(target=predict_loop)
    t.start()
    try:
        time.sleep(0.05)
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        after = model.predict(probe)
        time.sleep(0.05)
    finally:
        stop.set()
        t.join(60)
    refused = [o for o in outcomes if isinstance(o, str)]
    results = [o for o in outcomes if not isinstance(o, str)]
    assert all("predict: fit() is running on this model" in o for o in refused), refused[:1]
    assert all(same_bits(r, before) or same_bits(r, after) for r in results)
    assert not same_bits(before, after)
    assert results, outcomes[:3]
