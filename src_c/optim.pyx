# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Optimizer update kernels: one pass over the flat parameter arena.

The update rules follow torch.optim (single-tensor path) operation by
operation, so that trajectories agree to round-off in float64. Scalars that do
not depend on the element (bias corrections, step sizes) are computed once in
double precision, as torch does in Python.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt

from _arrays cimport check_array, float_type

cnp.import_array()


cdef extern from "_optim_simd.h" nogil:
    void fastnn_adam_f32(float* p, const float* g, float* m, float* v, Py_ssize_t n, float omb1,
                         float b2, float omb2, float step_size, float bc2_sqrt, float eps)
    void fastnn_adam_f64(double* p, const double* g, double* m, double* v, Py_ssize_t n, double omb1,
                         double b2, double omb2, double step_size, double bc2_sqrt, double eps)
    void fastnn_sgd_f32(float* p, const float* g, float* b, Py_ssize_t n, float lr, float mu, int nesterov)
    void fastnn_sgd_f64(double* p, const double* g, double* b, Py_ssize_t n, double lr, double mu,
                        int nesterov)

# Elements per thread chunk: big enough that a chunk streams well, small enough
# to balance two threads on the arenas of the workload shapes (an arena smaller
# than one chunk is updated by the calling thread alone).
cdef enum:
    CHUNK = 1 << 14


cdef void _sgd(floating* p, const floating* g, floating* buf, Py_ssize_t n, floating lr,
               floating momentum, bint nesterov, int n_threads) noexcept nogil:
    cdef Py_ssize_t c, lo, n_chunks = (n + CHUNK - 1) // CHUNK
    cdef floating* bc
    for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
        lo = c * CHUNK
        bc = buf + lo if buf != NULL else NULL
        if floating is float:
            fastnn_sgd_f32(p + lo, g + lo, bc, min(CHUNK, n - lo), lr, momentum, nesterov)
        else:
            fastnn_sgd_f64(p + lo, g + lo, bc, min(CHUNK, n - lo), lr, momentum, nesterov)


cdef void _adam(floating* p, const floating* g, floating* m, floating* v, Py_ssize_t n,
                floating one_minus_b1, floating b2, floating one_minus_b2, floating step_size,
                floating bc2_sqrt, floating eps, int n_threads) noexcept nogil:
    cdef Py_ssize_t c, lo, n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
        lo = c * CHUNK
        if floating is float:
            fastnn_adam_f32(p + lo, g + lo, m + lo, v + lo, min(CHUNK, n - lo), one_minus_b1, b2,
                            one_minus_b2, step_size, bc2_sqrt, eps)
        else:
            fastnn_adam_f64(p + lo, g + lo, m + lo, v + lo, min(CHUNK, n - lo), one_minus_b1, b2,
                            one_minus_b2, step_size, bc2_sqrt, eps)


cdef int _same_layout(cnp.ndarray a, cnp.ndarray ref, str name, int t) except -1:
    check_array(a, name, t, 1, ref.shape[0], -1, True)
    if a.shape[0] != ref.shape[0]:
        raise ValueError(f"{name}: expected {ref.shape[0]} elements, got {a.shape[0]}")
    return 0


def sgd_update(cnp.ndarray params, cnp.ndarray grads, object velocity, double learning_rate,
               double momentum, bint nesterov, int n_threads=1):
    """In-place SGD step over a flat arena; velocity is None when momentum == 0."""
    cdef int t = float_type(params, "params")
    check_array(params, "params", t, 1, 0, -1, True)
    _same_layout(grads, params, "grads", t)
    cdef void* bp = NULL
    if velocity is not None:
        _same_layout(velocity, params, "velocity", t)
        bp = cnp.PyArray_DATA(velocity)
    cdef Py_ssize_t n = params.shape[0]
    n_threads = max(1, min(n_threads, (n + CHUNK - 1) // CHUNK))
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _sgd(<float*>cnp.PyArray_DATA(params), <float*>cnp.PyArray_DATA(grads), <float*>bp, n,
                 <float>learning_rate, <float>momentum, nesterov, n_threads)
    else:
        with nogil:
            _sgd(<double*>cnp.PyArray_DATA(params), <double*>cnp.PyArray_DATA(grads), <double*>bp, n,
                 learning_rate, momentum, nesterov, n_threads)


def adam_update(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray m, cnp.ndarray v,
                double learning_rate, double beta_1, double beta_2, double epsilon,
                long step, int n_threads=1):
    """In-place Adam step number `step` (1-based) over a flat arena (torch's rule)."""
    cdef int t = float_type(params, "params")
    check_array(params, "params", t, 1, 0, -1, True)
    _same_layout(grads, params, "grads", t)
    _same_layout(m, params, "m", t)
    _same_layout(v, params, "v", t)
    if step < 1:
        raise ValueError(f"step: expected >= 1, got {step}")
    cdef double bc1 = 1 - beta_1 ** step
    cdef double bc2 = 1 - beta_2 ** step
    cdef double step_size = learning_rate / bc1
    cdef double bc2_sqrt = sqrt(bc2)
    cdef Py_ssize_t n = params.shape[0]
    n_threads = max(1, min(n_threads, (n + CHUNK - 1) // CHUNK))
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _adam(<float*>cnp.PyArray_DATA(params), <float*>cnp.PyArray_DATA(grads),
                  <float*>cnp.PyArray_DATA(m), <float*>cnp.PyArray_DATA(v), n,
                  <float>(1 - beta_1), <float>beta_2, <float>(1 - beta_2), <float>step_size,
                  <float>bc2_sqrt, <float>epsilon, n_threads)
    else:
        with nogil:
            _adam(<double*>cnp.PyArray_DATA(params), <double*>cnp.PyArray_DATA(grads),
                  <double*>cnp.PyArray_DATA(m), <double*>cnp.PyArray_DATA(v), n,
                  1 - beta_1, beta_2, 1 - beta_2, step_size, bc2_sqrt, epsilon, n_threads)
