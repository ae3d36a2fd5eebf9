# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Weight penalties (L1/L2) and weight constraints (norm clipping, non-negativity).

add_penalty adds the gradient of l1 * sum|x| + l2 * sum x^2 to dx and returns
the penalty in one pass. norm_constraint_apply and nonneg_apply project a
weight array in place (Keras's MaxNorm, UnitNorm, MinMaxNorm and NonNeg).

Determinism: every reduction has an order fixed by the array's shape alone,
never by the thread count: add_penalty sums N_BLOCKS fixed blocks (each in
element order, in LANES interleaved accumulators) and then the block sums in
block order;
a column norm is summed in row order, a row norm in element order. So 1 and 2
threads give the same bits.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, sqrt

from _arrays cimport float_type

cnp.import_array()

cdef enum:
    # Passes over fewer elements than this stay on the calling thread (as in
    # dense.pyx: below ~32k elements the team's fork/join costs what it saves).
    PAR_MIN = 1 << 15
    # add_penalty's reduction is cut into this many blocks whatever the thread
    # count (a stack array of partial sums: no allocation).
    N_BLOCKS = 64
    # Columns whose norms one pass accumulates together (axis-0 norms): a stack
    # array of 64 doubles, and row segments long enough to stream.
    COL_BLOCK = 64
    # Interleaved float64 accumulators of add_penalty's sums (two AVX-512 or four
    # AVX2 vectors of doubles; fixed, so the sum order never depends on the CPU).
    LANES = 16

# Keras's backend.epsilon(), added to the norm in every norm constraint (keeps
# a zero column at zero instead of dividing by zero).
cdef double NORM_EPSILON = 1e-7


# -- penalties ------------------------------------------------------------------------------

cdef void _penalty_block(const floating* x, floating* dx, Py_ssize_t lo, Py_ssize_t hi,
                         floating c1, floating c2, double* out_abs, double* out_sq) noexcept nogil:
    """dx[i] += c1 * sign(x[i]) + c2 * x[i] for lo <= i < hi; sums of |x| and x^2.

    The sums run in float64 in LANES interleaved accumulators (element i goes
    to lane (i - lo) % LANES): independent lanes let the compiler vectorize
    the loop without reassociating any sum, and the lane of an element depends
    on its position only, so the result is reproducible.
    """
    cdef double a[LANES]
    cdef double s[LANES]
    cdef Py_ssize_t i = lo, l
    cdef floating v
    cdef double sa = 0, ss = 0
    for l in range(LANES):
        a[l] = 0
        s[l] = 0
    while i + LANES <= hi:
        for l in range(LANES):
            v = x[i + l]
            # sign(v) = (v > 0) - (v < 0): 0 at v = 0, the subgradient TensorFlow and
            # torch use for |v| at 0 (and 0 for NaN, which then shows in the penalty).
            dx[i + l] += c1 * <floating>((v > 0) - (v < 0)) + c2 * v
            a[l] += fabs(v)
            s[l] += <double>v * v
        i += LANES
    while i < hi:
        v = x[i]
        dx[i] += c1 * <floating>((v > 0) - (v < 0)) + c2 * v
        a[0] += fabs(v)
        s[0] += <double>v * v
        i += 1
    for l in range(LANES):  # lane order
        sa += a[l]
        ss += s[l]
    out_abs[0] = sa
    out_sq[0] = ss


cdef double _add_penalty(const floating* x, floating* dx, Py_ssize_t m, double l1, double l2,
                         int n_threads) noexcept nogil:
    cdef double part_abs[N_BLOCKS]
    cdef double part_sq[N_BLOCKS]
    cdef double sum_abs = 0, sum_sq = 0, penalty = 0
    cdef Py_ssize_t b, lo, hi, size = (m + N_BLOCKS - 1) // N_BLOCKS
    # The gradient coefficients in the array's precision (float32 stays float32).
    cdef floating c1 = <floating>l1, c2 = <floating>(2 * l2)
    if n_threads > 1 and m >= PAR_MIN:
        for b in prange(N_BLOCKS, nogil=True, schedule="static", num_threads=n_threads):
            lo = min(b * size, m)
            hi = min(lo + size, m)
            _penalty_block(x, dx, lo, hi, c1, c2, &part_abs[b], &part_sq[b])
    else:
        for b in range(N_BLOCKS):
            lo = min(b * size, m)
            hi = min(lo + size, m)
            _penalty_block(x, dx, lo, hi, c1, c2, &part_abs[b], &part_sq[b])
    for b in range(N_BLOCKS):  # block order: independent of the thread count
        sum_abs += part_abs[b]
        sum_sq += part_sq[b]
    # A zero coefficient adds nothing, as in Keras (not 0 * inf = NaN for huge weights).
    if l1 != 0:
        penalty += l1 * sum_abs
    if l2 != 0:
        penalty += l2 * sum_sq
    return penalty


cdef int _check_flat(cnp.ndarray a, str name, int typenum, Py_ssize_t m, bint writable) except -1:
    """a: C-contiguous, of type typenum, with at least m elements (any ndim)."""
    if cnp.PyArray_TYPE(a) != typenum:
        raise ValueError(f"{name}: expected dtype {cnp.PyArray_DescrFromType(typenum)}, got {a.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name}: expected a C-contiguous array")
    if writable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name}: expected a writable array")
    if cnp.PyArray_SIZE(a) < m:
        raise ValueError(f"{name}: expected at least {m} elements, got {cnp.PyArray_SIZE(a)}")
    return 0


def add_penalty(cnp.ndarray x, cnp.ndarray dx, Py_ssize_t m, double l1, double l2,
                int n_threads=1):
    """dx += l1 * sign(x) + 2 * l2 * x over the first m elements; returns the penalty.

    Parameters
    ----------
    x : C-contiguous float32/float64 array, any ndim, >= m elements (read as flat)
    dx : same dtype, C-contiguous, writable, >= m elements (updated in place)
    m : elements to process, counted from the start (the first m // cols rows
        of a 2-D buffer with more rows than used)
    l1, l2 : penalty factors, finite and >= 0
    n_threads : OpenMP threads, used for m >= 2**15 only

    Returns
    -------
    float
        l1 * sum|x[:m]| + l2 * sum x[:m]**2, accumulated in float64.
    """
    cdef int t = float_type(x, "x")
    if m < 0:
        raise ValueError(f"m: expected an element count >= 0, got {m}")
    _check_flat(x, "x", t, m, False)
    _check_flat(dx, "dx", t, m, True)
    if not (l1 >= 0 and l1 < float("inf")):
        raise ValueError(f"l1: expected a finite float >= 0, got {l1}")
    if not (l2 >= 0 and l2 < float("inf")):
        raise ValueError(f"l2: expected a finite float >= 0, got {l2}")
    cdef double penalty = 0
    if m == 0 or (l1 == 0 and l2 == 0):
        return 0.0
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            penalty = _add_penalty(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(dx), m,
                                   l1, l2, n_threads)
    else:
        with nogil:
            penalty = _add_penalty(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(dx), m,
                                   l1, l2, n_threads)
    return penalty


# -- constraints ----------------------------------------------------------------------------

cdef inline double _norm_scale(double norm, double min_value, double max_value,
                               double rate) noexcept nogil:
    """desired / (eps + norm), desired = rate * clip(norm, min, max) + (1 - rate) * norm.

    Keras's MinMaxNorm; MaxNorm is (0, max_value, 1) and UnitNorm (1, 1, 1), so
    one formula serves the three (with rate == 1 the (1 - rate) * norm term is
    dropped: it is 0 exactly, except 0 * inf).
    """
    cdef double clipped = min(max(norm, min_value), max_value)
    cdef double desired = clipped if rate == 1.0 else rate * clipped + (1.0 - rate) * norm
    return desired / (NORM_EPSILON + norm)


cdef void _row_norms(floating* w, Py_ssize_t rows, Py_ssize_t cols, double min_value,
                     double max_value, double rate, int n_threads) noexcept nogil:
    """Scale each row of w (rows, cols) by _norm_scale of its L2 norm."""
    cdef Py_ssize_t i
    if n_threads > 1 and rows > 1 and rows * cols >= PAR_MIN:
        for i in prange(rows, nogil=True, schedule="static", num_threads=n_threads):
            _scale_row(w + i * cols, cols, min_value, max_value, rate)
    else:
        for i in range(rows):
            _scale_row(w + i * cols, cols, min_value, max_value, rate)


cdef inline void _scale_row(floating* r, Py_ssize_t cols, double min_value, double max_value,
                            double rate) noexcept nogil:
    cdef Py_ssize_t j
    cdef double ss = 0  # float64 sum of squares: no overflow or lost digits for float32 weights
    cdef floating s
    for j in range(cols):
        ss += <double>r[j] * r[j]
    s = <floating>_norm_scale(sqrt(ss), min_value, max_value, rate)
    for j in range(cols):
        r[j] *= s


cdef void _col_norms(floating* w, Py_ssize_t rows, Py_ssize_t cols, double min_value,
                     double max_value, double rate, int n_threads) noexcept nogil:
    """Scale each column of w (rows, cols) by _norm_scale of its L2 norm.

    Columns are taken COL_BLOCK at a time: the block's sums of squares stream
    the rows (each column summed in row order), then a second pass scales them.
    Threads split the blocks, so each column is summed by one thread, in order.
    """
    cdef Py_ssize_t b, n_blocks = (cols + COL_BLOCK - 1) // COL_BLOCK
    if n_threads > 1 and n_blocks > 1 and rows * cols >= PAR_MIN:
        for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
            _scale_col_block(w, rows, cols, b * COL_BLOCK, min(cols, (b + 1) * COL_BLOCK),
                             min_value, max_value, rate)
    else:
        for b in range(n_blocks):
            _scale_col_block(w, rows, cols, b * COL_BLOCK, min(cols, (b + 1) * COL_BLOCK),
                             min_value, max_value, rate)


cdef void _scale_col_block(floating* w, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t c0,
                           Py_ssize_t c1, double min_value, double max_value,
                           double rate) noexcept nogil:
    cdef double acc[COL_BLOCK]
    cdef floating scale[COL_BLOCK]
    cdef Py_ssize_t i, j, width = c1 - c0
    cdef floating* r
    for j in range(width):
        acc[j] = 0
    for i in range(rows):
        r = w + i * cols + c0
        for j in range(width):
            acc[j] += <double>r[j] * r[j]
    for j in range(width):
        scale[j] = <floating>_norm_scale(sqrt(acc[j]), min_value, max_value, rate)
    for i in range(rows):
        r = w + i * cols + c0
        for j in range(width):
            r[j] *= scale[j]


def norm_constraint_apply(cnp.ndarray w, int axis, double min_value, double max_value,
                          double rate, int n_threads=1):
    """In place: w *= desired / (1e-7 + norm), the norms taken along `axis`.

    desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm
    (Keras's MinMaxNorm; MaxNorm: (0, max_value, 1); UnitNorm: (1, 1, 1)).

    Parameters
    ----------
    w : C-contiguous writable float32/float64, 1-D (one norm over all elements;
        axis 0 or -1) or 2-D (axis 0: one norm per column, i.e. per unit of a
        (in, units) kernel; axis 1 or -1: one norm per row)
    min_value, max_value : 0 <= min_value <= max_value
    rate : in [0, 1]
    n_threads : OpenMP threads, for >= 2**15 elements only
    """
    cdef int t = float_type(w, "w")
    cdef int ndim = cnp.PyArray_NDIM(w)
    if not cnp.PyArray_IS_C_CONTIGUOUS(w):
        raise ValueError("w: expected a C-contiguous array")
    if not cnp.PyArray_ISWRITEABLE(w):
        raise ValueError("w: expected a writable array")
    if ndim == 1:
        if axis not in (0, -1):
            raise ValueError(f"axis: expected 0 or -1 for a 1-D array, got {axis}")
    elif ndim == 2:
        if axis not in (0, 1, -1):
            raise ValueError(f"axis: expected 0, 1 or -1 for a 2-D array, got {axis}")
    else:
        raise ValueError(f"w: expected a 1-D or 2-D array, got {ndim}-D")
    if not (0 <= min_value <= max_value):
        raise ValueError(f"min_value, max_value: expected 0 <= min_value <= max_value, "
                         f"got {min_value}, {max_value}")
    if not (0 <= rate <= 1):
        raise ValueError(f"rate: expected a float in [0, 1], got {rate}")
    cdef Py_ssize_t rows = 1 if ndim == 1 else w.shape[0]
    cdef Py_ssize_t cols = w.shape[0] if ndim == 1 else w.shape[1]
    cdef bint by_col = ndim == 2 and axis == 0
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            if by_col:
                _col_norms(<float*>cnp.PyArray_DATA(w), rows, cols, min_value, max_value, rate,
                           n_threads)
            else:
                _row_norms(<float*>cnp.PyArray_DATA(w), rows, cols, min_value, max_value, rate,
                           n_threads)
    else:
        with nogil:
            if by_col:
                _col_norms(<double*>cnp.PyArray_DATA(w), rows, cols, min_value, max_value, rate,
                           n_threads)
            else:
                _row_norms(<double*>cnp.PyArray_DATA(w), rows, cols, min_value, max_value, rate,
                           n_threads)


cdef void _nonneg(floating* w, Py_ssize_t n, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    # w < 0 -> 0; NaN compares false and stays NaN (Keras's maximum(w, 0) keeps it too).
    if n_threads > 1 and n >= PAR_MIN:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            if w[i] < 0:
                w[i] = 0
    else:
        for i in range(n):
            if w[i] < 0:
                w[i] = 0


def nonneg_apply(cnp.ndarray w, int n_threads=1):
    """In place: w = max(w, 0) over every element of a C-contiguous float array (any ndim)."""
    cdef int t = float_type(w, "w")
    _check_flat(w, "w", t, 0, True)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(w)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _nonneg(<float*>cnp.PyArray_DATA(w), n, n_threads)
    else:
        with nogil:
            _nonneg(<double*>cnp.PyArray_DATA(w), n, n_threads)
