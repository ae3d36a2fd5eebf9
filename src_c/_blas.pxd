# Header-only BLAS shim: row-major GEMM on top of a Fortran-interface BLAS.
#
# The BLAS is the OpenBLAS of the scipy-openblas32 wheel, linked at build time:
# measured here it ran the W3 hidden-layer GEMM (512x2048 @ 2048x2048) in 11.1 ms
# against 13.0 ms for the older OpenBLAS inside SciPy (scipy.linalg.cython_blas),
# and the W1 first-layer GEMM in 51 us against 64 us (one thread).
#
# A row-major matrix is the transpose of a column-major one with the same
# buffer, so C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T
# (column-major) by swapping the operands: no copies, no transposes in memory.
from cython cimport floating
from cython.parallel cimport prange

cdef extern from "_openblas.h" nogil:
    void sgemm "scipy_sgemm_"(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                               const float* alpha, const float* a, const int* lda, const float* b,
                               const int* ldb, const float* beta, float* c, const int* ldc)
    void dgemm "scipy_dgemm_"(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                               const double* alpha, const double* a, const int* lda, const double* b,
                               const int* ldb, const double* beta, double* c, const int* ldc)
    void sgemv "scipy_sgemv_"(const char* trans, const int* m, const int* n, const float* alpha,
                               const float* a, const int* lda, const float* x, const int* incx,
                               const float* beta, float* y, const int* incy)
    void dgemv "scipy_dgemv_"(const char* trans, const int* m, const int* n, const double* alpha,
                               const double* a, const int* lda, const double* x, const int* incx,
                               const double* beta, double* y, const int* incy)
    void openblas_set_num_threads "scipy_openblas_set_num_threads"(int n)
    int openblas_get_num_threads "scipy_openblas_get_num_threads"()


# Multiply-adds of a one-row product from which gemm_rm calls GEMV instead of GEMM.
cdef enum:
    GEMV_MIN = 1 << 14


# One input row times a row-major weight matrix, c[j] = sum_i a[i] * b[i, j] (the
# forward product of batch-1 inference), as plain C for gcc's target_clones (the
# wheel is portable: no -march). Rows of b whose input is zero are skipped: they
# add exactly nothing (the weights are finite), and an MNIST image is ~80% zeros.
# The nonzero inputs are listed first (on the stack, in chunks), then b's rows are
# streamed four at a time into c: one pass over c per four rows of b, contiguous
# loads, no packing. Each c[j] is summed over i in increasing order.
# Measured here (AVX-512, one thread): on dense rows it runs at OpenBLAS's SGEMV
# speed, both streaming the weights at the cache's rate (784x256 float32: 8.4 vs
# 8.2 us); on MNIST-like rows (19% nonzero) it reads a fifth of the first layer's
# weights: W2's batch-1 predict went from 18.6 to 10.3 us.
cdef extern from *:
    """
    #include <stddef.h>
    #include "_clones.h"
    #define FNN_ROW_CHUNK 512

    #define FNN_DEFINE_ROW_TIMES(NAME, T)                                                      \
    FNN_CLONED void NAME(const T* a, ptrdiff_t k, const T* b, ptrdiff_t ldb, ptrdiff_t n,   \
                           T* c) {                                                            \
        ptrdiff_t idx[FNN_ROW_CHUNK];                                                         \
        for (ptrdiff_t j = 0; j < n; j++) c[j] = 0;                                           \
        for (ptrdiff_t i0 = 0; i0 < k; i0 += FNN_ROW_CHUNK) {                                 \
            ptrdiff_t i1 = i0 + FNN_ROW_CHUNK < k ? i0 + FNN_ROW_CHUNK : k, m = 0, t;         \
            for (ptrdiff_t i = i0; i < i1; i++) {                                             \
                idx[m] = i;                                                                   \
                m += a[i] != 0;                                                               \
            }                                                                                 \
            for (t = 0; t + 4 <= m; t += 4) {                                                 \
                const T x0 = a[idx[t]], x1 = a[idx[t + 1]], x2 = a[idx[t + 2]],               \
                        x3 = a[idx[t + 3]];                                                   \
                const T* restrict b0 = b + idx[t] * ldb;                                      \
                const T* restrict b1 = b + idx[t + 1] * ldb;                                  \
                const T* restrict b2 = b + idx[t + 2] * ldb;                                  \
                const T* restrict b3 = b + idx[t + 3] * ldb;                                  \
                for (ptrdiff_t j = 0; j < n; j++) {                                           \
                    T s = c[j];                                                               \
                    s += x0 * b0[j];                                                          \
                    s += x1 * b1[j];                                                          \
                    s += x2 * b2[j];                                                          \
                    s += x3 * b3[j];                                                          \
                    c[j] = s;                                                                 \
                }                                                                             \
            }                                                                                 \
            for (; t < m; t++) {                                                              \
                const T x0 = a[idx[t]];                                                       \
                const T* restrict b0 = b + idx[t] * ldb;                                      \
                for (ptrdiff_t j = 0; j < n; j++) c[j] += x0 * b0[j];                        \
            }                                                                                 \
        }                                                                                     \
    }
    FNN_DEFINE_ROW_TIMES(fnn_row_times_f, float)
    FNN_DEFINE_ROW_TIMES(fnn_row_times_d, double)
    """
    void row_times "fnn_row_times_f"(const float* a, Py_ssize_t k, const float* b, Py_ssize_t ldb,
                                     Py_ssize_t n, float* c) noexcept nogil
    void row_times "fnn_row_times_d"(const double* a, Py_ssize_t k, const double* b, Py_ssize_t ldb,
                                     Py_ssize_t n, double* c) noexcept nogil


cdef inline void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k,
                         floating alpha, const floating* a, int lda,
                         const floating* b, int ldb, floating beta,
                         floating* c, int ldc) noexcept nogil:
    """Row-major C[m, n] = alpha * op(A) @ op(B) + beta * C.

    op(A) is (m, k) and op(B) is (k, n); lda/ldb/ldc are row strides in elements.
    """
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int one = 1, j
    if m == 0 or n == 0:
        return
    if m == 1 and k > 0 and <double>n * k >= GEMV_MIN:
        if not trans_a and not trans_b and alpha == 1 and beta == 0:
            row_times(a, k, b, ldb, n, c)  # the forward product of a batch-1 predict
            return
        if beta == 0:  # GEMV scales y by beta: clear whatever the buffer held (NaN * 0)
            for j in range(n):
                c[j] = 0
        # One output row of a large layer (batch-1 inference): C^T = op(B)^T a as a
        # GEMV. OpenBLAS's GEMM pays its packing for a single row: measured here with
        # the Haswell kernels, 91 us against 8 us for the GEMV of a 784x256 layer
        # (with the SkylakeX kernels both ~10 us). Small layers keep the GEMM, whose
        # rounding then matches a batched call (GEMV sums in another order).
        if floating is float:
            sgemv(&ta, &n if not trans_b else &k, &k if not trans_b else &n, &alpha, b, &ldb,
                  a, &lda if trans_a else &one, &beta, c, &one)
        else:
            dgemv(&ta, &n if not trans_b else &k, &k if not trans_b else &n, &alpha, b, &ldb,
                  a, &lda if trans_a else &one, &beta, c, &one)
        return
    if floating is float:
        sgemm(&ta, &tb, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc)
    else:
        dgemm(&ta, &tb, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc)


# Below this many multiply-adds, or with fewer than SPLIT_MIN_ROWS rows (small
# batches: the latency path of predict), a GEMM runs in one call on the calling
# thread. Measured here: a parallel region that has to wake a sleeping OpenMP
# worker (after ~1 ms idle) cost 1-8 ms in this VM, so sporadic small calls must
# not depend on a second thread; training steps run back to back and keep the
# team awake. W1's GEMMs (3.2M multiply-adds) still split: 64 -> 45 us.
cdef enum:
    GEMM_SPLIT_MIN = 1 << 20
    SPLIT_MIN_ROWS = 8


cdef inline void gemm_par(bint trans_a, bint trans_b, int m, int n, int k,
                          floating alpha, const floating* a, int lda,
                          const floating* b, int ldb, floating beta,
                          floating* c, int ldc, int n_threads) noexcept nogil:
    """gemm_rm split over n_threads OpenMP threads, each running a single-threaded BLAS call.

    fastnn pins its BLAS to one thread and runs every parallel region,
    GEMMs included, on one OpenMP team: two thread pools spinning on two cores
    (OpenBLAS's and OpenMP's) made training steps many times slower. The larger
    output dimension is split (columns in multiples of 16, for SIMD alignment);
    each output element is computed by one thread, so results depend only on the
    thread count.
    """
    cdef int t, lo, hi, step
    if n_threads <= 1 or <double>m * n * k < GEMM_SPLIT_MIN or m < SPLIT_MIN_ROWS:
        gemm_rm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    if m >= n:
        if n_threads > m:
            n_threads = m
        for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
            lo = <int>((<long>m * t) // n_threads)
            hi = <int>((<long>m * (t + 1)) // n_threads)
            gemm_rm(trans_a, trans_b, hi - lo, n, k, alpha, a + (lo if trans_a else <long>lo * lda),
                    lda, b, ldb, beta, c + <long>lo * ldc, ldc)
    else:
        step = ((n + n_threads - 1) // n_threads + 15) // 16 * 16
        if step * (n_threads - 1) >= n:
            step = (n + n_threads - 1) // n_threads
        for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
            lo = step * t
            hi = min(step * (t + 1), n) if t < n_threads - 1 else n
            if hi > lo:
                gemm_rm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                        b + (<long>lo * ldb if trans_b else lo), ldb, beta, c + lo, ldc)
