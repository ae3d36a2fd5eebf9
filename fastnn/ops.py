"""The one caller of fastnn._core: thin wrappers that pass the thread count.

Callers pass buffers that are already validated and allocated; the kernels
still check shapes and dtypes (cheaply) so that they never read out of bounds.
"""
from __future__ import annotations

import numpy as np

from fastnn._core import batch as _batch
from fastnn._core import dense as _dense
from fastnn._core import losses as _losses
from fastnn._core import optim as _optim
from fastnn._threads import get_num_threads

# fastnn's own BLAS runs single-threaded: the kernels split GEMMs over their
# OpenMP team themselves (see fastnn/_threads.py for why one team owns the cores).
_batch.set_blas_threads(1)

gather_rows = _batch.gather_rows
all_finite = _batch.all_finite
check_labels = _batch.check_labels
softmax_rows = _dense.softmax_rows
softmax_xent_sparse = _losses.softmax_xent_sparse
softmax_xent_dense = _losses.softmax_xent_dense
mse = _losses.mse


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray,
                  n: int, act: int) -> None:
    """out[:n] = act(x[:n] @ w + b)."""
    _dense.dense_forward(x, w, b, out, n, act, get_num_threads())


def dense_backward(x: np.ndarray, w: np.ndarray, y: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                   db: np.ndarray | None, dx: np.ndarray | None, n: int, act: int) -> None:
    """Gradients of dense_forward; dy is overwritten with the pre-activation gradient."""
    _dense.dense_backward(x, w, y, dy, dw, db, dx, n, act, get_num_threads())


def sgd_update(params: np.ndarray, grads: np.ndarray, velocity: np.ndarray | None,
               learning_rate: float, momentum: float, nesterov: bool) -> None:
    _optim.sgd_update(params, grads, velocity, learning_rate, momentum, nesterov,
                      get_num_threads())


def adam_update(params: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray,
                learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                step: int) -> None:
    _optim.adam_update(params, grads, m, v, learning_rate, beta_1, beta_2, epsilon, step,
                       get_num_threads())
