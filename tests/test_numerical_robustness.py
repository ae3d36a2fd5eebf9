"""Numerical robustness of whole training steps, against float64 numpy references.

* logits of +-1e4 in float32 through softmax cross-entropy and sigmoid binary
  cross-entropy: finite loss, and the parameter gradients of float64 math;
* targets with all the mass on one class;
* learning rates of 1e-12 (updates below float32's resolution) and 1e6;
* pre-activations of +-1e4 (float32) / +-1e150 (float64) through every activation,
  and a deep network whose activations and gradients grow by orders of magnitude:
  no NaN or inf from the kernels where the float64 result is finite;
* divergence: `callbacks.TerminateOnNaN` stops at the first non-finite step and
  keeps the last finite weights (also when the update itself overflows them);
  without it, fit warns.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import reference as ref
import reference_activations as ra

import fastnn
from fastnn import callbacks, layers, losses, optimizers, schedules


def single_dense(units, inputs, dtype, loss, weights, bias=None, activation=None, optimizer="sgd"):
    model = fastnn.Sequential([layers.Dense(units, activation=activation)], seed=0, dtype=dtype)
    model.compile(optimizer=optimizer, loss=loss)
    model.build((None, inputs))
    model.set_weights([np.asarray(weights), np.zeros(units) if bias is None else np.asarray(bias)])
    return model


def dense_grads_from_dz(x, dz):
    """d loss / d (W, b) of z = x W + b from d loss / dz, in float64."""
    x = np.asarray(x, np.float64)
    return x.T @ dz, dz.sum(axis=0)


# -- extreme logits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("targets", ["labels", "one_hot", "soft"])
def test_softmax_cross_entropy_with_logits_of_1e4_in_float32_is_finite_and_exact(targets):
    # x picks a row of W: the logits are exactly W's rows (+-1e4 and mixtures)
    W = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4 - 1, -1e4], [0.5, -0.25, 0.125]], np.float32)
    x = np.eye(4, dtype=np.float32)
    labels = np.array([1, 1, 2, 0])  # wrong, right, wrong (loss 2e4), moderate
    y = {"labels": labels, "one_hot": np.eye(3)[labels],
         "soft": np.array([[0.5, 0.5, 0], [0, 1, 0], [0.2, 0.3, 0.5], [1, 0, 0]])}[targets]
    model = single_dense(3, 4, "float32", "softmax_cross_entropy", W)
    loss, (gW, gb) = model.compute_gradients(x, y)
    z = x.astype(np.float64) @ W.astype(np.float64)
    t = np.eye(3)[labels] if targets == "labels" else np.asarray(y, np.float64)
    n = len(x)
    total, dz, _ = ref.softmax_xent_dense(z, t, scale=1.0 / n)
    eW, eb = dense_grads_from_dz(x, dz)
    assert np.isfinite(loss) and np.all(np.isfinite(gW)) and np.all(np.isfinite(gb))
    assert loss == pytest.approx(total / n, rel=1e-6)
    assert loss > 5e3  # the wrong-class rows really cost ~2e4 / 4 each
    np.testing.assert_allclose(gW, eW, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, eb, rtol=1e-6, atol=1e-7)
    # predict's probabilities are finite and sum to 1 even at these logits
    p = model.predict(x)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, ref.softmax(z), atol=1e-7)


def test_sigmoid_binary_cross_entropy_with_logits_of_1e4_in_float32_is_finite_and_exact():
    W = np.array([[1e4, -1e4], [-1e4, 1e4], [3.0, -2.0]], np.float32)
    x = np.eye(3, dtype=np.float32)
    y = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])  # half wrong at 1e4: loss 1e4 per element
    model = single_dense(2, 3, "float32", losses.BinaryCrossentropy(from_logits=True), W)
    loss, (gW, gb) = model.compute_gradients(x, y)
    z = x.astype(np.float64) @ W.astype(np.float64)
    # BCE from logits: mean over outputs of softplus(z) - t z; d/dz = (sigmoid(z) - t) / k
    per = (np.logaddexp(0.0, z) - y * z).mean(axis=1)
    dz = (ref.sigmoid(z) - y) / z.shape[1] / len(x)
    eW, eb = dense_grads_from_dz(x, dz)
    assert np.isfinite(loss) and np.all(np.isfinite(gW))
    assert loss == pytest.approx(per.mean(), rel=1e-6)
    np.testing.assert_allclose(gW, eW, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, eb, rtol=1e-6, atol=1e-7)
    p = model.predict(x)
    np.testing.assert_allclose(p, ref.sigmoid(z), atol=1e-7)


# -- degenerate targets --------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["labels", "one_hot"])
def test_all_mass_on_one_class_trains_to_a_finite_near_zero_loss(form):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    y = np.zeros(64, np.int64) if form == "labels" else np.tile([1.0, 0.0, 0.0], (64, 1))
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
    model.compile(optimizer=optimizers.Adam(0.05), loss="softmax_cross_entropy", metrics=["accuracy"])
    hist = model.fit(X, y, epochs=40, batch_size=16, verbose=0)
    h = np.array(hist.history["loss"])
    assert np.all(np.isfinite(h)) and h[-1] < 1e-2 < h[0]
    assert hist.history["accuracy"][-1] == 1.0
    p = model.predict(X)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # the reported loss is the float64 reference's at the trained weights
    out = ref.network_forward(X, ref.layers_from_weights(model.get_weights(), ["relu", "linear"]))
    expected = ref.mean_loss(out, np.zeros(64, np.int64), "softmax_cross_entropy")
    assert model.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-7)


# -- learning rates ----------------------------------------------------------------------------------

def regression_model(dtype, optimizer, seed=0, bn=False):
    stack = [layers.Dense(8, activation="tanh")] + ([layers.BatchNormalization()] if bn else []) + [layers.Dense(2)]
    model = fastnn.Sequential(stack, seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer, loss="mse")
    model.build((None, 5))
    return model


def regression_data(n=64, scale=1.0):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 5)) * scale, rng.standard_normal((n, 2))


def test_a_learning_rate_of_1e_12_moves_float64_weights_by_exactly_lr_times_the_gradient():
    X, y = regression_data(16)
    model = regression_model("float64", optimizers.SGD(1e-12))
    before = model.param_arena.copy()
    _, grads = model.compute_gradients(X, y)
    g = model.grad_arena.copy()
    model.apply_gradients(grads)
    delta = model.param_arena - before
    # |W| <= ~1: the rounding of w - 1e-12 g is at most one ulp of 1 (2.2e-16)
    np.testing.assert_allclose(delta, -1e-12 * g, rtol=0, atol=2.3e-16)
    assert np.any(delta != 0)


@pytest.mark.parametrize("opt", [lambda: optimizers.SGD(1e-12, momentum=0.9), lambda: optimizers.Adam(1e-12)],
                         ids=["sgd-momentum", "adam"])
def test_a_learning_rate_of_1e_12_in_float32_keeps_weights_finite_and_still(opt):
    X, y = regression_data()
    model = regression_model("float32", opt())
    before = model.param_arena.copy()
    hist = model.fit(X, y, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert np.all(np.isfinite(model.param_arena))
    # Adam's steps are ~lr; below float32's resolution of |w| >= ~1e-3 nothing moves
    moved = np.abs(model.param_arena.astype(np.float64) - before)
    assert moved.max() <= 1e-9
    assert model.optimizer.iterations == 24


def replay_until_non_finite(model, X, y, batch_size, epochs):
    """Step through the batches (no shuffling) with train_on_batch; the weights from
    before the first step whose loss or resulting weights are non-finite."""
    n = len(X)
    for _ in range(epochs):
        for start in range(0, n, batch_size):
            before = model.get_weights()
            loss = model.train_on_batch(X[start:start + batch_size], y[start:start + batch_size])
            if not np.isfinite(loss) or not all(np.all(np.isfinite(w)) for w in model.get_weights()):
                return before
    raise AssertionError("the replay did not diverge")


@pytest.mark.parametrize("case", ["lr1e6", "lr1e6-bn", "update-overflows"])
def test_terminate_on_nan_stops_a_diverging_fit_with_the_last_finite_weights(case, capsys):
    if case == "update-overflows":
        # finite losses throughout, but step 12 (epoch 2) takes lr = 1e37: its update
        # overflows float32 weights. The weights to keep are those from before it, not
        # those of an epoch end.
        X, y = regression_data()
        y = y * 1e4  # output-layer gradients ~1e2
        lr = schedules.PiecewiseConstantDecay([10], [1e-6, 1e37])
    else:
        X, y = regression_data()
        lr = 1e6
    bn = case.endswith("bn")
    a = regression_model("float32", optimizers.SGD(lr), bn=bn)
    b = regression_model("float32", optimizers.SGD(lr), bn=bn)
    cb = callbacks.TerminateOnNaN()
    hist = a.fit(X, y, epochs=5, batch_size=8, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.stopped_batch is not None and "Invalid loss" in capsys.readouterr().out
    assert not np.isfinite(hist.history["loss"][-1])
    expected = replay_until_non_finite(b, X, y, 8, 5)
    assert all(np.all(np.isfinite(w)) for w in expected)
    for got, want in zip(a.get_weights(), expected):  # weights and batch-norm statistics
        np.testing.assert_array_equal(got, want)
    # and predicts what those weights predict (after lr=1e6 they may be huge enough to
    # overflow a forward pass: that is the weights' doing, not the stop's)
    b.set_weights(expected)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_a_diverging_fit_without_terminate_on_nan_warns_once():
    X, y = regression_data()
    model = regression_model("float32", optimizers.SGD(1e6))
    with pytest.warns(RuntimeWarning, match=r"fit: the training loss is (nan|inf) at epoch \d+: training "
                                            r"diverged.*TerminateOnNaN") as record:
        model.fit(X, y, epochs=4, batch_size=8, verbose=0)
    assert sum("diverged" in str(w.message) for w in record) == 1
    # a converging fit stays silent
    quiet = regression_model("float32", optimizers.SGD(1e-2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.fit(X, y, epochs=2, batch_size=8, verbose=0)


# -- large pre-activations and exploding signals ---------------------------------------------------------

ACTIVATIONS = [name for name in ra.DEFAULTS if name != "exponential"]  # exp(1e4) is inf in float64 too


@pytest.mark.parametrize("dtype, magnitude", [("float32", 1e4), ("float64", 1e150)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_extreme_pre_activations_give_the_float64_forward_and_gradient(activation, dtype, magnitude):
    # identity kernel: the pre-activations are the inputs themselves
    z = np.array([[magnitude, -magnitude, 0.5, -magnitude / 2], [-3.0, 2.0, magnitude / 3, -magnitude]])
    model = single_dense(4, 4, dtype, "mse", np.eye(4), activation=activation)
    zc = z.astype(dtype).astype(np.float64)
    target = np.zeros((2, 4))
    loss, (gW, gb) = model.compute_gradients(z, target)
    with np.errstate(all="ignore"):
        y = ra.forward(activation, zc)
        dz = ra.vjp(activation, zc, 2.0 * (y - target) / y.size)
    eW, eb = dense_grads_from_dz(zc, dz)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(eW)), "the reference itself overflowed"
    assert np.isfinite(loss) and np.all(np.isfinite(gW)) and np.all(np.isfinite(gb))
    rtol = 1e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(model.predict(z), y, rtol=rtol, atol=rtol)
    assert loss == pytest.approx(float(((y - target) ** 2).mean()), rel=rtol)
    # Gradients span ~magnitude**2: compare with an absolute term at that scale. Kernels
    # take saturating derivatives from the outputs (1 - y^2 for tanh, (1 - |y|)^2 for
    # softsign): in float32 that costs eps32 / (1 - |y|) relative, ~1e-3 at |y| = 0.9999.
    grtol = 2e-3 if dtype == "float32" else rtol
    np.testing.assert_allclose(gW, eW, rtol=grtol, atol=rtol * 1e-6 * np.abs(eW).max())
    np.testing.assert_allclose(gb, eb, rtol=grtol, atol=rtol * 1e-6 * np.abs(eb).max())


def test_a_deep_network_with_exploding_signals_matches_float64_backprop():
    # six linear layers of gain ~30: outputs ~1e8, squared errors ~1e16, gradients ~1e16
    depth, width = 6, 4
    rng = np.random.default_rng(0)
    Ws = [(30.0 * np.linalg.qr(rng.standard_normal((width, width)))[0]).astype(np.float32) for _ in range(depth)]
    model = fastnn.Sequential([layers.Dense(width) for _ in range(depth)], seed=0, dtype="float32")
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, width))
    model.set_weights([a for W in Ws for a in (W, np.zeros(width, np.float32))])
    x = rng.standard_normal((3, width)).astype(np.float32)
    y = np.zeros((3, width))
    loss, grads = model.compute_gradients(x, y)
    # float64 forward and backward of the same float32 weights
    hs = [x.astype(np.float64)]
    for W in Ws:
        hs.append(hs[-1] @ W.astype(np.float64))
    out = hs[-1]
    assert np.abs(out).max() > 1e7
    d = 2.0 * (out - y) / out.size
    expected = []
    for i in range(depth - 1, -1, -1):
        expected[:0] = [hs[i].T @ d, d.sum(axis=0)]
        d = d @ Ws[i].astype(np.float64).T
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)
    assert loss == pytest.approx(float((out ** 2).mean()), rel=1e-4)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4 * np.abs(e).max())
