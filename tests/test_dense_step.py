"""The fused training passes of a plain Dense stack (ops.DenseStep, Sequential._dense_step).

A model made only of Dense layers with built-in activations and no regularizers runs
its forward and backward passes as one kernel call each. The same kernels run on the
same buffers as the layer-by-layer path, so training must give the same bits: every
test trains a model both ways (the reference with the fused path switched off) and
compares weights, optimizer state and logged losses exactly, and the gradients once
against a float64 numpy reference.
"""
from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import fastnn
from fastnn import layers, losses, ops, optimizers


def make(dtype, acts=("relu", "gelu"), use_bias=(True, False, True), loss="softmax_cross_entropy",
         widths=(12, 16, 9, 4), optimizer=None, extra=None, seed=3):
    stack = [layers.Input((widths[0],))]
    for i, units in enumerate(widths[1:]):
        act = acts[i] if i < len(acts) else None
        stack.append(layers.Dense(units, activation=act, use_bias=use_bias[i]))
        if extra is not None and i == 0:
            stack.append(extra())
    model = fastnn.Sequential(stack, dtype=dtype, seed=seed)
    metrics = ["accuracy"] if loss == "softmax_cross_entropy" else []
    model.compile(optimizer=optimizer or optimizers.Adam(1e-2), loss=loss, metrics=metrics)
    return model


def layer_by_layer(model):
    """Switch the fused passes off on this model (the reference path)."""
    model._dense_step = lambda: None
    return model


def data(dtype, n=70, features=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(dtype), rng.integers(0, classes, n)


def assert_same_training(fused, ref_model, history_f, history_r):
    assert history_f.history["loss"] == history_r.history["loss"]
    for a, b in zip(fused.get_weights(), ref_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused.optimizer._slots[0][0], ref_model.optimizer._slots[0][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("acts", [("relu", "gelu", None), ("tanh", "softmax", "linear"),
                                  ("silu", "leaky_relu", "sigmoid")])
@pytest.mark.parametrize("threads", [1, 2])
def test_fit_gives_the_bits_of_the_layer_by_layer_path(dtype, acts, threads):
    previous = fastnn.get_num_threads()
    fastnn.set_num_threads(threads)
    try:
        x, y = data(dtype)
        fused, reference = make(dtype, acts), layer_by_layer(make(dtype, acts))
        hf = fused.fit(x, y, epochs=3, batch_size=16, verbose=0)  # a short last batch (6 rows)
        hr = reference.fit(x, y, epochs=3, batch_size=16, verbose=0)
        assert isinstance(fused._step, ops.DenseStep)
        assert_same_training(fused, reference, hf, hr)
        assert hf.history["accuracy"] == hr.history["accuracy"]
    finally:
        fastnn.set_num_threads(previous)


@pytest.mark.parametrize("loss", ["mse", losses.BinaryCrossentropy(from_logits=True)])
def test_other_losses_and_sample_weights(loss):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 12)).astype(np.float32)
    y = (rng.random((50, 4)) < 0.5).astype(np.float32)
    w = rng.random(50).astype(np.float32)
    fused, reference = make(np.float32, loss=loss), layer_by_layer(make(np.float32, loss=loss))
    hf = fused.fit(x, y, sample_weight=w, epochs=2, batch_size=8, verbose=0)
    hr = reference.fit(x, y, sample_weight=w, epochs=2, batch_size=8, verbose=0)
    assert_same_training(fused, reference, hf, hr)


def test_gradients_match_a_float64_reference():
    model = make(np.float64, acts=("relu", "tanh", None), use_bias=(True, True, True))
    x, y = data(np.float64, n=9)
    model.build((None, 12))
    loss, grads = model.compute_gradients(x, y)
    assert isinstance(model._step, ops.DenseStep)
    net = ref.layers_from_weights(model.get_weights(), ["relu", "tanh", "linear"])
    assert loss == pytest.approx(ref.network_loss(x, y, net, "softmax_cross_entropy"), rel=1e-12)
    eps = 1e-6
    w0 = model.get_weights()[0]
    for idx in [(0, 0), (5, 7), (11, 15)]:  # central differences of the mean loss
        values = []
        for sign in (1, -1):
            w = [a.copy() for a in model.get_weights()]
            w[0][idx] = w0[idx] + sign * eps
            values.append(ref.network_loss(x, y, ref.layers_from_weights(w, ["relu", "tanh", "linear"]),
                                           "softmax_cross_entropy"))
        assert grads[0][idx] == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-6, abs=1e-9)


def test_train_on_batch_and_compute_gradients_match():
    x, y = data(np.float32, n=24)
    fused, reference = make(np.float32), layer_by_layer(make(np.float32))
    for _ in range(3):
        assert fused.train_on_batch(x, y) == reference.train_on_batch(x, y)
    (loss_f, grads_f), (loss_r, grads_r) = fused.compute_gradients(x, y), reference.compute_gradients(x, y)
    assert loss_f == loss_r
    for a, b in zip(grads_f, grads_r):
        np.testing.assert_array_equal(a, b)


def test_buffers_that_grow_get_a_new_step():
    x, y = data(np.float32, n=200)
    fused, reference = make(np.float32), layer_by_layer(make(np.float32))
    for batch in (8, 64, 200):  # each larger batch reallocates the activation buffers
        hf = fused.fit(x, y, epochs=1, batch_size=batch, verbose=0)
        hr = reference.fit(x, y, epochs=1, batch_size=batch, verbose=0)
        assert fused._step_capacity == batch
        assert_same_training(fused, reference, hf, hr)


@pytest.mark.parametrize("kind", ["dropout", "regularizer", "custom_activation", "batch_norm"])
def test_other_models_take_the_layer_by_layer_path(kind):
    if kind == "dropout":
        model = make(np.float32, extra=lambda: layers.Dropout(0.3))
    elif kind == "batch_norm":
        model = make(np.float32, extra=lambda: layers.BatchNormalization())
    elif kind == "regularizer":
        model = fastnn.Sequential([layers.Input((12,)), layers.Dense(8, kernel_regularizer="l2"),
                                   layers.Dense(4)])
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
    else:
        fastnn.activations.register("test_step_cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
        try:
            model = make(np.float32, acts=("test_step_cube", None))
        finally:
            fastnn.activations.unregister("test_step_cube")
    x, y = data(np.float32, n=32)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert model._dense_step() is None


def test_sparse_batches_take_the_layer_by_layer_path():
    sp = pytest.importorskip("scipy.sparse")
    x, y = data(np.float32, n=64)
    x[np.abs(x) < 1.0] = 0
    fused, reference = make(np.float32), layer_by_layer(make(np.float32))
    hf = fused.fit(sp.csr_matrix(x), y, epochs=2, batch_size=16, verbose=0)
    hr = reference.fit(sp.csr_matrix(x), y, epochs=2, batch_size=16, verbose=0)
    assert_same_training(fused, reference, hf, hr)


def test_dense_step_refuses_inconsistent_buffers():
    w = np.ones((4, 3), np.float32)
    out = np.empty((8, 3), np.float32)
    with pytest.raises(ValueError, match="^layers: expected at least one"):
        ops.DenseStep([], 8)
    with pytest.raises(ValueError, match=r"^layers\[0\] out: expected at least 8 rows"):
        ops.DenseStep([(w, None, out[:4], None, w.copy(), None, None, 0, 0.0)], 8)
    with pytest.raises(ValueError, match=r"^layers\[0\] dx: expected None"):
        ops.DenseStep([(w, None, out, None, w.copy(), None, np.empty((8, 4), np.float32), 0, 0.0)], 8)
    with pytest.raises(ValueError, match=r"^layers\[0\] b, db: expected both or neither"):
        ops.DenseStep([(w, np.ones(3, np.float32), out, None, w.copy(), None, None, 0, 0.0)], 8)
    step = ops.DenseStep([(w, None, out, None, w.copy(), None, None, 0, 0.0)], 8)
    with pytest.raises(ValueError, match="^n: expected 0 <= n <= 8"):
        step.forward(np.ones((9, 4), np.float32), 9)
    with pytest.raises(ValueError, match="^x: expected 4 columns"):
        step.forward(np.ones((2, 5), np.float32), 2)
    step.forward(np.ones((2, 4), np.float32), 2)
    np.testing.assert_array_equal(out[:2], np.full((2, 3), 4.0))
