# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Loss kernels: value and gradient w.r.t. the network output in one pass.

Each returns (sum of per-sample losses, accumulated in float64) and writes the
gradient scaled by `scale` (1/n for a mean over the batch) into `grad` when it
is not None. Softmax cross-entropy also counts correct argmax predictions, so
the accuracy metric costs nothing extra.
"""
cimport numpy as cnp
from cython cimport floating
from libc.math cimport log

from _arrays cimport check_array, data_or_null, first_bad_label, float_type
from _math cimport fexp

cnp.import_array()


cdef inline Py_ssize_t row_argmax(const floating* z, Py_ssize_t k) noexcept nogil:
    """Index of the first maximum, like numpy.argmax."""
    cdef Py_ssize_t j, best = 0
    for j in range(1, k):
        if z[j] > z[best]:
            best = j
    return best


cdef double _xent_sparse(const floating* z, const cnp.int64_t* labels, floating* grad,
                         Py_ssize_t n, Py_ssize_t k, floating scale, Py_ssize_t* correct) noexcept nogil:
    # loss_i = logsumexp(z_i) - z_i[y_i]; computed with the row max subtracted so
    # that exp never overflows and the log never sees 0 (the max term is exp(0) = 1).
    cdef Py_ssize_t i, j, am
    cdef double total = 0
    cdef floating mx, s, e
    cdef const floating* zi
    cdef floating* gi
    cdef cnp.int64_t yi
    correct[0] = 0
    for i in range(n):
        zi = z + i * k
        yi = labels[i]
        am = row_argmax(zi, k)
        mx = zi[am]
        correct[0] += am == yi
        s = 0
        if grad != NULL:
            gi = grad + i * k
            for j in range(k):
                e = fexp(zi[j] - mx)
                gi[j] = e
                s += e
            e = scale / s
            for j in range(k):
                gi[j] *= e
            gi[yi] -= scale
        else:
            for j in range(k):
                s += fexp(zi[j] - mx)
        total += log(<double>s) + <double>mx - <double>zi[yi]
    return total


cdef double _xent_dense(const floating* z, const floating* t, floating* grad,
                        Py_ssize_t n, Py_ssize_t k, floating scale, Py_ssize_t* correct) noexcept nogil:
    # loss_i = sum_j t_ij (lse_i - z_ij); grad_ij = p_ij * sum_j t_ij - t_ij.
    cdef Py_ssize_t i, j, am
    cdef double total = 0, lse, tz, ts
    cdef floating mx, s, e
    cdef const floating* zi
    cdef const floating* ti
    cdef floating* gi
    correct[0] = 0
    for i in range(n):
        zi = z + i * k
        ti = t + i * k
        am = row_argmax(zi, k)
        mx = zi[am]
        correct[0] += am == row_argmax(ti, k)
        s = 0
        tz = 0
        ts = 0
        for j in range(k):
            s += fexp(zi[j] - mx)
            tz += <double>ti[j] * zi[j]
            ts += ti[j]
        lse = log(<double>s) + mx
        total += ts * lse - tz
        if grad != NULL:
            gi = grad + i * k
            e = scale * <floating>ts / s
            for j in range(k):
                gi[j] = fexp(zi[j] - mx) * e - scale * ti[j]
    return total


cdef double _mse(const floating* p, const floating* t, floating* grad, Py_ssize_t m,
                 floating scale) noexcept nogil:
    # m = n * outputs elements; grad = 2 * scale * (p - t).
    cdef Py_ssize_t i
    cdef double total = 0
    cdef floating d, two_scale = 2 * scale
    if grad != NULL:
        for i in range(m):
            d = p[i] - t[i]
            total += d * d
            grad[i] = two_scale * d
    else:
        for i in range(m):
            d = p[i] - t[i]
            total += d * d
    return total


def softmax_xent_sparse(cnp.ndarray logits, cnp.ndarray labels, object grad, Py_ssize_t n,
                        double scale):
    """Softmax cross-entropy from logits with integer labels.

    logits (>= n, k); labels (>= n,) int64 in [0, k) (checked by the caller;
    out-of-range labels are refused here too); grad (>= n, k) or None.
    Returns (loss_sum, n_correct).
    """
    cdef int t = float_type(logits, "logits")
    check_array(logits, "logits", t, 2, n, -1, False)
    cdef Py_ssize_t k = logits.shape[1], correct = 0
    check_array(labels, "labels", cnp.NPY_INT64, 1, n, -1, False)
    cdef cnp.int64_t* lab = <cnp.int64_t*>cnp.PyArray_DATA(labels)
    if k == 0:
        raise ValueError("logits: expected at least one class column")
    cdef Py_ssize_t bad
    with nogil:
        bad = first_bad_label(lab, n, k)
    if bad >= 0:
        raise ValueError(f"labels: expected integers in [0, {k}), got {lab[bad]} at index {bad}")
    cdef void* gp = data_or_null(grad, "grad", t, 2, n, k, True)
    cdef double total
    if t == cnp.NPY_FLOAT32:
        with nogil:
            total = _xent_sparse(<float*>cnp.PyArray_DATA(logits), lab, <float*>gp, n, k,
                                 <float>scale, &correct)
    else:
        with nogil:
            total = _xent_sparse(<double*>cnp.PyArray_DATA(logits), lab, <double*>gp, n, k,
                                 scale, &correct)
    return total, correct


def softmax_xent_dense(cnp.ndarray logits, cnp.ndarray targets, object grad, Py_ssize_t n,
                       double scale):
    """Softmax cross-entropy from logits with target distributions (one-hot or soft).

    targets (>= n, k) in the logits' dtype. Returns (loss_sum, n_correct) where a
    prediction is correct when its argmax equals the target's argmax.
    """
    cdef int t = float_type(logits, "logits")
    check_array(logits, "logits", t, 2, n, -1, False)
    cdef Py_ssize_t k = logits.shape[1], correct = 0
    if k == 0:
        raise ValueError("logits: expected at least one class column")
    check_array(targets, "targets", t, 2, n, k, False)
    cdef void* gp = data_or_null(grad, "grad", t, 2, n, k, True)
    cdef double total
    if t == cnp.NPY_FLOAT32:
        with nogil:
            total = _xent_dense(<float*>cnp.PyArray_DATA(logits), <float*>cnp.PyArray_DATA(targets),
                                <float*>gp, n, k, <float>scale, &correct)
    else:
        with nogil:
            total = _xent_dense(<double*>cnp.PyArray_DATA(logits), <double*>cnp.PyArray_DATA(targets),
                                <double*>gp, n, k, scale, &correct)
    return total, correct


def mse(cnp.ndarray pred, cnp.ndarray targets, object grad, Py_ssize_t n, double scale):
    """Squared error: returns sum((pred - targets)**2) over the first n rows and
    writes grad = 2 * scale * (pred - targets) when grad is not None."""
    cdef int t = float_type(pred, "pred")
    check_array(pred, "pred", t, 2, n, -1, False)
    cdef Py_ssize_t k = pred.shape[1]
    check_array(targets, "targets", t, 2, n, k, False)
    cdef void* gp = data_or_null(grad, "grad", t, 2, n, k, True)
    cdef double total
    if t == cnp.NPY_FLOAT32:
        with nogil:
            total = _mse(<float*>cnp.PyArray_DATA(pred), <float*>cnp.PyArray_DATA(targets),
                         <float*>gp, n * k, <float>scale)
    else:
        with nogil:
            total = _mse(<double*>cnp.PyArray_DATA(pred), <double*>cnp.PyArray_DATA(targets),
                         <double*>gp, n * k, scale)
    return total
