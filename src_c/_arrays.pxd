# Header-only argument checks for the def-level kernels.
#
# Kernels take plain ndarrays (a check costs ~0.1 us; a typed memoryview
# argument ~0.8 us) and read raw pointers. These checks are cheap C-level tests
# that make a kernel refuse, rather than read out of bounds, whatever it is given.
cimport numpy as cnp


cdef inline int check_array(cnp.ndarray a, str name, int typenum, int ndim,
                            Py_ssize_t min_rows, Py_ssize_t cols, bint writable) except -1:
    """Raise ValueError unless `a` is C-contiguous with the given dtype and shape.

    min_rows: the first axis must have at least this many entries.
    cols: the second axis must equal this (ignored for 1-D or when < 0).
    """
    if min_rows < 0:
        raise ValueError(f"n: expected a row count >= 0, got {min_rows}")
    if cnp.PyArray_NDIM(a) != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got {cnp.PyArray_NDIM(a)}-D")
    if cnp.PyArray_TYPE(a) != typenum:
        raise ValueError(f"{name}: expected dtype {cnp.PyArray_DescrFromType(typenum)}, got {a.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name}: expected a C-contiguous array")
    if writable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name}: expected a writable array")
    if cnp.PyArray_DIMS(a)[0] < min_rows:
        raise ValueError(f"{name}: expected at least {min_rows} rows, got {cnp.PyArray_DIMS(a)[0]}")
    if ndim == 2 and cols >= 0 and cnp.PyArray_DIMS(a)[1] != cols:
        raise ValueError(f"{name}: expected {cols} columns, got {cnp.PyArray_DIMS(a)[1]}")
    return 0


cdef inline int float_type(cnp.ndarray a, str name) except -1:
    """The numpy type number of a float32/float64 array, or raise."""
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise ValueError(f"{name}: expected float32 or float64, got {a.dtype}")
    return t


cdef inline Py_ssize_t first_bad_label(const cnp.int64_t* labels, Py_ssize_t n,
                                       cnp.int64_t k) noexcept nogil:
    """Index of the first label outside [0, k), or -1."""
    cdef Py_ssize_t i
    for i in range(n):
        if labels[i] < 0 or labels[i] >= k:
            return i
    return -1


cdef inline void* data_or_null(object a, str name, int typenum, int ndim, Py_ssize_t min_rows,
                               Py_ssize_t cols, bint writable) except? NULL:
    """Data pointer of an optional array argument (NULL for None), after check_array."""
    if a is None:
        return NULL
    if not isinstance(a, cnp.ndarray):
        raise ValueError(f"{name}: expected an ndarray or None, got {type(a).__name__}")
    check_array(a, name, typenum, ndim, min_rows, cols, writable)
    return cnp.PyArray_DATA(a)


# Finiteness of input arrays (fit/predict check them once per call, before any
# state changes): plain C so that gcc's target_clones builds AVX-512 and AVX2
# versions (the wheel is portable, so Cython's loops get SSE2 alone); batch.all_finite
# splits large arrays over the OpenMP team. A float is NaN or +-inf exactly when its
# bits without the sign are >= those of +inf; an integer max is associative, so the
# loop vectorizes. Measured here on 32768 x 784 float32 (103 MB), one thread:
# 14.2 ms as a Cython loop (SSE2), 4-5 ms with AVX-512 (numpy's own max: 4.0 ms).
cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include "_clones.h"
    /* The largest bit pattern of n floats (as unsigned integers) without the sign bit. */
    #define FNN_DEFINE_MAX_ABS_BITS(NAME, U, NO_SIGN)                                          \
    FNN_CLONED U NAME(const U* p, ptrdiff_t n) {                                           \
        U m = 0;                                                                              \
        for (ptrdiff_t i = 0; i < n; i++) {                                                   \
            U v = p[i] & NO_SIGN;                                                             \
            m = v > m ? v : m;                                                                \
        }                                                                                     \
        return m;                                                                             \
    }
    FNN_DEFINE_MAX_ABS_BITS(fnn_max_abs_bits32, uint32_t, 0x7FFFFFFFu)
    FNN_DEFINE_MAX_ABS_BITS(fnn_max_abs_bits64, uint64_t, 0x7FFFFFFFFFFFFFFFull)
    """
    cnp.uint32_t max_abs_bits32 "fnn_max_abs_bits32"(const cnp.uint32_t* p, Py_ssize_t n) noexcept nogil
    cnp.uint64_t max_abs_bits64 "fnn_max_abs_bits64"(const cnp.uint64_t* p, Py_ssize_t n) noexcept nogil


cdef inline bint finite_floats(const void* p, Py_ssize_t n, bint is_float32) noexcept nogil:
    """No NaN or infinity among n float32 (or float64) values, on the calling thread."""
    if is_float32:
        return max_abs_bits32(<const cnp.uint32_t*>p, n) < 0x7F800000u
    return max_abs_bits64(<const cnp.uint64_t*>p, n) < 0x7FF0000000000000ull
