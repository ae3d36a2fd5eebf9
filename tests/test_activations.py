"""Every activation against tests/reference_activations.py, finite differences and torch.

Tolerance rule (`assert_close`): an element passes when

    |actual - expected| <= RTOL[dtype] * |expected| + ATOL[dtype] * scale

where `scale` is the size of the operands that produced the value: max(1, |z|)
for a forward value (z * sigmoid(z), z * Phi(z) are products with z) and
|upstream| * max(1, |z|) for a gradient. The absolute part matters only where a
formula cancels: the reference's 1 + erf(z / sqrt 2) for z << 0, or a derivative
the kernel writes from the rounded output (tanh' = 1 - y^2, sigmoid' = y (1 - y)
near saturation, elu' = y + alpha for z << 0), whose error is a few ulps of the
operand's size, not of the (tiny) result.

* float64: RTOL 1e-12, ATOL 1e-14. Kernel and reference differ by a few ulps per
  operation (measured: < 5e-15 of the scale).
* float32: RTOL 2e-5, ATOL 1e-6. The input is rounded to float32 first and the
  reference evaluated exactly on it, so the difference is the kernel's float32
  round-off: expf/erfcf/tanhf within 1-3 ulps (6e-8 each), ~10 roundings.
  A wrong formula (a wrong constant, a missing term) is off by 1e-3 or more.

Finite differences (float64, the reference's forward): central differences
with h = 1e-6 have a truncation error ~h^2 |f'''| / 6 ~ 1e-12 and a round-off
~1e-16 |f| / h ~ 1e-10 |f|; they pass at 1e-7 relative + 1e-8 * max(1, |f|).
"""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
import reference_activations as ref
from fastnn import activations as A
from fastnn import ops
from fastnn._core import activations as core_act
from fastnn._core import dense as core_dense
from fastnn.layers import Dense, Input
from fastnn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from thread_checks import assert_threads_agree, same_bits

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 2e-5}
ATOL = {np.float64: 1e-14, np.float32: 1e-6}
SENTINEL = -12345.0

# (name, params): every built-in activation, parameterized ones with a non-default value too.
CASES = [(name, {}) for name in ref.DEFAULTS] + [
    ("leaky_relu", {"negative_slope": 0.01}), ("leaky_relu", {"negative_slope": 0.0}),
    ("elu", {"alpha": 0.5}), ("elu", {"alpha": 0.0}), ("gelu", {"approximate": True}),
]
ELEMENTWISE = [(n, p) for n, p in CASES if n not in ref.ROWWISE]
# Points central differences must stay away from: kinks of the function (ref.KINKS)
# and of its derivative (softsign'' jumps at 0, an O(h) error there).
FD_AVOID = {**ref.KINKS, "softsign": (0.0,)}
ROWWISE = [(n, p) for n, p in CASES if n in ref.ROWWISE]


def case_id(case):
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def dtype_id(dt):
    return np.dtype(dt).name


def assert_close(actual, expected, dtype, scale, what=""):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    err = np.abs(actual - expected)
    bound = RTOL[dtype] * np.abs(expected) + ATOL[dtype] * np.asarray(scale)
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{what}: at {i} got {actual[i]!r}, expected {expected[i]!r} "
                             f"(|diff| {err[i]:.3g} > {bound[i]:.3g})")


def grid(dtype, cols=7):
    """Inputs over [-12, 12] including every kink exactly, plus random values: (rows, cols)."""
    rng = np.random.default_rng(0)
    z = np.concatenate([np.linspace(-12, 12, 241), [0.0, -3.0, 3.0, 6.0, 1e-9, -1e-9, 5.5, -0.5],
                        3 * rng.standard_normal(106)])
    z = z[: len(z) // cols * cols].reshape(-1, cols)
    return z.astype(dtype)


def spec_of(case):
    return A.get(case[0], **case[1])


# =========================================================================================
# Forward: kernel (with spare rows) and public functions vs the reference
# =========================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_kernel_matches_reference(case, dtype):
    name, params = case
    spec = spec_of(case)
    z = grid(dtype)
    n, k = z.shape
    x = np.full((n + 3, k), np.nan, dtype)  # spare input rows poisoned: never read
    x[:n] = z
    out = np.full((n + 3, k), SENTINEL, dtype)
    ops.activation_forward(x, out, n, spec.code, spec.alpha)
    expected = ref.forward(name, z, **params)
    assert_close(out[:n], expected, dtype, np.maximum(1, np.abs(z.astype(np.float64))), name)
    assert np.all(out[n:] == SENTINEL), "rows beyond n were written"
    assert np.array_equal(x[:n], z), "the input was modified"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_public_function_matches_reference(case, dtype):
    name, params = case
    fn = getattr(A, name)
    z = grid(dtype, cols=11)
    out = fn(z, **params)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == z.shape
    assert not np.shares_memory(out, z)
    assert_close(out, ref.forward(name, z, **params), dtype,
                 np.maximum(1, np.abs(z.astype(np.float64))), name)
    # The spec object is callable the same way.
    np.testing.assert_array_equal(spec_of(case)(z), out)


def test_swish_is_silu():
    z = grid(np.float64)
    assert A.get("swish") == A.get("silu")
    np.testing.assert_array_equal(A.swish(z), A.silu(z))


def test_hand_computed_values():
    # Values worked out by hand / from tables (float64).
    e = np.e
    cases = {
        "relu": ([-1.0, 0.0, 2.5], [0.0, 0.0, 2.5]),
        "relu6": ([-1.0, 3.0, 7.0], [0.0, 3.0, 6.0]),
        "sigmoid": ([0.0, 1.0], [0.5, 1 / (1 + 1 / e)]),
        "softplus": ([0.0, 1.0], [np.log(2.0), np.log(1 + e)]),
        "softsign": ([-3.0, 1.0], [-0.75, 0.5]),
        "hard_sigmoid": ([-4.0, -1.5, 0.0, 1.5, 4.0], [0.0, 0.25, 0.5, 0.75, 1.0]),
        "elu": ([-1.0, 2.0], [1 / e - 1, 2.0]),
        "selu": ([1.0], [1.0507009873554805]),
        "exponential": ([1.0], [e]),
        "mish": ([0.0], [0.0]),
        "silu": ([1.0], [1 / (1 + 1 / e)]),
        # Phi(1) = 0.8413447460685429 (normal table), so gelu(1) = Phi(1), gelu(-1) = -Phi(-1)
        "gelu": ([1.0, -1.0], [0.8413447460685429, -(1 - 0.8413447460685429)]),
    }
    for name, (z, expected) in cases.items():
        np.testing.assert_allclose(getattr(A, name)(np.array(z)), expected, rtol=1e-13, atol=1e-16,
                                   err_msg=name)
    np.testing.assert_allclose(A.leaky_relu(np.array([-2.0, 3.0])), [-0.4, 3.0], rtol=1e-15)
    np.testing.assert_allclose(A.softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(A.log_softmax(np.array([[0.0, np.log(3.0)]])),
                               [[np.log(0.25), np.log(0.75)]], rtol=1e-14)
    # mish'(0) = tanh(log 2) = 0.6; gelu'(0) = 1/2; silu'(0) = 1/2; selu'(0) = scale * alpha
    np.testing.assert_allclose(A.derivative("mish", np.array([0.0])), [0.6], rtol=1e-14)
    np.testing.assert_allclose(A.derivative("gelu", np.array([0.0])), [0.5], rtol=1e-15)
    np.testing.assert_allclose(A.derivative("silu", np.array([0.0])), [0.5], rtol=1e-15)
    np.testing.assert_allclose(A.derivative("selu", np.array([0.0])),
                               [ref.SELU_SCALE * ref.SELU_ALPHA], rtol=1e-15)


def test_tails_keep_relative_precision():
    # The kernels avoid the cancellation of 1 + erf(.) and 1 + tanh(.) for z << 0.
    special = pytest.importorskip("scipy.special", reason="scipy gives accurate Phi in the tails")
    z = np.array([-30.0, -20.0, -10.0, -5.0])
    np.testing.assert_allclose(A.gelu(z), z * special.ndtr(z), rtol=1e-12)
    np.testing.assert_allclose(A.sigmoid(z), special.expit(z), rtol=1e-13)
    np.testing.assert_allclose(A.softplus(z), np.log1p(np.exp(z)), rtol=1e-13)
    np.testing.assert_allclose(A.elu(np.array([-1e-10, -1e-5])), np.expm1([-1e-10, -1e-5]), rtol=1e-14)
    # gelu's tanh form equals z * sigmoid(2u); the plain formula cancels below z ~ -5.
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)
    np.testing.assert_allclose(A.gelu(z, approximate=True), z * special.expit(2 * u), rtol=1e-12)


# =========================================================================================
# Backward: kernel vs the hand derivatives and vs finite differences
# =========================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_backward_kernel_matches_hand_derivative(case, dtype):
    name, params = case
    spec = spec_of(case)
    z = grid(dtype)
    n, k = z.shape
    rng = np.random.default_rng(1)
    up = rng.standard_normal((n, k)).astype(dtype)
    y = np.empty((n + 2, k), dtype)
    zbuf = np.full((n + 2, k), np.nan, dtype)
    zbuf[:n] = z
    ops.activation_forward(zbuf, y, n, spec.code, spec.alpha)
    d = np.full((n + 2, k), SENTINEL, dtype)
    d[:n] = up
    ops.activation_backward(zbuf if spec.needs_z else None, y, d, n, spec.code, spec.alpha)
    expected = ref.vjp(name, z, up, **params)
    scale = np.abs(up.astype(np.float64)) * np.maximum(1, np.abs(z.astype(np.float64)))
    if name in ref.ROWWISE:  # the row sum couples every entry of the row
        scale = np.abs(up.astype(np.float64)).sum(axis=1, keepdims=True) * np.ones_like(scale)
    assert_close(d[:n], expected, dtype, scale, name)
    assert np.all(d[n:] == SENTINEL), "rows beyond n were written"


@pytest.mark.parametrize("case", ELEMENTWISE, ids=case_id)
def test_derivative_matches_finite_differences(case):
    name, params = case
    z = grid(np.float64).ravel()
    for kink in FD_AVOID.get(name, ()):
        z = z[np.abs(z - kink) > 1e-3]
    h = 1e-6
    numeric = (ref.forward(name, z + h, **params) - ref.forward(name, z - h, **params)) / (2 * h)
    analytic = A.derivative(name, z, **params)
    f = np.abs(ref.forward(name, z, **params))
    err = np.abs(analytic - numeric)
    bound = 1e-7 * np.abs(numeric) + 1e-8 * np.maximum(1, f)
    assert np.all(err <= bound), f"{name}: worst {err.max():.3g} at z={z[np.argmax(err - bound)]}"
    # The hand derivative of the reference agrees with its own finite differences too.
    hand = ref.derivative(name, z, **params)
    assert np.all(np.abs(hand - numeric) <= bound), name


@pytest.mark.parametrize("case", ROWWISE, ids=case_id)
def test_rowwise_gradient_matches_finite_differences(case):
    name, _ = case
    rng = np.random.default_rng(2)
    z = 2 * rng.standard_normal((4, 6))
    up = rng.standard_normal((4, 6))
    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = ((up * ref.forward(name, zp)).sum() - (up * ref.forward(name, zm)).sum()) / (2 * h)
    analytic = A.gradient(name, z, up)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8)
    # The reference's VJP is the Jacobian (written separately) applied to the upstream row.
    jac = ref.jacobian_rows(name, z)
    np.testing.assert_allclose(ref.vjp(name, z, up), np.einsum("nj,njl->nl", up, jac), rtol=1e-12,
                               atol=1e-15)


def test_gradient_along_another_axis():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((3, 5, 4))
    up = rng.standard_normal((3, 5, 4))
    for name in ("softmax", "log_softmax"):
        y = getattr(A, name)(z, axis=1)
        expected = np.moveaxis(ref.forward(name, np.moveaxis(z, 1, -1)), -1, 1)
        np.testing.assert_allclose(y, expected, rtol=1e-13)
        g = A.gradient(name, z, up, axis=1)
        expected = np.moveaxis(ref.vjp(name, np.moveaxis(z, 1, -1), np.moveaxis(up, 1, -1)), -1, 1)
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)


# =========================================================================================
# Through Dense: fused forward (z buffer when needed) and backward vs the reference
# =========================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_dense_kernels_with_every_activation(case, dtype):
    name, params = case
    spec = spec_of(case)
    rng = np.random.default_rng(4)
    n, n_in, units, spare = 9, 6, 5, 2
    x = (2 * rng.standard_normal((n, n_in))).astype(dtype)
    w = rng.standard_normal((n_in, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    xb = np.full((n + spare, n_in), np.nan, dtype)
    xb[:n] = x
    out = np.full((n + spare, units), SENTINEL, dtype)
    z = np.full((n + spare, units), SENTINEL, dtype) if spec.needs_z else None
    ops.dense_forward(xb, w, b, out, n, spec.code, spec.alpha, z)
    z_ref, y_ref = ref.dense_forward(x, w, b, name, **params)
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)) + np.abs(b)
    assert_close(out[:n], y_ref, dtype, np.maximum(1, mag), f"{name} y")
    assert np.all(out[n:] == SENTINEL)
    if z is not None:
        assert_close(z[:n], z_ref, dtype, np.maximum(1, mag), f"{name} z")
        assert np.all(z[n:] == SENTINEL)

    dy = rng.standard_normal((n, units)).astype(dtype)
    d = np.full((n + spare, units), SENTINEL, dtype)
    d[:n] = dy
    dw, db, dx = np.empty_like(w), np.empty_like(b), np.full((n + spare, n_in), SENTINEL, dtype)
    ops.dense_backward(xb, w, out, d, dw, db, dx, n, spec.code, spec.alpha, z)
    # The reference gradient from the reference z (the kernel's own z differs by round-off).
    dz_ref, dw_ref, db_ref, dx_ref = ref.dense_backward(x, w, z_ref, dy, name, **params)
    dscale = np.abs(dy.astype(np.float64)) * np.maximum(1, mag)
    if name in ref.ROWWISE:
        dscale = np.abs(dy.astype(np.float64)).sum(axis=1, keepdims=True) * np.ones_like(dscale)
    # float32: the kernel differentiates at its float32 z, the reference at the exact z;
    # act'' * |z error| adds ~1e-6 * magnitude, covered by the absolute term.
    assert_close(d[:n], dz_ref, dtype, dscale, f"{name} dz")
    ad = np.abs(x.astype(np.float64)).T @ dscale
    assert_close(dw, dw_ref, dtype, ad, f"{name} dW")
    assert_close(db, db_ref, dtype, dscale.sum(axis=0), f"{name} db")
    assert_close(dx[:n], dx_ref, dtype, dscale @ np.abs(w.astype(np.float64)).T, f"{name} dx")
    assert np.all(dx[n:] == SENTINEL) and np.all(d[n:] == SENTINEL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_model_gradients_match_finite_differences(case):
    # A float64 Sequential [4 -> 6 (act) -> 3], MSE: the model's gradients against
    # central differences of the reference loss computed from get_weights().
    name, params = case
    rng = np.random.default_rng(5)
    model = fastnn.Sequential([Input((4,)), Dense(6, activation=spec_of(case)), Dense(3)],
                              seed=5, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    weights = [w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()]
    model.set_weights(weights)
    acts = [(name, params), ("linear", {})]
    for _ in range(100):  # inputs whose pre-activations stay away from the kinks
        x = rng.standard_normal((5, 4))
        pre = x @ weights[0] + weights[1]
        if all(np.abs(pre - k).min() > 1e-3 for k in FD_AVOID.get(name, ())):
            break
    t = rng.standard_normal((5, 3))
    loss, grads = model.compute_gradients(x, t)
    grads = [g.copy() for g in grads]
    np.testing.assert_allclose(loss, ref.mlp_mse(x, t, weights, acts), rtol=1e-12)
    check_against_finite_differences(grads, weights, lambda ws: ref.mlp_mse(x, t, ws, acts))


def check_against_finite_differences(grads, weights, loss_fn, eps=1e-6):
    base = loss_fn(weights)
    for i, w in enumerate(weights):
        for idx in np.ndindex(w.shape):
            plus = [a.copy() for a in weights]
            minus = [a.copy() for a in weights]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric = (loss_fn(plus) - loss_fn(minus)) / (2 * eps)
            bound = 1e-6 * max(abs(numeric), abs(grads[i][idx])) + 1e-8 * max(1.0, abs(base))
            assert abs(grads[i][idx] - numeric) <= bound, (
                f"grads[{i}]{idx}: analytic {grads[i][idx]!r} vs finite difference {numeric!r}")


def test_dense_keeps_z_only_when_needed():
    for act, needs in (("relu", False), ("tanh", False), ("elu", False), ("silu", True),
                       ("gelu", True), ("mish", True)):
        model = fastnn.Sequential([Input((3,)), Dense(4, activation=act)], dtype="float64")
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(np.ones((2, 3)), np.ones((2, 4)))
        layer = model.layers[0]
        assert (layer._z is not None) == needs, act
        if needs:
            assert layer._z.shape == layer._out.shape and not np.shares_memory(layer._z, layer._out)


# =========================================================================================
# layers.Activation and the Keras layer forms
# =========================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation_layer_forward_backward(case, dtype):
    name, params = case
    layer = Activation(name, **params)
    assert layer.elementwise == (name not in ref.ROWWISE)
    layer.build(7, np.dtype(dtype))
    assert layer.output_dim == 7 and layer.count_params() == 0
    layer.allocate(30, need_dx=True)
    z = grid(dtype)[:20]
    x = np.full((30, 7), np.nan, dtype)
    x[:20] = z
    x_before = x.copy()
    out = layer.forward(x, 20, training=True)
    assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, x_before)  # the input is never written
    scale = np.maximum(1, np.abs(z.astype(np.float64)))
    assert_close(out[:20], ref.forward(name, z, **params), dtype, scale, name)
    rng = np.random.default_rng(6)
    up = rng.standard_normal((20, 7)).astype(dtype)
    dout = np.zeros((30, 7), dtype)
    dout[:20] = up
    dx = layer.backward(dout, 20, need_dx=True)
    dscale = np.abs(up.astype(np.float64)) * scale
    if name in ref.ROWWISE:
        dscale = np.abs(up.astype(np.float64)).sum(axis=1, keepdims=True) * np.ones_like(dscale)
    assert_close(dx[:20], ref.vjp(name, z, up, **params), dtype, dscale, name)
    assert layer.backward(dout, 20, need_dx=False) is None


@pytest.mark.parametrize("name", ["relu", "silu", "gelu", "elu", "softmax", "log_softmax"])
def test_activation_layer_in_a_model_matches_finite_differences(name):
    rng = np.random.default_rng(7)
    model = fastnn.Sequential([Input((4,)), Dense(5), Activation(name), Dense(3)],
                              seed=7, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    weights = model.get_weights()
    x, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    acts = [(name, {}), ("linear", {})]
    loss, grads = model.compute_gradients(x, t)
    grads = [g.copy() for g in grads]
    np.testing.assert_allclose(loss, ref.mlp_mse(x, t, weights, acts), rtol=1e-12)
    check_against_finite_differences(grads, weights, lambda ws: ref.mlp_mse(x, t, ws, acts))


def test_keras_layer_forms():
    assert LeakyReLU().activation_spec == A.get("leaky_relu", negative_slope=0.3)  # layer default
    assert LeakyReLU(0.1).negative_slope == 0.1
    assert ELU().activation_spec == A.get("elu") and ELU(0.5).alpha == 0.5
    assert ReLU().activation_spec == A.get("relu")
    assert ReLU(max_value=6).activation_spec == A.get("relu6")
    assert ReLU(negative_slope=0.1).activation_spec == A.get("leaky_relu", negative_slope=0.1)
    assert Softmax().activation_spec == A.get("softmax") and not Softmax().elementwise
    assert Activation("log_softmax").elementwise is False and Activation("relu").elementwise
    assert Activation(None).activation == "linear"
    assert Activation("leaky_relu", negative_slope=0.05).activation_spec.alpha == 0.05
    for layer in (LeakyReLU(0.1, name="lr"), ELU(0.5), ReLU(max_value=6.0), ReLU(negative_slope=0.2),
                  Softmax(), Activation("gelu", approximate=True), Activation("elu"),
                  Activation(A.get("leaky_relu", negative_slope=0.01))):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.activation_spec == layer.activation_spec and again.get_config() == config


# =========================================================================================
# Configs and specs
# =========================================================================================

def test_spec_and_dense_config_round_trip():
    for case in CASES:
        spec = spec_of(case)
        assert A.get(spec.get_config()) == spec
        assert A.ActivationSpec.from_config(spec.get_config()) == spec
        assert A.get(A.serialize(spec)) == spec
        layer = Dense(3, activation=spec)
        again = Dense.from_config(layer.get_config())
        assert again.activation_spec == spec and again.get_config() == layer.get_config()
    assert A.serialize("relu") == "relu"
    assert A.serialize(A.get("leaky_relu", negative_slope=0.1)) == {"name": "leaky_relu",
                                                                    "negative_slope": 0.1}
    assert Dense(3, activation="swish").get_config()["activation"] == "silu"
    assert Dense(3, activation={"name": "elu", "alpha": 0.5}).activation_spec.alpha == 0.5
    assert Dense(3).activation == "linear" and Dense(3, activation="relu").activation == "relu"
    assert A.get("gelu", approximate=True).code == A.GELU_TANH and A.get("gelu").code == A.GELU
    assert A.get(A.get("elu"), alpha=0.3).alpha == 0.3  # parameters override a spec's
    assert [A.get_code(n) for n in ("linear", "relu", "sigmoid", "tanh", "softmax")] == [0, 1, 2, 3, 4]
    assert len({spec_of(c).code for c in CASES}) == A.N_CODES


def test_function_dtypes():
    z = np.array([[-1.0, 0.5, 2.0]])
    assert A.relu(z.astype(np.float32)).dtype == np.float32
    assert A.relu(z).dtype == np.float64
    assert A.relu(np.array([[-1, 2]])).dtype == np.float32  # integers: floatx, as Keras
    assert A.relu([1.0, -2.0]).dtype == np.float32          # Python floats: floatx
    assert A.sigmoid(z.astype(np.float16)).dtype == np.float16
    np.testing.assert_allclose(A.sigmoid(z.astype(np.float16)), ref.forward("sigmoid", z), rtol=1e-3)
    assert A.relu(np.float64(-2.0)).shape == () and A.relu(np.float64(3.0)) == 3.0
    assert A.silu(np.zeros((0, 3))).shape == (0, 3)
    assert A.softmax(np.zeros((2, 0))).shape == (2, 0)
    # Non-contiguous and N-D input.
    big = np.arange(24.0).reshape(2, 3, 4)[:, ::2, ::-1] - 10
    np.testing.assert_allclose(A.elu(big), ref.forward("elu", big), rtol=1e-14)
    np.testing.assert_allclose(A.softmax(big), ref.forward("softmax", big), rtol=1e-13)
    x = np.array([1.0, -1.0])
    A.linear(x)[0] = 5.0
    assert x[0] == 1.0  # a new array, even for linear


# =========================================================================================
# Stability for large |x|
# =========================================================================================

STABLE = ["sigmoid", "softplus", "silu", "mish", "tanh", "elu", "selu", "gelu", "softsign",
          "hard_sigmoid", "relu", "relu6", "leaky_relu", "linear", "softmax", "log_softmax"]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", STABLE)
def test_large_inputs_stay_finite(name, dtype):
    big = np.array([[-1e4, -1e3, -120.0, -89.0, -88.0, 88.0, 89.0, 120.0, 1e3, 1e4]], dtype)
    for params in ({}, {"approximate": True}) if name == "gelu" else ({},):
        y = getattr(A, name)(big, **params)
        g = A.gradient(name, big, np.ones_like(big), **params)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(g)), (name, y, g)
    limits = {
        "sigmoid": ([0, 1], [0, 0]), "softplus": ([0, 1e4], [0, 1]), "silu": ([0, 1e4], [0, 1]),
        "mish": ([0, 1e4], [0, 1]), "tanh": ([-1, 1], [0, 0]), "elu": ([-1, 1e4], [0, 1]),
        "gelu": ([0, 1e4], [0, 1]), "softsign": ([-1e4 / 10001, 1e4 / 10001], [10001.0 ** -2, 10001.0 ** -2]), "hard_sigmoid": ([0, 1], [0, 0]),
    }
    if name in limits:
        (y0, y1), (g0, g1) = limits[name]
        y = getattr(A, name)(big)
        g = A.derivative(name, big)
        np.testing.assert_allclose([y[0, 0], y[0, -1]], [y0, y1], rtol=1e-4, atol=1e-30)
        np.testing.assert_allclose([g[0, 0], g[0, -1]], [g0, g1], rtol=1e-4, atol=1e-8)
    if name == "log_softmax":
        y = A.log_softmax(big)
        np.testing.assert_allclose(y[0, -1], 0.0, atol=1e-12)
        np.testing.assert_allclose(y[0, 0], -2e4, rtol=1e-6)


def test_exponential_overflows_by_definition():
    # exp(x) is not representable above log(max float): inf is the documented result.
    with np.errstate(over="ignore"):
        assert np.isinf(A.exponential(np.array([100.0], np.float32))[0])
        assert np.isinf(A.exponential(np.array([1e4]))[0])
    assert A.exponential(np.array([-1e4], np.float32))[0] == 0


# =========================================================================================
# Threads: 1 vs 2 give bit-identical results
# =========================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation_kernels_threads_bit_identical(case, dtype):
    spec = spec_of(case)
    rng = np.random.default_rng(8)
    n, k = 301, 257  # 77k elements: above the parallel threshold, uneven chunks
    z = (4 * rng.standard_normal((n, k))).astype(dtype)
    up = rng.standard_normal((n, k)).astype(dtype)
    res = []
    for threads in (1, 2):
        y = np.empty_like(z)
        core_act.activation_forward(z, y, n, spec.code, spec.alpha, threads)
        d = up.copy()
        core_act.activation_backward(z, y, d, n, spec.code, spec.alpha, threads)
        res.append((y, d))
    assert same_bits(res[0][0], res[1][0]) and same_bits(res[0][1], res[1][1])


@pytest.mark.parametrize("case", [("silu", {}), ("gelu", {}), ("mish", {}), ("gelu", {"approximate": True}),
                                  ("leaky_relu", {"negative_slope": 0.1}), ("log_softmax", {}),
                                  ("elu", {"alpha": 0.5})], ids=case_id)
def test_dense_kernels_threads_agree(case):
    spec = spec_of(case)
    rng = np.random.default_rng(9)
    n, n_in, units = 301, 37, 200
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    w = (rng.standard_normal((n_in, units)) / 6).astype(np.float32)
    b = rng.standard_normal(units).astype(np.float32)
    dy = rng.standard_normal((n, units)).astype(np.float32)
    fwd, bwd = [], []
    for threads in (1, 2):
        out, z = np.empty((n, units), np.float32), np.empty((n, units), np.float32)
        core_dense.dense_forward(x, w, b, out, n, spec.code, threads, spec.alpha, z)
        fwd.append((out, z))
    for name, one, two in zip(("out", "z"), *fwd):
        assert_threads_agree(one, two, True, name)
    out, z = fwd[0]  # both backward runs read the same forward values
    for threads in (1, 2):
        d, dw, db, dx = dy.copy(), np.empty_like(w), np.empty_like(b), np.empty_like(x)
        core_dense.dense_backward(x, w, out, d, dw, db, dx, n, spec.code, threads, spec.alpha, z)
        bwd.append((d, dw, db, dx))
    for name, one, two, gemm in zip(("d", "dw", "db", "dx"), *bwd, (False, True, False, True)):
        assert_threads_agree(one, two, gemm, name)


def test_public_functions_threads_bit_identical(monkeypatch):
    import fastnn._threads as threads_mod
    z = np.random.default_rng(10).standard_normal((50, 1000)).astype(np.float32)
    res = []
    for n_threads in (1, 2):
        monkeypatch.setattr(threads_mod, "_num_threads", n_threads)
        res.append([A.silu(z), A.softmax(z), A.derivative("gelu", z)])
    for one, two in zip(*res):
        assert same_bits(one, two)


# =========================================================================================
# torch.nn.functional as a peer
# =========================================================================================

TORCH_CASES = [
    ("gelu", {}, "gelu", {"approximate": "none"}),
    ("gelu", {"approximate": True}, "gelu", {"approximate": "tanh"}),
    ("silu", {}, "silu", {}),
    ("elu", {}, "elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}, "elu", {"alpha": 0.5}),
    ("selu", {}, "selu", {}),
    ("leaky_relu", {}, "leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": 0.01}, "leaky_relu", {"negative_slope": 0.01}),
    ("softplus", {}, "softplus", {}),
    ("mish", {}, "mish", {}),
    ("hard_sigmoid", {}, "hardsigmoid", {}),
    ("log_softmax", {}, "log_softmax", {"dim": -1}),
    ("softmax", {}, "softmax", {"dim": -1}),
    ("softsign", {}, "softsign", {}),
    ("relu6", {}, "relu6", {}),
    ("relu", {}, "relu", {}),
    ("sigmoid", {}, "sigmoid", {}),
    ("tanh", {}, "tanh", {}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name, params, tname, tparams", TORCH_CASES,
                         ids=[case_id((c[0], c[1])) for c in TORCH_CASES])
def test_against_torch(name, params, tname, tparams, dtype):
    torch = pytest.importorskip("torch", reason="torch is the optional test peer")
    F = torch.nn.functional
    z = grid(dtype)  # |z| <= 12: below torch softplus's linear threshold (20)
    up = np.random.default_rng(11).standard_normal(z.shape).astype(dtype)
    tz = torch.tensor(z, requires_grad=True)
    ty = getattr(F, tname)(tz, **tparams)
    ty.backward(torch.tensor(up))
    scale = np.maximum(1, np.abs(z.astype(np.float64)))
    assert_close(getattr(A, name)(z, **params), ty.detach().numpy(), dtype, scale, f"{name} forward")
    dscale = np.abs(up.astype(np.float64)) * scale
    if name in ref.ROWWISE:
        dscale = np.abs(up.astype(np.float64)).sum(axis=1, keepdims=True) * np.ones_like(dscale)
    if name == "hard_sigmoid" and dtype == np.float64:
        # torch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32
        # (relative error 3e-8); fastnn divides by 6. Compare at float32 precision.
        dscale = dscale * 1e-7 / ATOL[dtype]
    assert_close(A.gradient(name, z, up, **params), tz.grad.numpy(), dtype, dscale, f"{name} backward")


# =========================================================================================
# User-defined activations
# =========================================================================================

@pytest.fixture
def cube():
    spec = A.register("test_cube", lambda z: z ** 3 / 3 + z, lambda z: z ** 2 + 1)
    yield spec
    A.unregister("test_cube")


def test_custom_activation_gradients_match_finite_differences(cube):
    rng = np.random.default_rng(12)
    model = fastnn.Sequential([Input((3,)), Dense(4, activation="test_cube"), Dense(2)],
                              seed=12, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    weights = model.get_weights()
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    acts = [(lambda z: z ** 3 / 3 + z, {}), ("linear", {})]
    loss, grads = model.compute_gradients(x, t)
    grads = [g.copy() for g in grads]
    np.testing.assert_allclose(loss, ref.mlp_mse(x, t, weights, acts), rtol=1e-12)
    check_against_finite_differences(grads, weights, lambda ws: ref.mlp_mse(x, t, ws, acts))
    # The same through layers.Activation.
    model2 = fastnn.Sequential([Input((3,)), Dense(4), Activation("test_cube"), Dense(2)],
                               seed=12, dtype="float64")
    model2.compile(optimizer="sgd", loss="mse")
    model2.set_weights(weights)
    loss2, grads2 = model2.compute_gradients(x, t)
    np.testing.assert_allclose(loss2, loss, rtol=1e-13)
    for g1, g2 in zip(grads, grads2):
        np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_custom_activation_trains(cube, dtype):
    rng = np.random.default_rng(13)
    X = rng.standard_normal((64, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = fastnn.Sequential([Dense(8, activation="test_cube"), Dense(2)], seed=0, dtype=dtype)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    hist = model.fit(X, y, epochs=30, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    assert model.layers[0].get_config()["activation"] == "test_cube"
    np.testing.assert_allclose(A.get("test_cube")(np.array([3.0])), [12.0])
    np.testing.assert_allclose(A.derivative("test_cube", np.array([3.0])), [10.0])


def test_custom_activation_errors():
    with pytest.raises(ValueError, match="built-in"):
        A.register("relu", np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    with pytest.raises(ValueError, match="built-in"):
        A.register("swish", np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    with pytest.raises(ValueError, match="derivative_fn.*shape"):
        A.register("bad_shape", np.tanh, lambda z: np.ones(z.shape[0]))
    with pytest.raises(ValueError, match="value_fn.*callable"):
        A.register("not_callable", 3.0, np.tanh)
    with pytest.raises(ValueError, match="value_fn.*raised"):
        A.register("raises", lambda z: z.nope, np.tanh)
    with pytest.raises(ValueError, match="finite"):
        A.register("not_finite", lambda z: np.full(z.shape, np.nan), np.tanh)
    assert "bad_shape" not in A.names()
    with pytest.raises(ValueError, match="built-in"):
        A.unregister("relu")
    with pytest.raises(ValueError, match="no user-defined"):
        A.unregister("never_registered")

    # Functions that pass the registration probe but misbehave on the batch.
    A.register("test_sneaky", lambda z: np.where(z > 5, np.inf, z),
               lambda z: np.ones(z.shape) if z.shape == (3, 4) else np.ones(z.shape[1:]))
    try:
        with pytest.raises(ValueError, match="already registered"):
            A.register("test_sneaky", np.tanh, np.tanh)
        with pytest.raises(ValueError, match="takes no parameters"):
            A.get("test_sneaky", alpha=1.0)
        model = fastnn.Sequential([Input((2,)), Dense(3, activation="test_sneaky")], dtype="float64")
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="test_sneaky.*derivative_fn.*shape"):
            model.compute_gradients(np.ones((4, 2)), np.ones((4, 3)))
        model.set_weights([np.full((2, 3), 10.0), np.zeros(3)])
        with pytest.raises(ValueError, match="test_sneaky.*value_fn.*finite"):
            model.predict(np.ones((4, 2)))
        with pytest.raises(ValueError, match="get_code|user-defined"):
            A.get_code("test_sneaky")
    finally:
        A.unregister("test_sneaky")


# =========================================================================================
# Bad input
# =========================================================================================

@pytest.mark.parametrize("call, match", [
    (lambda: A.get("nope"), "activation: expected one of"),
    (lambda: A.get(42), "activation: expected a name"),
    (lambda: A.get({"negative_slope": 0.1}), "'name'"),
    (lambda: A.get("relu", alpha=1.0), "no parameter 'alpha'"),
    (lambda: A.get("leaky_relu", negative_slope=-0.1), r"negative_slope: expected a finite float >= 0, got -0.1"),
    (lambda: A.get("leaky_relu", negative_slope=float("nan")), "negative_slope"),
    (lambda: A.get("leaky_relu", negative_slope=float("inf")), "negative_slope"),
    (lambda: A.get("leaky_relu", negative_slope="0.1"), "negative_slope"),
    (lambda: A.get("leaky_relu", negative_slope=True), "negative_slope"),
    (lambda: A.get("elu", alpha=-1.0), "alpha: expected a finite float >= 0, got -1.0"),
    (lambda: A.get("gelu", approximate="yes"), "approximate"),
    (lambda: A.get("softmax", axis=0), "axis"),
    (lambda: A.leaky_relu(np.ones(3), negative_slope=-1), "negative_slope"),
    (lambda: A.elu(np.ones(3), alpha=float("nan")), "alpha"),
    (lambda: A.softmax(np.ones((2, 3)), axis=2), "axis"),
    (lambda: A.softmax(np.ones((2, 3)), axis=1.0), "axis"),
    (lambda: A.softmax(np.float64(1.0)), "scalar"),
    (lambda: A.derivative("softmax", np.ones((2, 3))), "gradient"),
    (lambda: A.gradient("relu", np.ones((2, 3)), np.ones((3, 2))), "upstream"),
    (lambda: Dense(3, activation="nope"), "activation"),
    (lambda: Dense(3, activation=1.5), "activation"),
    (lambda: Activation("nope"), "activation"),
    (lambda: Activation("relu", negative_slope=0.1), "negative_slope"),
    (lambda: LeakyReLU(-0.3), "negative_slope"),
    (lambda: ELU(alpha=-1), "alpha"),
    (lambda: ReLU(max_value=5), "max_value"),
    (lambda: ReLU(threshold=1.0), "threshold"),
    (lambda: ReLU(max_value=6, negative_slope=0.1), "negative_slope"),
    (lambda: Softmax(axis=1), "axis"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_input_types():
    with pytest.raises(TypeError, match="x: expected real numbers"):
        A.relu(np.ones(3, np.complex128))
    with pytest.raises(TypeError, match="x: expected real numbers"):
        A.relu(np.array(["a"]))
    with pytest.raises(ValueError, match="x"):
        A.relu([[1.0], [1.0, 2.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_kernels_refuse_bad_buffers(dtype):
    other = np.float32 if dtype == np.float64 else np.float64
    x = np.ones((4, 3), dtype)
    out = np.zeros((4, 3), dtype)
    silu, sig = A.get_code("silu"), A.get_code("sigmoid")
    bad_forward = [
        ((x, out, 4, A.N_CODES), "act"), ((x, out, 4, -1), "act"),
        ((x, np.zeros((4, 3), other), 4, sig), "out"), ((x, np.zeros((3, 3), dtype), 4, sig), "out"),
        ((x, np.zeros((4, 2), dtype), 4, sig), "out"), ((x.T.copy().T, out, 4, sig), "x"),
        ((np.ones((4, 3), np.int64), out, 4, sig), "x"), ((x, out, -1, sig), "n"),
        ((x, out, 5, sig), "x"),
    ]
    for args, match in bad_forward:
        before = out.copy()
        with pytest.raises(ValueError, match=match):
            ops.activation_forward(*args)
        np.testing.assert_array_equal(out, before)
    ro = np.zeros((4, 3), dtype)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        ops.activation_forward(x, ro, 4, sig)
    buf = np.zeros((5, 3), dtype)
    with pytest.raises(ValueError, match="overlaps"):
        ops.activation_forward(buf[1:], buf[:4], 4, sig)
    ops.activation_forward(buf, buf, 5, sig)  # in place is allowed
    np.testing.assert_array_equal(buf, np.full((5, 3), 0.5, dtype))

    d = np.ones((4, 3), dtype)
    with pytest.raises(ValueError, match="z: activation code"):
        ops.activation_backward(None, x, d, 4, silu)
    with pytest.raises(ValueError, match="y: activation code"):
        ops.activation_backward(x, None, d, 4, sig)
    with pytest.raises(ValueError, match="overlaps"):
        ops.activation_backward(None, d, d, 4, sig)
    with pytest.raises(ValueError, match="z"):
        ops.activation_backward(np.ones((4, 2), dtype), None, d, 4, silu)
    np.testing.assert_array_equal(d, np.ones((4, 3), dtype))

    w, b = np.ones((3, 2), dtype), np.zeros(2, dtype)
    o = np.zeros((4, 2), dtype)
    with pytest.raises(ValueError, match="z: activation code"):
        ops.dense_forward(x, w, b, o, 4, silu)
    with pytest.raises(ValueError, match="z: expected a buffer separate"):
        ops.dense_forward(x, w, b, o, 4, silu, 0.0, o)
    with pytest.raises(ValueError, match="z"):
        ops.dense_forward(x, w, b, o, 4, silu, 0.0, np.zeros((4, 2), other))
    with pytest.raises(ValueError, match="act"):
        ops.dense_forward(x, w, b, o, 4, A.N_CODES)
    with pytest.raises(ValueError, match="z: activation code"):
        ops.dense_backward(x, w, o, np.ones((4, 2), dtype), np.zeros((3, 2), dtype), None, None, 4, silu)
    np.testing.assert_array_equal(o, np.zeros((4, 2), dtype))


def test_n_zero_and_empty_rows():
    x = np.full((3, 4), 2.0)
    out = np.full((3, 4), SENTINEL)
    for code in range(A.N_CODES):
        ops.activation_forward(x, out, 0, code)
        d = np.ones((3, 4))
        ops.activation_backward(x, x, d, 0, code)
        assert np.all(out == SENTINEL) and np.all(d == 1)
    empty = np.zeros((3, 0))
    for code in range(A.N_CODES):
        ops.activation_forward(empty, empty.copy(), 3, code)


# =========================================================================================
# Every activation trains on a hidden Dense
# =========================================================================================

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sequential_trains_with_each_activation(case):
    rng = np.random.default_rng(14)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = np.repeat(np.arange(3), 30)
    X = (centers[y] + 0.7 * rng.standard_normal((90, 2))).astype(np.float32)
    spec = spec_of(case)
    model = fastnn.Sequential([Dense(8, activation=spec), Dense(3)], seed=0)
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.02), loss="softmax_cross_entropy")
    hist = model.fit(X, y, epochs=15, batch_size=16, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], (case, losses)
