# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Element-wise activation kernels on whole 2-D arrays: forward and backward.

These serve `layers.Activation` and the functions of `fastnn.activations`; a
Dense layer fuses the same row functions (_activations.pxd) with its GEMM and
bias instead. Each kernel processes the first `n` rows of C-contiguous
(>= n, cols) buffers and writes only into the buffers it is given.

Threads: an element-wise activation treats the first n rows as one flat run of
n * cols elements cut into fixed chunks, a row-wise one (softmax, log_softmax)
splits the rows; every output element is computed by one thread with the same
operations whatever the thread count, so results are bit-identical for 1 or
more threads. Work below ACT_PARALLEL_MIN elements stays on the calling thread.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

from _activations cimport (ACT_COUNT, ACT_LINEAR, ACT_PARALLEL_MIN, act_backward_row,
                           act_forward_row, act_needs_z, act_rowwise, arrays_overlap)
from _arrays cimport check_array, data_or_null, float_type

cnp.import_array()

cdef enum:
    # Elements per thread chunk of an element-wise pass (32 KiB of float32):
    # long enough to stream, short enough to balance two threads.
    CHUNK = 1 << 13


cdef inline void forward_run(const floating* x, floating* out, Py_ssize_t m, int act,
                             floating alpha) noexcept nogil:
    if out != x:
        memcpy(out, x, m * sizeof(floating))
    act_forward_row(act, alpha, out, m)


cdef void _activation_forward(const floating* x, floating* out, Py_ssize_t n, Py_ssize_t cols,
                              int act, floating alpha, int n_threads) noexcept nogil:
    cdef Py_ssize_t i, c, lo, total = n * cols, n_chunks
    cdef bint par = n_threads > 1 and total >= ACT_PARALLEL_MIN
    if act_rowwise(act):
        if par:
            for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
                forward_run(x + i * cols, out + i * cols, cols, act, alpha)
        else:
            for i in range(n):
                forward_run(x + i * cols, out + i * cols, cols, act, alpha)
    elif par:
        n_chunks = (total + CHUNK - 1) // CHUNK
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            lo = c * CHUNK
            forward_run(x + lo, out + lo, min(<Py_ssize_t>CHUNK, total - lo), act, alpha)
    elif total > 0:
        forward_run(x, out, total, act, alpha)


cdef void _activation_backward(const floating* z, const floating* y, floating* d, Py_ssize_t n,
                               Py_ssize_t cols, int act, floating alpha,
                               int n_threads) noexcept nogil:
    cdef Py_ssize_t i, c, lo, total = n * cols, n_chunks
    cdef bint par = n_threads > 1 and total >= ACT_PARALLEL_MIN
    if act == ACT_LINEAR:
        return
    if act_rowwise(act):  # the softmax family reads y only
        if par:
            for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
                act_backward_row(act, alpha, d + i * cols, y + i * cols, NULL, cols)
        else:
            for i in range(n):
                act_backward_row(act, alpha, d + i * cols, y + i * cols, NULL, cols)
    elif par:
        n_chunks = (total + CHUNK - 1) // CHUNK
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            lo = c * CHUNK
            act_backward_row(act, alpha, d + lo, y + lo if y != NULL else NULL,
                             z + lo if z != NULL else NULL, min(<Py_ssize_t>CHUNK, total - lo))
    elif total > 0:
        act_backward_row(act, alpha, d, y, z, total)


cdef int check_act(int act) except -1:
    if act < 0 or act >= ACT_COUNT:
        raise ValueError(f"act: expected an activation code in [0, {ACT_COUNT}), got {act}")
    return 0


def activation_forward(cnp.ndarray x, cnp.ndarray out, Py_ssize_t n, int act, double alpha=0.0,
                       int n_threads=1):
    """out[:n] = act(x[:n]).

    Parameters
    ----------
    x : (>= n, cols) C-contiguous float32 or float64
    out : (>= n, cols), same dtype, written; may be x itself (in place) but may
        not overlap it otherwise
    n : rows to process
    act : activation code (fastnn.activations)
    alpha : the activation's parameter (leaky_relu's negative_slope, elu's alpha)
    n_threads : OpenMP threads, used above ACT_PARALLEL_MIN elements
    """
    cdef int t = float_type(x, "x")
    check_array(x, "x", t, 2, n, -1, False)
    cdef Py_ssize_t cols = x.shape[1]
    check_array(out, "out", t, 2, n, cols, True)
    check_act(act)
    if cnp.PyArray_DATA(out) != cnp.PyArray_DATA(x) and arrays_overlap(x, out):
        raise ValueError("out: expected x itself or a buffer separate from x, got one that overlaps it")
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _activation_forward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(out), n, cols,
                                act, <float>alpha, n_threads)
    else:
        with nogil:
            _activation_forward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out), n, cols,
                                act, alpha, n_threads)


def activation_backward(object z, object y, cnp.ndarray d, Py_ssize_t n, int act, double alpha=0.0,
                        int n_threads=1):
    """d[:n] := d[:n] * act'(.) in place (the softmax family: the row Jacobian-vector product).

    Parameters
    ----------
    z : (>= n, cols) or None: the pre-activation, required by gelu, silu and mish
        (their derivative is not a function of y), ignored by the others
    y : (>= n, cols) or None: the forward output act(z), required by every
        activation except those that read z (and linear, which reads neither)
    d : (>= n, cols), overwritten: the gradient w.r.t. the output on entry, the
        gradient w.r.t. the input on return; may not overlap z or y
    n, act, alpha, n_threads : as activation_forward
    """
    cdef int t = float_type(d, "d")
    check_array(d, "d", t, 2, n, -1, True)
    cdef Py_ssize_t cols = d.shape[1]
    cdef void* zp = data_or_null(z, "z", t, 2, n, cols, False)
    cdef void* yp = data_or_null(y, "y", t, 2, n, cols, False)
    check_act(act)
    if act_needs_z(act):
        if zp == NULL:
            raise ValueError(f"z: activation code {act} reads the pre-activation: expected an array, got None")
        yp = NULL
    elif act != ACT_LINEAR:
        if yp == NULL:
            raise ValueError(f"y: activation code {act} reads the forward output: expected an array, got None")
        zp = NULL
    else:
        zp = yp = NULL
    if zp != NULL and arrays_overlap(<cnp.ndarray>z, d):
        raise ValueError("d: expected a buffer separate from z, got one that overlaps it")
    if yp != NULL and arrays_overlap(<cnp.ndarray>y, d):
        raise ValueError("d: expected a buffer separate from y, got one that overlaps it")
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _activation_backward(<float*>zp, <float*>yp, <float*>cnp.PyArray_DATA(d), n, cols, act,
                                 <float>alpha, n_threads)
    else:
        with nogil:
            _activation_backward(<double*>zp, <double*>yp, <double*>cnp.PyArray_DATA(d), n, cols, act,
                                 alpha, n_threads)
