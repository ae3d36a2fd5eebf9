"""Callbacks that change the learning rate: ReduceLROnPlateau, LearningRateScheduler."""
from __future__ import annotations

import inspect
import math
from typing import Callable

from fastnn.callbacks.base import Callback
from fastnn.callbacks._checks import (
    _check_count, _check_mode, _check_monitor, _check_number, current_learning_rate, _improved,
    monitor_direction, _warn_missing)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when a quantity stops improving (Keras 3).

    At each epoch end with the monitored value v: an improvement is
    ``v < best - min_delta`` (min) or ``v > best + min_delta`` (max) and resets
    the wait count; otherwise, outside a cooldown, the count grows and when it
    reaches `patience` the rate becomes ``max(lr * factor, min_lr)`` (if lr >
    min_lr), set through ``model.optimizer.learning_rate`` (a float then replaces
    a schedule given as the learning rate), and a cooldown of
    `cooldown` epochs starts during which epochs are not counted.

    Parameters
    ----------
    monitor : str, default "val_loss"
    factor : float in (0, 1), default 0.1
    patience : int >= 0, default 10
    verbose : {0, 1}
    mode : {"auto", "min", "max"}
        "auto" infers the direction from the name (Keras's "auto" only looks
        for "acc" in it; fastnn also knows AUC, precision, recall, F1, R2).
    min_delta : float >= 0, default 1e-4
    cooldown : int >= 0, default 0
    min_lr : float >= 0, default 0
    """

    needs_batch_logs = False

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0):
        super().__init__()
        self.monitor = _check_monitor(monitor)
        factor = _check_number(factor, "factor")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor: expected a float in (0, 1) (the rate is multiplied by it), got {factor!r}")
        self.factor = factor
        self.patience = _check_count(patience, "patience")
        self.verbose = _check_count(verbose, "verbose")
        self.mode = _check_mode(mode)
        self.min_delta = _check_number(min_delta, "min_delta")
        self.cooldown = _check_count(cooldown, "cooldown")
        self.min_lr = _check_number(min_lr, "min_lr")
        self._direction: str | None = None
        self.wait = self.cooldown_counter = 0
        self.best: float | None = None

    def on_train_begin(self, logs=None):
        self._direction = monitor_direction(self.monitor, self.mode, self.model)
        self.best = math.inf if self._direction == "min" else -math.inf
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        if self._direction is None:
            self.on_train_begin()
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            _warn_missing("ReduceLROnPlateau", self.monitor, logs)
            return
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(self._direction, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = current_learning_rate(self.model)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new_lr`` with epoch counted from 0 and lr the
        current rate (a one-argument ``schedule(epoch)`` is accepted too, as
        Keras does). The result must be a finite number >= 0; it is set through
        ``model.optimizer.learning_rate`` (replacing a schedule object there).
    verbose : {0, 1}

    Examples
    --------
    >>> cb = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    needs_batch_logs = False

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"schedule: expected a callable schedule(epoch, lr) -> float, got {schedule!r}")
        self.schedule = schedule
        self.verbose = _check_count(verbose, "verbose")
        self._takes_lr = _accepts(schedule, 2)

    def on_epoch_begin(self, epoch, logs=None):
        lr = current_learning_rate(self.model)
        new = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        try:
            new = _check_number(new, "schedule")
        except ValueError:
            raise ValueError(f"schedule: expected a finite float >= 0 from schedule({epoch}, {lr}), "
                             f"got {new!r}") from None
        self.model.optimizer.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")


def _accepts(fn: Callable, n: int) -> bool:
    """Whether fn can be called with n positional arguments (True when unknowable)."""
    try:
        inspect.signature(fn).bind(*range(n))
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins)
        return True
    return True
