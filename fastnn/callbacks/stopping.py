"""Callbacks that stop training: EarlyStopping and TerminateOnNaN."""
from __future__ import annotations

import math

from fastnn.callbacks.base import Callback
from fastnn.callbacks._checks import (
    _all_finite, _check_bool, _check_count, _check_mode, _check_monitor, _check_number,
    _improved, monitor_direction, _warn_missing)


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
