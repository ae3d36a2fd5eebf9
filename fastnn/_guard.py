"""Runtime guards of a model: one user of its buffers at a time, and Ctrl-C between steps.

A model reuses its activation and batch buffers from call to call (a step
allocates nothing), so two threads running `predict` on one model at once would
write into the same buffers. `ModelLock` serializes those calls, and marks the
model as in training while `fit` runs so that other threads get a clear
RuntimeError instead of racing the training loop.

`StepGuard` makes a Ctrl-C (SIGINT) that arrives during a training step take
effect when the step is complete: a step changes the weights, the optimizer
state (moments, iteration count), the batch-normalization statistics and the
dropout counters one after the other, and an interrupt in between would leave
them out of step with each other.
"""
from __future__ import annotations

import signal
import threading
from typing import Any


class ModelLock:
    """Who is using a model's buffers.

    Inference-style calls (`predict`, `evaluate`, `train_on_batch`) hold the lock
    for their whole run: concurrent callers wait for each other. `fit` takes the
    lock only to mark the model as in training (waiting for running calls to end),
    then trains without it, so that its own callbacks may call `predict` or
    `evaluate`; while it runs, the other threads' calls raise RuntimeError.
    """

    __slots__ = ("_lock", "_training")

    def __init__(self) -> None:
        # Reentrant: a custom loss or metric may call back into the model.
        self._lock = threading.RLock()
        self._training: tuple[int, str, str] | None = None  # (thread id, method, thread name)

    def __deepcopy__(self, memo: dict) -> ModelLock:
        # A copy of a model (e.g. inside deep-copied callbacks) is a new object: fresh, unlocked.
        return ModelLock()

    def __reduce__(self):
        return (ModelLock, ())

    def _refuse(self, what: str) -> None:
        _, method, thread = self._training
        raise RuntimeError(f"{what}: {method}() is running on this model in thread {thread!r}; "
                           f"call {what}() after it returns, or on another model "
                           "(e.g. fastnn.load_model of a saved copy)")

    def acquire(self, what: str) -> None:
        """Take the lock for `what` (waits for other callers); RuntimeError while
        another thread trains the model. Pair with `release()`."""
        self._lock.acquire()
        training = self._training
        if training is not None and training[0] != threading.get_ident():
            self._lock.release()
            self._refuse(what)

    def release(self) -> None:
        self._lock.release()

    def begin_training(self, what: str) -> None:
        """Mark the model as trained by this thread (waits for running calls to end);
        RuntimeError when another thread is training it. Pair with `end_training()`."""
        with self._lock:
            training = self._training
            if training is not None and training[0] != threading.get_ident():
                self._refuse(what)
            self._training = (threading.get_ident(), what, threading.current_thread().name)

    def end_training(self) -> None:
        self._training = None


class StepGuard:
    """Defer SIGINT to the end of the current training step (use as a context manager).

    Between `begin_step()` and `end_step()` a SIGINT only sets a flag; `end_step()`
    then raises KeyboardInterrupt, so fit stops at a step boundary with the
    model's weights, optimizer state and layer state all from the same completed
    step. Outside steps (callbacks, validation) a SIGINT raises at once, as usual.

    The handler is installed only in the main thread (the only thread Python
    delivers signals to) and only over Python's default SIGINT handler or another
    StepGuard (nested fits); a program's own SIGINT handler is left alone, and
    the previous handler is restored on exit.
    """

    __slots__ = ("_installed", "_previous", "critical", "pending")

    def __init__(self) -> None:
        self.critical = False
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> StepGuard:  # noqa: PYI034 (typing.Self needs Python 3.11)
        if threading.current_thread() is not threading.main_thread():
            return self
        try:
            previous = signal.getsignal(signal.SIGINT)
        except (ValueError, OSError):  # pragma: no cover (no signal support)
            return self
        if previous is signal.default_int_handler or isinstance(getattr(previous, "__self__", None), StepGuard):
            self._previous = previous
            signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        self.critical = self.pending = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.critical:
            self.pending = True  # raised by end_step(), once the step is complete
            return
        raise KeyboardInterrupt

    def begin_step(self) -> None:
        self.critical = True

    def end_step(self) -> None:
        """End the step; raise the KeyboardInterrupt a SIGINT during it deferred."""
        self.critical = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt
