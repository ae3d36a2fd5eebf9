# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Dropout and Gaussian-noise kernels on counter-based random numbers.

Every element draws its random bits from (seed, counter, element index) through
src_c/_random.pxd (which also documents how elements map to random words), so
a mask or a noise sample does not depend on the thread count or on how the
work is split, and a backward pass recomputes the mask of its forward pass
from the same (seed, counter) instead of storing it: the hash costs about what
one memory pass costs (0.28 ns/element with AVX-512), about what writing and
re-reading a byte mask would cost, and needs no buffer.

Threads split the flat run of n * d elements into chunks of CHUNK elements, a
multiple of the generator's block, so no pair of elements straddles two threads.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isfinite
from libc.stdint cimport uint32_t, uint64_t

from _arrays cimport check_array, float_type
from _math cimport flog, fsqrt
from _random cimport (PAIRS_PER_BLOCK, drop_threshold, dropout_f32, dropout_f64, dropout_inplace,
                     fcos, fsin, random_at, stream_base)

cnp.import_array()

cdef enum:
    # Below ~32k elements the OpenMP team's fork/join costs about what it saves
    # (the threshold of src_c/dense.pyx).
    ELEM_PARALLEL_MIN = 1 << 15
    # Elements per thread chunk: a multiple of the generator's block (2 * 16).
    CHUNK = 1 << 14

# 2**-32: turns a 32-bit integer into a uniform number.
cdef double TWO_M32 = 2.3283064365386963e-10
cdef double TWO_PI = 6.283185307179586


cdef inline void dropout_run(const floating* src, floating* dst, Py_ssize_t lo, Py_ssize_t hi,
                             uint64_t base, uint32_t thr, floating scale) noexcept nogil:
    if src == dst:
        dropout_inplace(dst, lo, hi, base, thr, scale)
    elif floating is float:
        dropout_f32(src, dst, lo, hi, base, thr, scale)
    else:
        dropout_f64(src, dst, lo, hi, base, thr, scale)


cdef void _dropout(const floating* src, floating* dst, Py_ssize_t m, double rate, uint64_t seed,
                   uint64_t counter, int n_threads) noexcept nogil:
    """Inverted dropout of m elements: dst = src / (1 - rate) where kept, 0 where dropped."""
    cdef uint64_t base = stream_base(seed, counter)
    cdef uint32_t thr = drop_threshold(rate)
    # 1 / (1 - rate) in double, rounded once: kept units are scaled so that the
    # expected output equals the input.
    cdef floating scale = <floating>(1.0 / (1.0 - rate))
    cdef Py_ssize_t c, lo, n_chunks = (m + CHUNK - 1) // CHUNK
    if n_threads > 1 and m >= ELEM_PARALLEL_MIN:
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            lo = c * CHUNK
            dropout_run(src, dst, lo, min(lo + CHUNK, m), base, thr, scale)
    else:
        dropout_run(src, dst, 0, m, base, thr, scale)


cdef inline void noise_run(const floating* src, floating* dst, Py_ssize_t lo, Py_ssize_t hi,
                           uint64_t base, floating stddev) noexcept nogil:
    """dst[e] = src[e] + stddev * z_e, z_e ~ N(0, 1), for e in [lo, hi), lo a multiple of 2K.

    Box-Muller on the two 32-bit halves of a pair's word: r = sqrt(-2 log u1) with
    u1 = (high32 + 1) / 2**32 in (0, 1] (never log 0), theta = 2 pi low32 / 2**32;
    the pair's two elements (o and o + K of a block) get r cos theta and
    r sin theta, two independent N(0, 1) values. The 32-bit uniforms bound |z| by
    sqrt(2 log 2**32) = 6.66: tails beyond 6.66 sigma (probability 3e-11) are cut.
    A pair whose second element lies past hi writes only its first."""
    cdef Py_ssize_t K = PAIRS_PER_BLOCK, b, o, e
    cdef uint64_t h
    cdef floating r, theta
    for b in range(lo // (2 * K), (hi + 2 * K - 1) // (2 * K)):
        for o in range(K):
            e = b * 2 * K + o
            if e >= hi:
                break
            h = random_at(base, <uint64_t>(b * K + o))
            r = stddev * fsqrt(<floating>-2.0 * flog(<floating>((<double>(h >> 32) + 1.0) * TWO_M32)))
            theta = <floating>(<double>(h & 0xFFFFFFFFu) * (TWO_M32 * TWO_PI))
            dst[e] = src[e] + r * fcos(theta)
            if e + K < hi:
                dst[e + K] = src[e + K] + r * fsin(theta)


cdef void _gaussian_noise(const floating* src, floating* dst, Py_ssize_t m, double stddev,
                          uint64_t seed, uint64_t counter, int n_threads) noexcept nogil:
    cdef uint64_t base = stream_base(seed, counter)
    cdef Py_ssize_t c, lo, n_chunks = (m + CHUNK - 1) // CHUNK
    if n_threads > 1 and m >= ELEM_PARALLEL_MIN:
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            lo = c * CHUNK
            noise_run(src, dst, lo, min(lo + CHUNK, m), base, <floating>stddev)
    else:
        noise_run(src, dst, 0, m, base, <floating>stddev)


cdef int _check_pair(cnp.ndarray x, str xname, cnp.ndarray out, str outname, Py_ssize_t n) except -1:
    """Check x (>= n, d) and a writable out (>= n, d) of the same dtype; returns the dtype."""
    cdef int t = float_type(x, xname)
    check_array(x, xname, t, 2, n, -1, False)
    check_array(out, outname, t, 2, n, x.shape[1], True)
    return t


def dropout_forward(cnp.ndarray x not None, cnp.ndarray out not None, Py_ssize_t n, double rate,
                    unsigned long long seed, unsigned long long counter, int n_threads=1):
    """Inverted dropout of the first n rows: out = x / (1 - rate) where kept, 0 where dropped.

    Parameters
    ----------
    x : (>= n, d) float32/float64, C-contiguous, read only
    out : (>= n, d), same dtype, written (may be x itself)
    n : rows to process
    rate : drop probability in [0, 1)
    seed, counter : the random stream and the call within it; the same
        (seed, counter, n, d) always gives the same mask
    n_threads : OpenMP threads (large inputs only); the result does not depend on it
    """
    cdef int t = _check_pair(x, "x", out, "out", n)
    if not (0.0 <= rate < 1.0):
        raise ValueError(f"rate: expected a float in [0, 1), got {rate}")
    cdef Py_ssize_t m = n * x.shape[1]
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dropout(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(out), m, rate, seed,
                     counter, n_threads)
    else:
        with nogil:
            _dropout(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out), m, rate, seed,
                     counter, n_threads)


def dropout_backward(cnp.ndarray dout not None, Py_ssize_t n, double rate, unsigned long long seed,
                     unsigned long long counter, int n_threads=1):
    """In place: dout[:n] := d(loss)/dx for the forward call with the same
    (n, rate, seed, counter): dout / (1 - rate) where kept, 0 where dropped."""
    cdef int t = float_type(dout, "dout")
    check_array(dout, "dout", t, 2, n, -1, True)
    if not (0.0 <= rate < 1.0):
        raise ValueError(f"rate: expected a float in [0, 1), got {rate}")
    cdef Py_ssize_t m = n * dout.shape[1]
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dropout(<float*>cnp.PyArray_DATA(dout), <float*>cnp.PyArray_DATA(dout), m, rate, seed,
                     counter, n_threads)
    else:
        with nogil:
            _dropout(<double*>cnp.PyArray_DATA(dout), <double*>cnp.PyArray_DATA(dout), m, rate, seed,
                     counter, n_threads)


def gaussian_noise_forward(cnp.ndarray x not None, cnp.ndarray out not None, Py_ssize_t n,
                           double stddev, unsigned long long seed, unsigned long long counter,
                           int n_threads=1):
    """out[:n] = x[:n] + N(0, stddev**2) noise drawn from (seed, counter).

    x : (>= n, d) read only; out : (>= n, d) written (may be x). The backward
    pass is the identity and needs no kernel.
    """
    cdef int t = _check_pair(x, "x", out, "out", n)
    if not (isfinite(stddev) and stddev >= 0.0):
        raise ValueError(f"stddev: expected a finite float >= 0, got {stddev}")
    cdef Py_ssize_t m = n * x.shape[1]
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _gaussian_noise(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(out), m, stddev,
                            seed, counter, n_threads)
    else:
        with nogil:
            _gaussian_noise(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out), m, stddev,
                            seed, counter, n_threads)
