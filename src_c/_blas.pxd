# Header-only BLAS shim: row-major GEMM on top of scipy's Fortran BLAS.
#
# A row-major matrix is the transpose of a column-major one with the same
# buffer, so C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T
# (column-major) by swapping the operands: no copies, no transposes in memory.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k,
                         floating alpha, const floating* a, int lda,
                         const floating* b, int ldb, floating beta,
                         floating* c, int ldc) noexcept nogil:
    """Row-major C[m, n] = alpha * op(A) @ op(B) + beta * C.

    op(A) is (m, k) and op(B) is (k, n); lda/ldb/ldc are row strides in elements.
    """
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&ta, &tb, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&ta, &tb, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c, &ldc)
