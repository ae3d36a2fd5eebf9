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
check_labels = _batch.check_labels
softmax_rows = _dense.softmax_rows
DenseChain = _dense.DenseChain  # predict's latency path: Dense layers in one call
DenseStep = _dense.DenseStep  # a plain Dense stack's training passes, one call each


def all_finite(a: np.ndarray) -> bool:
    """True when a C-contiguous float array holds no NaN or infinity (no temporaries)."""
    return _batch.all_finite(a, get_num_threads())


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray,
                  n: int, act: int, alpha: float = 0.0, z: np.ndarray | None = None) -> None:
    """out[:n] = act(x[:n] @ w + b) (alpha: the activation's parameter); z[:n] = x[:n] @ w + b
    when z is given (required by the activations whose backward reads it: gelu, silu, mish)."""
    _dense.dense_forward(x, w, b, out, n, act, get_num_threads(), alpha, z)


def dense_backward(x: np.ndarray, w: np.ndarray, y: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                   db: np.ndarray | None, dx: np.ndarray | None, n: int, act: int,
                   alpha: float = 0.0, z: np.ndarray | None = None) -> None:
    """Gradients of dense_forward; dy is overwritten with the pre-activation gradient
    (z: the pre-activation dense_forward wrote, for gelu, silu and mish)."""
    _dense.dense_backward(x, w, y, dy, dw, db, dx, n, act, get_num_threads(), alpha, z)


def sgd_update(params: np.ndarray, grads: np.ndarray, velocity: np.ndarray | None,
               learning_rate: float, momentum: float, nesterov: bool) -> None:
    _optim.sgd_update(params, grads, velocity, learning_rate, momentum, nesterov,
                      get_num_threads())


def adam_update(params: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray,
                learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                step: int) -> None:
    _optim.adam_update(params, grads, m, v, learning_rate, beta_1, beta_2, epsilon, step,
                       get_num_threads())


# -- params: regularizer penalties and weight constraints (src_c/regularizers.pyx) ----------
from fastnn._core import regularizers as _regularizers  # noqa: E402


def add_penalty(x: np.ndarray, dx: np.ndarray, m: int, l1: float, l2: float) -> float:
    """dx.flat[:m] += l1 * sign(x) + 2 * l2 * x; returns l1 * sum|x| + l2 * sum x**2 (float64)."""
    return _regularizers.add_penalty(x, dx, m, l1, l2, get_num_threads())


def norm_constraint_apply(w: np.ndarray, axis: int, min_value: float, max_value: float,
                          rate: float) -> None:
    """In place: w *= desired / (1e-7 + norm) along axis (Keras's MinMaxNorm family)."""
    _regularizers.norm_constraint_apply(w, axis, min_value, max_value, rate, get_num_threads())


def nonneg_apply(w: np.ndarray) -> None:
    """In place: w = max(w, 0)."""
    _regularizers.nonneg_apply(w, get_num_threads())
# -- end params --------------------------------------------------------------------------------


# -- losses: value, gradient, per-sample losses and correct count (src_c/losses.pyx) ---------
LOSS_KINDS: dict[str, int] = dict(_losses.LOSS_KINDS)


def softmax_xent_sparse(logits: np.ndarray, labels: np.ndarray, grad: np.ndarray | None, n: int,
                        scale: float, sample_weight: np.ndarray | None = None,
                        per_sample: np.ndarray | None = None,
                        label_smoothing: float = 0.0) -> tuple[float, int]:
    """Softmax cross-entropy from logits, int64 labels: (sum_i w_i l_i, correct rows)."""
    return _losses.softmax_xent_sparse(logits, labels, grad, n, scale, sample_weight, per_sample,
                                       label_smoothing, get_num_threads())


def softmax_xent_dense(logits: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int,
                       scale: float, sample_weight: np.ndarray | None = None,
                       per_sample: np.ndarray | None = None,
                       label_smoothing: float = 0.0) -> tuple[float, int]:
    """Softmax cross-entropy from logits, target rows: (sum_i w_i l_i, correct rows)."""
    return _losses.softmax_xent_dense(logits, targets, grad, n, scale, sample_weight, per_sample,
                                      label_smoothing, get_num_threads())


def probs_xent_sparse(probs: np.ndarray, labels: np.ndarray, grad: np.ndarray | None, n: int,
                      scale: float, sample_weight: np.ndarray | None = None,
                      per_sample: np.ndarray | None = None) -> tuple[float, int]:
    """Cross-entropy of probability rows (normalized, clipped), int64 labels."""
    return _losses.probs_xent_sparse(probs, labels, grad, n, scale, sample_weight, per_sample,
                                     get_num_threads())


def probs_xent_dense(probs: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int,
                     scale: float, sample_weight: np.ndarray | None = None,
                     per_sample: np.ndarray | None = None,
                     label_smoothing: float = 0.0) -> tuple[float, int]:
    """Cross-entropy of probability rows (normalized, clipped), target rows."""
    return _losses.probs_xent_dense(probs, targets, grad, n, scale, sample_weight, per_sample,
                                    label_smoothing, get_num_threads())


def elementwise_loss(kind: int, pred: np.ndarray, targets: np.ndarray, grad: np.ndarray | None,
                     n: int, scale: float, sample_weight: np.ndarray | None = None,
                     per_sample: np.ndarray | None = None, param1: float = 0.0,
                     param2: float = 0.0) -> tuple[float, int]:
    """Row mean (KL: sum) of an element-wise loss LOSS_KINDS[...]: (sum_i w_i l_i, correct elements)."""
    return _losses.elementwise_loss(kind, pred, targets, grad, n, scale, sample_weight, per_sample,
                                    param1, param2, get_num_threads())


def mse(pred: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int, scale: float) -> float:
    """sum((pred - targets)**2) over the first n rows; grad = 2 * scale * (pred - targets)."""
    return _losses.mse(pred, targets, grad, n, scale, get_num_threads())


def sigmoid_rows(z: np.ndarray, n: int) -> None:
    """In place: z[:n] = sigmoid(z[:n])."""
    _losses.sigmoid_rows(z, n, get_num_threads())
# -- end losses --------------------------------------------------------------------------------


# -- activations (helper "acts"): element-wise activation kernels on whole arrays ----------------
from fastnn._core import activations as _activations  # noqa: E402


def activation_forward(x: np.ndarray, out: np.ndarray, n: int, act: int, alpha: float = 0.0) -> None:
    """out[:n] = act(x[:n]) for (>= n, k) C-contiguous arrays (softmax family: along rows)."""
    _activations.activation_forward(x, out, n, act, alpha, get_num_threads())


def activation_backward(z: np.ndarray | None, y: np.ndarray | None, d: np.ndarray, n: int, act: int,
                        alpha: float = 0.0) -> None:
    """d[:n] *= act'(.) in place; reads z (the input) for gelu, silu and mish, y (the output) otherwise."""
    _activations.activation_backward(z, y, d, n, act, alpha, get_num_threads())
# -- end activations ---------------------------------------------------------------------------


# -- norms: dropout, noise and normalization kernels (src_c/noise.pyx, src_c/normalization.pyx) --
from fastnn._core import noise as _noise  # noqa: E402
from fastnn._core import normalization as _normalization  # noqa: E402


def dropout_forward(x: np.ndarray, out: np.ndarray, n: int, rate: float, seed: int,
                    counter: int) -> None:
    """out[:n] = x[:n] / (1 - rate) where kept, 0 where dropped; the mask is a pure
    function of (seed, counter, element index), whatever the thread count."""
    _noise.dropout_forward(x, out, n, rate, seed, counter, get_num_threads())


def dropout_backward(dout: np.ndarray, n: int, rate: float, seed: int, counter: int) -> None:
    """In place: dout[:n] *= the mask (and scale) of dropout_forward(seed, counter)."""
    _noise.dropout_backward(dout, n, rate, seed, counter, get_num_threads())


def gaussian_noise_forward(x: np.ndarray, out: np.ndarray, n: int, stddev: float, seed: int,
                           counter: int) -> None:
    """out[:n] = x[:n] + N(0, stddev**2) noise, a pure function of (seed, counter, index)."""
    _noise.gaussian_noise_forward(x, out, n, stddev, seed, counter, get_num_threads())


#: Rows of the batch-norm `work` buffer.
BN_WORK_ROWS: int = _normalization.BN_WORK_ROWS


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                       moving_mean: np.ndarray, moving_variance: np.ndarray, out: np.ndarray,
                       acc: np.ndarray, work: np.ndarray, n: int, momentum: float,
                       epsilon: float, training: bool, act: int = 0, alpha: float = 0.0,
                       drop_rate: float = 0.0, drop_seed: int = 0, drop_counter: int = 0) -> None:
    """out[:n] = act(gamma * (x - mean) / sqrt(var + epsilon) + beta), batch statistics
    in training (moving statistics updated in place), moving statistics otherwise.
    acc (2, d) float64 and work (BN_WORK_ROWS, d) are the layer's workspaces; act an
    element-wise activation code (0: none); drop_* a fused Dropout call (training)."""
    _normalization.batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, out, acc,
                                      work, n, momentum, epsilon, training, act, alpha,
                                      drop_rate, drop_seed, drop_counter, get_num_threads())


def batch_norm_backward(x: np.ndarray, dy: np.ndarray, dgamma: np.ndarray | None,
                        dbeta: np.ndarray | None, acc: np.ndarray, work: np.ndarray, n: int,
                        training: bool, need_dx: bool, y: np.ndarray | None = None,
                        act: int = 0, alpha: float = 0.0, drop_rate: float = 0.0,
                        drop_seed: int = 0, drop_counter: int = 0) -> None:
    """dgamma, dbeta (unless None) and, when need_dx, dx in place of dy[:n]; with a fused
    activation and dropout (the forward's arguments and output y), through the mask and
    act' first."""
    _normalization.batch_norm_backward(x, dy, dgamma, dbeta, acc, work, n, training, need_dx,
                                       y, act, alpha, drop_rate, drop_seed, drop_counter,
                                       get_num_threads())


def layer_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, out: np.ndarray,
                       stats: np.ndarray, n: int, epsilon: float) -> None:
    """Per-row normalization of x[:n]; stats (>= n, 2) float64 receives (mean, inv_std)."""
    _normalization.layer_norm_forward(x, gamma, beta, out, stats, n, epsilon, get_num_threads())


def layer_norm_backward(x: np.ndarray, gamma: np.ndarray, dy: np.ndarray,
                        dgamma: np.ndarray | None, dbeta: np.ndarray | None, acc: np.ndarray,
                        stats: np.ndarray, n: int, need_dx: bool) -> None:
    """dgamma, dbeta (unless None) and, when need_dx, dx in place of dy[:n]."""
    _normalization.layer_norm_backward(x, gamma, dy, dgamma, dbeta, acc, stats, n, need_dx,
                                       get_num_threads())


def normalization_forward(x: np.ndarray, mean: np.ndarray, variance: np.ndarray,
                          inv_std: np.ndarray, out: np.ndarray, n: int) -> None:
    """out[:n] = (x[:n] - mean) / max(sqrt(variance), 1e-7); inv_std receives the divisors' inverses."""
    _normalization.normalization_forward(x, mean, variance, inv_std, out, n, get_num_threads())


def normalization_backward(dout: np.ndarray, inv_std: np.ndarray, n: int) -> None:
    """In place: dout[:n] *= inv_std."""
    _normalization.normalization_backward(dout, inv_std, n, get_num_threads())
# -- end norms -------------------------------------------------------------------------------------


# -- metrics: per-batch counts and sums of fastnn.metrics (src_c/metrics.pyx) ---------------------
from fastnn._core import metrics as _metrics  # noqa: E402

METRIC_ACCURACY_KINDS: dict[str, int] = dict(_metrics.ACCURACY_KINDS)
METRIC_ERROR_KINDS: dict[str, int] = dict(_metrics.ERROR_KINDS)
#: Rows (tp, predicted, actual) of a threshold's (3, k) confusion block; rows of the R2 buffers.
CONFUSION_ROWS: dict[str, int] = dict(_metrics.CONFUSION_ROWS)
R2_ACC_ROWS: int = _metrics.R2_ACC_ROWS
R2_WORK_ROWS: int = _metrics.R2_WORK_ROWS


def metric_accuracy_update(kind: int, y_true: np.ndarray, y_pred: np.ndarray,
                           sample_weight: np.ndarray | None, acc: np.ndarray, n: int,
                           threshold: float = 0.5, top_k: int = 1) -> None:
    """acc[0] += sum_i w_i hit_i, acc[1] += sum_i w_i over the first n rows (kind: binary,
    categorical or top_k; y_true rows or int64 labels)."""
    _metrics.accuracy_update(kind, y_true, y_pred, sample_weight, acc, n, threshold, top_k,
                             get_num_threads())


def metric_mean_error_update(kind: int, y_true: np.ndarray, y_pred: np.ndarray,
                             sample_weight: np.ndarray | None, acc: np.ndarray, n: int) -> None:
    """acc[0] += sum_i w_i mean_j e(p_ij - t_ij) (absolute or squared), acc[1] += sum_i w_i."""
    _metrics.mean_error_update(kind, y_true, y_pred, sample_weight, acc, n, get_num_threads())


def metric_weight_sum(sample_weight: np.ndarray, n: int) -> float:
    """sum(sample_weight[:n]) in float64."""
    return _metrics.weight_sum(sample_weight, n)


def metric_confusion_update(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None,
                            thresholds: np.ndarray, acc: np.ndarray, n: int, top_k: int = 0,
                            argmax: bool = False) -> None:
    """acc (T, 3, k) += weighted (true positives, predicted positives, actual positives)
    per threshold and class (serial)."""
    _metrics.confusion_update(y_true, y_pred, sample_weight, thresholds, acc, n, top_k, argmax)


def metric_r2_update(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None,
                     acc: np.ndarray, work: np.ndarray, n: int) -> None:
    """Merge a batch into per-column (weight, mean, M2, SSE) R2 statistics (serial)."""
    _metrics.r2_update(y_true, y_pred, sample_weight, acc, work, n)


def metric_ranking_append(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None,
                          scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, offset: int,
                          n: int) -> None:
    """Copy n rows of scores, 0/1 labels and weights into the AUC buffers at row offset."""
    _metrics.ranking_append(y_true, y_pred, sample_weight, scores, labels, weights, offset, n)
# -- end metrics -----------------------------------------------------------------------------------


# -- optim: fused optimizer steps with clipping, weight decay and EMA (src_c/optim.pyx) -------
OPTIMIZER_RULES: dict[str, int] = dict(_optim.RULES)


def optimizer_update(rule: int, params: np.ndarray, grads: np.ndarray, s0: np.ndarray | None,
                     s1: np.ndarray | None, s2: np.ndarray | None, ema: np.ndarray | None,
                     hyper: tuple, gscale: float = 1.0, segments: np.ndarray | None = None,
                     seg_scales: np.ndarray | None = None, clipvalue: float = float("inf"),
                     decay: float = 1.0, ema_decay: float = 0.0, ema_overwrite: bool = False) -> None:
    """In place, one pass: g = clip(g * scale, +-clipvalue); p *= decay; rule OPTIMIZER_RULES[...]
    updates p and its slots s0..s2; then ema = d * ema + (1 - d) * p and, on an overwrite step, p = ema.
    segments (int64 offsets 0..n) with seg_scales (float64, one per segment) replace gscale."""
    _optim.optimizer_update(rule, params, grads, s0, s1, s2, ema, hyper, gscale, segments, seg_scales,
                            clipvalue, decay, ema_decay, ema_overwrite, get_num_threads())


def sum_squares(grads: np.ndarray, segments: np.ndarray | None, out: np.ndarray,
                work: np.ndarray) -> None:
    """out[s] = sum(grads[segment s] ** 2) in float64 (segments None: out[0] over all);
    work: float64 scratch of sum_squares_work_size(n, n_segments) elements."""
    _optim.sum_squares(grads, segments, out, work, get_num_threads())


sum_squares_work_size = _optim.sum_squares_work_size


def swap_arrays(a: np.ndarray, b: np.ndarray) -> None:
    """Exchange the contents of two flat arrays of the same length and dtype, in place."""
    _optim.swap(a, b, get_num_threads())
# -- end optim ------------------------------------------------------------------------------------


# -- sparse: CSR inputs and the zero-skipping first Dense layer (src_c/sparse.pyx) ---------------
from fastnn._core import sparse as _sparse  # noqa: E402

#: Density (nonzero fraction) below which a dense input batch runs the zero-skipping
#: kernels: converting the batch to CSR and skipping zeros beats the dense GEMM.
#: Measured with the final kernels on this machine (2 cores shared with other jobs,
#: load ~5-7, AVX-512; +-30% noise), first layer 784 x 256 float32, 1 thread, random
#: zero patterns; time of (gather + forward + backward) at batch 128, of (conversion +
#: forward) at batch 1, sparse / dense:
#:   density    0.05  0.10  0.20  0.30  0.40  0.50  0.60  0.70  0.80  1.00
#:   batch 128  0.25  0.29  0.85  0.86  1.18  0.87  1.49  1.96  2.14  3.12  -> ~0.35-0.45
#:   batch 1    0.15  0.27  0.44  0.40  0.42  0.61  0.71  0.80  1.01  1.24  -> ~0.8
#: On real MNIST batches of 128 (density 0.19, zeros at the borders) the same first
#: layer took 82 + 346 + 139 = 567 us (CSR gather + forward + backward) against
#: 11 + 592 + 562 = 1165 us dense. Batches from CSC_MIN_ROWS rows on use the batch
#: threshold, smaller ones the batch-1 one; both sit below the crossovers measured.
ZERO_SKIP_DENSITY_BATCH: float = 0.35
ZERO_SKIP_DENSITY_ROW: float = 0.75
CSR_CODES: dict[str, int] = dict(_sparse.CSR_CODES)


def zero_skip_pays(X: np.ndarray, rows: int) -> bool:
    """Whether dense input rows like those of X, in batches of `rows`, run faster
    through the sparse kernels (X's density is estimated only where it decides)."""
    if rows == 1:
        # The dense one-row product skips zero inputs itself (_blas.pxd row_times):
        # W2's batch-1 predict on MNIST-like rows took 10.3 us dense, 13.0 us as CSR.
        return False
    if rows >= _sparse.CSC_MIN_ROWS:
        # The batch threshold was measured at one thread. With more, the dense GEMM
        # splits across the team and wins end to end: the MNIST demo (784-256-256-10,
        # batch 128, density 0.19, 2 threads) ran 5-10% faster dense in 4 runs of 4.
        return get_num_threads() == 1 and estimate_density(X) < ZERO_SKIP_DENSITY_BATCH
    return estimate_density(X) < ZERO_SKIP_DENSITY_ROW


# Rows of a large input that estimate its density: evenly spaced, so the estimate
# costs microseconds instead of a pass over the data (count_nonzero of 32768 x 784
# float32 took 16 ms, more than a tenth of a W1 epoch), and is the same for the same
# data. The density only picks a kernel; it is never part of a result.
_DENSITY_SAMPLE_ROWS = 1024


def estimate_density(X: np.ndarray) -> float:
    """Fraction of nonzero entries of a 2-D array (of up to _DENSITY_SAMPLE_ROWS
    evenly spaced rows when it has more)."""
    if len(X) > _DENSITY_SAMPLE_ROWS:
        X = X[::len(X) // _DENSITY_SAMPLE_ROWS]
    return np.count_nonzero(X) / X.size


class SparseRows:
    """Rows of a CSR matrix in kernel form: indptr (int64, absolute offsets into
    indices/data), indices (int32 column numbers) and data (the model's dtype).

    A slice of rows is a view (a slice of indptr); a batch buffer holds capacity
    for more entries than its current rows use. The first Dense layer accepts one
    of these in place of a dense (n, n_cols) array.
    """

    __slots__ = ("indptr", "indices", "data", "n_cols")
    ndim = 2

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_cols: int):
        self.indptr, self.indices, self.data, self.n_cols = indptr, indices, data, n_cols

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.n_cols)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __getitem__(self, key: slice) -> "SparseRows":
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("SparseRows: only slices of consecutive rows are supported")
        start, stop, _ = key.indices(len(self))
        stop = max(stop, start)
        return SparseRows(self.indptr[start:stop + 1], self.indices, self.data, self.n_cols)

    def nnz(self) -> int:
        return int(self.indptr[-1] - self.indptr[0])


class CSRBatchBuffer:
    """Preallocated CSR batch buffers for up to `rows` rows; the entry capacity doubles
    when a batch has more nonzeros, so that steady-state steps allocate nothing."""

    def __init__(self, rows: int, n_cols: int, dtype: np.dtype, capacity: int | None = None):
        self.n_cols, self.dtype = n_cols, np.dtype(dtype)
        self.indptr = np.zeros(rows + 1, np.int64)
        self._grow(capacity if capacity is not None else max(1, rows * n_cols // 4))

    def _grow(self, capacity: int) -> None:
        self.indices = np.empty(capacity, np.int32)
        self.data = np.empty(capacity, self.dtype)
        self.rows = SparseRows(self.indptr, self.indices, self.data, self.n_cols)

    def gather_csr(self, src: SparseRows, index: np.ndarray | None, start: int, stop: int) -> SparseRows:
        """Rows index[start:stop] (start..stop when index is None) of a CSR matrix."""
        got = _sparse.csr_gather(src.indptr, src.indices, src.data, index, start, stop,
                                 self.indptr, self.indices, self.data)
        if got < 0:  # more nonzeros than capacity: double (at least to fit) and redo
            self._grow(max(2 * len(self.indices), -got))
            _sparse.csr_gather(src.indptr, src.indices, src.data, index, start, stop,
                               self.indptr, self.indices, self.data)
        return self.rows

    def gather_dense(self, src: np.ndarray, index: np.ndarray | None, start: int, stop: int) -> SparseRows:
        """Rows index[start:stop] (start..stop when index is None) of a dense array, as CSR."""
        got = _sparse.dense_gather_csr(src, index, start, stop, self.indptr, self.indices, self.data)
        if got < 0:
            self._grow(max(2 * len(self.indices), -got))
            _sparse.dense_gather_csr(src, index, start, stop, self.indptr, self.indices, self.data)
        return self.rows


def csr_gather_dense(src: SparseRows, index: np.ndarray | None, start: int, stop: int,
                     out: np.ndarray) -> None:
    """out[i] = dense row index[start + i] (start + i when index is None) of src."""
    _sparse.csr_gather_dense(src.indptr, src.indices, src.data, index, start, stop, out)


def csr_validate(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 n_cols: int) -> tuple[int, int]:
    """(code, position) of a CSR matrix's first problem (CSR_CODES), (0, 0) when valid."""
    return _sparse.csr_validate(indptr, indices, data, n_cols)


def _aligned_empty(size: int, dtype: np.dtype) -> np.ndarray:
    """An empty 1-D array starting on a 64-byte boundary: the CSC kernels load and store
    whole 64-byte vectors of it, and a vector split over two cache lines costs twice."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(size + 64 // itemsize, dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    return raw[skip:skip + size]


class CSRWorkspace:
    """The first Dense layer's workspace for the column-major (CSC) sparse kernels:
    the batch sorted by column and a block-major output scratch; grown, never shrunk."""

    def __init__(self):
        self.ptr = self.rows = self.values = self.out = None
        self.transposed = False

    def ensure(self, n_in: int, nnz: int, n: int, units: int, dtype: np.dtype) -> None:
        if self.ptr is None or len(self.ptr) < n_in + 1:
            self.ptr = np.zeros(n_in + 1, np.int64)
        if self.rows is None or len(self.rows) < nnz or self.values.dtype != dtype:
            cap = max(nnz, 2 * len(self.rows) if self.rows is not None else 1)
            self.rows = np.empty(cap, np.int32)
            self.values = np.empty(cap, dtype)
        need = n * _sparse.padded_units(units, np.dtype(dtype).num)
        if self.out is None or len(self.out) < need or self.out.dtype != dtype:
            self.out = _aligned_empty(max(need, 2 * len(self.out) if self.out is not None else 0),
                                      dtype)


def csr_dense_forward(x: SparseRows, w: np.ndarray, b: np.ndarray | None, out: np.ndarray, n: int,
                      act: int, alpha: float = 0.0, z: np.ndarray | None = None,
                      work: CSRWorkspace | None = None) -> None:
    """out[:n] = act(x[:n] @ w + b) skipping zero inputs; z[:n] = x @ w + b when given.
    With a workspace and n >= CSC_MIN_ROWS the batch is transposed there (kept for
    csr_dense_backward) and the column-major kernel runs."""
    if work is None or n < _sparse.CSC_MIN_ROWS:
        _sparse.csr_dense_forward(x.indptr, x.indices, x.data, n, w, b, out, act,
                                  get_num_threads(), alpha, z)
        if work is not None:
            work.transposed = False
        return
    nnz = int(x.indptr[n] - x.indptr[0])
    work.ensure(w.shape[0], nnz, n, w.shape[1], w.dtype)
    work.transposed = _sparse.csr_dense_forward(x.indptr, x.indices, x.data, n, w, b, out, act,
                                                get_num_threads(), alpha, z, work.ptr, work.rows,
                                                work.values, work.out)


def csr_dense_backward(x: SparseRows, y: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                       db: np.ndarray | None, n: int, act: int, work: CSRWorkspace,
                       alpha: float = 0.0, z: np.ndarray | None = None) -> None:
    """dy[:n] := gradient w.r.t. the pre-activation; dw = x^T dz, db = column sums of dz
    (no dx: a sparse input is data). Reuses the forward's transposed batch when it made one."""
    work.ensure(dw.shape[0], 0 if work.transposed else int(x.indptr[n] - x.indptr[0]), n,
                dw.shape[1], dw.dtype)
    _sparse.csr_dense_backward(x.indptr, x.indices, x.data, n, y, dy, dw, db, act, work.ptr,
                               work.rows, work.values, work.out, work.transposed,
                               get_num_threads(), alpha, z)
    work.transposed = False
# -- end sparse ----------------------------------------------------------------------------------


# -- ensemble: N stacked dense networks trained in one pass (src_c/ensemble.pyx) ----------------
from fastnn._core import ensemble as _ensemble  # noqa: E402

ENSEMBLE_MAX_DEPTH: int = _ensemble.MAX_DEPTH
ensemble_layout = _ensemble.ensemble_layout


def ensemble_forward(x: np.ndarray, n: int, params: np.ndarray, dims: np.ndarray, n_members: int,
                     act: int, alpha: float, capacity: int, acts: np.ndarray,
                     zs: np.ndarray | None) -> None:
    """Every member's forward pass over x[:n]; outputs at the last layer's offset of acts
    as an (n, n_members * dims[-1]) block (layout: ensemble_layout)."""
    _ensemble.ensemble_forward(x, n, params, dims, n_members, act, alpha, capacity, acts, zs,
                               get_num_threads())


def ensemble_step(x: np.ndarray, n: int, targets: np.ndarray, weights: np.ndarray | None,
                  params: np.ndarray, grads: np.ndarray, dims: np.ndarray, n_members: int,
                  act: int, alpha: float, task: int, scale: float, capacity: int,
                  acts: np.ndarray, zs: np.ndarray | None, deltas: np.ndarray,
                  member_loss: np.ndarray) -> None:
    """Forward, per-member weighted loss (member_loss[k] = scale * sum_i w_ik l_ik) and
    backward of every member on x[:n], gradients into the grads arena (one call);
    deltas: scratch laid out like acts."""
    _ensemble.ensemble_step(x, n, targets, weights, params, grads, dims, n_members, act, alpha,
                            task, scale, capacity, acts, zs, deltas, member_loss,
                            get_num_threads())
# -- end ensemble --------------------------------------------------------------------------------
