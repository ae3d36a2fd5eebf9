# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Batch normalization, layer normalization and input standardization kernels.

Two tiers, as in src_c/dense.pyx: `cdef ... noexcept nogil` functions on raw
pointers (fused float32/float64) that never validate, and `def` kernels that
check their ndarray arguments cheaply and run with the GIL released. Kernels
process the first n rows of (rows, d) buffers and write only into buffers the
caller owns (statistics and per-column coefficients included), so a training
step allocates nothing.

Numerics. Means and variances are accumulated in double whatever the input
dtype, in two passes (mean, then the mean of squared deviations): the one-pass
E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std. Outputs are
formed as (x - mean) * scale + shift, the difference first, so that a large
common offset is removed before any rounding in the input precision. The
gradient sums of the backward passes are accumulated in double too.

Threads. Column sums (batch statistics, parameter gradients) split the
columns into one contiguous range per thread (a multiple of 32 wide; as
_activations.pxd's act_bias_cols_par), so each column is summed in row order by one
thread; row statistics and every element-wise pass (outputs, input gradients)
split the rows. No result depends on the thread count, bit for bit.

Fused activation. Batch normalization can apply an element-wise activation to
its output in the same pass (a model fuses `BatchNormalization ->
Activation(...)`): forward, out = act(z) with z = (x - c) * a + b computed
row by row; backward, dy *= act'(z) inside the gradient-sums pass, z being
recomputed from x with the same operations (bit-identical to the forward's),
so no z buffer and no separate pass either way.

Fused dropout. Likewise a `Dropout` that follows (after the activation, if
any) applies its mask to each output row in the same pass, and to the
incoming gradient at the start of the backward's sums pass: the mask of
element e is the one the Dropout layer itself would draw (the flat index e of
the batch, its seed and call counter), so the results are bit-identical to the
separate layers'.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isfinite, sqrt

from _activations cimport (ACT_COUNT, ACT_LINEAR, act_backward_row, act_forward_row, act_needs_z,
                           act_rowwise)
from _arrays cimport check_array, data_or_null, float_type
from _random cimport DropMask, drop_mask, dropout_inplace

cnp.import_array()

cdef enum:
    # Passes over fewer elements run on the calling thread: below ~32k elements
    # (~10 us of work) the team's fork/join costs about what it saves (dense.pyx).
    ELEM_PARALLEL_MIN = 1 << 15

# Rows of the batch-norm coefficient buffer `work` (dtype of x, shape (5, d)):
# the centre c and inverse deviation s of the normalization x_hat = (x - c) * s,
# the output scale a = gamma * s and shift beta, and two backward coefficients.
cdef enum:
    W_CENTER = 0
    W_INV = 1
    W_SCALE = 2
    W_SHIFT = 3     # beta (kept: a fused activation's backward recomputes z from it)
    W_K2 = 4        # backward: coefficient of (x - c) in dx
    W_K3 = 5        # backward: constant term of dx
    WORK_ROWS = 6

#: Rows of the `work` buffer the batch-norm kernels need.
BN_WORK_ROWS = WORK_ROWS

cdef enum:
    # Columns per stack-resident block of accumulators in the column reductions.
    LOCAL_COLS = 256
    # Rows per block of the batch statistics: 32 rows of 256 float64 columns (64 KB)
    # at most, read twice while they sit in L1/L2.
    STATS_ROWS = 32

# Keras's Normalization divides by max(sqrt(variance), backend.epsilon()) = 1e-7.
cdef double NORMALIZATION_MIN_STD = 1e-7


# The per-element loops of batch normalization are plain C so that gcc's
# target_clones builds AVX-512, AVX2 and baseline versions (the wheel has no
# -march; as _activations.pxd and noise.pyx): compiled by Cython for baseline
# x86-64 they ran on SSE2, two doubles per instruction, and the batch
# statistics cost more than the normalization itself (measured 4096 x 160
# float32, one thread: 0.43 ms -> see the commit). One function serves the
# forward output and the backward's recomputed pre-activation, so both round
# the same way (fused-activation gradients are bit-identical to the two layers').
cdef extern from *:
    """
    #include <stddef.h>
    #include "_clones.h"

    #define FNN_BN_LOOPS(T, SFX)                                                            \
    /* mean[j] and m2[j] (sum of squared deviations from mean[j]) of columns [0, w) of  \
       nb rows of x (row stride d), in double: two passes over the block, from cache. */ \
    FNN_CLONED void fnn_bn_block_stats_##SFX(const T *x, ptrdiff_t d, ptrdiff_t nb,     \
            ptrdiff_t w, double *restrict mean, double *restrict m2) {                     \
        for (ptrdiff_t j = 0; j < w; j++) { mean[j] = 0; m2[j] = 0; }                      \
        for (ptrdiff_t i = 0; i < nb; i++) {                                               \
            const T *r = x + i * d;                                                        \
            for (ptrdiff_t j = 0; j < w; j++) mean[j] += r[j];                             \
        }                                                                                  \
        for (ptrdiff_t j = 0; j < w; j++) mean[j] = mean[j] / nb;                          \
        for (ptrdiff_t i = 0; i < nb; i++) {                                               \
            const T *r = x + i * d;                                                        \
            for (ptrdiff_t j = 0; j < w; j++) {                                            \
                double t = r[j] - mean[j];                                                 \
                m2[j] += t * t;                                                            \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    /* s1[j] += dy[i, j], s2[j] += dy[i, j] * (x[i, j] - c[j]) * s[j] over nb rows. */     \
    FNN_CLONED void fnn_bn_grad_sums_##SFX(const T *x, const T *dy, ptrdiff_t d,        \
            ptrdiff_t nb, ptrdiff_t w, const T *c, const T *s, double *restrict s1,        \
            double *restrict s2) {                                                         \
        for (ptrdiff_t i = 0; i < nb; i++) {                                               \
            const T *r = x + i * d, *g = dy + i * d;                                       \
            for (ptrdiff_t j = 0; j < w; j++) {                                            \
                s1[j] += g[j];                                                             \
                s2[j] += (double)g[j] * ((r[j] - c[j]) * s[j]);                            \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    /* out = (x - c) * a + b: the difference first, then one multiply-add. */             \
    FNN_CLONED void fnn_bn_affine_##SFX(const T *x, const T *c, const T *a, const T *b, \
            T *out, ptrdiff_t w) {                                                         \
        for (ptrdiff_t j = 0; j < w; j++) out[j] = (x[j] - c[j]) * a[j] + b[j];            \
    }                                                                                      \
    /* training dx: dy := dy * a + (x - c) * k2 + k3. */                                   \
    FNN_CLONED void fnn_bn_dx_##SFX(const T *x, T *dy, const T *c, const T *a,          \
            const T *k2, const T *k3, ptrdiff_t w) {                                       \
        for (ptrdiff_t j = 0; j < w; j++) dy[j] = dy[j] * a[j] + (x[j] - c[j]) * k2[j] + k3[j]; \
    }                                                                                      \
    FNN_CLONED void fnn_bn_scale_##SFX(T *dy, const T *a, ptrdiff_t w) {                \
        for (ptrdiff_t j = 0; j < w; j++) dy[j] = dy[j] * a[j];                            \
    }
    FNN_BN_LOOPS(float, f32)
    FNN_BN_LOOPS(double, f64)
    """
    void bn_block_stats_f32 "fnn_bn_block_stats_f32"(const float* x, Py_ssize_t d, Py_ssize_t nb, Py_ssize_t w, double* mean, double* m2) noexcept nogil
    void bn_block_stats_f64 "fnn_bn_block_stats_f64"(const double* x, Py_ssize_t d, Py_ssize_t nb, Py_ssize_t w, double* mean, double* m2) noexcept nogil
    void bn_grad_sums_f32 "fnn_bn_grad_sums_f32"(const float* x, const float* dy, Py_ssize_t d, Py_ssize_t nb, Py_ssize_t w, const float* c, const float* s, double* s1, double* s2) noexcept nogil
    void bn_grad_sums_f64 "fnn_bn_grad_sums_f64"(const double* x, const double* dy, Py_ssize_t d, Py_ssize_t nb, Py_ssize_t w, const double* c, const double* s, double* s1, double* s2) noexcept nogil
    void bn_affine_f32 "fnn_bn_affine_f32"(const float* x, const float* c, const float* a, const float* b, float* out, Py_ssize_t w) noexcept nogil
    void bn_affine_f64 "fnn_bn_affine_f64"(const double* x, const double* c, const double* a, const double* b, double* out, Py_ssize_t w) noexcept nogil
    void bn_dx_f32 "fnn_bn_dx_f32"(const float* x, float* dy, const float* c, const float* a, const float* k2, const float* k3, Py_ssize_t w) noexcept nogil
    void bn_dx_f64 "fnn_bn_dx_f64"(const double* x, double* dy, const double* c, const double* a, const double* k2, const double* k3, Py_ssize_t w) noexcept nogil
    void bn_scale_f32 "fnn_bn_scale_f32"(float* dy, const float* a, Py_ssize_t w) noexcept nogil
    void bn_scale_f64 "fnn_bn_scale_f64"(double* dy, const double* a, Py_ssize_t w) noexcept nogil


cdef inline Py_ssize_t column_step(Py_ssize_t d, int n_threads) noexcept nogil:
    """Width of each thread's column range: d / n_threads rounded up to 32 columns
    (a whole block of the dropout generator: when d is a multiple of 32 too, a
    fused Dropout's row segments start on a block and run vectorized)."""
    return ((d + n_threads - 1) // n_threads + 31) // 32 * 32


cdef inline bint use_threads(Py_ssize_t n, Py_ssize_t d, int n_threads) noexcept nogil:
    return n_threads > 1 and n * d >= ELEM_PARALLEL_MIN


# -- batch normalization ---------------------------------------------------------------------

cdef int _check_drop_rate(double rate, bint training) except -1:
    if not (0.0 <= rate < 1.0):
        raise ValueError(f"drop_rate: expected a float in [0, 1), got {rate}")
    if rate > 0 and not training:
        raise ValueError("drop_rate: dropout applies in training only, got a rate in inference")
    return 0


cdef int _check_act(int act) except -1:
    if act < 0 or act >= ACT_COUNT or act_rowwise(act):
        raise ValueError(f"act: expected an element-wise activation code in [0, {ACT_COUNT}) "
                         f"(not softmax or log_softmax), got {act}")
    return 0


cdef void bn_stats_cols(const floating* x, double* acc, Py_ssize_t n, Py_ssize_t d,
                        Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """acc[0, j] = mean, acc[1, j] = biased variance of column j of x[:n], j in [c0, c1), n >= 1.

    Two passes per block of STATS_ROWS rows while the block is in L1 (its mean,
    then its squared deviations from that mean), and the blocks merged in row
    order with Chan, Golub & LeVeque's pairwise update:
        delta = mean_b - mean;  mean += delta * n_b / (m + n_b)
        M2 += M2_b + delta**2 * m * n_b / (m + n_b)
    As accurate as two passes over the whole column (no E[x^2] - E[x]^2
    cancellation when |mean| >> std) for one pass over memory.

    The sums run in accumulators on this thread's stack, LOCAL_COLS columns at
    a time, and reach `acc` once: accumulating into a shared buffer row by row
    made two threads slower than one (the cache line holding both threads'
    boundary columns bounced between the cores on every row)."""
    cdef double mean[LOCAL_COLS]
    cdef double m2[LOCAL_COLS]
    cdef double bs[LOCAL_COLS]
    cdef double bq[LOCAL_COLS]
    cdef Py_ssize_t j, cb, w, r0, nb, m
    cdef double delta, f
    cb = c0
    while cb < c1:
        w = min(LOCAL_COLS, c1 - cb)
        for j in range(w):
            mean[j] = 0
            m2[j] = 0
        m = 0
        r0 = 0
        while r0 < n:
            nb = min(STATS_ROWS, n - r0)
            if floating is float:
                bn_block_stats_f32(x + r0 * d + cb, d, nb, w, bs, bq)
            else:
                bn_block_stats_f64(x + r0 * d + cb, d, nb, w, bs, bq)
            f = <double>nb / (m + nb)
            for j in range(w):
                delta = bs[j] - mean[j]
                mean[j] += delta * f
                m2[j] += bq[j] + delta * delta * m * f
            m += nb
            r0 += nb
        for j in range(w):
            acc[cb + j] = mean[j]
            acc[d + cb + j] = m2[j] / n  # biased (divide by n), as Keras
        cb += w


cdef void bn_grad_sums_cols(const floating* x, floating* dy, const floating* y,
                            const floating* work, double* acc, Py_ssize_t n, Py_ssize_t d,
                            Py_ssize_t c0, Py_ssize_t c1, int act, floating alpha,
                            DropMask drop) noexcept nogil:
    """acc[0, j] = sum_i dy, acc[1, j] = sum_i dy * x_hat for j in [c0, c1), with
    x_hat = (x - c) * s recomputed from x (not stored); stack accumulators as
    bn_stats_cols. With a fused activation (act != ACT_LINEAR), dy first becomes
    dy * act'(z) in place, z = (x - c) * a + b recomputed into a stack row, y
    the forward output act(z). A fused dropout's mask goes first: dy := dy * mask,
    and y, which then holds the dropped output, is recomputed as act(z)."""
    cdef double s1[LOCAL_COLS]
    cdef double s2[LOCAL_COLS]
    cdef floating zb[LOCAL_COLS]
    cdef floating yb[LOCAL_COLS]
    cdef const floating* yrow
    cdef Py_ssize_t i, j, cb, w
    cdef const floating* wc
    cdef const floating* ws
    cdef const floating* wa
    cdef const floating* wb
    cb = c0
    while cb < c1:
        w = min(LOCAL_COLS, c1 - cb)
        wc = work + W_CENTER * d + cb
        ws = work + W_INV * d + cb
        wa = work + W_SCALE * d + cb
        wb = work + W_SHIFT * d + cb
        for j in range(w):
            s1[j] = 0
            s2[j] = 0
        if act == ACT_LINEAR and not drop.on:
            grad_sums(x + cb, dy + cb, d, n, w, wc, ws, s1, s2)
        else:  # row by row: mask and act' applied while the row segment is in cache, then sums
            for i in range(n):
                if drop.on:
                    dropout_inplace(dy, i * d + cb, i * d + cb + w, drop.base, drop.thr,
                                    <floating>drop.scale)
                if act != ACT_LINEAR:
                    bn_affine(x + i * d + cb, wc, wa, wb, zb, w)
                    yrow = y + i * d + cb
                    if drop.on and not act_needs_z(act):
                        for j in range(w):
                            yb[j] = zb[j]
                        act_forward_row(act, alpha, yb, w)
                        yrow = yb
                    act_backward_row(act, alpha, dy + i * d + cb, yrow, zb, w)
                grad_sums(x + i * d + cb, dy + i * d + cb, d, 1, w, wc, ws, s1, s2)
        for j in range(w):
            acc[cb + j] = s1[j]
            acc[d + cb + j] = s2[j]
        cb += w


cdef void bn_act_backward_rows(const floating* x, floating* dy, const floating* y,
                               const floating* work, Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t d,
                               int act, floating alpha) noexcept nogil:
    """dy := dy * act'(z) for rows [i0, i1), z recomputed as in bn_grad_sums_cols
    (the backward passes that take no column sums)."""
    cdef floating zb[LOCAL_COLS]
    cdef Py_ssize_t i, cb, w
    for i in range(i0, i1):
        cb = 0
        while cb < d:
            w = min(LOCAL_COLS, d - cb)
            bn_affine(x + i * d + cb, work + W_CENTER * d + cb, work + W_SCALE * d + cb,
                      work + W_SHIFT * d + cb, zb, w)
            act_backward_row(act, alpha, dy + i * d + cb, y + i * d + cb, zb, w)
            cb += w


cdef inline void bn_affine(const floating* x, const floating* c, const floating* a,
                           const floating* b, floating* out, Py_ssize_t w) noexcept nogil:
    """out = (x - c) * a + b over w elements."""
    if floating is float:
        bn_affine_f32(x, c, a, b, out, w)
    else:
        bn_affine_f64(x, c, a, b, out, w)


cdef inline void grad_sums(const floating* x, const floating* dy, Py_ssize_t d, Py_ssize_t nb,
                           Py_ssize_t w, const floating* c, const floating* s, double* s1,
                           double* s2) noexcept nogil:
    if floating is float:
        bn_grad_sums_f32(x, dy, d, nb, w, c, s, s1, s2)
    else:
        bn_grad_sums_f64(x, dy, d, nb, w, c, s, s1, s2)


cdef inline void bn_dx_row(const floating* x, floating* dy, const floating* work,
                           Py_ssize_t d) noexcept nogil:
    """dy := dy * a + (x - c) * k2 + k3 (training-mode dx, coefficients in work)."""
    if floating is float:
        bn_dx_f32(x, dy, work + W_CENTER * d, work + W_SCALE * d, work + W_K2 * d,
                  work + W_K3 * d, d)
    else:
        bn_dx_f64(x, dy, work + W_CENTER * d, work + W_SCALE * d, work + W_K2 * d,
                  work + W_K3 * d, d)


cdef inline void bn_scale_row(floating* dy, const floating* a, Py_ssize_t d) noexcept nogil:
    if floating is float:
        bn_scale_f32(dy, a, d)
    else:
        bn_scale_f64(dy, a, d)


cdef void column_reduce(bint grads, const floating* x, floating* dy, const floating* y,
                        const floating* work, double* acc, Py_ssize_t n, Py_ssize_t d,
                        int act, floating alpha, DropMask drop, int n_threads) noexcept nogil:
    """bn_stats_cols (grads False) or bn_grad_sums_cols over all columns, one
    contiguous column range per thread (a multiple of 32 columns): each
    column's sums run in row order on one thread, so the result does not depend
    on the thread count."""
    cdef Py_ssize_t t, c0, step = column_step(d, n_threads)
    if use_threads(n, d, n_threads) and d > 16:
        for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
            c0 = t * step
            if c0 < d:
                if grads:
                    bn_grad_sums_cols(x, dy, y, work, acc, n, d, c0, min(c0 + step, d), act,
                                      alpha, drop)
                else:
                    bn_stats_cols(x, acc, n, d, c0, min(c0 + step, d))
    elif grads:
        bn_grad_sums_cols(x, dy, y, work, acc, n, d, 0, d, act, alpha, drop)
    else:
        bn_stats_cols(x, acc, n, d, 0, d)


cdef inline void bn_output_row(const floating* x, const floating* c, const floating* a,
                               const floating* b, floating* out, Py_ssize_t i, Py_ssize_t d,
                               int act, floating alpha, DropMask drop) noexcept nogil:
    """Row i of the output: affine, then the fused activation and dropout, in cache."""
    bn_affine(x + i * d, c, a, b, out + i * d, d)
    if act != ACT_LINEAR:
        act_forward_row(act, alpha, out + i * d, d)
    if drop.on:
        dropout_inplace(out, i * d, (i + 1) * d, drop.base, drop.thr, <floating>drop.scale)


cdef void _bn_forward(const floating* x, const floating* gamma, const floating* beta,
                      floating* moving_mean, floating* moving_var, floating* out, double* acc,
                      floating* work, Py_ssize_t n, Py_ssize_t d, double momentum, double eps,
                      bint training, int act, floating alpha, DropMask drop,
                      int n_threads) noexcept nogil:
    """Training: column statistics (two passes over x), then per-column
    coefficients, then the output (one pass, split by rows, the activation
    applied to each row while it is in cache). Inference: the coefficients from
    the moving statistics, then the output."""
    cdef Py_ssize_t i, j
    cdef double mean, var, inv
    cdef floating* wc = work + W_CENTER * d
    cdef floating* ws = work + W_INV * d
    cdef floating* wa = work + W_SCALE * d
    cdef floating* wb = work + W_SHIFT * d
    if training:
        column_reduce(False, x, NULL, NULL, NULL, acc, n, d, ACT_LINEAR, 0, drop_mask(0, 0, 0),
                      n_threads)
    for j in range(d):
        if training:
            mean = acc[j]
            var = acc[d + j]  # n == 1 gives 0: x_hat = 0, out = beta, no NaN
            # Keras: moving = moving * momentum + batch * (1 - momentum), biased variance.
            moving_mean[j] = <floating>(moving_mean[j] * momentum + mean * (1.0 - momentum))
            moving_var[j] = <floating>(moving_var[j] * momentum + var * (1.0 - momentum))
        else:
            mean = moving_mean[j]
            var = moving_var[j]
        inv = 1.0 / sqrt(var + eps)
        wc[j] = <floating>mean
        ws[j] = <floating>inv
        wa[j] = <floating>(gamma[j] * inv)
        wb[j] = beta[j]
    if use_threads(n, d, n_threads):
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            bn_output_row(x, wc, wa, wb, out, i, d, act, alpha, drop)
    else:
        for i in range(n):
            bn_output_row(x, wc, wa, wb, out, i, d, act, alpha, drop)


cdef void _bn_backward(const floating* x, floating* dy, const floating* y, floating* dgamma,
                       floating* dbeta, double* acc, floating* work, Py_ssize_t n, Py_ssize_t d,
                       bint training, bint need_dx, int act, floating alpha, DropMask drop,
                       int n_threads) noexcept nogil:
    """Backward pass of batch normalization; dy becomes dx if need_dx.

    With x_hat = (x - c) * s and a = gamma * s:
      dbeta = sum_i dy,  dgamma = sum_i dy * x_hat,
      training:  dx = a * (dy - dbeta / n - x_hat * dgamma / n)
               = dy * a + (x - c) * (-a * s * dgamma / n) + (-a * dbeta / n)
      inference: dx = dy * a (the statistics are constants).
    Two passes: the column sums, then dx (split by rows). A fused activation's
    derivative is applied to dy first, inside the column-sums pass (or in a pass
    of its own when no sums are needed)."""
    cdef Py_ssize_t i, j
    cdef const floating* ws = work + W_INV * d
    cdef const floating* wa = work + W_SCALE * d
    cdef floating* wk2 = work + W_K2 * d
    cdef floating* wk3 = work + W_K3 * d
    cdef bint parallel = use_threads(n, d, n_threads)
    if dgamma != NULL or dbeta != NULL or (training and need_dx):
        column_reduce(True, x, dy, y, work, acc, n, d, act, alpha, drop, n_threads)
        for j in range(d):
            if dbeta != NULL:
                dbeta[j] = <floating>acc[j]
            if dgamma != NULL:
                dgamma[j] = <floating>acc[d + j]
    if not need_dx:
        return
    if act != ACT_LINEAR and not training and dgamma == NULL and dbeta == NULL:
        if parallel:  # chunks of rows, one per thread
            for i in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
                bn_act_backward_rows(x, dy, y, work, i * n // n_threads, (i + 1) * n // n_threads,
                                     d, act, alpha)
        else:
            bn_act_backward_rows(x, dy, y, work, 0, n, d, act, alpha)
    if training:
        for j in range(d):
            wk2[j] = <floating>(-(<double>wa[j]) * ws[j] * acc[d + j] / n)
            wk3[j] = <floating>(-(<double>wa[j]) * acc[j] / n)
        if parallel:
            for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
                bn_dx_row(x + i * d, dy + i * d, work, d)
        else:
            for i in range(n):
                bn_dx_row(x + i * d, dy + i * d, work, d)
    elif parallel:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            bn_scale_row(dy + i * d, wa, d)
    else:
        for i in range(n):
            bn_scale_row(dy + i * d, wa, d)


def batch_norm_forward(cnp.ndarray x not None, cnp.ndarray gamma not None,
                       cnp.ndarray beta not None, cnp.ndarray moving_mean not None,
                       cnp.ndarray moving_variance not None, cnp.ndarray out not None,
                       cnp.ndarray acc not None, cnp.ndarray work not None, Py_ssize_t n,
                       double momentum, double epsilon, bint training, int act=ACT_LINEAR,
                       double alpha=0, double drop_rate=0, unsigned long long drop_seed=0,
                       unsigned long long drop_counter=0, int n_threads=1):
    """Batch normalization over the first n rows of x.

    training: out = gamma * (x - mean) / sqrt(var + epsilon) + beta with the
    batch's column mean and biased variance, and (when n >= 1) the moving
    statistics updated in place: moving = moving * momentum + batch * (1 - momentum).
    Inference: the same with moving_mean / moving_variance, which stay unchanged.

    Parameters
    ----------
    x : (>= n, d) float32/float64, C-contiguous, read only
    gamma, beta : (d,) scale and shift (pass ones / zeros when the layer has none)
    moving_mean, moving_variance : (d,), written in training
    out : (>= n, d), written
    acc : (2, d) float64 workspace (batch mean and squared deviations)
    work : (BN_WORK_ROWS, d) workspace in x's dtype; holds what batch_norm_backward needs
    n : rows; momentum in [0, 1]; epsilon > 0
    act, alpha : an element-wise activation code (_activations.pxd) and its
        parameter, applied to the output in the same pass (out = act(z))
    drop_rate, drop_seed, drop_counter : a fused Dropout's call (rate 0: none),
        applied after the activation (training only; noise.pyx's mask)
    n_threads : the result does not depend on it
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t d = x.shape[1]
    check_array(gamma, "gamma", t, 1, d, -1, False)
    check_array(beta, "beta", t, 1, d, -1, False)
    check_array(moving_mean, "moving_mean", t, 1, d, -1, training)
    check_array(moving_variance, "moving_variance", t, 1, d, -1, training)
    check_array(out, "out", t, 2, n, d, True)
    check_array(acc, "acc", cnp.NPY_FLOAT64, 2, 2, d, True)
    check_array(work, "work", t, 2, WORK_ROWS, d, True)
    if not (0.0 <= momentum <= 1.0):
        raise ValueError(f"momentum: expected a float in [0, 1], got {momentum}")
    if not (epsilon > 0.0 and isfinite(epsilon)):
        raise ValueError(f"epsilon: expected a finite float > 0, got {epsilon}")
    _check_act(act)
    _check_drop_rate(drop_rate, training)
    cdef DropMask drop = drop_mask(drop_rate, drop_seed, drop_counter)
    if training and n == 0:
        return  # no batch statistics: nothing to normalize, moving statistics unchanged
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _bn_forward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(gamma),
                        <float*>cnp.PyArray_DATA(beta), <float*>cnp.PyArray_DATA(moving_mean),
                        <float*>cnp.PyArray_DATA(moving_variance), <float*>cnp.PyArray_DATA(out),
                        <double*>cnp.PyArray_DATA(acc), <float*>cnp.PyArray_DATA(work),
                        n, d, momentum, epsilon, training, act, <float>alpha, drop, n_threads)
    else:
        with nogil:
            _bn_forward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(gamma),
                        <double*>cnp.PyArray_DATA(beta), <double*>cnp.PyArray_DATA(moving_mean),
                        <double*>cnp.PyArray_DATA(moving_variance), <double*>cnp.PyArray_DATA(out),
                        <double*>cnp.PyArray_DATA(acc), <double*>cnp.PyArray_DATA(work),
                        n, d, momentum, epsilon, training, act, alpha, drop, n_threads)


def batch_norm_backward(cnp.ndarray x not None, cnp.ndarray dy not None, object dgamma,
                        object dbeta, cnp.ndarray acc not None, cnp.ndarray work not None,
                        Py_ssize_t n, bint training, bint need_dx, object y=None,
                        int act=ACT_LINEAR, double alpha=0, double drop_rate=0,
                        unsigned long long drop_seed=0, unsigned long long drop_counter=0,
                        int n_threads=1):
    """Backward pass of the batch_norm_forward call that filled `work` (same x, n,
    training, act, alpha; y its output, required with an activation).

    Writes dgamma = sum(dy * x_hat) and dbeta = sum(dy) over the n rows (each
    skipped when None) and, when need_dx, overwrites dy[:n] with d(loss)/dx:
    training: gamma / sqrt(var + eps) / n * (n dy - sum(dy) - x_hat sum(dy x_hat));
    inference: gamma / sqrt(moving_var + eps) * dy.
    With an activation, dy is first replaced by dy * act'(z) (in place, whatever need_dx),
    and before that, with a fused Dropout (the forward's drop_*), by dy * mask.
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t d = x.shape[1]
    _check_act(act)
    _check_drop_rate(drop_rate, training)
    cdef DropMask drop = drop_mask(drop_rate, drop_seed, drop_counter)
    check_array(dy, "dy", t, 2, n, d, need_dx or act != ACT_LINEAR or drop.on)
    cdef void* yp = NULL
    if act != ACT_LINEAR:
        if y is None:
            raise ValueError("y: expected the forward output (a fused activation reads it), got None")
        check_array(y, "y", t, 2, n, d, False)
        yp = cnp.PyArray_DATA(y)
    cdef void* dgp = data_or_null(dgamma, "dgamma", t, 1, d, -1, True)
    cdef void* dbp = data_or_null(dbeta, "dbeta", t, 1, d, -1, True)
    check_array(acc, "acc", cnp.NPY_FLOAT64, 2, 2, d, True)
    check_array(work, "work", t, 2, WORK_ROWS, d, True)
    if training and n == 0:  # the empty batch contributes nothing
        if dgamma is not None:
            dgamma[...] = 0
        if dbeta is not None:
            dbeta[...] = 0
        return
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _bn_backward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(dy), <float*>yp,
                         <float*>dgp, <float*>dbp, <double*>cnp.PyArray_DATA(acc),
                         <float*>cnp.PyArray_DATA(work), n, d, training, need_dx, act, <float>alpha,
                         drop, n_threads)
    else:
        with nogil:
            _bn_backward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(dy), <double*>yp,
                         <double*>dgp, <double*>dbp, <double*>cnp.PyArray_DATA(acc),
                         <double*>cnp.PyArray_DATA(work), n, d, training, need_dx, act, alpha,
                         drop, n_threads)


# -- layer normalization ---------------------------------------------------------------------

cdef inline double row_sum(const floating* a, Py_ssize_t d) noexcept nogil:
    """sum(a[:d]) in double, four interleaved partial sums (a fixed order: the
    result does not depend on threads; four chains also hide the add latency)."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t j = 0
    while j + 4 <= d:
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        j += 4
    while j < d:
        s0 += a[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double row_sq_dev(const floating* a, Py_ssize_t d, double mean) noexcept nogil:
    """sum((a[:d] - mean)**2) in double, four partial sums as row_sum."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0, e0, e1, e2, e3
    cdef Py_ssize_t j = 0
    while j + 4 <= d:
        e0 = a[j] - mean
        e1 = a[j + 1] - mean
        e2 = a[j + 2] - mean
        e3 = a[j + 3] - mean
        s0 += e0 * e0
        s1 += e1 * e1
        s2 += e2 * e2
        s3 += e3 * e3
        j += 4
    while j < d:
        e0 = a[j] - mean
        s0 += e0 * e0
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline void ln_forward_row(const floating* x, const floating* gamma, const floating* beta,
                                floating* out, double* stats, Py_ssize_t d, double eps) noexcept nogil:
    """One row: stats = (mean, 1 / sqrt(var + eps)); out = (x - mean) * inv * gamma + beta."""
    cdef double mean = row_sum(x, d) / d
    cdef double inv = 1.0 / sqrt(row_sq_dev(x, d, mean) / d + eps)
    cdef floating m = <floating>mean, s = <floating>inv
    cdef Py_ssize_t j
    stats[0] = mean
    stats[1] = inv
    for j in range(d):
        out[j] = (x[j] - m) * s * gamma[j] + beta[j]


cdef void ln_grad_sums_cols(const floating* x, const floating* dy, const double* stats,
                            double* acc, Py_ssize_t n, Py_ssize_t d, Py_ssize_t c0,
                            Py_ssize_t c1) noexcept nogil:
    """acc[0, j] = sum_i dy, acc[1, j] = sum_i dy * x_hat for j in [c0, c1), in row
    order, in stack accumulators (see bn_stats_cols for why)."""
    cdef double s1[LOCAL_COLS]
    cdef double s2[LOCAL_COLS]
    cdef Py_ssize_t i, j, cb, w
    cdef const floating* row
    cdef const floating* drow
    cdef floating m, s
    cb = c0
    while cb < c1:
        w = min(LOCAL_COLS, c1 - cb)
        for j in range(w):
            s1[j] = 0
            s2[j] = 0
        for i in range(n):
            row = x + i * d + cb
            drow = dy + i * d + cb
            m = <floating>stats[2 * i]
            s = <floating>stats[2 * i + 1]
            for j in range(w):
                s1[j] += drow[j]
                s2[j] += <double>drow[j] * ((row[j] - m) * s)
        for j in range(w):
            acc[cb + j] = s1[j]
            acc[d + cb + j] = s2[j]
        cb += w


cdef inline void ln_dx_row(const floating* x, const floating* gamma, floating* dy,
                           const double* stats, Py_ssize_t d) noexcept nogil:
    """One row, in place: dy := dx = s * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * gamma,
    written as dy * gamma * s + (x - m) * (-s * s * sum(g x_hat) / d) + (-s * sum(g) / d)."""
    cdef floating m = <floating>stats[0], s = <floating>stats[1], g, xh
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0
    cdef double sg, sgx
    cdef floating k2, k3
    cdef Py_ssize_t j = 0, k
    # sum(g) and sum(g * x_hat), four interleaved partial sums each (as row_sum)
    while j + 4 <= d:
        g = dy[j] * gamma[j]
        s0 += g
        t0 += <double>g * ((x[j] - m) * s)
        g = dy[j + 1] * gamma[j + 1]
        s1 += g
        t1 += <double>g * ((x[j + 1] - m) * s)
        g = dy[j + 2] * gamma[j + 2]
        s2 += g
        t2 += <double>g * ((x[j + 2] - m) * s)
        g = dy[j + 3] * gamma[j + 3]
        s3 += g
        t3 += <double>g * ((x[j + 3] - m) * s)
        j += 4
    while j < d:
        g = dy[j] * gamma[j]
        s0 += g
        t0 += <double>g * ((x[j] - m) * s)
        j += 1
    sg = (s0 + s1) + (s2 + s3)
    sgx = (t0 + t1) + (t2 + t3)
    k2 = <floating>(-(<double>s) * s * sgx / d)
    k3 = <floating>(-(<double>s) * sg / d)
    for k in range(d):
        dy[k] = dy[k] * gamma[k] * s + (x[k] - m) * k2 + k3


cdef void _ln_forward(const floating* x, const floating* gamma, const floating* beta,
                      floating* out, double* stats, Py_ssize_t n, Py_ssize_t d, double eps,
                      int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if use_threads(n, d, n_threads):
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            ln_forward_row(x + i * d, gamma, beta, out + i * d, stats + 2 * i, d, eps)
    else:
        for i in range(n):
            ln_forward_row(x + i * d, gamma, beta, out + i * d, stats + 2 * i, d, eps)


cdef void _ln_backward(const floating* x, const floating* gamma, floating* dy, floating* dgamma,
                       floating* dbeta, double* acc, const double* stats, Py_ssize_t n,
                       Py_ssize_t d, bint need_dx, int n_threads) noexcept nogil:
    """Parameter gradients (column sums, one column range per thread), then dx
    in place (rows split between threads)."""
    cdef Py_ssize_t i, j, t, c0, step = column_step(d, n_threads)
    cdef bint parallel = use_threads(n, d, n_threads)
    if dgamma != NULL or dbeta != NULL:
        if parallel and d > 16:
            for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
                c0 = t * step
                if c0 < d:
                    ln_grad_sums_cols(x, dy, stats, acc, n, d, c0, min(c0 + step, d))
        else:
            ln_grad_sums_cols(x, dy, stats, acc, n, d, 0, d)
        for j in range(d):
            if dbeta != NULL:
                dbeta[j] = <floating>acc[j]
            if dgamma != NULL:
                dgamma[j] = <floating>acc[d + j]
    if not need_dx:
        return
    if parallel:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            ln_dx_row(x + i * d, gamma, dy + i * d, stats + 2 * i, d)
    else:
        for i in range(n):
            ln_dx_row(x + i * d, gamma, dy + i * d, stats + 2 * i, d)


def layer_norm_forward(cnp.ndarray x not None, cnp.ndarray gamma not None,
                       cnp.ndarray beta not None, cnp.ndarray out not None,
                       cnp.ndarray stats not None, Py_ssize_t n, double epsilon, int n_threads=1):
    """Layer normalization of each of the first n rows of x over its d features:
    out = gamma * (x - mean_row) / sqrt(var_row + epsilon) + beta (biased variance).

    x : (>= n, d) read only; gamma, beta : (d,) (ones / zeros when the layer has
    none); out : (>= n, d) written; stats : (>= n, 2) float64, written with each
    row's (mean, 1 / sqrt(var + epsilon)) for layer_norm_backward.
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t d = x.shape[1]
    check_array(gamma, "gamma", t, 1, d, -1, False)
    check_array(beta, "beta", t, 1, d, -1, False)
    check_array(out, "out", t, 2, n, d, True)
    check_array(stats, "stats", cnp.NPY_FLOAT64, 2, n, 2, True)
    if not (epsilon > 0.0 and isfinite(epsilon)):
        raise ValueError(f"epsilon: expected a finite float > 0, got {epsilon}")
    if d == 0:
        return
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _ln_forward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(gamma),
                        <float*>cnp.PyArray_DATA(beta), <float*>cnp.PyArray_DATA(out),
                        <double*>cnp.PyArray_DATA(stats), n, d, epsilon, n_threads)
    else:
        with nogil:
            _ln_forward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(gamma),
                        <double*>cnp.PyArray_DATA(beta), <double*>cnp.PyArray_DATA(out),
                        <double*>cnp.PyArray_DATA(stats), n, d, epsilon, n_threads)


def layer_norm_backward(cnp.ndarray x not None, cnp.ndarray gamma not None,
                        cnp.ndarray dy not None, object dgamma, object dbeta,
                        cnp.ndarray acc not None, cnp.ndarray stats not None, Py_ssize_t n,
                        bint need_dx, int n_threads=1):
    """Backward pass of the layer_norm_forward call that filled `stats`.

    Writes dgamma = sum_rows(dy * x_hat), dbeta = sum_rows(dy) (each skipped when
    None; acc is a (2, d) float64 workspace) and, when need_dx, overwrites dy[:n]
    with d(loss)/dx = inv * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * gamma,
    means over the row's features.
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t d = x.shape[1]
    check_array(gamma, "gamma", t, 1, d, -1, False)
    check_array(dy, "dy", t, 2, n, d, need_dx)
    cdef void* dgp = data_or_null(dgamma, "dgamma", t, 1, d, -1, True)
    cdef void* dbp = data_or_null(dbeta, "dbeta", t, 1, d, -1, True)
    check_array(acc, "acc", cnp.NPY_FLOAT64, 2, 2, d, True)
    check_array(stats, "stats", cnp.NPY_FLOAT64, 2, n, 2, False)
    if d == 0:
        return
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _ln_backward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(gamma),
                         <float*>cnp.PyArray_DATA(dy), <float*>dgp, <float*>dbp,
                         <double*>cnp.PyArray_DATA(acc), <double*>cnp.PyArray_DATA(stats),
                         n, d, need_dx, n_threads)
    else:
        with nogil:
            _ln_backward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(gamma),
                         <double*>cnp.PyArray_DATA(dy), <double*>dgp, <double*>dbp,
                         <double*>cnp.PyArray_DATA(acc), <double*>cnp.PyArray_DATA(stats),
                         n, d, need_dx, n_threads)


# -- input standardization (Normalization) ---------------------------------------------------

cdef void _standardize(const floating* x, const floating* mean, const floating* var,
                       floating* inv_std, floating* out, Py_ssize_t n, Py_ssize_t d,
                       int n_threads) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double sd
    for j in range(d):
        # Keras: (x - mean) / max(sqrt(variance), 1e-7). A negative variance (only
        # possible through set_weights) counts as 0 rather than giving NaN.
        sd = sqrt(var[j]) if var[j] > 0 else 0.0
        inv_std[j] = <floating>(1.0 / (sd if sd > NORMALIZATION_MIN_STD else NORMALIZATION_MIN_STD))
    if use_threads(n, d, n_threads):
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            standardize_row(x + i * d, mean, inv_std, out + i * d, d)
    else:
        for i in range(n):
            standardize_row(x + i * d, mean, inv_std, out + i * d, d)


cdef inline void standardize_row(const floating* x, const floating* mean, const floating* inv_std,
                                 floating* out, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(d):
        out[j] = (x[j] - mean[j]) * inv_std[j]


cdef inline void scale_row(floating* a, const floating* s, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(d):
        a[j] = a[j] * s[j]


def normalization_forward(cnp.ndarray x not None, cnp.ndarray mean not None,
                          cnp.ndarray variance not None, cnp.ndarray inv_std not None,
                          cnp.ndarray out not None, Py_ssize_t n, int n_threads=1):
    """out[:n] = (x[:n] - mean) * inv_std, inv_std = 1 / max(sqrt(variance), 1e-7).

    x : (>= n, d) read only; mean, variance : (d,); inv_std : (d,) written (for
    normalization_backward); out : (>= n, d) written. Multiplying by the
    reciprocal is within one rounding of Keras's division.
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t d = x.shape[1]
    check_array(mean, "mean", t, 1, d, -1, False)
    check_array(variance, "variance", t, 1, d, -1, False)
    check_array(inv_std, "inv_std", t, 1, d, -1, True)
    check_array(out, "out", t, 2, n, d, True)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _standardize(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(mean),
                         <float*>cnp.PyArray_DATA(variance), <float*>cnp.PyArray_DATA(inv_std),
                         <float*>cnp.PyArray_DATA(out), n, d, n_threads)
    else:
        with nogil:
            _standardize(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(mean),
                         <double*>cnp.PyArray_DATA(variance), <double*>cnp.PyArray_DATA(inv_std),
                         <double*>cnp.PyArray_DATA(out), n, d, n_threads)


cdef void _scale_rows(floating* dout, const floating* inv_std, Py_ssize_t n, Py_ssize_t d,
                      int n_threads) noexcept nogil:
    """dout[:n] *= inv_std, row by row (rows split between threads when large)."""
    cdef Py_ssize_t i
    if use_threads(n, d, n_threads):
        for i in prange(n, schedule="static", num_threads=n_threads):
            scale_row(dout + i * d, inv_std, d)
    else:
        for i in range(n):
            scale_row(dout + i * d, inv_std, d)


def normalization_backward(cnp.ndarray dout not None, cnp.ndarray inv_std not None, Py_ssize_t n,
                           int n_threads=1):
    """In place: dout[:n] *= inv_std (the gradient of normalization_forward w.r.t. x)."""
    cdef int t = float_type(dout, "dout")
    check_array(dout, "dout", t, 2, n, -1, True)
    cdef Py_ssize_t d = dout.shape[1]
    check_array(inv_std, "inv_std", t, 1, d, -1, False)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _scale_rows(<float*>cnp.PyArray_DATA(dout), <float*>cnp.PyArray_DATA(inv_std), n, d,
                        n_threads)
    else:
        with nogil:
            _scale_rows(<double*>cnp.PyArray_DATA(dout), <double*>cnp.PyArray_DATA(inv_std), n, d,
                        n_threads)
