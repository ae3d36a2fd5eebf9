"""Memory reliability: no leaks over many cycles, large memory-mapped data without copies.

Leaks. 1,000 fit/predict/save/load cycles of a tiny model keep the resident set flat
(/proc/self/statm) and tracemalloc's traced memory flat (numpy reports its buffers to
tracemalloc). Growth is judged per interval (median over intervals), because CPython's
own tables (e.g. the dict of interned strings, which sees names come and go) resize now
and then: a step, not a slope.

Large data. A float32 C-contiguous np.memmap trains without a copy of its rows: the
traced peak of fit (and the growth of anonymous memory, which excludes the file's page
cache) stays within the epoch's shuffled row order (8 bytes a row) plus the parameter
and batch buffers. predict streams rows in chunks: beyond its (n, outputs) result
nothing grows with n. Here fit reads 200 MB of a memory-mapped file and predict all of
it, 10M x 10 float32 (400 MB): scaled down from the several GB this is meant for; the
bounds do not depend on the size.

Leak tracing covers 1,000 cycles by RSS and 250 more by tracemalloc (which doubles
the cost of a cycle): both slow-marked, and run with one kernel thread.
"""
import gc
import os
import sys
import tempfile
import tracemalloc

import numpy as np
import pytest
from thread_checks import same_bits

import fastnn
from fastnn import layers

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def anon_rss() -> int:
    """Resident anonymous memory (heap, numpy buffers): excludes a memmap's file pages."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssAnon in /proc/self/status")


@pytest.fixture
def one_thread():
    # Memory, not speed, is under test: one kernel thread keeps these tests fast on a
    # busy machine (an OpenMP team waits for descheduled workers at every region).
    previous = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    yield
    fastnn.set_num_threads(previous)


@pytest.fixture
def fast_dir(tmp_path):
    # save() fsyncs (atomic writes): on tmpfs that costs nothing, on a disk it dominates.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
            yield d
    else:
        yield str(tmp_path)


# -- leaks ----------------------------------------------------------------------------------
def tiny_cycle_setup(folder):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    path = os.path.join(folder, "tiny.fnn")
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dropout(0.1),
                               layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(path)

    def cycle():
        m = fastnn.load_model(path)
        m.fit(x, y, epochs=1, batch_size=8, verbose=0)
        m.predict(x)
        m.save(path)

    return cycle


def growth_per_interval(cycle, intervals, per_interval, measure):
    samples = []
    for _ in range(intervals + 1):
        gc.collect()
        # CPython's type attribute cache keeps the attribute names last looked up
        # (strings built by each load, e.g. from JSON): bounded, but it fills slowly.
        sys._clear_type_cache()
        samples.append(measure())
        for _ in range(per_interval):
            cycle()
    return samples, np.diff(samples)


@pytest.mark.slow
def test_many_fit_predict_save_load_cycles_do_not_leak(one_thread, fast_dir):
    cycle = tiny_cycle_setup(fast_dir)
    for _ in range(50):  # warm-up: caches, allocator arenas, first-call imports
        cycle()
    # 1,000 cycles watched by the resident set size ...
    samples, steps = growth_per_interval(cycle, 10, 100, rss)
    assert samples[-1] - samples[0] <= 2 * 2**20, f"RSS grew {samples[-1] - samples[0]} bytes: {samples}"
    # ... and 250 more traced (tracemalloc doubles the cost of a cycle). The first 50
    # refill, with traced objects, the caches that untraced ones filled before.
    tracemalloc.start()
    try:
        for _ in range(50):
            cycle()
        samples, steps = growth_per_interval(cycle, 4, 50, lambda: tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # Measured here: +32 bytes per 50 cycles. A leak of even 8 bytes a cycle shows in
    # every interval; a resize of one of CPython's tables in one.
    assert np.median(steps) <= 256, f"traced memory grew per 50 cycles: {steps.tolist()}"
    assert np.sum(steps > 1024) <= 1, f"traced memory grew per 50 cycles: {steps.tolist()}"


def test_repeated_fit_and_predict_on_one_model_allocate_nothing_lasting(one_thread):
    # Fast companion of the slow test: one model, 200 fit/predict calls, traced.
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 2, 64)
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                               layers.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])

    def cycle():
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        model.predict(x)

    for _ in range(20):
        cycle()
    tracemalloc.start()
    try:
        samples, steps = growth_per_interval(cycle, 4, 50, lambda: tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert np.median(steps) <= 256 and samples[-1] - samples[0] <= 4 * 1024, steps.tolist()


# -- large data -----------------------------------------------------------------------------
def write_memmap(path, rows, cols, seed=0):
    """A float32 C-contiguous .npy memmap filled block by block (a random block tiled
    with an offset per copy, so that no two blocks are equal)."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
    block = np.random.default_rng(seed).standard_normal((65536, cols)).astype(np.float32)
    for i, start in enumerate(range(0, rows, len(block))):
        stop = min(start + len(block), rows)
        np.add(block[:stop - start], np.float32(i % 7) * np.float32(0.01), out=mm[start:stop])
    mm.flush()
    del mm
    return np.load(path, mmap_mode="r")


def traced_peak(fn):
    """(result, traced peak above the start, anonymous RSS growth) of fn()."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        anon0 = anon_rss()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        anon = anon_rss() - anon0
    finally:
        tracemalloc.stop()
    return result, peak, anon


def regression_model(features):
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.build((None, features))
    return model


def reference_forward(model, x):
    w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    return np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2


@pytest.mark.slow
def test_fit_on_200mb_and_predict_on_10m_rows_of_a_memmap(tmp_path, one_thread):
    rows, cols = 10_000_000, 10  # 400 MB of float32 on disk
    x = write_memmap(tmp_path / "x.npy", rows, cols)
    assert isinstance(x, np.memmap) and x.flags.c_contiguous and not x.flags.writeable
    # fit on the first 5M rows (200 MB, still a memmap): no copy of the rows.
    train = x[:rows // 2]
    assert isinstance(train, np.memmap) and train.nbytes == 200_000_000
    y = np.empty((len(train), 1), np.float32)
    np.multiply(train[:, :1], 0.5, out=y)  # the targets: 20 MB in memory
    model = regression_model(cols)
    _, peak, anon = traced_peak(lambda: model.fit(train, y, epochs=1, batch_size=16384, verbose=0))
    order = 8 * len(train)  # the epoch's shuffled row order
    assert peak <= order + 4 * 2**20, f"fit peaked at {peak / 2**20:.1f} MiB over a {train.nbytes / 2**20:.0f} MiB memmap"
    assert anon <= order + 32 * 2**20, f"anonymous memory grew {anon / 2**20:.1f} MiB during fit"
    assert model.history.history["loss"][0] < 0.25  # it learned (the targets' variance is ~0.25)

    # predict on all 10M rows: the (n, 1) result and nothing else that grows with n.
    pred, peak, anon = traced_peak(lambda: model.predict(x))
    assert pred.shape == (rows, 1)
    assert peak <= pred.nbytes + 1 * 2**20, f"predict peaked at {peak / 2**20:.1f} MiB, result {pred.nbytes / 2**20:.1f} MiB"
    assert anon <= pred.nbytes + 32 * 2**20
    rng = np.random.default_rng(3)
    rows_checked = np.concatenate([np.arange(2000), rows - 2000 + np.arange(2000),
                                   rng.integers(0, rows, 2000)])
    np.testing.assert_allclose(pred[rows_checked], reference_forward(model, x[rows_checked]),
                               rtol=1e-4, atol=1e-5)


def test_memmap_trains_like_the_same_rows_in_memory(tmp_path, one_thread):
    x = write_memmap(tmp_path / "small.npy", 20_000, 12)
    y = np.random.default_rng(2).standard_normal((20_000, 1)).astype(np.float32)
    a, b = regression_model(12), regression_model(12)
    _, peak, _ = traced_peak(lambda: a.fit(x, y, epochs=2, batch_size=256, verbose=0))
    b.fit(np.array(x), y, epochs=2, batch_size=256, verbose=0)
    assert all(same_bits(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    assert same_bits(a.predict(x), b.predict(np.array(x)))
    assert peak < x.nbytes / 4, f"fit on a memmap peaked at {peak} bytes for {x.nbytes} bytes of data"


def test_predict_memory_does_not_grow_with_the_rows(one_thread):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200_000, 10)).astype(np.float32)
    model = regression_model(10)
    model.predict(x[:2048])  # buffers for full chunks exist before measuring
    small, peak_small, _ = traced_peak(lambda: model.predict(x[:20_000]))
    large, peak_large, _ = traced_peak(lambda: model.predict(x))
    slack = 64 * 1024
    assert peak_small <= small.nbytes + slack, peak_small
    assert peak_large <= large.nbytes + slack, peak_large
    assert (peak_large - large.nbytes) - (peak_small - small.nbytes) <= slack
    np.testing.assert_allclose(large[::997], reference_forward(model, x[::997]), rtol=1e-4, atol=1e-5)
