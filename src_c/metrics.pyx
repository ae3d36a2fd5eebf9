# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Metric kernels: one pass over a batch adds its counts and sums to accumulators.

Every kernel reads the first `n` rows of the predictions `y_pred` (>= n, k)
(float32 or float64) and of the targets, and ADDS to float64 accumulators the
caller owns (a metric's state); nothing is allocated. Targets are either
C-contiguous rows of y_pred's dtype and shape, or int64 class labels (>= n,)
in [0, k) (refused when out of range, so no kernel ever indexes out of
bounds). Sample weights w (>= n,) are in y_pred's dtype, or None (w_i = 1).

Positive, in every kernel: a target is positive when t > 0.5 (for {0, 1} and
{-1, 1} targets this is t == 1), a label row is positive in its label's column;
a prediction is positive when p > threshold (strictly, as in Keras).

Threads: accuracy_update and mean_error_update keep two sums; their rows are
cut into at most MAX_CHUNKS chunks whose boundaries depend on (n, k) only,
each chunk sums its rows in order into a stack slot and the slots are added in
chunk order, so 1 and 2 threads give the same bits (the serial path runs the
very same chunks). The other kernels keep per-column accumulators (confusion
sums per threshold and class, R2 moments, the AUC buffer copy): they run
serially on the calling thread, in row order. Measured (float32, one thread,
1024 x 10 and 4096 x 1000): 1-4 ns per element for the confusion sums (a top_k
filter adds its rank walk, ~5-10 ns), ~2 ns for the R2 moments and the AUC
copy; the output layer that produced the predictions costs 2 * width flops
per element (~512 for a 256-wide hidden layer), so serial passes stay a few
percent of a step without extra scratch buffers for per-thread partial sums.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange

from _arrays cimport check_array, data_or_null, first_bad_label, float_type

cnp.import_array()

cdef enum:
    # Below ~32k elements waking the OpenMP team costs what a second thread
    # saves (the threshold of src_c/losses.pyx and src_c/dense.pyx).
    ELEM_PARALLEL_MIN = 1 << 15
    CHUNK_ELEMS = 1 << 13
    MAX_CHUNKS = 64

# accuracy_update kinds (fastnn/metrics reads ACCURACY_KINDS).
cdef enum:
    A_BINARY = 0        # mean over the row of (p > thr) == (t > 0.5)
    A_CATEGORICAL = 1   # argmax(p) == label (or argmax(t))
    A_TOP_K = 2         # label among the top_k scores (ties at the boundary count)

ACCURACY_KINDS = {"binary": A_BINARY, "categorical": A_CATEGORICAL, "top_k": A_TOP_K}

# mean_error_update kinds.
cdef enum:
    E_ABSOLUTE = 0
    E_SQUARED = 1

ERROR_KINDS = {"absolute": E_ABSOLUTE, "squared": E_SQUARED}

# Rows of one threshold's block of confusion_update's accumulator (T, 3, k):
# weighted true positives, predicted positives and actual positives per class.
# Every confusion metric is a ratio of these (precision TP/PP, recall TP/AP,
# F-beta (1 + b^2) TP / (b^2 AP + PP)); FP = PP - TP and FN = AP - TP.
cdef enum:
    C_TP = 0
    C_PP = 1
    C_AP = 2

CONFUSION_ROWS = {"tp": C_TP, "predicted": C_PP, "actual": C_AP}

# Rows of r2_update's accumulator (weight total, weighted mean of y_true,
# M2 = sum w (t - mean)^2, SSE) and of its workspace.
cdef enum:
    R2_ACC = 4
    R2_WORK = 2

R2_ACC_ROWS = R2_ACC
R2_WORK_ROWS = R2_WORK


cdef struct Job:
    int kind
    const void* tgt         # rows in the predictions' dtype, or int64 labels
    bint labels
    const void* sw
    Py_ssize_t k
    double thr
    Py_ssize_t top_k


cdef inline Py_ssize_t row_argmax(const floating* z, Py_ssize_t k) noexcept nogil:
    """Index of the first maximum, like numpy.argmax (and Keras)."""
    cdef Py_ssize_t j, best = 0
    for j in range(1, k):
        if z[j] > z[best]:
            best = j
    return best


cdef inline Py_ssize_t row_label(const Job* job, const floating* t_rows, Py_ssize_t i) noexcept nogil:
    if job.labels:
        return <Py_ssize_t>(<const cnp.int64_t*>job.tgt)[i]
    return row_argmax(t_rows + i * job.k, job.k)


# -- accuracy and mean errors: two sums, chunked ---------------------------------------------

cdef void accuracy_rows(const floating* p, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                        double* out) noexcept nogil:
    """out[0] = sum_i w_i * hit_i, out[1] = sum_i w_i over rows [i0, i1)."""
    cdef const floating* t = <const floating*>job.tgt
    cdef const floating* sw = <const floating*>job.sw
    cdef Py_ssize_t i, j, k = job.k, hits, y, above
    # The threshold stays a double: a float32 score equal to float32(0.3) is not
    # above a threshold of 0.3 (comparisons of floats with doubles are exact).
    cdef double thr = job.thr
    cdef floating half = 0.5, v
    cdef const floating* pi
    cdef const floating* ti
    cdef double s = 0, sw_sum = 0, w, hit
    for i in range(i0, i1):
        pi = p + i * k
        w = sw[i] if sw != NULL else 1.0
        if job.kind == A_BINARY:
            ti = t + i * k
            hits = 0
            for j in range(k):
                hits += (pi[j] > thr) == (ti[j] > half)
            hit = <double>hits / k
        elif job.kind == A_CATEGORICAL:
            hit = row_argmax(pi, k) == row_label(job, t, i)
        else:
            # Keras's in_top_k: the label is a hit when fewer than top_k scores
            # are strictly greater than its own (ties at the boundary count).
            y = row_label(job, t, i)
            v = pi[y]
            above = 0
            for j in range(k):
                above += pi[j] > v
            hit = above < job.top_k and v == v  # a NaN score is never a hit
        s += w * hit
        sw_sum += w
    out[0] = s
    out[1] = sw_sum


cdef void error_rows(const floating* p, const Job* job, Py_ssize_t i0, Py_ssize_t i1,
                     double* out) noexcept nogil:
    """out[0] = sum_i w_i * mean_j e(p_ij - t_ij), out[1] = sum_i w_i over rows [i0, i1)."""
    cdef const floating* t = <const floating*>job.tgt
    cdef const floating* sw = <const floating*>job.sw
    cdef Py_ssize_t i, j, k = job.k
    cdef double s = 0, sw_sum = 0, w, r, d
    for i in range(i0, i1):
        w = sw[i] if sw != NULL else 1.0
        r = 0
        if job.kind == E_ABSOLUTE:
            for j in range(k):
                d = <double>p[i * k + j] - <double>t[i * k + j]
                r += d if d >= 0 else -d
        else:
            for j in range(k):
                d = <double>p[i * k + j] - <double>t[i * k + j]
                r += d * d
        s += w * (r / k)
        sw_sum += w
    out[0] = s
    out[1] = sw_sum


cdef inline void run_rows(bint errors, const floating* p, const Job* job, Py_ssize_t i0,
                          Py_ssize_t i1, double* out) noexcept nogil:
    if errors:
        error_rows(p, job, i0, i1, out)
    else:
        accuracy_rows(p, job, i0, i1, out)


cdef void run_sums(bint errors, const floating* p, const Job* job, Py_ssize_t n, int n_threads,
                   double* acc) noexcept nogil:
    """acc[0:2] += the two sums over the first n rows; chunks from (n, k) only."""
    cdef double part[2 * MAX_CHUNKS]
    cdef Py_ssize_t k = job.k if job.k > 0 else 1
    cdef Py_ssize_t rows = CHUNK_ELEMS // k, n_chunks, c
    cdef double s0 = 0, s1 = 0
    if rows < 1:
        rows = 1
    if (n + rows - 1) // rows > MAX_CHUNKS:
        rows = (n + MAX_CHUNKS - 1) // MAX_CHUNKS
    n_chunks = (n + rows - 1) // rows
    if n_threads > 1 and n_chunks > 1 and n * k >= ELEM_PARALLEL_MIN:
        for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
            run_rows(errors, p, job, c * rows, min(n, (c + 1) * rows), &part[2 * c])
    else:
        for c in range(n_chunks):
            run_rows(errors, p, job, c * rows, min(n, (c + 1) * rows), &part[2 * c])
    for c in range(n_chunks):
        s0 += part[2 * c]
        s1 += part[2 * c + 1]
    acc[0] += s0
    acc[1] += s1


# -- argument checks shared by the def kernels --------------------------------------------------

cdef int bind_targets(Job* job, cnp.ndarray y_true, int t, Py_ssize_t n, Py_ssize_t k,
                      bint labels_ok) except -1:
    """Rows of y_pred's dtype and width, or (when labels_ok) int64 labels checked in [0, k)."""
    cdef Py_ssize_t bad
    cdef const cnp.int64_t* lab
    if cnp.PyArray_TYPE(y_true) == cnp.NPY_INT64:
        if not labels_ok:
            raise ValueError("y_true: expected rows in y_pred's dtype, got int64 labels")
        check_array(y_true, "y_true", cnp.NPY_INT64, 1, n, -1, False)
        lab = <const cnp.int64_t*>cnp.PyArray_DATA(y_true)
        with nogil:
            bad = first_bad_label(lab, n, k)
        if bad >= 0:
            raise ValueError(f"y_true: expected class labels in [0, {k}), got {lab[bad]} at index {bad}")
        job.labels = True
    else:
        check_array(y_true, "y_true", t, 2, n, k, False)
        job.labels = False
    job.tgt = cnp.PyArray_DATA(y_true)
    return 0


cdef Py_ssize_t pred_columns(cnp.ndarray y_pred, int t, Py_ssize_t n) except -1:
    check_array(y_pred, "y_pred", t, 2, n, -1, False)
    cdef Py_ssize_t k = y_pred.shape[1]
    if k == 0:
        raise ValueError("y_pred: expected at least one column")
    return k


cdef int check_acc(cnp.ndarray acc, str name, Py_ssize_t size) except -1:
    """A writable C-contiguous float64 accumulator of exactly `size` elements."""
    if cnp.PyArray_TYPE(acc) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(acc) \
            or not cnp.PyArray_ISWRITEABLE(acc):
        raise ValueError(f"{name}: expected a writable C-contiguous float64 array, got {acc.dtype}")
    if cnp.PyArray_SIZE(acc) != size:
        raise ValueError(f"{name}: expected {size} elements, got {cnp.PyArray_SIZE(acc)}")
    return 0


# -- def kernels: sums ---------------------------------------------------------------------------

def accuracy_update(int kind, cnp.ndarray y_true, cnp.ndarray y_pred, object sample_weight,
                    cnp.ndarray acc, Py_ssize_t n, double threshold=0.5, Py_ssize_t top_k=1,
                    int n_threads=1):
    """acc[0] += sum_i w_i hit_i, acc[1] += sum_i w_i over the first n rows.

    kind (ACCURACY_KINDS):
    * binary: hit_i = mean_j [(p_ij > threshold) == (t_ij > 0.5)], y_true rows;
    * categorical: hit_i = [argmax_j p_ij == y_i] (first maximum), y_i the
      label or argmax_j t_ij;
    * top_k: hit_i = [#{j : p_ij > p_{i, y_i}} < top_k] (Keras's in_top_k).
    acc: float64 (2,).
    """
    cdef int t = float_type(y_pred, "y_pred")
    cdef Py_ssize_t k = pred_columns(y_pred, t, n)
    if kind < A_BINARY or kind > A_TOP_K:
        raise ValueError(f"kind: expected one of {sorted(ACCURACY_KINDS.values())}, got {kind}")
    if kind == A_TOP_K and top_k < 1:
        raise ValueError(f"top_k: expected an integer >= 1, got {top_k}")
    check_acc(acc, "acc", 2)
    cdef Job job
    bind_targets(&job, y_true, t, n, k, kind != A_BINARY)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.kind = kind
    job.k = k
    job.thr = threshold
    job.top_k = top_k
    cdef double* a = <double*>cnp.PyArray_DATA(acc)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            run_sums(False, <const float*>cnp.PyArray_DATA(y_pred), &job, n, n_threads, a)
    else:
        with nogil:
            run_sums(False, <const double*>cnp.PyArray_DATA(y_pred), &job, n, n_threads, a)


def mean_error_update(int kind, cnp.ndarray y_true, cnp.ndarray y_pred, object sample_weight,
                      cnp.ndarray acc, Py_ssize_t n, int n_threads=1):
    """acc[0] += sum_i w_i mean_j e(p_ij - t_ij), acc[1] += sum_i w_i (float64 sums).

    kind (ERROR_KINDS): absolute |d| or squared d^2; y_true rows like y_pred.
    """
    cdef int t = float_type(y_pred, "y_pred")
    cdef Py_ssize_t k = pred_columns(y_pred, t, n)
    if kind != E_ABSOLUTE and kind != E_SQUARED:
        raise ValueError(f"kind: expected one of {sorted(ERROR_KINDS.values())}, got {kind}")
    check_acc(acc, "acc", 2)
    cdef Job job
    bind_targets(&job, y_true, t, n, k, False)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.kind = kind
    job.k = k
    cdef double* a = <double*>cnp.PyArray_DATA(acc)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            run_sums(True, <const float*>cnp.PyArray_DATA(y_pred), &job, n, n_threads, a)
    else:
        with nogil:
            run_sums(True, <const double*>cnp.PyArray_DATA(y_pred), &job, n, n_threads, a)


cdef double weight_total(const floating* w, Py_ssize_t n) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t i
    for i in range(n):
        s += w[i]
    return s


def weight_sum(cnp.ndarray sample_weight, Py_ssize_t n):
    """sum of sample_weight[:n] in float64, in index order."""
    cdef int t = float_type(sample_weight, "sample_weight")
    check_array(sample_weight, "sample_weight", t, 1, n, -1, False)
    cdef double s
    if t == cnp.NPY_FLOAT32:
        with nogil:
            s = weight_total(<const float*>cnp.PyArray_DATA(sample_weight), n)
    else:
        with nogil:
            s = weight_total(<const double*>cnp.PyArray_DATA(sample_weight), n)
    return s


# -- confusion counts -----------------------------------------------------------------------------

cdef inline void top_k_cut(const floating* p, Py_ssize_t k, Py_ssize_t top_k, floating* v_cut,
                           Py_ssize_t* j_cut) noexcept nogil:
    """The top_k-th element of a row in the order (value descending, index ascending).

    top_k passes of O(k), no memory: each pass takes the largest element that
    ranks after the previous one. Element j is among the top_k when it ranks
    at or before (v_cut, j_cut): p_j > v_cut, or p_j == v_cut and j <= j_cut
    (ties broken by the lower index, as top_k in Keras/TensorFlow).
    """
    cdef Py_ssize_t r, j, best
    cdef floating pv = 0
    cdef Py_ssize_t pj = -1
    for r in range(top_k):
        best = -1
        for j in range(k):
            if pj >= 0 and not (p[j] < pv or (p[j] == pv and j > pj)):
                continue  # ranks at or before the previous pick
            if best < 0 or p[j] > p[best]:
                best = j
        if best < 0:
            break  # fewer than top_k comparable elements
        pv = p[best]
        pj = best
    v_cut[0] = pv
    j_cut[0] = pj


cdef enum:
    M_THRESHOLD = 0     # predicted: p > thr
    M_TOP_K = 1         # predicted: p > thr and p among the row's top_k
    M_ARGMAX = 2        # predicted: the row's first argmax


cdef inline bint predicted(const floating* pi, Py_ssize_t j, double thr, bint top, floating v_cut,
                           Py_ssize_t j_cut) noexcept nogil:
    # Outside the top_k a score is -inf for every threshold (Keras's top_k filter).
    if top:
        return (pi[j] > thr) & ((pi[j] > v_cut) | ((pi[j] == v_cut) & (j <= j_cut)))
    return pi[j] > thr


cdef inline void confusion_row(const floating* pi, const floating* ti, Py_ssize_t y, Py_ssize_t k,
                               double w, double thr, int mode, Py_ssize_t am, floating v_cut,
                               Py_ssize_t j_cut, double* tp, double* pp, double* ap) noexcept nogil:
    """Add one row to the (TP, PP, AP) arrays of one threshold.

    Predicted and positive enter as 0/1 factors, not branches (both are random
    in the data, so branches mispredict), in one loop per case so that each
    loop is straight-line code over contiguous arrays. A label row touches its
    label's column only; an argmax row its argmax's.
    """
    cdef Py_ssize_t j
    cdef floating half = 0.5
    cdef double pos, pred
    if mode == M_ARGMAX:
        pp[am] += w
        if ti == NULL:
            ap[y] += w
            tp[am] += w * (am == y)
        else:
            for j in range(k):
                ap[j] += w * (ti[j] > half)
            tp[am] += w * (ti[am] > half)
        return
    if ti == NULL:
        if mode == M_TOP_K:
            for j in range(k):
                pp[j] += w * predicted(pi, j, thr, True, v_cut, j_cut)
        else:
            for j in range(k):
                pp[j] += w * (pi[j] > thr)
        ap[y] += w
        tp[y] += w * predicted(pi, y, thr, mode == M_TOP_K, v_cut, j_cut)
        return
    if mode == M_TOP_K:
        for j in range(k):
            pos = ti[j] > half
            pred = predicted(pi, j, thr, True, v_cut, j_cut)
            tp[j] += w * (pos * pred)
            pp[j] += w * pred
            ap[j] += w * pos
    else:
        for j in range(k):
            pos = ti[j] > half
            pred = pi[j] > thr
            tp[j] += w * (pos * pred)
            pp[j] += w * pred
            ap[j] += w * pos


cdef void confusion_rows(const floating* p, const Job* job, Py_ssize_t n, const double* thr,
                         Py_ssize_t n_thr, bint argmax_mode, double* acc) noexcept nogil:
    cdef const floating* t = <const floating*>job.tgt
    cdef const floating* sw = <const floating*>job.sw
    cdef Py_ssize_t i, c, k = job.k, y = -1, am = -1, j_cut = -1
    cdef floating v_cut = 0
    cdef const floating* pi
    cdef const floating* ti = NULL
    cdef double w
    cdef double* blk
    # top_k >= k keeps every score: no filter (and no O(k^2) rank walk).
    cdef int mode = M_ARGMAX if argmax_mode else (M_TOP_K if 0 < job.top_k < k else M_THRESHOLD)
    for i in range(n):
        pi = p + i * k
        w = sw[i] if sw != NULL else 1.0
        if job.labels:
            y = (<const cnp.int64_t*>job.tgt)[i]
        else:
            ti = t + i * k
        if mode == M_ARGMAX:
            am = row_argmax(pi, k)
        elif mode == M_TOP_K:
            top_k_cut(pi, k, job.top_k, &v_cut, &j_cut)
        for c in range(n_thr):
            blk = acc + c * 3 * k
            confusion_row(pi, ti, y, k, w, thr[c], mode, am, v_cut, j_cut, blk + C_TP * k,
                          blk + C_PP * k, blk + C_AP * k)


def confusion_update(cnp.ndarray y_true, cnp.ndarray y_pred, object sample_weight,
                     cnp.ndarray thresholds, cnp.ndarray acc, Py_ssize_t n, Py_ssize_t top_k=0,
                     bint argmax=False):
    """Weighted confusion sums per threshold and class: acc (T, 3, k) += (TP, PP, AP).

    TP: true positives, PP: predicted positives, AP: actual positives.
    Prediction p_ij is positive when p_ij > thresholds[c] and, with top_k > 0,
    p_ij is among the row's top_k (ties by lower index); with argmax=True (one
    threshold slot, its value unused) the row's first argmax is the one
    positive. Targets: rows (positive where t > 0.5) or int64 labels (positive
    in the label's column). thresholds: float64 (T,). Serial, in row order.
    """
    cdef int t = float_type(y_pred, "y_pred")
    cdef Py_ssize_t k = pred_columns(y_pred, t, n)
    check_array(thresholds, "thresholds", cnp.NPY_FLOAT64, 1, 1, -1, False)
    cdef Py_ssize_t n_thr = thresholds.shape[0]
    if argmax and n_thr != 1:
        raise ValueError(f"thresholds: expected one slot with argmax=True, got {n_thr}")
    if top_k < 0:
        raise ValueError(f"top_k: expected an integer >= 0 (0: off), got {top_k}")
    check_acc(acc, "acc", n_thr * 3 * k)
    cdef Job job
    bind_targets(&job, y_true, t, n, k, True)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.k = k
    job.top_k = top_k
    cdef double* a = <double*>cnp.PyArray_DATA(acc)
    cdef const double* th = <const double*>cnp.PyArray_DATA(thresholds)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            confusion_rows(<const float*>cnp.PyArray_DATA(y_pred), &job, n, th, n_thr, argmax, a)
    else:
        with nogil:
            confusion_rows(<const double*>cnp.PyArray_DATA(y_pred), &job, n, th, n_thr, argmax, a)


# -- R2: per-column weighted moments, merged batch by batch ------------------------------------

cdef void r2_rows(const floating* p, const Job* job, Py_ssize_t n, double* acc,
                  double* work) noexcept nogil:
    # Two passes over the batch (its weighted column means, then the centred
    # second moments), merged into the running (W, mean, M2) by Chan, Golub and
    # LeVeque's pairwise update ("Algorithms for computing the sample variance",
    # 1983): no catastrophic cancellation of sum t^2 - (sum t)^2 / W for targets
    # with a large mean.
    cdef const floating* t = <const floating*>job.tgt
    cdef const floating* sw = <const floating*>job.sw
    cdef Py_ssize_t i, j, k = job.k
    cdef double* W = acc
    cdef double* mean = acc + k
    cdef double* M2 = acc + 2 * k
    cdef double* sse = acc + 3 * k
    cdef double* bmean = work
    cdef double* bm2 = work + k
    cdef double w, wb = 0, d, e, tot, delta
    for j in range(k):
        bmean[j] = 0
        bm2[j] = 0
    for i in range(n):
        w = sw[i] if sw != NULL else 1.0
        wb += w
        for j in range(k):
            bmean[j] += w * t[i * k + j]
    if wb <= 0:
        return  # zero total weight: nothing to add (every term below has a factor w)
    for j in range(k):
        bmean[j] /= wb
    for i in range(n):
        w = sw[i] if sw != NULL else 1.0
        for j in range(k):
            d = <double>t[i * k + j] - bmean[j]
            e = <double>t[i * k + j] - <double>p[i * k + j]
            bm2[j] += w * d * d
            sse[j] += w * e * e
    for j in range(k):
        tot = W[j] + wb
        delta = bmean[j] - mean[j]
        mean[j] += delta * (wb / tot)
        M2[j] += bm2[j] + delta * delta * (W[j] * wb / tot)
        W[j] = tot


def r2_update(cnp.ndarray y_true, cnp.ndarray y_pred, object sample_weight, cnp.ndarray acc,
              cnp.ndarray work, Py_ssize_t n):
    """Merge a batch into R2 statistics per column.

    acc (R2_ACC_ROWS, k) float64: total weight W, weighted mean of y_true,
    M2 = sum w (t - mean)^2, SSE = sum w (t - p)^2. work (R2_WORK_ROWS, k)
    float64 is scratch. y_true rows like y_pred. Serial.
    """
    cdef int t = float_type(y_pred, "y_pred")
    cdef Py_ssize_t k = pred_columns(y_pred, t, n)
    check_acc(acc, "acc", R2_ACC * k)
    check_acc(work, "work", R2_WORK * k)
    cdef Job job
    bind_targets(&job, y_true, t, n, k, False)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.k = k
    cdef double* a = <double*>cnp.PyArray_DATA(acc)
    cdef double* wk = <double*>cnp.PyArray_DATA(work)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            r2_rows(<const float*>cnp.PyArray_DATA(y_pred), &job, n, a, wk)
    else:
        with nogil:
            r2_rows(<const double*>cnp.PyArray_DATA(y_pred), &job, n, a, wk)


# -- AUC: copy scores, 0/1 labels and weights into the epoch's buffers ------------------------

cdef void ranking_rows(const floating* p, const Job* job, Py_ssize_t n, double* scores,
                       cnp.int8_t* labels, double* weights) noexcept nogil:
    cdef const floating* t = <const floating*>job.tgt
    cdef const floating* sw = <const floating*>job.sw
    cdef Py_ssize_t i, j, k = job.k, y
    cdef floating half = 0.5
    for i in range(n):
        weights[i] = sw[i] if sw != NULL else 1.0
        for j in range(k):
            scores[i * k + j] = p[i * k + j]
        if job.labels:
            y = (<const cnp.int64_t*>job.tgt)[i]
            for j in range(k):
                labels[i * k + j] = j == y
        else:
            for j in range(k):
                labels[i * k + j] = t[i * k + j] > half


def ranking_append(cnp.ndarray y_true, cnp.ndarray y_pred, object sample_weight,
                   cnp.ndarray scores, cnp.ndarray labels, cnp.ndarray weights,
                   Py_ssize_t offset, Py_ssize_t n):
    """Copy the first n rows into rows [offset, offset + n) of the buffers.

    scores (cap, k) float64 <- y_pred; labels (cap, k) int8 <- 1 where positive
    (t > 0.5, or the label's column), 0 elsewhere; weights (cap,) float64 <- w.
    """
    cdef int t = float_type(y_pred, "y_pred")
    cdef Py_ssize_t k = pred_columns(y_pred, t, n)
    if offset < 0:
        raise ValueError(f"offset: expected an integer >= 0, got {offset}")
    check_array(scores, "scores", cnp.NPY_FLOAT64, 2, offset + n, k, True)
    check_array(labels, "labels", cnp.NPY_INT8, 2, offset + n, k, True)
    check_array(weights, "weights", cnp.NPY_FLOAT64, 1, offset + n, -1, True)
    cdef Job job
    bind_targets(&job, y_true, t, n, k, True)
    job.sw = data_or_null(sample_weight, "sample_weight", t, 1, n, -1, False)
    job.k = k
    cdef double* s = <double*>cnp.PyArray_DATA(scores) + offset * k
    cdef cnp.int8_t* lab = <cnp.int8_t*>cnp.PyArray_DATA(labels) + offset * k
    cdef double* wt = <double*>cnp.PyArray_DATA(weights) + offset
    if t == cnp.NPY_FLOAT32:
        with nogil:
            ranking_rows(<const float*>cnp.PyArray_DATA(y_pred), &job, n, s, lab, wt)
    else:
        with nogil:
            ranking_rows(<const double*>cnp.PyArray_DATA(y_pred), &job, n, s, lab, wt)
