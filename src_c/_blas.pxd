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
