"""Every loss of fastnn.losses against the float64 numpy reference (tests/reference_losses.py),
central finite differences of that reference, hand-computed values and torch.

Tolerances: float64 rtol 1e-10 (kernel and reference differ by a few ulps per
operation; a wrong formula is off by far more), float32 rtol 2e-5 on values and
1e-4 on gradients, with an absolute part scaled by the size of the terms (the
reference is exact on the float32 inputs, so the difference is the kernel's own
single-precision round-off: ~10 roundings and a float32 exp/log per element).
"""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
import reference_losses as R
from fastnn import layers, losses, ops

DTYPES = [np.float64, np.float32]
SENTINEL = -12345.0
VALUE_RTOL = {np.float64: 1e-10, np.float32: 2e-5}
GRAD_RTOL = {np.float64: 1e-10, np.float32: 1e-4}
ATOL = {np.float64: 1e-12, np.float32: 1e-5}  # times the magnitude of the terms


def dtype_id(dt):
    return np.dtype(dt).name


def close(actual, expected, dtype, magnitude, rtol=None, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values"
    np.testing.assert_allclose(actual, expected, rtol=rtol or VALUE_RTOL[dtype],
                               atol=ATOL[dtype] * float(magnitude), err_msg=what)


def padded(a, spare, fill=np.nan):
    """a with `spare` extra rows of `fill` (so a kernel reading them would be seen)."""
    if a is None:
        return None
    out = np.empty((a.shape[0] + spare,) + a.shape[1:], a.dtype)
    out.fill(fill)
    out[:a.shape[0]] = a
    return out


# -- data generators: (pred, raw targets) for n rows and k outputs ----------------------------

def normal(rng, n, k, dtype):
    return (2 * rng.standard_normal((n, k))).astype(dtype), (2 * rng.standard_normal((n, k))).astype(dtype)


def wide(rng, n, k, dtype):  # log_cosh: errors on both sides of |x| = 1, some large
    p = rng.standard_normal((n, k)) * rng.choice([0.3, 3.0, 30.0], (n, k))
    return p.astype(dtype), rng.standard_normal((n, k)).astype(dtype)


def msle_data(rng, n, k, dtype):  # some negatives: clipped at 1e-7
    return rng.uniform(-0.5, 3, (n, k)).astype(dtype), rng.uniform(-0.5, 3, (n, k)).astype(dtype)


def poisson_data(rng, n, k, dtype):
    return rng.uniform(0.1, 3, (n, k)).astype(dtype), rng.integers(0, 6, (n, k)).astype(dtype)


def logits_binary(rng, n, k, dtype):
    t = rng.random((n, k))
    t[: n // 2] = t[: n // 2] > 0.5  # half the rows hard labels, half soft targets
    return (3 * rng.standard_normal((n, k))).astype(dtype), t.astype(dtype)


def probs_binary(rng, n, k, dtype):
    p = rng.uniform(0.02, 0.98, (n, k))
    return p.astype(dtype), (rng.random((n, k)) > 0.5).astype(dtype)


def kld_data(rng, n, k, dtype):
    t = rng.dirichlet(np.ones(k), n)
    t[0, 0] = 0.0  # a zero target: clipped to 1e-7 (Keras)
    return rng.uniform(0.05, 1, (n, k)).astype(dtype), t.astype(dtype)


def hinge01(rng, n, k, dtype):
    return (1.5 * rng.standard_normal((n, k))).astype(dtype), rng.integers(0, 2, (n, k)).astype(dtype)


def hinge_pm1(rng, n, k, dtype):
    return (1.5 * rng.standard_normal((n, k))).astype(dtype), rng.choice([-1.0, 1.0], (n, k)).astype(dtype)


def logits_labels(rng, n, k, dtype):
    return (2 * rng.standard_normal((n, k))).astype(dtype), rng.integers(0, k, n)


def logits_soft(rng, n, k, dtype):
    t = rng.dirichlet(np.ones(k), n)
    t[: n // 2] = np.eye(k)[rng.integers(0, k, n // 2)]
    return (2 * rng.standard_normal((n, k))).astype(dtype), t.astype(dtype)


def probs_labels(rng, n, k, dtype):  # unnormalized positive rows: the kernel normalizes
    return rng.uniform(0.05, 1, (n, k)).astype(dtype), rng.integers(0, k, n)


def probs_soft(rng, n, k, dtype):
    p, _ = probs_labels(rng, n, k, dtype)
    return p, logits_soft(rng, n, k, dtype)[1]


# id: (factory(**kw), reference name, reference params, data, accuracy: None | threshold | "argmax")
CASES = {
    "mse": (losses.MeanSquaredError, "mse", {}, normal, None),
    "mae": (losses.MeanAbsoluteError, "mae", {}, normal, None),
    "huber": (lambda **kw: losses.Huber(delta=0.7, **kw), "huber", {"delta": 0.7}, normal, None),
    "log_cosh": (losses.LogCosh, "log_cosh", {}, wide, None),
    "msle": (losses.MeanSquaredLogarithmicError, "msle", {}, msle_data, None),
    "poisson": (losses.Poisson, "poisson", {}, poisson_data, None),
    "asymmetric": (lambda **kw: losses.AsymmetricLoss(over_cost=1.0, under_cost=9.0, **kw), "asymmetric",
                   {"over_cost": 1.0, "under_cost": 9.0}, normal, None),
    "pinball": (lambda **kw: losses.Pinball(quantile=0.8, **kw), "pinball", {"quantile": 0.8}, normal, None),
    "bce_logits": (lambda **kw: losses.BinaryCrossentropy(from_logits=True, **kw), "bce_logits", {},
                   logits_binary, 0.0),
    "bce_logits_ls": (lambda **kw: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw),
                      "bce_logits", {"label_smoothing": 0.1}, logits_binary, 0.0),
    "bce_probs_ls": (lambda **kw: losses.BinaryCrossentropy(label_smoothing=0.05, **kw), "bce_probs",
                     {"label_smoothing": 0.05}, probs_binary, 0.5),
    "kld": (losses.KLDivergence, "kl_divergence", {}, kld_data, None),
    "hinge01": (losses.Hinge, "hinge", {}, hinge01, 0.0),
    "hinge_pm1": (losses.Hinge, "hinge", {}, hinge_pm1, 0.0),
    "squared_hinge": (losses.SquaredHinge, "squared_hinge", {}, hinge01, 0.0),
    "softmax_labels": (losses.SoftmaxCrossEntropy, "softmax_xent", {}, logits_labels, "argmax"),
    "softmax_labels_ls": (lambda **kw: losses.SoftmaxCrossEntropy(label_smoothing=0.1, **kw), "softmax_xent",
                          {"label_smoothing": 0.1}, logits_labels, "argmax"),
    "softmax_soft_ls": (lambda **kw: losses.SoftmaxCrossEntropy(label_smoothing=0.2, **kw), "softmax_xent",
                        {"label_smoothing": 0.2}, logits_soft, "argmax"),
    "cce_logits": (lambda **kw: losses.CategoricalCrossentropy(from_logits=True, **kw), "softmax_xent", {},
                   logits_soft, "argmax"),
    "cce_probs_ls": (lambda **kw: losses.CategoricalCrossentropy(label_smoothing=0.1, **kw), "probs_xent",
                     {"label_smoothing": 0.1}, probs_soft, "argmax"),
    "scce_logits": (lambda **kw: losses.SparseCategoricalCrossentropy(from_logits=True, **kw), "softmax_xent",
                    {}, logits_labels, "argmax"),
    "scce_probs": (losses.SparseCategoricalCrossentropy, "probs_xent", {}, probs_labels, "argmax"),
}
REDUCTIONS = ["mean", "sum", "none"]


def make_case(case, dtype, n=7, k=3, seed=0, weighted=False):
    factory, ref, params, data, acc = CASES[case]
    rng = np.random.default_rng(seed)
    pred, y = data(rng, n, k, dtype)
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weighted else None
    return factory, ref, params, pred, y, w, acc


def expected_correct(pred, y, acc):
    if acc is None:
        return 0.0
    if acc == "argmax":
        return R.argmax_correct(pred, y)
    return R.binary_accuracy(pred, y, acc)


# =============================================================================================
# value, gradient, per-sample losses, correct count: every loss x dtype x reduction x weights
# =============================================================================================

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_against_reference(case, dtype, reduction, weighted):
    factory, ref, params, pred, y, w, acc = make_case(case, dtype, weighted=weighted)
    n, k = pred.shape
    loss = factory(reduction=reduction)
    targets = loss.check_targets(y, k, np.dtype(dtype))
    spare = 2
    pad_fill = k + 5 if targets.dtype == np.int64 else np.nan  # never read beyond row n
    grad = np.full((n + spare, k), SENTINEL, dtype)
    value, correct = loss.value_and_grad(padded(pred, spare), padded(targets, spare, pad_fill), grad, n,
                                         sample_weight=padded(w, spare))
    train_reduction = "mean" if reduction == "none" else reduction  # a model trains on the mean
    ref_value, ref_grad = R.value_and_grad(ref, pred, y, w, train_reduction, **params)
    l_ref = R.per_sample(ref, pred, y, **params)
    magnitude = R.reduce(np.abs(l_ref) + 1.0, w, train_reduction)
    assert isinstance(value, float)
    close(value, ref_value, dtype, magnitude, what="value")
    close(grad[:n], ref_grad, dtype, np.abs(ref_grad).max() + 1e-30, GRAD_RTOL[dtype], "grad")
    assert np.all(grad[n:] == SENTINEL), "grad written beyond row n"
    assert correct == pytest.approx(expected_correct(pred, y, acc), abs=1e-9)

    # Without a gradient buffer: the same value, bit for bit.
    assert loss.value_and_grad(pred, targets, None, n, sample_weight=w)[0] == value

    per = loss.per_sample(pred, targets, n)
    assert per.shape == (n,) and per.dtype == np.dtype(dtype)
    close(per, l_ref, dtype, np.abs(l_ref).max() + 1.0, what="per_sample")

    called = loss(y, pred, sample_weight=w)
    if reduction == "none":
        assert isinstance(called, np.ndarray) and called.shape == (n,)
        close(called, l_ref * (1 if w is None else w.astype(np.float64)), dtype, np.abs(l_ref).max() + 1,
              what="__call__ none")
    else:
        assert isinstance(called, float)
        close(called, ref_value, dtype, magnitude, what="__call__")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_matches_finite_differences(case, reduction, weighted):
    factory, ref, params, pred, y, w, _ = make_case(case, np.float64, n=5, k=3, seed=1, weighted=weighted)
    n, k = pred.shape
    loss = factory(reduction=reduction)
    targets = loss.check_targets(y, k, np.dtype(np.float64))
    grad = np.empty_like(pred)
    value, _ = loss.value_and_grad(pred, targets, grad, n, sample_weight=w)

    def f(p):
        return R.reduce(R.per_sample(ref, p, y, **params), w, reduction)

    assert value == pytest.approx(f(pred), rel=1e-10)
    fd = R.numerical_grad(f, pred)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8 * max(1.0, np.abs(fd).max()))


def test_mean_with_sample_weight_divides_by_the_weights():
    rng = np.random.default_rng(3)
    p, t = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    w = rng.uniform(0.5, 2.0, 6)
    value = losses.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sample_weight=w)
    assert value == pytest.approx(np.sum(w * ((p - t) ** 2).mean(axis=1)) / w.sum(), rel=1e-12)
    # Keras: "sum_over_batch_size" is "mean" (divides by n, not by sum(w)); None is "none".
    assert losses.MeanSquaredError(reduction="sum_over_batch_size").reduction == "mean"
    assert losses.MeanSquaredError(reduction=None).reduction == "none"
    mean = losses.MeanSquaredError()(t, p, sample_weight=w)
    assert mean == pytest.approx(np.sum(w * ((p - t) ** 2).mean(axis=1)) / 6, rel=1e-12)
    # All-zero weights: 0, not NaN (Keras's divide_no_nan).
    assert losses.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sample_weight=np.zeros(6)) == 0.0


# =============================================================================================
# hand-computed values
# =============================================================================================

def test_hand_computed_huber_and_bce_and_cce():
    # Keras's documented examples.
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    # errors .6, -.6, .4, .6 -> .18, .18, .08, .18 -> mean .155
    assert losses.Huber()(y_true, y_pred) == pytest.approx(0.155, rel=1e-12)
    # row 1: -(log .4 + log .4) / 2; row 2: -(log .6 + log .4) / 2
    per = losses.BinaryCrossentropy(reduction="none")(y_true, y_pred)
    np.testing.assert_allclose(per, [-np.log(0.4), -(np.log(0.6) + np.log(0.4)) / 2], rtol=1e-12)
    np.testing.assert_allclose(per, [0.916, 0.714], atol=1e-3)
    cce = losses.CategoricalCrossentropy(reduction="none")([[0, 1, 0], [0, 0, 1]],
                                                          [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(cce, [-np.log(0.95), -np.log(0.1)], rtol=1e-12)  # Keras: [0.0513, 2.303]


def test_hand_computed_asymmetric_value_and_gradient():
    # Over by 1 (cost 1 per unit) and under by 2 (cost 9 per unit): (1 + 18) / 2 = 9.5.
    pred = np.array([[2.0], [1.0]])
    true = np.array([[1.0], [3.0]])
    loss = losses.AsymmetricLoss(over_cost=1.0, under_cost=9.0)
    grad = np.empty_like(pred)
    value, correct = loss.value_and_grad(pred, true, grad, 2)
    assert value == 9.5 and correct == 0.0
    np.testing.assert_array_equal(grad, [[0.5], [-4.5]])  # d/dpred of the mean: 1/2, -9/2
    # Exactly on target: zero loss, zero gradient.
    value, _ = loss.value_and_grad(true, true, grad, 2)
    assert value == 0.0 and np.all(grad == 0)


def test_hand_computed_hinge_and_kld():
    # Labels {0, 1} become {-1, 1}: max(1 + 0.3, 0) = 1.3, max(1 + 0.2, 0) = 1.2.
    assert losses.Hinge()(np.array([0.0, 1.0]), np.array([0.3, -0.2])) == pytest.approx(1.25, rel=1e-12)
    assert losses.SquaredHinge()(np.array([0.0, 1.0]), np.array([0.3, -0.2])) == \
        pytest.approx((1.3 ** 2 + 1.2 ** 2) / 2, rel=1e-12)
    # KL([.5, .5] || [.25, .75]) = .5 log 2 + .5 log(2/3): a sum over outputs.
    kl = losses.KLDivergence()([[0.5, 0.5]], [[0.25, 0.75]])
    assert kl == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3), rel=1e-12)


# =============================================================================================
# clipping, extreme inputs
# =============================================================================================

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_clipped_values_follow_keras_and_block_the_gradient(dtype):
    pred = np.array([[0.0, 1.0, 0.5], [1e-9, 0.999999999, 0.3]], dtype)
    true = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype)
    # Keras clips at 1 - 1e-7 computed in the working precision: 1 - 2**-23 in float32.
    hi = {"hi": float(np.float32(1) - np.float32(R.EPS))} if dtype == np.float32 else {}
    for loss, ref, params in [(losses.BinaryCrossentropy(), "bce_probs", hi),
                              (losses.KLDivergence(), "kl_divergence", {}),
                              (losses.MeanSquaredLogarithmicError(), "msle", {})]:
        grad = np.empty_like(pred)
        value, _ = loss.value_and_grad(pred, true, grad, 2)
        ref_value, ref_grad = R.value_and_grad(ref, pred, true, **params)
        close(value, ref_value, dtype, abs(ref_value) + 1, what=ref)
        close(grad, ref_grad, dtype, np.abs(ref_grad).max(), GRAD_RTOL[dtype], ref)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    # BCE on p = 0 with target 1 is capped at -log(1e-7) ~ 16.1, as in Keras.
    v = losses.BinaryCrossentropy(reduction="none")(np.array([[1.0]]), np.array([[0.0]], dtype))
    assert v[0] == pytest.approx(-np.log(1e-7), rel=1e-6)
    # Probability rows with a zero entry: clipped, finite, gradient 0 on the clipped entry's own term.
    p = np.array([[0.0, 0.25, 0.75]], dtype)
    g = np.empty_like(p)
    v, _ = losses.CategoricalCrossentropy().value_and_grad(p, np.array([[1.0, 0, 0]], dtype), g, 1)
    rv, rg = R.value_and_grad("probs_xent", p, np.array([[1.0, 0, 0]]), **hi)
    close(v, rv, dtype, rv, what="cce clipped")
    close(g, rg, dtype, np.abs(rg).max(), GRAD_RTOL[dtype], "cce clipped grad")


EXTREME = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0],
                    [-1e4, -1e4, 1e4, 1e4],
                    [-1e4, -1e4, -1e4, -1e4],
                    [1e4, 1e4, 1e4, -1e4]])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case, targets", [
    ("softmax_labels", np.array([1, 3, 2, 3])),
    ("softmax_labels_ls", np.array([1, 3, 2, 0])),
    ("softmax_soft_ls", np.array([[0.25] * 4, [0, 0, 0, 1.0], [1.0, 0, 0, 0], [0, 0.5, 0, 0.5]])),
    ("bce_logits", np.array([[0, 1, 0.5, 1], [1, 0, 1, 0], [0, 0, 1, 1], [0.2, 0.9, 1, 0]])),
    ("bce_logits_ls", np.array([[0, 1, 0.5, 1], [1, 0, 1, 0], [0, 0, 1, 1], [0.2, 0.9, 1, 0]])),
])
def test_large_logits_stay_finite_and_exact(case, targets, dtype):
    factory, ref, params, _, _ = CASES[case]
    loss = factory()
    z = EXTREME.astype(dtype)
    t = loss.check_targets(targets, 4, np.dtype(dtype))
    grad = np.empty_like(z)
    value, _ = loss.value_and_grad(z, t, grad, 4)
    ref_value, ref_grad = R.value_and_grad(ref, z, targets, **params)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # Values are ~1e4 per sample: float32 keeps ~1e-7 of that.
    close(value, ref_value, dtype, abs(ref_value) + 1, what="value")
    close(grad, ref_grad, dtype, 1.0, GRAD_RTOL[dtype], "grad")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_log_cosh_is_accurate_for_tiny_and_huge_errors(dtype):
    d = np.array([[1e-4, -3e-3, 0.5, 0.999, 1.001, 20.0, -80.0, 1e4]], dtype)
    per = losses.LogCosh(reduction="none")(np.zeros_like(d[:, :1]).repeat(8, 1), d)
    ref = np.logaddexp(d.astype(np.float64), -d.astype(np.float64)) - np.log(2)
    grad = np.empty_like(d)
    losses.LogCosh(reduction="sum").value_and_grad(d, np.zeros_like(d), grad, 1)
    np.testing.assert_allclose(grad * 8, np.tanh(d.astype(np.float64)), rtol=GRAD_RTOL[dtype])
    # Element by element, relative precision holds even where the loss is ~5e-9.
    for j in range(8):
        e = losses.LogCosh(reduction="sum")(np.zeros((1, 1)), d[:, j:j + 1])
        assert e == pytest.approx(ref[0, j], rel=VALUE_RTOL[dtype] * 10)
    assert per[0] == pytest.approx(ref.mean(), rel=VALUE_RTOL[dtype])


# =============================================================================================
# torch as a peer
# =============================================================================================

def torch_module():
    return pytest.importorskip("torch", reason="torch is not installed: the torch comparisons are skipped")


def torch_value_and_grad(fn, pred):
    torch = torch_module()
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    v = fn(x)
    v.backward()
    return v.item(), x.grad.numpy()


def fastnn_value_and_grad(loss, pred, y, w=None):
    t = loss.check_targets(y, pred.shape[1], pred.dtype)
    g = np.empty_like(pred)
    v, _ = loss.value_and_grad(pred, t, g, len(pred), sample_weight=w)
    return v, g


TORCH_CASES = ["huber", "bce_logits_ls", "kl_batchmean", "kl_sum", "cross_entropy_ls", "cross_entropy_weighted",
               "poisson", "l1", "mse", "bce_probs"]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_against_torch(case):
    torch = torch_module()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    n, k = 9, 4
    if case == "huber":
        p, t = normal(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.Huber(delta=0.8), p, t)
        theirs = torch_value_and_grad(lambda x: F.huber_loss(x, torch.tensor(t), delta=0.8), p)
    elif case == "bce_logits_ls":
        p, t = logits_binary(rng, n, k, np.float64)
        ls = 0.1
        ours = fastnn_value_and_grad(losses.BinaryCrossentropy(from_logits=True, label_smoothing=ls), p, t)
        smoothed = torch.tensor(t * (1 - ls) + ls / 2)  # torch has no smoothing argument: smooth the targets
        theirs = torch_value_and_grad(lambda x: F.binary_cross_entropy_with_logits(x, smoothed), p)
    elif case == "bce_probs":
        p, t = probs_binary(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.BinaryCrossentropy(), p, t)
        theirs = torch_value_and_grad(lambda x: F.binary_cross_entropy(x, torch.tensor(t)), p)
    elif case in ("kl_batchmean", "kl_sum"):
        # KL is a sum over the outputs: our per-sample loss sum_j t log(t/p). torch's
        # "batchmean" (sum / batch size) is our "mean"; torch's "sum" is our "sum";
        # torch's "mean" would divide by n * k, which is not the KL divergence.
        p, t = kld_data(rng, n, k, np.float64)
        t[0, 0] = 0.05  # keep targets away from Keras's clip (torch does not clip)
        t /= t.sum(axis=1, keepdims=True)
        reduction = "mean" if case == "kl_batchmean" else "sum"
        ours = fastnn_value_and_grad(losses.KLDivergence(reduction=reduction), p, t)
        theirs = torch_value_and_grad(
            lambda x: F.kl_div(torch.log(x), torch.tensor(t), reduction="batchmean" if reduction == "mean" else "sum"),
            p)
    elif case == "cross_entropy_ls":
        z, y = logits_labels(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.SoftmaxCrossEntropy(label_smoothing=0.15), z, y)
        theirs = torch_value_and_grad(lambda x: F.cross_entropy(x, torch.tensor(y), label_smoothing=0.15), z)
    elif case == "cross_entropy_weighted":
        # Per-sample weights: torch's per-sample losses times w, summed, over n (Keras's mean).
        z, y = logits_labels(rng, n, k, np.float64)
        w = rng.uniform(0.1, 2, n)
        ours = fastnn_value_and_grad(losses.SparseCategoricalCrossentropy(from_logits=True), z, y, w)
        theirs = torch_value_and_grad(
            lambda x: (F.cross_entropy(x, torch.tensor(y), reduction="none") * torch.tensor(w)).sum() / n, z)
    elif case == "poisson":
        p, t = poisson_data(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.Poisson(), p, t)
        theirs = torch_value_and_grad(
            lambda x: F.poisson_nll_loss(x, torch.tensor(t), log_input=False, full=False, eps=1e-7), p)
    elif case == "l1":
        p, t = normal(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.MeanAbsoluteError(), p, t)
        theirs = torch_value_and_grad(lambda x: F.l1_loss(x, torch.tensor(t)), p)
    elif case == "mse":
        p, t = normal(rng, n, k, np.float64)
        ours = fastnn_value_and_grad(losses.MeanSquaredError(), p, t)
        theirs = torch_value_and_grad(lambda x: F.mse_loss(x, torch.tensor(t)), p)
    else:
        raise AssertionError(case)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)


# =============================================================================================
# Pinball and AsymmetricLoss, the custom path, threads
# =============================================================================================

@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_pinball_is_asymmetric_loss(q, dtype):
    pred, y = normal(np.random.default_rng(6), 11, 2, dtype)
    g1, g2 = np.empty_like(pred), np.empty_like(pred)
    v1 = losses.Pinball(q).value_and_grad(pred, y, g1, 11)
    v2 = losses.AsymmetricLoss(over_cost=1 - q, under_cost=q).value_and_grad(pred, y, g2, 11)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)
    assert losses.Pinball(q).get_config()["quantile"] == q


class MyMAE(losses.Loss):
    """Mean absolute error through the custom (numpy) path."""

    def value(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true), axis=-1)

    def gradient(self, y_true, y_pred):
        return np.sign(y_pred - y_true) / y_pred.shape[1]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "mean_with_sample_weight"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_custom_loss_equals_the_builtin(dtype, reduction):
    rng = np.random.default_rng(7)
    pred, y = normal(rng, 8, 3, dtype)
    w = rng.uniform(0.1, 2, 8).astype(dtype)
    mine, builtin = MyMAE(reduction=reduction), losses.MeanAbsoluteError(reduction=reduction)
    assert mine.name == "my_mae"
    for sw in (None, w):
        g1, g2 = np.full((10, 3), SENTINEL, dtype), np.empty((8, 3), dtype)
        v1, c1 = mine.value_and_grad(padded(pred, 2), padded(y, 2), g1, 8, sample_weight=sw)
        v2, c2 = builtin.value_and_grad(pred, y, g2, 8, sample_weight=sw)
        close(v1, v2, dtype, abs(v2) + 1, what="value")
        close(g1[:8], g2, dtype, np.abs(g2).max(), GRAD_RTOL[dtype], "grad")
        assert np.all(g1[8:] == SENTINEL) and c1 == c2 == 0.0
        a, b = mine(y, pred, sample_weight=sw), builtin(y, pred, sample_weight=sw)
        close(a, b, dtype, np.abs(b).max() + 1, what="__call__")
    close(mine.per_sample(pred, y, 8), builtin.per_sample(pred, y, 8), dtype, 10, what="per_sample")


def test_custom_loss_gradient_matches_finite_differences():
    class Cubic(losses.Loss):  # l_i = sum_j (p - t)^3 / 3 + p * t
        def value(self, y_true, y_pred):
            return np.sum((y_pred - y_true) ** 3 / 3 + y_pred * y_true, axis=-1)

        def gradient(self, y_true, y_pred):
            return (y_pred - y_true) ** 2 + y_true

    rng = np.random.default_rng(8)
    pred, y = normal(rng, 5, 2, np.float64)
    w = rng.uniform(0.5, 1.5, 5)
    loss = Cubic(reduction="sum")
    g = np.empty_like(pred)
    loss.value_and_grad(pred, y, g, 5, sample_weight=w)
    fd = R.numerical_grad(lambda p: loss(y, p, sample_weight=w), pred)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_custom_loss_outputs_are_checked():
    pred, y = normal(np.random.default_rng(9), 4, 3, np.float64)

    class ElementWise(losses.Loss):
        def value(self, y_true, y_pred):
            return np.abs(y_pred - y_true)  # (n, k): not per-sample

        def gradient(self, y_true, y_pred):
            return np.sign(y_pred - y_true)

    class NaNGrad(MyMAE):
        def gradient(self, y_true, y_pred):
            g = super().gradient(y_true, y_pred)
            g[2, 1] = np.nan
            return g

    class WrongGradShape(MyMAE):
        def gradient(self, y_true, y_pred):
            return np.zeros(len(y_pred))

    class Writes(MyMAE):
        def value(self, y_true, y_pred):
            y_pred[0, 0] = 0.0
            return super().value(y_true, y_pred)

    with pytest.raises(ValueError, match=r"ElementWise.value: expected shape \(4,\), got \(4, 3\).*last axis"):
        ElementWise()(y, pred)
    with pytest.raises(ValueError, match=r"NaNGrad.gradient: expected finite values, got nan at index \(2, 1\)"):
        NaNGrad().value_and_grad(pred, y, np.empty_like(pred), 4)
    with pytest.raises(ValueError, match=r"WrongGradShape.gradient: expected shape \(4, 3\), got \(4,\)"):
        WrongGradShape().value_and_grad(pred, y, np.empty_like(pred), 4)
    with pytest.raises(ValueError, match="read-only"):  # the model's buffers are protected
        Writes()(y, pred)
    with pytest.raises(NotImplementedError, match="value\\(y_true, y_pred\\)"):
        losses.Loss()(y, pred)


@pytest.fixture
def restore_threads():
    before = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(before)


@pytest.mark.parametrize("case", ["mse", "huber", "log_cosh", "bce_logits_ls", "bce_probs_ls", "kld", "hinge01",
                                  "softmax_labels_ls", "softmax_soft_ls", "cce_probs_ls", "scce_probs",
                                  "poisson", "asymmetric"])
def test_one_and_two_threads_give_identical_results(restore_threads, case):
    # 3001 x 16 = 48016 elements: above the kernels' threading threshold (32768), an odd row count.
    factory, ref, params, pred, y, w, acc = make_case(case, np.float32, n=3001, k=16, seed=10, weighted=True)
    loss = factory()
    t = loss.check_targets(y, 16, np.dtype(np.float32))
    results = []
    for threads in (1, 2, 1):
        fastnn.set_num_threads(threads)
        g = np.empty_like(pred)
        v, c = loss.value_and_grad(pred, t, g, 3001, sample_weight=w)
        results.append((v, c, g, loss.per_sample(pred, t, 3001)))
    for v, c, g, per in results[1:]:
        assert v == results[0][0] and c == results[0][1]
        np.testing.assert_array_equal(g, results[0][2])
        np.testing.assert_array_equal(per, results[0][3])
    ref_value, _ = R.value_and_grad(ref, pred, y, w, **params)
    assert results[0][0] == pytest.approx(ref_value, rel=1e-4)


# =============================================================================================
# names, configs, predictions
# =============================================================================================

KERAS_NAMES = {
    "mse": losses.MeanSquaredError, "mean_squared_error": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError, "mean_absolute_error": losses.MeanAbsoluteError,
    "huber": losses.Huber, "log_cosh": losses.LogCosh, "msle": losses.MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "binary_crossentropy": losses.BinaryCrossentropy, "kl_divergence": losses.KLDivergence,
    "kld": losses.KLDivergence, "hinge": losses.Hinge, "squared_hinge": losses.SquaredHinge,
    "poisson": losses.Poisson, "softmax_cross_entropy": losses.SoftmaxCrossEntropy,
}


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_get_by_keras_name(name):
    loss = losses.get(name)
    assert type(loss) is KERAS_NAMES[name]
    assert losses.get(loss) is loss
    # Keras defaults: probabilities unless told otherwise.
    if isinstance(loss, (losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy,
                         losses.BinaryCrossentropy)):
        assert loss.from_logits is False


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip(case):
    loss = CASES[case][0](reduction="sum", name="custom_name")
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config and again.name == "custom_name" and again.reduction == "sum"
    spec = losses.serialize(loss)
    assert spec["class_name"] == type(loss).__name__
    restored = losses.deserialize(spec)
    assert type(restored) is type(loss) and restored.get_config() == config
    assert type(losses.get(spec)) is type(loss)
    assert repr(loss).startswith(type(loss).__name__ + "(")


def test_deserialize_custom_loss_needs_custom_objects():
    spec = losses.serialize(MyMAE(reduction="sum"))
    with pytest.raises(ValueError, match="unknown loss class 'MyMAE'"):
        losses.deserialize(spec)
    assert isinstance(losses.deserialize(spec, custom_objects={"MyMAE": MyMAE}), MyMAE)


def test_default_names_follow_keras():
    assert losses.Huber().name == "huber_loss"
    assert losses.BinaryCrossentropy().name == "binary_crossentropy"
    assert losses.KLDivergence().name == "kl_divergence"
    assert losses.Pinball().name == "pinball_loss"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_transform_output(dtype):
    z = np.array([[2.0, -1.0, 0.5], [-30.0, 40.0, 0.0], [9.0, 9.0, 9.0]], dtype)
    for loss, expected in [
        (losses.SoftmaxCrossEntropy(), np.exp(z - z.max(1, keepdims=True)) /
         np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)),
        (losses.CategoricalCrossentropy(from_logits=True), None),
        (losses.BinaryCrossentropy(from_logits=True), 1 / (1 + np.exp(-z.astype(np.float64)))),
        (losses.BinaryCrossentropy(), z), (losses.CategoricalCrossentropy(), z), (losses.MeanSquaredError(), z),
        (losses.Hinge(), z),
    ]:
        out = np.vstack([z, np.full((1, 3), SENTINEL, dtype)])
        loss.transform_output(out, 3)
        if expected is None:
            expected = np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
        np.testing.assert_allclose(out[:3], expected, rtol=GRAD_RTOL[dtype], err_msg=type(loss).__name__)
        assert np.all(out[3] == SENTINEL)


def test_binary_targets_of_one_output_may_be_one_dimensional():
    loss = losses.BinaryCrossentropy(from_logits=True)
    t = loss.check_targets(np.array([0, 1, 1]), 1, np.dtype(np.float32))
    assert t.shape == (3, 1) and t.dtype == np.float32
    with pytest.raises(ValueError, match="2-D"):
        loss.check_targets(np.array([0, 1, 1]), 2, np.dtype(np.float32))


# =============================================================================================
# bad arguments and bad targets
# =============================================================================================

BAD_CONSTRUCTORS = [
    (lambda: losses.MeanSquaredError(reduction="avg"), "reduction", "'avg'"),
    (lambda: losses.MeanSquaredError(reduction=1), "reduction", "1"),
    (lambda: losses.MeanSquaredError(name=""), "name", "''"),
    (lambda: losses.Huber(delta=0.0), "delta", "0.0"),
    (lambda: losses.Huber(delta=-1), "delta", "-1"),
    (lambda: losses.Huber(delta=float("inf")), "delta", "inf"),
    (lambda: losses.Huber(delta="1"), "delta", "'1'"),
    (lambda: losses.AsymmetricLoss(over_cost=-1.0, under_cost=9.0), "over_cost", "-1.0"),
    (lambda: losses.AsymmetricLoss(over_cost=1.0, under_cost=float("nan")), "under_cost", "nan"),
    (lambda: losses.AsymmetricLoss(over_cost=0.0, under_cost=0.0), "over_cost, under_cost", "0 and 0"),
    (lambda: losses.AsymmetricLoss(over_cost=True), "over_cost", "True"),
    (lambda: losses.Pinball(quantile=1.0), "quantile", "1.0"),
    (lambda: losses.Pinball(quantile=0), "quantile", "0"),
    (lambda: losses.SoftmaxCrossEntropy(label_smoothing=1.5), "label_smoothing", "1.5"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), "label_smoothing", "-0.1"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=2), "label_smoothing", "2"),
    (lambda: losses.BinaryCrossentropy(from_logits="yes"), "from_logits", "'yes'"),
    (lambda: losses.SparseCategoricalCrossentropy(from_logits=1), "from_logits", "1"),
    (lambda: losses.CategoricalCrossentropy(axis=0), "axis", "0"),
    (lambda: losses.get("cross_entropy"), "loss", "'cross_entropy'"),
    (lambda: losses.get(len), "loss", "len"),
    (lambda: losses.deserialize({"class_name": "Nope", "config": {}}), "config", "'Nope'"),
]


@pytest.mark.parametrize("make, arg, shown", BAD_CONSTRUCTORS, ids=[f"{c[1]}-{i}" for i, c in enumerate(BAD_CONSTRUCTORS)])
def test_bad_constructor_arguments_raise_clear_errors(make, arg, shown):
    with pytest.raises(ValueError) as info:
        make()
    message = str(info.value)
    assert message.startswith(arg + ":") and shown in message, message


F32 = np.dtype(np.float32)
BAD_TARGETS = [
    (losses.BinaryCrossentropy(), np.array([[0.0, 1.5]]), 2, "y", "[0, 1]", "1.5 at index (0, 1)"),
    (losses.BinaryCrossentropy(), np.array([[0.0, -0.5]]), 2, "y", "[0, 1]", "-0.5"),
    (losses.KLDivergence(), np.array([[0.5, 1.2]]), 2, "y", "[0, 1]", "1.2"),
    (losses.Poisson(), np.array([[1.0, -2.0]]), 2, "y", ">= 0", "-2.0"),
    (losses.Hinge(), np.array([[0.0, 0.5]]), 2, "y", "{0, 1} or {-1, 1}", "0.5 at index (0, 1)"),
    (losses.SquaredHinge(), np.array([[-1.0, 0.0]]), 2, "y", "{0, 1} or {-1, 1}", "0.0"),
    (losses.SparseCategoricalCrossentropy(), np.array([0, 3]), 3, "y", "[0, 3)", "3"),
    (losses.SparseCategoricalCrossentropy(), np.array([0.5, 1]), 3, "y", "integer", "0.5"),
    (losses.SoftmaxCrossEntropy(), np.array([-1, 2]), 3, "y", "[0, 3)", "-1"),
    (losses.SoftmaxCrossEntropy(), np.array([[0.5, -0.5, 1.0]]), 3, "y", ">= 0", "-0.5"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 4)), 3, "y", "3 classes", "(2, 4)"),
    (losses.CategoricalCrossentropy(), np.array([0, 1]), 3, "y", "SparseCategoricalCrossentropy", "(2,)"),
    (losses.CategoricalCrossentropy(), np.zeros((2, 2)), 3, "y", "(n, 3)", "(2, 2)"),
    (losses.MeanSquaredError(), np.zeros((2, 2)), 3, "y", "3 target columns", "(2, 2)"),
    (losses.Huber(), np.array([[np.nan, 0, 0]]), 3, "y", "finite", "nan"),
]


@pytest.mark.parametrize("loss, y, k, arg, expected, got", BAD_TARGETS,
                         ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(BAD_TARGETS)])
def test_bad_targets_raise_clear_errors(loss, y, k, arg, expected, got):
    with pytest.raises(ValueError) as info:
        loss.check_targets(y, k, F32)
    message = str(info.value)
    assert message.startswith(arg + ":") and expected in message and got in message, message


def test_bad_call_arguments():
    p = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"y_true: expected 3 rows like y_pred, got 2"):
        losses.MeanSquaredError()(np.zeros((2, 2)), p)
    with pytest.raises(ValueError, match=r"sample_weight: expected 3 weights"):
        losses.MeanSquaredError()(p, p, sample_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"sample_weight: expected weights >= 0, got -1.0 at index 1"):
        losses.MeanSquaredError()(p, p, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match=r"sample_weight: expected finite"):
        losses.MeanSquaredError()(p, p, sample_weight=[1.0, np.inf, 1.0])
    with pytest.raises(ValueError, match=r"y_pred: expected finite"):
        losses.MeanSquaredError()(p, np.full((3, 2), np.nan))


def test_kernels_refuse_bad_buffers():
    p = np.zeros((4, 3))
    kind = ops.LOSS_KINDS["huber"]
    with pytest.raises(ValueError, match="kind"):
        ops.elementwise_loss(99, p, p, None, 4, 0.25)
    with pytest.raises(ValueError, match="delta"):
        ops.elementwise_loss(kind, p, p, None, 4, 0.25, param1=0.0)
    with pytest.raises(ValueError, match="sample_weight"):
        ops.elementwise_loss(kind, p, p, None, 4, 0.25, np.ones(3), param1=1.0)
    with pytest.raises(ValueError, match="sample_weight"):
        ops.elementwise_loss(kind, p, p, None, 4, 0.25, np.ones(4, np.float32), param1=1.0)
    with pytest.raises(ValueError, match="per_sample"):
        ops.elementwise_loss(kind, p, p, None, 4, 0.25, None, np.ones((4, 1)), param1=1.0)
    with pytest.raises(ValueError, match="pred"):
        ops.elementwise_loss(kind, np.zeros((4, 0)), np.zeros((4, 0)), None, 4, 0.25, param1=1.0)
    with pytest.raises(ValueError, match="n"):
        ops.elementwise_loss(kind, p, p, None, -1, 0.25, param1=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.softmax_xent_sparse(p, np.zeros(4, np.int64), None, 4, 0.25, label_smoothing=1.5)
    with pytest.raises(ValueError, match="labels"):
        ops.probs_xent_sparse(p, np.array([0, 1, 2, 3], np.int64), None, 4, 0.25)
    with pytest.raises(ValueError, match="targets"):
        ops.probs_xent_dense(p, np.zeros((4, 2)), None, 4, 0.25)
    per = np.full(5, SENTINEL)
    ops.elementwise_loss(kind, padded(p, 1), padded(p, 1), None, 4, 0.25, None, per, 1.0)
    assert np.all(per[:4] == 0) and per[4] == SENTINEL


# =============================================================================================
# training a model with the new losses
# =============================================================================================

def test_sequential_trains_with_new_losses():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((256, 4)).astype(np.float32)
    y_reg = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3).astype(np.float32)
    y_bin = (X[:, 0] + X[:, 1] > 0).astype(np.float32)

    def trained(loss, y, last_activation=None, metrics=()):
        model = fastnn.Sequential([layers.Dense(16, activation="tanh"), layers.Dense(1, activation=last_activation)],
                                  seed=0)
        model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
        before = model.evaluate(X, y)["loss"]
        history = model.fit(X, y, epochs=30, batch_size=32, verbose=0)
        return model, before, history.history

    for loss in (losses.Huber(), losses.LogCosh(), losses.Pinball(0.9), "mae"):
        model, before, hist = trained(loss, y_reg)
        assert hist["loss"][-1] < 0.3 * before, (loss, before, hist["loss"][-1])

    model, before, hist = trained("binary_crossentropy", y_bin, "sigmoid", ["accuracy"])
    assert hist["loss"][-1] < 0.5 * before and hist["accuracy"][-1] > 0.9
    proba = model.predict(X)
    assert np.all((proba > 0) & (proba < 1))

    model, before, hist = trained(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.05), y_bin,
                                  metrics=["accuracy"])
    assert hist["accuracy"][-1] > 0.9
    proba = model.predict(X)  # sigmoid of the logits
    assert np.all((proba > 0) & (proba < 1))
    assert model.evaluate(X, y_bin)["accuracy"] == pytest.approx(np.mean((proba[:, 0] > 0.5) == (y_bin > 0.5)))
