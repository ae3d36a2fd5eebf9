"""Every kernel of fastnn.ops against the numpy float64 reference (tests/reference.py).

Tolerances (see `assert_close`): an element passes when

    |actual - expected| <= RTOL[dtype] * |expected| + ATOL[dtype] * magnitude

where `magnitude` is the size of the terms the kernel combined to get that
value (for a GEMM result, max(|x| @ |W| + |b|); for an element-wise update, the
largest operand). The absolute part only matters for values that come out near
0 by cancellation, where a relative bound is meaningless.

* float64: RTOL 1e-12, ATOL 1e-13. Kernel and reference differ by a few ulps
  (2.2e-16) per operation; the measured differences are below 5e-16 of the
  magnitude, so any formula error shows up orders of magnitude above these.
* float32: RTOL 1e-5, ATOL 1e-6. The reference is exact on the float32 inputs
  (they are representable in float64), so the difference is the kernel's own
  float32 round-off: unit round-off 6e-8, ~10 roundings per element, expf /
  tanhf within 2-3 ulps, and a GEMM over k terms adds up to ~sqrt(k) roundings of
  the magnitude (measured: <= 3e-7 of the magnitude for k = 200). 1e-6 leaves a
  3x margin there and 1e-5 a ~20x margin on relative errors, while a wrong
  formula (a wrong derivative, a missing term) is off by 1e-3 or more.

Buffers: kernels process the first `n` rows of buffers that may be taller;
most tests use `spare` extra rows, filled with NaN in the inputs (so reading
them would poison the output) and with a sentinel in the outputs (so writing
them is seen), and check that the outputs' spare rows are untouched.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
import reference as ref
from thread_checks import assert_threads_agree, same_bits
from fastnn import activations, layers, ops
from fastnn._core import dense as core_dense
from fastnn._core import optim as core_optim

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 1e-5}
ATOL = {np.float64: 1e-13, np.float32: 1e-6}  # times the magnitude of the combined terms
SENTINEL = -12345.0
ACT = {name: activations.get_code(name) for name in ref.ACTIVATIONS}

# (n, n_in, units): one row, one unit, one input, sizes that are not multiples of
# 8 (SIMD widths), and a large one.
SHAPES = [(1, 4, 3), (6, 5, 1), (5, 1, 4), (7, 13, 5), (300, 70, 40)]


def dtype_id(dt):
    return np.dtype(dt).name


def assert_close(actual, expected, dtype, magnitude, what=""):
    """The tolerance rule of this file (see the module docstring)."""
    actual = np.asarray(actual)
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values"
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype],
                               atol=ATOL[dtype] * float(magnitude), err_msg=what)


def filled(shape, dtype, value):
    a = np.empty(shape, dtype)
    a.fill(value)
    return a


def padded(a, spare, fill=np.nan):
    """a with `spare` extra rows of `fill` below it (a new C-contiguous array)."""
    out = filled((a.shape[0] + spare,) + a.shape[1:], a.dtype, fill)
    out[:a.shape[0]] = a
    return out


def rand(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# =========================================================================================
# dense_forward / dense_backward
# =========================================================================================

def dense_inputs(rng, n, n_in, units, dtype):
    x = rand(rng, (n, n_in), dtype)
    w = rand(rng, (n_in, units), dtype, 1.0 / np.sqrt(n_in))
    b = rand(rng, (units,), dtype, 0.5)
    return x, w, b


def forward_magnitude(x, w, b):
    m = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64))
    if b is not None:
        m = m + np.abs(b.astype(np.float64))
    return max(m.max(), 1e-300)


@pytest.mark.parametrize("spare", [0, 3])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("act", ref.ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_forward(dtype, shape, act, use_bias, spare):
    n, n_in, units = shape
    rng = np.random.default_rng(1)
    x, w, b = dense_inputs(rng, n, n_in, units, dtype)
    b = b if use_bias else None
    out = filled((n + spare, units), dtype, SENTINEL)
    x_buf = padded(x, spare)
    ops.dense_forward(x_buf, w, b, out, n, ACT[act])
    expected = ref.dense_forward(x, w, b, act)
    assert_close(out[:n], expected, dtype, forward_magnitude(x, w, b), f"out ({act})")
    assert np.all(out[n:] == SENTINEL), "rows beyond n were written"
    if act == "softmax":
        assert_close(out[:n].sum(axis=1), np.ones(n), dtype, 1.0, "softmax rows sum to 1")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_forward_writes_into_arena_view(dtype):
    # The model hands views into bigger buffers: the kernel must write through them.
    rng = np.random.default_rng(2)
    n, n_in, units = 5, 6, 7
    x, w, b = dense_inputs(rng, n, n_in, units, dtype)
    arena = filled(3 + n * units + 4, dtype, SENTINEL)
    out = arena[3:3 + n * units].reshape(n, units)
    assert np.shares_memory(out, arena) and out.flags.c_contiguous
    ops.dense_forward(x, w, b, out, n, ACT["tanh"])
    assert_close(arena[3:3 + n * units].reshape(n, units), ref.dense_forward(x, w, b, "tanh"),
                 dtype, forward_magnitude(x, w, b))
    assert np.all(arena[:3] == SENTINEL) and np.all(arena[3 + n * units:] == SENTINEL)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_forward_n_zero_writes_nothing(dtype):
    rng = np.random.default_rng(3)
    x, w, b = dense_inputs(rng, 4, 3, 5, dtype)
    out = filled((4, 5), dtype, SENTINEL)
    ops.dense_forward(x, w, b, out, 0, ACT["softmax"])
    assert np.all(out == SENTINEL)


def backward_case(rng, n, n_in, units, dtype, act):
    x, w, b = dense_inputs(rng, n, n_in, units, dtype)
    # y is the forward output (what a layer keeps), rounded to the dtype like the kernel's.
    y = ref.dense_forward(x, w, b, act).astype(dtype)
    dy = rand(rng, (n, units), dtype)
    return x, w, y, dy


def backward_magnitudes(x, w, dy, dz):
    x64, w64, dz_abs = np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), np.abs(dz)
    tiny = 1e-300
    return (max(np.abs(dy).max(), tiny),              # dz = dy * act'(.) with |act'| <= 1
            max((x64.T @ dz_abs).max(), tiny),         # dW = x^T dz
            max(dz_abs.sum(axis=0).max(), tiny),       # db = colsum(dz)
            max((dz_abs @ w64.T).max(), tiny))         # dx = dz W^T


@pytest.mark.parametrize("spare", [0, 3])
@pytest.mark.parametrize("act", ref.ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_backward(dtype, shape, act, spare):
    n, n_in, units = shape
    rng = np.random.default_rng(4)
    x, w, y, dy = backward_case(rng, n, n_in, units, dtype, act)
    dz_ref, dw_ref, db_ref, dx_ref = ref.dense_backward(x, w, y, dy, act)
    m_dz, m_dw, m_db, m_dx = backward_magnitudes(x, w, dy, dz_ref)

    # Gradient arena layout like the model's: dW then db in one flat buffer, with gaps.
    arena = filled(2 + n_in * units + 3 + units + 2, dtype, SENTINEL)
    dw = arena[2:2 + n_in * units].reshape(n_in, units)
    db = arena[5 + n_in * units:5 + n_in * units + units]
    dy_buf = padded(dy, spare, SENTINEL)   # overwritten with dz in its first n rows
    dx = filled((n + spare, n_in), dtype, SENTINEL)
    ops.dense_backward(padded(x, spare), w, padded(y, spare), dy_buf, dw, db, dx, n, ACT[act])

    assert_close(dy_buf[:n], dz_ref, dtype, m_dz, "dz (written over dy)")
    assert_close(dw, dw_ref, dtype, m_dw, "dW")
    assert_close(db, db_ref, dtype, m_db, "db")
    assert_close(dx[:n], dx_ref, dtype, m_dx, "dx")
    assert np.all(dy_buf[n:] == SENTINEL) and np.all(dx[n:] == SENTINEL), "rows beyond n written"
    gaps = np.r_[arena[:2], arena[2 + n_in * units:5 + n_in * units], arena[-2:]]
    assert np.all(gaps == SENTINEL), "arena gaps written"


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_backward_without_bias_and_dx(dtype, act):
    # The first layer skips dx; a layer without bias passes db=None.
    n, n_in, units = 7, 13, 5
    rng = np.random.default_rng(5)
    x, w, y, dy = backward_case(rng, n, n_in, units, dtype, act)
    dz_ref, dw_ref, _, _ = ref.dense_backward(x, w, y, dy, act)
    _, m_dw, _, _ = backward_magnitudes(x, w, dy, dz_ref)
    dw = filled((n_in, units), dtype, SENTINEL)
    dy_buf = dy.copy()
    ops.dense_backward(x, w, y, dy_buf, dw, None, None, n, ACT[act])
    assert_close(dw, dw_ref, dtype, m_dw, "dW")
    assert_close(dy_buf, dz_ref, dtype, np.abs(dy).max(), "dz")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_backward_n_zero(dtype):
    # An empty batch: zero gradients (not stale values), nothing else written.
    rng = np.random.default_rng(6)
    x, w, y, dy = backward_case(rng, 3, 4, 5, dtype, "relu")
    dw, db = filled((4, 5), dtype, SENTINEL), filled(5, dtype, SENTINEL)
    dx, dy_buf = filled((3, 4), dtype, SENTINEL), dy.copy()
    ops.dense_backward(x, w, y, dy_buf, dw, db, dx, 0, ACT["relu"])
    assert np.all(dw == 0) and np.all(db == 0)
    assert np.all(dx == SENTINEL) and np.array_equal(dy_buf, dy)


# =========================================================================================
# softmax_rows
# =========================================================================================

@pytest.mark.parametrize("spare", [0, 2])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 13), (300, 40), (4, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_rows(dtype, shape, spare):
    n, k = shape
    rng = np.random.default_rng(7)
    z = rand(rng, (n, k), dtype, 3.0)
    buf = padded(z, spare, SENTINEL)
    ops.softmax_rows(buf, n)  # in place
    assert_close(buf[:n], ref.softmax(z), dtype, 1.0)
    assert np.all(buf[n:] == SENTINEL)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_rows_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4],
                  [-1e4, 3.0, -1e4, 2.0]], dtype)
    buf = z.copy()
    ops.softmax_rows(buf, len(z))
    assert np.all(np.isfinite(buf))
    assert_close(buf, ref.softmax(z), dtype, 1.0)


# =========================================================================================
# softmax cross-entropy (sparse labels / dense targets) and mse
# =========================================================================================

LOSS_SHAPES = [(1, 1), (1, 4), (6, 1), (7, 13), (300, 40)]


def xent_loss_magnitude(z, n):
    # Per row: lse - z_y, with lse = max + log(sum exp(. - max)) (<= |z|_max + log k).
    return n * (np.abs(z.astype(np.float64)).max() + np.log(z.shape[1]) + 1)


@pytest.mark.parametrize("spare", [0, 3])
@pytest.mark.parametrize("scale_kind", ["mean", "other"])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_xent_sparse(dtype, shape, scale_kind, spare):
    n, k = shape
    rng = np.random.default_rng(8)
    z = rand(rng, (n, k), dtype, 2.0)
    labels = rng.integers(0, k, n)
    scale = 1.0 / n if scale_kind == "mean" else -0.37
    loss_ref, grad_ref, correct_ref = ref.softmax_xent_sparse(z, labels, scale)

    # Spare label slots hold out-of-range values: only the first n may be read.
    labels_buf = np.r_[labels, np.full(spare, k + 5)].astype(np.int64)
    grad = filled((n + spare, k), dtype, SENTINEL)
    loss, correct = ops.softmax_xent_sparse(padded(z, spare), labels_buf, grad, n, scale)
    assert isinstance(loss, float)
    assert_close(loss, loss_ref, dtype, xent_loss_magnitude(z, n), "loss sum")
    assert correct == correct_ref
    assert_close(grad[:n], grad_ref, dtype, abs(scale), "grad")
    assert np.all(grad[n:] == SENTINEL)

    loss2, correct2 = ops.softmax_xent_sparse(z, labels, None, n, scale)  # no gradient
    assert loss2 == loss and correct2 == correct


def test_softmax_xent_sparse_counts_correct_exactly():
    z = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [1.0, 1.0, 9.0], [2.0, 0.0, 0.0]])
    labels = np.array([0, 2, 2, 1])  # right, wrong, right, wrong
    _, correct = ops.softmax_xent_sparse(z, labels, None, 4, 0.25)
    assert correct == 2


def make_targets(rng, n, k, kind, dtype):
    if kind == "onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    t = rng.random((n, k)) + 0.05
    if kind == "soft":
        return (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    return (2.0 * t).astype(dtype)  # unnormalised rows: loss sum_j t_j (lse - z_j) still holds


@pytest.mark.parametrize("spare", [0, 3])
@pytest.mark.parametrize("kind", ["onehot", "soft", "unnormalised"])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_xent_dense(dtype, shape, kind, spare):
    n, k = shape
    rng = np.random.default_rng(9)
    z = rand(rng, (n, k), dtype, 2.0)
    t = make_targets(rng, n, k, kind, dtype)
    scale = 1.0 / n
    loss_ref, grad_ref, correct_ref = ref.softmax_xent_dense(z, t, scale)
    grad = filled((n + spare, k), dtype, SENTINEL)
    loss, correct = ops.softmax_xent_dense(padded(z, spare), padded(t, spare), grad, n, scale)
    t_sum = t.astype(np.float64).sum(axis=1).max()
    assert_close(loss, loss_ref, dtype, t_sum * xent_loss_magnitude(z, n), "loss sum")
    assert correct == correct_ref
    assert_close(grad[:n], grad_ref, dtype, abs(scale) * max(1.0, t_sum), "grad")
    assert np.all(grad[n:] == SENTINEL)
    loss2, correct2 = ops.softmax_xent_dense(z, t, None, n, scale)
    assert loss2 == loss and correct2 == correct


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_xent_dense_equals_sparse_for_onehot(dtype):
    rng = np.random.default_rng(10)
    z = rand(rng, (9, 6), dtype, 2.0)
    labels = rng.integers(0, 6, 9)
    g1, g2 = np.empty_like(z), np.empty_like(z)
    l1, c1 = ops.softmax_xent_sparse(z, labels, g1, 9, 1 / 9)
    l2, c2 = ops.softmax_xent_dense(z, np.eye(6, dtype=dtype)[labels], g2, 9, 1 / 9)
    assert c1 == c2
    assert_close(l2, l1, dtype, xent_loss_magnitude(z, 9))
    assert_close(g2, g1, dtype, 1 / 9)


# Logits of +-1e4: exp(1e4) overflows even float64 and exp(-1e4) underflows to 0, so
# only a max-subtracted evaluation stays finite. The reference is stable in float64.
EXTREME = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0],
                    [-1e4, -1e4, 1e4, 1e4],
                    [-1e4, -1e4, -1e4, -1e4],
                    [1e4, 1e4, 1e4, -1e4]])
EXTREME_LABELS = np.array([1, 3, 2, 3])  # includes labels at -1e4: loss ~2e4


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_xent_sparse_extreme_logits(dtype):
    z = EXTREME.astype(dtype)
    n = len(z)
    loss_ref, grad_ref, correct_ref = ref.softmax_xent_sparse(z, EXTREME_LABELS, 1.0 / n)
    grad = np.empty_like(z)
    loss, correct = ops.softmax_xent_sparse(z, EXTREME_LABELS, grad, n, 1.0 / n)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert_close(loss, loss_ref, dtype, xent_loss_magnitude(z, n), "loss")
    assert_close(grad, grad_ref, dtype, 1.0 / n, "grad")
    assert correct == correct_ref


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_softmax_xent_dense_extreme_logits(dtype):
    z = EXTREME.astype(dtype)
    n = len(z)
    t = np.eye(4, dtype=dtype)[EXTREME_LABELS]
    t[0] = [0.25, 0.25, 0.25, 0.25]  # a soft row too
    loss_ref, grad_ref, correct_ref = ref.softmax_xent_dense(z, t, 1.0 / n)
    grad = np.empty_like(z)
    loss, correct = ops.softmax_xent_dense(z, t, grad, n, 1.0 / n)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert_close(loss, loss_ref, dtype, xent_loss_magnitude(z, n), "loss")
    assert_close(grad, grad_ref, dtype, 1.0 / n, "grad")
    assert correct == correct_ref


@pytest.mark.parametrize("spare", [0, 3])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_mse(dtype, shape, spare):
    n, k = shape
    rng = np.random.default_rng(11)
    p, t = rand(rng, (n, k), dtype), rand(rng, (n, k), dtype)
    scale = 1.0 / (n * k)
    loss_ref, grad_ref = ref.mse(p, t, scale)
    grad = filled((n + spare, k), dtype, SENTINEL)
    loss = ops.mse(padded(p, spare), padded(t, spare), grad, n, scale)
    big = max(np.abs(p).max(), np.abs(t).max())
    assert_close(loss, loss_ref, dtype, n * k * big ** 2, "loss sum")
    assert_close(grad[:n], grad_ref, dtype, 2 * scale * big, "grad")
    assert np.all(grad[n:] == SENTINEL)
    assert ops.mse(p, t, None, n, scale) == loss


def test_mse_hand_values():
    p = np.array([[1.0, 2.0], [3.0, -1.0]])
    t = np.array([[0.5, 2.0], [1.0, 1.0]])
    grad = np.empty_like(p)
    # (0.5^2 + 0 + 2^2 + (-2)^2) = 8.25 ; grad = 2 * 0.25 * (p - t)
    assert ops.mse(p, t, grad, 2, 0.25) == 8.25
    np.testing.assert_array_equal(grad, [[0.25, 0.0], [1.0, -1.0]])


# =========================================================================================
# Optimizer updates
# =========================================================================================

# 140_001 elements: more than two of the chunks the optimizer kernels split arenas into.
OPT_SIZES = [1, 7, 1001, 140_001]


@pytest.mark.parametrize("size", OPT_SIZES)
@pytest.mark.parametrize("rule", ["plain", "momentum", "nesterov", "momentum_zero"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_sgd_update(dtype, rule, size):
    rng = np.random.default_rng(12)
    lr = 0.05
    momentum = {"plain": 0.0, "momentum": 0.9, "nesterov": 0.85, "momentum_zero": 0.0}[rule]
    nesterov = rule == "nesterov"
    params = rand(rng, size, dtype)
    velocity = None if rule == "plain" else np.zeros(size, dtype)
    for step in range(4):  # several steps, so that the velocity matters
        g = rand(rng, size, dtype)
        # Reference from the kernel's current state (a one-step comparison: no drift).
        p_ref, b_ref = ref.sgd_step(params, g, velocity, lr, momentum, nesterov)
        mag_b = np.abs(g).max() + (0.0 if velocity is None else np.abs(velocity).max())
        mag_p = np.abs(params).max() + 2 * lr * mag_b
        ops.sgd_update(params, g, velocity, lr, momentum, nesterov)  # in place
        assert_close(params, p_ref, dtype, mag_p, f"params, step {step}")
        if velocity is not None:
            assert_close(velocity, b_ref, dtype, mag_b, f"velocity, step {step}")


def test_sgd_hand_values():
    # torch's rule, worked by hand: mu = 0.5, lr = 0.1, g = 1 then 2.
    for nesterov, expected_p in [(False, [1 - 0.1 * 1, 0.9 - 0.1 * 2.5]),
                                 (True, [1 - 0.1 * 1.5, 0.85 - 0.1 * (2 + 0.5 * 2.5)])]:
        p, b = np.array([1.0]), np.zeros(1)
        ops.sgd_update(p, np.array([1.0]), b, 0.1, 0.5, nesterov)   # b = 1
        np.testing.assert_allclose(p, expected_p[0], rtol=1e-15)
        ops.sgd_update(p, np.array([2.0]), b, 0.1, 0.5, nesterov)   # b = 0.5 * 1 + 2 = 2.5
        np.testing.assert_allclose(b, 2.5, rtol=1e-15)
        np.testing.assert_allclose(p, expected_p[1], rtol=1e-15)


ADAM_SETTINGS = [
    # (lr, beta_1, beta_2, epsilon)
    (1e-3, 0.9, 0.999, 1e-8),
    (0.1, 0.5, 0.9, 1e-3),
    (0.01, 0.0, 0.99, 1e-6),
]


@pytest.mark.parametrize("size", OPT_SIZES)
@pytest.mark.parametrize("setting", ADAM_SETTINGS, ids=lambda s: "lr{}-b{}-{}-eps{}".format(*s))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_adam_update(dtype, setting, size):
    lr, b1, b2, eps = setting
    rng = np.random.default_rng(13)
    params = rand(rng, size, dtype)
    m, v = np.zeros(size, dtype), np.zeros(size, dtype)
    for step in range(1, 6):
        # Gradients over many orders of magnitude, down to ~epsilon: where the
        # gradient is comparable to epsilon, where epsilon is added (to sqrt(v_hat)
        # as torch does, or to sqrt(v) before the bias correction as Keras does)
        # changes the step by a large factor.
        g = (rng.standard_normal(size) * 10.0 ** rng.uniform(-9, 1, size)).astype(dtype)
        p_ref, m_ref, v_ref = ref.adam_step(params, g, m, v, lr, b1, b2, eps, step)
        # Magnitudes of the operands: torch updates m as m + (1 - b1) (g - m), which
        # loses the low bits of a small g next to a large old m (and so does fastnn).
        mag_m = np.abs(m).max() + np.abs(g).max()
        mag_v = np.abs(v).max() + np.abs(g.astype(np.float64) ** 2).max()
        mag_p = np.abs(params).max() + np.abs(p_ref - params).max()
        ops.adam_update(params, g, m, v, lr, b1, b2, eps, step)  # in place
        assert_close(m, m_ref, dtype, mag_m, f"m, step {step}")
        assert_close(v, v_ref, dtype, mag_v, f"v, step {step}")
        assert_close(params, p_ref, dtype, mag_p, f"params, step {step}")


def test_adam_first_step_hand_values():
    # Step 1: m = (1-b1) g, v = (1-b2) g^2, m_hat = g, v_hat = g^2, so
    # p -= lr * g / (|g| + eps): a step of ~lr against the gradient's sign.
    p = np.array([0.0, 0.0, 0.0])
    g = np.array([1.0, -2.0, 1e-8])
    m, v = np.zeros(3), np.zeros(3)
    ops.adam_update(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 1)
    np.testing.assert_allclose(m, 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(v, 0.001 * g * g, rtol=1e-14)
    # Third entry: g = eps, so torch's rule gives p = -0.1 * 1e-8 / (1e-8 + 1e-8) = -0.05.
    # (Keras's placement would give -0.1 * 1e-8 / (1e-8 + 1e-8 / sqrt(0.001)) = -0.0030...)
    np.testing.assert_allclose(p, [-0.1 / (1 + 1e-8), 0.1 / (1 + 0.5e-8), -0.05], rtol=1e-12)


# =========================================================================================
# gather_rows, all_finite, check_labels
# =========================================================================================

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
@pytest.mark.parametrize("ndim", [1, 2])
def test_gather_rows(dtype, ndim):
    rng = np.random.default_rng(14)
    shape = (23,) if ndim == 1 else (23, 7)
    src = (rng.standard_normal(shape) * 100).astype(dtype)
    order = rng.permutation(23).astype(np.int64)
    for start, stop in [(0, 23), (5, 12), (22, 23), (9, 9)]:
        out = filled((stop - start + 2,) + shape[1:], dtype, 77)
        ops.gather_rows(src, order, start, stop, out)
        np.testing.assert_array_equal(out[:stop - start], src[order[start:stop]])
        assert np.all(out[stop - start:] == 77)


def test_gather_rows_repeated_indices_and_arena_view():
    src = np.arange(12.0).reshape(6, 2)
    index = np.array([5, 5, 0, 3], np.int64)
    arena = np.full(20, -1.0)
    out = arena[2:10].reshape(4, 2)
    ops.gather_rows(src, index, 0, 4, out)
    np.testing.assert_array_equal(arena[2:10].reshape(4, 2), src[index])
    assert np.all(arena[:2] == -1) and np.all(arena[10:] == -1)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("size", [1, 7, 1000, 4099])
def test_all_finite(dtype, size):
    a = np.random.default_rng(15).standard_normal(size).astype(dtype)
    a[0] = np.finfo(dtype).max          # huge but finite
    a[-1] = -np.finfo(dtype).tiny / 4   # subnormal
    if size > 2:
        a[1] = -0.0
    assert ops.all_finite(a)
    for bad in (np.nan, np.inf, -np.inf):
        for pos in sorted({0, size // 2, size - 1}):
            b = a.copy()
            b[pos] = bad
            assert not ops.all_finite(b), (bad, pos)
            assert not ops.all_finite(b.reshape(1, -1))  # any C-contiguous shape
    assert ops.all_finite(np.zeros((0, 3), dtype))


def test_all_finite_2d():
    a = np.ones((13, 7), np.float32)
    assert ops.all_finite(a)
    a[12, 6] = np.nan
    assert not ops.all_finite(a)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_all_finite_large_array_split_over_threads(dtype, n_threads):
    # From 2**21 elements the scan is split over the OpenMP team: a bad value in any
    # part (the first, a boundary between parts, the last element) must be found.
    from fastnn._core import batch
    size = (1 << 21) + 37
    a = np.zeros(size, dtype)
    a[::4099] = np.finfo(dtype).max
    assert batch.all_finite(a, n_threads)
    for pos in sorted({0, size // 3, size // 2 - 1, size // 2, 2 * size // 3, size - 1}):
        for bad in (np.nan, -np.inf):
            a[pos] = bad
            assert not batch.all_finite(a, n_threads), (pos, bad)
            assert not batch.all_finite(a.reshape(-1, 1), n_threads)
            a[pos] = 0


def test_estimate_density_of_large_and_small_inputs():
    rng = np.random.default_rng(16)
    small = (rng.random((50, 40)) < 0.3).astype(np.float32)
    assert ops.estimate_density(small) == np.count_nonzero(small) / small.size
    big = (rng.random((40000, 30)) < 0.2).astype(np.float32)  # sampled rows
    assert abs(ops.estimate_density(big) - 0.2) < 0.01
    assert ops.estimate_density(np.zeros((5000, 3), np.float32)) == 0.0


def test_softmax_xent_sparse_refuses_a_gradient_buffer_on_the_logits():
    z = np.random.default_rng(17).standard_normal((6, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="^grad: expected a buffer separate from logits"):
        ops.softmax_xent_sparse(z, np.zeros(6, np.int64), z, 6, 1 / 6)


def test_check_labels():
    labels = np.array([0, 2, 4, 1], np.int64)
    assert ops.check_labels(labels, 5) == -1
    assert ops.check_labels(labels, 4) == 2               # 4 is out of [0, 4)
    assert ops.check_labels(np.array([1, -1, 7], np.int64), 5) == 1  # the first bad one
    assert ops.check_labels(np.zeros(0, np.int64), 3) == -1
    big = np.zeros(1000, np.int64)
    big[999] = 3
    assert ops.check_labels(big, 3) == 999


# =========================================================================================
# Refusal of bad arguments: ValueError, nothing written, never a crash
# =========================================================================================

def kernel_calls(dtype):
    """{kernel: (function, valid arguments in call order, names of the output arguments)}."""
    rng = np.random.default_rng(16)
    n, n_in, units, k = 4, 3, 5, 6
    x, w, b = dense_inputs(rng, n, n_in, units, dtype)
    y = ref.dense_forward(x, w, b, "tanh").astype(dtype)
    z = rand(rng, (n, k), dtype)
    labels = rng.integers(0, k, n).astype(np.int64)
    t = np.eye(k, dtype=dtype)[labels]
    size = 9
    return {
        "dense_forward": (ops.dense_forward,
                          dict(x=x, w=w, b=b, out=np.zeros((n, units), dtype), n=n, act=ACT["tanh"]),
                          ["out"]),
        "dense_backward": (ops.dense_backward,
                           dict(x=x, w=w, y=y, dy=rand(rng, (n, units), dtype),
                                dw=np.zeros((n_in, units), dtype), db=np.zeros(units, dtype),
                                dx=np.zeros((n, n_in), dtype), n=n, act=ACT["tanh"]),
                           ["dy", "dw", "db", "dx"]),
        "softmax_rows": (ops.softmax_rows, dict(z=z.copy(), n=n), ["z"]),
        "softmax_xent_sparse": (ops.softmax_xent_sparse,
                                dict(logits=z, labels=labels, grad=np.zeros((n, k), dtype), n=n,
                                     scale=0.25), ["grad"]),
        "softmax_xent_dense": (ops.softmax_xent_dense,
                               dict(logits=z, targets=t, grad=np.zeros((n, k), dtype), n=n,
                                    scale=0.25), ["grad"]),
        "mse": (ops.mse, dict(pred=z, targets=z[::-1].copy(), grad=np.zeros((n, k), dtype), n=n,
                              scale=0.25), ["grad"]),
        "sgd_update": (ops.sgd_update,
                       dict(params=rand(rng, size, dtype), grads=rand(rng, size, dtype),
                            velocity=np.zeros(size, dtype), learning_rate=0.1, momentum=0.9,
                            nesterov=False), ["params", "velocity"]),
        "adam_update": (ops.adam_update,
                        dict(params=rand(rng, size, dtype), grads=rand(rng, size, dtype),
                             m=np.zeros(size, dtype), v=np.zeros(size, dtype), learning_rate=0.1,
                             beta_1=0.9, beta_2=0.999, epsilon=1e-8, step=1),
                        ["params", "m", "v"]),
        "gather_rows": (ops.gather_rows,
                        dict(src=x, index=np.array([3, 0, 2], np.int64), start=0, stop=3,
                             out=np.zeros((3, n_in), dtype)), ["out"]),
    }


def other_float(dtype):
    return np.float32 if np.dtype(dtype) == np.float64 else np.float64


def corrupt(a, how, dtype):
    """A bad version of array a, or None when `how` does not apply to it."""
    if how == "dtype":
        if a.dtype == np.int64:
            return a.astype(np.int32)
        return a.astype(other_float(dtype))
    if how == "int_dtype":
        return None if a.dtype == np.int64 else a.astype(np.int64)
    if how == "noncontiguous":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        view = wide[..., ::2]
        view[...] = a
        return view
    if how == "fortran":
        if a.ndim != 2 or min(a.shape) < 2:
            return None
        return np.asfortranarray(a)
    if how == "too_few_rows":
        return a[:-1].copy()
    if how == "wrong_columns":
        if a.ndim != 2:
            return None
        return np.concatenate([a, a[:, :1]], axis=1)
    if how == "ndim":
        return a.reshape(-1) if a.ndim == 2 else a.reshape(-1, 1)
    if how == "readonly":
        r = a.copy()
        r.flags.writeable = False
        return r
    raise AssertionError(how)


CORRUPTIONS = ["dtype", "int_dtype", "noncontiguous", "fortran", "too_few_rows",
               "wrong_columns", "ndim", "readonly"]
NOT_BAD = {
    # softmax_rows has a single array: any float dtype and any width are valid.
    ("softmax_rows", "z", "dtype"), ("softmax_rows", "z", "wrong_columns"),
    # Covered (and found failing) by test_ops_dense_wrappers_refuse_1d_w below.
    ("dense_forward", "w", "ndim"), ("dense_backward", "w", "ndim"),
}


def refusal_cases():
    cases = []
    for kernel, (_, args, outputs) in kernel_calls(np.float64).items():
        for name, value in args.items():
            if not isinstance(value, np.ndarray):
                continue
            for how in CORRUPTIONS:
                if how == "readonly" and name not in outputs:
                    continue  # inputs may be read-only
                if corrupt(value, how, np.float64) is None or (kernel, name, how) in NOT_BAD:
                    continue
                cases.append((kernel, name, how))
    return cases


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kernel, arg, how", refusal_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_kernels_refuse_bad_buffers(dtype, kernel, arg, how):
    fn, args, outputs = kernel_calls(dtype)[kernel]
    args = dict(args)
    bad = corrupt(args[arg], how, dtype)
    if bad is None:
        pytest.skip("not applicable to this dtype")
    args[arg] = bad
    before = {o: np.array(args[o], copy=True) for o in outputs if args[o] is not None}
    with pytest.raises(ValueError):
        fn(*args.values())
    for o, snapshot in before.items():
        np.testing.assert_array_equal(args[o], snapshot, err_msg=f"{o} written before refusing")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_kernels_accept_the_valid_arguments(dtype):
    # The baseline of the refusal tests: unmodified arguments are accepted.
    for kernel, (fn, args, _) in kernel_calls(dtype).items():
        fn(*dict(args).values())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("bad_label", [-1, 6, 2**40, -2**62])
@pytest.mark.parametrize("position", [0, 3])
def test_softmax_xent_sparse_refuses_out_of_range_labels(dtype, bad_label, position):
    fn, args, _ = kernel_calls(dtype)["softmax_xent_sparse"]
    labels = args["labels"].copy()
    labels[position] = bad_label
    grad = args["grad"]
    with pytest.raises(ValueError, match="labels"):
        fn(args["logits"], labels, grad, args["n"], args["scale"])
    assert np.all(grad == 0), "grad written before refusing"
    with pytest.raises(ValueError, match="labels"):
        fn(args["logits"], labels, None, args["n"], args["scale"])


@pytest.mark.parametrize("bad_index", [-1, 4, 10**12])
def test_gather_rows_refuses_out_of_range_indices(bad_index):
    src = np.arange(8.0).reshape(4, 2)
    out = np.full((3, 2), SENTINEL)
    for pos in range(3):
        index = np.array([0, 1, 2], np.int64)
        index[pos] = bad_index
        with pytest.raises(ValueError, match="index"):
            ops.gather_rows(src, index, 0, 3, out)
        assert np.all(out == SENTINEL), "out written before refusing"
    # Out-of-range values outside [start, stop) are not looked at.
    ops.gather_rows(src, np.array([bad_index, 1, 2, bad_index], np.int64), 1, 3, out)
    np.testing.assert_array_equal(out[:2], src[[1, 2]])


@pytest.mark.parametrize("start, stop", [(-1, 2), (2, 1), (0, 5), (4, 6)])
def test_gather_rows_refuses_bad_windows(start, stop):
    src = np.arange(8.0).reshape(4, 2)
    out = np.full((4, 2), SENTINEL)
    with pytest.raises(ValueError):
        ops.gather_rows(src, np.arange(4, dtype=np.int64), start, stop, out)
    assert np.all(out == SENTINEL)


def test_gather_rows_refuses_mismatched_buffers():
    src = np.arange(8.0).reshape(4, 2)
    index = np.arange(4, dtype=np.int64)
    for out in (np.zeros((4, 2), np.float32), np.zeros((4, 3)), np.zeros(8), np.zeros((3, 2))):
        with pytest.raises(ValueError):
            ops.gather_rows(src, index, 0, 4, out)
    with pytest.raises(ValueError):
        ops.gather_rows(np.zeros((2, 2, 2)), index[:2], 0, 2, np.zeros((2, 2, 2)))


def test_other_bad_arguments_refused():
    x, w, b = dense_inputs(np.random.default_rng(17), 3, 2, 4, np.float64)
    out = np.zeros((3, 4))
    for act in (-1, activations.N_CODES, 99):
        with pytest.raises(ValueError, match="act"):
            ops.dense_forward(x, w, b, out, 3, act)
    with pytest.raises(ValueError, match="step"):
        ops.adam_update(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 0.1, 0.9, 0.99, 1e-8, 0)
    with pytest.raises(ValueError):  # no class column
        ops.softmax_xent_sparse(np.zeros((2, 0)), np.zeros(2, np.int64), None, 2, 0.5)
    with pytest.raises(ValueError):
        ops.softmax_xent_dense(np.zeros((2, 0)), np.zeros((2, 0)), None, 2, 0.5)
    with pytest.raises(ValueError):  # buffers of different lengths
        ops.sgd_update(np.zeros(3), np.zeros(4), None, 0.1, 0.0, False)
    with pytest.raises(ValueError):
        ops.adam_update(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2), 0.1, 0.9, 0.99, 1e-8, 1)
    for a in (np.zeros(4, np.int64), np.zeros(4, np.float16), np.zeros((4, 4))[:, ::2]):
        with pytest.raises(ValueError):
            ops.all_finite(a)
    for labels in (np.zeros(4, np.int32), np.zeros((2, 2), np.int64), np.zeros(8, np.int64)[::2]):
        with pytest.raises(ValueError):
            ops.check_labels(labels, 3)


@pytest.mark.parametrize("kernel", ["dense_forward", "dense_backward"])
def test_ops_dense_wrappers_refuse_1d_w(kernel):
    # A 1-D kernel matrix must be refused with the kernels' ValueError ("w: expected
    # a 2-D array"). (Found broken: fastnn/ops.py reads w.shape[1] to pick the
    # thread count before the kernel validates w, so it raises IndexError.)
    fn, args, outputs = kernel_calls(np.float64)[kernel]
    args = dict(args, w=args["w"].reshape(-1))
    with pytest.raises(ValueError, match="w"):
        fn(*args.values())


NEGATIVE_N_CALLS = ["dense_forward", "dense_backward", "softmax_rows", "softmax_xent_sparse",
                    "softmax_xent_dense", "mse"]


@pytest.mark.parametrize("kernel", NEGATIVE_N_CALLS)
def test_kernels_refuse_negative_n(kernel):
    # A negative row count must be refused like any other bad argument. (Found
    # broken: it is accepted; dense_forward/dense_backward hand m = n < 0 to
    # dgemm, which prints "On entry to DGEMM parameter number 4 had an illegal
    # value", and dense_backward reports zero gradients; the loss kernels return 0.)
    fn, args, outputs = kernel_calls(np.float64)[kernel]
    args = dict(args, n=-1)
    before = {o: np.array(args[o], copy=True) for o in outputs}
    with pytest.raises(ValueError):
        fn(*args.values())
    for o, snapshot in before.items():
        np.testing.assert_array_equal(args[o], snapshot, err_msg=f"{o} written before refusing")


OPTIMIZER_CALLS_N_THREADS = {
    "sgd_update": "core_optim.sgd_update(p, g, None, 0.1, 0.0, False, {t})",
    "adam_update": "core_optim.adam_update(p, g, np.zeros(10), np.zeros(10), 0.1, 0.9, 0.99, 1e-8, 1, {t})",
}


@pytest.mark.parametrize("kernel", sorted(OPTIMIZER_CALLS_N_THREADS))
def test_core_optimizer_kernels_refuse_negative_thread_count(kernel):
    # fastnn._core kernels take n_threads from their caller. A negative count must
    # be refused (or clamped), not crash. (Found broken: the optimizer kernels hand
    # it to prange(num_threads=...) unchecked, and libgomp kills the process with
    # "libgomp: Out of memory allocating 962072675424 bytes".) Run in a subprocess
    # so that the crash cannot take the test session down.
    import os
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from fastnn._core import optim as core_optim\n"
            "p, g = np.zeros(10), np.ones(10)\n"
            "try:\n"
            f"    {OPTIMIZER_CALLS_N_THREADS[kernel].format(t=-1)}\n"
            "except ValueError:\n"
            "    print('REFUSED')\n"
            "else:\n"
            "    print('ACCEPTED', p[:2])\n")
    package_root = os.path.dirname(os.path.dirname(fastnn.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_root] + [q for q in [os.environ.get("PYTHONPATH")] if q]))
    # cwd: `python -c` puts the current folder first on sys.path; from the repository
    # root that would import the unbuilt source tree instead of the installed package.
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=env, cwd=package_root)
    assert r.returncode == 0, f"process died (rc {r.returncode}): {r.stderr.strip()[-300:]}"
    assert "REFUSED" in r.stdout or "ACCEPTED [-0.1 -0.1]" in r.stdout, r.stdout


# =========================================================================================
# Threads: 1 vs 2 agree (tests/thread_checks.py says how closely)
# =========================================================================================


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_dense_threads_agree(dtype, act):
    # units = 200 > 64: four column blocks (64, 64, 64, 8) in the backward pass;
    # 301 rows split unevenly between two threads in the forward pass.
    n, n_in, units = 301, 37, 200
    rng = np.random.default_rng(18)
    x, w, b = dense_inputs(rng, n, n_in, units, dtype)
    outs = []
    for threads in (1, 2, 2):
        out = np.empty((n, units), dtype)
        core_dense.dense_forward(x, w, b, out, n, ACT[act], threads)
        outs.append(out)
    assert same_bits(outs[1], outs[2]), "2 threads twice differ"
    assert_threads_agree(outs[0], outs[1], gemm_fed=True, what="forward")
    assert_close(outs[1], ref.dense_forward(x, w, b, act), dtype, forward_magnitude(x, w, b))

    y, dy = outs[0], rand(rng, (n, units), dtype)
    results = []
    for threads in (1, 2):
        dz, dw, db, dx = dy.copy(), np.empty((n_in, units), dtype), np.empty(units, dtype), \
            np.empty((n, n_in), dtype)
        core_dense.dense_backward(x, w, y, dz, dw, db, dx, n, ACT[act], threads)
        results.append((dz, dw, db, dx))
    # Same inputs to both runs: dz and db come from element-wise passes only.
    for name, one, two, gemm in zip(("dz", "dw", "db", "dx"), *results, (False, True, False, True)):
        assert_threads_agree(one, two, gemm, name)
    dz_ref, dw_ref, db_ref, _ = ref.dense_backward(x, w, y, dy, act)
    _, m_dw, m_db, _ = backward_magnitudes(x, w, dy, dz_ref)
    assert_close(results[1][1], dw_ref, dtype, m_dw, "dW (2 threads)")
    assert_close(results[1][2], db_ref, dtype, m_db, "db (2 threads)")


@pytest.mark.parametrize("rule", ["plain", "momentum", "nesterov"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_sgd_threads_bit_identical(dtype, rule):
    size = 100_003
    rng = np.random.default_rng(19)
    p0, g, b0 = rand(rng, size, dtype), rand(rng, size, dtype), rand(rng, size, dtype)
    res = []
    for threads in (1, 2):
        p, b = p0.copy(), (None if rule == "plain" else b0.copy())
        core_optim.sgd_update(p, g, b, 0.01, 0.9, rule == "nesterov", threads)
        res.append((p, b))
    assert same_bits(res[0][0], res[1][0])
    if rule != "plain":
        assert same_bits(res[0][1], res[1][1])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_adam_threads_bit_identical(dtype):
    size = 100_003
    rng = np.random.default_rng(20)
    p0, m0 = rand(rng, size, dtype), rand(rng, size, dtype, 0.1)
    v0 = np.abs(rand(rng, size, dtype, 0.01))
    res = []
    for threads in (1, 2):
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        for step in (3, 4):
            g = rand(np.random.default_rng(step), size, dtype)
            core_optim.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, step, threads)
        res.append((p, m, v))
    for one, two in zip(*res):
        assert same_bits(one, two)


@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_ops_threaded_path_matches_serial(monkeypatch, act):
    # With 2 threads the wrappers split the GEMM across the OpenMP team and run the
    # bias/activation pass in parallel (sizes above the kernels' thresholds);
    # each output element is still computed by one thread.
    import fastnn._threads as threads_mod
    rng = np.random.default_rng(21)
    x, w, b = dense_inputs(rng, 260, 300, 150, np.float32)
    dy = rng.standard_normal((260, 150)).astype(np.float32)
    results = []
    for n_threads in (1, 2):
        monkeypatch.setattr(threads_mod, "_num_threads", n_threads)
        out = np.empty((260, 150), np.float32)
        ops.dense_forward(x, w, b, out, 260, ACT[act])
        d, dw, db, dx = dy.copy(), np.empty_like(w), np.empty_like(b), np.empty_like(x)
        ops.dense_backward(x, w, out, d, dw, db, dx, 260, ACT[act])
        results.append((out, dw, db, dx))
    # The backward pass reads each run's own forward output, so all four are GEMM-fed.
    for name, serial, threaded in zip(("out", "dw", "db", "dx"), *results):
        assert_threads_agree(serial, threaded, True, name)


# =========================================================================================
# The public model path: input layouts and dtypes
# =========================================================================================

N_ROWS, N_FEAT = 40, 6


def layout(base, kind, model_dtype):
    """The same values as `base` in another layout or dtype."""
    if kind == "C":
        return np.ascontiguousarray(base)
    if kind == "fortran":
        out = np.asfortranarray(base)
        assert not out.flags.c_contiguous
        return out
    if kind == "strided_columns":   # X[:, ::2] of a wider array
        wide = np.full((base.shape[0], 2 * base.shape[1]), 99, base.dtype)
        wide[:, ::2] = base
        return wide[:, ::2]
    if kind == "strided_rows":      # X[::2] of a taller array
        tall = np.full((2 * base.shape[0], base.shape[1]), 99, base.dtype)
        tall[::2] = base
        return tall[::2]
    if kind == "other_float":       # values representable in both float dtypes
        return base.astype(np.float64 if np.dtype(model_dtype) == np.float32 else np.float32)
    if kind == "int64":
        return np.round(base).astype(np.int64)
    if kind == "int32":
        return np.round(base).astype(np.int32)
    if kind == "list":
        return base.tolist()
    raise AssertionError(kind)


LAYOUTS = ["C", "fortran", "strided_columns", "strided_rows", "other_float", "int64", "int32",
           "list"]


def base_inputs(kind, model_dtype):
    rng = np.random.default_rng(22)
    x = (rng.standard_normal((N_ROWS, N_FEAT)) * 2).astype(np.float32)  # exact in both dtypes
    if kind in ("int64", "int32"):
        x = np.round(x)
    # The "C-contiguous float copy" every layout is compared with.
    return x, np.ascontiguousarray(x, dtype=model_dtype)


def make_model(dtype, loss):
    model = fastnn.Sequential([layers.Input((N_FEAT,)), layers.Dense(9, activation="tanh"),
                               layers.Dense(3)], seed=5, dtype=dtype)
    model.compile(optimizer=fastnn.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    return model


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_input_layouts(dtype, loss, kind):
    base, reference_x = base_inputs(kind, dtype)
    model = make_model(dtype, loss)
    expected = model.predict(reference_x)
    got = model.predict(layout(base, kind, dtype))
    assert got.dtype == np.dtype(dtype) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    got_chunked = model.predict(layout(base, kind, dtype), batch_size=7)
    assert_close(got_chunked, expected, np.dtype(dtype).type, 1.0, "predict in chunks of 7")
    # And the whole thing agrees with the reference network.
    raw = ref.network_forward(reference_x, ref.layers_from_weights(model.get_weights(),
                                                                   ["tanh", "linear"]))
    expected_ref = ref.softmax(raw) if loss == "softmax_cross_entropy" else raw
    assert_close(expected, expected_ref, np.dtype(dtype).type, 10.0, "predict vs reference")


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_input_layouts(dtype, loss, kind):
    base, reference_x = base_inputs(kind, dtype)
    rng = np.random.default_rng(23)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, 3, N_ROWS)
    else:
        y = rng.standard_normal((N_ROWS, 3)).astype(np.float32)
    results = []
    for x in (reference_x, layout(base, kind, dtype)):
        model = make_model(dtype, loss)
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append((model.get_weights(), history.history["loss"], model.evaluate(x, y)))
    (w1, h1, e1), (w2, h2, e2) = results
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2 and e1 == e2


@pytest.mark.parametrize("y_kind", ["int32", "float_whole", "column", "strided", "onehot_fortran"])
def test_fit_label_layouts(y_kind):
    rng = np.random.default_rng(24)
    x = rng.standard_normal((N_ROWS, N_FEAT)).astype(np.float32)
    labels = rng.integers(0, 3, N_ROWS)
    if y_kind == "int32":
        y = labels.astype(np.int32)
    elif y_kind == "float_whole":
        y = labels.astype(np.float64)
    elif y_kind == "column":
        y = labels.reshape(-1, 1)
    elif y_kind == "strided":
        y = np.repeat(labels, 2)[::2]
    else:
        y = np.asfortranarray(np.eye(3)[labels])
    expected_y = np.eye(3, dtype=np.float32)[labels] if y_kind == "onehot_fortran" else labels
    weights = []
    for targets in (expected_y, y):
        model = make_model("float32", "softmax_cross_entropy")
        model.fit(x, targets, epochs=2, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["fortran", "strided_columns", "strided_rows", "other_float", "int64"])
def test_compute_gradients_input_layouts(kind):
    base, reference_x = base_inputs(kind, "float64")
    y = np.random.default_rng(25).integers(0, 3, N_ROWS)
    model = make_model("float64", "softmax_cross_entropy")
    loss1, g1 = model.compute_gradients(reference_x, y)
    g1 = [g.copy() for g in g1]
    loss2, g2 = model.compute_gradients(layout(base, kind, "float64"), y)
    assert loss1 == loss2
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)
