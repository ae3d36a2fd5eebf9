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
