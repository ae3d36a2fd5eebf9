"""Initializers against the textbook formulas (tests/reference_params.py).

Statistics are checked on large draws (200k values) with k = 6 sigma bounds
derived from the sample size (reference_params.sample_tolerances): a formula
off by a few percent fails, a correct one fails with probability ~1e-9 (the
seeds are fixed anyway, so the tests are deterministic). Distribution shapes
are checked with a Kolmogorov-Smirnov test against scipy.stats, bounds exactly.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import reference_params as ref
from fastnn import initializers
from fastnn.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform,
                                 Initializer, LecunNormal, LecunUniform, Ones, Orthogonal,
                                 RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
                                 Zeros)

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy.stats is needed for the KS tests")

BIG = (400, 500)  # 200k draws
N_BIG = BIG[0] * BIG[1]
DTYPES = [np.float64, np.float32]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def check_sample(w: np.ndarray, kind: str, mean: float, scale: float) -> None:
    """Mean, variance, bounds and KS distance of w against the named distribution."""
    x = np.asarray(w, dtype=np.float64).ravel()
    n = x.size
    tol_mean, tol_var = ref.sample_tolerances(kind, mean, scale, n)
    assert abs(x.mean() - mean) <= tol_mean, (x.mean(), mean, tol_mean)
    assert abs(x.var() - ref.expected_variance(kind, scale)) <= tol_var, (x.var(), tol_var)
    if kind == "uniform":
        dist = scipy_stats.uniform(mean - scale, 2 * scale)
        ulp = 4 * np.finfo(w.dtype).eps * scale  # the float32 cast may round onto the bound
        assert x.min() >= mean - scale - ulp and x.max() <= mean + scale + ulp
    elif kind == "truncated":
        dist = scipy_stats.truncnorm(-2, 2, loc=mean, scale=scale)
        ulp = 4 * np.finfo(w.dtype).eps * (abs(mean) + 2 * scale)
        assert np.abs(x - mean).max() <= 2 * scale + ulp  # truncated at 2 sigma...
        # ...and not narrower: the density near 2 sigma (0.057 / sigma) puts ~20 of
        # 200k draws within 0.1% of the bound, so a sigma 0.1% too small fails.
        assert np.abs(x - mean).max() >= 2 * scale * 0.999
    else:
        dist = scipy_stats.norm(mean, scale)
        # Untruncated: 4.55% of the draws lie beyond 2 std (binomial 6-sigma band).
        frac = np.mean(np.abs(x - mean) > 2 * scale)
        p = 2 * scipy_stats.norm.sf(2)
        assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)
    assert scipy_stats.kstest(x, dist.cdf).pvalue > 1e-6


# -- each initializer's distribution --------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init, kind, mean, scale", [
    (RandomNormal(), "normal", 0.0, 0.05),
    (RandomNormal(mean=1.5, stddev=0.3), "normal", 1.5, 0.3),
    (RandomUniform(), "uniform", 0.0, 0.05),
    (RandomUniform(minval=1.0, maxval=4.0), "uniform", 2.5, 1.5),
    (TruncatedNormal(), "truncated", 0.0, 0.05),
    (TruncatedNormal(mean=-2.0, stddev=0.5), "truncated", -2.0, 0.5),
])
def test_random_distributions(init, kind, mean, scale, dtype):
    w = init(BIG, 7, 9, rng(1), dtype)
    assert w.shape == BIG and w.dtype == dtype
    check_sample(w, kind, mean, scale)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal"])
@pytest.mark.parametrize("fan_in, fan_out", [(1, 1), (784, 256), (3, 1000), (2048, 10)])
def test_scaling_formulas(name, fan_in, fan_out):
    # The fans are passed separately from the shape, so any (fan_in, fan_out)
    # can be checked on a large sample.
    w = initializers.get(name)(BIG, fan_in, fan_out, rng(2), np.float64)
    kind, scale = ref.scaling_spec(name, fan_in, fan_out)
    check_sample(w, kind, 0.0, scale)


@pytest.mark.parametrize("scale", [0.5, 3.0])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["uniform", "truncated_normal", "untruncated_normal"])
def test_variance_scaling(scale, mode, distribution):
    w = VarianceScaling(scale, mode, distribution)(BIG, 30, 120, rng(3), np.float64)
    kind, s = ref.variance_scaling_spec(scale, mode, distribution, 30, 120)
    check_sample(w, kind, 0.0, s)


def test_variance_scaling_draws_exact_uniform_limit():
    # Uniform: the draw is one rng.uniform(-limit, limit, shape) call, so it is
    # reproduced exactly from the formula (to the rounding of the limit).
    for fan_in, fan_out in [(5, 7), (784, 256), (1, 1), (3, 0)]:
        for init, limit in [(GlorotUniform(), math.sqrt(6 / (fan_in + fan_out))),
                            (HeUniform(), math.sqrt(6 / max(1, fan_in))),
                            (LecunUniform(), math.sqrt(3 / max(1, fan_in))),
                            (VarianceScaling(2.5, "fan_out", "uniform"),
                             math.sqrt(7.5 / max(1, fan_out)))]:
            got = init((6, 4), fan_in, fan_out, rng(9), np.float64)
            np.testing.assert_allclose(got, rng(9).uniform(-limit, limit, (6, 4)), rtol=1e-15)


def test_truncation_correction_constant():
    # Keras's 0.87962566103423978 is the std of the unit normal truncated at 2.
    assert math.sqrt(ref.truncated_moments(2.0)[0]) == pytest.approx(
        initializers.TRUNCATED_STD, rel=1e-15)
    assert scipy_stats.truncnorm(-2, 2).std() == pytest.approx(initializers.TRUNCATED_STD, rel=1e-14)


def test_glorot_normal_std_after_truncation():
    # VarianceScaling's target is the std of the *truncated* draw: 2 / (in + out).
    w = GlorotNormal()(BIG, 100, 300, rng(4), np.float64)
    tol = ref.sample_tolerances("truncated", 0, 1, N_BIG)[1]
    assert abs(w.var() / (2 / 400) - 1) <= tol / ref.truncated_moments()[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_constants(dtype):
    assert np.array_equal(Zeros()((3, 4), dtype=dtype), np.zeros((3, 4)))
    assert np.array_equal(Ones()((5,), dtype=dtype), np.ones(5))
    c = Constant(2.5)((2, 3), 2, 3, rng(), dtype)
    assert c.dtype == dtype and np.array_equal(c, np.full((2, 3), 2.5))
    assert np.array_equal(Constant()((2,), dtype=dtype), [0, 0])
    assert initializers.get("zeros")((2, 2), 2, 2, rng(), dtype).dtype == dtype


# -- orthogonal -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("shape", [(64, 64), (200, 30), (30, 200), (1, 9), (9, 1), (4, 5, 6)])
@pytest.mark.parametrize("gain", [1.0, 0.5, -3.0])
def test_orthogonal(shape, gain, dtype, tol):
    w = Orthogonal(gain=gain)(shape, None, None, rng(5), dtype)
    assert w.shape == shape and w.dtype == dtype
    m = w.reshape(-1, shape[-1]).astype(np.float64)
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T  # the orthonormal side
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=tol * gain ** 2)


def test_orthogonal_sign_fix():
    # Keras/torch: Q from A = QR with R's diagonal made positive, i.e. Q^T A has a
    # positive diagonal (the generator draws A first: rebuild it from the seed).
    for rows, cols in [(50, 20), (20, 50), (30, 30)]:
        w = Orthogonal()((rows, cols), rng=rng(6), dtype=np.float64)
        a = rng(6).standard_normal((max(rows, cols), min(rows, cols)))
        q = w if rows >= cols else w.T
        r = q.T @ a
        assert (np.diagonal(r) > 0).all()
        np.testing.assert_allclose(np.triu(r), r, atol=1e-12)  # and R = Q^T A is triangular


def test_orthogonal_entries_have_variance_1_over_n():
    # A Haar-random orthogonal n x n matrix has entries of variance 1 / n.
    n = 300
    w = Orthogonal()((n, n), rng=rng(7), dtype=np.float64)
    assert abs(w.var() * n - 1) <= 6 * math.sqrt(2 / (n * n))


def test_orthogonal_vs_torch_statistics():
    torch = pytest.importorskip("torch", reason="torch (optional test peer) is not installed")
    t = torch.empty(120, 40, dtype=torch.float64)
    torch.nn.init.orthogonal_(t, gain=2.0, generator=torch.Generator().manual_seed(0))
    w = Orthogonal(gain=2.0)((120, 40), rng=rng(0), dtype=np.float64)
    np.testing.assert_allclose(w.T @ w, t.numpy().T @ t.numpy(), atol=1e-12)


# -- seeds ----------------------------------------------------------------------------------

SEEDABLE = [RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, GlorotUniform,
            GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal]


@pytest.mark.parametrize("cls", SEEDABLE)
def test_explicit_seed_is_reproducible_and_ignores_the_model_rng(cls):
    init = cls(seed=42)
    model_rng = rng(1)
    state = model_rng.bit_generator.state
    a = init((20, 30), 20, 30, model_rng, np.float32)
    assert model_rng.bit_generator.state == state  # the model's generator is not used
    b = init((20, 30), 20, 30, rng(999), np.float32)
    c = cls(seed=42)((20, 30), 20, 30, None, np.float32)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert not np.array_equal(a, cls(seed=43)((20, 30), 20, 30, None, np.float32))


@pytest.mark.parametrize("cls", SEEDABLE)
def test_unseeded_follows_the_model_rng(cls):
    init = cls()
    a = init((20, 30), 20, 30, rng(1), np.float64)
    b = init((20, 30), 20, 30, rng(1), np.float64)
    c = init((20, 30), 20, 30, rng(2), np.float64)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Successive calls on one generator continue its stream (layers differ).
    g = rng(1)
    assert not np.array_equal(init((20, 30), 20, 30, g, np.float64),
                              init((20, 30), 20, 30, g, np.float64))


def test_seeded_matches_default_rng():
    got = RandomUniform(-1.0, 2.0, seed=7)((10,), dtype=np.float64)
    np.testing.assert_array_equal(got, np.random.default_rng(7).uniform(-1.0, 2.0, (10,)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_glorot_uniform_draw_order_is_kept(dtype):
    # The Dense default: exactly one rng.uniform(-limit, limit, shape) call, cast.
    g1, g2 = rng(11), rng(11)
    got = initializers.get("glorot_uniform")((784, 256), 784, 256, g1, dtype)
    limit = np.sqrt(6.0 / (784 + 256))
    expected = g2.uniform(-limit, limit, (784, 256)).astype(dtype)
    assert np.array_equal(got, expected)
    assert g1.bit_generator.state == g2.bit_generator.state


# -- names, configs -------------------------------------------------------------------------

ALL = [Zeros(), Ones(), Constant(3.0), RandomNormal(0.1, 0.2, seed=3), RandomUniform(-1, 1),
       TruncatedNormal(stddev=0.3, seed=0), VarianceScaling(2.0, "fan_out", "uniform", seed=5),
       GlorotUniform(), GlorotNormal(seed=1), HeUniform(), HeNormal(), LecunUniform(seed=2),
       LecunNormal(), Orthogonal(gain=2.0, seed=4)]


@pytest.mark.parametrize("init", ALL, ids=lambda i: type(i).__name__)
def test_config_round_trip(init):
    config = init.get_config()
    json.dumps(config)  # plain values
    clone = type(init).from_config(config)
    assert clone == init and clone is not init
    ser = initializers.serialize(init)
    assert ser["class_name"] == type(init).__name__
    assert initializers.get(ser) == init
    assert initializers.get(json.loads(json.dumps(ser))) == init
    assert initializers.get(init) is init
    # Same config -> same numbers.
    shape = (6, 5)
    assert np.array_equal(clone(shape, 6, 5, rng(0), np.float64), init(shape, 6, 5, rng(0), np.float64))


def test_keras_configs():
    assert GlorotUniform(seed=3).get_config() == {"seed": 3}
    assert VarianceScaling().get_config() == {"scale": 1.0, "mode": "fan_in",
                                              "distribution": "truncated_normal", "seed": None}
    assert RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert Constant().get_config() == {"value": 0.0}
    assert VarianceScaling(distribution="Normal").distribution == "truncated_normal"
    # The named cases are the documented VarianceScaling arguments.
    for init, args in [(GlorotUniform(), (1.0, "fan_avg", "uniform")),
                       (GlorotNormal(), (1.0, "fan_avg", "truncated_normal")),
                       (HeUniform(), (2.0, "fan_in", "uniform")),
                       (HeNormal(), (2.0, "fan_in", "truncated_normal")),
                       (LecunUniform(), (1.0, "fan_in", "uniform")),
                       (LecunNormal(), (1.0, "fan_in", "truncated_normal"))]:
        assert (init.scale, init.mode, init.distribution) == args


@pytest.mark.parametrize("name, cls", [
    ("zeros", Zeros), ("ones", Ones), ("constant", Constant), ("random_normal", RandomNormal),
    ("random_uniform", RandomUniform), ("truncated_normal", TruncatedNormal),
    ("glorot_uniform", GlorotUniform), ("glorot_normal", GlorotNormal),
    ("he_uniform", HeUniform), ("he_normal", HeNormal), ("lecun_uniform", LecunUniform),
    ("lecun_normal", LecunNormal), ("orthogonal", Orthogonal),
    ("variance_scaling", VarianceScaling), ("GlorotUniform", GlorotUniform),
    ("Orthogonal", Orthogonal), ("zero", Zeros), ("one", Ones), ("normal", RandomNormal),
    ("uniform", RandomUniform),
])
def test_get_by_name(name, cls):
    init = initializers.get(name)
    assert type(init) is cls and init == cls()
    assert type(initializers.get(cls)) is cls


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("make, arg, shown", [
    (lambda: RandomNormal(stddev=0), "stddev", "0"),
    (lambda: RandomNormal(stddev=-1.0), "stddev", "-1.0"),
    (lambda: RandomNormal(stddev=float("nan")), "stddev", "nan"),
    (lambda: RandomNormal(mean=float("inf")), "mean", "inf"),
    (lambda: RandomNormal(mean="0"), "mean", "'0'"),
    (lambda: TruncatedNormal(stddev="big"), "stddev", "'big'"),
    (lambda: RandomUniform(minval=1.0, maxval=1.0), "maxval", "1.0"),
    (lambda: RandomUniform(minval=2.0, maxval=1.0), "maxval", "1.0"),
    (lambda: RandomUniform(maxval=None), "maxval", "None"),
    (lambda: VarianceScaling(scale=0.0), "scale", "0.0"),
    (lambda: VarianceScaling(scale=-2), "scale", "-2"),
    (lambda: VarianceScaling(mode="fan_sum"), "mode", "'fan_sum'"),
    (lambda: VarianceScaling(distribution="gamma"), "distribution", "'gamma'"),
    (lambda: VarianceScaling(distribution=3), "distribution", "3"),
    (lambda: Orthogonal(gain=float("inf")), "gain", "inf"),
    (lambda: Orthogonal(gain=float("nan")), "gain", "nan"),
    (lambda: Constant(value=float("nan")), "value", "nan"),
    (lambda: Constant(value=[1, 2]), "value", "[1, 2]"),
    (lambda: GlorotUniform(seed=-1), "seed", "-1"),
    (lambda: GlorotUniform(seed=1.5), "seed", "1.5"),
    (lambda: HeNormal(seed=True), "seed", "True"),
])
def test_constructors_validate(make, arg, shown):
    with pytest.raises(ValueError, match=rf"^{arg}: expected") as info:
        make()
    assert shown in str(info.value)


@pytest.mark.parametrize("call, arg", [
    (lambda: GlorotUniform()((3, -1), 3, 1, rng(), np.float32), "shape"),
    (lambda: GlorotUniform()("3x4", 3, 4, rng(), np.float32), "shape"),
    (lambda: GlorotUniform()((3, 4), -1, 4, rng(), np.float32), "fan_in"),
    (lambda: GlorotUniform()((3, 4), 3, 4.5, rng(), np.float32), "fan_out"),
    (lambda: GlorotUniform()((3, 4), 3, 4, rng(), np.int32), "dtype"),
    (lambda: GlorotUniform()((3, 4), 3, 4, np.random.RandomState(0), np.float32), "rng"),
    (lambda: Orthogonal()((5,), 5, 5, rng(), np.float32), "shape"),
])
def test_calls_validate(call, arg):
    with pytest.raises(ValueError, match=rf"^{arg}: "):
        call()


@pytest.mark.parametrize("identifier", ["lecun_magic", "", None, 3, Initializer, np.zeros,
                                        {"class_name": "Nope", "config": {}},
                                        {"class_name": "GlorotUniform", "config": {"gain": 1}},
                                        {"class_name": "GlorotUniform", "config": 5},
                                        {"class_name": "Zeros", "extra": 1}])
def test_get_rejects_with_argument_name(identifier):
    with pytest.raises(ValueError, match=r"^kernel_initializer: ") as info:
        initializers.get(identifier, "kernel_initializer")
    if isinstance(identifier, str):
        assert repr(identifier) in str(info.value) and "glorot_uniform" in str(info.value)


def test_from_config_rejects_non_dict():
    with pytest.raises(ValueError, match=r"^config: expected a dict"):
        GlorotUniform.from_config([1])
