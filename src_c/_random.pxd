# Header-only counter-based random numbers for dropout masks and noise.
#
# The generator is SplitMix64 (Steele, Lea & Flood, "Fast splittable
# pseudorandom number generators", OOPSLA 2014; the finalizer constants are
# Stafford's "Mix13", as in java.util.SplittableRandom) read by position:
# output t of the stream keyed by `seed` is
#
#     mix64(key + (t + 1) * GOLDEN),   key = mix64(seed ^ SEED_SALT),
#
# and training call number `counter` of a layer uses the positions
# t = (counter << 32) + pair. The bits of an element depend only on
# (seed, counter, element index), never on which thread computes it or in what
# order: masks are bit-identical for any thread count, and a backward pass
# recomputes the mask of its forward pass instead of storing it.
#
# Why SplitMix64 rather than Philox-4x32-10: both are counter-based and pass
# BigCrush, but SplitMix64 costs two 64-bit multiplies per 64 random bits
# where Philox needs twenty 32x32-bit multiplies per 128; a dropout pass must
# cost about what a memory pass costs. t -> key + (t + 1) * GOLDEN is a
# bijection (GOLDEN is odd) and so is mix64, so distinct positions give
# distinct words: calls never reuse random bits while counter < 2**32 and a
# call draws fewer than 2**32 pairs (8.6e9 elements).
#
# Elements and pairs: the first n rows of a C-contiguous (rows, d) buffer are
# one flat run of n * d elements, cut into blocks of 2 * PAIRS_PER_BLOCK
# elements. Element o of block b (o < 2K, K = PAIRS_PER_BLOCK) uses pair
# b * K + (o % K): the low 32 bits of its word when o < K, the high 32 bits
# otherwise. Both halves of a block are then contiguous runs of K elements,
# which is what lets gcc vectorize the hash (measured, 4096 x 160 float32:
# 0.28 ns/element with AVX-512, 0.63 with AVX2, against 2.1 for pairs of
# adjacent elements, which it does not vectorize).
from libc.stdint cimport uint32_t, uint64_t
from libc.math cimport sin, sinf, cos, cosf
from cython cimport floating

cdef extern from *:
    """
    #include <stdint.h>
    #define FASTNN_GOLDEN 0x9E3779B97F4A7C15ULL
    #define FASTNN_SEED_SALT 0x6A09E667F3BCC908ULL
    #define FASTNN_PAIRS_PER_BLOCK 16

    /* SplitMix64's finalizer: a bijection of 64-bit words with full avalanche. */
    static inline uint64_t fastnn_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /* Start of the block of positions of call `counter`, minus one step: the word of
       pair p is fastnn_random_at(base, p) (arithmetic mod 2**64). */
    static inline uint64_t fastnn_stream_base(uint64_t seed, uint64_t counter) {
        return fastnn_mix64(seed ^ FASTNN_SEED_SALT) + ((counter << 32) + 1) * FASTNN_GOLDEN;
    }

    static inline uint64_t fastnn_random_at(uint64_t base, uint64_t pair) {
        return fastnn_mix64(base + pair * FASTNN_GOLDEN);
    }
    """
    const int PAIRS_PER_BLOCK "FASTNN_PAIRS_PER_BLOCK"
    uint64_t mix64 "fastnn_mix64"(uint64_t z) noexcept nogil
    uint64_t stream_base "fastnn_stream_base"(uint64_t seed, uint64_t counter) noexcept nogil
    uint64_t random_at "fastnn_random_at"(uint64_t base, uint64_t pair) noexcept nogil


cdef inline uint32_t drop_threshold(double rate) noexcept nogil:
    """The 32-bit threshold under which an element is dropped: P(u < thr) = thr / 2**32
    for u uniform on [0, 2**32), within 2**-33 of rate (rate * 2**32 is exact in
    double). Capped at 2**32 - 1 for rates within 2**-33 of 1."""
    cdef double t = rate * 4294967296.0 + 0.5
    if t >= 4294967295.0:
        return 4294967295u
    return <uint32_t>t


cdef inline floating fsin(floating x) noexcept nogil:
    if floating is float:
        return sinf(x)
    else:
        return sin(x)


cdef inline floating fcos(floating x) noexcept nogil:
    if floating is float:
        return cosf(x)
    else:
        return cos(x)


# The dropout loops are plain C so that gcc's target_clones can build AVX-512,
# AVX2 and baseline versions (the wheel has no -march) and pick one at load time:
# the 64-bit multiplies of the hash vectorize only with AVX2/AVX-512 (measured
# 0.28 / 0.63 / 2.2 ns per element). An in-place twin exists because the
# out-of-place one promises the compiler (restrict) that src and dst differ.
# They live here, header-only, because batch and input normalization apply a
# fused Dropout's mask inside their own passes (src_c/normalization.pyx).
cdef extern from *:
    """
    #include <stddef.h>
    #include "_clones.h"

    /* Elements [lo, hi) of the flat run := SRC * scale where the element's 32 random
       bits are >= thr, else 0 (a select, so a dropped element is exactly 0, like
       Keras's where(keep, x / (1 - rate), 0)). The element-by-element path covers
       the head before the first whole block (lo need not be a multiple of 2K) and
       the tail after the last; whole blocks run vectorized (both halves of a block
       are contiguous). */
    #define FASTNN_DROPOUT_ONE(T, SRC, DST, e)                                             \\
        {                                                                                 \\
            ptrdiff_t o_ = (e) % (2 * K);                                                 \\
            uint64_t h_ = fastnn_random_at(base, (uint64_t)(((e) / (2 * K)) * K + o_ % K)); \\
            uint32_t u_ = o_ < K ? (uint32_t)h_ : (uint32_t)(h_ >> 32);                   \\
            DST[e] = u_ >= thr ? SRC[e] * scale : (T)0;                                   \\
        }
    #define FASTNN_DROPOUT_BODY(T, SRC, DST)                                              \\
        const ptrdiff_t K = FASTNN_PAIRS_PER_BLOCK;                                        \\
        const ptrdiff_t first = (lo + 2 * K - 1) / (2 * K);                               \\
        const ptrdiff_t full = hi / (2 * K);                                              \\
        const ptrdiff_t head_end = first * 2 * K < hi ? first * 2 * K : hi;               \\
        for (ptrdiff_t e = lo; e < head_end; e++) FASTNN_DROPOUT_ONE(T, SRC, DST, e)      \\
        for (ptrdiff_t b = first; b < full; b++) {                                        \\
            const T *s = SRC + b * 2 * K;                                                 \\
            T *d = DST + b * 2 * K;                                                       \\
            for (ptrdiff_t o = 0; o < K; o++) {                                           \\
                uint64_t h = fastnn_random_at(base, (uint64_t)(b * K + o));               \\
                d[o] = (uint32_t)h >= thr ? s[o] * scale : (T)0;                          \\
                d[K + o] = (uint32_t)(h >> 32) >= thr ? s[K + o] * scale : (T)0;          \\
            }                                                                             \\
        }                                                                                 \\
        for (ptrdiff_t e = full * 2 * K > head_end ? full * 2 * K : head_end; e < hi; e++) \\
            FASTNN_DROPOUT_ONE(T, SRC, DST, e)

    #define FASTNN_DROPOUT(NAME, NAME_INPLACE, T)                                          \\
        FNN_CLONES_ATTR static void NAME(const T *restrict src, T *restrict dst,       \\
                ptrdiff_t lo, ptrdiff_t hi, uint64_t base, uint32_t thr, T scale) {        \\
            FASTNN_DROPOUT_BODY(T, src, dst)                                               \\
        }                                                                                  \\
        FNN_CLONES_ATTR static void NAME_INPLACE(T *restrict x,                        \\
                ptrdiff_t lo, ptrdiff_t hi, uint64_t base, uint32_t thr, T scale) {        \\
            FASTNN_DROPOUT_BODY(T, x, x)                                                   \\
        }
    FASTNN_DROPOUT(fastnn_dropout_f32, fastnn_dropout_inplace_f32, float)
    FASTNN_DROPOUT(fastnn_dropout_f64, fastnn_dropout_inplace_f64, double)
    """
    void dropout_f32 "fastnn_dropout_f32"(const float* src, float* dst, Py_ssize_t lo, Py_ssize_t hi,
                                          uint64_t base, uint32_t thr, float scale) noexcept nogil
    void dropout_f64 "fastnn_dropout_f64"(const double* src, double* dst, Py_ssize_t lo,
                                          Py_ssize_t hi, uint64_t base, uint32_t thr,
                                          double scale) noexcept nogil
    void dropout_inplace_f32 "fastnn_dropout_inplace_f32"(float* x, Py_ssize_t lo, Py_ssize_t hi,
                                                          uint64_t base, uint32_t thr,
                                                          float scale) noexcept nogil
    void dropout_inplace_f64 "fastnn_dropout_inplace_f64"(double* x, Py_ssize_t lo, Py_ssize_t hi,
                                                          uint64_t base, uint32_t thr,
                                                          double scale) noexcept nogil


cdef inline void dropout_inplace(floating* x, Py_ssize_t lo, Py_ssize_t hi, uint64_t base,
                                 uint32_t thr, floating scale) noexcept nogil:
    """x[e] := x[e] * scale where element e keeps, 0 where it drops, e in [lo, hi)
    (indices into the flat run that starts at x)."""
    if floating is float:
        dropout_inplace_f32(x, lo, hi, base, thr, scale)
    else:
        dropout_inplace_f64(x, lo, hi, base, thr, scale)


cdef struct DropMask:
    # A Dropout mask to apply inside another kernel's pass (fused Dropout).
    bint on         # False: no dropout (inference, rate 0, or none fused)
    uint64_t base   # stream_base(seed, counter) of the Dropout's training call
    uint32_t thr    # drop_threshold(rate)
    double scale    # 1 / (1 - rate), rounded to the data's dtype where applied


cdef inline DropMask drop_mask(double rate, uint64_t seed, uint64_t counter) noexcept nogil:
    """The mask of Dropout call `counter` of stream `seed` (off when rate == 0)."""
    cdef DropMask m
    m.on = rate > 0
    m.base = stream_base(seed, counter)
    m.thr = drop_threshold(rate)
    m.scale = 1.0 / (1.0 - rate)
    return m
