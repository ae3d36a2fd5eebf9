"""Dropout, GaussianNoise, BatchNormalization, LayerNormalization and Normalization.

Each layer's forward and backward passes are compared with the float64 numpy
reference of tests/reference_layers.py (written from the formulas and, for the
random layers, from the generator's definition), with central finite
differences, and with torch where it is installed. Layers are driven
standalone (build, bind, allocate, forward, backward, as a model does) and
through fastnn.Sequential.

Tolerances: float64 rtol 1e-12 against the reference (the kernels accumulate
in double in a different order: a few ulps); float32 rtol 2e-5 relative to the
largest entry (single-precision outputs of double statistics; gradient sums over
up to 512 rows). Finite differences: eps 1e-6 in float64, error ~1e-9 relative.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import fastnn
import reference_layers as R
from fastnn import ops
from fastnn.layers.batch_normalization import BatchNormalization
from fastnn.layers.dense import Dense
from fastnn.layers.dropout import Dropout
from fastnn.layers.gaussian_noise import GaussianNoise
from fastnn.layers.layer_normalization import LayerNormalization
from fastnn.layers.normalization import Normalization

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def close(actual, expected, dtype, rtol=None):
    """|actual - expected| <= rtol * max(1, max|expected|) elementwise."""
    expected = np.asarray(expected, np.float64)
    tol = (rtol or RTOL[dtype]) * max(1.0, float(np.abs(expected).max(initial=0.0)))
    err = float(np.abs(np.asarray(actual, np.float64) - expected).max(initial=0.0))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g}"


def standalone(layer, d, dtype, capacity, need_dx=True, seed=0):
    """Build, initialize and bind a layer as a model would; returns (params, grads, state)."""
    layer.build(d, np.dtype(dtype))
    params = [np.array(v, dtype) for v in layer.initial_values(np.random.default_rng(seed))]
    grads = [np.zeros_like(p) for p in params]
    layer.bind(params, grads)
    state = [np.array(s, dtype) for s in layer.initial_state()]
    layer.bind_state(state)
    layer.allocate(capacity, need_dx)
    return params, grads, state


@pytest.fixture
def threads():
    """Set fastnn's thread count inside a test; restored afterwards."""
    old = fastnn.get_num_threads()
    yield fastnn.set_num_threads
    fastnn.set_num_threads(old)


def data(rng, n, d, dtype, offset=0.0, scale=1.0):
    return (rng.standard_normal((n, d)) * scale + offset).astype(dtype)


# =============================================================================================
# Dropout
# =============================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 13), (64, 97), (5, 32)])
def test_dropout_forward_backward_match_reference_generator(dtype, shape):
    rng = np.random.default_rng(1)
    n, d = shape
    layer = Dropout(0.3, seed=12345)
    standalone(layer, d, dtype, capacity=n + 3)
    x = data(rng, n + 3, d, dtype)
    out = layer.forward(x, n, training=True)
    keep = R.dropout_keep(12345, 0, (n, d), 0.3)
    close(out[:n], R.dropout_forward(x[:n], keep, 0.3), dtype)
    assert np.all(out[:n][~keep] == 0)
    dy = data(rng, n + 3, d, dtype)
    expected = R.dropout_backward(dy[:n], keep, 0.3)
    tail = dy[n:].copy()
    dx = layer.backward(dy, n, need_dx=True)
    assert dx is dy  # in place
    close(dx[:n], expected, dtype)
    assert np.array_equal(dx[n:], tail)  # rows past n untouched


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_backward_uses_the_forward_mask(dtype):
    rng = np.random.default_rng(2)
    n, d = 40, 33
    layer = Dropout(0.5, seed=7)
    standalone(layer, d, dtype, capacity=n)
    x = data(rng, n, d, dtype)
    layer.forward(x, n, training=True)  # call 0
    layer.forward(x, n, training=True)  # call 1: backward must use this one
    dy = data(rng, n, d, dtype)
    expected = R.dropout_backward(dy, R.dropout_keep(7, 1, (n, d), 0.5), 0.5)
    close(layer.backward(dy, n, need_dx=True), expected, dtype)
    assert layer.backward(dy, n, need_dx=False) is None


def test_dropout_rate_and_scale_statistics():
    n, d, rate = 2000, 100, 0.2
    layer = Dropout(rate, seed=3)
    standalone(layer, d, np.float32, capacity=n)
    out = layer.forward(np.ones((n, d), np.float32), n, training=True)
    dropped = float((out == 0).mean())
    sigma = math.sqrt(rate * (1 - rate) / (n * d))
    assert abs(dropped - rate) < 5 * sigma
    assert np.all(out[out != 0] == np.float32(1 / (1 - rate)))
    assert abs(float(out.mean()) - 1.0) < 5 * sigma / (1 - rate)


def test_dropout_matches_torch_statistics():
    torch = pytest.importorskip("torch", reason="torch is not installed: the dropout statistics are not compared with torch")
    n, d, rate = 1000, 200, 0.35
    torch.manual_seed(0)
    t_out = torch.nn.functional.dropout(torch.ones(n, d), p=rate, training=True).numpy()
    layer = Dropout(rate, seed=11)
    standalone(layer, d, np.float32, capacity=n)
    out = layer.forward(np.ones((n, d), np.float32), n, training=True)
    sigma = math.sqrt(rate * (1 - rate) / (n * d))
    for o in (out, t_out):
        assert abs(float((o == 0).mean()) - rate) < 5 * sigma
        assert abs(float(o.mean()) - 1.0) < 5 * sigma / (1 - rate)
    # the same kept value: 1 / (1 - rate) rounded to float32
    assert np.unique(out[out != 0]).tolist() == np.unique(t_out[t_out != 0]).tolist()


def test_dropout_identity_in_inference_and_at_rate_zero():
    x = np.random.default_rng(4).standard_normal((10, 6))
    layer = Dropout(0.4, seed=1)
    standalone(layer, 6, np.float64, capacity=10)
    assert layer.forward(x, 10, training=False) is x
    assert layer.counter == 0  # inference draws nothing
    dy = x.copy()
    assert np.array_equal(layer.backward(dy, 10, need_dx=True), x)
    zero = Dropout(0.0, seed=1)
    standalone(zero, 6, np.float64, capacity=10)
    assert zero.forward(x, 10, training=True) is x


def test_dropout_masks_differ_across_calls_and_replay_with_counter():
    n, d = 50, 40
    layer = Dropout(0.5, seed=5)
    standalone(layer, d, np.float64, capacity=n)
    ones = np.ones((n, d))
    first = layer.forward(ones, n, True).copy()
    second = layer.forward(ones, n, True).copy()
    assert layer.counter == 2
    assert not np.array_equal(first, second)
    layer.counter = 0
    assert np.array_equal(layer.forward(ones, n, True), first)
    state = layer.random_state()
    third = layer.forward(ones, n, True).copy()
    layer.set_random_state(state)
    assert np.array_equal(layer.forward(ones, n, True), third)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_noise_identical_for_one_and_two_threads(dtype, threads):
    rng = np.random.default_rng(6)
    n, d = 1500, 97  # above the threading threshold, odd width: pairs straddle rows
    x = data(rng, n, d, dtype)
    results = []
    for t in (1, 2):
        threads(t)
        drop, noise = Dropout(0.3, seed=9), GaussianNoise(0.5, seed=9)
        standalone(drop, d, dtype, capacity=n)
        standalone(noise, d, dtype, capacity=n)
        dy = x.copy()
        results.append((drop.forward(x, n, True).copy(), drop.backward(dy, n, True).copy(),
                        noise.forward(x, n, True).copy()))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_dropout_masks_fixed_by_seed_across_models():
    x = np.ones((30, 12), np.float32)
    outs = []
    for model_seed in (0, 1):  # an explicit layer seed wins over the model's
        model = fastnn.Sequential([Dropout(0.5, seed=42), Dense(3)], seed=model_seed)
        model.build((None, 12))
        model.layers[0].allocate(30, True)
        outs.append(model.layers[0].forward(x, 30, True).copy())
    assert np.array_equal(*outs)
    outs = []
    for _ in range(2):  # seed=None: drawn from the model's seeded generator
        model = fastnn.Sequential([Dropout(0.5), Dense(3)], seed=123)
        model.build((None, 12))
        model.layers[0].allocate(30, True)
        outs.append(model.layers[0].forward(x, 30, True).copy())
    assert np.array_equal(*outs)
    other = fastnn.Sequential([Dropout(0.5), Dense(3)], seed=124)
    other.build((None, 12))
    other.layers[0].allocate(30, True)
    assert not np.array_equal(other.layers[0].forward(x, 30, True), outs[0])


# =============================================================================================
# GaussianNoise
# =============================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_noise_matches_reference(dtype):
    rng = np.random.default_rng(7)
    n, d, stddev = 33, 45, 0.7
    layer = GaussianNoise(stddev, seed=21)
    standalone(layer, d, dtype, capacity=n)
    x = data(rng, n, d, dtype)
    out = layer.forward(x, n, training=True)
    expected = x.astype(np.float64) + stddev * R.gaussian_noise(21, 0, (n, d))
    close(out[:n], expected, dtype, rtol=1e-12 if dtype == np.float64 else 1e-5)
    dy = data(rng, n, d, dtype)
    assert layer.backward(dy, n, need_dx=True) is dy  # the identity
    assert layer.backward(dy, n, need_dx=False) is None
    assert layer.forward(x, n, training=False) is x


def test_gaussian_noise_sample_statistics():
    n, d, stddev = 1000, 200, 0.3
    layer = GaussianNoise(stddev, seed=8)
    standalone(layer, d, np.float64, capacity=n)
    z = layer.forward(np.zeros((n, d)), n, training=True) / stddev
    m = n * d
    assert abs(z.mean()) < 5 / math.sqrt(m)
    assert abs(z.std() - 1.0) < 5 / math.sqrt(2 * m)
    assert abs(float((np.abs(z) < 1).mean()) - 0.682689492) < 0.005  # a normal, not just any unit-variance law
    assert abs(float((np.abs(z) < 2).mean()) - 0.954499736) < 0.003
    # the cos and sin halves of a pair are uncorrelated
    assert abs(np.corrcoef(z.reshape(-1, 32)[:, :16].ravel(), z.reshape(-1, 32)[:, 16:].ravel())[0, 1]) < 0.01


# =============================================================================================
# BatchNormalization
# =============================================================================================

def bn_layer(d, dtype, n, center=True, scale=True, need_dx=True, momentum=0.9, epsilon=1e-3, rng=None):
    layer = BatchNormalization(momentum=momentum, epsilon=epsilon, center=center, scale=scale)
    params, grads, state = standalone(layer, d, dtype, capacity=n, need_dx=need_dx)
    rng = rng or np.random.default_rng(10)
    for p in params:  # non-trivial gamma, beta
        p[...] = rng.standard_normal(d)
    state[0][...] = rng.standard_normal(d)
    state[1][...] = rng.uniform(0.5, 2.0, d)
    return layer, params, grads, state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_training_matches_reference(dtype, center, scale):
    rng = np.random.default_rng(11)
    n, d = 48, 21
    layer, params, grads, state = bn_layer(d, dtype, n + 2, center, scale, rng=rng)
    gamma = params[0] if scale else np.ones(d)
    beta = params[-1] if center else np.zeros(d)
    mm0, mv0 = state[0].copy(), state[1].copy()
    x = data(rng, n + 2, d, dtype, offset=3.0, scale=2.0)
    y = layer.forward(x, n, training=True)
    ref_y, mean, var = R.batch_norm_train(x[:n], gamma, beta, 1e-3)
    close(y[:n], ref_y, dtype)
    close(state[0], R.moving_update(mm0, mean, 0.9), dtype)
    close(state[1], R.moving_update(mv0, var, 0.9), dtype)
    dy = data(rng, n + 2, d, dtype)
    dx_ref, dgamma_ref, dbeta_ref = R.batch_norm_train_backward(x[:n], dy[:n], gamma, 1e-3)
    dx = layer.backward(dy, n, need_dx=True)
    close(dx[:n], dx_ref, dtype)
    if scale:
        close(grads[0], dgamma_ref, dtype)
    if center:
        close(grads[-1], dbeta_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_inference_matches_reference(dtype):
    rng = np.random.default_rng(12)
    n, d = 20, 9
    layer, (gamma, beta), grads, (mm, mv) = bn_layer(d, dtype, n, rng=rng)
    mm0, mv0 = mm.copy(), mv.copy()
    x = data(rng, n, d, dtype)
    close(layer.forward(x, n, training=False), R.batch_norm_infer(x, gamma, beta, mm, mv, 1e-3), dtype)
    assert np.array_equal(mm, mm0) and np.array_equal(mv, mv0)  # inference leaves the state alone
    dy = data(rng, n, d, dtype)
    dx_ref, dg_ref, db_ref = R.batch_norm_infer_backward(x, dy, gamma, mm, mv, 1e-3)
    close(layer.backward(dy, n, need_dx=True), dx_ref, dtype)
    close(grads[0], dg_ref, dtype)
    close(grads[1], db_ref, dtype)


def finite_difference(f, arrays, eps=1e-6):
    """Central differences of the scalar f() w.r.t. every entry of every array (in place)."""
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            keep = a[idx]
            a[idx] = keep + eps
            plus = f()
            a[idx] = keep - eps
            minus = f()
            a[idx] = keep
            g[idx] = (plus - minus) / (2 * eps)
        out.append(g)
    return out


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_finite_differences(training):
    rng = np.random.default_rng(13)
    n, d = 6, 4
    layer, params, grads, state = bn_layer(d, np.float64, n, rng=rng)
    x = rng.standard_normal((n, d))
    weights = rng.standard_normal((n, d))  # loss = sum(y * weights)
    saved = [s.copy() for s in state]

    def loss():
        for s, v in zip(state, saved):
            s[...] = v  # the moving statistics a training forward updates
        return float((layer.forward(x, n, training) * weights).sum())

    numeric = finite_difference(loss, [x] + params)
    loss()
    dx = layer.backward(weights.copy(), n, need_dx=True)
    for analytic, num in zip([dx] + grads, numeric):
        np.testing.assert_allclose(analytic, num, rtol=1e-6, atol=1e-8)


def test_batch_norm_matches_torch_training_and_eval():
    torch = pytest.importorskip("torch", reason="torch is not installed: batch norm is not compared with torch")
    F = torch.nn.functional
    rng = np.random.default_rng(14)
    n, d, momentum, eps = 32, 10, 0.9, 1e-3
    layer, (gamma, beta), grads, (mm, mv) = bn_layer(d, np.float64, n, momentum=momentum, epsilon=eps, rng=rng)
    x = rng.standard_normal((n, d)) * 2 + 1
    dy = rng.standard_normal((n, d))
    rm, rv = torch.tensor(mm), torch.tensor(mv)
    mm0, mv0 = mm.copy(), mv.copy()
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    # torch's momentum weighs the new batch: Keras's momentum m is torch's 1 - m
    yt = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=1 - momentum, eps=eps)
    yt.backward(torch.tensor(dy))
    y = layer.forward(x, n, training=True)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mm, rm.numpy(), rtol=1e-12, atol=1e-14)
    # torch's running variance takes the unbiased batch variance: var * n / (n - 1)
    np.testing.assert_allclose((rv.numpy() - momentum * mv0) * (n - 1) / n, mv - momentum * mv0,
                               rtol=1e-10, atol=1e-14)
    dx = layer.backward(dy.copy(), n, need_dx=True)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[0], gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[1], bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    # eval mode with the same (Keras-updated) moving statistics
    ye = F.batch_norm(torch.tensor(x), torch.tensor(mm), torch.tensor(mv), torch.tensor(gamma),
                      torch.tensor(beta), training=False, eps=eps)
    np.testing.assert_allclose(layer.forward(x, n, training=False), ye.numpy(), rtol=1e-12, atol=1e-12)
    assert not np.array_equal(mm, mm0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_single_row_gives_beta_and_no_nan(dtype):
    layer, (gamma, beta), grads, _ = bn_layer(5, dtype, 3)
    x = np.random.default_rng(15).standard_normal((3, 5)).astype(dtype)
    y = layer.forward(x, 1, training=True)
    assert np.all(np.isfinite(y[:1]))
    close(y[:1], beta[None, :], dtype)
    dx = layer.backward(np.ones((3, 5), dtype), 1, need_dx=True)
    assert np.all(dx[:1] == 0) and np.all(np.isfinite(grads[0]))


def test_batch_norm_large_offset_has_no_cancellation():
    # float32 inputs with |mean| / std = 1e4: a one-pass E[x^2] - E[x]^2 in float32 would lose the variance
    rng = np.random.default_rng(16)
    n, d = 256, 8
    x = (1e4 + rng.standard_normal((n, d))).astype(np.float32)
    layer, (gamma, beta), _, _ = bn_layer(d, np.float32, n, rng=rng)
    y = layer.forward(x, n, training=True)
    ref_y, _, var = R.batch_norm_train(x, gamma, beta, 1e-3)
    # float32 inputs are exact; the error comes from rounding mean (1e4, ulp 1e-3) and x - mean
    close(y, ref_y, np.float32, rtol=2e-3)
    assert 0.5 < var.mean() < 1.5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [160, 37, 600])  # 600: a thread's columns exceed the 256-column stack block
def test_batch_and_layer_norm_identical_for_one_and_two_threads(dtype, d, threads):
    rng = np.random.default_rng(17)
    n = 4096 if d == 160 else 700
    x = data(rng, n, d, dtype, offset=0.5)
    dy0 = data(rng, n, d, dtype)
    results = []
    for t in (1, 2):
        threads(t)
        bn, _, bgrads, bstate = bn_layer(d, dtype, n, rng=np.random.default_rng(1))
        ln = LayerNormalization()
        lparams, lgrads, _ = standalone(ln, d, dtype, capacity=n)
        lparams[0][...] = np.random.default_rng(2).standard_normal(d)
        res = [bn.forward(x, n, True).copy(), bn.backward(dy0.copy(), n, True).copy(),
               bn.forward(x, n, False).copy(), bn.backward(dy0.copy(), n, True).copy()]
        res += [g.copy() for g in bgrads] + [s.copy() for s in bstate]
        res += [ln.forward(x, n, True).copy(), ln.backward(dy0.copy(), n, True).copy()]
        res += [g.copy() for g in lgrads]
        results.append(res)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_batch_norm_first_layer_without_input_gradient():
    rng = np.random.default_rng(18)
    n, d = 16, 6
    layer, (gamma, beta), grads, _ = bn_layer(d, np.float64, n, need_dx=False, rng=rng)
    x = rng.standard_normal((n, d))
    layer.forward(x, n, training=True)
    dy = rng.standard_normal((n, d))
    dy_before = dy.copy()
    assert layer.backward(dy, n, need_dx=False) is None
    assert np.array_equal(dy, dy_before)
    _, dg, db = R.batch_norm_train_backward(x, dy, gamma, 1e-3)
    close(grads[0], dg, np.float64)
    close(grads[1], db, np.float64)


# =============================================================================================
# LayerNormalization
# =============================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, False), (True, False)])
def test_layer_norm_matches_reference(dtype, center, scale):
    rng = np.random.default_rng(19)
    n, d = 37, 23
    layer = LayerNormalization(center=center, scale=scale, epsilon=1e-3)
    params, grads, _ = standalone(layer, d, dtype, capacity=n + 1)
    for p in params:
        p[...] = rng.standard_normal(d)
    gamma = params[0] if scale else np.ones(d)
    beta = params[-1] if center else np.zeros(d)
    x = data(rng, n + 1, d, dtype, offset=-2.0, scale=3.0)
    close(layer.forward(x, n, True)[:n], R.layer_norm(x[:n], gamma, beta, 1e-3), dtype)
    dy = data(rng, n + 1, d, dtype)
    dx_ref, dg_ref, db_ref = R.layer_norm_backward(x[:n], dy[:n], gamma, 1e-3)
    close(layer.backward(dy, n, need_dx=True)[:n], dx_ref, dtype)
    if scale:
        close(grads[0], dg_ref, dtype)
    if center:
        close(grads[-1], db_ref, dtype)


def test_layer_norm_gradients_match_finite_differences():
    rng = np.random.default_rng(20)
    n, d = 5, 6
    layer = LayerNormalization()
    params, grads, _ = standalone(layer, d, np.float64, capacity=n)
    for p in params:
        p[...] = rng.standard_normal(d)
    x = rng.standard_normal((n, d))
    weights = rng.standard_normal((n, d))

    def loss():
        return float((layer.forward(x, n, True) * weights).sum())

    numeric = finite_difference(loss, [x] + params)
    loss()
    dx = layer.backward(weights.copy(), n, need_dx=True)
    for analytic, num in zip([dx] + grads, numeric):
        np.testing.assert_allclose(analytic, num, rtol=1e-6, atol=1e-8)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed: layer norm is not compared with torch")
    rng = np.random.default_rng(21)
    n, d, eps = 12, 17, 1e-3
    layer = LayerNormalization(epsilon=eps)
    (gamma, beta), grads, _ = standalone(layer, d, np.float64, capacity=n)
    gamma[...] = rng.standard_normal(d)
    beta[...] = rng.standard_normal(d)
    x = rng.standard_normal((n, d)) * 3
    dy = rng.standard_normal((n, d))
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    yt = torch.nn.functional.layer_norm(xt, (d,), gt, bt, eps=eps)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer.forward(x, n, True), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dy.copy(), n, True), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[0], gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[1], bt.grad.numpy(), rtol=1e-10, atol=1e-12)


# =============================================================================================
# Normalization
# =============================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization_adapt_and_standardize(dtype):
    rng = np.random.default_rng(22)
    X = rng.standard_normal((200, 7)) * rng.uniform(0.1, 10, 7) + rng.uniform(-50, 50, 7)
    X[:, 3] = 4.0  # a constant feature: variance 0, divided by Keras's 1e-7
    layer = Normalization()
    layer.adapt(X)
    _, _, (mean, var) = standalone(layer, 7, dtype, capacity=200)
    m_ref, v_ref = R.adapt(X)
    close(mean, m_ref, dtype)
    close(var, v_ref, dtype, rtol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(mean, X.mean(axis=0).astype(dtype), rtol=1e-6)
    np.testing.assert_allclose(var, X.var(axis=0).astype(dtype), rtol=1e-6)
    Xd = X.astype(dtype)
    y = layer.forward(Xd, 200, training=True)
    close(y, R.standardize(Xd, mean, var), dtype, rtol=1e-12 if dtype == np.float64 else 1e-5)
    keep = np.arange(7) != 3
    np.testing.assert_allclose(y[:, keep].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(y[:, keep].std(axis=0), 1, rtol=1e-4)
    assert np.all(y[:, 3] == 0)
    dy = rng.standard_normal((200, 7)).astype(dtype)
    expected = R.standardize_backward(dy, var)
    close(layer.backward(dy, 200, need_dx=True), expected, dtype)
    assert layer.backward(dy, 200, need_dx=False) is None


def test_normalization_keras_example():
    # The example of Keras's documentation: adapt on 4 rows, normalize [0, 7, 4] -> [-1, -1, -1]
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]])
    layer = Normalization()
    layer.adapt(adapt_data)
    standalone(layer, 3, np.float32, capacity=1)
    y = layer.forward(np.array([[0., 7., 4.]], np.float32), 1, False)
    np.testing.assert_array_equal(y, [[-1., -1., -1.]])
    given = Normalization(mean=3.0, variance=2.0)
    standalone(given, 1, np.float64, capacity=3)
    np.testing.assert_allclose(given.forward(np.array([[1.], [2.], [3.]]), 3, False)[:, 0],
                               [-1.4142135623730951, -0.7071067811865476, 0.0], rtol=1e-15)


def test_normalization_adapt_before_and_after_model_build():
    rng = np.random.default_rng(23)
    X = rng.standard_normal((100, 4)) * 3 + 2
    y = rng.standard_normal((100, 1))
    before = Normalization()
    before.adapt(X)
    m1 = fastnn.Sequential([before, Dense(1)], seed=0, dtype="float64")
    m1.build((None, 4))
    after = Normalization()
    m2 = fastnn.Sequential([after, Dense(1)], seed=0, dtype="float64")
    m2.build((None, 4))
    with pytest.raises(ValueError, match="adapt"):
        m2.predict(X)  # not adapted yet
    after.adapt(X)
    for m in (m1, m2):
        w = m.get_weights()  # Normalization's mean and variance (state) come first, then the Dense
        np.testing.assert_allclose(w[0], X.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(w[1], X.var(axis=0), rtol=1e-14)
    np.testing.assert_allclose(m1.predict(X), m2.predict(X), rtol=1e-14)
    m2.compile(optimizer="sgd", loss="mse")
    m2.fit(X, y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_allclose(m2.get_weights()[0], X.mean(axis=0), rtol=1e-14)  # not trained
    with pytest.raises(ValueError, match="built for 4 features, got 5"):
        after.adapt(np.ones((3, 5)))
    np.testing.assert_allclose(m2.get_weights()[0], X.mean(axis=0), rtol=1e-14)  # unchanged by the failure
    wrong = Normalization()
    wrong.adapt(np.ones((3, 5)))
    with pytest.raises(ValueError, match="5 features"):
        fastnn.Sequential([wrong, Dense(1)]).build((None, 4))


def test_normalization_weights_round_trip_through_set_weights():
    X = np.random.default_rng(24).standard_normal((50, 3)) * 4
    src = Normalization()
    src.adapt(X)
    m1 = fastnn.Sequential([src, Dense(2)], seed=1)
    m1.build((None, 3))
    m2 = fastnn.Sequential([Normalization(), Dense(2)], seed=2)
    m2.build((None, 3))
    m2.set_weights(m1.get_weights())  # statistics restored without adapt
    np.testing.assert_array_equal(m1.predict(X), m2.predict(X))


# =============================================================================================
# Through the model
# =============================================================================================

def test_tabular_stack_trains_and_predicts_with_moving_statistics():
    rng = np.random.default_rng(25)
    X = rng.standard_normal((256, 6)) * [1, 2, 3, 4, 5, 6] + 3
    y = (X[:, :1] - X[:, 1:2] > 0).astype(np.float64)
    norm = Normalization()
    norm.adapt(X)
    model = fastnn.Sequential([norm, Dropout(0.1), Dense(16), BatchNormalization(), Dense(8, activation="relu"),
                               LayerNormalization(), GaussianNoise(0.05), Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer="adam", loss="mse")
    model.build((None, 6))
    names = [w.shape for w in model.get_weights()]
    # Normalization (mean, var), Dense (W, b), BN (gamma, beta, moving_mean, moving_variance), ...
    assert names[:8] == [(6,), (6,), (6, 16), (16,), (16,), (16,), (16,), (16,)]
    history = model.fit(X, y, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    bn = model.layers[3]
    assert not np.allclose(bn.moving_mean, 0)  # the moving statistics moved
    # predict: Dropout and GaussianNoise are identities, BN uses its moving statistics
    h = R.standardize(X, norm.mean, norm.variance) @ model.layers[2].kernel + model.layers[2].bias
    h = R.batch_norm_infer(h, bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance, 1e-3)
    h = np.maximum(h @ model.layers[4].kernel + model.layers[4].bias, 0)
    ln = model.layers[5]
    h = R.layer_norm(h, ln.gamma, ln.beta, 1e-3)
    out = h @ model.layers[7].kernel + model.layers[7].bias
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-10, atol=1e-12)


def test_model_gradients_match_finite_differences_with_batch_norm_on_the_input():
    rng = np.random.default_rng(26)
    X = rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2))
    model = fastnn.Sequential([BatchNormalization(), Dense(4, activation="tanh"), LayerNormalization(),
                               Dense(2)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, 3))
    params = model.trainable_weights
    state0 = model.state_arena.copy()

    def loss():
        model.state_arena[...] = state0
        return model.compute_gradients(X, y)[0]

    numeric = finite_difference(loss, params)
    model.state_arena[...] = state0
    _, grads = model.compute_gradients(X, y)
    for analytic, num in zip(grads, numeric):
        np.testing.assert_allclose(analytic, num, rtol=1e-6, atol=1e-8)


def test_no_allocation_in_forward_and_backward():
    rng = np.random.default_rng(27)
    n, d = 512, 64
    x = rng.standard_normal((n, d)).astype(np.float32)
    dy = rng.standard_normal((n, d)).astype(np.float32)
    layers_ = []
    for layer in (Dropout(0.2, seed=1), GaussianNoise(0.1, seed=1), BatchNormalization(),
                  LayerNormalization(), Normalization(mean=0.5, variance=2.0)):
        standalone(layer, d, np.float32, capacity=n)
        layers_.append(layer)

    def step():
        for layer in layers_:
            layer.forward(x, n, True)
            layer.backward(dy, n, True)
        layers_[2].forward(x, n, False)

    step()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(5):
        step()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert peak < 20_000, f"{peak} bytes allocated (a buffer is {n * d * 4})"


# =============================================================================================
# Configuration and bad arguments
# =============================================================================================

@pytest.mark.parametrize("layer", [
    Dropout(0.25, seed=3), GaussianNoise(0.5, seed=None),
    BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="zeros"),
    LayerNormalization(epsilon=1e-4, scale=False), Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0]),
    Normalization(),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert clone.elementwise == isinstance(layer, (Dropout, GaussianNoise))


def test_config_round_trip_through_the_model():
    from fastnn import layers as layers_mod
    if not hasattr(layers_mod, "BatchNormalization"):
        pytest.skip("fastnn.layers does not export the normalization layers yet")
    model = fastnn.Sequential([Normalization(mean=0.0, variance=1.0), Dropout(0.2, seed=1), Dense(4),
                               BatchNormalization(), LayerNormalization(), GaussianNoise(0.1), Dense(1)])
    clone = fastnn.Sequential.from_config(model.get_config())
    assert clone.get_config() == model.get_config()


@pytest.mark.parametrize("make,match", [
    (lambda: Dropout(1.0), r"rate: expected a float in \[0, 1\), got 1.0"),
    (lambda: Dropout(-0.1), r"rate: expected a float in \[0, 1\), got -0.1"),
    (lambda: Dropout(float("nan")), r"rate: .* got nan"),
    (lambda: Dropout("0.5"), r"rate: .* got '0.5'"),
    (lambda: Dropout(True), r"rate: .* got True"),
    (lambda: Dropout(0.5, noise_shape=(None, 1)), "noise_shape"),
    (lambda: Dropout(0.5, seed=-1), "seed"),
    (lambda: GaussianNoise(-0.1), r"stddev: expected a finite float >= 0, got -0.1"),
    (lambda: GaussianNoise(float("inf")), "stddev"),
    (lambda: BatchNormalization(momentum=-0.1), r"momentum: expected a float in \[0, 1\], got -0.1"),
    (lambda: BatchNormalization(momentum=1.5), "momentum"),
    (lambda: BatchNormalization(epsilon=0), r"epsilon: expected a finite float > 0, got 0"),
    (lambda: BatchNormalization(epsilon=-1e-3), "epsilon"),
    (lambda: BatchNormalization(axis=0), r"axis: expected -1"),
    (lambda: BatchNormalization(center="yes"), "center"),
    (lambda: BatchNormalization(gamma_initializer="nope"), "gamma_initializer"),
    (lambda: LayerNormalization(epsilon=0.0), "epsilon"),
    (lambda: LayerNormalization(axis=2), "axis"),
    (lambda: Normalization(mean=1.0), "both or neither"),
    (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0]), "variance: expected the shape"),
    (lambda: Normalization(mean=0.0, variance=-1.0), "variance: expected values >= 0"),
    (lambda: Normalization(mean=[[1.0]], variance=[[1.0]]), "mean: expected a number or a non-empty 1-D"),
    (lambda: Normalization(mean=float("nan"), variance=1.0), "mean: expected finite"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("bad,match", [
    (np.array([[1.0, np.nan]]), "data: expected finite values"),
    (np.ones(5), "data: expected a 2-D array"),
    (np.ones((0, 3)), "data: expected at least one row"),
    (np.array([["a", "b"]]), "data: expected numeric values"),
])
def test_adapt_rejects_bad_data_and_keeps_its_statistics(bad, match):
    layer = Normalization()
    layer.adapt(np.arange(6.0).reshape(3, 2))
    with pytest.raises((ValueError, TypeError), match=match):
        layer.adapt(bad)
    np.testing.assert_array_equal(layer._adapted[0], [2.0, 3.0])


def test_kernels_refuse_bad_buffers():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="out: expected at least 4 rows"):
        ops.dropout_forward(x, np.empty((2, 3)), 4, 0.5, 1, 0)
    with pytest.raises(ValueError, match="rate"):
        ops.dropout_forward(x, np.empty((4, 3)), 4, 1.0, 1, 0)
    with pytest.raises(ValueError, match="out: expected dtype"):
        ops.gaussian_noise_forward(x, np.empty((4, 3), np.float32), 4, 1.0, 1, 0)
    with pytest.raises(ValueError, match=f"work: expected at least {ops.BN_WORK_ROWS} rows"):
        ops.batch_norm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), np.empty((4, 3)),
                               np.empty((2, 3)), np.empty((4, 3)), 4, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="stats: expected at least 4 rows"):
        ops.layer_norm_forward(x, np.ones(3), np.zeros(3), np.empty((4, 3)), np.empty((2, 2)), 4, 1e-3)
    with pytest.raises(ValueError, match="inv_std: expected a writable"):
        ro = np.empty(3)
        ro.flags.writeable = False
        ops.normalization_forward(x, np.zeros(3), np.ones(3), ro, np.empty((4, 3)), 4)


# =============================================================================================
# BatchNormalization with a fused activation (BatchNormalization -> Activation in a model)
# =============================================================================================

import reference_activations as RA  # noqa: E402

FUSED = [("relu", {}), ("silu", {}), ("gelu", {}), ("tanh", {}), ("elu", {"alpha": 0.7}),
         ("leaky_relu", {"negative_slope": 0.1}), ("mish", {})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name, params", FUSED)
def test_batch_norm_fused_activation_matches_reference(dtype, training, name, params, threads):
    threads(2)
    rng = np.random.default_rng(21)
    n, d = 300, 300  # more than one 256-column block, and enough rows for two threads
    x, dy = data(rng, n, d, dtype, offset=1.5, scale=2.0), data(rng, n, d, dtype)
    gamma, beta = data(rng, 1, d, dtype)[0] + 1, data(rng, 1, d, dtype)[0]
    mm, mv = data(rng, 1, d, dtype)[0], (rng.random(d) + 0.5).astype(dtype)
    spec = fastnn.activations.get(name, **params)
    out, acc = np.empty((n, d), dtype), np.empty((2, d))
    work = np.empty((ops.BN_WORK_ROWS, d), dtype)
    ops.batch_norm_forward(x, gamma, beta, mm.copy(), mv.copy(), out, acc, work, n, 0.9, 1e-3, training,
                           spec.code, spec.alpha)
    z = (R.batch_norm_train(x, gamma, beta, 1e-3)[0] if training
         else R.batch_norm_infer(x, gamma, beta, mm, mv, 1e-3))
    close(out, RA.forward(name, z, **params), dtype, rtol=1e-12 if dtype == np.float64 else 1e-5)
    dgamma, dbeta, g = np.empty(d, dtype), np.empty(d, dtype), dy.copy()
    ops.batch_norm_backward(x, g, dgamma, dbeta, acc, work, n, training, True, out, spec.code, spec.alpha)
    dz = RA.vjp(name, z, dy, **params)  # through the activation, then batch norm
    want = (R.batch_norm_train_backward(x, dz, gamma, 1e-3) if training
            else R.batch_norm_infer_backward(x, dz, gamma, mm, mv, 1e-3))
    for got, ref in zip((g, dgamma, dbeta), want):
        close(got, ref, dtype, rtol=1e-11 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_batch_norm_activation_is_bit_identical_to_the_two_layers(dtype, monkeypatch):
    rng = np.random.default_rng(22)
    X, y = rng.standard_normal((96, 12)) * 3 + 1, rng.integers(0, 4, 96)

    def run():
        model = fastnn.Sequential([Dense(40), BatchNormalization(), fastnn.layers.Activation("swish"),
                                   Dropout(0.1, seed=3), Dense(40), BatchNormalization(),
                                   fastnn.layers.Activation("gelu"), Dense(4)], seed=9, dtype=dtype)
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
        model.fit(X, y, epochs=2, batch_size=32, verbose=0)
        return model, model.predict(X), model.get_weights()

    fused, p1, w1 = run()
    assert [l.fused for l in fused.layers if isinstance(l, fastnn.layers.Activation)] == [True, True]
    monkeypatch.setattr(BatchNormalization, "fuse_activation", lambda self, spec: False)
    separate, p2, w2 = run()
    assert not any(l.fused for l in separate.layers if isinstance(l, fastnn.layers.Activation))
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_activations_that_cannot_fuse_stay_separate():
    fastnn.activations.register("cube_fuse_test", lambda z: z ** 3, lambda z: 3 * z ** 2)
    try:
        model = fastnn.Sequential([Dense(6), BatchNormalization(), fastnn.layers.Activation("cube_fuse_test"),
                                   Dense(6), BatchNormalization(), fastnn.layers.Softmax(),
                                   fastnn.layers.Activation("relu"), Dense(2)], seed=1)
        model.build((None, 3))
        acts = [l for l in model.layers if isinstance(l, fastnn.layers.Activation)]
        # custom and row-wise activations run in their own layer; an Activation after
        # another Activation has no layer to fuse into
        assert [a.fused for a in acts] == [False, False, False]
    finally:
        fastnn.activations.unregister("cube_fuse_test")


def test_fused_kernel_refuses_bad_arguments():
    x = np.ones((4, 3))
    args = (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), np.empty((4, 3)), np.empty((2, 3)),
            np.empty((ops.BN_WORK_ROWS, 3)), 4, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="act: expected an element-wise activation code"):
        ops.batch_norm_forward(x, *args, fastnn.activations.get_code("softmax"))
    with pytest.raises(ValueError, match="act: expected"):
        ops.batch_norm_forward(x, *args, 99)
    ops.batch_norm_forward(x, *args, fastnn.activations.get_code("relu"))
    with pytest.raises(ValueError, match="y: expected the forward output"):
        ops.batch_norm_backward(x, np.ones((4, 3)), None, None, args[5], args[6], 4, True, True, None,
                                fastnn.activations.get_code("relu"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 100])  # 100: rows start inside a generator block
@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "silu"])
def test_batch_norm_fused_dropout_is_bit_identical_to_the_dropout_kernel(dtype, d, act, threads):
    threads(2)
    rng = np.random.default_rng(23)
    n = 400
    x, dy = data(rng, n, d, dtype, offset=0.5), data(rng, n, d, dtype)
    gamma, beta = data(rng, 1, d, dtype)[0] + 1, data(rng, 1, d, dtype)[0]
    code = fastnn.activations.get_code(act)
    seed, call, rate = 12345, 7, 0.3

    def bn(out, acc, work, **drop):
        ops.batch_norm_forward(x, gamma, beta, np.zeros(d, dtype), np.ones(d, dtype), out, acc, work, n,
                               0.9, 1e-3, True, code, 0.0, **drop)

    ws = lambda: (np.empty((n, d), dtype), np.empty((2, d)), np.empty((ops.BN_WORK_ROWS, d), dtype))
    # separate: batch norm + activation, then the Dropout layer's own kernel
    y_act, acc1, work1 = ws()
    bn(y_act, acc1, work1)
    y_sep = np.empty_like(y_act)
    ops.dropout_forward(y_act, y_sep, n, rate, seed, call)
    g_sep = dy.copy()
    ops.dropout_backward(g_sep, n, rate, seed, call)
    dg1, db1 = np.empty(d, dtype), np.empty(d, dtype)
    ops.batch_norm_backward(x, g_sep, dg1, db1, acc1, work1, n, True, True, y_act, code)
    # fused
    y_fused, acc2, work2 = ws()
    drop = dict(drop_rate=rate, drop_seed=seed, drop_counter=call)
    bn(y_fused, acc2, work2, **drop)
    np.testing.assert_array_equal(y_fused, y_sep)
    assert 0.25 < np.mean(y_fused[y_act != 0] == 0) < 0.35  # the mask did drop ~rate
    g_fused = dy.copy()
    dg2, db2 = np.empty(d, dtype), np.empty(d, dtype)
    ops.batch_norm_backward(x, g_fused, dg2, db2, acc2, work2, n, True, True, y_fused, code, **drop)
    for a, b in ((g_fused, g_sep), (dg2, dg1), (db2, db1)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("width, fuses", [(64, True), (40, False)])
def test_model_fuses_batch_norm_activation_dropout_bit_identically(width, fuses, monkeypatch):
    rng = np.random.default_rng(24)
    X, y = rng.standard_normal((96, 12)) * 2 + 1, rng.integers(0, 4, 96)

    def run():
        model = fastnn.Sequential([Dense(width), BatchNormalization(), fastnn.layers.Activation("relu"),
                                   Dropout(0.25, seed=3), Dense(width), BatchNormalization(), Dropout(0.1),
                                   Dense(4)], seed=9)
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
        model.fit(X, y, epochs=2, batch_size=32, verbose=0)
        drops = [l.fused for l in model.layers if isinstance(l, Dropout)]
        return drops, model.predict(X), model.get_weights(), model.layers[3].counter

    drops, p1, w1, calls1 = run()
    assert drops == [fuses, fuses]
    if fuses:  # the fused gradients also pass the finite-difference check (before the patch)
        model = fastnn.Sequential([Dense(width), BatchNormalization(), fastnn.layers.Activation("tanh"),
                                   Dropout(0.25, seed=3), Dense(4)], seed=9, dtype="float64")
        model.compile(optimizer="sgd", loss="softmax_cross_entropy")
        model.build((None, 12))
        assert model.layers[3].fused
        assert max(fastnn.gradient_check(model, X[:10], y[:10], max_checks=40).values()) < 1e-5
    monkeypatch.setattr(BatchNormalization, "fuse_dropout", lambda self, layer: False)
    drops2, p2, w2, calls2 = run()
    assert drops2 == [False, False] and calls1 == calls2 == 6  # 2 epochs x 3 batches
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
