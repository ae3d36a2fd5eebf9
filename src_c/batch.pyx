# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Batch assembly and input checks that must not allocate per step."""
cimport numpy as cnp
from cython.parallel cimport prange

from _arrays cimport check_array, finite_floats, first_bad_label, float_type
from _blas cimport openblas_set_num_threads

cnp.import_array()


# Rows gathered in a random order each start with a cache miss that the hardware
# prefetcher cannot foresee; touching the lines of the rows a few places ahead lets
# those misses overlap the copies. Measured here (128 rows of 3136 bytes): 13.3 ->
# 11.5 us from a 16 MB array, 33.8 -> 24.3 us from 188 MB (32 rows: 10.6 -> 8.4 us).
# Rows ahead: about 8 KB of lines in flight (two MNIST rows), at least 1, at most 16;
# four MNIST rows ahead was no better, eight slower.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static void fnn_gather_rows(char *out, const char *src, const int64_t *idx, ptrdiff_t n,
                                size_t row_bytes) {
        ptrdiff_t ahead = (ptrdiff_t)(8192 / (row_bytes ? row_bytes : 1));
        ahead = ahead < 1 ? 1 : (ahead > 16 ? 16 : ahead);
        for (ptrdiff_t i = 0; i < n; i++) {
            if (i + ahead < n) {
                const char *p = src + idx[i + ahead] * (ptrdiff_t)row_bytes;
                for (size_t b = 0; b < row_bytes; b += 64)
                    __builtin_prefetch(p + b, 0, 3);
            }
            memcpy(out + i * (ptrdiff_t)row_bytes, src + idx[i] * (ptrdiff_t)row_bytes, row_bytes);
        }
    }
    """
    void fnn_gather_rows(char* out, const char* src, const cnp.int64_t* idx, Py_ssize_t n,
                         size_t row_bytes) noexcept nogil


def gather_rows(cnp.ndarray src, cnp.ndarray index, Py_ssize_t start, Py_ssize_t stop,
                cnp.ndarray out):
    """out[i] = src[index[start + i]] for i in range(stop - start).

    src and out: C-contiguous, same dtype and trailing shape (1-D or 2-D, any
    dtype: rows are copied as bytes). index: int64. Indices outside src are refused.
    """
    cdef Py_ssize_t n = stop - start, n_src = src.shape[0], bad = -1
    cdef int ndim = cnp.PyArray_NDIM(src)
    if ndim not in (1, 2):
        raise ValueError(f"src: expected a 1-D or 2-D array, got {ndim}-D")
    cdef Py_ssize_t cols = src.shape[1] if ndim == 2 else -1
    check_array(src, "src", cnp.PyArray_TYPE(src), ndim, 0, -1, False)
    check_array(out, "out", cnp.PyArray_TYPE(src), ndim, n, cols, True)
    check_array(index, "index", cnp.NPY_INT64, 1, 0, -1, False)
    if start < 0 or n < 0 or stop > index.shape[0]:
        raise ValueError(f"start, stop: expected 0 <= start <= stop <= {index.shape[0]}, got {start}, {stop}")
    cdef size_t row_bytes = cnp.PyArray_ITEMSIZE(src) * (cols if ndim == 2 else 1)
    cdef const cnp.int64_t* idx = <cnp.int64_t*>cnp.PyArray_DATA(index) + start
    cdef const char* s = <char*>cnp.PyArray_DATA(src)
    cdef char* o = <char*>cnp.PyArray_DATA(out)
    with nogil:
        bad = first_bad_label(idx, n, n_src)
        if bad < 0:
            fnn_gather_rows(o, s, idx, n, row_bytes)
    if bad >= 0:
        raise ValueError(f"index: expected values in [0, {n_src}), got {idx[bad]}")


# Split over the OpenMP team from this many elements (8 MB of float32).
cdef enum:
    FINITE_PAR_MIN = 1 << 21


def all_finite(cnp.ndarray a, int n_threads=1):
    """True when a C-contiguous float array holds no NaN or infinity (no temporaries).

    n_threads: OpenMP threads for arrays of FINITE_PAR_MIN elements or more.
    """
    cdef bint f32 = float_type(a, "a") == cnp.NPY_FLOAT32
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError("a: expected a C-contiguous array")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a), lo, hi
    cdef int k, parts = max(1, n_threads) if n >= FINITE_PAR_MIN else 1
    cdef int bad = 0
    cdef const char* p = <char*>cnp.PyArray_DATA(a)
    cdef Py_ssize_t size = 4 if f32 else 8
    if parts == 1:
        with nogil:
            bad = not finite_floats(p, n, f32)
        return not bad
    for k in prange(parts, nogil=True, schedule="static", num_threads=parts):
        lo = n * k // parts
        hi = n * (k + 1) // parts
        if not finite_floats(p + lo * size, hi - lo, f32):
            bad += 1
    return bad == 0


def check_labels(cnp.ndarray labels, Py_ssize_t n_classes):
    """Index of the first int64 label outside [0, n_classes), or -1."""
    check_array(labels, "labels", cnp.NPY_INT64, 1, 0, -1, False)
    cdef Py_ssize_t bad
    with nogil:
        bad = first_bad_label(<cnp.int64_t*>cnp.PyArray_DATA(labels), labels.shape[0], n_classes)
    return bad


def set_blas_threads(int n):
    """Threads of fastnn's own BLAS (fastnn keeps it at 1: it splits GEMMs itself)."""
    openblas_set_num_threads(max(1, n))
