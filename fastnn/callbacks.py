"""Callbacks: hooks a model calls during fit (Keras 3 names, signatures and semantics).

`History` is attached to every fit and returned by it; `ProgbarLogger` draws
the progress bar for verbose=1 and prints one line per epoch for verbose=2.
Training control: `EarlyStopping`, `TerminateOnNaN`, `ReduceLROnPlateau`,
`LearningRateScheduler`; records: `ModelCheckpoint`, `CSVLogger`, `TensorBoard`
(needs tensorboardX); ad hoc hooks: `LambdaCallback`.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import sys
import time
import warnings
from typing import Any, Callable


class Callback:
    """Base class: every hook is a no-op; subclasses override the ones they need.

    `fit` calls ``set_model(model)`` and ``set_params(params)`` (epochs, steps,
    samples, batch_size, verbose), then ``on_train_begin()``, and for each epoch
    ``on_epoch_begin(epoch)``, ``on_train_batch_begin(step)`` /
    ``on_train_batch_end(step, logs)`` around each step, and
    ``on_epoch_end(epoch, logs)``; finally ``on_train_end()``. Epochs and steps
    count from 0. A callback stops training by setting
    ``self.model.stop_training = True``: fit finishes the current step (and,
    from a batch hook, skips the rest of the epoch), runs ``on_epoch_end`` and
    ends.

    Logs. Epoch logs hold "loss", the metrics, "learning_rate" and, with
    validation data, the "val_" counterparts. Batch logs hold the running means
    of the epoch so far ("loss", metrics). Building batch logs costs time on
    small batches, so fit calls ``on_train_batch_end`` only for callbacks that
    override it *and* leave `needs_batch_logs` True; a callback that only uses
    epoch hooks sets it False.

    Coalesced batch hooks: when fit runs several steps in one kernel call (a
    faster multi-step path for small batches), the batch hooks of the steps
    inside such a call may be coalesced: ``on_train_batch_end`` then runs once
    per call with the step index of its last step and the running logs up to
    it. A callback must not assume one call per step; count steps from the
    index it is given.
    """

    #: fit builds per-batch logs only for callbacks that override a batch hook and want them.
    needs_batch_logs = True

    def __init__(self):
        self.model = None
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records the epoch-level logs: `history.history["loss"][epoch]`, and
    `history.epoch` (the epoch indices)."""

    def __init__(self):
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _format_seconds(s: float) -> str:
    if s >= 3600:
        return f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"
    if s >= 60:
        return f"{int(s // 60)}:{int(s % 60):02d}"
    return f"{s:.0f}s" if s >= 1 else f"{s * 1000:.0f}ms"


class ProgbarLogger(Callback):
    """Progress display: verbose=1 a live bar (steps, loss, metrics, samples/s,
    ETA; redrawn at most every `interval` seconds, and only on a terminal),
    verbose=2 one line per epoch."""

    def __init__(self, verbose: int = 1, interval: float = 0.1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.interval = interval
        self.stream = stream if stream is not None else sys.stdout
        self._live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.needs_batch_logs = self._live

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = self._last = time.perf_counter()
        self._epoch = epoch
        if self.verbose == 1:
            self.stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}\n")

    def on_train_batch_end(self, batch, logs=None):
        if not self._live:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(batch + 1, logs or {}, now, final=False)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps", 0)
        now = time.perf_counter()
        if self.verbose == 1:
            self._draw(steps, logs or {}, now, final=True)
        elif self.verbose == 2:
            elapsed = now - self._t0
            rate = self.params.get("samples", 0) / elapsed if elapsed > 0 else 0.0
            self.stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')} - "
                              f"{_format_seconds(elapsed)} - {rate:,.0f} samples/s - "
                              f"{_format_logs(logs or {})}\n")
        self.stream.flush()

    def _draw(self, done: int, logs: dict[str, float], now: float, final: bool) -> None:
        steps = max(1, self.params.get("steps", 1))
        batch_size = self.params.get("batch_size", 1)
        elapsed = now - self._t0
        samples = self.params.get("samples", 0) if final else done * batch_size
        rate = samples / elapsed if elapsed > 0 else 0.0
        width = 30
        filled = int(width * done / steps)
        bar = "=" * filled + (">" if filled < width else "") + "." * max(0, width - filled - 1)
        timing = (f"{_format_seconds(elapsed)}" if final else
                  f"ETA: {_format_seconds(elapsed / max(done, 1) * (steps - done))}")
        line = (f"{done}/{steps} [{bar}] - {timing} - {rate:,.0f} samples/s - "
                f"{_format_logs(logs)}")
        self.stream.write(("\r" if self._live else "") + line + ("\n" if final else ""))
        self.stream.flush()


# -- argument checks and shared helpers --------------------------------------------------------------

def _check_count(value: Any, name: str) -> int:
    """An integer >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    return int(value)


def _check_number(value: Any, name: str, minimum: float | None = 0.0, allow_none: bool = False) -> float | None:
    """A finite real number >= minimum (None when allowed; bools refused)."""
    if value is None and allow_none:
        return None
    is_real = (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_numpy_real(value)
    if not is_real or not math.isfinite(float(value)) or (minimum is not None and float(value) < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"{name}: expected a finite number{bound}, got {value!r}")
    return float(value)


def _is_numpy_real(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("f", "i", "u") and getattr(value, "ndim", 1) == 0


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return value


def _check_monitor(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"monitor: expected the name of a logged quantity such as 'val_loss', got {value!r}")
    return value


def _check_mode(value: Any) -> str:
    if value not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {value!r}")
    return value


def _check_path(value: Any, name: str) -> str:
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path:
        raise ValueError(f"{name}: expected a non-empty path, got {value!r}")
    return path


# Quantities that improve downwards / upwards, for mode="auto" (after removing "val_").
_MIN_NAMES = {"loss", "mae", "mse", "rmse", "msle", "mape", "hinge", "squared_hinge", "poisson",
              "kl_divergence", "kld", "log_cosh", "logcosh", "huber"}
_MIN_WORDS = ("loss", "error", "crossentropy")
_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "top_k")


def monitor_direction(monitor: str, mode: str, model: Any = None) -> str:
    """"min" or "max": whether `monitor` improves by going down or up.

    ``mode`` "min" / "max" decide; "auto" reads the name without its "val_"
    prefix: a metric object of the model with that name and a ``direction``
    (or Keras's ``_direction``) of "up" / "down" decides first; then losses,
    errors and cross-entropies go down, and accuracies, AUC, precision, recall,
    F1, R2 go up. Anything else raises ValueError (as Keras does): pass mode.
    """
    if mode != "auto":
        return mode
    base = monitor[4:] if monitor.startswith("val_") else monitor
    for metric in getattr(model, "metrics", None) or []:
        if getattr(metric, "name", None) == base:
            direction = getattr(metric, "direction", None) or getattr(metric, "_direction", None)
            if direction in ("up", "max"):
                return "max"
            if direction in ("down", "min"):
                return "min"
    if base in _MIN_NAMES or any(word in base for word in _MIN_WORDS):
        return "min"
    if any(word in base for word in _MAX_WORDS):
        return "max"
    raise ValueError(f"mode: cannot tell whether monitor={monitor!r} should be minimized or maximized; "
                     "pass mode='min' or mode='max'")


def _warn_missing(who: str, monitor: str, logs: dict) -> None:
    warnings.warn(f"{who} is conditioned on {monitor!r}, which is not in the logs; available: "
                  f"{', '.join(logs) or 'none'}", stacklevel=3)


def current_learning_rate(model: Any) -> float:
    """The learning rate the model's optimizer uses next, as a float (reads
    ``optimizer.current_learning_rate`` when it exists, else evaluates a schedule
    at the optimizer's step, else ``optimizer.learning_rate``)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError("model: the optimizer has no learning_rate (compile the model first)")
    current = getattr(opt, "current_learning_rate", None)
    if current is not None:
        return float(current() if callable(current) else current)
    rate = opt.learning_rate
    if callable(rate):
        return float(rate(getattr(opt, "iterations", 0)))
    return float(rate)


def _improved(direction: str, current: float, reference: float, min_delta: float) -> bool:
    """current beats reference by more than min_delta in the direction."""
    if direction == "min":
        return current + min_delta < reference
    return current - min_delta > reference


# -- training control ----------------------------------------------------------------------------------

class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    At each epoch end from `start_from_epoch` on, with the monitored value v and
    the best value so far b (in the direction of `mode`), the epoch is an
    improvement when ``v < b - min_delta`` (min) or ``v > b + min_delta`` (max).
    Each monitored epoch adds one to a wait count; an improvement resets it,
    unless `baseline` is given and v does not beat the baseline by min_delta as
    well. Training stops when the count reaches `patience` at an epoch without
    improvement (never at epoch 0, as in Keras).

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs. When missing, a warning names the available
        keys and the epoch is ignored.
    min_delta : float >= 0, default 0
        Smallest change that counts as an improvement.
    patience : int >= 0, default 0
        Epochs without improvement before stopping.
    verbose : {0, 1}
        1 prints when training stops and when weights are restored.
    mode : {"auto", "min", "max"}
        "auto" infers the direction from the name (see `monitor_direction`).
    baseline : float, optional
        Training stops after `patience` epochs unless the value beats it.
    restore_best_weights : bool, default False
        At the end of training, set the weights of the best epoch (even when
        training did not stop early, and even if no epoch beat the baseline).
    start_from_epoch : int >= 0, default 0
        Epochs to wait before monitoring (a warm-up).

    Attributes
    ----------
    stopped_epoch : int (0 when training did not stop), best : float,
    best_epoch : int, wait : int

    Notes
    -----
    The state (best value, wait count) is reset at the start of every fit;
    Keras keeps `best` across fits of the same instance.
    """

    needs_batch_logs = False

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__()
        self.monitor = _check_monitor(monitor)
        self.min_delta = _check_number(min_delta, "min_delta")
        self.patience = _check_count(patience, "patience")
        self.verbose = _check_count(verbose, "verbose")
        self.mode = _check_mode(mode)
        self.baseline = _check_number(baseline, "baseline", minimum=None, allow_none=True)
        self.restore_best_weights = _check_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = _check_count(start_from_epoch, "start_from_epoch")
        self._direction: str | None = None
        self.best: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None
        if self._direction is not None:
            self.best = math.inf if self._direction == "min" else -math.inf

    def _resolve(self) -> None:
        if self._direction is None:
            self._direction = monitor_direction(self.monitor, self.mode, self.model)
            self._reset()

    def on_train_begin(self, logs=None):
        self._resolve()  # an unknown direction is refused before any epoch runs
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        self._resolve()
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            _warn_missing("EarlyStopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first monitored epoch is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if _improved(self._direction, current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or _improved(self._direction, current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite, keeping the
    last finite weights.

    The class sets ``skips_nonfinite_updates = True``, which makes `fit` check
    each step's loss before the optimizer update: a non-finite loss skips that
    update (and restores the batch-norm statistics the step changed), so the
    model keeps the weights of the last finite step. The callback then sets
    ``model.stop_training``: fit ends within the epoch. As a fallback for a
    training loop that does not skip (or when batch hooks are coalesced), the
    callback keeps a copy of the weights from the start of training and each
    epoch end where they were finite, and restores it if the weights it finds
    after a non-finite loss are not finite.
    """

    skips_nonfinite_updates = True

    def __init__(self):
        super().__init__()
        self._backup: list | None = None
        self.stopped_batch: int | None = None

    def on_train_begin(self, logs=None):
        self.stopped_batch = None
        self._backup = None
        self._keep_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.stopped_batch is None:
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.stopped_batch = batch
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if self.stopped_batch is None:  # the batch hook did not see it (coalesced or not called)
                print(f"Epoch {epoch + 1}: Invalid loss, terminating training")
                self.stopped_batch = -1
            self._stop()
        else:
            self._keep_weights()

    def _keep_weights(self) -> None:
        weights = self.model.get_weights()
        if all(_all_finite(w) for w in weights):
            self._backup = weights

    def _stop(self) -> None:
        self.model.stop_training = True
        if self._backup is not None and not all(_all_finite(w) for w in self.model.get_weights()):
            self.model.set_weights(self._backup)


def _all_finite(arr) -> bool:
    import numpy as np
    return bool(np.isfinite(arr).all())


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


# -- records -------------------------------------------------------------------------------------------

class ModelCheckpoint(Callback):
    """Save the model (or its weights) during training (Keras 3 semantics).

    Parameters
    ----------
    filepath : str or path-like
        May hold ``str.format`` fields filled with ``epoch`` (from 1), ``batch``
        (from 1, with an integer save_freq) and the logs, e.g.
        ``"ckpt/{epoch:02d}-{val_loss:.2f}.fastnn"``. Missing folders are created.
    monitor : str, default "val_loss"
        The quantity `save_best_only` compares.
    verbose : {0, 1}
    save_best_only : bool, default False
        Save only when the monitored quantity improves on the best so far
        (kept across fits of this instance); without the quantity in the logs
        a warning is given and nothing is saved.
    save_weights_only : bool, default False
        True: ``model.save_weights(path)``; False: ``model.save(path)`` (the
        whole model, reloaded with `fastnn.load_model`).
    mode : {"auto", "min", "max"}
    save_freq : "epoch" or int >= 1
        Save at each epoch end, or every that many batches (then the batch logs,
        the running means of the epoch so far, fill the fields).
    initial_value_threshold : float, optional
        The best value to beat at first (save_best_only).

    Writes are atomic: a run killed mid-save leaves the previous file whole.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None):
        super().__init__()
        self.filepath = _check_path(filepath, "filepath")
        self.monitor = _check_monitor(monitor)
        self.verbose = _check_count(verbose, "verbose")
        self.save_best_only = _check_bool(save_best_only, "save_best_only")
        self.save_weights_only = _check_bool(save_weights_only, "save_weights_only")
        self.mode = _check_mode(mode)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq < 1):
            raise ValueError(f"save_freq: expected 'epoch' or an integer >= 1 (batches), got {save_freq!r}")
        self.save_freq = save_freq
        self.best = _check_number(initial_value_threshold, "initial_value_threshold", minimum=None,
                                  allow_none=True)
        self.needs_batch_logs = save_freq != "epoch"
        self._direction: str | None = None
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs=None):
        if self.save_best_only and self._direction is None:
            self._direction = monitor_direction(self.monitor, self.mode, self.model)
            if self.best is None:
                self.best = math.inf if self._direction == "min" else -math.inf
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # Steps done in this fit, from the index (batch hooks may be coalesced: a
        # call can cover several steps, so count from the index, not the calls).
        steps = self.params.get("steps")
        done = self._epoch * steps + batch + 1 if steps else self._batches + 1
        if done // self.save_freq > self._batches // self.save_freq:
            self._save(self._epoch, batch, logs or {})
        self._batches = done

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"filepath: cannot fill {self.filepath!r} from epoch"
                             f"{', batch' if batch is not None else ''} and the logs {sorted(logs)}: "
                             f"{type(exc).__name__}: {exc}") from None

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            if self._direction is None:
                self.on_train_begin()
            current = logs.get(self.monitor)
            if current is None:
                _warn_missing("ModelCheckpoint (save_best_only)", self.monitor, logs)
                return
            current = float(current)
            better = current < self.best if self._direction == "min" else current > self.best
            if not better:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file: an "epoch" column (from 0, as Keras)
    then the log keys in sorted order, one row per epoch.

    Parameters
    ----------
    filename : str or path-like
    separator : str, default ","
        One character.
    append : bool, default False
        Append to an existing file (no second header when it is not empty)
        instead of overwriting it.

    The columns are fixed by the first epoch's keys (a key missing later is
    written "NA"); "learning_rate" is a column when fit logs it. Rows are
    flushed as they are written; the file is closed at the end of training.
    """

    needs_batch_logs = False

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = _check_path(filename, "filename")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"separator: expected one character (not a quote or newline), got {separator!r}")
        self.sep = separator
        self.append = _check_bool(append, "append")
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._header = True

    def on_train_begin(self, logs=None):
        self._header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                self._header = not f.readline()
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.sep, lineterminator="\n")
            if self._header:
                self._writer.writerow(["epoch"] + self.keys)
        self._writer.writerow([epoch] + [_csv_value(logs.get(k, "NA")) for k in self.keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


def _csv_value(value: Any) -> Any:
    """Python floats (their shortest exact repr); sequences as "[a, b]"."""
    if isinstance(value, str):
        return value
    if hasattr(value, "__len__"):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if hasattr(value, "item"):
        return value.item()
    return value


class TensorBoard(Callback):
    """Write TensorBoard event files: per-epoch scalars and weight histograms.

    Scalars go to ``<log_dir>/train`` ("epoch_loss", "epoch_<metric>",
    "epoch_learning_rate") and ``<log_dir>/validation`` ("epoch_loss",
    "epoch_<metric>" of the "val_" logs) at step = epoch (from 0), as Keras
    names them, so TensorBoard draws training and validation curves together.
    With ``histogram_freq=k > 0`` the histogram of every weight
    ("<layer>/<weight>/histogram", e.g. "dense/kernel/histogram") is written to
    the train run every k epochs (epochs 0, k, 2k, ...). View with
    ``tensorboard --logdir <log_dir>``.

    Needs tensorboardX, an optional extra (``pip install tensorboardX``): the
    constructor raises ImportError without it.

    Parameters
    ----------
    log_dir : str or path-like, default "logs"
    histogram_freq : int >= 0, default 0
    """

    needs_batch_logs = False

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 0):
        super().__init__()
        self.log_dir = _check_path(log_dir, "log_dir")
        self.histogram_freq = _check_count(histogram_freq, "histogram_freq")
        self._writer_cls = _summary_writer()
        self._writers: dict[str, Any] = {}

    def _writer(self, run: str):
        if run not in self._writers:
            self._writers[run] = self._writer_cls(logdir=os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._writer("train")

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            try:
                logs["learning_rate"] = current_learning_rate(self.model)
            except (ValueError, TypeError, AttributeError):
                pass  # a model without a readable rate: nothing to write
        train = self._writer("train")
        for key, value in logs.items():
            run = train
            if key.startswith("val_"):
                run, key = self._writer("validation"), key[4:]
            run.add_scalar(f"epoch_{key}", float(value), global_step=epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            from fastnn.saving import weight_names
            for name, weight in zip(weight_names(self.model), self.model.get_weights()):
                if _all_finite(weight):  # histograms of NaN/inf are undefined
                    train.add_histogram(f"{name}/histogram", weight, global_step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError("callbacks.TensorBoard needs tensorboardX, an optional extra: "
                          "pip install tensorboardX") from exc
    return SummaryWriter


# -- ad hoc hooks --------------------------------------------------------------------------------------

class LambdaCallback(Callback):
    """A callback from plain functions (Keras's LambdaCallback).

    Parameters (each optional, called with the arguments of the hook)
    ----------
    on_epoch_begin, on_epoch_end : f(epoch, logs)
    on_train_batch_begin, on_train_batch_end : f(batch, logs)
    on_train_begin, on_train_end : f(logs)

    Examples
    --------
    >>> losses = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
              "on_train_begin", "on_train_end")

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end)
        for name, fn in given.items():
            if fn is not None and not callable(fn):
                raise ValueError(f"{name}: expected a callable or None, got {fn!r}")
        self._fns = given
        # fit builds batch logs only when a batch-end function will read them.
        self.needs_batch_logs = on_train_batch_end is not None

    def on_epoch_begin(self, epoch, logs=None):
        if self._fns["on_epoch_begin"] is not None:
            self._fns["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._fns["on_epoch_end"] is not None:
            self._fns["on_epoch_end"](epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        if self._fns["on_train_batch_begin"] is not None:
            self._fns["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._fns["on_train_batch_end"] is not None:
            self._fns["on_train_batch_end"](batch, logs)

    def on_train_begin(self, logs=None):
        if self._fns["on_train_begin"] is not None:
            self._fns["on_train_begin"](logs)

    def on_train_end(self, logs=None):
        if self._fns["on_train_end"] is not None:
            self._fns["on_train_end"](logs)
