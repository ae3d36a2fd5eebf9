"""Every optimizer and every extra, against torch.optim and a float64 numpy reference.

- Update rules: 20-step trajectories vs torch.optim in float64 where torch has the
  optimizer (SGD, Adagrad, RMSprop, Adadelta, Adam/AMSGrad, AdamW, Adamax, NAdam, RAdam),
  and vs tests/reference_optim.py (written from the formulas) for all of them,
  Lion and Ftrl included.
- Extras (weight decay, clipnorm, clipvalue, global_clipnorm, EMA with warm-up and
  overwrite frequency) vs the reference, for every optimizer.
- Learning-rate schedules, exact resume (get_state/set_state), config round trips,
  bad arguments refused before any state changes, float32 vs float64, threads,
  allocation-free steps, and a small Sequential trained with each optimizer.

Errors are measured relative to how far the parameters moved, so that a difference
in a small term of the update cannot hide behind the size of the weights.
"""
from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import layers, ops, optimizers
from reference_optim import ReferenceOptimizer

TORCH_REASON = "torch is not installed: optimizer trajectories are not compared with torch.optim"
SHAPES = [(300,), (20, 15), (7,)]
GRAD_SCALES = [1.0, 1e-3, 1e-6]  # small gradients make every epsilon matter
STEPS = 20

# (class name, constructor arguments); one entry per rule variant.
CASES = [
    ("SGD", dict(learning_rate=0.05)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(learning_rate=0.05)),
    ("Adagrad", dict(learning_rate=0.05, initial_accumulator_value=0.0, epsilon=1e-6)),
    ("RMSprop", dict(learning_rate=0.01)),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, centered=True)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5, centered=True, epsilon=1e-6)),
    ("Adadelta", dict(learning_rate=1.0)),
    ("Adadelta", dict(learning_rate=0.5, rho=0.9, epsilon=1e-6)),
    ("Adam", dict(learning_rate=0.01)),
    ("Adam", dict(learning_rate=0.01, beta_2=0.99, amsgrad=True)),
    ("Adam", dict(learning_rate=0.01, weight_decay=0.1)),
    ("AdamW", dict(learning_rate=0.01)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adamax", dict(learning_rate=0.01)),
    ("Adamax", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)),
    ("Nadam", dict(learning_rate=0.01)),
    ("Nadam", dict(learning_rate=0.01, beta_1=0.8, weight_decay=0.05)),
    ("RAdam", dict(learning_rate=0.01)),
    ("RAdam", dict(learning_rate=0.01, beta_2=0.99, weight_decay=0.05)),
    ("Lion", dict(learning_rate=0.01)),
    ("Lion", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9, weight_decay=0.1)),
    ("Ftrl", dict(learning_rate=0.1)),
    ("Ftrl", dict(learning_rate=0.1, learning_rate_power=-0.7, initial_accumulator_value=0.5,
                  l1_regularization_strength=1e-3, l2_regularization_strength=0.01,
                  l2_shrinkage_regularization_strength=0.01, beta=0.5)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, weight_decay=0.1)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}" for n, c in CASES]
NAMES = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "RAdam",
         "Lion", "Ftrl"]
# One representative configuration per optimizer (a variant with all its slots).
BASE = {"SGD": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
        "Adagrad": dict(learning_rate=0.05),
        "RMSprop": dict(learning_rate=0.01, momentum=0.5, centered=True),
        "Adadelta": dict(learning_rate=1.0),
        "Adam": dict(learning_rate=0.01, amsgrad=True),
        "AdamW": dict(learning_rate=0.01, weight_decay=0.05),
        "Adamax": dict(learning_rate=0.01),
        "Nadam": dict(learning_rate=0.01),
        "RAdam": dict(learning_rate=0.01),
        "Lion": dict(learning_rate=0.01),
        "Ftrl": dict(learning_rate=0.1, l1_regularization_strength=1e-4)}


# --- helpers -------------------------------------------------------------------------------

def make_problem(seed, dtype=np.float64, shapes=SHAPES, scales=GRAD_SCALES, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(rng.standard_normal(s) * sc).astype(dtype) for s, sc in zip(shapes, scales)]
             for _ in range(steps)]
    return params, grads


def moved_rel_err(got, ref, start):
    """max |got - ref| / max |ref - start|: error relative to the displacement."""
    got, ref, start = (np.asarray(a, np.float64) for a in (got, ref, start))
    scale = np.max(np.abs(ref - start))
    assert scale > 0, "reference did not move: the test is vacuous"
    return float(np.max(np.abs(got - ref)) / scale)


def assert_close64(got, ref, start, tol=1e-10):
    """Within tol of the displacement, plus a few ulps of the values themselves (a step
    that moves a weight by 1e-6 cannot be computed to better than eps * |p| / 1e-6)."""
    got, ref, start = (np.asarray(a, np.float64) for a in (got, ref, start))
    moved = np.max(np.abs(ref - start))
    assert moved > 0, "reference did not move: the test is vacuous"
    floor = 8 * np.finfo(np.float64).eps * np.max(np.abs(ref))
    err = np.max(np.abs(got - ref))
    assert err <= tol * moved + floor, f"error {err:.3e}, {err / moved:.3e} of the move"


def run_fastnn(name, config, params, grads, opt=None):
    opt = opt or getattr(optimizers, name)(**config)
    vs = [p.copy() for p in params]
    for g in grads:
        opt.apply([x.copy() for x in g], vs)
    return opt, vs


def run_reference(name, config, params, grads):
    ref = ReferenceOptimizer(name, **config)
    ps = [p.astype(np.float64) for p in params]
    for g in grads:
        ps = ref.step(ps, [x.astype(np.float64) for x in g])
    return ref, ps


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture
def torch64():
    """torch with float64 defaults (NAdam keeps its mu_product in the default dtype)."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def torch_optimizer(torch, name, c, params):
    """torch.optim's twin of a fastnn configuration, or None where torch has none."""
    lr = c["learning_rate"]
    betas = (c.get("beta_1", 0.9), c.get("beta_2", 0.999))
    wd = c.get("weight_decay", 0.004 if name == "AdamW" else None)
    if name == "SGD":
        if wd:
            return None  # torch's SGD weight decay is an L2 gradient term
        return torch.optim.SGD(params, lr=lr, momentum=c.get("momentum", 0.0),
                               nesterov=c.get("nesterov", False))
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=c.get("epsilon", 1e-10),
                                   initial_accumulator_value=c.get("initial_accumulator_value", 0.1))
    if name == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=c.get("rho", 0.9), eps=c.get("epsilon", 1e-8),
                                   momentum=c.get("momentum", 0.0), centered=c.get("centered", False))
    if name == "Adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=c.get("rho", 0.95), eps=c.get("epsilon", 1e-7))
    if name in ("Adam", "AdamW"):  # fastnn's decoupled weight decay is torch's AdamW
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=c.get("epsilon", 1e-8),
                                 weight_decay=wd or 0.0, amsgrad=c.get("amsgrad", False))
    if name == "Adamax":
        return torch.optim.Adamax(params, lr=lr, betas=betas, eps=c.get("epsilon", 1e-8))
    if name == "Nadam":
        return torch.optim.NAdam(params, lr=lr, betas=betas, eps=c.get("epsilon", 1e-7),
                                 weight_decay=wd or 0.0, decoupled_weight_decay=True)
    if name == "RAdam":
        return torch.optim.RAdam(params, lr=lr, betas=betas, eps=c.get("epsilon", 1e-8),
                                 weight_decay=wd or 0.0, decoupled_weight_decay=True)
    return None


TORCH_CASES = [(n, c) for n, c in CASES if n not in ("Lion", "Ftrl") and not (n == "SGD" and "weight_decay" in c)]
TORCH_IDS = [i for (n, c), i in zip(CASES, IDS) if (n, c) in TORCH_CASES]


# --- update rules --------------------------------------------------------------------------

@pytest.mark.parametrize("name, config", TORCH_CASES, ids=TORCH_IDS)
def test_trajectory_matches_torch_float64(torch64, name, config):
    torch = torch64
    params, grads = make_problem(1)
    _, got = run_fastnn(name, config, params, grads)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = torch_optimizer(torch, name, config, tparams)
    for g in grads:
        for tp, x in zip(tparams, g):
            tp.grad = torch.from_numpy(x.copy())
        topt.step()
    for a, tp, p in zip(got, tparams, params):
        assert moved_rel_err(a, tp.detach().numpy(), p) < 1e-9


@pytest.mark.parametrize("name, config", CASES, ids=IDS)
def test_trajectory_matches_reference_float64(name, config):
    params, grads = make_problem(2)
    opt, got = run_fastnn(name, config, params, grads)
    _, want = run_reference(name, config, params, grads)
    assert opt.iterations == STEPS
    for g, w, p in zip(got, want, params):
        assert g.dtype == np.float64 and g.shape == p.shape
        assert_close64(g, w, p)


def test_radam_crosses_from_unrectified_to_rectified_steps():
    """beta_2 = 0.999: rho_t <= 5 for t <= 5 (plain momentum steps), > 5 from t = 6; the
    reference trajectory test covers both only if the switch happens inside 20 steps."""
    b2 = 0.999
    rho_inf = 2 / (1 - b2) - 1
    rho = [rho_inf - 2 * t * b2 ** t / (1 - b2 ** t) for t in range(1, STEPS + 1)]
    assert rho[4] <= 5 < rho[5]
    # Step 1 by hand: m_hat = g, so p moves by -lr * g exactly.
    w = np.zeros(2)
    optimizers.RAdam(learning_rate=0.1).apply(np.array([0.5, -2.0]), w)
    np.testing.assert_allclose(w, [-0.05, 0.2], rtol=1e-15)


def test_hand_worked_first_steps():
    """First steps worked by hand from the formulas in the docstrings."""
    w = np.ones(1)
    optimizers.AdamW(learning_rate=0.1, weight_decay=0.5).apply(np.array([1.0]), w)
    np.testing.assert_allclose(w, [1 * (1 - 0.05) - 0.1 / (1 + 1e-8)], rtol=1e-15)
    w = np.zeros(3)
    optimizers.Lion(learning_rate=0.1).apply(np.array([2.0, -1e-9, 0.0]), w)
    np.testing.assert_array_equal(w, [-0.1, 0.1, 0.0])
    w = np.zeros(1)  # z = 2; q = sqrt(4) / 0.1 = 20; p = (clip(z, 0, 0) - z) / q
    optimizers.Ftrl(learning_rate=0.1, initial_accumulator_value=0.0).apply(np.array([2.0]), w)
    np.testing.assert_allclose(w, [-0.1], rtol=1e-15)
    w = np.array([0.3])  # |z| = 0.05 <= l1: the weight is exactly 0
    optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.1,
                    initial_accumulator_value=0.0).apply(np.array([0.05]), w)
    assert w[0] == 0.0
    w = np.zeros(1)
    optimizers.Adadelta(learning_rate=1.0, rho=0.0, epsilon=1e-6).apply(np.array([1.0]), w)
    np.testing.assert_allclose(w, [-math.sqrt(1e-6) / math.sqrt(1 + 1e-6)], rtol=1e-15)
    w = np.zeros(1)  # rho = 0: v = g^2, step = lr * g / (|g| + eps)
    optimizers.RMSprop(learning_rate=0.01, rho=0.0).apply(np.array([4.0]), w)
    np.testing.assert_allclose(w, [-0.01 * 4 / (4 + 1e-8)], rtol=1e-15)
    w = np.zeros(2)  # s = 0 + g^2
    optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0).apply(np.array([2.0, -0.5]), w)
    np.testing.assert_allclose(w, [-0.1 * 2 / (2 + 1e-10), 0.1 * 0.5 / (0.5 + 1e-10)], rtol=1e-15)
    w = np.zeros(1)  # u = |g| + eps; m_hat = g
    optimizers.Adamax(learning_rate=0.1).apply(np.array([3.0]), w)
    np.testing.assert_allclose(w, [-0.1 * 3 / (3 + 1e-8)], rtol=1e-15)


# --- extras --------------------------------------------------------------------------------

EXTRAS = {
    "weight_decay": dict(weight_decay=0.05),
    "clipnorm": dict(clipnorm=0.5),          # clips the first variable (norm ~17), not the others
    "clipvalue": dict(clipvalue=0.3),
    "global_clipnorm": dict(global_clipnorm=2.0),
    "ema": dict(use_ema=True, ema_momentum=0.9),
    "ema_warmup": dict(use_ema=True, ema_momentum=0.95, ema_warmup=True),
    "ema_overwrite": dict(use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3),
    "all": dict(weight_decay=0.02, clipnorm=1.0, use_ema=True, ema_momentum=0.9,
                ema_overwrite_frequency=7),
}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
@pytest.mark.parametrize("name", NAMES)
def test_extras_match_reference(name, extra):
    config = {**BASE[name], **EXTRAS[extra]}
    params, grads = make_problem(3)
    opt, got = run_fastnn(name, config, params, grads)
    ref, want = run_reference(name, config, params, grads)
    for g, w, p in zip(got, want, params):
        assert_close64(g, w, p)
    if config.get("use_ema"):
        state = opt.get_state()
        for i, (e, p) in enumerate(zip(ref.ema, params)):
            assert_close64(state[f"ema.{i}"].reshape(p.shape), e, p)


@pytest.mark.parametrize("extra", sorted(EXTRAS))
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_each_extra_changes_the_trajectory(name, extra):
    """The extras test is not vacuous: each extra changes the result (parameters, or
    for EMA without overwrite, the average differs from the parameters)."""
    params, grads = make_problem(3)
    _, plain = run_fastnn(name, BASE[name], params, grads)
    opt, with_extra = run_fastnn(name, {**BASE[name], **EXTRAS[extra]}, params, grads)
    if EXTRAS[extra].get("use_ema") and not EXTRAS[extra].get("ema_overwrite_frequency"):
        for a, b in zip(plain, with_extra):
            np.testing.assert_array_equal(a, b)  # the average alone never touches the weights
        assert not np.allclose(opt.get_state()["ema.0"], with_extra[0].ravel())
    else:
        assert not np.allclose(plain[0], with_extra[0])


def test_clipnorm_hand_worked():
    """g = (3, 4): norm 5 -> clipnorm 1 scales it to (0.6, 0.8); a small gradient is kept."""
    w = np.zeros(2)
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).apply(np.array([3.0, 4.0]), w)
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-15)
    w = np.zeros(2)
    optimizers.SGD(learning_rate=1.0, clipnorm=10.0).apply(np.array([3.0, 4.0]), w)
    np.testing.assert_array_equal(w, [-3.0, -4.0])
    ws = [np.zeros(2), np.zeros(1)]  # global norm of (3, 4) and (12,) = 13
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply([np.array([3.0, 4.0]), np.array([12.0])], ws)
    np.testing.assert_allclose(np.concatenate(ws), [-3 / 13, -4 / 13, -12 / 13], rtol=1e-15)
    w = np.zeros(3)
    optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply(np.array([3.0, -0.2, -4.0]), w)
    np.testing.assert_array_equal(w, [-0.5, 0.2, 0.5])


def test_global_clipnorm_with_a_non_finite_norm_gives_nan_as_keras():
    w = np.zeros(3)
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply(np.array([np.inf, 1.0, 0.0]), w)
    assert np.isnan(w).all()


def test_ema_hand_worked():
    """SGD lr 1 on g = 1 from p = 0: p = -1, -2, -3. Keras's decay is 0 on the first step,
    then ema_momentum (0.5): e = -1, -1.5, -2.25; overwrite every 2 steps sets p = e."""
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5)
    w = np.zeros(1)
    for want_p, want_e in [(-1.0, -1.0), (-2.0, -1.5), (-3.0, -2.25)]:
        opt.apply(np.ones(1), w)
        assert w[0] == want_p and opt.get_state()["ema.0"][0] == want_e
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    w = np.zeros(1)
    opt.apply(np.ones(1), w)   # p = -1, e = -1
    opt.apply(np.ones(1), w)   # p = -2, e = -1.5, overwrite: p = -1.5
    assert w[0] == -1.5
    opt.apply(np.ones(1), w)   # p = -2.5, e = 0.5 * -1.5 + 0.5 * -2.5 = -2
    assert w[0] == -2.5 and opt.get_state()["ema.0"][0] == -2.0
    # Warm-up (TF1): decay min(0.99, (1 + t) / (10 + t)) = 0.1 at t = 0; e starts at p0 = 0.
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.99, ema_warmup=True)
    w = np.zeros(1)
    opt.apply(np.ones(1), w)   # e = 0.1 * 0 + 0.9 * -1
    np.testing.assert_allclose(opt.get_state()["ema.0"], [-0.9], rtol=1e-15)
    opt.apply(np.ones(1), w)   # decay 2 / 11
    np.testing.assert_allclose(opt.get_state()["ema.0"], [2 / 11 * -0.9 + 9 / 11 * -2], rtol=1e-15)


def test_swap_ema_twice_restores_and_finalize_overwrites():
    params, grads = make_problem(4)
    opt, vs = run_fastnn("Adam", dict(learning_rate=0.01, use_ema=True, ema_momentum=0.9), params, grads)
    before = [v.copy() for v in vs]
    ema = [opt.get_state()[f"ema.{i}"].reshape(v.shape) for i, v in enumerate(vs)]
    opt.swap_ema(vs)
    for v, e in zip(vs, ema):
        np.testing.assert_array_equal(v, e)
    for i, b in enumerate(before):
        np.testing.assert_array_equal(opt.get_state()[f"ema.{i}"], b.ravel())
    opt.swap_ema(vs)
    for v, b in zip(vs, before):
        np.testing.assert_array_equal(v, b)
    with opt.ema_swapped(vs):
        np.testing.assert_array_equal(vs[1], ema[1])
    np.testing.assert_array_equal(vs[1], before[1])
    opt.finalize_variable_values(vs)
    for v, e in zip(vs, ema):
        np.testing.assert_array_equal(v, e)


def test_swap_ema_refusals():
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.Adam().swap_ema([np.zeros(3)])
    opt = optimizers.Adam(use_ema=True)
    with pytest.raises(ValueError, match="not built"):
        opt.swap_ema([np.zeros(3)])
    opt.apply(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="^variables"):
        opt.swap_ema([np.zeros(4)])
    optimizers.Adam().finalize_variable_values([np.zeros(3)])  # no EMA: a no-op


# --- segments: Keras's per-variable clipnorm on one flat arena -------------------------------

SEG_SIZES = [20_000, 7, 30_001, 0, 1, 12]  # crosses the kernels' 16384-element chunks; one empty


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_segments_clip_each_variable_like_separate_arrays(dtype):
    rng = np.random.default_rng(5)
    offsets = np.concatenate([[0], np.cumsum(SEG_SIZES)])
    n = int(offsets[-1])
    scales = rng.choice([1e-3, 1.0, 50.0], len(SEG_SIZES))
    arena = rng.standard_normal(n).astype(dtype)
    config = dict(learning_rate=0.01, clipnorm=2.0, use_ema=True, weight_decay=0.01)
    flat = optimizers.Adam(**config)
    flat.build([arena], segments=[offsets])
    split = optimizers.Adam(**config)
    parts = [arena[a:b].copy() for a, b in zip(offsets[:-1], offsets[1:])]
    for step in range(3):
        g = np.concatenate([rng.standard_normal(s) * sc for s, sc in zip(SEG_SIZES, scales)]).astype(dtype)
        flat._apply_flat([g], [arena])
        split.apply([g[a:b].copy() for a, b in zip(offsets[:-1], offsets[1:])], parts)
    tol = 1e-12 if dtype == np.float64 else 2e-6  # sums of squares group differently
    np.testing.assert_allclose(arena, np.concatenate(parts), rtol=tol, atol=tol)
    # Without segments the arena is one variable: a different (global) clip.
    whole = optimizers.Adam(**config)
    whole_arena = rng.standard_normal(n).astype(dtype)
    whole.build([whole_arena])
    g = np.concatenate([rng.standard_normal(s) * sc for s, sc in zip(SEG_SIZES, scales)]).astype(dtype)
    ref_scale = 2.0 / max(float(np.linalg.norm(g.astype(np.float64))), 2.0)
    plain = optimizers.Adam(**{**config, "clipnorm": None})
    plain_arena = whole_arena.copy()
    plain.apply(g * dtype(ref_scale), plain_arena)
    whole._apply_flat([g], [whole_arena])
    np.testing.assert_allclose(whole_arena, plain_arena, rtol=tol, atol=tol)


def test_segments_validation():
    opt = optimizers.SGD(clipnorm=1.0)
    for bad, shown in [([[0, 5]], "0 to 10"), ([[0, 6, 4, 10]], "nondecreasing"),
                       ([[1, 10]], "0 to 10"), ([[0.0, 10.0]], "integer"), ([[0, 10], None], "one entry")]:
        with pytest.raises(ValueError, match="segments") as info:
            opt.build([np.zeros(10)], segments=bad)
        assert shown in str(info.value)
    assert not opt.built


# --- kernels --------------------------------------------------------------------------------

def test_sum_squares_matches_numpy_per_segment():
    rng = np.random.default_rng(6)
    offsets = np.concatenate([[0], np.cumsum(SEG_SIZES)]).astype(np.int64)
    g = rng.standard_normal(int(offsets[-1]))
    out = np.full(len(SEG_SIZES), np.nan)
    work = np.zeros(ops.sum_squares_work_size(g.size, len(SEG_SIZES)))
    ops.sum_squares(g, offsets, out, work)
    want = [np.sum(g[a:b] ** 2) for a, b in zip(offsets[:-1], offsets[1:])]
    np.testing.assert_allclose(out, want, rtol=1e-13)
    assert out[3] == 0.0  # the empty segment
    total = np.zeros(1)
    ops.sum_squares(g.astype(np.float32), None, total, work)
    np.testing.assert_allclose(total[0], np.sum(g.astype(np.float32).astype(np.float64) ** 2), rtol=1e-13)


def test_fused_kernel_refuses_bad_arguments_before_writing():
    p, g = np.ones(10), np.ones(10)
    adam = ops.OPTIMIZER_RULES["adam"]
    m, v = np.zeros(10), np.zeros(10)
    hyper = (0.1, 0.999, 0.001, 0.1, 1.0, 1e-8)
    bad_calls = [
        (dict(rule=-1), "rule"), (dict(rule=10_000), "rule"),
        (dict(s1=None), "s1"),                       # Adam needs v
        (dict(s2=np.zeros(10)), "s2"),               # and takes no third slot
        (dict(s0=np.zeros(9)), "s0"),
        (dict(ema=np.zeros(11)), "ema"),
        (dict(hyper=hyper[:-1]), "hyper"),
        (dict(segments=np.array([0, 5], np.int64), seg_scales=np.ones(1)), "segments"),
        (dict(segments=np.array([0, 7, 3, 10], np.int64), seg_scales=np.ones(3)), "segments"),
        (dict(segments=np.array([0, 10], np.int32), seg_scales=np.ones(1)), "segments"),
        (dict(segments=np.array([0, 4, 10], np.int64), seg_scales=np.ones(1)), "seg_scales"),
        (dict(seg_scales=np.ones(1)), "seg_scales"),
    ]
    for change, name in bad_calls:
        args = dict(rule=adam, params=p, grads=g, s0=m, s1=v, s2=None, ema=None, hyper=hyper)
        args.update(change)
        with pytest.raises(ValueError, match=name):
            ops.optimizer_update(**args)
        assert (p == 1).all() and not m.any() and not v.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_threads_give_bit_identical_results(monkeypatch, name, dtype):
    import fastnn._threads as threads_mod
    rng = np.random.default_rng(7)
    offsets = np.concatenate([[0], np.cumsum(SEG_SIZES)])
    p0 = rng.standard_normal(int(offsets[-1])).astype(dtype)
    grads = [rng.standard_normal(p0.size).astype(dtype) for _ in range(3)]
    config = {**BASE[name], "clipnorm": 5.0, "use_ema": True, "weight_decay": 0.01}
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(threads_mod, "_num_threads", threads)
        opt = getattr(optimizers, name)(**config)
        p = p0.copy()
        opt.build([p], segments=[offsets])
        for g in grads:
            opt._apply_flat([g], [p])
        results.append((p, opt.get_state()))
    assert same_bits(results[0][0], results[1][0])
    for k, a in results[0][1].items():
        assert same_bits(a, results[1][1][k]), k


@pytest.mark.parametrize("name", ["RMSprop", "Lion", "Adagrad", "Ftrl"])
def test_update_loop_flushes_subnormal_state(name):
    """Every rule runs under flush-to-zero (a decaying slot reaching the subnormal range
    must not slow the pass ~100x); the caller's FPU mode is restored."""
    tiny = np.finfo(np.float32).tiny
    opt = getattr(optimizers, name)(learning_rate=1e-3, **({"initial_accumulator_value": 0.0}
                                                           if name in ("Adagrad", "Ftrl") else {}))
    p = np.ones(40_000, np.float32)
    opt.apply(np.zeros_like(p), p)
    slot = next(iter(opt._state[0].values()))
    slot[:] = tiny / 4  # subnormal
    opt.apply(np.zeros_like(p), p)
    if name in ("RMSprop", "Lion"):  # a decaying slot: rho * v, beta_2 * m
        assert not slot.any(), "subnormal state should be flushed to zero"
    assert np.float32(tiny) / np.float32(4) > 0


def test_steps_do_not_allocate():
    """A model's step (clipnorm with segments, EMA, weight decay, schedule) allocates no
    buffer: tracemalloc sees far less than one arena (400 kB) over 50 steps."""
    n = 100_000
    rng = np.random.default_rng(8)
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    opt = optimizers.Nadam(learning_rate=Halving(1e-3, 10), clipnorm=1.0, use_ema=True, weight_decay=0.01,
                           ema_overwrite_frequency=5)
    opt.build([p], segments=[[0, 40_000, 40_007, n]])
    for _ in range(3):
        opt._apply_flat([g], [p])
    opt2 = optimizers.Adam(global_clipnorm=1.0)
    opt2.build([p])
    opt2._apply_flat([g], [p])
    tracemalloc.start()
    try:
        for _ in range(50):
            opt._apply_flat([g], [p])
            opt2._apply_flat([g], [p])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000, f"{peak} bytes allocated during steps"


# --- learning-rate schedules ----------------------------------------------------------------

class Halving:
    """A schedule: lr0 / 2 ** (step // every)."""

    def __init__(self, initial, every):
        self.initial, self.every = initial, every

    def __call__(self, step):
        return self.initial / 2 ** (step // self.every)

    def get_config(self):
        return {"initial": self.initial, "every": self.every}


class BadSchedule:
    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return self.value if step >= 2 else 0.01

    def get_config(self):
        return {}


@pytest.mark.parametrize("name", NAMES)
def test_schedule_as_learning_rate_matches_reference(name):
    lr0 = BASE[name]["learning_rate"]
    config = {**BASE[name], "learning_rate": Halving(lr0, 4), "weight_decay": 0.1, "use_ema": True}
    params, grads = make_problem(9)
    opt, got = run_fastnn(name, config, params, grads)
    ref, want = run_reference(name, config, params, grads)
    for g, w, p in zip(got, want, params):
        assert_close64(g, w, p)
    # The schedule really changed the result (vs its first value held constant).
    _, const = run_fastnn(name, {**config, "learning_rate": lr0}, params, grads)
    assert not np.allclose(const[0], got[0])


def test_schedule_step_semantics_and_learning_rate_property():
    opt = optimizers.SGD(learning_rate=Halving(1.0, 2))  # powers of 2: exact sums below
    assert opt.current_learning_rate == 1.0 and opt.learning_rate == 1.0  # step 0: the first update
    w = np.zeros(1)
    seen = []
    for _ in range(5):
        seen.append(opt.current_learning_rate)
        before = w[0]
        opt.apply(np.ones(1), w)
        assert before - w[0] == seen[-1]  # the update used the rate reported before it
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert isinstance(opt.learning_rate_schedule, Halving)
    opt.learning_rate = 0.0625  # ReduceLROnPlateau sets a float: it replaces the schedule
    assert opt.learning_rate == 0.0625 and opt.learning_rate_schedule is None
    assert opt.get_config()["learning_rate"] == 0.0625
    opt.apply(np.ones(1), w)
    np.testing.assert_array_equal(w, [-(1.0 + 1.0 + 0.5 + 0.5 + 0.25 + 0.0625)])
    opt.learning_rate = Halving(1.0, 1)
    assert opt.current_learning_rate == 1.0 / 2 ** 6
    for bad in (-0.1, 0.0, float("nan"), "fast", None, lambda step: 0.1):
        with pytest.raises((TypeError, ValueError), match="learning_rate"):
            opt.learning_rate = bad
    assert opt.current_learning_rate == 1.0 / 2 ** 6


@pytest.mark.parametrize("value", [-1e-3, float("nan"), float("inf"), "x"])
def test_bad_schedule_value_is_refused_before_any_change(value):
    opt = optimizers.Adam(learning_rate=BadSchedule(value), use_ema=True)
    w = np.ones(4)
    opt.apply(np.ones(4), w)
    opt.apply(np.ones(4), w)
    state, before = opt.get_state(), w.copy()
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        opt.apply(np.ones(4), w)
    np.testing.assert_array_equal(w, before)
    assert opt.iterations == 2
    for k, a in opt.get_state().items():
        np.testing.assert_array_equal(a, state[k])


def test_ftrl_refuses_a_schedule_that_reaches_zero():
    opt = optimizers.Ftrl(learning_rate=BadSchedule(0.0))
    w = np.ones(2)
    opt.apply(np.ones(2), w)
    opt.apply(np.ones(2), w)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.apply(np.ones(2), w)
    optimizers.Adam(learning_rate=BadSchedule(0.0)).apply(np.ones(2), np.ones(2))  # 0 is fine elsewhere


def test_schedule_config_round_trip_with_fastnn_schedules():
    schedules = pytest.importorskip("fastnn.schedules", reason="fastnn.schedules is not written yet")
    sched = schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    opt = optimizers.Adam(learning_rate=sched)
    cfg = opt.get_config()
    assert cfg["learning_rate"]["class_name"] == "ExponentialDecay"
    clone = optimizers.Adam.from_config(cfg)
    assert type(clone.learning_rate_schedule) is type(sched)
    assert clone.get_config() == cfg
    for step in (0, 1, 5, 9):
        assert clone._lr_at(step) == pytest.approx(sched(step), rel=1e-15)


def test_local_schedule_serializes_as_class_name_and_config():
    cfg = optimizers.SGD(learning_rate=Halving(0.2, 3)).get_config()
    assert cfg["learning_rate"] == {"class_name": "Halving", "config": {"initial": 0.2, "every": 3}}


# --- state: exact resume --------------------------------------------------------------------

RESUME = {**{n: {} for n in NAMES},
          "Adam": dict(use_ema=True, clipnorm=1.0, weight_decay=0.01),
          "Nadam": dict(use_ema=True, ema_overwrite_frequency=4, ema_warmup=True),
          "SGD": dict(global_clipnorm=1.0, use_ema=True),
          "Lion": dict(clipvalue=0.1, weight_decay=0.1)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_resume_from_state_is_bit_identical(name, dtype):
    config = {**BASE[name], **RESUME[name]}
    config["learning_rate"] = Halving(config["learning_rate"], 7)
    params, grads = make_problem(10, dtype=dtype)
    straight, want = run_fastnn(name, config, params, grads)

    first = getattr(optimizers, name)(**config)
    vs = [p.copy() for p in params]
    for g in grads[:10]:
        first.apply(g, vs)
    state = first.get_state()
    assert state["iterations"].dtype == np.int64 and state["iterations"] == 10
    # The state survives a pickle-free round trip through an .npz file.
    import io
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    second = getattr(optimizers, name).from_config({**first.get_config(), "learning_rate": Halving(
        BASE[name]["learning_rate"], 7)})
    second.build(vs)
    second.set_state(loaded)
    assert second.iterations == 10
    for g in grads[10:]:
        second.apply(g, vs)
    for a, b in zip(vs, want):
        assert same_bits(a, b)
    for k, a in straight.get_state().items():
        assert same_bits(a, second.get_state()[k]), k


def test_state_contents():
    opt = optimizers.Nadam(use_ema=True)
    ws = [np.zeros((2, 3)), np.zeros(4, np.float32)]
    opt.apply([np.ones((2, 3)), np.ones(4, np.float32)], ws)
    state = opt.get_state()
    assert sorted(state) == ["ema.0", "ema.1", "iterations", "m.0", "m.1", "mu_product", "v.0", "v.1"]
    assert state["m.1"].dtype == np.float32 and state["m.0"].shape == (6,)
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    assert state["mu_product"].dtype == np.float64 and state["mu_product"] == pytest.approx(mu1, rel=1e-15)
    # get_state returns copies: stepping does not change a saved state.
    saved = state["m.0"].copy()
    opt.apply([np.ones((2, 3)), np.ones(4, np.float32)], ws)
    np.testing.assert_array_equal(state["m.0"], saved)


def bad_states(state):
    """(description, bad state, exception, text in message)"""
    s = lambda **kw: {**state, **kw}
    drop = {k: v for k, v in state.items() if k != "v.0"}
    return [
        ("missing", drop, ValueError, "missing ['v.0']"),
        ("unexpected", s(extra=np.zeros(1)), ValueError, "unexpected ['extra']"),
        ("shape", s(**{"m.0": np.zeros(5)}), ValueError, "state['m.0']"),
        ("dtype", s(**{"m.0": state["m.0"].astype(np.float32)}), ValueError, "float32"),
        ("list", s(**{"m.0": list(state["m.0"])}), TypeError, "state['m.0']"),
        ("iter_negative", s(iterations=np.array(-1, np.int64)), ValueError, "iterations"),
        ("iter_dtype", s(iterations=np.array(3.0)), ValueError, "iterations"),
        ("iter_shape", s(iterations=np.array([3], np.int64)), ValueError, "iterations"),
        ("object", s(**{"m.0": state["m.0"].astype(object)}), ValueError, "object"),
        ("scalar_nan", s(mu_product=np.array(np.nan)), ValueError, "mu_product"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_bad_state_is_refused_before_any_change(case):
    opt = optimizers.Nadam(use_ema=True)
    w = np.ones(6)
    for _ in range(3):
        opt.apply(np.full(6, 0.5), w)
    good = opt.get_state()
    other = {k: np.array(a + 1 if a.dtype.kind == "f" else a + 5, a.dtype) for k, a in good.items()}
    other["mu_product"] = good["mu_product"] * 0.5
    desc, bad, exc, text = bad_states(other)[case]
    with pytest.raises(exc) as info:
        opt.set_state(bad)
    assert text in str(info.value), desc
    for k, a in opt.get_state().items():
        np.testing.assert_array_equal(a, good[k], err_msg=f"{k} changed by a refused state ({desc})")
    opt.set_state(other)  # the valid version is accepted
    assert opt.iterations == 8


def test_set_state_needs_a_built_optimizer_and_a_mapping():
    with pytest.raises(ValueError, match="build"):
        optimizers.Adam().set_state({"iterations": np.array(0, np.int64)})
    with pytest.raises(ValueError, match="not built"):
        optimizers.Adam().get_state()
    opt = optimizers.Adam()
    opt.build([np.zeros(3)])
    with pytest.raises(TypeError, match="state"):
        opt.set_state([("iterations", np.array(0))])


# --- config -------------------------------------------------------------------------------

NON_DEFAULT = {
    "SGD": dict(learning_rate=0.3, momentum=0.5, nesterov=True),
    "Adagrad": dict(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6),
    "RMSprop": dict(learning_rate=0.02, rho=0.8, momentum=0.1, epsilon=1e-5, centered=True),
    "Adadelta": dict(learning_rate=0.7, rho=0.5, epsilon=1e-4),
    "Adam": dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-4, amsgrad=True),
    "AdamW": dict(learning_rate=0.02, weight_decay=0.3, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    "Adamax": dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    "Nadam": dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    "RAdam": dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    "Lion": dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9),
    "Ftrl": dict(learning_rate=0.02, learning_rate_power=-1.0, initial_accumulator_value=0.3,
                 l1_regularization_strength=0.1, l2_regularization_strength=0.2,
                 l2_shrinkage_regularization_strength=0.3, beta=0.4),
}
COMMON = dict(weight_decay=0.01, clipvalue=0.5, use_ema=True, ema_momentum=0.9,
              ema_overwrite_frequency=5, ema_warmup=True, name="mine")


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    config = {**COMMON, **NON_DEFAULT[name]}
    opt = getattr(optimizers, name)(**config)
    cfg = opt.get_config()
    for k, v in config.items():
        assert cfg[k] == v, k
    clone = type(opt).from_config(cfg)
    assert type(clone) is type(opt) and clone.get_config() == cfg and clone.iterations == 0
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == cfg
    assert repr(opt).startswith(f"{name}(")
    params, grads = make_problem(11, steps=6)
    _, a = run_fastnn(name, None, params, grads, opt=opt)
    _, b = run_fastnn(name, None, params, grads, opt=clone)
    for x, y in zip(a, b):
        assert same_bits(x, y)


def test_get_by_name_and_defaults():
    for name in NAMES:
        assert type(optimizers.get(name.lower())) is getattr(optimizers, name)
    cfg = optimizers.AdamW().get_config()
    assert cfg["weight_decay"] == 0.004 and cfg["learning_rate"] == 0.001
    assert optimizers.Adam().get_config()["weight_decay"] is None
    cfg = optimizers.Ftrl().get_config()
    assert (cfg["learning_rate_power"], cfg["initial_accumulator_value"]) == (-0.5, 0.1)
    assert optimizers.Lion().get_config()["beta_2"] == 0.99
    with pytest.raises(ValueError, match="config"):
        optimizers.deserialize({"class_name": "Adabelief", "config": {}})


# --- bad arguments ----------------------------------------------------------------------------

BAD_ARGS = [
    ("Adam", dict(learning_rate=-0.1), "learning_rate", "-0.1"),
    ("SGD", dict(learning_rate=0.0), "learning_rate", "0.0"),
    ("Lion", dict(learning_rate=float("nan")), "learning_rate", "nan"),
    ("Adam", dict(beta_1=1.0), "beta_1", "1.0"),
    ("Adamax", dict(beta_2=-0.1), "beta_2", "-0.1"),
    ("Nadam", dict(beta_1=1.5), "beta_1", "1.5"),
    ("RAdam", dict(beta_2=1.0), "beta_2", "1.0"),
    ("Lion", dict(beta_1=1.0), "beta_1", "1.0"),
    ("RMSprop", dict(rho=1.0), "rho", "1.0"),
    ("RMSprop", dict(rho=-0.5), "rho", "-0.5"),
    ("Adadelta", dict(rho=1.5), "rho", "1.5"),
    ("RMSprop", dict(momentum=-0.1), "momentum", "-0.1"),
    ("Adam", dict(epsilon=-1e-8), "epsilon", "-1e-08"),
    ("Adagrad", dict(epsilon=0.0), "epsilon", "0.0"),
    ("RMSprop", dict(epsilon=-1.0), "epsilon", "-1.0"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), "initial_accumulator_value", "-0.1"),
    ("Ftrl", dict(learning_rate_power=0.5), "learning_rate_power", "0.5"),
    ("Ftrl", dict(initial_accumulator_value=-1.0), "initial_accumulator_value", "-1.0"),
    ("Ftrl", dict(l1_regularization_strength=-1.0), "l1_regularization_strength", "-1.0"),
    ("Ftrl", dict(l2_regularization_strength=-1.0), "l2_regularization_strength", "-1.0"),
    ("Ftrl", dict(l2_shrinkage_regularization_strength=-1.0), "l2_shrinkage_regularization_strength", "-1.0"),
    ("Ftrl", dict(beta=-1.0), "beta", "-1.0"),
    ("SGD", dict(momentum=0.0, nesterov=True), "nesterov", "momentum=0"),
    ("Adam", dict(clipnorm=1.0, global_clipnorm=1.0), "clipnorm", "global_clipnorm=1.0"),
    ("Adam", dict(clipvalue=1.0, clipnorm=2.0), "clipnorm", "clipvalue=1.0"),
    ("Adam", dict(clipnorm=0.0), "clipnorm", "0.0"),
    ("Adam", dict(clipvalue=-1.0), "clipvalue", "-1.0"),
    ("Adam", dict(global_clipnorm=float("inf")), "global_clipnorm", "inf"),
    ("Adam", dict(weight_decay=-0.1), "weight_decay", "-0.1"),
    ("AdamW", dict(weight_decay=None), "weight_decay", "None"),
    ("Adam", dict(use_ema=True, ema_momentum=1.5), "ema_momentum", "1.5"),
    ("Adam", dict(ema_momentum=-0.5), "ema_momentum", "-0.5"),
    ("Adam", dict(use_ema=True, ema_overwrite_frequency=0), "ema_overwrite_frequency", "0"),
    ("Adam", dict(ema_overwrite_frequency=2.5), "ema_overwrite_frequency", "2.5"),
]


@pytest.mark.parametrize("name, kwargs, arg, shown", BAD_ARGS,
                         ids=[f"{n}-{a}-{s}" for n, _, a, s in BAD_ARGS])
def test_bad_arguments_raise_and_echo_the_value(name, kwargs, arg, shown):
    with pytest.raises(ValueError, match=f"^{re.escape(arg)}") as info:
        getattr(optimizers, name)(**kwargs)
    assert shown in str(info.value)


@pytest.mark.parametrize("name, kwargs, arg", [
    ("Adam", dict(amsgrad="yes"), "amsgrad"), ("RMSprop", dict(centered=1), "centered"),
    ("Adam", dict(use_ema="true"), "use_ema"), ("SGD", dict(momentum="0.9"), "momentum"),
    ("Adam", dict(learning_rate=[0.1]), "learning_rate"), ("Adam", dict(name=3), "name"),
    ("Lion", dict(learning_rate=lambda step: 0.1), "learning_rate"),
])
def test_bad_argument_types_raise(name, kwargs, arg):
    with pytest.raises(TypeError, match=f"^{arg}"):
        getattr(optimizers, name)(**kwargs)


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="decay"):
        optimizers.Adam(decay=0.1)


# --- float32 --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_is_kept_and_close_to_float64_reference(name):
    config = {**BASE[name], **EXTRAS["all"]}
    params, grads = make_problem(12, dtype=np.float32, scales=[1.0, 1e-2, 1e-3])
    opt, got = run_fastnn(name, config, params, grads)
    _, want = run_reference(name, config, params, grads)
    for g, w, p in zip(got, want, params):
        assert g.dtype == np.float32
        # float32 rounds p and the slots each step (~6e-8 relative); Lion's sign can flip
        # where the interpolated momentum is within round-off of 0: allow 3 elements.
        err = np.abs(g.astype(np.float64) - w)
        moved = np.max(np.abs(w - p))
        bad = err > 1e-4 * moved + 1e-6 * np.abs(w)
        assert bad.sum() <= (3 if name == "Lion" else 0), f"max error {err.max() / moved:.2e} of the move"
    for arr in opt.get_state().values():
        assert arr.dtype in (np.float32, np.int64, np.float64)
        if arr.ndim:
            assert arr.dtype == np.float32


# --- the model contract ------------------------------------------------------------------------

TRAIN_LR = {"SGD": 0.1, "Adagrad": 0.1, "RMSprop": 0.01, "Adadelta": 1.0, "Adam": 0.01, "AdamW": 0.01,
            "Adamax": 0.02, "Nadam": 0.01, "RAdam": 0.01, "Lion": 0.003, "Ftrl": 0.5}


def blobs(n=240, seed=13):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, 5)) * 2
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.standard_normal((n, 5))).astype(np.float32), y


@pytest.mark.parametrize("extras", [{}, dict(clipnorm=1.0, use_ema=True, weight_decay=1e-3)],
                         ids=["plain", "extras"])
@pytest.mark.parametrize("name", NAMES)
def test_sequential_trains_with_each_optimizer(name, extras):
    X, y = blobs()
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.Dense(3)], seed=0)
    opt = getattr(optimizers, name)(learning_rate=TRAIN_LR[name], **extras)
    model.compile(optimizer=opt, loss="softmax_cross_entropy")
    history = model.fit(X, y, epochs=6, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert opt.iterations == 6 * 8
    if extras.get("use_ema"):
        arena = model.param_arena
        weights = arena.copy()
        ema = opt.get_state()["ema.0"]
        with opt.ema_swapped([arena]):
            np.testing.assert_array_equal(arena, ema)
            assert model.evaluate(X, y, verbose=0) is not None
        np.testing.assert_array_equal(arena, weights)


def test_model_arena_with_segments_clips_per_layer():
    """The lead's wiring: build([param_arena], segments=[layer offsets]) before fit."""
    X, y = blobs(seed=14)
    model = fastnn.Sequential([layers.Dense(16, activation="relu"), layers.Dense(3)], seed=0,
                              dtype="float64")
    opt = optimizers.SGD(learning_rate=0.1, clipnorm=0.05)
    model.compile(optimizer=opt, loss="softmax_cross_entropy")
    model.build((None, 5))
    arena = model.param_arena
    starts = [(v.__array_interface__["data"][0] - arena.__array_interface__["data"][0]) // arena.itemsize
              for v in model.trainable_weights]
    opt.build([arena], segments=[starts + [arena.size]])
    w0 = [w.copy() for w in model.get_weights()]
    _, grads = model.compute_gradients(X[:32], y[:32])
    want = [w - 0.1 * g * min(1.0, 0.05 / np.linalg.norm(g)) for w, g in zip(w0, grads)]
    model.train_on_batch(X[:32], y[:32])
    for got, w in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)
