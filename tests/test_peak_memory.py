"""Peak memory of fit: the training data, 4x the parameters, one batch of activations.

numpy reports its buffers to tracemalloc, so the traced peak above what was live
before `fit` counts every array fit allocates: the parameter arena and its gradient
and Adam moment arenas (4x the parameters), the batch buffers (the gathered input
batch, each layer's output and delta), the epoch's shuffled row order (8 bytes a
row), and a copy of the data only when it is not already C-contiguous in the model
dtype. Nothing may scale with the number of rows beyond that order array.
"""
import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import layers

N_ROWS, FEATURES, WIDTHS, BATCH = 6000, 200, (128, 64, 10), 100
SLACK = 64 * 1024  # Python objects of the fit loop (logs, History, callbacks)


def peak_of_fit(x, y, dtype="float32", **fit_kwargs):
    model = fastnn.Sequential([layers.Dense(WIDTHS[0], activation="relu"),
                               layers.Dense(WIDTHS[1], activation="relu"), layers.Dense(WIDTHS[2])],
                              seed=0, dtype=dtype)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, **fit_kwargs)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return model, peak


def budget(model, n_rows, data_copy_bytes):
    itemsize = np.dtype(model.dtype).itemsize
    params = 4 * model.count_params() * itemsize
    activations = BATCH * (FEATURES + 2 * sum(WIDTHS)) * itemsize  # x batch, outputs, deltas
    return data_copy_bytes + params + activations + 8 * n_rows + SLACK


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N_ROWS, FEATURES)), rng.integers(0, 10, N_ROWS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_on_data_in_the_model_dtype_copies_nothing(data, dtype):
    x = data[0].astype(dtype)
    model, peak = peak_of_fit(x, data[1], dtype)
    limit = budget(model, N_ROWS, 0)
    assert peak <= limit, f"fit peaked at {peak} bytes above its start, budget {limit}"
    # ... and the budget is not loose: the parameter arenas alone are most of it.
    assert peak >= 4 * model.count_params() * np.dtype(dtype).itemsize


def test_fit_converts_other_dtypes_with_one_copy(data):
    x = data[0]  # float64 into a float32 model: one float32 copy of the rows
    model, peak = peak_of_fit(x, data[1], "float32")
    limit = budget(model, N_ROWS, N_ROWS * FEATURES * 4)
    assert peak <= limit, f"fit peaked at {peak} bytes, budget {limit} (one float32 copy)"


@pytest.mark.parametrize("how", ["split", "data"])
def test_validation_needs_no_more_memory(data, how):
    # The held-out rows are views (split) or the caller's arrays (data), evaluated in
    # chunks of the training batch size: no copy, no larger activation buffers.
    x = data[0].astype(np.float32)
    if how == "split":
        model, peak = peak_of_fit(x, data[1], "float32", validation_split=0.2)
    else:
        model, peak = peak_of_fit(x[:4800], data[1][:4800], "float32",
                                  validation_data=(x[4800:], data[1][4800:]))
    limit = budget(model, N_ROWS, 0)
    assert peak <= limit, f"fit peaked at {peak} bytes, budget {limit}"


def test_the_peak_does_not_grow_with_the_rows(data):
    x = data[0].astype(np.float32)
    _, small = peak_of_fit(x[:2000], data[1][:2000])
    _, large = peak_of_fit(x, data[1])
    assert large - small <= 8 * (N_ROWS - 2000) + SLACK, (small, large)
