"""The callback base class, History and the progress bar."""
from __future__ import annotations

import sys
import time
from typing import Any


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
    validation data, the ``"val_"`` counterparts. Batch logs hold the running means
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
    #: Callbacks that write files run on rank 0 only under fastnn.distributed.
    writes_files = False

    def __init__(self):
        self.model = None
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        """Called by fit with the model being trained (kept as ``self.model``)."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Called by fit with epochs, steps, samples, batch_size and verbose (``self.params``)."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once before the first epoch."""

    def on_train_end(self, logs=None):
        """Called once after the last epoch (or after training was stopped)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch `epoch` (counted from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of epoch `epoch` with the epoch logs (loss, metrics, val_*)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training step `batch` (counted from 0 in each epoch)."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after training step `batch` with the running means of the epoch so far."""


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
