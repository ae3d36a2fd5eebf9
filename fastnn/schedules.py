"""Learning-rate schedules: pure functions of the optimizer step (Keras 3 semantics).

A schedule is passed as an optimizer's `learning_rate`; the optimizer calls it
once per update with ``step`` = its iteration count **before** the update, so
the first update uses ``schedule(0)`` (as in Keras). A schedule holds no
state: ``schedule(step)`` always returns the same Python float, so resuming
training or evaluating a schedule ahead of time needs no bookkeeping. It is
evaluated once per step, not per element, so it is plain Python.

Every built-in schedule follows the formula of the Keras 3 class of the same
name and takes the same arguments (``name`` is keyword-only here).

Counting in epochs
------------------
Keras counts every schedule in optimizer steps (batches). Textbooks often
decay once per epoch, ``lr = lr0 * 0.96 ** epoch``. Two ways to get that:

* ``ExponentialDecay(lr0, decay_steps=steps_per_epoch, decay_rate=0.96,
  staircase=True)``: the Keras idiom (exponential and inverse-time decay only).
* ``PerEpoch(schedule, steps_per_epoch)``: any schedule (cosine, polynomial,
  your own) whose step counts completed epochs; the rate is constant within an
  epoch and changes when the next epoch starts. ``fit`` runs
  ``steps_per_epoch = ceil(n_samples / batch_size)`` steps per epoch (the last,
  partial batch is a step).

Serialization
-------------
``serialize(schedule)`` gives ``{"class_name": ..., "config": ...}``;
``deserialize`` and ``get`` turn that back into a schedule (extra keys of a
Keras-saved dict, such as ``"module"``, are ignored). An optimizer accepts any
callable with ``get_config`` as a schedule (duck typing), so your own class
need not subclass `LearningRateSchedule`; pass it to `deserialize` in
``custom_objects``.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable, Sequence

import numpy as np

_REAL = (int, float, np.integer, np.floating)


# -- argument checks ---------------------------------------------------------------------------

def _is_real(value: Any) -> bool:
    return isinstance(value, _REAL) and not isinstance(value, (bool, np.bool_))


def _check_number(value: Any, name: str, low: float = 0.0, low_open: bool = False,
                  high: float | None = None, why: str = "") -> float:
    """A finite real number >= low (> low when low_open), <= high; the error echoes the value."""
    ok = _is_real(value)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low) and (high is None or v <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g}" + ("" if high is None else f" and <= {high:g}")
        raise ValueError(f"{name}: expected a finite number {bound}{why}, got {value!r}")
    return float(value)


def _check_steps(value: Any, name: str, allow_zero: bool = False) -> int | float:
    """A step count > 0 (>= 0 with allow_zero); ints stay ints so configs read as written."""
    v = _check_number(value, name, 0.0, low_open=not allow_zero)
    return int(value) if isinstance(value, (int, np.integer)) else v


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _check_name(value: Any, default: str) -> str:
    if value is None:  # Keras-saved configs may hold name=None
        return default
    if not isinstance(value, str):
        raise ValueError(f"name: expected a string, got {value!r}")
    return value


def _as_step(step: Any) -> float:
    """The optimizer step as a float >= 0 (ints, numpy scalars and 0-d arrays accepted)."""
    if isinstance(step, np.ndarray) and step.ndim == 0:
        step = step.item()
    if _is_real(step):
        try:
            s = float(step)
        except OverflowError:
            s = math.nan
        if 0.0 <= s < math.inf:  # refuses NaN too
            return s
    raise ValueError(f"step: expected a finite number >= 0 (the optimizer's iteration count), got {step!r}")


def _power(base: float, exponent: float) -> float:
    """base ** exponent, inf instead of OverflowError (a growing rate at a huge step)."""
    try:
        return base ** exponent
    except OverflowError:
        return math.inf


# -- base class --------------------------------------------------------------------------------

class LearningRateSchedule:
    """Base class: a learning rate as a pure function of the optimizer step.

    Subclasses implement ``__call__(step) -> float`` and ``get_config()``;
    ``from_config(config)`` calls the constructor with the config. ``step`` is
    the optimizer's iteration count before the update (0 for the first one).

    Examples
    --------
    >>> class InverseSqrt(LearningRateSchedule):
    ...     def __init__(self, initial_learning_rate):
    ...         self.initial_learning_rate = initial_learning_rate
    ...     def __call__(self, step):
    ...         return self.initial_learning_rate / (1.0 + step) ** 0.5
    ...     def get_config(self):
    ...         return {"initial_learning_rate": self.initial_learning_rate}
    >>> InverseSqrt(0.1)(3)
    0.05
    """

    def __call__(self, step: int | float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(self, step)")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-ready dict (a subclass must define it to be saved)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config() to be serialized")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        """A new schedule from the dict `get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


# -- schedules ---------------------------------------------------------------------------------

class ExponentialDecay(LearningRateSchedule):
    """Exponential decay: the rate is multiplied by `decay_rate` every `decay_steps` steps.

    Formula::

        p  = step / decay_steps              (floor(step / decay_steps) if staircase)
        lr = initial_learning_rate * decay_rate ** p

    Per-epoch decay as in textbooks, ``lr0 * decay_rate ** epoch``: set
    ``decay_steps`` to the steps per epoch and ``staircase=True``.

    Parameters
    ----------
    initial_learning_rate : float >= 0
    decay_steps : number > 0
    decay_rate : float > 0 (< 1 decays, > 1 grows)
    staircase : bool, default False
        Decay at discrete intervals (integer division).
    name : str, default "ExponentialDecay"

    Examples
    --------
    >>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    >>> s(0), s(9), s(10), s(25)
    (0.1, 0.1, 0.05, 0.025)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, decay_rate: float,
                 staircase: bool = False, *, name: str | None = None):
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _check_steps(decay_steps, "decay_steps")
        self.decay_rate = _check_number(decay_rate, "decay_rate", low_open=True)
        self.staircase = _check_bool(staircase, "staircase")
        self.name = _check_name(name, "ExponentialDecay")

    def __call__(self, step: int | float) -> float:
        p = _as_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * _power(self.decay_rate, p)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """Piecewise constant rate: `values[i]` between `boundaries[i-1]` and `boundaries[i]`.

    Formula (b = boundaries, v = values, len(v) = len(b) + 1)::

        lr = v[0]    if step <= b[0]
             v[i]    if b[i-1] < step <= b[i]
             v[-1]   if step > b[-1]

    A boundary step still uses the value before it (Keras's convention; torch's
    MultiStepLR milestone m corresponds to the boundary m - 1).

    Parameters
    ----------
    boundaries : sequence of numbers >= 0, strictly increasing (may be empty)
    values : sequence of len(boundaries) + 1 learning rates >= 0
    name : str, default "PiecewiseConstant"

    Examples
    --------
    >>> s = PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    >>> s(100), s(101), s(111)
    (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries: Sequence[int | float], values: Sequence[float], *,
                 name: str | None = None):
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, (Sequence, np.ndarray)):
            raise ValueError(f"boundaries: expected a sequence of steps, got {boundaries!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise ValueError(f"values: expected a sequence of learning rates, got {values!r}")
        bounds = [_check_steps(b, f"boundaries[{i}]", allow_zero=True) for i, b in enumerate(boundaries)]
        for i in range(1, len(bounds)):
            if not bounds[i] > bounds[i - 1]:
                raise ValueError(f"boundaries: expected strictly increasing steps, got {bounds[i - 1]!r} "
                                 f"then {bounds[i]!r} at index {i}")
        if len(values) != len(bounds) + 1:
            raise ValueError(f"values: expected len(boundaries) + 1 = {len(bounds) + 1} learning rates "
                             f"(one per interval), got {len(values)}")
        self.boundaries = bounds
        self.values = [_check_number(v, f"values[{i}]") for i, v in enumerate(values)]
        self.name = _check_name(name, "PiecewiseConstant")

    def __call__(self, step: int | float) -> float:
        # bisect_left: the number of boundaries strictly below the step.
        return self.values[bisect.bisect_left(self.boundaries, _as_step(step))]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """Inverse-time decay: the rate falls as 1 / (1 + decay_rate * t).

    Formula::

        p  = step / decay_steps              (floor(step / decay_steps) if staircase)
        lr = initial_learning_rate / (1 + decay_rate * p)

    Parameters
    ----------
    initial_learning_rate : float >= 0
    decay_steps : number > 0
    decay_rate : float >= 0
    staircase : bool, default False
    name : str, default "InverseTimeDecay"

    Examples
    --------
    >>> s = InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    >>> s(0), s(2)
    (0.1, 0.05)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, decay_rate: float,
                 staircase: bool = False, *, name: str | None = None):
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _check_steps(decay_steps, "decay_steps")
        self.decay_rate = _check_number(decay_rate, "decay_rate")
        self.staircase = _check_bool(staircase, "staircase")
        self.name = _check_name(name, "InverseTimeDecay")

    def __call__(self, step: int | float) -> float:
        p = _as_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from `initial_learning_rate` to `end_learning_rate` in `decay_steps`.

    Formula (lr0 = initial_learning_rate, lr1 = end_learning_rate)::

        cycle=False:  s = min(step, decay_steps);  D = decay_steps
        cycle=True:   s = step;  D = decay_steps * max(1, ceil(step / decay_steps))
        lr = (lr0 - lr1) * (1 - s / D) ** power + lr1

    With ``cycle=True`` the horizon D is the first multiple of `decay_steps`
    not below the step (Keras's definition: after a restart the rate jumps back
    up, though not to lr0). `end_learning_rate` above the initial rate gives a
    polynomial warm-up.

    Parameters
    ----------
    initial_learning_rate : float >= 0
    decay_steps : number > 0
    end_learning_rate : float >= 0, default 1e-4
    power : float > 0, default 1 (linear)
    cycle : bool, default False
    name : str, default "PolynomialDecay"

    Examples
    --------
    >>> s = PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.0, power=1.0)
    >>> s(0), s(50), s(100), s(1000)
    (0.1, 0.05, 0.0, 0.0)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int | float,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False, *,
                 name: str | None = None):
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _check_steps(decay_steps, "decay_steps")
        self.end_learning_rate = _check_number(end_learning_rate, "end_learning_rate")
        self.power = _check_number(power, "power", low_open=True)
        self.cycle = _check_bool(cycle, "cycle")
        self.name = _check_name(name, "PolynomialDecay")

    def __call__(self, step: int | float) -> float:
        s = _as_step(step)
        horizon = float(self.decay_steps)
        if self.cycle:
            horizon *= max(1.0, math.ceil(s / horizon))
        else:
            s = min(s, horizon)
        lr0, lr1 = self.initial_learning_rate, self.end_learning_rate
        return (lr0 - lr1) * (1.0 - s / horizon) ** self.power + lr1

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


def _cosine(fraction: float, alpha: float) -> float:
    """(1 - alpha) * (1 + cos(pi * fraction)) / 2 + alpha: 1 at fraction 0, alpha at 1."""
    return (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay (SGDR without restarts), with an optional linear warm-up.

    Formula without warm-up (``warmup_target=None``; lr0 = initial_learning_rate)::

        s  = min(step, decay_steps)
        lr = lr0 * ((1 - alpha) * (1 + cos(pi * s / decay_steps)) / 2 + alpha)

    With a warm-up to ``warmup_target`` (lr_w) over ``warmup_steps`` (W) steps,
    then a cosine decay over ``decay_steps`` *more* steps (the decay steps do
    not include the warm-up), s = min(step, W + decay_steps)::

        s <  W:  lr = lr0 + (lr_w - lr0) * s / W
        s >= W:  lr = lr_w * ((1 - alpha) * (1 + cos(pi * (s - W) / decay_steps)) / 2 + alpha)

    References: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with
    Warm Restarts" (2017); Goyal et al., "Accurate, Large Minibatch SGD" (2017)
    for the warm-up.

    Parameters
    ----------
    initial_learning_rate : float >= 0
        The rate at step 0 (where a warm-up starts, often 0).
    decay_steps : number > 0
    alpha : float in [0, 1], default 0
        The final rate as a fraction of the decay's starting rate.
    warmup_target : float >= 0 or None, default None
    warmup_steps : number >= 0, default 0
        Needs `warmup_target` when > 0 (Keras silently ignores a warm-up
        without a target; fastnn refuses it).
    name : str, default "CosineDecay"

    Examples
    --------
    >>> s = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    >>> s(5), s(10), s(60), s(110)
    (0.05, 0.1, 0.05, 0.0)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, alpha: float = 0.0,
                 warmup_target: float | None = None, warmup_steps: int | float = 0, *,
                 name: str | None = None):
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _check_steps(decay_steps, "decay_steps")
        self.alpha = _check_number(alpha, "alpha", high=1.0)
        self.warmup_target = None if warmup_target is None else _check_number(warmup_target, "warmup_target")
        self.warmup_steps = _check_steps(warmup_steps, "warmup_steps", allow_zero=True)
        if self.warmup_steps > 0 and self.warmup_target is None:
            raise ValueError(f"warmup_target: a warm-up of warmup_steps={self.warmup_steps!r} steps needs "
                             "the learning rate to warm up to, got None")
        self.name = _check_name(name, "CosineDecay")

    def __call__(self, step: int | float) -> float:
        s = _as_step(step)
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(min(s, self.decay_steps) / self.decay_steps,
                                                        self.alpha)
        warm = float(self.warmup_steps)
        s = min(s, warm + self.decay_steps)
        if s < warm:
            lr0 = self.initial_learning_rate
            return lr0 + (self.warmup_target - lr0) * (s / warm)
        return self.warmup_target * _cosine((s - warm) / self.decay_steps, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR).

    Period i (i = 0, 1, ...) lasts ``first_decay_steps * t_mul**i`` steps and
    starts from ``m_mul**i`` times the initial rate. With f = step /
    first_decay_steps, the period is the i with S(i) <= f < S(i + 1), where
    S(i) = i if t_mul == 1 else (t_mul**i - 1) / (t_mul - 1), and::

        x  = (f - S(i)) / t_mul**i                       (fraction of period i done)
        lr = initial_learning_rate * ((1 - alpha) * m_mul**i * (1 + cos(pi * x)) / 2 + alpha)

    Keras finds i with a floating-point logarithm, which can land in the wrong
    period exactly at a restart (e.g. t_mul=3, step = 4 * first_decay_steps);
    fastnn corrects i so that every restart step starts the new period.

    Parameters
    ----------
    initial_learning_rate : float >= 0
    first_decay_steps : number > 0
    t_mul : float >= 1, default 2
        Period length multiplier (Keras also accepts t_mul < 1, whose periods
        sum to a finite number of steps after which the schedule is undefined;
        fastnn refuses it).
    m_mul : float >= 0, default 1
        Multiplier of the starting rate of each period.
    alpha : float in [0, 1], default 0
        The lowest rate as a fraction of `initial_learning_rate`.
    name : str, default "SGDRDecay"

    Examples
    --------
    >>> s = CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    >>> s(0), s(5), s(10), s(20), s(30)
    (0.1, 0.05, 0.05, 0.025, 0.025)
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: int | float, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, *, name: str | None = None):
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.first_decay_steps = _check_steps(first_decay_steps, "first_decay_steps")
        self.t_mul = _check_number(t_mul, "t_mul", 1.0, why=" (periods that shrink would end the schedule)")
        self.m_mul = _check_number(m_mul, "m_mul")
        self.alpha = _check_number(alpha, "alpha", high=1.0)
        self.name = _check_name(name, "SGDRDecay")

    def _period_start(self, i: int) -> float:
        """S(i): the fraction f at which period i starts."""
        t = self.t_mul
        return float(i) if t == 1.0 else (t ** i - 1.0) / (t - 1.0)

    def __call__(self, step: int | float) -> float:
        f = _as_step(step) / self.first_decay_steps
        t = self.t_mul
        if t == 1.0:
            i = math.floor(f)
            x = f - i
        else:
            i = math.floor(math.log1p(f * (t - 1.0)) / math.log(t))
            # The logarithm can be one off at a period boundary: settle i exactly.
            while i > 0 and self._period_start(i) > f:
                i -= 1
            while self._period_start(i + 1) <= f:
                i += 1
            x = (f - self._period_start(i)) / t ** i
        decayed = (1.0 - self.alpha) * _power(self.m_mul, i) * 0.5 * (1.0 + math.cos(math.pi * x))
        return self.initial_learning_rate * (decayed + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul, "m_mul": self.m_mul,
                "alpha": self.alpha, "name": self.name}


class PerEpoch(LearningRateSchedule):
    """Count another schedule in epochs: ``lr(step) = schedule(step // steps_per_epoch)``.

    The wrapped schedule's step (and so its `decay_steps`, `boundaries`,
    warm-up, ...) counts completed epochs; the rate is constant within an epoch
    and changes on the first step of the next one, as in textbooks that decay
    per epoch. (Not a Keras class; Keras users write staircase decays with
    `decay_steps` in steps instead.)

    Formula::

        lr = schedule(floor(step / steps_per_epoch))

    Parameters
    ----------
    schedule : LearningRateSchedule (or any callable with get_config), or its
        serialized dict
    steps_per_epoch : int >= 1
        ``ceil(n_samples / batch_size)`` for ``fit``.
    name : str, default "PerEpoch"

    Examples
    --------
    >>> s = PerEpoch(ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5), steps_per_epoch=100)
    >>> s(0), s(99), s(100), s(250)
    (0.1, 0.1, 0.05, 0.025)
    """

    def __init__(self, schedule: "LearningRateSchedule | dict[str, Any]", steps_per_epoch: int, *,
                 name: str | None = None):
        self.schedule = get(schedule)
        integer = isinstance(steps_per_epoch, (int, np.integer)) and not isinstance(steps_per_epoch, bool)
        if not integer or steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch: expected an integer >= 1, got {steps_per_epoch!r}")
        self.steps_per_epoch = int(steps_per_epoch)
        self.name = _check_name(name, "PerEpoch")

    def __call__(self, step: int | float) -> float:
        return float(self.schedule(math.floor(_as_step(step) / self.steps_per_epoch)))

    def get_config(self) -> dict[str, Any]:
        return {"schedule": serialize(self.schedule), "steps_per_epoch": self.steps_per_epoch,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any],
                    custom_objects: dict[str, type] | None = None) -> "PerEpoch":
        config = dict(config)
        if isinstance(config.get("schedule"), dict):
            config["schedule"] = deserialize(config["schedule"], custom_objects)
        return cls(**config)


# -- serialization -----------------------------------------------------------------------------

_CLASSES: dict[str, type] = {c.__name__: c for c in (
    ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, PolynomialDecay, CosineDecay,
    CosineDecayRestarts, PerEpoch)}


def is_schedule(obj: Any) -> bool:
    """True for a schedule: a callable with get_config (how optimizers tell it from a float)."""
    return isinstance(obj, LearningRateSchedule) or (
        callable(obj) and callable(getattr(obj, "get_config", None)) and not isinstance(obj, type))


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a schedule (JSON-compatible for the built-ins)."""
    if not is_schedule(schedule):
        raise ValueError(f"schedule: expected a LearningRateSchedule (a callable with get_config), "
                         f"got {schedule!r}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any],
                custom_objects: dict[str, Callable[..., Any]] | None = None) -> LearningRateSchedule:
    """A schedule from `serialize`'s output; your own classes come from custom_objects.

    Extra keys (Keras writes ``"module"`` and ``"registered_name"``) are ignored.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"config: expected {{'class_name': str, 'config': dict}}, got {config!r}")
    classes = {**_CLASSES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ValueError(f"config: unknown schedule class {config['class_name']!r}; expected one of "
                         f"{sorted(_CLASSES)} or a class passed in custom_objects")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ValueError(f"config['config']: expected a dict, got {inner!r}")
    if cls is PerEpoch:
        return PerEpoch.from_config(inner, custom_objects)
    from_config = getattr(cls, "from_config", None)
    return from_config(inner) if from_config is not None else cls(**inner)


def get(identifier: "LearningRateSchedule | dict[str, Any]") -> LearningRateSchedule:
    """A schedule from a schedule (returned as is) or a serialized dict."""
    if is_schedule(identifier):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"schedule: expected a LearningRateSchedule or its serialized dict "
                     f"{{'class_name': ..., 'config': ...}}, got {identifier!r}")


__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "InverseTimeDecay",
           "PolynomialDecay", "CosineDecay", "CosineDecayRestarts", "PerEpoch", "is_schedule",
           "serialize", "deserialize", "get"]
