"""ModelCheckpoint: save the model or its weights during training."""
from __future__ import annotations

import math
import os

from fastnn.callbacks.base import Callback
from fastnn.callbacks._checks import (
    _check_bool, _check_count, _check_mode, _check_monitor, _check_number, _check_path,
    monitor_direction, _warn_missing)


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

    Notes
    -----
    Writes are atomic: a run killed mid-save leaves the previous file whole.
    """

    # Under fastnn.distributed only rank 0 runs it (one writer per file).
    writes_files = True

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
