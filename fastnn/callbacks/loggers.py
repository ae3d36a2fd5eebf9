"""Callbacks that write the logs out: CSVLogger and TensorBoard."""
from __future__ import annotations

import csv
import os
from typing import Any

from fastnn.callbacks.base import Callback
from fastnn.callbacks._checks import (
    _all_finite, _check_bool, _check_count, _check_path, current_learning_rate)


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

    Notes
    -----
    The columns are fixed by the first epoch's keys (a key missing later is
    written "NA"); "learning_rate" is a column when fit logs it. Rows are
    flushed as they are written; the file is closed at the end of training.
    """

    needs_batch_logs = False

    # Under fastnn.distributed only rank 0 runs it (one writer per file).
    writes_files = True

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
    "epoch_<metric>" of the ``"val_"`` logs) at step = epoch (from 0), as Keras
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

    # Under fastnn.distributed only rank 0 runs it (one writer per file).
    writes_files = True

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
