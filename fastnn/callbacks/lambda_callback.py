"""LambdaCallback: a callback from plain functions."""
from __future__ import annotations

from typing import Callable

from fastnn.callbacks.base import Callback


class LambdaCallback(Callback):
    """A callback from plain functions (Keras's LambdaCallback).

    Each function is optional and is called with the arguments of its hook.

    Parameters
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
