"""Callbacks: hooks a model calls during fit (Keras 3 names, signatures and semantics).

`History` is attached to every fit and returned by it; `ProgbarLogger` draws
the progress bar for verbose=1 and prints one line per epoch for verbose=2.
Training control: `EarlyStopping`, `TerminateOnNaN`, `ReduceLROnPlateau`,
`LearningRateScheduler`; records: `ModelCheckpoint`, `CSVLogger`, `TensorBoard`
(needs tensorboardX); ad hoc hooks: `LambdaCallback`.
"""
from fastnn.callbacks._checks import current_learning_rate, monitor_direction
from fastnn.callbacks.base import Callback, History, ProgbarLogger
from fastnn.callbacks.checkpoint import ModelCheckpoint
from fastnn.callbacks.lambda_callback import LambdaCallback
from fastnn.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from fastnn.callbacks.loggers import CSVLogger, TensorBoard
from fastnn.callbacks.stopping import EarlyStopping, TerminateOnNaN

__all__ = ["Callback", "History", "ProgbarLogger", "EarlyStopping", "TerminateOnNaN",
           "ReduceLROnPlateau", "LearningRateScheduler", "ModelCheckpoint", "CSVLogger",
           "TensorBoard", "LambdaCallback", "monitor_direction", "current_learning_rate"]
