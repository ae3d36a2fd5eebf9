# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Dense layer kernels: y = act(x @ W + b) and its backward pass.

Two tiers: `cdef ... noexcept nogil` functions on raw pointers (fused float32 /
float64) that never validate, and `def` kernels that check their ndarray
arguments cheaply (shape, dtype, contiguity) and call them with the GIL released.
Every kernel writes into buffers the caller owns and processes the first `n`
rows, so a model can keep one buffer per layer sized for its largest batch.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from _activations cimport ACT_LINEAR, ACT_SOFTMAX, act_forward_row, act_backward_row
from _arrays cimport check_array, data_or_null, float_type
from _blas cimport gemm_par

cnp.import_array()

cdef enum:
    # Element-wise passes smaller than this run on the calling thread: below
    # ~32k elements (~10 us of work) the team's fork/join costs about what it saves.
    ELEM_PARALLEL_MIN = 1 << 15


cdef void bias_act_forward(floating* z, const floating* b, Py_ssize_t n, Py_ssize_t units,
                           int act, int n_threads) noexcept nogil:
    """z[i, :] := act(z[i, :] + b) for the first n rows (b may be NULL)."""
    cdef Py_ssize_t i, j
    cdef floating* row
    if n_threads > 1 and n * units >= ELEM_PARALLEL_MIN:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            row = z + i * units
            if b != NULL:
                for j in range(units):
                    row[j] = row[j] + b[j]
            act_forward_row(act, row, units)
    else:
        for i in range(n):
            row = z + i * units
            if b != NULL:
                for j in range(units):
                    row[j] += b[j]
            act_forward_row(act, row, units)


cdef void act_bias_backward(floating* d, const floating* y, floating* db, Py_ssize_t n,
                            Py_ssize_t units, int act, int n_threads) noexcept nogil:
    """d := d * act'(y) in place, and db := column sums of d (db may be NULL)."""
    cdef Py_ssize_t i, j, t, c0, c1, step
    if act == ACT_SOFTMAX:  # row-wise Jacobian: rows are independent, columns are not
        for i in range(n):
            act_backward_row(act, d + i * units, y + i * units, units)
        if db == NULL:
            return
        memset(db, 0, units * sizeof(floating))
        for i in range(n):
            for j in range(units):
                db[j] += d[i * units + j]
        return
    # Threads split the columns into one contiguous range each (a multiple of 16
    # wide): each column's bias-gradient sum stays in row order, so the result is
    # the same bit for bit whatever the thread count, and every thread streams
    # long contiguous row segments (64-column blocks, measured: 3x slower, as each
    # row of a 2048-wide layer then lands on a new page).
    step = ((units + n_threads - 1) // n_threads + 15) // 16 * 16
    if n_threads > 1 and units > 16 and n * units >= ELEM_PARALLEL_MIN:
        for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
            c0 = t * step
            c1 = min(c0 + step, units)
            if c1 > c0:
                col_block_backward(d, y, db, n, units, act, c0, c1)
    else:
        col_block_backward(d, y, db, n, units, act, 0, units)


cdef inline void col_block_backward(floating* d, const floating* y, floating* db, Py_ssize_t n,
                                    Py_ssize_t units, int act, Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    cdef Py_ssize_t i, j
    if db != NULL:
        for j in range(c0, c1):
            db[j] = 0
    for i in range(n):
        if act != ACT_LINEAR:
            act_backward_row(act, d + i * units + c0, y + i * units + c0, c1 - c0)
        if db != NULL:
            for j in range(c0, c1):
                db[j] += d[i * units + j]


cdef void _dense_forward(const floating* x, const floating* w, const floating* b, floating* out,
                         int n, int n_in, int units, int act, int n_threads) noexcept nogil:
    gemm_par(False, False, n, units, n_in, 1, x, n_in, w, units, 0, out, units, n_threads)
    if b != NULL or act != ACT_LINEAR:
        bias_act_forward(out, b, n, units, act, n_threads)


cdef void _dense_backward(const floating* x, const floating* w, const floating* y, floating* dy,
                          floating* dw, floating* db, floating* dx,
                          int n, int n_in, int units, int act, int n_threads) noexcept nogil:
    act_bias_backward(dy, y, db, n, units, act, n_threads)
    # dW = x^T dz ; dx = dz W^T
    if n == 0:
        memset(dw, 0, <size_t>n_in * units * sizeof(floating))
    else:
        gemm_par(True, False, n_in, units, n, 1, x, n_in, dy, units, 0, dw, units, n_threads)
    if dx != NULL:
        gemm_par(False, True, n, n_in, units, 1, dy, units, w, units, 0, dx, n_in, n_threads)


def dense_forward(cnp.ndarray x, cnp.ndarray w, object b, cnp.ndarray out,
                  Py_ssize_t n, int act, int n_threads=1):
    """out[:n] = act(x[:n] @ w + b).

    Parameters
    ----------
    x : (>= n, n_in) C-contiguous, dtype of w
    w : (n_in, units)
    b : (units,) or None
    out : (>= n, units), written
    n : rows to process
    act : activation code (fastnn.activations)
    n_threads : OpenMP threads for the GEMM (split, see _blas.gemm_par) and the
        bias/activation pass; large enough work only
    """
    cdef int t = float_type(w, "w")
    check_array(w, "w", t, 2, 0, -1, False)
    cdef Py_ssize_t n_in = w.shape[0], units = w.shape[1]
    check_array(x, "x", t, 2, n, n_in, False)
    check_array(out, "out", t, 2, n, units, True)
    cdef void* bp = data_or_null(b, "b", t, 1, units, -1, False)
    if act < ACT_LINEAR or act > ACT_SOFTMAX:
        raise ValueError(f"act: unknown activation code {act}")
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dense_forward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(w), <float*>bp,
                           <float*>cnp.PyArray_DATA(out), n, n_in, units, act, n_threads)
    else:
        with nogil:
            _dense_forward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(w), <double*>bp,
                           <double*>cnp.PyArray_DATA(out), n, n_in, units, act, n_threads)


def dense_backward(cnp.ndarray x, cnp.ndarray w, cnp.ndarray y, cnp.ndarray dy,
                   cnp.ndarray dw, object db, object dx, Py_ssize_t n, int act, int n_threads=1):
    """Backward pass of dense_forward for the first n rows.

    dy (gradient w.r.t. the output y, (>= n, units)) is overwritten with the
    gradient w.r.t. the pre-activation. Writes dw (n_in, units), db (units,)
    unless None, and dx (>= n, n_in) unless None (the first layer skips it).
    """
    cdef int t = float_type(w, "w")
    check_array(w, "w", t, 2, 0, -1, False)
    cdef Py_ssize_t n_in = w.shape[0], units = w.shape[1]
    check_array(x, "x", t, 2, n, n_in, False)
    check_array(y, "y", t, 2, n, units, False)
    check_array(dy, "dy", t, 2, n, units, True)
    check_array(dw, "dw", t, 2, n_in, units, True)
    cdef void* dbp = data_or_null(db, "db", t, 1, units, -1, True)
    cdef void* dxp = data_or_null(dx, "dx", t, 2, n, n_in, True)
    if act < ACT_LINEAR or act > ACT_SOFTMAX:
        raise ValueError(f"act: unknown activation code {act}")
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dense_backward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(w),
                            <float*>cnp.PyArray_DATA(y), <float*>cnp.PyArray_DATA(dy),
                            <float*>cnp.PyArray_DATA(dw), <float*>dbp, <float*>dxp,
                            n, n_in, units, act, n_threads)
    else:
        with nogil:
            _dense_backward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(w),
                            <double*>cnp.PyArray_DATA(y), <double*>cnp.PyArray_DATA(dy),
                            <double*>cnp.PyArray_DATA(dw), <double*>dbp, <double*>dxp,
                            n, n_in, units, act, n_threads)


def softmax_rows(cnp.ndarray z, Py_ssize_t n):
    """In-place softmax of the first n rows of z (turns logits into probabilities)."""
    cdef int t = float_type(z, "z")
    check_array(z, "z", t, 2, n, -1, True)
    cdef Py_ssize_t i, k = z.shape[1]
    if k == 0:
        return
    if t == cnp.NPY_FLOAT32:
        with nogil:
            for i in range(n):
                act_forward_row(ACT_SOFTMAX, <float*>cnp.PyArray_DATA(z) + i * k, k)
    else:
        with nogil:
            for i in range(n):
                act_forward_row(ACT_SOFTMAX, <double*>cnp.PyArray_DATA(z) + i * k, k)
