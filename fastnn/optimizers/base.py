"""Optimizer base class: learning rate, extras (clipping, weight decay, EMA), state arenas,
and the one-kernel-call-per-step contract."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from fastnn import ops

RULES = ops.OPTIMIZER_RULES
_INF = float("inf")


def _as_list(arrays: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    return [arrays] if isinstance(arrays, np.ndarray) else list(arrays)


class Optimizer:
    """Base class of fastnn optimizers.

    An optimizer updates variables in place from their gradients. A model hands
    it its whole flat parameter arena, so one kernel call updates every
    parameter; a custom loop may hand it any list of float arrays
    (`apply(grads, variables)`).

    Every step runs, in Keras 3's order and fused into the rule's kernel (one pass
    over memory; norm clipping adds one reduction pass before it)::

        g = g * min(1, clipnorm / ||g||)              clipnorm: per variable (or segment)
        g = g * min(1, global_clipnorm / ||G||)       global_clipnorm: G = all gradients
        g = clip(g, -clipvalue, clipvalue)
        p = p - lr * weight_decay * p                 decoupled weight decay (Keras)
        p = rule(p, g, slots)                         the subclass's update
        e = d * e + (1 - d) * p                       use_ema: moving average of p
        p = e                                         every ema_overwrite_frequency steps

    ``lr`` is the learning rate of this step: the float, or ``schedule(iterations)``
    where ``iterations`` counts the steps already done (0 for the first update, as
    Keras). The EMA decay is ``d = ema_momentum`` except ``d = 0`` on the first
    update (so ``e`` starts at the updated weights, as Keras), or with
    ``ema_warmup=True`` TF1's rule ``d = min(ema_momentum, (1 + t) / (10 + t))``,
    ``t = iterations``.

    weight_decay has Keras's decoupled meaning for every optimizer. torch.optim's
    ``weight_decay`` differs for SGD, Adam, Adagrad, RMSprop, Adadelta, Adamax (an
    L2 term added to the gradient, ``g + wd * p``); it agrees with torch's AdamW and
    with ``decoupled_weight_decay=True`` of NAdam and RAdam.

    Clipping on a flat arena: ``clipnorm`` treats each variable passed to `apply`
    (or `build`) as one variable; the model's single arena is one variable unless
    `build` is given ``segments`` (offsets of each layer variable inside the arena),
    in which case each segment is clipped to its own norm, as Keras clips each
    variable.

    Subclasses implement `_slot_names`, `_rule` and, where needed,
    `_slot_initial` and `_initial_scalars`.

    Parameters
    ----------
    learning_rate : float > 0 or schedule
        A schedule is any object with ``__call__(step: int) -> float`` and
        ``get_config()`` (e.g. ``fastnn.schedules.ExponentialDecay``).
    weight_decay : float >= 0 or None, default None
    clipnorm, clipvalue, global_clipnorm : float > 0 or None, default None
        At most one of them (Keras raises the same way).
    use_ema : bool, default False
    ema_momentum : float in [0, 1], default 0.99
    ema_overwrite_frequency : int >= 1 or None, default None
        Overwrite the variables with their EMA after every this many steps.
    ema_warmup : bool, default False
        TF1's warm-up of the EMA decay (see above).
    name : str or None
    """

    def __init__(self, learning_rate: Any, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 ema_warmup: bool = False, name: str | None = None):
        self._learning_rate = _check_learning_rate(learning_rate)
        self.weight_decay = _check_optional(weight_decay, "weight_decay", 0.0, low_open=False)
        self.clipnorm = _check_optional(clipnorm, "clipnorm", 0.0)
        self.clipvalue = _check_optional(clipvalue, "clipvalue", 0.0)
        self.global_clipnorm = _check_optional(global_clipnorm, "global_clipnorm", 0.0)
        given = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, k) is not None]
        if len(given) > 1:  # Keras 3 raises the same way
            raise ValueError(f"{given[0]}: only one of clipnorm, clipvalue and global_clipnorm can be set, "
                             "got " + ", ".join(f"{k}={getattr(self, k)!r}" for k in given))
        self.use_ema = _check_bool(use_ema, "use_ema")
        self.ema_momentum = _check_float(ema_momentum, "ema_momentum", 0.0, 1.0)
        self.ema_overwrite_frequency = _check_optional_int(ema_overwrite_frequency,
                                                           "ema_overwrite_frequency", 1)
        self.ema_warmup = _check_bool(ema_warmup, "ema_warmup")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a str or None, got {name!r}")
        self.name = name or type(self).__name__.lower()
        self.iterations = 0  # completed update steps
        self._state: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None

    # -- subclass interface -----------------------------------------------------------------
    _positive_lr = False  # True: the rule divides by the learning rate, a schedule may not reach 0

    def _slot_names(self) -> tuple[str | None, str | None, str | None]:
        """Names of the per-element state arrays in the kernel's slots s0, s1, s2."""
        return (None, None, None)

    def _slot_initial(self, name: str) -> float:
        return 0.0

    def _initial_scalars(self) -> dict[str, float]:
        """Per-optimizer scalar state (saved by get_state as float64 arrays)."""
        return {}

    def _rule(self, step: int, lr: float) -> tuple[int, tuple, dict[str, float] | None]:
        """(rule id, the kernel's step scalars, new scalar state or None) for update
        number `step` (1-based) at learning rate `lr`; must not change any state."""
        raise NotImplementedError

    # -- learning rate ----------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate the next update uses (as in Keras, a schedule is evaluated at `iterations`).

        Settable: a float replaces the rate (or a schedule); a schedule replaces it.
        """
        return self._lr_at(self.iterations)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self._learning_rate = _check_learning_rate(value)

    @property
    def current_learning_rate(self) -> float:
        """The rate the next update uses, as a float (what History logs)."""
        return self._lr_at(self.iterations)

    @property
    def learning_rate_schedule(self) -> Any:
        """The schedule given as learning_rate, or None for a constant rate."""
        return None if isinstance(self._learning_rate, float) else self._learning_rate

    def _lr_at(self, step: int) -> float:
        lr = self._learning_rate
        if isinstance(lr, float):
            return lr
        value = lr(step)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"learning_rate: the schedule {type(lr).__name__} returned {value!r} at "
                            f"step {step}; expected a number") from None
        if not (math.isfinite(value) and (value > 0 if self._positive_lr else value >= 0)):
            raise ValueError(f"learning_rate: the schedule {type(lr).__name__} returned {value!r} at "
                             f"step {step}; expected a finite number {'>' if self._positive_lr else '>='} 0")
        return value

    # -- build and step ---------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """True once `build` has allocated the optimizer state."""
        return self._state is not None

    def build(self, variables: np.ndarray | Sequence[np.ndarray],
              segments: Sequence[Sequence[int] | None] | None = None) -> None:
        """Allocate the state for these variables and reset `iterations` to 0.

        Slots start at their initial value (zeros, or initial_accumulator_value);
        the EMA starts at the variables' values.

        segments : list with one entry per variable, or None
            An entry is None or increasing offsets ``[0, ..., variable.size]`` that
            split the flattened variable into parts (the layer variables of a flat
            arena) that clipnorm clips separately.
        """
        variables = _as_list(variables)
        _check_variables(variables)
        segs = _check_segments(segments, variables)
        names = self._slot_names()
        state, slots = [], []
        for v in variables:
            d = {nm: np.full(v.size, self._slot_initial(nm), v.dtype) for nm in names if nm}
            state.append(d)
            slots.append(tuple(d[nm] if nm else None for nm in names))
        self._ema = [np.array(v, copy=True).reshape(-1) for v in variables] if self.use_ema else None
        self._segments = segs
        self._sumsq = [np.zeros(1 if s is None else len(s) - 1) for s in segs]
        self._seg_scales = [None if s is None else np.ones(len(s) - 1) for s in segs]
        self._sumsq_total = np.zeros(1)
        self._work = np.zeros(max(ops.sum_squares_work_size(v.size, len(o))
                                  for v, o in zip(variables, self._sumsq)))
        self._scalars = dict(self._initial_scalars())
        self._slots = slots
        self._state = state
        self._shapes = [(v.shape, v.dtype) for v in variables]
        self.iterations = 0

    def apply(self, grads: np.ndarray | Sequence[np.ndarray],
              variables: np.ndarray | Sequence[np.ndarray]) -> None:
        """Update `variables` in place from `grads` (one step), Keras's argument order.

        Builds the state on first use; later calls must pass variables of the same
        shapes and dtypes. Everything is checked before any state changes.
        """
        grads, variables = _as_list(grads), _as_list(variables)
        _check_variables(variables)
        if len(grads) != len(variables):
            raise ValueError(f"grads: expected {len(variables)} arrays (one per variable), got {len(grads)}")
        self._check_built_for(variables)
        for i, (g, v) in enumerate(zip(grads, variables)):
            if not isinstance(g, np.ndarray) or g.shape != v.shape or g.dtype != v.dtype:
                got = (f"shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray)
                       else type(g).__name__)
                raise ValueError(f"grads[{i}]: expected an array of shape {v.shape} and dtype {v.dtype}, "
                                 f"got {got}")
        grads = [np.ascontiguousarray(g) for g in grads]
        self._lr_at(self.iterations)  # a schedule's bad value is refused before anything changes
        if self._state is None:
            self.build(variables)
        self._apply_flat(grads, variables)

    def _check_built_for(self, variables: list[np.ndarray]) -> None:
        if self._state is not None and [(v.shape, v.dtype) for v in variables] != self._shapes:
            raise ValueError("variables: expected the shapes and dtypes this optimizer was built for "
                             f"{[(s, str(d)) for s, d in self._shapes]}, got "
                             f"{[(v.shape, str(v.dtype)) for v in variables]}")

    def _apply_flat(self, grads: list[np.ndarray], variables: list[np.ndarray]) -> None:
        """Unchecked update: arrays already validated (the model's own arenas)."""
        step = self.iterations
        lr = self._lr_at(step)
        rule, hyper, scalars = self._rule(step + 1, lr)
        wd = self.weight_decay
        decay = 1.0 - lr * wd if wd else 1.0
        clipvalue = _INF if self.clipvalue is None else self.clipvalue
        ema_decay, overwrite = self._ema_decay(step) if self.use_ema else (0.0, False)
        clipnorm = self.clipnorm
        scales = None if clipnorm is None and self.global_clipnorm is None else self._gradient_scales(grads)
        ema = self._ema
        for i in range(len(grads)):
            g, v = grads[i], variables[i]
            if v.ndim != 1:
                g, v = g.reshape(-1), v.reshape(-1)
            s0, s1, s2 = self._slots[i]
            seg = self._segments[i] if clipnorm is not None else None
            ops.optimizer_update(rule, v, g, s0, s1, s2, None if ema is None else ema[i], hyper,
                                 1.0 if scales is None else scales[i], seg,
                                 None if seg is None else self._seg_scales[i], clipvalue, decay,
                                 ema_decay, overwrite)
        if scalars:
            self._scalars.update(scalars)
        self.iterations = step + 1

    def _gradient_scales(self, grads: list[np.ndarray]) -> list[float]:
        """Per-variable gradient scale of norm clipping (segments: into _seg_scales).

        clipnorm: c / max(||g||, c) for each variable (Keras's clip_by_norm);
        global_clipnorm: c / max(||G||, c) for all, NaN when ||G|| is not finite
        (Keras's clip_by_global_norm turns inf/NaN norms into NaN updates).
        """
        if self.clipnorm is not None:
            c = self.clipnorm
            scales = []
            for i, g in enumerate(grads):
                out, seg = self._sumsq[i], self._segments[i]
                ops.sum_squares(g.reshape(-1), seg, out, self._work)
                if seg is None:
                    norm = math.sqrt(out[0])
                    scales.append(1.0 if norm <= c else c / norm)  # NaN norm -> NaN
                else:
                    sc = self._seg_scales[i]
                    np.sqrt(out, out=sc)
                    np.maximum(sc, c, out=sc)  # propagates NaN
                    np.divide(c, sc, out=sc)
                    scales.append(1.0)
            return scales
        if self.global_clipnorm is not None:
            c, total = self.global_clipnorm, 0.0
            for g in grads:
                ops.sum_squares(g.reshape(-1), None, self._sumsq_total, self._work)
                total += self._sumsq_total[0]
            norm = math.sqrt(total)
            scale = (1.0 if norm <= c else c / norm) if math.isfinite(norm) else math.nan
            return [scale] * len(grads)
        return [1.0] * len(grads)  # pragma: no cover (callers skip scaling without clipping)

    def _ema_decay(self, step: int) -> tuple[float, bool]:
        if self.ema_warmup:
            decay = min(self.ema_momentum, (1.0 + step) / (10.0 + step))
        else:
            decay = self.ema_momentum if step > 0 else 0.0
        freq = self.ema_overwrite_frequency
        return decay, freq is not None and (step + 1) % freq == 0

    # -- moving average of the weights ------------------------------------------------------
    def _require_ema(self, variables: Any, what: str) -> list[np.ndarray]:
        if not self.use_ema:
            raise ValueError(f"{what}: this optimizer keeps no moving average (use_ema=False)")
        if self._state is None:
            raise ValueError(f"{what}: the optimizer is not built yet (no moving average exists)")
        variables = _as_list(variables)
        _check_variables(variables)
        if [(v.shape, v.dtype) for v in variables] != self._shapes:
            self._check_built_for(variables)
        return variables

    def swap_ema(self, variables: np.ndarray | Sequence[np.ndarray]) -> None:
        """Exchange the variables' values with their moving average, in place.

        Calling it twice restores both, so ``swap_ema(vs); evaluate(); swap_ema(vs)``
        evaluates the averaged weights (see `ema_swapped`).
        """
        variables = self._require_ema(variables, "swap_ema")
        for v, e in zip(variables, self._ema):
            ops.swap_arrays(v.reshape(-1), e)

    @contextlib.contextmanager
    def ema_swapped(self, variables: np.ndarray | Sequence[np.ndarray]) -> Iterator[None]:
        """Context manager: the variables hold their moving average inside the block.

        Do not update the variables inside the block: on exit the values are
        swapped back.
        """
        self.swap_ema(variables)
        try:
            yield
        finally:
            self.swap_ema(variables)

    def finalize_variable_values(self, variables: np.ndarray | Sequence[np.ndarray]) -> None:
        """Keras: at the end of training, overwrite the variables with their moving
        average (no-op without use_ema)."""
        if not self.use_ema or self._state is None:
            return
        variables = self._require_ema(variables, "finalize_variable_values")
        for v, e in zip(variables, self._ema):
            np.copyto(v.reshape(-1), e)

    # -- state for exact resume -------------------------------------------------------------
    def _state_layout(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        layout = {"iterations": ((), np.dtype(np.int64))}
        for k in self._scalars:
            layout[k] = ((), np.dtype(np.float64))
        for i, d in enumerate(self._state):
            for k, a in d.items():
                layout[f"{k}.{i}"] = (a.shape, a.dtype)
            if self._ema is not None:
                layout[f"ema.{i}"] = (self._ema[i].shape, self._ema[i].dtype)
        return layout

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of everything a resumed run needs, as plain arrays.

        ``iterations`` (int64, shape ()), the optimizer's scalars (float64, shape ()),
        one flat array per slot and variable (``"<slot>.<i>"``, e.g. ``"m.0"``) and
        the moving averages (``"ema.<i>"``). Hyperparameters, including the current
        learning rate, belong to `get_config`.
        """
        if self._state is None:
            raise ValueError("optimizer: not built yet, it has no state; call build(variables) "
                             "or apply() first")
        state = {"iterations": np.array(self.iterations, np.int64)}
        for k, v in self._scalars.items():
            state[k] = np.array(v, np.float64)
        for i, d in enumerate(self._state):
            for k, a in d.items():
                state[f"{k}.{i}"] = a.copy()
            if self._ema is not None:
                state[f"ema.{i}"] = self._ema[i].copy()
        return state

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore a state from `get_state` (copied in); validated entirely first.

        The optimizer must be built for variables of the same shapes and dtypes
        (``build(variables)``), with the same configuration (slots depend on it).
        """
        if self._state is None:
            raise ValueError("optimizer: call build(variables) before set_state() (the state holds "
                             "arrays for the variables it was built for)")
        if not isinstance(state, Mapping):
            raise TypeError(f"state: expected a mapping of names to arrays, got {type(state).__name__}")
        layout = self._state_layout()
        missing = sorted(set(layout) - set(state))
        unexpected = sorted(set(state) - set(layout))
        if missing or unexpected:
            raise ValueError(f"state: expected the entries {sorted(layout)}; missing {missing}, "
                             f"unexpected {unexpected}")
        for k, (shape, dtype) in layout.items():
            a = state[k]
            if isinstance(a, np.generic):  # a numpy scalar for a 0-d entry
                a = np.asarray(a)
            if not isinstance(a, np.ndarray):
                raise TypeError(f"state[{k!r}]: expected an ndarray, got {type(a).__name__}")
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(f"state[{k!r}]: expected shape {shape} and dtype {dtype}, got shape "
                                 f"{a.shape} and dtype {a.dtype}")
            if k in self._scalars and not np.isfinite(a):
                raise ValueError(f"state[{k!r}]: expected a finite number, got {a}")
        iterations = int(np.asarray(state["iterations"]))
        if iterations < 0:
            raise ValueError(f"state['iterations']: expected an integer >= 0, got {iterations}")
        for i, d in enumerate(self._state):
            for k, a in d.items():
                np.copyto(a, state[f"{k}.{i}"])
            if self._ema is not None:
                np.copyto(self._ema[i], state[f"ema.{i}"])
        for k in self._scalars:
            self._scalars[k] = float(np.asarray(state[k]))
        self.iterations = iterations

    # -- config -----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Hyperparameters (Keras names); a schedule as {"class_name", "config"}."""
        lr = self._learning_rate
        if not isinstance(lr, float):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "ema_warmup": self.ema_warmup}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        """The optimizer of a get_config() dict (a fresh one: no state)."""
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            try:
                from fastnn import schedules
            except ImportError as err:
                raise ValueError(f"learning_rate: a serialized schedule {lr.get('class_name')!r} needs "
                                 "fastnn.schedules, which is not available") from err
            config["learning_rate"] = schedules.deserialize(lr)
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# -- validation helpers -------------------------------------------------------------------------

def _check_variables(variables: list[np.ndarray]) -> None:
    """Variables are updated in place: they must be writable C-contiguous float arrays."""
    for i, v in enumerate(variables):
        if not isinstance(v, np.ndarray) or v.dtype not in (np.float32, np.float64):
            raise TypeError(f"variables[{i}]: expected a float32/float64 ndarray, got "
                            f"{getattr(v, 'dtype', type(v).__name__)}")
        if not v.flags.c_contiguous or not v.flags.writeable:
            raise ValueError(f"variables[{i}]: expected a writable C-contiguous array (updated in place), "
                             f"got a {'read-only' if not v.flags.writeable else 'non-contiguous'} array")


def _check_segments(segments: Any, variables: list[np.ndarray]) -> list[np.ndarray | None]:
    if segments is None:
        return [None] * len(variables)
    if isinstance(segments, np.ndarray) or len(segments) != len(variables):
        raise ValueError(f"segments: expected a list with one entry (None or offsets) per variable "
                         f"({len(variables)}), got {segments!r}")
    out = []
    for i, (s, v) in enumerate(zip(segments, variables)):
        if s is None:
            out.append(None)
            continue
        a = np.asarray(s)
        if a.ndim != 1 or a.size < 2 or not (np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"segments[{i}]: expected a 1-D sequence of at least 2 integer offsets, got {s!r}")
        if a[0] != 0 or a[-1] != v.size or np.any(np.diff(a) < 0):
            raise ValueError(f"segments[{i}]: expected nondecreasing offsets from 0 to {v.size} "
                             f"(the variable's size), got {a.tolist()}")
        out.append(np.ascontiguousarray(a, np.int64))
    return out


def _is_schedule(value: Any) -> bool:
    return callable(value) and callable(getattr(value, "get_config", None))


def _check_learning_rate(value: Any) -> Any:
    """A float > 0 or a schedule (callable(step) with get_config)."""
    if _is_schedule(value):
        return value
    if callable(value):
        raise TypeError(f"learning_rate: a schedule needs __call__(step) and get_config(); "
                        f"{type(value).__name__} has no get_config")
    try:
        return _check_float(value, "learning_rate", low=0.0, low_open=True)
    except TypeError:
        raise TypeError(f"learning_rate: expected a number > 0 or a schedule, got {value!r}") from None


def _check_float(value: Any, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A real number within bounds; the error echoes the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    ok = np.isfinite(value)
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{name}: expected a finite number {' and '.join(x for x in (lo, hi) if x)}, "
                         f"got {value!r}")
    return value


def _check_unit(value: Any, name: str) -> float:
    """A decay rate in [0, 1)."""
    return _check_float(value, name, 0.0, 1.0, high_open=True)


def _check_optional(value: Any, name: str, low: float, low_open: bool = True) -> float | None:
    return None if value is None else _check_float(value, name, low=low, low_open=low_open)


def _check_optional_int(value: Any, name: str, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low} or None, got {value!r}")
    return int(value)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)
