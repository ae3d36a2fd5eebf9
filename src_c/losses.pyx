# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Loss kernels: value, gradient, per-sample losses and correct count in one pass.

Every kernel processes the first `n` rows of (n_rows >= n, k) buffers and
returns (total, correct):

* total = sum_i w_i * l_i over the first n rows, accumulated in float64, where
  l_i is the per-sample loss and w_i the sample weight (1 without weights);
* correct = correct argmax predictions (cross-entropy kernels) or correct
  elements (binary kernels: BCE, hinge), 0 for the others.

It writes, when the buffers are given (None skips them):

* grad[i, j] = scale * w_i * d l_i / d out[i, j] (scale is 1/n for a batch
  mean, 1 for a sum), computed in the same pass as the value;
* per_sample[i] = l_i (unweighted), for reduction="none".

Threads: the rows are cut into at most MAX_CHUNKS chunks whose boundaries depend
only on (n, k), never on the thread count; each chunk sums its rows in order
into its own slot, and the slots are added in chunk order. So the result is the
same bit for bit for 1 or 2 threads, and the serial path runs the very same
chunks. Small batches (< ELEM_PARALLEL_MIN elements) stay on the calling thread.

Clipping (Keras's epsilon 1e-7) passes the gradient where the value lies inside
the closed clip interval and blocks it outside, as torch.clamp does, so the
gradient is that of the clipped value everywhere but at the clip points.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log

from _activations cimport arrays_overlap, fnn_exp_fwd_f32
from _arrays cimport check_array, data_or_null, first_bad_label, float_type
from _math cimport fabs_, fexp, fexpm1, flog, ftanh

cnp.import_array()

cdef enum:
    # Below ~32k elements a loss pass takes ~10-50 us: waking the team costs about
    # what a second thread saves (same threshold as src_c/dense.pyx).
    ELEM_PARALLEL_MIN = 1 << 15
    # A chunk holds about this many elements (fewer chunks for huge batches).
    CHUNK_ELEMS = 1 << 13
    MAX_CHUNKS = 64
    # Element losses summed in the working precision before a float64 add
    # (bounds the float32 rounding of a row sum to ~ROW_BLOCK ulps, worst case).
    ROW_BLOCK = 256

# Element-wise loss kinds (fastnn/losses.py reads LOSS_KINDS).
cdef enum:
    K_MSE = 0
    K_MAE = 1
    K_HUBER = 2
    K_LOGCOSH = 3
    K_MSLE = 4
    K_POISSON = 5
    K_ASYMMETRIC = 6
    K_BCE_LOGITS = 7
    K_BCE_PROBS = 8
    K_KLD = 9
    K_HINGE = 10
    K_SQUARED_HINGE = 11
    N_KINDS = 12

LOSS_KINDS = {
    "mean_squared_error": K_MSE, "mean_absolute_error": K_MAE, "huber": K_HUBER,
    "log_cosh": K_LOGCOSH, "mean_squared_logarithmic_error": K_MSLE, "poisson": K_POISSON,
    "asymmetric": K_ASYMMETRIC, "binary_crossentropy_logits": K_BCE_LOGITS,
    "binary_crossentropy_probs": K_BCE_PROBS, "kl_divergence": K_KLD, "hinge": K_HINGE,
    "squared_hinge": K_SQUARED_HINGE,
}

# Kernel families (how a row is processed).
cdef enum:
    F_ELEMENTWISE = 0
    F_XENT_SPARSE = 1
    F_XENT_DENSE = 2
    F_PROBS_SPARSE = 3
    F_PROBS_DENSE = 4

# Keras's backend.epsilon().
cdef double EPS = 1e-7
cdef double LN2 = 0.6931471805599453


cdef struct Job:
    # Everything a chunk of rows needs; pointers are cast to the output's dtype
    # (targets of the sparse families are int64 labels).
    int family
    int kind
    bint count_binary       # count (out > thr) == (target > 0.5) element-wise
    double thr
    const void* tgt
    void* grad
    const void* sw
    void* per
    Py_ssize_t k
    double scale
    double inv_k            # per-sample loss = inv_k * sum over the row's elements
    double a1               # kind parameter: delta, over_cost, label_smoothing
    double a2               # second parameter: under_cost


# -- element-wise losses: value returned, derivative through de --------------------------
# d is pred - target throughout; e(d) is one element's loss. Constants are typed
# locals (`one`, `two`, ...): Cython writes a bare literal as a C double, which
# would silently promote float32 arithmetic to double.

cdef inline floating log1p_(floating x) noexcept nogil:
    # log(1 + x) for x > -1 with one log: glibc's log1pf costs ~4x a logf
    # (measured 9.3 vs 2.3 ns). With u = 1 + x rounded, log(u) * x / (u - 1)
    # cancels the rounding of u (Goldberg, "What every computer scientist should
    # know about floating-point arithmetic", 1991, Theorem 4): a few ulps.
    cdef floating one = 1
    cdef floating u = one + x
    if u == one:
        return x
    return flog(u) * (x / (u - one))


cdef inline floating _sigmoid(floating z) noexcept nogil:
    # exp(-|z|) <= 1 never overflows.
    cdef floating one = 1
    cdef floating e = fexp(-fabs_(z))
    cdef floating r = one / (one + e)
    return r if z >= 0 else e * r


cdef inline floating e_mse(floating p, floating t, floating a1, floating a2, floating* de) noexcept nogil:
    cdef floating d = p - t
    de[0] = d + d
    return d * d


cdef inline floating e_mae(floating p, floating t, floating a1, floating a2, floating* de) noexcept nogil:
    cdef floating d = p - t
    de[0] = (d > 0) - (d < 0)  # sign, 0 at 0 (torch's l1_loss)
    return fabs_(d)


cdef inline floating e_huber(floating p, floating t, floating delta, floating a2,
                             floating* de) noexcept nogil:
    cdef floating half = 0.5
    cdef floating d = p - t, a = fabs_(d)
    if a <= delta:
        de[0] = d
        return half * d * d
    de[0] = delta if d > 0 else -delta
    return delta * (a - half * delta)


cdef inline floating e_logcosh(floating p, floating t, floating a1, floating a2,
                               floating* de) noexcept nogil:
    # log(cosh(d)) never overflows in either form below:
    # * |d| >= 1: |d| + log1p(exp(-2|d|)) - log 2 (exp of a negative number; the
    #   value is >= 0.43, so subtracting log 2 loses nothing);
    # * |d| < 1: log1p(cosh(d) - 1) with cosh(d) - 1 = u^2 / (2 (1 + u)),
    #   u = expm1(|d|), which keeps full relative precision for tiny d (the first
    #   form would cancel to ~1e-8 absolute error in float32 where the loss is d^2/2).
    cdef floating one = 1, two = 2, ln2 = <floating>LN2
    cdef floating d = p - t, u
    cdef floating a = fabs_(d)
    de[0] = ftanh(d)
    if a >= one:
        return a + log1p_(fexp(-two * a)) - ln2
    u = fexpm1(a)
    return log1p_(u * u / (two * (one + u)))


cdef inline floating e_msle(floating p, floating t, floating a1, floating a2, floating* de) noexcept nogil:
    # Keras: log(max(p, eps) + 1) - log(max(t, eps) + 1), squared; log1p for accuracy.
    cdef floating one = 1, two = 2, eps = <floating>EPS
    cdef floating pc = p if p > eps else eps
    cdef floating tc = t if t > eps else eps
    cdef floating a = log1p_(pc) - log1p_(tc)
    de[0] = two * a / (one + pc) if p >= eps else 0
    return a * a


cdef inline floating e_poisson(floating p, floating t, floating a1, floating a2,
                               floating* de) noexcept nogil:
    # Keras: p - t log(p + eps). A prediction <= -eps gives NaN, as in Keras
    # (Poisson needs positive predictions: use an exponential or softplus output).
    cdef floating one = 1
    cdef floating q = p + <floating>EPS
    de[0] = one - t / q
    return p - t * flog(q)


cdef inline floating e_asymmetric(floating p, floating t, floating over, floating under,
                                  floating* de) noexcept nogil:
    cdef floating d = p - t
    if d > 0:
        de[0] = over
        return over * d
    if d < 0:
        de[0] = -under
        return -under * d
    de[0] = 0
    return 0


cdef inline floating e_bce_logits(floating z, floating t, floating ls, floating a2,
                                  floating* de) noexcept nogil:
    # max(z, 0) - z t + log1p(exp(-|z|)), written as a sum of two non-negative
    # terms (t in [0, 1]) so that nothing cancels for |z| up to 1e4 in float32;
    # the gradient sigmoid(z) - t reuses the same exp(-|z|). Selects, not
    # branches: the sign of z is random in training (mispredictions cost more
    # than computing both sides).
    cdef floating one = 1, half = 0.5
    cdef floating tt = t * (one - ls) + half * ls
    cdef floating ex = fexp(-fabs_(z))
    cdef floating r = one / (one + ex)
    de[0] = (r if z >= 0 else ex * r) - tt
    return (z * (one - tt) if z >= 0 else -z * tt) + log1p_(ex)


cdef inline floating e_bce_probs(floating p, floating t, floating ls, floating a2,
                                 floating* de) noexcept nogil:
    # Keras: clip p to [eps, 1 - eps]; -(t log p + (1 - t) log(1 - p)).
    cdef floating one = 1, half = 0.5
    cdef floating tt = t * (one - ls) + half * ls
    cdef floating lo = <floating>EPS, hi = one - <floating>EPS
    cdef floating pc = p
    if p < lo:
        pc = lo
    elif p > hi:
        pc = hi
    de[0] = (pc - tt) / (pc * (one - pc)) if lo <= p <= hi else 0
    return -(tt * flog(pc) + (one - tt) * log1p_(-pc))


cdef inline floating e_kld(floating p, floating t, floating a1, floating a2, floating* de) noexcept nogil:
    # Keras: both clipped to [eps, 1]; t log(t / p).
    cdef floating one = 1, lo = <floating>EPS
    cdef floating pc = p, tc = t
    if p < lo:
        pc = lo
    elif p > one:
        pc = one
    if t < lo:
        tc = lo
    elif t > one:
        tc = one
    de[0] = -tc / pc if lo <= p <= one else 0
    return tc * flog(tc / pc)


cdef inline floating e_hinge(floating p, floating t, floating a1, floating a2, floating* de) noexcept nogil:
    cdef floating one = 1
    cdef floating m = one - t * p
    if m > 0:
        de[0] = -t
        return m
    de[0] = 0
    return 0


cdef inline floating e_squared_hinge(floating p, floating t, floating a1, floating a2,
                                     floating* de) noexcept nogil:
    cdef floating one = 1, two = 2
    cdef floating m = one - t * p
    if m > 0:
        de[0] = -two * t * m
        return m * m
    de[0] = 0
    return 0


cdef inline double row_elementwise(int kind, const floating* p, const floating* t, floating* g,
                                   Py_ssize_t k, floating c, floating a1, floating a2) noexcept nogil:
    """Sum of one row's element losses (float64 over blocks); g[j] = c * e'(.) unless g is NULL."""
    cdef double s = 0
    cdef Py_ssize_t j0 = 0
    while j0 < k:
        s += block_elementwise(kind, p + j0, t + j0, g + j0 if g != NULL else NULL,
                               min(<Py_ssize_t>ROW_BLOCK, k - j0), c, a1, a2)
        j0 += ROW_BLOCK
    return s


cdef inline floating block_elementwise(int kind, const floating* p, const floating* t, floating* g,
                                       Py_ssize_t k, floating c, floating a1, floating a2) noexcept nogil:
    """Sum of up to ROW_BLOCK element losses in the working precision.

    The kind switch sits outside the loops, so each loop is one inlined formula.
    The sum is kept in `floating` here: gcc vectorizes the element formulas of
    an in-order float sum but not of a float -> double one (measured 4.4 vs
    0.6 ns per Huber element); row_elementwise adds the blocks in float64.
    """
    cdef floating s = 0
    cdef floating de = 0
    cdef Py_ssize_t j
    if kind == K_MSE:
        for j in range(k):
            s += e_mse(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_MAE:
        for j in range(k):
            s += e_mae(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_HUBER:
        for j in range(k):
            s += e_huber(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_LOGCOSH:
        for j in range(k):
            s += e_logcosh(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_MSLE:
        for j in range(k):
            s += e_msle(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_POISSON:
        for j in range(k):
            s += e_poisson(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_ASYMMETRIC:
        for j in range(k):
            s += e_asymmetric(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_BCE_LOGITS:
        for j in range(k):
            s += e_bce_logits(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_BCE_PROBS:
        for j in range(k):
            s += e_bce_probs(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_KLD:
        for j in range(k):
            s += e_kld(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_HINGE:
        for j in range(k):
            s += e_hinge(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    elif kind == K_SQUARED_HINGE:
        for j in range(k):
            s += e_squared_hinge(p[j], t[j], a1, a2, &de)
            if g != NULL:
                g[j] = c * de
    return s


cdef double rows_elementwise(const floating* out, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                             Py_ssize_t* correct) noexcept nogil:
    cdef const floating* tgt = <const floating*>job.tgt
    cdef floating* grad = <floating*>job.grad
    cdef const floating* sw = <const floating*>job.sw
    cdef floating* per = <floating*>job.per
    cdef Py_ssize_t i, j, k = job.k, cnt = 0
    cdef floating a1 = <floating>job.a1, a2 = <floating>job.a2, thr = <floating>job.thr
    cdef double total = 0, w, l
    cdef const floating* p
    cdef const floating* t
    for i in range(i0, i1):
        p = out + i * k
        t = tgt + i * k
        w = sw[i] if sw != NULL else 1.0
        l = job.inv_k * row_elementwise(job.kind, p, t, grad + i * k if grad != NULL else NULL, k,
                                        <floating>(job.scale * w * job.inv_k), a1, a2)
        if per != NULL:
            per[i] = <floating>l
        total += w * l
        if job.count_binary:
            for j in range(k):
                cnt += (p[j] > thr) == (t[j] > <floating>0.5)
    correct[0] = cnt
    return total


# -- softmax cross-entropy from logits --------------------------------------------------

cdef inline Py_ssize_t row_argmax(const floating* z, Py_ssize_t k) noexcept nogil:
    """Index of the first maximum, like numpy.argmax."""
    cdef Py_ssize_t j, best = 0
    for j in range(1, k):
        if z[j] > z[best]:
            best = j
    return best


cdef enum:
    EXP_BLOCK = 256  # float32 exps per call of the vectorized loop without a gradient buffer


cdef double rows_xent_sparse(const floating* z, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                             Py_ssize_t* correct) noexcept nogil:
    # With smoothed targets t' = (1 - ls) onehot(y) + ls / k (sum 1):
    #   l = lse - sum_j t'_j z_j = log(s) + (1 - ls)(mx - z_y) + ls * mean_j(mx - z_j),
    # s = sum_j exp(z_j - mx): the row maximum is subtracted so that exp never
    # overflows and log(s) >= 0 (one term is exp(0) = 1), and every term is >= 0,
    # so nothing cancels. Gradient: softmax(z) - t'.
    cdef const cnp.int64_t* labels = <const cnp.int64_t*>job.tgt
    cdef floating* grad = <floating*>job.grad
    cdef const floating* sw = <const floating*>job.sw
    cdef floating* per = <floating*>job.per
    cdef Py_ssize_t i, j, am, k = job.k, cnt = 0
    cdef double total = 0, w, l, ls = job.a1, dz
    cdef floating mx, s, e, c, ls_k = <floating>(job.a1 / k), on = <floating>(1 - job.a1)
    cdef const floating* zi
    cdef floating* gi
    cdef cnp.int64_t yi
    # float32: the shifted logits of all rows first, then one vectorized exp over the
    # block (libm's scalar expf cost ~4 ns per element: 5.7 us of a 128 x 10 batch).
    cdef bint vec_exp = floating is float and grad != NULL
    cdef float block[EXP_BLOCK]
    cdef Py_ssize_t j0, j1
    if vec_exp:
        for i in range(i0, i1):
            zi = z + i * k
            gi = grad + i * k
            mx = zi[row_argmax(zi, k)]
            for j in range(k):
                gi[j] = zi[j] - mx
        fnn_exp_fwd_f32(<float*>(grad + i0 * k), (i1 - i0) * k)
    for i in range(i0, i1):
        zi = z + i * k
        yi = labels[i]
        am = row_argmax(zi, k)
        mx = zi[am]
        cnt += am == yi
        w = sw[i] if sw != NULL else 1.0
        s = 0
        dz = 0
        if grad != NULL:
            gi = grad + i * k
            if vec_exp:
                for j in range(k):
                    s += gi[j]
            else:
                for j in range(k):
                    e = fexp(zi[j] - mx)
                    gi[j] = e
                    s += e
            c = <floating>(job.scale * w)
            e = c / s
            if ls_k != 0:
                for j in range(k):
                    gi[j] = gi[j] * e - c * ls_k
            else:
                for j in range(k):
                    gi[j] *= e
            gi[yi] -= c * on
        elif floating is float:  # the same exps as the gradient path, so the same loss
            j0 = 0
            while j0 < k:
                j1 = min(k, j0 + EXP_BLOCK)
                for j in range(j0, j1):
                    block[j - j0] = zi[j] - mx
                fnn_exp_fwd_f32(block, j1 - j0)
                for j in range(j1 - j0):
                    s += block[j]
                j0 = j1
        else:
            for j in range(k):
                s += fexp(zi[j] - mx)
        if ls != 0:
            for j in range(k):
                dz += <double>mx - <double>zi[j]
            l = log(<double>s) + (1 - ls) * (<double>mx - <double>zi[yi]) + ls * dz / k
        else:
            l = log(<double>s) + (<double>mx - <double>zi[yi])
        if per != NULL:
            per[i] = <floating>l
        total += w * l
    correct[0] = cnt
    return total


cdef double rows_xent_dense(const floating* z, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                            Py_ssize_t* correct) noexcept nogil:
    # t'_j = (1 - ls) t_j + ls / k (Keras's smoothing, applied to any target row);
    #   l = sum_j t'_j (lse - z_j) = T log(s) + sum_j t'_j (mx - z_j),  T = sum_j t'_j,
    # a sum of non-negative terms for t >= 0 (no cancellation, even for logits of
    # 1e4); gradient T softmax(z) - t'.
    cdef const floating* tgt = <const floating*>job.tgt
    cdef floating* grad = <floating*>job.grad
    cdef const floating* sw = <const floating*>job.sw
    cdef floating* per = <floating*>job.per
    cdef Py_ssize_t i, j, am, k = job.k, cnt = 0
    cdef double total = 0, w, l, tz, ts
    cdef floating mx, s, e, c, tj, ls_k = <floating>(job.a1 / k), on = <floating>(1 - job.a1)
    cdef const floating* zi
    cdef const floating* ti
    cdef floating* gi
    for i in range(i0, i1):
        zi = z + i * k
        ti = tgt + i * k
        am = row_argmax(zi, k)
        mx = zi[am]
        cnt += am == row_argmax(ti, k)
        w = sw[i] if sw != NULL else 1.0
        s = 0
        tz = 0
        ts = 0
        for j in range(k):
            tj = on * ti[j] + ls_k
            s += fexp(zi[j] - mx)
            tz += <double>tj * (<double>mx - <double>zi[j])
            ts += tj
        l = ts * log(<double>s) + tz
        if grad != NULL:
            gi = grad + i * k
            c = <floating>(job.scale * w)
            e = c * <floating>ts / s
            for j in range(k):
                gi[j] = fexp(zi[j] - mx) * e - c * (on * ti[j] + ls_k)
        if per != NULL:
            per[i] = <floating>l
        total += w * l
    correct[0] = cnt
    return total


# -- cross-entropy of probability outputs (Keras's from_logits=False) --------------------

cdef double rows_probs(const floating* o, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                       Py_ssize_t* correct) noexcept nogil:
    # Keras: q = o / sum(o) per row, clipped to [eps, 1 - eps]; l = -sum_j t'_j log q_j.
    # With G_j = dl/dq_j (-t'_j / q_j inside the clip interval, 0 outside) and
    # dq_j/do_m = (delta_jm - q_j) / S, the exact gradient is
    #   dl/do_m = (G_m - sum_j G_j q_j) / S.
    # Sparse labels: t' = onehot(y) (Keras has no smoothing for sparse labels).
    cdef bint sparse = job.family == F_PROBS_SPARSE
    cdef const cnp.int64_t* labels = <const cnp.int64_t*>job.tgt
    cdef const floating* tgt = <const floating*>job.tgt
    cdef floating* grad = <floating*>job.grad
    cdef const floating* sw = <const floating*>job.sw
    cdef floating* per = <floating*>job.per
    cdef Py_ssize_t i, j, am, k = job.k, cnt = 0
    cdef cnp.int64_t yi = 0
    cdef double total = 0, w, l
    cdef floating one = 1, lo = <floating>EPS
    cdef floating hi = one - lo
    cdef floating ssum, inv_s, q, qc, tj, gq, gy, c
    cdef floating ls_k = <floating>(job.a1 / k), on = <floating>(1 - job.a1)
    cdef const floating* oi
    cdef const floating* ti = NULL
    cdef floating* gi
    for i in range(i0, i1):
        oi = o + i * k
        am = row_argmax(oi, k)
        if sparse:
            yi = labels[i]
            cnt += am == yi
        else:
            ti = tgt + i * k
            cnt += am == row_argmax(ti, k)
        w = sw[i] if sw != NULL else 1.0
        c = <floating>(job.scale * w)
        ssum = 0
        for j in range(k):
            ssum += oi[j]
        inv_s = one / ssum
        gi = grad + i * k if grad != NULL else NULL
        if sparse:
            q = oi[yi] * inv_s
            qc = lo if q < lo else (hi if q > hi else q)
            l = -log(<double>qc)
            if gi != NULL:
                gy = -one / qc if lo <= q <= hi else 0
                gq = gy * q
                for j in range(k):
                    gi[j] = -c * gq * inv_s
                gi[yi] += c * gy * inv_s
        else:
            l = 0
            gq = 0
            for j in range(k):
                q = oi[j] * inv_s
                qc = lo if q < lo else (hi if q > hi else q)
                tj = on * ti[j] + ls_k
                l -= <double>tj * log(<double>qc)
                if gi != NULL:
                    gi[j] = -tj / qc if lo <= q <= hi else 0
                    gq += gi[j] * q
            if gi != NULL:
                for j in range(k):
                    gi[j] = c * (gi[j] - gq) * inv_s
        if per != NULL:
            per[i] = <floating>l
        total += w * l
    correct[0] = cnt
    return total


# -- the chunked driver ----------------------------------------------------------------

cdef inline double run_rows(const floating* out, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                            Py_ssize_t* correct) noexcept nogil:
    if job.family == F_ELEMENTWISE:
        return rows_elementwise(out, job, i0, i1, correct)
    if job.family == F_XENT_SPARSE:
        return rows_xent_sparse(out, job, i0, i1, correct)
    if job.family == F_XENT_DENSE:
        return rows_xent_dense(out, job, i0, i1, correct)
    return rows_probs(out, job, i0, i1, correct)


cdef double run_job(const floating* out, const Job* job, Py_ssize_t n, int n_threads,
                    Py_ssize_t* correct) noexcept nogil:
    """Total over the first n rows; chunk layout from (n, k) only (see module docstring)."""
    cdef double partial[MAX_CHUNKS]
    cdef Py_ssize_t counts[MAX_CHUNKS]
    cdef Py_ssize_t k = job.k if job.k > 0 else 1
    cdef Py_ssize_t rows = CHUNK_ELEMS // k, n_chunks, c
    cdef double total = 0
    if rows < 1:
        rows = 1
    if (n + rows - 1) // rows > MAX_CHUNKS:
        rows = (n + MAX_CHUNKS - 1) // MAX_CHUNKS
    n_chunks = (n + rows - 1) // rows
    if n_threads > 1 and n_chunks > 1 and n * k >= ELEM_PARALLEL_MIN:
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            partial[c] = run_rows(out, job, c * rows, min(n, (c + 1) * rows), &counts[c])
    else:
        for c in range(n_chunks):
            partial[c] = run_rows(out, job, c * rows, min(n, (c + 1) * rows), &counts[c])
    correct[0] = 0
    for c in range(n_chunks):
        total += partial[c]
        correct[0] += counts[c]
    return total


cdef object run(int t, cnp.ndarray out, Job* job, Py_ssize_t n, int n_threads):
    """Release the GIL and run the job in out's dtype; returns (total, correct)."""
    cdef Py_ssize_t correct = 0
    cdef double total
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            total = run_job(<const float*>cnp.PyArray_DATA(out), job, n, n_threads, &correct)
    else:
        with nogil:
            total = run_job(<const double*>cnp.PyArray_DATA(out), job, n, n_threads, &correct)
    return total, correct


cdef int common_buffers(Job* job, int t, Py_ssize_t n, Py_ssize_t k, object grad,
                        object sample_weight, object per_sample, double scale) except -1:
    """Check and bind the optional buffers every kernel takes."""
    job.grad = data_or_null(grad, "grad", t, 2, n, k, True)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.per = data_or_null(per_sample, "per_sample", t, 1, n, -1, True)
    job.k = k
    job.scale = scale
    job.inv_k = 1.0
    job.a1 = 0
    job.a2 = 0
    job.kind = 0
    job.count_binary = False
    job.thr = 0
    return 0


cdef int check_smoothing(double label_smoothing) except -1:
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing: expected a float in [0, 1], got {label_smoothing}")
    return 0


cdef const void* sparse_labels(cnp.ndarray labels, Py_ssize_t n, Py_ssize_t k) except? NULL:
    """Data of int64 labels after checking that the first n lie in [0, k)."""
    check_array(labels, "labels", cnp.NPY_INT64, 1, n, -1, False)
    cdef const cnp.int64_t* lab = <const cnp.int64_t*>cnp.PyArray_DATA(labels)
    cdef Py_ssize_t bad
    with nogil:
        bad = first_bad_label(lab, n, k)
    if bad >= 0:
        raise ValueError(f"labels: expected integers in [0, {k}), got {lab[bad]} at index {bad}")
    return <const void*>lab


# -- def kernels ---------------------------------------------------------------------------

def softmax_xent_sparse(cnp.ndarray logits, cnp.ndarray labels, object grad, Py_ssize_t n,
                        double scale, object sample_weight=None, object per_sample=None,
                        double label_smoothing=0.0, int n_threads=1):
    """Softmax cross-entropy from logits with integer labels.

    logits (>= n, k); labels (>= n,) int64 in [0, k) (out-of-range labels are
    refused); grad (>= n, k) or None; sample_weight, per_sample (>= n,) in the
    logits' dtype or None; label_smoothing in [0, 1] (targets (1 - ls) onehot + ls / k).
    Returns (sum_i w_i l_i, number of rows whose argmax is the label).
    """
    cdef int t = float_type(logits, "logits")
    check_array(logits, "logits", t, 2, n, -1, False)
    cdef Py_ssize_t k = logits.shape[1]
    if k == 0:
        raise ValueError("logits: expected at least one class column")
    cdef Job job
    job.tgt = sparse_labels(labels, n, k)
    check_smoothing(label_smoothing)
    common_buffers(&job, t, n, k, grad, sample_weight, per_sample, scale)
    if job.grad != NULL and arrays_overlap(<cnp.ndarray>grad, logits):
        # float32 rows take their exps in a first pass over the gradient buffer
        raise ValueError("grad: expected a buffer separate from logits, got one that overlaps it")
    job.family = F_XENT_SPARSE
    job.a1 = label_smoothing
    return run(t, logits, &job, n, n_threads)


def softmax_xent_dense(cnp.ndarray logits, cnp.ndarray targets, object grad, Py_ssize_t n,
                       double scale, object sample_weight=None, object per_sample=None,
                       double label_smoothing=0.0, int n_threads=1):
    """Softmax cross-entropy from logits with target rows (one-hot or soft, >= 0).

    targets (>= n, k) in the logits' dtype, smoothed as (1 - ls) t + ls / k.
    Returns (sum_i w_i l_i, rows whose argmax equals the target's argmax).
    """
    cdef int t = float_type(logits, "logits")
    check_array(logits, "logits", t, 2, n, -1, False)
    cdef Py_ssize_t k = logits.shape[1]
    if k == 0:
        raise ValueError("logits: expected at least one class column")
    check_array(targets, "targets", t, 2, n, k, False)
    check_smoothing(label_smoothing)
    cdef Job job
    job.tgt = cnp.PyArray_DATA(targets)
    common_buffers(&job, t, n, k, grad, sample_weight, per_sample, scale)
    job.family = F_XENT_DENSE
    job.a1 = label_smoothing
    return run(t, logits, &job, n, n_threads)


def probs_xent_sparse(cnp.ndarray probs, cnp.ndarray labels, object grad, Py_ssize_t n,
                      double scale, object sample_weight=None, object per_sample=None,
                      int n_threads=1):
    """Cross-entropy of probability outputs with integer labels (Keras from_logits=False).

    Rows are normalized by their sum and clipped to [1e-7, 1 - 1e-7]; the
    gradient is the exact one w.r.t. the unnormalized outputs. Returns
    (sum_i w_i l_i, rows whose argmax is the label).
    """
    cdef int t = float_type(probs, "probs")
    check_array(probs, "probs", t, 2, n, -1, False)
    cdef Py_ssize_t k = probs.shape[1]
    if k == 0:
        raise ValueError("probs: expected at least one class column")
    cdef Job job
    job.tgt = sparse_labels(labels, n, k)
    common_buffers(&job, t, n, k, grad, sample_weight, per_sample, scale)
    job.family = F_PROBS_SPARSE
    return run(t, probs, &job, n, n_threads)


def probs_xent_dense(cnp.ndarray probs, cnp.ndarray targets, object grad, Py_ssize_t n,
                     double scale, object sample_weight=None, object per_sample=None,
                     double label_smoothing=0.0, int n_threads=1):
    """Cross-entropy of probability outputs with target rows (Keras from_logits=False).

    As probs_xent_sparse, with targets (>= n, k) smoothed as (1 - ls) t + ls / k.
    """
    cdef int t = float_type(probs, "probs")
    check_array(probs, "probs", t, 2, n, -1, False)
    cdef Py_ssize_t k = probs.shape[1]
    if k == 0:
        raise ValueError("probs: expected at least one class column")
    check_array(targets, "targets", t, 2, n, k, False)
    check_smoothing(label_smoothing)
    cdef Job job
    job.tgt = cnp.PyArray_DATA(targets)
    common_buffers(&job, t, n, k, grad, sample_weight, per_sample, scale)
    job.family = F_PROBS_DENSE
    job.a1 = label_smoothing
    return run(t, probs, &job, n, n_threads)


def elementwise_loss(int kind, cnp.ndarray pred, cnp.ndarray targets, object grad, Py_ssize_t n,
                     double scale, object sample_weight=None, object per_sample=None,
                     double param1=0.0, double param2=0.0, int n_threads=1):
    """Losses that are a mean (KL divergence: a sum) over the row of an element loss.

    kind: a value of LOSS_KINDS. pred, targets (>= n, k) of one float dtype.
    param1: Huber's delta, the asymmetric over_cost, BCE's label_smoothing;
    param2: the asymmetric under_cost. Per-sample loss l_i = mean_j e(pred_ij,
    target_ij) (sum_j for kl_divergence); grad_ij = scale * w_i * dl_i/dpred_ij.
    Returns (sum_i w_i l_i, correct elements): for binary kinds (BCE, hinge) the
    number of elements with (pred > thr) == (target > 0.5), thr = 0.5 for BCE on
    probabilities and 0 for logits and hinge; 0 for the other kinds.
    """
    if kind < 0 or kind >= N_KINDS:
        raise ValueError(f"kind: expected a code in [0, {N_KINDS}), got {kind}")
    cdef int t = float_type(pred, "pred")
    check_array(pred, "pred", t, 2, n, -1, False)
    cdef Py_ssize_t k = pred.shape[1]
    if k == 0:
        raise ValueError("pred: expected at least one output column")
    check_array(targets, "targets", t, 2, n, k, False)
    if kind == K_HUBER and not param1 > 0:
        raise ValueError(f"param1: expected Huber's delta > 0, got {param1}")
    if kind in (K_BCE_LOGITS, K_BCE_PROBS):
        check_smoothing(param1)
    cdef Job job
    job.tgt = cnp.PyArray_DATA(targets)
    common_buffers(&job, t, n, k, grad, sample_weight, per_sample, scale)
    job.family = F_ELEMENTWISE
    job.kind = kind
    job.inv_k = 1.0 if kind == K_KLD else 1.0 / k
    job.a1 = param1
    job.a2 = param2
    job.count_binary = kind in (K_BCE_LOGITS, K_BCE_PROBS, K_HINGE, K_SQUARED_HINGE)
    job.thr = 0.5 if kind == K_BCE_PROBS else 0.0
    return run(t, pred, &job, n, n_threads)


def mse(cnp.ndarray pred, cnp.ndarray targets, object grad, Py_ssize_t n, double scale,
        int n_threads=1):
    """Squared error: returns sum((pred - targets)**2) over the first n rows and
    writes grad = 2 * scale * (pred - targets) when grad is not None."""
    cdef int t = float_type(pred, "pred")
    check_array(pred, "pred", t, 2, n, -1, False)
    cdef Py_ssize_t k = pred.shape[1]
    check_array(targets, "targets", t, 2, n, k, False)
    cdef Job job
    job.tgt = cnp.PyArray_DATA(targets)
    common_buffers(&job, t, n, k, grad, None, None, scale)
    job.family = F_ELEMENTWISE
    job.kind = K_MSE
    return run(t, pred, &job, n, n_threads)[0]


cdef void _sigmoid_rows(floating* z, Py_ssize_t m, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if n_threads > 1 and m >= ELEM_PARALLEL_MIN:
        for i in prange(m, nogil=True, schedule="static", num_threads=n_threads):
            z[i] = _sigmoid(z[i])
    else:
        for i in range(m):
            z[i] = _sigmoid(z[i])


def sigmoid_rows(cnp.ndarray z, Py_ssize_t n, int n_threads=1):
    """In-place sigmoid of the first n rows of z (logits -> probabilities)."""
    cdef int t = float_type(z, "z")
    check_array(z, "z", t, 2, n, -1, True)
    cdef Py_ssize_t m = n * z.shape[1]
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _sigmoid_rows(<float*>cnp.PyArray_DATA(z), m, n_threads)
    else:
        with nogil:
            _sigmoid_rows(<double*>cnp.PyArray_DATA(z), m, n_threads)
