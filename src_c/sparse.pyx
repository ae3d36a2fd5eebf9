# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Sparse-input (CSR) kernels for the first Dense layer, and CSR batch assembly.

A batch of n input rows is given in CSR form: `indptr` (int64, >= n + 1 entries),
`indices` (int32 column numbers) and `data` (values, the dtype of the weights).
Row i holds the entries indptr[i] <= k < indptr[i + 1]; offsets are absolute
positions in indices/data, so a block of consecutive rows of a larger matrix is
just a view of its indptr (no copy).

- forward:  z = X @ W + b. Small batches (< CSC_MIN_ROWS rows, batch-1 predict) run
  row by row: z[i, :] = sum over the nonzeros of row i of data[k] * W[indices[k], :].
  Larger ones are first sorted by column (a stable counting sort into caller-owned
  workspace: the CSC form of the batch, i.e. the CSR form of X^T), then computed by
  blocks of 64 float32 / 32 float64 units: for each input column c, W[c, block] is
  loaded once and added, times x_ic, into every row i that has column c; the block
  of outputs lives in a contiguous, 64-byte aligned scratch that stays in L1. Row by
  row, every nonzero would stream a whole W row from L2 (measured ~2x slower on
  MNIST batches of 128). Both orders sum each output over the columns in
  increasing order (same bits for sorted rows).
- backward: dZ = dY * act'(.), db = column sums of dZ, and dW = X^T @ dZ from the
  forward's transposed batch: dW[c, block] = sum over the nonzeros (i, c), rows in
  increasing order, of x_ic dZ[i, block], accumulated in registers and written once
  (no zeroing pass, no read-modify-write per nonzero). The first layer needs no dx.
- threads split the unit blocks (forward and dW) or contiguous unit ranges (db):
  never the rows of X, so no two threads write the same element and each element
  is summed in the same order whatever the thread count (deterministic, no atomics).

Zero values stored in data and out-of-range column numbers are skipped (the latter
counted and reported: Python validates the inputs first, the kernels only refuse to
read out of bounds).

Two tiers as elsewhere: C / `cdef ... noexcept nogil` loops on raw pointers, and
`def` kernels that check their ndarray arguments cheaply and release the GIL.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.string cimport memcpy, memset

from _activations cimport (ACT_COUNT, ACT_LINEAR, act_backward_row, act_bias_cols_par,
                           act_forward_row, act_needs_z, act_rowwise, arrays_overlap,
                           bias_act_row)
from _arrays cimport check_array, data_or_null, float_type

cnp.import_array()

# Parallel loops only when the multiply-adds of the call (nonzeros x units) reach this: below it a thread team costs more than it
# saves (same order as the element-wise threshold of _activations, scaled by the
# ~4 memory operations per multiply-add of an axpy).
cdef enum:
    SPARSE_PARALLEL_MIN = 1 << 17

# The inner loops are written in C and compiled for several x86-64 levels
# (target_clones, as _activations.pxd): without -march the compiler would emit SSE2
# only. The row-by-row forward keeps the output row in registers across four
# nonzeros at a time:
#   o[j] = (((o[j] + v0 w0[j]) + v1 w1[j]) + v2 w2[j]) + v3 w3[j]
# which is the same order of additions as one nonzero at a time (same rounding),
# with a third of the loads and stores of o.
cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>

    #include "_clones.h"

    #define FNN_SP_DEFINE(T, SUF)                                                              \\
    /* o[0:m] = sum_k val[k] * w[idx[k] * ldw + 0:m] over k in [p0, p1); returns the   */      \\
    /* number of entries skipped for a column outside [0, n_in).                      */      \\
    FNN_CLONED ptrdiff_t fnn_csr_row_##SUF(T *restrict o, const T *restrict w, ptrdiff_t ldw, \\
            ptrdiff_t m, const int32_t *idx, const T *val, int64_t p0, int64_t p1,            \\
            int64_t n_in) {                                                                    \\
        ptrdiff_t bad = 0, j;                                                                  \\
        const T *restrict r[4];                                                                \\
        T v[4];                                                                                \\
        int q = 0;                                                                             \\
        memset(o, 0, (size_t)m * sizeof(T));                                                   \\
        for (int64_t k = p0; k < p1; k++) {                                                    \\
            uint32_t c = (uint32_t)idx[k];                                                     \\
            if ((int64_t)c >= n_in) { bad++; continue; }                                       \\
            if (val[k] == 0) continue;                                                         \\
            r[q] = w + (ptrdiff_t)c * ldw; v[q] = val[k]; q++;                                 \\
            if (q == 4) {                                                                      \\
                const T *restrict r0 = r[0], *restrict r1 = r[1];                              \\
                const T *restrict r2 = r[2], *restrict r3 = r[3];                              \\
                T v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];                                  \\
                for (j = 0; j < m; j++)                                                        \\
                    o[j] = (((o[j] + v0 * r0[j]) + v1 * r1[j]) + v2 * r2[j]) + v3 * r3[j];     \\
                q = 0;                                                                         \\
            }                                                                                  \\
        }                                                                                      \\
        for (int t = 0; t < q; t++) {                                                          \\
            const T *restrict r0 = r[t];                                                       \\
            T v0 = v[t];                                                                       \\
            for (j = 0; j < m; j++) o[j] = o[j] + v0 * r0[j];                                  \\
        }                                                                                      \\
        return bad;                                                                            \\
    }
    FNN_SP_DEFINE(float, f32)
    FNN_SP_DEFINE(double, f64)

    /* Column-major (CSC) batch, one block of units [u0, u0 + m): out[i * ldo + 0:m] =    */
    /* sum over columns c in increasing order of x_ic W[c, u0:u0 + m]. W's block row is   */
    /* read once per c and the output block (n x m, contiguous: a scratch block, not     */
    /* rows of the output with a 1 KB stride, which map to a few L1 sets and thrashed:   */
    /* measured 4x slower) stays in L1; row by row (CSR) every nonzero would stream a   */
    /* whole W row from L2 instead.                                                     */
    /* Blocks as 4 vectors of GCC's vector extension (64 bytes each: one AVX-512       */
    /* register, two AVX2 or four SSE2 ones in the other clones): gcc left the plain     */
    /* loops scalar here (measured 20x slower). Unaligned loads and stores via memcpy.  */
    typedef float fnn_v16f __attribute__((vector_size(64)));
    typedef double fnn_v8d __attribute__((vector_size(64)));
    static inline fnn_v16f fnn_ld_f32(const float *p) { fnn_v16f r; memcpy(&r, p, 64); return r; }
    static inline void fnn_st_f32(float *p, fnn_v16f x) { memcpy(p, &x, 64); }
    static inline fnn_v8d fnn_ld_f64(const double *p) { fnn_v8d r; memcpy(&r, p, 64); return r; }
    static inline void fnn_st_f64(double *p, fnn_v8d x) { memcpy(p, &x, 64); }
    #define FNN_SP_DEFINE_CSC(T, SUF, BLK, V, LD, ST)                                          \\
    FNN_CLONED void fnn_csc_fwd_##SUF(T *restrict out, ptrdiff_t ldo, const T *restrict w,    \\
            ptrdiff_t ldw, ptrdiff_t u0, ptrdiff_t m, const int64_t *tptr, const int32_t *trow, \\
            const T *tval, ptrdiff_t n_in, ptrdiff_t n) {                                      \\
        ptrdiff_t i, j, c;                                                                     \\
        (void)i; memset(out, 0, (size_t)n * ldo * sizeof(T));                                   \\
        for (c = 0; c < n_in; c++) {                                                           \\
            const T *restrict wr = w + c * ldw + u0;                                           \\
            if (m == BLK) {                                                                    \\
                V w0 = LD(wr), w1 = LD(wr + BLK / 4), w2 = LD(wr + BLK / 2);                    \\
                V w3 = LD(wr + 3 * BLK / 4);                                                   \\
                for (int64_t k = tptr[c]; k < tptr[c + 1]; k++) {                              \\
                    T *o = out + (ptrdiff_t)trow[k] * ldo;                                     \\
                    T v = tval[k];                                                             \\
                    ST(o, LD(o) + v * w0);                                                     \\
                    ST(o + BLK / 4, LD(o + BLK / 4) + v * w1);                                 \\
                    ST(o + BLK / 2, LD(o + BLK / 2) + v * w2);                                 \\
                    ST(o + 3 * BLK / 4, LD(o + 3 * BLK / 4) + v * w3);                         \\
                }                                                                              \\
            } else {                                                                           \\
                for (int64_t k = tptr[c]; k < tptr[c + 1]; k++) {                              \\
                    T *restrict o = out + (ptrdiff_t)trow[k] * ldo;                            \\
                    T v = tval[k];                                                             \\
                    for (j = 0; j < m; j++) o[j] = o[j] + v * wr[j];                           \\
                }                                                                              \\
            }                                                                                  \\
        }                                                                                      \\
    }                                                                                          \\
    /* dw[c, u0:u0 + m] = sum over the nonzeros (i, c), rows increasing, of            */     \\
    /* x_ic dz[i * ldz + 0:m] (dz: the block, packed block-major like the forward's).  */     \\
    FNN_CLONED void fnn_csc_dw_##SUF(T *restrict dw, ptrdiff_t ldw, const T *restrict dz,     \\
            ptrdiff_t ldz, ptrdiff_t u0, ptrdiff_t m, const int64_t *tptr, const int32_t *trow, \\
            const T *tval, ptrdiff_t n_in) {                                                   \\
        ptrdiff_t j, c;                                                                        \\
        for (c = 0; c < n_in; c++) {                                                           \\
            T *restrict g = dw + c * ldw + u0;                                                 \\
            if (m == BLK) {                                                                    \\
                V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                      \\
                for (int64_t k = tptr[c]; k < tptr[c + 1]; k++) {                              \\
                    const T *d = dz + (ptrdiff_t)trow[k] * ldz;                                \\
                    T v = tval[k];                                                             \\
                    a0 = a0 + v * LD(d);                                                       \\
                    a1 = a1 + v * LD(d + BLK / 4);                                             \\
                    a2 = a2 + v * LD(d + BLK / 2);                                             \\
                    a3 = a3 + v * LD(d + 3 * BLK / 4);                                         \\
                }                                                                              \\
                ST(g, a0); ST(g + BLK / 4, a1); ST(g + BLK / 2, a2); ST(g + 3 * BLK / 4, a3);  \\
            } else {                                                                           \\
                for (j = 0; j < m; j++) g[j] = 0;                                              \\
                for (int64_t k = tptr[c]; k < tptr[c + 1]; k++) {                              \\
                    const T *restrict d = dz + (ptrdiff_t)trow[k] * ldz;                       \\
                    T v = tval[k];                                                             \\
                    for (j = 0; j < m; j++) g[j] = g[j] + v * d[j];                            \\
                }                                                                              \\
            }                                                                                  \\
        }                                                                                      \\
    }
    FNN_SP_DEFINE_CSC(float, f32, 64, fnn_v16f, fnn_ld_f32, fnn_st_f32)
    FNN_SP_DEFINE_CSC(double, f64, 32, fnn_v8d, fnn_ld_f64, fnn_st_f64)
    """
    Py_ssize_t fnn_csr_row_f32(float* o, const float* w, Py_ssize_t ldw, Py_ssize_t m,
                               const int32_t* idx, const float* val, int64_t p0, int64_t p1,
                               int64_t n_in) noexcept nogil
    Py_ssize_t fnn_csr_row_f64(double* o, const double* w, Py_ssize_t ldw, Py_ssize_t m,
                               const int32_t* idx, const double* val, int64_t p0, int64_t p1,
                               int64_t n_in) noexcept nogil
    void fnn_csc_fwd_f32(float* out, Py_ssize_t ldo, const float* w, Py_ssize_t ldw,
                         Py_ssize_t u0, Py_ssize_t m, const int64_t* tptr, const int32_t* trow,
                         const float* tval, Py_ssize_t n_in, Py_ssize_t n) noexcept nogil
    void fnn_csc_fwd_f64(double* out, Py_ssize_t ldo, const double* w, Py_ssize_t ldw,
                         Py_ssize_t u0, Py_ssize_t m, const int64_t* tptr, const int32_t* trow,
                         const double* tval, Py_ssize_t n_in, Py_ssize_t n) noexcept nogil
    void fnn_csc_dw_f32(float* dw, Py_ssize_t ldw, const float* dz, Py_ssize_t ldz,
                        Py_ssize_t u0, Py_ssize_t m, const int64_t* tptr, const int32_t* trow,
                        const float* tval, Py_ssize_t n_in) noexcept nogil
    void fnn_csc_dw_f64(double* dw, Py_ssize_t ldw, const double* dz, Py_ssize_t ldz,
                        Py_ssize_t u0, Py_ssize_t m, const int64_t* tptr, const int32_t* trow,
                        const double* tval, Py_ssize_t n_in) noexcept nogil


cdef inline Py_ssize_t csr_row(floating* o, const floating* w, Py_ssize_t units,
                               const int32_t* idx, const floating* val, int64_t p0, int64_t p1,
                               int64_t n_in) noexcept nogil:
    if floating is float:
        return fnn_csr_row_f32(o, w, units, units, idx, val, p0, p1, n_in)
    else:
        return fnn_csr_row_f64(o, w, units, units, idx, val, p0, p1, n_in)


cdef inline Py_ssize_t unit_block(floating x) noexcept nogil:
    """Units per block of the CSC kernels: 256 bytes (4 AVX-512 vectors), as compiled in C."""
    return 64 if floating is float else 32


cdef Py_ssize_t forward_rows(const int64_t* indptr, const int32_t* idx, const floating* val,
                             Py_ssize_t n, const floating* w, const floating* b, floating* out,
                             floating* z, Py_ssize_t n_in, Py_ssize_t units, int act,
                             floating alpha, int n_threads) noexcept nogil:
    """Row by row (CSR): the small-batch path (batch 1 streams W once anyway)."""
    cdef Py_ssize_t i, bad = 0
    cdef floating* o
    cdef double work = <double>(indptr[n] - indptr[0]) * units
    if n_threads > 1 and n > 1 and work >= SPARSE_PARALLEL_MIN:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            o = (z if z != NULL else out) + i * units
            bad += csr_row(o, w, units, idx, val, indptr[i], indptr[i + 1], n_in)
            bias_act_row(o, out + i * units, b, units, act, alpha)
    else:
        for i in range(n):
            o = (z if z != NULL else out) + i * units
            bad += csr_row(o, w, units, idx, val, indptr[i], indptr[i + 1], n_in)
            bias_act_row(o, out + i * units, b, units, act, alpha)
    return bad


cdef inline void csc_forward_block(const int64_t* tptr, const int32_t* trow, const floating* tval,
                                   Py_ssize_t n, const floating* w, floating* o,
                                   Py_ssize_t n_in, Py_ssize_t units, Py_ssize_t u0,
                                   Py_ssize_t u1) noexcept nogil:
    if floating is float:
        fnn_csc_fwd_f32(o, 64, w, units, u0, u1 - u0, tptr, trow, tval, n_in, n)
    else:
        fnn_csc_fwd_f64(o, 32, w, units, u0, u1 - u0, tptr, trow, tval, n_in, n)


cdef inline void csc_dw_block(const int64_t* tptr, const int32_t* trow, const floating* tval,
                              const floating* dblock, floating* dw, Py_ssize_t n_in,
                              Py_ssize_t units, Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """dblock: this block of dz, n rows of unit_block() values (block-major scratch)."""
    if floating is float:
        fnn_csc_dw_f32(dw, units, dblock, 64, u0, u1 - u0, tptr, trow, tval, n_in)
    else:
        fnn_csc_dw_f64(dw, units, dblock, 32, u0, u1 - u0, tptr, trow, tval, n_in)


cdef inline void block_rows(const floating* d, floating* scratch, Py_ssize_t n, Py_ssize_t units,
                            Py_ssize_t blk, Py_ssize_t t) noexcept nogil:
    """Block t of the rows of d (n x units) into scratch block t (n rows of blk)."""
    cdef Py_ssize_t i, u0 = t * blk, m = min(blk, units - t * blk)
    for i in range(n):
        memcpy(scratch + t * n * blk + i * blk, d + i * units + u0, m * sizeof(floating))


cdef inline void unblock_row(const floating* scratch, Py_ssize_t n, Py_ssize_t i, floating* o,
                             Py_ssize_t units, Py_ssize_t blk) noexcept nogil:
    """Row i of the block-major scratch (block t: n rows of blk) into o (units wide)."""
    cdef Py_ssize_t t, u0
    for t in range((units + blk - 1) // blk):
        u0 = t * blk
        memcpy(o + u0, scratch + t * n * blk + i * blk, min(blk, units - u0) * sizeof(floating))


cdef void forward_csc(const int64_t* tptr, const int32_t* trow, const floating* tval,
                      Py_ssize_t n, const floating* w, const floating* b, floating* out,
                      floating* z, floating* scratch, Py_ssize_t n_in, Py_ssize_t units, int act,
                      floating alpha, int n_threads) noexcept nogil:
    """Column by column (CSC) over blocks of units: threads split the unit blocks, so
    every output element is summed by one thread over the columns in increasing order
    (the same order as forward_rows on sorted rows: the same bits either way). The
    blocks are computed in a block-major scratch, then copied row by row into place
    by the bias/activation pass."""
    cdef floating* o = z if z != NULL else out
    cdef Py_ssize_t blk = unit_block(<floating>0), n_blk = (units + blk - 1) // blk, t, i
    cdef bint par = n_threads > 1 and n_blk > 1 and <double>tptr[n_in] * units >= SPARSE_PARALLEL_MIN
    if par:
        for t in prange(n_blk, nogil=True, schedule="static", num_threads=n_threads):
            csc_forward_block(tptr, trow, tval, n, w, scratch + t * n * blk, n_in, units,
                              t * blk, min((t + 1) * blk, units))
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            unblock_row(scratch, n, i, o + i * units, units, blk)
            bias_act_row(o + i * units, out + i * units, b, units, act, alpha)
    else:
        for t in range(n_blk):
            csc_forward_block(tptr, trow, tval, n, w, scratch + t * n * blk, n_in, units,
                              t * blk, min((t + 1) * blk, units))
        for i in range(n):
            unblock_row(scratch, n, i, o + i * units, units, blk)
            bias_act_row(o + i * units, out + i * units, b, units, act, alpha)


cdef Py_ssize_t transpose_batch(const int64_t* indptr, const int32_t* idx, const floating* val,
                                Py_ssize_t n, Py_ssize_t n_in, int64_t* tptr, int32_t* trow,
                                floating* tval) noexcept nogil:
    """The batch's nonzeros by column (CSC, i.e. CSR of X^T), rows in increasing order
    within each column (a stable counting sort); skips zeros and out-of-range columns,
    and returns how many of the latter it met."""
    cdef Py_ssize_t i, c, bad = 0
    cdef int64_t k, pos
    cdef uint32_t u
    memset(tptr, 0, (n_in + 1) * sizeof(int64_t))
    for k in range(indptr[0], indptr[n]):
        u = <uint32_t>idx[k]
        if u >= <uint32_t>n_in:
            bad += 1
        elif val[k] != 0:
            tptr[u + 1] += 1
    for c in range(n_in):
        tptr[c + 1] += tptr[c]
    for i in range(n):  # tptr[c] walks through column c's slots, then is shifted back
        for k in range(indptr[i], indptr[i + 1]):
            u = <uint32_t>idx[k]
            if u < <uint32_t>n_in and val[k] != 0:
                pos = tptr[u]
                trow[pos] = <int32_t>i
                tval[pos] = val[k]
                tptr[u] = pos + 1
    for c in range(n_in, 0, -1):
        tptr[c] = tptr[c - 1]
    tptr[0] = 0
    return bad


cdef void _csr_backward(const int64_t* tptr, const int32_t* trow, const floating* tval,
                        Py_ssize_t n, floating* d, const floating* y, const floating* z,
                        floating* dw, floating* db, floating* scratch, Py_ssize_t n_in,
                        Py_ssize_t units, int act, floating alpha, int n_threads) noexcept nogil:
    cdef Py_ssize_t i, t
    cdef Py_ssize_t blk = unit_block(<floating>0), n_blk = (units + blk - 1) // blk
    cdef bint par = n_threads > 1 and <double>(tptr[n_in] + n) * units >= SPARSE_PARALLEL_MIN
    if act_rowwise(act):  # softmax family: the Jacobian couples a row's columns
        for i in range(n):
            act_backward_row(act, alpha, d + i * units, y + i * units, NULL, units)
        act = ACT_LINEAR
    if act != ACT_LINEAR or db != NULL:
        act_bias_cols_par(d, y, z, db, n, units, act, alpha, n_threads, par)
    # dW = X^T dZ by blocks of units; threads split the blocks: each element of dW is
    # written once, by one thread, summed over the batch rows in increasing order. Each
    # block of dZ is first packed contiguously: read in place, its rows (one every
    # units * itemsize bytes, 1 KB for 256 float32) fall into a few L1 sets and evict
    # each other (measured ~2x slower).
    if par and n_blk > 1:
        for t in prange(n_blk, nogil=True, schedule="static", num_threads=n_threads):
            block_rows(d, scratch, n, units, blk, t)
            csc_dw_block(tptr, trow, tval, scratch + t * n * blk, dw, n_in, units, t * blk,
                         min((t + 1) * blk, units))
    else:
        for t in range(n_blk):
            block_rows(d, scratch, n, units, blk, t)
            csc_dw_block(tptr, trow, tval, scratch + t * n * blk, dw, n_in, units, t * blk,
                         min((t + 1) * blk, units))


# -- argument checks ------------------------------------------------------------------------

cdef int check_csr(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, Py_ssize_t n,
                   int t) except -1:
    """indptr (>= n + 1,) int64 non-decreasing within [0, len(indices)]; indices int32;
    data of type t and as long as indices."""
    check_array(indptr, "indptr", cnp.NPY_INT64, 1, n + 1, -1, False)
    check_array(indices, "indices", cnp.NPY_INT32, 1, 0, -1, False)
    check_array(data, "data", t, 1, 0, -1, False)
    if data.shape[0] != indices.shape[0]:
        raise ValueError(f"data: expected {indices.shape[0]} values like indices, got {data.shape[0]}")
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef int64_t nnz = indices.shape[0]
    cdef Py_ssize_t i, bad = -1
    with nogil:
        if p[0] < 0 or p[0] > nnz:
            bad = 0
        else:
            for i in range(n):
                if p[i + 1] < p[i] or p[i + 1] > nnz:
                    bad = i + 1
                    break
    if bad >= 0:
        raise ValueError(f"indptr: expected non-decreasing offsets in [0, {nnz}], got "
                         f"{p[bad]} at position {bad}")
    return 0


cdef int check_work(cnp.ndarray work_ptr, cnp.ndarray work_rows, cnp.ndarray work_values,
                    Py_ssize_t n_in, int64_t nnz, int t) except -1:
    check_array(work_ptr, "work_ptr", cnp.NPY_INT64, 1, n_in + 1, -1, True)
    check_array(work_rows, "work_rows", cnp.NPY_INT32, 1, nnz, -1, True)
    check_array(work_values, "work_values", t, 1, nnz, -1, True)
    return 0


cdef int check_transposed(cnp.ndarray work_ptr, cnp.ndarray work_rows, Py_ssize_t n_in,
                          Py_ssize_t n) except -1:
    """A CSC batch that csr_dense_forward wrote: offsets non-decreasing from 0 within
    work_rows, rows in [0, n) (so that no later change of the buffers makes a read
    go out of bounds)."""
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(work_ptr)
    cdef const int32_t* r = <int32_t*>cnp.PyArray_DATA(work_rows)
    cdef int64_t cap = work_rows.shape[0], k
    cdef Py_ssize_t c
    cdef bint ok = True
    with nogil:
        if p[0] != 0:
            ok = False
        for c in range(n_in):
            if p[c + 1] < p[c] or p[c + 1] > cap:
                ok = False
                break
        if ok:
            for k in range(p[n_in]):
                if <uint32_t>r[k] >= <uint32_t>n:
                    ok = False
                    break
    if not ok:
        raise ValueError("work_ptr, work_rows: expected the transposed batch written by "
                         "csr_dense_forward for these rows (transposed=True), got other contents")
    return 0


cdef int check_act(int act, bint has_z) except -1:
    if act < 0 or act >= ACT_COUNT:
        raise ValueError(f"act: expected an activation code in [0, {ACT_COUNT}), got {act}")
    if act_needs_z(act) and not has_z:
        raise ValueError(f"z: activation code {act} reads the pre-activation: expected a z buffer, got None")
    return 0


def _raise_bad_columns(Py_ssize_t bad, Py_ssize_t n_in):
    if bad:
        raise ValueError(f"indices: expected column numbers in [0, {n_in}), got {bad} outside "
                         "(those entries were skipped)")


# -- dense layer kernels on CSR input -------------------------------------------------------

#: From this many rows on, csr_dense_forward (given a workspace) runs the column-major
#: kernel; below it, row by row. Forward alone they measured about equal on MNIST rows
#: (784 x 256 float32, 1 thread: 2 rows 5.6 vs 5.5 us, 16 rows 45 vs 37 us, 128 rows
#: 534 vs 511 us, rows vs column-major including the transpose); in training the
#: transposed batch is what the backward pass needs (~140 us of a 128-row batch),
#: so the forward makes it from 8 rows on.
CSC_MIN_ROWS = 8


cpdef Py_ssize_t padded_units(Py_ssize_t units, int typenum):
    """units rounded up to the CSC kernels' block (64 float32, 32 float64): the forward's
    work_out holds n rows of that many values."""
    cdef Py_ssize_t blk = 64 if typenum == cnp.NPY_FLOAT32 else 32
    return (units + blk - 1) // blk * blk


def csr_dense_forward(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, Py_ssize_t n,
                      cnp.ndarray w, object b, cnp.ndarray out, int act, int n_threads=1,
                      double alpha=0.0, object z=None, object work_ptr=None,
                      object work_rows=None, object work_values=None, object work_out=None):
    """out[:n] = act(X @ w + b) for the n CSR rows (indptr[:n + 1], indices, data);
    z[:n] = X @ w + b when z is given (gelu, silu, mish read it backward).

    Parameters
    ----------
    indptr : (>= n + 1,) int64, absolute offsets into indices and data
    indices : (nnz,) int32 column numbers in [0, n_in)
    data : (nnz,) values, the dtype of w
    w : (n_in, units); b : (units,) or None
    out : (>= n, units), written; z : (>= n, units) or None, written
    act, alpha : activation code and parameter (fastnn.activations)
    n_threads : threads, when the work is large enough
    work_ptr, work_rows, work_values, work_out : optional workspace, (>= n_in + 1,) int64,
        (>= nnz,) int32, (>= nnz,) and (>= n * padded_units(units, dtype),) of w's dtype.
        With it and n >= CSC_MIN_ROWS, the batch is transposed there (CSC) and the
        column-major kernel runs; csr_dense_backward can then reuse the transposed
        batch (transposed=True).

    Returns
    -------
    bool: whether the workspace now holds the transposed batch.
    """
    cdef int t = float_type(w, "w")
    check_array(w, "w", t, 2, 0, -1, False)
    cdef Py_ssize_t n_in = w.shape[0], units = w.shape[1], bad = 0
    check_csr(indptr, indices, data, n, t)
    check_array(out, "out", t, 2, n, units, True)
    cdef void* bp = data_or_null(b, "b", t, 1, units, -1, False)
    cdef void* zp = data_or_null(z, "z", t, 2, n, units, True)
    check_act(act, zp != NULL)
    if zp != NULL and arrays_overlap(<cnp.ndarray>z, out):
        raise ValueError("z: expected a buffer separate from out, got one that overlaps it")
    n_threads = max(1, n_threads)
    cdef const int64_t* pp = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef const int32_t* ip = <int32_t*>cnp.PyArray_DATA(indices)
    cdef bint csc = work_ptr is not None and n >= CSC_MIN_ROWS
    cdef int64_t* tp = NULL
    cdef int32_t* tr = NULL
    cdef void* tv = NULL
    cdef void* so = NULL
    if csc:
        check_work(work_ptr, work_rows, work_values, n_in, pp[n] - pp[0], t)
        if not isinstance(work_out, cnp.ndarray):
            raise ValueError(f"work_out: expected an ndarray with the other workspace, got {type(work_out).__name__}")
        check_array(<cnp.ndarray>work_out, "work_out", t, 1, n * padded_units(units, t), -1, True)
        so = cnp.PyArray_DATA(<cnp.ndarray>work_out)
        tp = <int64_t*>cnp.PyArray_DATA(work_ptr)
        tr = <int32_t*>cnp.PyArray_DATA(work_rows)
        tv = cnp.PyArray_DATA(work_values)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            if csc:
                bad = transpose_batch(pp, ip, <float*>cnp.PyArray_DATA(data), n, n_in, tp, tr,
                                      <float*>tv)
                forward_csc(tp, tr, <float*>tv, n, <float*>cnp.PyArray_DATA(w), <float*>bp,
                            <float*>cnp.PyArray_DATA(out), <float*>zp, <float*>so, n_in, units,
                            act, <float>alpha, n_threads)
            else:
                bad = forward_rows(pp, ip, <float*>cnp.PyArray_DATA(data), n,
                                   <float*>cnp.PyArray_DATA(w), <float*>bp,
                                   <float*>cnp.PyArray_DATA(out), <float*>zp, n_in, units, act,
                                   <float>alpha, n_threads)
    else:
        with nogil:
            if csc:
                bad = transpose_batch(pp, ip, <double*>cnp.PyArray_DATA(data), n, n_in, tp, tr,
                                      <double*>tv)
                forward_csc(tp, tr, <double*>tv, n, <double*>cnp.PyArray_DATA(w), <double*>bp,
                            <double*>cnp.PyArray_DATA(out), <double*>zp, <double*>so, n_in,
                            units, act, alpha, n_threads)
            else:
                bad = forward_rows(pp, ip, <double*>cnp.PyArray_DATA(data), n,
                                   <double*>cnp.PyArray_DATA(w), <double*>bp,
                                   <double*>cnp.PyArray_DATA(out), <double*>zp, n_in, units,
                                   act, alpha, n_threads)
    _raise_bad_columns(bad, n_in)
    return csc


def csr_dense_backward(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, Py_ssize_t n,
                       cnp.ndarray y, cnp.ndarray dy, cnp.ndarray dw, object db, int act,
                       cnp.ndarray work_ptr, cnp.ndarray work_rows, cnp.ndarray work_values,
                       cnp.ndarray work_out, bint transposed=False, int n_threads=1,
                       double alpha=0.0, object z=None):
    """Backward pass of csr_dense_forward (no dx: the input is data, not a layer).

    dy (>= n, units), the gradient w.r.t. the output y, is overwritten with the
    gradient w.r.t. the pre-activation dz; then db = sum_i dz[i] (unless None) and
    dw = X^T dz, i.e. dw[c, :] = sum over the nonzeros (i, c) of x_ic * dz[i, :].
    y: the forward's output; z: its pre-activation (gelu, silu, mish).
    work_ptr (>= n_in + 1,) int64, work_rows (>= nnz,) int32 and work_values (>= nnz,):
    the batch sorted by column. transposed=True reuses what csr_dense_forward left
    there for the same rows (it returned True); otherwise the batch is transposed here.
    work_out (>= n * padded_units(units, dtype),): scratch for dz packed by unit blocks.
    """
    cdef int t = float_type(dw, "dw")
    check_array(dw, "dw", t, 2, 0, -1, True)
    cdef Py_ssize_t n_in = dw.shape[0], units = dw.shape[1], bad = 0
    check_csr(indptr, indices, data, n, t)
    check_array(y, "y", t, 2, n, units, False)
    check_array(dy, "dy", t, 2, n, units, True)
    cdef void* dbp = data_or_null(db, "db", t, 1, units, -1, True)
    cdef void* zp = data_or_null(z, "z", t, 2, n, units, False)
    check_act(act, zp != NULL)
    if not act_needs_z(act):
        zp = NULL
    if arrays_overlap(dy, dw):
        raise ValueError("dw: expected a buffer separate from dy, got one that overlaps it")
    cdef const int64_t* pp = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef const int32_t* ip = <int32_t*>cnp.PyArray_DATA(indices)
    check_work(work_ptr, work_rows, work_values, n_in, 0 if transposed else pp[n] - pp[0], t)
    if transposed:
        check_transposed(work_ptr, work_rows, n_in, n)
    check_array(work_out, "work_out", t, 1, n * padded_units(units, t), -1, True)
    n_threads = max(1, n_threads)
    cdef int64_t* tp = <int64_t*>cnp.PyArray_DATA(work_ptr)
    cdef int32_t* tr = <int32_t*>cnp.PyArray_DATA(work_rows)
    cdef void* tv = cnp.PyArray_DATA(work_values)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            if not transposed:
                bad = transpose_batch(pp, ip, <float*>cnp.PyArray_DATA(data), n, n_in, tp, tr,
                                      <float*>tv)
            _csr_backward(tp, tr, <float*>tv, n, <float*>cnp.PyArray_DATA(dy),
                          <float*>cnp.PyArray_DATA(y), <float*>zp, <float*>cnp.PyArray_DATA(dw),
                          <float*>dbp, <float*>cnp.PyArray_DATA(work_out), n_in, units, act,
                          <float>alpha, n_threads)
    else:
        with nogil:
            if not transposed:
                bad = transpose_batch(pp, ip, <double*>cnp.PyArray_DATA(data), n, n_in, tp, tr,
                                      <double*>tv)
            _csr_backward(tp, tr, <double*>tv, n, <double*>cnp.PyArray_DATA(dy),
                          <double*>cnp.PyArray_DATA(y), <double*>zp,
                          <double*>cnp.PyArray_DATA(dw), <double*>dbp,
                          <double*>cnp.PyArray_DATA(work_out), n_in, units, act, alpha, n_threads)
    _raise_bad_columns(bad, n_in)


# -- batch assembly -------------------------------------------------------------------------

cdef int check_index(object index, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t n_src,
                     const int64_t** out) except -1:
    """The index array's pointer (NULL for None: rows start..stop), range-checked."""
    cdef Py_ssize_t n = stop - start, bad, i
    cdef const int64_t* idx
    if index is None:
        if start < 0 or n < 0 or stop > n_src:
            raise ValueError(f"start, stop: expected 0 <= start <= stop <= {n_src}, got {start}, {stop}")
        out[0] = NULL
        return 0
    if not isinstance(index, cnp.ndarray):
        raise ValueError(f"index: expected an int64 ndarray or None, got {type(index).__name__}")
    check_array(<cnp.ndarray>index, "index", cnp.NPY_INT64, 1, 0, -1, False)
    if start < 0 or n < 0 or stop > (<cnp.ndarray>index).shape[0]:
        raise ValueError(f"start, stop: expected 0 <= start <= stop <= {(<cnp.ndarray>index).shape[0]}, "
                         f"got {start}, {stop}")
    idx = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>index) + start
    bad = -1
    with nogil:
        for i in range(n):
            if idx[i] < 0 or idx[i] >= n_src:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"index: expected values in [0, {n_src}), got {idx[bad]}")
    out[0] = idx
    return 0


cdef int check_source(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data,
                      int t) except -1:
    check_array(indices, "indices", cnp.NPY_INT32, 1, 0, -1, False)
    check_array(data, "data", t, 1, 0, -1, False)
    if data.shape[0] != indices.shape[0]:
        raise ValueError(f"data: expected {indices.shape[0]} values like indices, got {data.shape[0]}")
    return 0


cdef int check_rows(cnp.ndarray indptr, const int64_t* idx, Py_ssize_t start, Py_ssize_t n,
                    int64_t nnz) except -1:
    """The offsets of the gathered rows only (the source was validated once, and a
    gather must not scan all of it per batch): 0 <= p[r] <= p[r + 1] <= nnz."""
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef Py_ssize_t i, bad = -1
    cdef int64_t r
    with nogil:
        for i in range(n):
            r = idx[i] if idx != NULL else start + i
            if p[r] < 0 or p[r + 1] < p[r] or p[r + 1] > nnz:
                bad = r
                break
    if bad >= 0:
        raise ValueError(f"indptr: expected non-decreasing offsets in [0, {nnz}], got "
                         f"{p[bad]}, {p[bad + 1]} for row {bad}")
    return 0


def csr_gather(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, object index,
               Py_ssize_t start, Py_ssize_t stop, cnp.ndarray out_indptr,
               cnp.ndarray out_indices, cnp.ndarray out_data):
    """Copy CSR rows index[start:stop] (rows start..stop when index is None) of a
    matrix with len(indptr) - 1 rows into a CSR batch: out_indptr[0] = 0, ...

    Returns the batch's number of nonzeros, or minus that number when out_indices /
    out_data hold fewer entries (nothing is written then: grow them and call again).
    """
    cdef int t = float_type(data, "data")
    check_array(indptr, "indptr", cnp.NPY_INT64, 1, 1, -1, False)
    cdef Py_ssize_t n_src = indptr.shape[0] - 1, n = stop - start
    check_source(indptr, indices, data, t)
    cdef const int64_t* idx
    check_index(index, start, stop, n_src, &idx)
    check_rows(indptr, idx, start, n, indices.shape[0])
    check_array(out_indptr, "out_indptr", cnp.NPY_INT64, 1, n + 1, -1, True)
    check_array(out_indices, "out_indices", cnp.NPY_INT32, 1, 0, -1, True)
    check_array(out_data, "out_data", t, 1, out_indices.shape[0], -1, True)
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef int64_t* q = <int64_t*>cnp.PyArray_DATA(out_indptr)
    cdef const char* si = <char*>cnp.PyArray_DATA(indices)
    cdef const char* sd = <char*>cnp.PyArray_DATA(data)
    cdef char* oi = <char*>cnp.PyArray_DATA(out_indices)
    cdef char* od = <char*>cnp.PyArray_DATA(out_data)
    cdef size_t isz = sizeof(int32_t), dsz = cnp.PyArray_ITEMSIZE(data)
    cdef int64_t total = 0, cap = out_indices.shape[0], r, cnt
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            r = idx[i] if idx != NULL else start + i
            total += p[r + 1] - p[r]
        if total <= cap:
            q[0] = 0
            for i in range(n):
                r = idx[i] if idx != NULL else start + i
                cnt = p[r + 1] - p[r]
                memcpy(oi + q[i] * isz, si + p[r] * isz, cnt * isz)
                memcpy(od + q[i] * dsz, sd + p[r] * dsz, cnt * dsz)
                q[i + 1] = q[i] + cnt
    return total if total <= cap else -total


cdef int64_t dense_rows_to_csr(const floating* src, Py_ssize_t cols, const int64_t* idx,
                               Py_ssize_t start, Py_ssize_t n, int64_t* q, int32_t* oi,
                               floating* od, int64_t cap) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef int64_t k = 0, r
    cdef const floating* s
    q[0] = 0
    for i in range(n):
        r = idx[i] if idx != NULL else start + i
        s = src + r * cols
        if cap - k >= cols:
            # Branch-free: every entry is written and the cursor advances past the
            # nonzeros only (a branch per entry mispredicts on scattered zeros:
            # measured 3 ns/entry on random 20%-dense rows, vs ~1 here).
            for j in range(cols):
                oi[k] = <int32_t>j
                od[k] = s[j]
                k += s[j] != 0
            q[i + 1] = k
        else:
            for j in range(cols):
                if s[j] != 0:
                    if k < cap:
                        oi[k] = <int32_t>j
                        od[k] = s[j]
                    k += 1
            q[i + 1] = k if k < cap else cap
    return k


def dense_gather_csr(cnp.ndarray src, object index, Py_ssize_t start, Py_ssize_t stop,
                     cnp.ndarray out_indptr, cnp.ndarray out_indices, cnp.ndarray out_data):
    """Rows index[start:stop] (rows start..stop when index is None) of a dense
    (N, cols) float array, as a CSR batch of their nonzero entries.

    Returns the number of nonzeros, or minus that number when out_indices / out_data
    are too short (the batch is then incomplete: grow them and call again).
    """
    cdef int t = float_type(src, "src")
    check_array(src, "src", t, 2, 0, -1, False)
    cdef Py_ssize_t cols = src.shape[1], n = stop - start
    if cols > 2147483647:
        raise ValueError(f"src: expected fewer than 2**31 columns, got {cols}")
    cdef const int64_t* idx
    check_index(index, start, stop, src.shape[0], &idx)
    check_array(out_indptr, "out_indptr", cnp.NPY_INT64, 1, n + 1, -1, True)
    check_array(out_indices, "out_indices", cnp.NPY_INT32, 1, 0, -1, True)
    check_array(out_data, "out_data", t, 1, out_indices.shape[0], -1, True)
    cdef int64_t total, cap = out_indices.shape[0]
    cdef int64_t* q = <int64_t*>cnp.PyArray_DATA(out_indptr)
    cdef int32_t* oi = <int32_t*>cnp.PyArray_DATA(out_indices)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            total = dense_rows_to_csr(<float*>cnp.PyArray_DATA(src), cols, idx, start, n, q, oi,
                                      <float*>cnp.PyArray_DATA(out_data), cap)
    else:
        with nogil:
            total = dense_rows_to_csr(<double*>cnp.PyArray_DATA(src), cols, idx, start, n, q, oi,
                                      <double*>cnp.PyArray_DATA(out_data), cap)
    return total if total <= cap else -total


cdef void csr_rows_to_dense(const int64_t* p, const int32_t* si, const floating* sd,
                            const int64_t* idx, Py_ssize_t start, Py_ssize_t n, floating* out,
                            Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t k, r
    cdef uint32_t c
    memset(out, 0, <size_t>n * cols * sizeof(floating))
    for i in range(n):
        r = idx[i] if idx != NULL else start + i
        for k in range(p[r], p[r + 1]):
            c = <uint32_t>si[k]
            if c < <uint32_t>cols:
                out[i * cols + c] += sd[k]


def csr_gather_dense(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, object index,
                     Py_ssize_t start, Py_ssize_t stop, cnp.ndarray out):
    """out[i] = dense row index[start + i] (row start + i when index is None) of the
    CSR matrix (indptr, indices, data); duplicate entries add up, columns outside
    out's width are skipped."""
    cdef int t = float_type(data, "data")
    check_array(indptr, "indptr", cnp.NPY_INT64, 1, 1, -1, False)
    cdef Py_ssize_t n_src = indptr.shape[0] - 1, n = stop - start
    check_source(indptr, indices, data, t)
    cdef const int64_t* idx
    check_index(index, start, stop, n_src, &idx)
    check_rows(indptr, idx, start, n, indices.shape[0])
    check_array(out, "out", t, 2, n, -1, True)
    cdef Py_ssize_t cols = out.shape[1]
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef const int32_t* si = <int32_t*>cnp.PyArray_DATA(indices)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            csr_rows_to_dense(p, si, <float*>cnp.PyArray_DATA(data), idx, start, n,
                              <float*>cnp.PyArray_DATA(out), cols)
    else:
        with nogil:
            csr_rows_to_dense(p, si, <double*>cnp.PyArray_DATA(data), idx, start, n,
                              <double*>cnp.PyArray_DATA(out), cols)


# -- validation of user matrices ------------------------------------------------------------

cdef enum:  # codes of csr_validate's first finding
    CSR_OK = 0
    CSR_BAD_INDPTR = 1
    CSR_BAD_COLUMN = 2
    CSR_UNSORTED = 3
    CSR_NONFINITE = 4

#: csr_validate's codes by name.
CSR_CODES = {"ok": CSR_OK, "bad_indptr": CSR_BAD_INDPTR, "bad_column": CSR_BAD_COLUMN,
             "unsorted": CSR_UNSORTED, "nonfinite": CSR_NONFINITE}


cdef inline bint not_finite(floating v) noexcept nogil:
    return not (v - v == 0)  # NaN - NaN and inf - inf are NaN


cdef (int, Py_ssize_t) _validate(const int64_t* p, const int32_t* si, const floating* sd,
                                 Py_ssize_t n, int64_t nnz, int64_t cols) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t k
    if p[0] != 0:
        return CSR_BAD_INDPTR, 0
    for i in range(n):
        if p[i + 1] < p[i] or p[i + 1] > nnz:
            return CSR_BAD_INDPTR, i + 1
    for i in range(n):
        for k in range(p[i], p[i + 1]):
            if si[k] < 0 or si[k] >= cols:
                return CSR_BAD_COLUMN, k
            if k > p[i] and si[k] < si[k - 1]:
                return CSR_UNSORTED, k
            if not_finite(sd[k]):
                return CSR_NONFINITE, k
    return CSR_OK, 0


def csr_validate(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, Py_ssize_t cols):
    """(code, position) of the first problem of a CSR matrix with len(indptr) - 1 rows and
    `cols` columns: CSR_OK; CSR_BAD_INDPTR (offsets not starting at 0, decreasing or past
    the end; position in indptr); CSR_BAD_COLUMN (a column outside [0, cols)),
    CSR_UNSORTED (a row's columns not in increasing order; duplicates allowed: they add
    up) or CSR_NONFINITE (NaN or infinity), with the position in indices/data."""
    cdef int t = float_type(data, "data")
    check_array(indptr, "indptr", cnp.NPY_INT64, 1, 1, -1, False)
    check_array(indices, "indices", cnp.NPY_INT32, 1, 0, -1, False)
    check_array(data, "data", t, 1, 0, -1, False)
    if data.shape[0] != indices.shape[0]:
        raise ValueError(f"data: expected {indices.shape[0]} values like indices, got {data.shape[0]}")
    cdef Py_ssize_t n = indptr.shape[0] - 1
    cdef (int, Py_ssize_t) res
    cdef const int64_t* p = <int64_t*>cnp.PyArray_DATA(indptr)
    cdef const int32_t* si = <int32_t*>cnp.PyArray_DATA(indices)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            res = _validate(p, si, <float*>cnp.PyArray_DATA(data), n, indices.shape[0], cols)
    else:
        with nogil:
            res = _validate(p, si, <double*>cnp.PyArray_DATA(data), n, indices.shape[0], cols)
    return res[0], res[1]
