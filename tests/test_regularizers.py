"""Regularizers (L1, L2, L1L2 and the add_penalty kernel) and weight constraints.

References: tests/reference_params.py (plain numpy float64 from the Keras
formulas), central finite differences, hand-computed values and torch autograd.

Tolerances: float64 rtol 1e-12. float32: the penalty is accumulated in float64
from float32 values that float64 holds exactly, so it matches the reference to
1e-12 as well; the gradient dx + l1 * sign(x) + 2 * l2 * x is formed in float32
(3 roundings of unit 6e-8), so 1e-6 of its magnitude; a constraint's scale is
computed in float64 and applied with one float32 multiply: rtol 1e-6.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import reference_params as ref
from fastnn import _threads as threads_mod
from fastnn import constraints, ops, regularizers
from fastnn.constraints import Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm
from fastnn.regularizers import L1, L1L2, L2, Regularizer

DTYPES = [np.float64, np.float32]
GRAD_RTOL = {np.float64: 1e-12, np.float32: 1e-6}
PAR_MIN = 1 << 15  # the kernels' threading threshold (src_c/regularizers.pyx)


@pytest.fixture
def threads(monkeypatch):
    """set(n): run fastnn's kernels with n threads for this test only."""
    return lambda n: monkeypatch.setattr(threads_mod, "_num_threads", n)


def data(shape, dtype, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# -- add_penalty kernel ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000, PAR_MIN + 13, 300_001])
@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.02), (0.3, 0.7), (0.0, 0.0)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_add_penalty_vs_reference(dtype, size, l1, l2, n_threads, threads):
    threads(n_threads)
    x = data(size, dtype, seed=size)
    dx0 = data(size, dtype, seed=size + 1)
    dx = dx0.copy()
    got = ops.add_penalty(x, dx, size, l1, l2)
    assert isinstance(got, float)
    assert got == pytest.approx(ref.penalty(x, l1, l2), rel=1e-12, abs=0)
    expected = dx0.astype(np.float64) + ref.penalty_grad(x, l1, l2)
    magnitude = np.abs(dx0) + l1 + 2 * l2 * np.abs(x)
    assert (np.abs(dx - expected) <= GRAD_RTOL[dtype] * magnitude).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, used", [(50, 37), (3000, 2500), (10, 0)])
def test_add_penalty_first_m_of_a_taller_buffer(dtype, rows, used, threads):
    # An activity regularizer runs on y[:n] and dy[:n] of buffers sized for the
    # largest batch: rows beyond n hold NaN (reading them would poison the
    # penalty) and dx's spare rows a sentinel (writing them would show).
    threads(2)
    cols = 24
    x = data((rows, cols), dtype, seed=3)
    x[used:] = np.nan
    dx = data((rows, cols), dtype, seed=4)
    dx[used:] = 12345.0
    dx0 = dx.copy()
    m = used * cols
    got = ops.add_penalty(x, dx, m, 0.05, 0.2)
    assert got == pytest.approx(ref.penalty(x[:used], 0.05, 0.2), rel=1e-12, abs=0)
    expected = dx0[:used].astype(np.float64) + ref.penalty_grad(x[:used], 0.05, 0.2)
    np.testing.assert_allclose(dx[:used], expected, rtol=GRAD_RTOL[dtype], atol=GRAD_RTOL[dtype])
    assert np.array_equal(dx[used:], dx0[used:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [5000, PAR_MIN, 200_003])
def test_add_penalty_one_and_two_threads_identical(dtype, size, threads):
    x = data(size, dtype, seed=8, scale=3.0)
    results = []
    for n in (1, 2, 3):
        threads(n)
        dx = data(size, dtype, seed=9)
        results.append((ops.add_penalty(x, dx, size, 0.013, 0.4), dx))
    for penalty, dx in results[1:]:
        assert penalty == results[0][0]  # bit for bit
        assert np.array_equal(dx, results[0][1])


def test_add_penalty_hand_computed():
    x = np.array([1.0, -2.0, 0.0, 3.0])
    dx = np.zeros(4)
    # 0.1 * (1 + 2 + 0 + 3) + 0.01 * (1 + 4 + 0 + 9) = 0.6 + 0.14
    assert ops.add_penalty(x, dx, 4, 0.1, 0.01) == pytest.approx(0.74, rel=1e-15)
    # 0.1 * sign(x) + 0.02 * x; sign(0) = 0 (the subgradient TF and torch use at 0)
    np.testing.assert_allclose(dx, [0.12, -0.14, 0.0, 0.16], rtol=1e-15)


def test_add_penalty_any_ndim_read_flat():
    x = data((3, 4, 5), np.float64, seed=1)
    dx = np.zeros((3, 4, 5))
    got = ops.add_penalty(x, dx, 33, 0.2, 0.1)
    assert got == pytest.approx(ref.penalty(x.ravel()[:33], 0.2, 0.1), rel=1e-12)
    np.testing.assert_allclose(dx.ravel()[:33], ref.penalty_grad(x.ravel()[:33], 0.2, 0.1), rtol=1e-12)
    assert not dx.ravel()[33:].any()


@pytest.mark.parametrize("l1, l2", [(0.0, 0.3), (0.2, 0.0), (0.05, 0.4)])
def test_add_penalty_gradient_vs_central_differences(l1, l2):
    x = data(40, np.float64, seed=5)
    x[np.abs(x) < 0.05] = 0.5  # |x| is not differentiable at 0: stay clear of it
    dx = np.zeros_like(x)
    ops.add_penalty(x, dx, x.size, l1, l2)
    scratch = np.zeros_like(x)
    eps = 1e-6
    num = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (ops.add_penalty(xp, scratch, x.size, l1, l2)
                  - ops.add_penalty(xm, scratch, x.size, l1, l2)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_add_penalty_vs_torch():
    torch = pytest.importorskip("torch", reason="torch (optional test peer) is not installed")
    x = data(500, np.float64, seed=6)
    x[::7] = 0.0  # torch's d|x|/dx at 0 is 0 too
    t = torch.tensor(x, requires_grad=True)
    loss = 0.03 * t.abs().sum() + 0.2 * (t * t).sum()
    loss.backward()
    dx = np.zeros_like(x)
    got = ops.add_penalty(x, dx, x.size, 0.03, 0.2)
    assert got == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("call, arg", [
    (lambda x, dx: ops.add_penalty(x, dx, 11, 0.1, 0.1), "x"),  # m > size
    (lambda x, dx: ops.add_penalty(x, dx, -1, 0.1, 0.1), "m"),
    (lambda x, dx: ops.add_penalty(x, dx.astype(np.float32), 4, 0.1, 0.1), "dx"),
    (lambda x, dx: ops.add_penalty(x.astype(np.int64), dx, 4, 0.1, 0.1), "x"),
    (lambda x, dx: ops.add_penalty(x[::2], dx[:5], 4, 0.1, 0.1), "x"),
    (lambda x, dx: ops.add_penalty(x, dx[:3], 4, 0.1, 0.1), "dx"),
    (lambda x, dx: ops.add_penalty(x, _readonly(dx), 4, 0.1, 0.1), "dx"),
    (lambda x, dx: ops.add_penalty(x, dx, 4, -0.1, 0.1), "l1"),
    (lambda x, dx: ops.add_penalty(x, dx, 4, 0.1, float("nan")), "l2"),
    (lambda x, dx: ops.add_penalty(x, dx, 4, float("inf"), 0.1), "l1"),
])
def test_add_penalty_refuses_bad_buffers(call, arg):
    x, dx = np.ones(10), np.zeros(10)
    with pytest.raises(ValueError, match=rf"^{arg}: "):
        call(x, dx)
    assert not dx.any()


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


# -- regularizer classes --------------------------------------------------------------------

@pytest.mark.parametrize("reg, l1, l2", [
    (L1(), 0.01, 0.0), (L2(), 0.0, 0.01), (L1L2(), 0.0, 0.0), (L1(0.3), 0.3, 0.0),
    (L2(l2=2), 0.0, 2.0), (L1L2(l1=0.1, l2=0.2), 0.1, 0.2), (L1L2(l2=0.5), 0.0, 0.5),
    (Regularizer(0.4, 0.6), 0.4, 0.6),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_call_vs_formula(reg, l1, l2, dtype):
    assert (reg.l1, reg.l2) == (l1, l2)
    assert isinstance(reg.l1, float) and isinstance(reg.l2, float)
    x = data((13, 7), dtype, seed=2)
    got = reg(x)
    assert isinstance(got, float)
    assert got == pytest.approx(ref.penalty(x, l1, l2), rel=1e-12, abs=0)
    # The kernel returns the same penalty from the same two numbers.
    assert ops.add_penalty(x, np.zeros_like(x), x.size, reg.l1, reg.l2) == pytest.approx(got, rel=1e-12)


def test_keras_examples():
    assert L2(2.0)(np.ones((5, 5))) == 50.0
    assert L1(0.01)(np.full((5, 3), 2.0)) == pytest.approx(0.3)
    assert L1L2(0.0, 0.0)(np.full(3, np.inf)) == 0.0  # zero factors add nothing (not 0 * inf)
    assert L1(0.1)([1, -2]) == pytest.approx(0.3)  # lists are read as arrays


@pytest.mark.parametrize("reg", [L1(), L2(0.3), L1L2(), L1L2(0.1, 0.2), Regularizer(0.5, 0.0)],
                         ids=repr)
def test_regularizer_config_round_trip(reg):
    config = reg.get_config()
    json.dumps(config)
    clone = type(reg).from_config(config)
    assert clone == reg and clone is not reg
    ser = regularizers.serialize(reg)
    if type(reg) is not Regularizer:
        assert regularizers.get(ser) == reg
        assert regularizers.get(json.loads(json.dumps(ser))) == reg
    assert regularizers.get(reg) is reg


def test_regularizer_keras_configs_and_names():
    assert L1().get_config() == {"l1": 0.01}
    assert L2().get_config() == {"l2": 0.01}
    assert L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get(None) is None
    assert regularizers.get("l1") == L1(0.01)
    assert regularizers.get("l2") == L2(0.01)
    assert regularizers.get("l1_l2") == L1L2(0.01, 0.01)  # Keras's documented string defaults
    assert regularizers.get("L1L2") == L1L2()
    assert regularizers.get(L2) == L2()
    assert L1(None).l1 == 0.01 and L1L2(None, None) == L1L2()
    assert regularizers.serialize(None) is None


@pytest.mark.parametrize("make, arg, shown", [
    (lambda: L1(-0.1), "l1", "-0.1"),
    (lambda: L2(float("nan")), "l2", "nan"),
    (lambda: L2(float("inf")), "l2", "inf"),
    (lambda: L1("0.1"), "l1", "'0.1'"),
    (lambda: L1(True), "l1", "True"),
    (lambda: L1L2(l1=0.1, l2=-1), "l2", "-1"),
    (lambda: L1L2(l1=[0.1]), "l1", "[0.1]"),
])
def test_regularizer_constructors_validate(make, arg, shown):
    with pytest.raises(ValueError, match=rf"^{arg}: expected a finite float >= 0") as info:
        make()
    assert shown in str(info.value)


@pytest.mark.parametrize("identifier", ["l3", "L3", "", 0.01, len, {"class_name": "L4"},
                                        {"class_name": "L2", "config": {"l1": 0.1}},
                                        {"class_name": "L2", "config": {"l2": -1.0}},
                                        {"class_name": "L2", "config": {}, "x": 1}])
def test_regularizer_get_rejects_with_argument_name(identifier):
    with pytest.raises(ValueError, match=r"^kernel_regularizer: ") as info:
        regularizers.get(identifier, "kernel_regularizer")
    if isinstance(identifier, str):
        assert repr(identifier) in str(info.value) and "'l1_l2'" in str(info.value)


def test_regularizer_call_rejects_non_numbers():
    with pytest.raises(ValueError, match=r"^x: "):
        L1()(np.array(["a", "b"]))


# -- constraints ----------------------------------------------------------------------------

CONSTRAINTS = [
    (MaxNorm(), lambda w, a: ref.max_norm(w, 2.0, a)),
    (MaxNorm(0.5), lambda w, a: ref.max_norm(w, 0.5, a)),
    (UnitNorm(), lambda w, a: ref.unit_norm(w, a)),
    (MinMaxNorm(), lambda w, a: ref.min_max_norm(w, 0.0, 1.0, 1.0, a)),
    (MinMaxNorm(0.8, 1.3, 1.0), lambda w, a: ref.min_max_norm(w, 0.8, 1.3, 1.0, a)),
    (MinMaxNorm(0.8, 1.3, 0.25), lambda w, a: ref.min_max_norm(w, 0.8, 1.3, 0.25, a)),
    (MinMaxNorm(2.0, 2.0, 0.0), lambda w, a: ref.min_max_norm(w, 2.0, 2.0, 0.0, a)),
]


def with_axis(c: Constraint, axis: int) -> Constraint:
    config = dict(c.get_config(), axis=axis)
    return type(c)(**config)


def weights(shape, dtype, seed=0):
    """Columns/rows with norms on both sides of the bounds (scales 0.05 .. 3)."""
    w = data(shape, np.float64, seed=seed)
    scales = np.geomspace(0.05, 3.0, shape[-1]) / math.sqrt(shape[0])
    return (w * scales).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("shape", [(30, 17), (5, 130), (1, 1), (300, 150)])
@pytest.mark.parametrize("case", range(len(CONSTRAINTS)))
def test_norm_constraints_2d_vs_reference(case, shape, axis, dtype):
    base, reference = CONSTRAINTS[case]
    c = with_axis(base, axis)
    w = weights(shape, dtype, seed=case)
    expected = reference(w, axis)
    obj = w
    assert c(w) is None
    assert w is obj and w.dtype == dtype
    np.testing.assert_allclose(w, expected, rtol=1e-12 if dtype == np.float64 else 1e-6,
                               atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("case", range(len(CONSTRAINTS)))
def test_norm_constraints_1d_vs_reference(case, axis, dtype):
    base, reference = CONSTRAINTS[case]
    for scale in (0.01, 0.3, 10.0):  # one norm over the whole bias, below / within / above
        w = (data(50, np.float64, seed=case) * scale).astype(dtype)
        expected = reference(w, axis)
        with_axis(base, axis)(w)
        np.testing.assert_allclose(w, expected, rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_constraints_hand_computed():
    w = np.array([[3.0, 0.1], [4.0, 0.1]])  # column norms 5 and sqrt(0.02)
    MaxNorm(1.0)(w)
    np.testing.assert_allclose(w[:, 0], [3 / (5 + 1e-7), 4 / (5 + 1e-7)], rtol=1e-15)
    n = math.sqrt(0.02)
    np.testing.assert_allclose(w[:, 1], 0.1 * n / (n + 1e-7), rtol=1e-15)  # below max: ~kept
    w = np.array([[3.0, 0.0], [4.0, 0.0]])
    UnitNorm()(w)
    np.testing.assert_allclose(w, [[3 / (5 + 1e-7), 0.0], [4 / (5 + 1e-7), 0.0]], rtol=1e-15)
    w = np.array([[3.0, 4.0]])
    MinMaxNorm(1.0, 2.0, rate=0.5, axis=1)(w)  # desired 0.5 * 2 + 0.5 * 5 = 3.5
    np.testing.assert_allclose(w, [[3 * 3.5 / (5 + 1e-7), 4 * 3.5 / (5 + 1e-7)]], rtol=1e-15)


def test_norms_after_constraints():
    w = weights((64, 40), np.float64, seed=3)
    MaxNorm(0.7)(w)
    assert (np.linalg.norm(w, axis=0) <= 0.7).all()
    w = weights((64, 40), np.float64, seed=3)
    UnitNorm(axis=1)(w)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=1e-6)
    w = weights((64, 40), np.float64, seed=3)
    MinMaxNorm(0.5, 0.9)(w)
    norms = np.linalg.norm(w, axis=0)
    # Raised norms land at 0.5 * n / (n + 1e-7), short of 0.5 by 1e-7 / n (n >= 0.05 here).
    assert (norms >= 0.5 * (1 - 1e-7 / 0.04)).all() and (norms <= 0.9).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (30, 17), (400, 300)])
def test_nonneg(shape, dtype):
    w = data(shape, dtype, seed=1)
    w.flat[0] = np.nan
    expected = ref.non_neg(w)
    assert NonNeg()(w) is None
    np.testing.assert_array_equal(w, expected)  # NaN stays NaN, as with maximum(w, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [MaxNorm(0.3), UnitNorm(axis=1), MinMaxNorm(0.2, 0.4, 0.5),
                               NonNeg()], ids=repr)
def test_constraints_in_place_on_an_arena_view(c, dtype):
    # The model hands a constraint the kernel's view into its flat parameter arena:
    # the view must change in place and the rest of the arena must not.
    arena = data(10 + 200 * 180 + 10, dtype, seed=2)
    before = arena.copy()
    view = arena[10:10 + 200 * 180].reshape(200, 180)
    expected = view.copy()
    {MaxNorm: lambda e: e.__setitem__(..., ref.max_norm(e, 0.3, 0)),
     UnitNorm: lambda e: e.__setitem__(..., ref.unit_norm(e, 1)),
     MinMaxNorm: lambda e: e.__setitem__(..., ref.min_max_norm(e, 0.2, 0.4, 0.5, 0)),
     NonNeg: lambda e: e.__setitem__(..., ref.non_neg(e))}[type(c)](expected)
    c(view)
    assert np.shares_memory(view, arena)
    np.testing.assert_allclose(arena[10:-10], expected.ravel(),
                               rtol=1e-12 if dtype == np.float64 else 1e-6)
    assert np.array_equal(arena[:10], before[:10]) and np.array_equal(arena[-10:], before[-10:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [MaxNorm(0.3), MaxNorm(0.3, axis=1), UnitNorm(), NonNeg(),
                               MinMaxNorm(0.1, 0.2, 0.7, axis=-1)], ids=repr)
def test_constraints_one_and_two_threads_identical(c, dtype, threads):
    results = []
    for n in (1, 2, 3):
        threads(n)
        w = weights((700, 130), dtype, seed=4)  # 91k elements: the threaded paths
        c(w)
        results.append(w)
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


@pytest.mark.parametrize("c", [MaxNorm(), UnitNorm(axis=1), MinMaxNorm(), NonNeg()], ids=repr)
def test_constraint_config_round_trip(c):
    config = c.get_config()
    json.dumps(config)
    clone = type(c).from_config(config)
    assert clone == c and clone is not c
    ser = constraints.serialize(c)
    assert constraints.get(ser) == c
    assert constraints.get(json.loads(json.dumps(ser))) == c
    assert constraints.get(c) is c


def test_constraint_keras_configs_and_names():
    assert MaxNorm().get_config() == {"max_value": 2.0, "axis": 0}
    assert UnitNorm().get_config() == {"axis": 0}
    assert MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert NonNeg().get_config() == {}
    for name, cls in [("max_norm", MaxNorm), ("non_neg", NonNeg), ("unit_norm", UnitNorm),
                      ("min_max_norm", MinMaxNorm), ("MaxNorm", MaxNorm), ("NonNeg", NonNeg)]:
        assert constraints.get(name) == cls()
    assert constraints.get(None) is None and constraints.get(UnitNorm) == UnitNorm()
    w = np.array([-1.0, 2.0])
    Constraint()(w)  # the base constraint leaves w as it is
    assert np.array_equal(w, [-1.0, 2.0])


@pytest.mark.parametrize("make, arg, shown", [
    (lambda: MaxNorm(-1), "max_value", "-1"),
    (lambda: MaxNorm(float("nan")), "max_value", "nan"),
    (lambda: MaxNorm("2"), "max_value", "'2'"),
    (lambda: MaxNorm(axis=2), "axis", "2"),
    (lambda: UnitNorm(axis="0"), "axis", "'0'"),
    (lambda: UnitNorm(axis=None), "axis", "None"),
    (lambda: MinMaxNorm(min_value=-0.5), "min_value", "-0.5"),
    (lambda: MinMaxNorm(min_value=2.0, max_value=1.0), "max_value", "1.0"),
    (lambda: MinMaxNorm(rate=1.5), "rate", "1.5"),
    (lambda: MinMaxNorm(rate=float("nan")), "rate", "nan"),
    (lambda: MinMaxNorm(max_value=float("inf")), "max_value", "inf"),
])
def test_constraint_constructors_validate(make, arg, shown):
    with pytest.raises(ValueError, match=rf"^{arg}: expected") as info:
        make()
    assert shown in str(info.value)


@pytest.mark.parametrize("c", [MaxNorm(), NonNeg()], ids=repr)
@pytest.mark.parametrize("w, arg", [
    (lambda: [[1.0, 2.0]], "w"),
    (lambda: np.ones((3, 4), np.int64), "w"),
    (lambda: np.ones((4, 6))[:, ::2], "w"),
    (lambda: _readonly(np.ones((3, 4))), "w"),
])
def test_constraint_call_refuses_bad_arrays(c, w, arg):
    with pytest.raises(ValueError, match=rf"^{arg}: expected"):
        c(w())


def test_norm_constraint_refuses_bad_ranks():
    with pytest.raises(ValueError, match=r"^w: expected a 1-D or 2-D array"):
        MaxNorm()(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"^axis: expected 0 or -1 for a 1-D array"):
        UnitNorm(axis=1)(np.ones(5))
    w = np.ones(5)
    with pytest.raises(ValueError, match=r"^axis: "):  # the kernel refuses too
        ops.norm_constraint_apply(w, 1, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^rate: "):
        ops.norm_constraint_apply(w, 0, 0.0, 1.0, 2.0)
    assert np.array_equal(w, np.ones(5))


@pytest.mark.parametrize("identifier", ["max_nrm", 2, {"class_name": "MaxNorm", "config": {"v": 1}},
                                        {"class_name": "Clip", "config": {}}])
def test_constraint_get_rejects_with_argument_name(identifier):
    with pytest.raises(ValueError, match=r"^kernel_constraint: ") as info:
        constraints.get(identifier, "kernel_constraint")
    if isinstance(identifier, str):
        assert repr(identifier) in str(info.value) and "'max_norm'" in str(info.value)
