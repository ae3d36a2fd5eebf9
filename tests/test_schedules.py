"""Learning-rate schedules: closed forms (numpy float64 references written from the Keras
formulas), torch.optim.lr_scheduler where it has the same schedule, hand-worked values,
config round trips and bad arguments."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fastnn import schedules
from fastnn.schedules import (CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay,
                              LearningRateSchedule, PerEpoch, PiecewiseConstantDecay, PolynomialDecay)

RTOL = 1e-12


def steps_around(*marks: int) -> np.ndarray:
    """0, 1, 2, every mark and its neighbours, and very large steps."""
    s = {0, 1, 2, 10**6, 10**9, 10**12}
    for m in marks:
        s |= {max(m - 1, 0), m, m + 1}
    return np.array(sorted(s), dtype=np.float64)


def values(schedule, steps) -> np.ndarray:
    out = []
    for k in steps:
        v = schedule(int(k))
        assert type(v) is float, (schedule, k, type(v))
        out.append(v)
    return np.array(out)


# -- numpy references (vectorized over steps, written from the formulas) -------------------------

def ref_exponential(s, lr0, ds, rate, staircase):
    p = np.floor(s / ds) if staircase else s / ds
    with np.errstate(over="ignore", under="ignore"):
        return lr0 * np.power(rate, p)


def ref_inverse_time(s, lr0, ds, rate, staircase):
    p = np.floor(s / ds) if staircase else s / ds
    return lr0 / (1 + rate * p)


def ref_polynomial(s, lr0, ds, end, power, cycle):
    if cycle:
        horizon = ds * np.where(s == 0, 1.0, np.ceil(s / ds))
    else:
        horizon, s = np.full_like(s, ds), np.minimum(s, ds)
    return (lr0 - end) * (1 - s / horizon) ** power + end


def ref_cosine(s, lr0, ds, alpha, target=None, warm=0):
    if target is None:
        s = np.minimum(s, ds)
        return lr0 * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * s / ds)) + alpha)
    s = np.minimum(s, warm + ds)
    warmup = lr0 + (target - lr0) * s / max(warm, 1)
    decay = target * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * (s - warm) / ds)) + alpha)
    return np.where(s < warm, warmup, decay)


def ref_restarts(step, lr0, first, t_mul, m_mul, alpha):
    """Walk the periods one by one (no logarithms): independent of the implementation."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start += length
        length *= t_mul
        i += 1
    x = (step - start) / length
    return lr0 * ((1 - alpha) * m_mul**i * 0.5 * (1 + math.cos(math.pi * x)) + alpha)


# -- closed forms --------------------------------------------------------------------------------

@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("lr0, ds, rate", [(0.1, 10, 0.5), (1.0, 1000, 0.96), (0.3, 7, 1.5), (2.0, 1, 0.9)])
def test_exponential_decay_closed_form(lr0, ds, rate, staircase):
    s = steps_around(ds, 2 * ds, 3 * ds, 100 * ds)
    if rate > 1:
        s = s[s < 1e4]  # a growing rate overflows at huge steps (checked below)
    np.testing.assert_allclose(values(ExponentialDecay(lr0, ds, rate, staircase), s),
                               ref_exponential(s, lr0, ds, rate, staircase), rtol=RTOL, atol=0)


def test_exponential_decay_hand_values():
    s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [s(k) for k in (0, 9, 10, 19, 20, 21)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    c = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert c(5) == pytest.approx(0.1 / math.sqrt(2), rel=1e-15)
    assert c(30) == pytest.approx(0.0125, rel=1e-15)
    assert ExponentialDecay(0.1, 1, 0.5)(10**12) == 0.0  # underflows to zero, no error
    assert ExponentialDecay(0.1, 1, 2.0)(10**6) == math.inf  # overflows to inf, no OverflowError


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("lr0, ds, rate", [(0.1, 10, 0.5), (1.0, 1, 2.0), (0.5, 3, 0.0)])
def test_inverse_time_decay_closed_form(lr0, ds, rate, staircase):
    s = steps_around(ds, 2 * ds, 10 * ds)
    np.testing.assert_allclose(values(InverseTimeDecay(lr0, ds, rate, staircase), s),
                               ref_inverse_time(s, lr0, ds, rate, staircase), rtol=RTOL, atol=0)


def test_inverse_time_decay_hand_values():
    s = InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    assert [s(k) for k in (0, 3, 4, 7, 8)] == pytest.approx([0.1, 0.1, 0.1 / 1.5, 0.1 / 1.5, 0.05], rel=1e-15)
    assert InverseTimeDecay(0.1, 4, 0.5)(2) == pytest.approx(0.1 / 1.25, rel=1e-15)


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("lr0, ds, end, power", [(0.1, 100, 1e-4, 1.0), (0.1, 100, 0.01, 0.5),
                                                 (1.0, 7, 0.0, 2.0), (0.0, 10, 0.5, 1.0)])
def test_polynomial_decay_closed_form(lr0, ds, end, power, cycle):
    s = steps_around(ds, 2 * ds, 5 * ds)
    np.testing.assert_allclose(values(PolynomialDecay(lr0, ds, end, power, cycle), s),
                               ref_polynomial(s, lr0, ds, end, power, cycle), rtol=RTOL, atol=1e-17)


def test_polynomial_decay_hand_values():
    s = PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0)
    assert [s(k) for k in (0, 5, 10, 11, 10**9)] == pytest.approx([0.1, 0.05, 0.0, 0.0, 0.0], abs=1e-17)
    c = PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0, cycle=True)
    # horizon 10 up to step 10, then 20: step 15 is (1 - 15/20) * 0.1
    assert [c(k) for k in (0, 10, 15, 20, 25)] == pytest.approx([0.1, 0.0, 0.025, 0.0, 0.1 / 6], abs=1e-17)


@pytest.mark.parametrize("lr0, ds, alpha", [(0.1, 100, 0.0), (0.1, 100, 0.1), (1.0, 7, 0.5), (0.2, 1, 1.0)])
def test_cosine_decay_closed_form(lr0, ds, alpha):
    s = steps_around(ds // 2, ds, 2 * ds)
    np.testing.assert_allclose(values(CosineDecay(lr0, ds, alpha), s), ref_cosine(s, lr0, ds, alpha),
                               rtol=RTOL, atol=1e-17)


@pytest.mark.parametrize("lr0, target, warm, ds, alpha", [(0.0, 0.1, 10, 100, 0.0), (0.01, 0.1, 7, 50, 0.2),
                                                          (0.2, 0.1, 5, 5, 0.0), (0.05, 0.1, 0, 20, 0.0)])
def test_cosine_decay_warmup_closed_form(lr0, target, warm, ds, alpha):
    s = steps_around(warm, warm + ds // 2, warm + ds, ds)
    schedule = CosineDecay(lr0, ds, alpha, warmup_target=target, warmup_steps=warm)
    np.testing.assert_allclose(values(schedule, s),
                               ref_cosine(s, lr0, ds, alpha, target, warm), rtol=RTOL, atol=1e-17)


def test_cosine_decay_warmup_hand_values():
    s = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    # linear warm-up 0 -> 0.1 over steps 0..10, then the decay's 100 steps start at step 10
    assert s(0) == 0.0 and s(5) == pytest.approx(0.05, rel=1e-15)
    assert s(10) == pytest.approx(0.1, rel=1e-15)
    assert s(60) == pytest.approx(0.05, rel=1e-15)  # half way through the decay: cos(pi/2) = 0
    assert s(110) == pytest.approx(0.0, abs=1e-18) and s(10**9) == pytest.approx(0.0, abs=1e-18)
    # without warm-up the decay ends at alpha * initial
    assert CosineDecay(0.1, 100, alpha=0.1)(100) == pytest.approx(0.01, rel=1e-15)


@pytest.mark.parametrize("lr0, first, t_mul, m_mul, alpha", [
    (0.1, 10, 2.0, 1.0, 0.0), (0.1, 10, 1.0, 0.5, 0.1), (1.0, 4, 3.0, 0.9, 0.0), (0.5, 8, 1.5, 1.0, 0.2),
    (0.5, 3, 2.5, 1.2, 0.05)])
def test_cosine_decay_restarts_closed_form(lr0, first, t_mul, m_mul, alpha):
    # every restart step (the sum of the periods so far) and its neighbours
    marks, start, length = [], 0.0, float(first)
    while start < 5000:
        start += length
        length *= t_mul
        if start == int(start):
            marks.append(int(start))
    s = steps_around(*marks)
    s = s[s < 1e5]  # the reference walks the periods one by one
    schedule = CosineDecayRestarts(lr0, first, t_mul, m_mul, alpha)
    np.testing.assert_allclose(values(schedule, s),
                               [ref_restarts(k, lr0, first, t_mul, m_mul, alpha) for k in s],
                               rtol=1e-10, atol=1e-15)


def test_cosine_decay_restarts_starts_every_period_exactly():
    # t_mul=3: periods start at 4, 16, 52, 160 (x first_decay_steps 4); a logarithm alone
    # lands in the previous period at some of these
    s = CosineDecayRestarts(1.0, 4, t_mul=3.0, m_mul=0.5)
    for i, start in enumerate([0, 4, 16, 52, 160, 484, 1456]):
        assert s(start) == pytest.approx(0.5**i, rel=1e-12), (i, start)
    # t_mul=1.5: period i starts at fraction 2 (1.5**i - 1) (exact in float64 for i <= 33: 3**i < 2**53),
    # steps 8, 20, 38, 65, 105.5, ...; the logarithm is one off at i = 5, 7, 10, 14, 20, ...
    s = CosineDecayRestarts(1.0, 8, t_mul=1.5, m_mul=0.7)
    for i in range(1, 34):
        start = 8 * 2 * (1.5**i - 1)
        assert s(start) == pytest.approx(0.7**i, rel=1e-12), (i, start)
        assert s(start - 1e-3) < 0.7**(i - 1) * 1e-6, (i, start)  # the end of the previous period


def test_cosine_decay_restarts_hand_values():
    s = CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5, alpha=0.0)
    # period 0: steps 0..10 from 0.1; period 1: 10..30 from 0.05; period 2 from 0.025
    assert [s(k) for k in (0, 5, 10, 20, 30)] == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-14)


def test_piecewise_constant_decay():
    s = PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    # a boundary step keeps the value before it (step <= b)
    got = [s(k) for k in (0, 99, 100, 101, 109, 110, 111, 10**12)]
    assert got == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.1, 0.1]
    assert s(100.5) == 0.5
    assert PiecewiseConstantDecay([], [0.3])(10**9) == 0.3


def test_piecewise_constant_decay_closed_form():
    bounds, vals = [0, 3, 10, 11, 500], [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    s = steps_around(*bounds)
    ref = np.select([s <= b for b in bounds], vals[:-1], default=vals[-1])
    np.testing.assert_array_equal(values(PiecewiseConstantDecay(bounds, vals), s), ref)


def test_per_epoch_counts_completed_epochs():
    inner = ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9)
    s = PerEpoch(inner, steps_per_epoch=469)
    staircase = ExponentialDecay(0.1, decay_steps=469, decay_rate=0.9, staircase=True)
    for k in steps_around(469, 938, 469 * 50):
        k = int(k)
        assert s(k) == 0.1 * 0.9 ** (k // 469) == staircase(k), k
    cos = PerEpoch(CosineDecay(0.1, decay_steps=10), steps_per_epoch=3)
    assert [cos(k) for k in range(6)] == [0.1] * 3 + [CosineDecay(0.1, 10)(1)] * 3


def test_step_argument():
    s = ExponentialDecay(0.1, 10, 0.5)
    assert s(np.int64(10)) == s(10) == s(10.0) == s(np.array(10)) == s(np.float32(10))
    assert type(s(np.int64(3))) is float
    for bad in (-1, -0.5, math.nan, math.inf, True, "3", None, [1]):
        with pytest.raises(ValueError, match="step: expected a finite number >= 0"):
            s(bad)


# -- torch.optim.lr_scheduler (float64 Python floats) ----------------------------------------------

def torch_rates(make, lr0: float, n: int) -> np.ndarray:
    """The learning rate of torch's updates 0..n-1 (the scheduler stepped after each)."""
    torch = pytest.importorskip("torch", reason="torch (test-only peer) compares the schedules")
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr0)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_matches_torch_exponential_lr():
    ref = torch_rates(lambda S, o: S.ExponentialLR(o, gamma=0.95), 0.1, 300)
    np.testing.assert_allclose(values(ExponentialDecay(0.1, 1, 0.95), range(300)), ref, rtol=1e-12)


def test_matches_torch_step_lr():
    ref = torch_rates(lambda S, o: S.StepLR(o, step_size=7, gamma=0.5), 0.1, 100)
    np.testing.assert_allclose(values(ExponentialDecay(0.1, 7, 0.5, staircase=True), range(100)), ref,
                               rtol=1e-12)


def test_matches_torch_multistep_lr():
    ref = torch_rates(lambda S, o: S.MultiStepLR(o, milestones=[10, 25, 60], gamma=0.3), 0.1, 100)
    # torch's milestone m lowers the rate from step m; Keras's boundary b from step b + 1
    s = PiecewiseConstantDecay([9, 24, 59], [0.1, 0.1 * 0.3, 0.1 * 0.3**2, 0.1 * 0.3**3])
    np.testing.assert_allclose(values(s, range(100)), ref, rtol=1e-12)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_matches_torch_cosine_annealing_lr(eta_min):
    T = 50
    ref = torch_rates(lambda S, o: S.CosineAnnealingLR(o, T_max=T, eta_min=eta_min), 0.1, T + 1)
    # torch's recursive form drifts by a few ulps; past T_max it rises again where Keras holds
    np.testing.assert_allclose(values(CosineDecay(0.1, T, alpha=eta_min / 0.1), range(T + 1)), ref,
                               rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_matches_torch_polynomial_lr(power):
    ref = torch_rates(lambda S, o: S.PolynomialLR(o, total_iters=40, power=power), 0.1, 60)
    s = PolynomialDecay(0.1, 40, end_learning_rate=0.0, power=power)
    np.testing.assert_allclose(values(s, range(60)), ref, rtol=1e-10, atol=1e-15)


def test_matches_torch_linear_lr():
    ref = torch_rates(lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=12), 0.1, 30)
    s = PolynomialDecay(0.025, 12, end_learning_rate=0.1, power=1.0)  # a linear warm-up
    np.testing.assert_allclose(values(s, range(30)), ref, rtol=1e-10)


@pytest.mark.parametrize("t_mult, eta_min", [(1, 0.0), (2, 0.0), (3, 0.005)])
def test_matches_torch_cosine_annealing_warm_restarts(t_mult, eta_min):
    ref = torch_rates(lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=8, T_mult=t_mult, eta_min=eta_min),
                      0.1, 400)
    s = CosineDecayRestarts(0.1, 8, t_mul=float(t_mult), m_mul=1.0, alpha=eta_min / 0.1)
    np.testing.assert_allclose(values(s, range(400)), ref, rtol=1e-10, atol=1e-15)


# -- serialization -------------------------------------------------------------------------------

ALL = [
    ExponentialDecay(0.1, 10, 0.5, staircase=True),
    PiecewiseConstantDecay([5, 10], [0.3, 0.2, 0.1]),
    InverseTimeDecay(0.1, 1.5, 0.5),
    PolynomialDecay(0.1, 100, 0.001, power=2.0, cycle=True),
    CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.2, warmup_steps=10, name="warm"),
    CosineDecayRestarts(0.1, 10, t_mul=1.5, m_mul=0.9, alpha=0.01),
    PerEpoch(CosineDecay(0.1, 10), steps_per_epoch=7),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    data = json.loads(json.dumps(schedules.serialize(schedule)))  # JSON-compatible
    assert data["class_name"] == type(schedule).__name__
    for restored in (schedules.deserialize(data), schedules.get(data),
                     type(schedule).from_config(schedule.get_config())):
        assert type(restored) is type(schedule)
        assert restored.get_config() == schedule.get_config()
        steps = [0, 1, 9, 10, 11, 55, 500, 10**7]
        assert [restored(k) for k in steps] == [schedule(k) for k in steps]
    assert schedules.get(schedule) is schedule
    assert type(schedule).__name__ in repr(schedule)


def test_deserialize_keras_saved_dict():
    # Keras writes module / registered_name and may hold name=None
    data = {"module": "keras.optimizers.schedules", "class_name": "PolynomialDecay", "registered_name": None,
            "config": {"cycle": False, "decay_steps": 10000, "end_learning_rate": 0.01,
                       "initial_learning_rate": 0.1, "name": None, "power": 0.5}}
    s = schedules.deserialize(data)
    assert isinstance(s, PolynomialDecay) and s.name == "PolynomialDecay"
    assert s(2500) == pytest.approx(0.09 * 0.75**0.5 + 0.01, rel=1e-15)


class Halving:
    """A user schedule that does not subclass LearningRateSchedule (duck typing)."""

    def __init__(self, lr, every):
        self.lr, self.every = lr, every

    def __call__(self, step):
        return self.lr * 0.5 ** (step // self.every)

    def get_config(self):
        return {"lr": self.lr, "every": self.every}


def test_custom_schedules_round_trip_with_custom_objects():
    h = Halving(0.4, 3)
    assert schedules.is_schedule(h) and not schedules.is_schedule(0.1) and not schedules.is_schedule(Halving)
    data = schedules.serialize(PerEpoch(h, steps_per_epoch=2))
    with pytest.raises(ValueError, match="unknown schedule class 'Halving'"):
        schedules.deserialize(data)
    back = schedules.deserialize(data, custom_objects={"Halving": Halving})
    assert [back(k) for k in range(14)] == [0.4] * 6 + [0.2] * 6 + [0.1] * 2

    class Sub(LearningRateSchedule):
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, step):
            return self.lr

        def get_config(self):
            return {"lr": self.lr}

    assert schedules.deserialize(schedules.serialize(Sub(0.3)), {"Sub": Sub})(5) == 0.3


def test_base_class_must_be_subclassed():
    with pytest.raises(NotImplementedError, match="__call__"):
        LearningRateSchedule()(0)
    with pytest.raises(NotImplementedError, match="get_config"):
        LearningRateSchedule().get_config()


@pytest.mark.parametrize("bad, match", [
    (0.1, "schedule: expected a LearningRateSchedule"),
    ("cosine", "schedule: expected a LearningRateSchedule"),
    ({"config": {}}, r"config: expected \{'class_name'"),
    ({"class_name": "Nope", "config": {}}, "unknown schedule class 'Nope'"),
    ({"class_name": "CosineDecay", "config": [1]}, r"config\['config'\]: expected a dict"),
])
def test_get_refuses(bad, match):
    with pytest.raises(ValueError, match=match):
        schedules.get(bad)


def test_serialize_refuses_non_schedule():
    with pytest.raises(ValueError, match="schedule: expected a LearningRateSchedule"):
        schedules.serialize(0.01)


# -- bad arguments -------------------------------------------------------------------------------

BAD = [
    (lambda: ExponentialDecay(-0.1, 10, 0.5),
     r"initial_learning_rate: expected a finite number >= 0, got -0.1"),
    (lambda: ExponentialDecay(math.nan, 10, 0.5), "initial_learning_rate: expected a finite number"),
    (lambda: ExponentialDecay("0.1", 10, 0.5), "initial_learning_rate: expected a finite number"),
    (lambda: ExponentialDecay(0.1, 0, 0.5), "decay_steps: expected a finite number > 0, got 0"),
    (lambda: ExponentialDecay(0.1, -5, 0.5), "decay_steps: expected a finite number > 0, got -5"),
    (lambda: ExponentialDecay(0.1, True, 0.5), "decay_steps: expected a finite number > 0, got True"),
    (lambda: ExponentialDecay(0.1, 10, 0.0), "decay_rate: expected a finite number > 0, got 0.0"),
    (lambda: ExponentialDecay(0.1, 10, -0.5), "decay_rate: expected a finite number > 0"),
    (lambda: ExponentialDecay(0.1, 10, 0.5, staircase=1), "staircase: expected True or False, got 1"),
    (lambda: ExponentialDecay(0.1, 10, 0.5, name=3), "name: expected a string, got 3"),
    (lambda: InverseTimeDecay(0.1, 0.0, 0.5), "decay_steps: expected a finite number > 0"),
    (lambda: InverseTimeDecay(0.1, 10, -1.0), "decay_rate: expected a finite number >= 0, got -1.0"),
    (lambda: PolynomialDecay(0.1, 0), "decay_steps: expected a finite number > 0"),
    (lambda: PolynomialDecay(0.1, 10, end_learning_rate=-1e-4),
     "end_learning_rate: expected a finite number >= 0"),
    (lambda: PolynomialDecay(0.1, 10, power=0.0), "power: expected a finite number > 0, got 0.0"),
    (lambda: PolynomialDecay(0.1, 10, cycle="yes"), "cycle: expected True or False"),
    (lambda: CosineDecay(0.1, -1), "decay_steps: expected a finite number > 0"),
    (lambda: CosineDecay(0.1, 10, alpha=1.5), r"alpha: expected a finite number >= 0 and <= 1, got 1.5"),
    (lambda: CosineDecay(0.1, 10, alpha=-0.1), "alpha: expected a finite number >= 0"),
    (lambda: CosineDecay(0.1, 10, warmup_target=-0.1, warmup_steps=5),
     "warmup_target: expected a finite number"),
    (lambda: CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1),
     "warmup_steps: expected a finite number >= 0"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=5), "warmup_target: a warm-up of warmup_steps=5 steps needs"),
    (lambda: CosineDecayRestarts(0.1, 0), "first_decay_steps: expected a finite number > 0"),
    (lambda: CosineDecayRestarts(0.1, 10, t_mul=0.5), "t_mul: expected a finite number >= 1"),
    (lambda: CosineDecayRestarts(0.1, 10, m_mul=-1.0), "m_mul: expected a finite number >= 0"),
    (lambda: CosineDecayRestarts(0.1, 10, alpha=2.0), "alpha: expected a finite number >= 0 and <= 1"),
    (lambda: PiecewiseConstantDecay([10, 5], [0.3, 0.2, 0.1]),
     "boundaries: expected strictly increasing steps, got 10 then 5 at index 1"),
    (lambda: PiecewiseConstantDecay([5, 5], [0.3, 0.2, 0.1]), "boundaries: expected strictly increasing"),
    (lambda: PiecewiseConstantDecay([5, 10], [0.3, 0.2]),
     r"values: expected len\(boundaries\) \+ 1 = 3 learning rates \(one per interval\), got 2"),
    (lambda: PiecewiseConstantDecay([5], [0.3, 0.2, 0.1]), r"values: expected len\(boundaries\) \+ 1 = 2"),
    (lambda: PiecewiseConstantDecay([-1, 5], [0.3, 0.2, 0.1]),
     r"boundaries\[0\]: expected a finite number >= 0"),
    (lambda: PiecewiseConstantDecay([5], [0.3, -0.2]),
     r"values\[1\]: expected a finite number >= 0, got -0.2"),
    (lambda: PiecewiseConstantDecay(5, [0.3, 0.2]), "boundaries: expected a sequence of steps, got 5"),
    (lambda: PiecewiseConstantDecay([5], 0.3), "values: expected a sequence of learning rates, got 0.3"),
    (lambda: PerEpoch(ExponentialDecay(0.1, 1, 0.5), 0), "steps_per_epoch: expected an integer >= 1, got 0"),
    (lambda: PerEpoch(ExponentialDecay(0.1, 1, 0.5), 2.5),
     "steps_per_epoch: expected an integer >= 1, got 2.5"),
    (lambda: PerEpoch(0.1, 10), "schedule: expected a LearningRateSchedule"),
]


@pytest.mark.parametrize("make, match", BAD, ids=[m.split(":")[0].replace("\\", "") for _, m in BAD])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_arguments_are_accepted_and_stored_as_python_numbers():
    s = PiecewiseConstantDecay(np.array([5, 10]), np.array([0.3, 0.2, 0.1]))
    assert s.get_config()["boundaries"] == [5, 10] and type(s.get_config()["boundaries"][0]) is int
    e = ExponentialDecay(np.float32(0.5), np.int64(10), np.float64(0.5))
    assert type(e.decay_steps) is int and type(e.initial_learning_rate) is float
    json.dumps(schedules.serialize(e))
    json.dumps(schedules.serialize(s))
