# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Optimizer update kernels: one pass over the flat parameter arena.

The update rules follow torch.optim (single-tensor path) operation by
operation, so that trajectories agree to round-off in float64. Scalars that do
not depend on the element (bias corrections, step sizes) are computed once in
double precision, as torch does in Python.

`optimizer_update` runs any rule of RULES with the optimizer's extras fused
into the same loop (gradient scale from clipnorm / global_clipnorm, clipvalue,
decoupled weight decay, the moving average of the weights and its overwrite);
`sum_squares` is the one reduction pass that norm clipping needs before it.
An arena may be split into segments (one per model variable), each with its
own gradient scale, for Keras's per-variable clipnorm on a flat arena.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, sqrt

from _arrays cimport check_array, float_type

cnp.import_array()


cdef extern from "_optim_simd.h" nogil:
    ctypedef struct fastnn_extras:
        double clipvalue
        double decay
        double ema_decay
        int ema_overwrite
    enum:
        FASTNN_SGD
        FASTNN_SGD_MOMENTUM
        FASTNN_SGD_NESTEROV
        FASTNN_ADAGRAD
        FASTNN_RMSPROP
        FASTNN_RMSPROP_CENTERED
        FASTNN_RMSPROP_MOMENTUM
        FASTNN_RMSPROP_CENTERED_MOMENTUM
        FASTNN_ADADELTA
        FASTNN_ADAM
        FASTNN_ADAM_AMSGRAD
        FASTNN_ADAMAX
        FASTNN_NADAM
        FASTNN_RADAM
        FASTNN_RADAM_UNRECTIFIED
        FASTNN_LION
        FASTNN_FTRL
        FASTNN_FTRL_SQRT
        FASTNN_N_RULES
    void fastnn_rule_f32(int rule, float* p, const float* g, float* s0, float* s1, float* s2,
                         float* e, Py_ssize_t n, const double* h, const fastnn_extras* x,
                         double gscale)
    void fastnn_rule_f64(int rule, double* p, const double* g, double* s0, double* s1, double* s2,
                         double* e, Py_ssize_t n, const double* h, const fastnn_extras* x,
                         double gscale)
    double fastnn_sumsq_f32(const float* x, Py_ssize_t n)
    double fastnn_sumsq_f64(const double* x, Py_ssize_t n)
    void fastnn_swap_f32(float* a, float* b, Py_ssize_t n)
    void fastnn_swap_f64(double* a, double* b, Py_ssize_t n)

# Elements per thread chunk: big enough that a chunk streams well, small enough
# to balance two threads on the arenas of the workload shapes (an arena smaller
# than one chunk is updated by the calling thread alone).
cdef enum:
    CHUNK = 1 << 14
    MAX_HYPER = 8

CHUNK_SIZE = CHUNK

# name -> rule id (the ids of _optim_simd.h)
RULES = {
    "sgd": FASTNN_SGD, "sgd_momentum": FASTNN_SGD_MOMENTUM, "sgd_nesterov": FASTNN_SGD_NESTEROV,
    "adagrad": FASTNN_ADAGRAD, "rmsprop": FASTNN_RMSPROP,
    "rmsprop_centered": FASTNN_RMSPROP_CENTERED, "rmsprop_momentum": FASTNN_RMSPROP_MOMENTUM,
    "rmsprop_centered_momentum": FASTNN_RMSPROP_CENTERED_MOMENTUM, "adadelta": FASTNN_ADADELTA,
    "adam": FASTNN_ADAM, "adam_amsgrad": FASTNN_ADAM_AMSGRAD, "adamax": FASTNN_ADAMAX,
    "nadam": FASTNN_NADAM, "radam": FASTNN_RADAM, "radam_unrectified": FASTNN_RADAM_UNRECTIFIED,
    "lion": FASTNN_LION, "ftrl": FASTNN_FTRL, "ftrl_sqrt": FASTNN_FTRL_SQRT,
}

# Per rule id: which of the slots s0, s1, s2 it reads and writes, and how many
# step scalars (h[]) it takes. The kernel reads exactly these, so a rule is
# refused unless exactly these slots are given.
cdef int RULE_SLOTS[FASTNN_N_RULES]
cdef int RULE_HYPER[FASTNN_N_RULES]
_slots_table = {
    FASTNN_SGD: (0b000, 1), FASTNN_SGD_MOMENTUM: (0b001, 2), FASTNN_SGD_NESTEROV: (0b001, 2),
    FASTNN_ADAGRAD: (0b001, 2), FASTNN_RMSPROP: (0b001, 5), FASTNN_RMSPROP_CENTERED: (0b011, 5),
    FASTNN_RMSPROP_MOMENTUM: (0b101, 5), FASTNN_RMSPROP_CENTERED_MOMENTUM: (0b111, 5),
    FASTNN_ADADELTA: (0b011, 4), FASTNN_ADAM: (0b011, 6), FASTNN_ADAM_AMSGRAD: (0b111, 6),
    FASTNN_ADAMAX: (0b011, 4), FASTNN_NADAM: (0b011, 7), FASTNN_RADAM: (0b011, 5),
    FASTNN_RADAM_UNRECTIFIED: (0b011, 5), FASTNN_LION: (0b001, 5), FASTNN_FTRL: (0b011, 5),
    FASTNN_FTRL_SQRT: (0b011, 5),
}
for _r, (_mask, _nh) in _slots_table.items():
    RULE_SLOTS[_r] = _mask
    RULE_HYPER[_r] = _nh
RULE_SLOT_MASKS = {r: m for r, (m, _) in _slots_table.items()}
RULE_N_HYPER = {r: k for r, (_, k) in _slots_table.items()}
del _r, _mask, _nh


cdef inline Py_ssize_t _find_segment(const cnp.int64_t* seg, Py_ssize_t n_seg,
                                     Py_ssize_t pos) noexcept nogil:
    """The segment s with seg[s] <= pos < seg[s + 1] (seg: n_seg + 1 nondecreasing offsets)."""
    cdef Py_ssize_t lo = 0, hi = n_seg, mid
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if seg[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo


cdef inline floating* _at(floating* a, Py_ssize_t lo) noexcept nogil:
    return a + lo if a != NULL else NULL


cdef inline void _rule_range(int rule, floating* p, const floating* g, floating* s0, floating* s1,
                             floating* s2, floating* e, Py_ssize_t lo, Py_ssize_t hi,
                             const double* h, const fastnn_extras* x,
                             double gscale) noexcept nogil:
    if hi <= lo:
        return
    if floating is float:
        fastnn_rule_f32(rule, p + lo, g + lo, _at(s0, lo), _at(s1, lo), _at(s2, lo), _at(e, lo),
                        hi - lo, h, x, gscale)
    else:
        fastnn_rule_f64(rule, p + lo, g + lo, _at(s0, lo), _at(s1, lo), _at(s2, lo), _at(e, lo),
                        hi - lo, h, x, gscale)


cdef inline void _update_chunk(int rule, floating* p, const floating* g, floating* s0,
                               floating* s1, floating* s2, floating* e, Py_ssize_t lo,
                               Py_ssize_t hi, const double* h, const fastnn_extras* x,
                               double gscale, const cnp.int64_t* seg, const double* seg_scale,
                               Py_ssize_t n_seg) noexcept nogil:
    """Elements [lo, hi); across segment boundaries piece by piece, each piece with its
    segment's scale."""
    cdef Py_ssize_t end, s
    if seg == NULL:
        _rule_range(rule, p, g, s0, s1, s2, e, lo, hi, h, x, gscale)
        return
    s = _find_segment(seg, n_seg, lo)
    while lo < hi:
        end = min(hi, <Py_ssize_t>seg[s + 1])
        _rule_range(rule, p, g, s0, s1, s2, e, lo, end, h, x, seg_scale[s])
        lo = end
        s += 1


cdef void _update(int rule, floating* p, const floating* g, floating* s0, floating* s1,
                  floating* s2, floating* e, Py_ssize_t n, const double* h,
                  const fastnn_extras* x, double gscale, const cnp.int64_t* seg,
                  const double* seg_scale, Py_ssize_t n_seg, int n_threads) noexcept nogil:
    """Chunks of CHUNK elements over the threads. Chunks are handed out dynamically: a
    thread delayed by another process does not hold the others back, and each element's
    result does not depend on which thread updates it."""
    cdef Py_ssize_t c, n_chunks = (n + CHUNK - 1) // CHUNK
    if n_threads == 1:  # no OpenMP region (~0.3 us per call on small arenas)
        for c in range(n_chunks):
            _update_chunk(rule, p, g, s0, s1, s2, e, c * CHUNK, min(n, (c + 1) * CHUNK), h, x,
                          gscale, seg, seg_scale, n_seg)
        return
    for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
        _update_chunk(rule, p, g, s0, s1, s2, e, c * CHUNK, min(n, (c + 1) * CHUNK), h, x,
                      gscale, seg, seg_scale, n_seg)


cdef inline void _sumsq_chunk(const floating* g, Py_ssize_t c, Py_ssize_t hi,
                              const cnp.int64_t* seg, Py_ssize_t n_seg, double* work) noexcept nogil:
    """Partial sums of chunk c (elements [c * CHUNK, hi)), one per segment piece."""
    cdef Py_ssize_t end, lo = c * CHUNK
    cdef Py_ssize_t s = _find_segment(seg, n_seg, lo)
    while lo < hi:
        end = min(hi, <Py_ssize_t>seg[s + 1])
        if end > lo:
            if floating is float:
                work[c + s] = fastnn_sumsq_f32(g + lo, end - lo)
            else:
                work[c + s] = fastnn_sumsq_f64(g + lo, end - lo)
        lo = end
        s += 1


cdef void _sumsq(const floating* g, Py_ssize_t n, const cnp.int64_t* seg, Py_ssize_t n_seg,
                 double* work, double* out, int n_threads) noexcept nogil:
    """out[s] = sum of g^2 over segment s. Each (chunk c, segment s) piece writes its
    partial sum to work[c + s] (unique: pieces are ordered both ways), then the
    partials are added in chunk order, so the result is the same for any thread count."""
    cdef Py_ssize_t c, s, c0, c1, n_chunks = (n + CHUNK - 1) // CHUNK
    cdef double total
    if n_threads == 1:
        for c in range(n_chunks):
            _sumsq_chunk(g, c, min(n, (c + 1) * CHUNK), seg, n_seg, work)
    else:
        for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
            _sumsq_chunk(g, c, min(n, (c + 1) * CHUNK), seg, n_seg, work)
    for s in range(n_seg):
        total = 0.0
        if seg[s + 1] > seg[s]:
            c0 = seg[s] // CHUNK
            c1 = (seg[s + 1] - 1) // CHUNK
            for c in range(c0, c1 + 1):
                total += work[c + s]
        out[s] = total


cdef int _same_layout(cnp.ndarray a, cnp.ndarray ref, str name, int t) except -1:
    check_array(a, name, t, 1, ref.shape[0], -1, True)
    if a.shape[0] != ref.shape[0]:
        raise ValueError(f"{name}: expected {ref.shape[0]} elements, got {a.shape[0]}")
    return 0


cdef void* _optional(object a, cnp.ndarray ref, str name, int t) except? NULL:
    if a is None:
        return NULL
    if not isinstance(a, cnp.ndarray):
        raise ValueError(f"{name}: expected an ndarray or None, got {type(a).__name__}")
    _same_layout(a, ref, name, t)
    return cnp.PyArray_DATA(a)


cdef Py_ssize_t _check_segments(object segments, Py_ssize_t n) except -1:
    """Number of segments of an int64 offsets array [0, ..., n] (nondecreasing)."""
    if not isinstance(segments, cnp.ndarray):
        raise ValueError(f"segments: expected an int64 ndarray or None, got {type(segments).__name__}")
    check_array(segments, "segments", cnp.NPY_INT64, 1, 2, -1, False)
    cdef const cnp.int64_t* seg = <const cnp.int64_t*>cnp.PyArray_DATA(segments)
    cdef Py_ssize_t k = segments.shape[0] - 1, s
    if seg[0] != 0 or seg[k] != n:
        raise ValueError(f"segments: expected offsets from 0 to {n} (the arena length), "
                         f"got {seg[0]} to {seg[k]}")
    for s in range(k):
        if seg[s + 1] < seg[s]:
            raise ValueError(f"segments: expected nondecreasing offsets, got {seg[s]} then "
                             f"{seg[s + 1]} at index {s}")
    return k


cdef int _threads(int n_threads, Py_ssize_t n):
    return max(1, min(n_threads, (n + CHUNK - 1) // CHUNK))


def optimizer_update(int rule, cnp.ndarray params, cnp.ndarray grads, object s0, object s1,
                     object s2, object ema, tuple hyper, double gscale=1.0, object segments=None,
                     object seg_scales=None, double clipvalue=INFINITY, double decay=1.0,
                     double ema_decay=0.0, bint ema_overwrite=False, int n_threads=1,
                     tuple slot_names=("s0", "s1", "s2")):
    """One fused optimizer step over a flat arena, in place.

    rule: an id of RULES; s0..s2: the rule's slot arrays (None where it has none);
    ema: the moving average of params or None; hyper: the rule's step scalars;
    gscale: gradient scale (norm clipping); segments/seg_scales: int64 offsets
    [0, ..., n] and one float64 scale per segment, replacing gscale; clipvalue:
    bound of |g| (inf: none); decay: params are multiplied by it first
    (1 - lr * weight_decay); ema_decay, ema_overwrite: ema = ema_decay * ema +
    (1 - ema_decay) * params after the update, then params = ema if ema_overwrite.
    slot_names: how errors name s0..s2.
    """
    if rule < 0 or rule >= FASTNN_N_RULES:
        raise ValueError(f"rule: expected an id in [0, {FASTNN_N_RULES}), got {rule}")
    cdef int t = float_type(params, "params")
    check_array(params, "params", t, 1, 0, -1, True)
    _same_layout(grads, params, "grads", t)
    cdef void* slot[3]
    cdef int k, mask = RULE_SLOTS[rule]
    for k, a in enumerate((s0, s1, s2)):
        slot[k] = _optional(a, params, slot_names[k], t)
        if (slot[k] != NULL) != bool(mask & (1 << k)):
            raise ValueError(f"{slot_names[k]}: rule {rule} {'needs' if mask & (1 << k) else 'takes no'} "
                             f"array in slot s{k}, got {'None' if a is None else 'an array'}")
    cdef void* ep = _optional(ema, params, "ema", t)
    if len(hyper) != RULE_HYPER[rule]:
        raise ValueError(f"hyper: rule {rule} takes {RULE_HYPER[rule]} scalars, got {len(hyper)}")
    cdef double h[MAX_HYPER]
    for k in range(len(hyper)):
        h[k] = hyper[k]
    cdef Py_ssize_t n = params.shape[0], n_seg = 0
    cdef const cnp.int64_t* seg = NULL
    cdef const double* seg_scale = NULL
    if segments is not None:
        n_seg = _check_segments(segments, n)
        if not isinstance(seg_scales, cnp.ndarray):
            raise ValueError("seg_scales: expected a float64 ndarray with one scale per segment, got "
                             f"{type(seg_scales).__name__}")
        check_array(seg_scales, "seg_scales", cnp.NPY_FLOAT64, 1, n_seg, -1, False)
        seg = <const cnp.int64_t*>cnp.PyArray_DATA(segments)
        seg_scale = <const double*>cnp.PyArray_DATA(seg_scales)
    elif seg_scales is not None:
        raise ValueError("seg_scales: given without segments")
    cdef fastnn_extras x
    x.clipvalue = clipvalue
    x.decay = decay
    x.ema_decay = ema_decay
    x.ema_overwrite = ema_overwrite
    n_threads = _threads(n_threads, n)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _update(rule, <float*>cnp.PyArray_DATA(params), <float*>cnp.PyArray_DATA(grads),
                    <float*>slot[0], <float*>slot[1], <float*>slot[2], <float*>ep, n, h, &x,
                    gscale, seg, seg_scale, n_seg, n_threads)
    else:
        with nogil:
            _update(rule, <double*>cnp.PyArray_DATA(params), <double*>cnp.PyArray_DATA(grads),
                    <double*>slot[0], <double*>slot[1], <double*>slot[2], <double*>ep, n, h, &x,
                    gscale, seg, seg_scale, n_seg, n_threads)


def sum_squares_work_size(Py_ssize_t n, Py_ssize_t n_segments=1):
    """Length of the float64 work buffer sum_squares needs for n elements."""
    return (n + CHUNK - 1) // CHUNK + max(n_segments, 1)


def sum_squares(cnp.ndarray grads, object segments, cnp.ndarray out, cnp.ndarray work,
                int n_threads=1):
    """out[s] = sum of grads**2 over segment s (float64; segments None: out[0] over all).

    work: float64 scratch of at least sum_squares_work_size(n, n_segments) elements.
    """
    cdef int t = float_type(grads, "grads")
    check_array(grads, "grads", t, 1, 0, -1, False)
    cdef Py_ssize_t n = grads.shape[0], n_seg = 1
    cdef cnp.int64_t whole[2]
    cdef const cnp.int64_t* seg = whole
    whole[0] = 0
    whole[1] = n
    if segments is not None:
        n_seg = _check_segments(segments, n)
        seg = <const cnp.int64_t*>cnp.PyArray_DATA(segments)
    check_array(out, "out", cnp.NPY_FLOAT64, 1, n_seg, -1, True)
    check_array(work, "work", cnp.NPY_FLOAT64, 1, sum_squares_work_size(n, n_seg), -1, True)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef double* w = <double*>cnp.PyArray_DATA(work)
    n_threads = _threads(n_threads, n)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _sumsq(<const float*>cnp.PyArray_DATA(grads), n, seg, n_seg, w, o, n_threads)
    else:
        with nogil:
            _sumsq(<const double*>cnp.PyArray_DATA(grads), n, seg, n_seg, w, o, n_threads)


cdef void _swap(floating* a, floating* b, Py_ssize_t n, int n_threads) noexcept nogil:
    cdef Py_ssize_t c, lo, n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
        lo = c * CHUNK
        if floating is float:
            fastnn_swap_f32(a + lo, b + lo, min(CHUNK, n - lo))
        else:
            fastnn_swap_f64(a + lo, b + lo, min(CHUNK, n - lo))


def swap(cnp.ndarray a, cnp.ndarray b, int n_threads=1):
    """Exchange the contents of two flat arrays of the same length and dtype, in place."""
    cdef int t = float_type(a, "a")
    check_array(a, "a", t, 1, 0, -1, True)
    _same_layout(b, a, "b", t)
    cdef Py_ssize_t n = a.shape[0]
    n_threads = _threads(n_threads, n)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _swap(<float*>cnp.PyArray_DATA(a), <float*>cnp.PyArray_DATA(b), n, n_threads)
    else:
        with nogil:
            _swap(<double*>cnp.PyArray_DATA(a), <double*>cnp.PyArray_DATA(b), n, n_threads)


# -- the original two entry points (kept: fastnn.ops and tests call them) ------------------

def sgd_update(cnp.ndarray params, cnp.ndarray grads, object velocity, double learning_rate,
               double momentum, bint nesterov, int n_threads=1):
    """In-place SGD step over a flat arena; velocity is None when momentum == 0."""
    cdef int rule = FASTNN_SGD if velocity is None else (
        FASTNN_SGD_NESTEROV if nesterov else FASTNN_SGD_MOMENTUM)
    cdef tuple hyper = (learning_rate,)
    if velocity is not None:
        hyper = (learning_rate, momentum)
    optimizer_update(rule, params, grads, velocity, None, None, None, hyper, n_threads=n_threads,
                     slot_names=("velocity", "s1", "s2"))


def adam_update(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray m, cnp.ndarray v,
                double learning_rate, double beta_1, double beta_2, double epsilon,
                long step, int n_threads=1):
    """In-place Adam step number `step` (1-based) over a flat arena (torch's rule)."""
    if step < 1:
        raise ValueError(f"step: expected >= 1, got {step}")
    cdef double bc1 = 1 - beta_1 ** step
    cdef double bc2 = 1 - beta_2 ** step
    optimizer_update(FASTNN_ADAM, params, grads, m, v, None, None,
                     (1 - beta_1, beta_2, 1 - beta_2, learning_rate / bc1, 1 / sqrt(bc2), epsilon),
                     n_threads=n_threads, slot_names=("m", "v", "vmax"))
