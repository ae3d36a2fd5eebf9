# Header-only activation functions, applied to one row of a layer's output.
#
# Every activation has a code (the enum below; the same numbers are in
# fastnn/activations.py) and reads one scalar parameter `alpha` (leaky_relu's
# negative_slope, elu's alpha; ignored by the others). Forward works in place on
# a row that holds the pre-activation z. Backward multiplies the incoming
# gradient d by act'(z), written in terms of the output y = act(z) where that is
# exact and cheap (the layer keeps y anyway), and in terms of z for the four
# activations whose derivative is not a function of y (gelu in both forms, silu
# and mish are not monotonic, so y does not determine z): a layer running one of
# those keeps z in a buffer of its own (act_needs_z).
#
# Adding an activation: give it a code below (before ACT_COUNT) and in
# fastnn/activations.py, a case in act_forward_row and one in act_backward_row,
# and list it in act_needs_z / act_rowwise when that applies.
#
# Numerics (float32 rows stay in single precision through the f* helpers):
# - exp is only ever taken of a non-positive argument where the result is
#   divided or multiplied further (sigmoid, silu, mish, gelu's tanh form,
#   softmax, log_softmax), so nothing overflows for any finite z; `exponential`
#   overflows to inf above log(FLT_MAX) = 88.7 (float32) by definition.
# - softplus(z) = max(z, 0) + log1p(exp(-|z|)) (log1pexp in _math.pxd).
# - gelu's tanh form uses 0.5 * (1 + tanh(u)) = sigmoid(2u), and the exact form
#   0.5 * (1 + erf(z / sqrt 2)) = 0.5 * erfc(-z / sqrt 2): the same functions
#   without the cancellation of 1 + tanh(u) and 1 + erf(.) for z << 0.
# - elu/selu use expm1, which keeps full relative precision for z near 0.
# - Derivatives written from y lose no more than the forward's own rounding of
#   y: their absolute error is a few ulps of max|act'| (e.g. tanh' = 1 - y^2 for
#   |z| > 9 in float32 is 0 where the exact value is < 6e-8).
cimport numpy as cnp
from cython cimport floating
from libc.math cimport erfc, erfcf
from libc.string cimport memcpy
from cython.parallel cimport prange
from _math cimport fexp, fexpm1, ftanh, flog, flog1p, fabs_, log1pexp

cdef enum:
    ACT_LINEAR = 0
    ACT_RELU = 1
    ACT_SIGMOID = 2
    ACT_TANH = 3
    ACT_SOFTMAX = 4
    ACT_RELU6 = 5
    ACT_LEAKY_RELU = 6
    ACT_ELU = 7
    ACT_SELU = 8
    ACT_GELU = 9           # exact: z * Phi(z)
    ACT_GELU_TANH = 10     # approximate=True: the tanh form
    ACT_SILU = 11
    ACT_SOFTPLUS = 12
    ACT_SOFTSIGN = 13
    ACT_HARD_SIGMOID = 14
    ACT_MISH = 15
    ACT_EXPONENTIAL = 16
    ACT_LOG_SOFTMAX = 17
    ACT_COUNT = 18         # number of codes: valid codes are 0 .. ACT_COUNT - 1

    # Element-wise passes smaller than this run on the calling thread: below
    # ~32k elements (~10 us of work) a team's fork/join costs about what it saves.
    ACT_PARALLEL_MIN = 1 << 15


# Constants, emitted as C literals (cast to the fused type where used, so that
# float32 code stays in float32).
cdef extern from *:
    # SELU's constants (Klambauer et al. 2017, as in Keras and torch).
    const double SELU_ALPHA "1.6732632423543772848170429916717"
    const double SELU_SCALE "1.0507009873554804934193349852946"
    const double SELU_SCALE_ALPHA "1.7580993408473768599402175208123"  # SELU_SCALE * SELU_ALPHA
    const double SQRT1_2 "0.70710678118654752440084436210485"         # 1 / sqrt(2)
    const double INV_SQRT_2PI "0.39894228040143267793994605993438"    # 1 / sqrt(2 pi)
    const double SQRT_2_OVER_PI "0.79788456080286535587989211986876"  # sqrt(2 / pi)
    const double GELU_K "0.044715"                                     # the tanh form's cubic term


# float32 rows run through the C loops below: the libm calls (expf, tanhf, ...)
# are scalar, 7-34 ns per element here, and would cost more than the GEMMs of a
# swish layer. These loops use a branch-free float32 exp / expm1 that gcc
# vectorizes, compiled for several x86-64 levels (target_clones, as
# _optim_simd.h): measured 4096 x 160 float32, one thread, AVX-512: silu forward
# 7.5 -> ~0.5 ns/element, tanh 12 -> ~0.6 (see the report in the commit).
# Accuracy (tests/test_activations.py, against float64 over [-110, 110]):
# within 4 ulps of the float32-rounded value, or 1e-7 absolute for values below 1.
# float64 keeps libm (it is the checking precision, not the fast one).
cdef extern from *:
    """
    #include <math.h>
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>

    #include "_clones.h"

    /* 2^k as a float for k in [-126, 127], from its exponent bits. */
    static inline float fnn_pow2f(int32_t k) {
        int32_t bits = (k + 127) << 23;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }

    /* x = k ln2 + r, |r| <= ln2/2 (a little more from rounding), for x clamped to
       [-104, 89]: k by the 1.5 * 2^23 rounding trick (branch-free, no rint call),
       ln2 in two parts (Cody-Waite: k * LN2_HI is exact for |k| < 2^15). */
    static inline float fnn_reduce(float x, float *kf) {
        float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
        float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        *kf = k;
        return (xc - k * 0.693359375f) - k * -2.12194440054690583e-4f;
    }

    /* exp(x) in float32, branch-free (loops calling it vectorize). exp(r) by its
       Taylor polynomial of degree 7 (truncation < 1e-8 relative on |r| <= 0.35),
       times 2^k in two factors so that subnormal results (x down to -103.9) and
       results up to FLT_MAX are right; inf above log(FLT_MAX), NaN stays NaN. */
    static inline float fnn_expf(float x) {
        float kf;
        float r = fnn_reduce(x, &kf);
        float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120
                  + r * (1.0f / 720 + r * (1.0f / 5040)))))));
        int32_t k = (int32_t)kf, k1 = k >> 1;
        float res = (p * fnn_pow2f(k1)) * fnn_pow2f(k - k1);
        res = x > 88.72283935546875f ? INFINITY : res;
        return x != x ? x : res;
    }

    /* expm1(x) in float32, branch-free: q = expm1(r) by its Taylor polynomial
       without the constant term (degree 8: full relative precision near 0, where
       exp(x) - 1 would cancel), then expm1(x) = 2^k q + (2^k - 1), which is q for
       k = 0; for k > 24 the -1 no longer matters and (q + 1) 2^k cannot overflow
       early. Results below -1 + 2^-25 round to -1. */
    static inline float fnn_expm1f(float x) {
        float kf;
        float r = fnn_reduce(x, &kf);
        float q = r + r * r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120
                  + r * (1.0f / 720 + r * (1.0f / 5040 + r * (1.0f / 40320)))))));
        int32_t k = (int32_t)kf;
        k = k < -60 ? -60 : k;
        int32_t k1 = k >> 1;
        float s1 = fnn_pow2f(k1), s2 = fnn_pow2f(k - k1);
        float small = q * (s1 * s2) + (s1 * s2 - 1.0f);
        float big = ((q + 1.0f) * s1) * s2;
        float res = k > 24 ? big : small;
        res = x > 88.72283935546875f ? INFINITY : res;
        return x != x ? x : res;
    }

    /* log1p(e) for e in [0, 1], branch-free: w = 1 + e rounded, whose rounding
       error c = e - (w - 1) is exact (w - 1 is, by Sterbenz), so log1p(e) =
       log(w) + c / w to first order. log(w) = j ln2 + log(m), m = w or w / 2 in
       [0.707, 1.415), and log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172,
       by its series to s^11 (truncation < 1e-9 relative). */
    static inline float fnn_log1p_unit(float e) {
        float w = 1.0f + e;
        float c = e - (w - 1.0f);
        int big = w > 1.41421356f;
        float m = big ? 0.5f * w : w;
        float sr = (m - 1.0f) / (m + 1.0f), s2 = sr * sr;
        float lm = 2.0f * sr * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7
                   + s2 * (1.0f / 9 + s2 * (1.0f / 11))))));
        return (big ? 0.693147180559945309f : 0.0f) + lm + c / w;
    }

    /* sigmoid with exp(-|z|) <= 1: never overflows. */
    static inline float fnn_sigmoidf(float z) {
        float e = fnn_expf(-fabsf(z));
        float s = 1.0f / (1.0f + e);
        return z >= 0.0f ? s : e * s;
    }

    /* tanh(|z|) = -u / (2 + u), u = expm1(-2|z|) in (-1, 0]: no cancellation for
       small |z|, 1 for large |z|. */
    static inline float fnn_tanhf(float z) {
        float u = fnn_expm1f(-2.0f * fabsf(z));
        return copysignf(-u / (2.0f + u), z);
    }

    /* mish pieces from one e = exp(min(z, 20)): tanh(softplus(z)) = n / (n + 2)
       with n = e (e + 2) (as (1 + e)^2 = n + 1), 1 - tanh = 2 / (n + 2); above
       z = 20 tanh(softplus(z)) is 1 in float32 and e is capped so n stays finite. */
    static inline float fnn_mish_e(float z) { return fnn_expf(z < 20.0f ? z : 20.0f); }

    #define FNN_GELU_C 0.797884560802865356f  /* sqrt(2 / pi) */
    #define FNN_GELU_K 0.044715f

    FNN_CLONED void fnn_sigmoid_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = fnn_sigmoidf(z[j]);
    }
    FNN_CLONED void fnn_tanh_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = fnn_tanhf(z[j]);
    }
    FNN_CLONED void fnn_silu_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = z[j] * fnn_sigmoidf(z[j]);
    }
    FNN_CLONED void fnn_silu_bwd_f32(float *d, const float *z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float s = fnn_sigmoidf(z[j]);
            d[j] = d[j] * (s * (1.0f + z[j] * (1.0f - s)));
        }
    }
    FNN_CLONED void fnn_elu_fwd_f32(float *restrict z, ptrdiff_t n, float alpha) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = z[j] > 0.0f ? z[j] : alpha * fnn_expm1f(z[j]);
    }
    FNN_CLONED void fnn_selu_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++)
            z[j] = z[j] > 0.0f ? 1.05070098735548049f * z[j] : 1.75809934084737686f * fnn_expm1f(z[j]);
    }
    FNN_CLONED void fnn_gelu_tanh_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float v = z[j], u = FNN_GELU_C * (v * (1.0f + FNN_GELU_K * v * v));
            z[j] = v * fnn_sigmoidf(2.0f * u);
        }
    }
    FNN_CLONED void fnn_gelu_tanh_bwd_f32(float *d, const float *z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float v = z[j], u = FNN_GELU_C * (v * (1.0f + FNN_GELU_K * v * v));
            float s = fnn_sigmoidf(2.0f * u), t = s * (1.0f - s);
            float g = s + 2.0f * v * t * (FNN_GELU_C * (1.0f + 3.0f * FNN_GELU_K * v * v));
            d[j] = d[j] * (t != 0.0f ? g : s);  /* t = 0: skip 0 * inf once v^2 overflows */
        }
    }
    FNN_CLONED void fnn_mish_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) {
            float e = fnn_mish_e(z[j]), m = e * (e + 2.0f);
            z[j] = z[j] * (m / (m + 2.0f));
        }
    }
    FNN_CLONED void fnn_mish_bwd_f32(float *d, const float *z, ptrdiff_t n) {
        /* t + z sigmoid(z) (1 - t^2),  1 - t^2 = (1 - t)(1 + t) = 2 / (m + 2) * (1 + t),
           sigmoid(z) = e / (1 + e) */
        for (ptrdiff_t j = 0; j < n; j++) {
            float v = z[j], e = fnn_mish_e(v), m = e * (e + 2.0f), t = m / (m + 2.0f);
            float s = e / (1.0f + e);
            d[j] = d[j] * (t + v * s * ((2.0f / (m + 2.0f)) * (1.0f + t)));
        }
    }
    /* softplus(z) = max(z, 0) + log1p(exp(-|z|)) */
    FNN_CLONED void fnn_softplus_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++)
            z[j] = (z[j] > 0.0f ? z[j] : 0.0f) + fnn_log1p_unit(fnn_expf(-fabsf(z[j])));
    }
    /* softplus' = sigmoid(z) = -expm1(-y) */
    FNN_CLONED void fnn_softplus_bwd_f32(float *restrict d, const float *y, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) d[j] = d[j] * -fnn_expm1f(-y[j]);
    }
    FNN_CLONED void fnn_exp_fwd_f32(float *restrict z, ptrdiff_t n) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = fnn_expf(z[j]);
    }
    /* z := exp(z - shift) (softmax numerators). */
    FNN_CLONED void fnn_exp_shift_f32(float *restrict z, ptrdiff_t n, float shift) {
        for (ptrdiff_t j = 0; j < n; j++) z[j] = fnn_expf(z[j] - shift);
    }
    /* sum of exp(z) in 8 fixed lanes (the same additions in the same order on every
       machine and thread count; the lanes let the exps vectorize). */
    FNN_CLONED float fnn_sum_exp_f32(const float *restrict z, ptrdiff_t n) {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        ptrdiff_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) acc[l] += fnn_expf(z[j + l]);
        for (; j < n; j++) acc[j & 7] += fnn_expf(z[j]);
        return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
    /* d := d - exp(y) * s (log_softmax's Jacobian-vector product). */
    FNN_CLONED void fnn_log_softmax_bwd_f32(float *d, const float *y, ptrdiff_t n,
                                              float s) {
        for (ptrdiff_t j = 0; j < n; j++) d[j] = d[j] - fnn_expf(y[j]) * s;
    }
    """
    void fnn_sigmoid_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_tanh_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_silu_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_silu_bwd_f32(float* d, const float* z, Py_ssize_t n) noexcept nogil
    void fnn_elu_fwd_f32(float* z, Py_ssize_t n, float alpha) noexcept nogil
    void fnn_selu_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_gelu_tanh_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_gelu_tanh_bwd_f32(float* d, const float* z, Py_ssize_t n) noexcept nogil
    void fnn_mish_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_mish_bwd_f32(float* d, const float* z, Py_ssize_t n) noexcept nogil
    void fnn_softplus_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_softplus_bwd_f32(float* d, const float* y, Py_ssize_t n) noexcept nogil
    void fnn_exp_fwd_f32(float* z, Py_ssize_t n) noexcept nogil
    void fnn_exp_shift_f32(float* z, Py_ssize_t n, float shift) noexcept nogil
    float fnn_sum_exp_f32(const float* z, Py_ssize_t n) noexcept nogil
    void fnn_log_softmax_bwd_f32(float* d, const float* y, Py_ssize_t n, float s) noexcept nogil


cdef inline bint act_needs_z(int act) noexcept nogil:
    """Whether the backward pass reads the pre-activation z (not only y)."""
    return act == ACT_GELU or act == ACT_GELU_TANH or act == ACT_SILU or act == ACT_MISH


cdef inline bint act_rowwise(int act) noexcept nogil:
    """Whether the activation couples the entries of a row (softmax family)."""
    return act == ACT_SOFTMAX or act == ACT_LOG_SOFTMAX


cdef inline bint arrays_overlap(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether the memory of two C-contiguous arrays overlaps (a kernel that reads
    one while writing the other row by row would otherwise see its own output)."""
    cdef char* a0 = <char*>cnp.PyArray_DATA(a)
    cdef char* b0 = <char*>cnp.PyArray_DATA(b)
    return a0 < b0 + cnp.PyArray_NBYTES(b) and b0 < a0 + cnp.PyArray_NBYTES(a)


cdef inline floating ferfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating sigmoid(floating z) noexcept nogil:
    # Two branches so that exp never overflows: exp(-|z|) <= 1.
    cdef floating one = 1, e
    if z >= 0:
        return one / (one + fexp(-z))
    e = fexp(z)
    return e / (one + e)


cdef inline void softmax_row(floating* z, Py_ssize_t n) noexcept nogil:
    """In-place max-subtracted softmax of one row."""
    cdef Py_ssize_t j
    cdef floating mx, s = 0, one = 1
    if n <= 0:
        return
    mx = z[0]
    for j in range(1, n):
        if z[j] > mx:
            mx = z[j]
    if floating is float:
        fnn_exp_shift_f32(z, n, mx)
        for j in range(n):
            s += z[j]
    else:
        for j in range(n):
            z[j] = fexp(z[j] - mx)
            s += z[j]
    s = one / s
    for j in range(n):
        z[j] *= s


cdef inline void log_softmax_row(floating* z, Py_ssize_t n) noexcept nogil:
    """In-place log-softmax of one row: (z - max) - log(sum exp(z - max)).

    With the maximum subtracted every exp is <= 1 and the sum is >= 1, so
    nothing overflows and the log never sees 0.
    """
    cdef Py_ssize_t j
    cdef floating mx, s = 0
    if n <= 0:
        return
    mx = z[0]
    for j in range(1, n):
        if z[j] > mx:
            mx = z[j]
    for j in range(n):
        z[j] = z[j] - mx
    if floating is float:
        s = fnn_sum_exp_f32(z, n)
    else:
        for j in range(n):
            s += fexp(z[j])
    s = flog(s)
    for j in range(n):
        z[j] -= s


cdef inline floating gelu_tanh_u(floating z) noexcept nogil:
    """u = sqrt(2/pi) (z + 0.044715 z^3) of gelu's tanh form."""
    cdef floating one = 1
    return <floating>SQRT_2_OVER_PI * (z * (one + <floating>GELU_K * z * z))


cdef inline void act_forward_row(int act, floating alpha, floating* z, Py_ssize_t n) noexcept nogil:
    """z := act(z) for one row of n pre-activations (alpha: the activation's parameter)."""
    cdef Py_ssize_t j
    cdef floating v, e
    # Typed constants: a bare literal would make Cython emit a double (1.0) and
    # the float32 arithmetic around it would run in double precision.
    cdef floating zero = 0, one = 1, two = 2, three = 3, six = 6, half = 0.5
    if act == ACT_RELU:
        for j in range(n):
            z[j] = z[j] if z[j] > 0 else zero
    elif act == ACT_SIGMOID:
        if floating is float:
            fnn_sigmoid_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = sigmoid(z[j])
    elif act == ACT_TANH:
        if floating is float:
            fnn_tanh_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = ftanh(z[j])
    elif act == ACT_SOFTMAX:
        softmax_row(z, n)
    elif act == ACT_SILU:
        if floating is float:
            fnn_silu_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = z[j] * sigmoid(z[j])
    elif act == ACT_RELU6:
        for j in range(n):
            v = z[j] if z[j] > 0 else zero
            z[j] = v if v < six else six
    elif act == ACT_LEAKY_RELU:
        for j in range(n):
            z[j] = z[j] if z[j] > 0 else alpha * z[j]
    elif act == ACT_ELU:
        if floating is float:
            fnn_elu_fwd_f32(z, n, alpha)
        else:
            for j in range(n):
                z[j] = z[j] if z[j] > 0 else alpha * fexpm1(z[j])
    elif act == ACT_SELU:
        if floating is float:
            fnn_selu_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = <floating>SELU_SCALE * z[j] if z[j] > 0 else <floating>SELU_SCALE_ALPHA * fexpm1(z[j])
    elif act == ACT_GELU:
        # z * Phi(z), Phi(z) = 0.5 erfc(-z / sqrt 2)
        for j in range(n):
            z[j] = half * z[j] * ferfc(-z[j] * <floating>SQRT1_2)
    elif act == ACT_GELU_TANH:
        # 0.5 z (1 + tanh(u)) = z sigmoid(2u)
        if floating is float:
            fnn_gelu_tanh_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = z[j] * sigmoid(two * gelu_tanh_u(z[j]))
    elif act == ACT_SOFTPLUS:
        if floating is float:
            fnn_softplus_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = log1pexp(z[j])
    elif act == ACT_SOFTSIGN:
        for j in range(n):
            z[j] = z[j] / (one + fabs_(z[j]))
    elif act == ACT_HARD_SIGMOID:
        # relu6(z + 3) / 6 (Keras 3 and torch)
        for j in range(n):
            v = z[j] + three
            v = v if v > 0 else zero
            z[j] = (v if v < six else six) / six
    elif act == ACT_MISH:
        # z tanh(softplus(z)), softplus(z) = max(z, 0) + log1p(exp(-|z|))
        if floating is float:
            fnn_mish_fwd_f32(z, n)
        else:
            for j in range(n):
                v = z[j]
                e = fexp(-fabs_(v))
                z[j] = v * ftanh((v if v > 0 else zero) + flog1p(e))
    elif act == ACT_EXPONENTIAL:
        if floating is float:
            fnn_exp_fwd_f32(z, n)
        else:
            for j in range(n):
                z[j] = fexp(z[j])
    elif act == ACT_LOG_SOFTMAX:
        log_softmax_row(z, n)


cdef inline void act_backward_row(int act, floating alpha, floating* d, const floating* y,
                                  const floating* z, Py_ssize_t n) noexcept nogil:
    """d := d * act'(.) for one row.

    y = act(z) is the forward output; z, the pre-activation, is read only by the
    activations of act_needs_z (it may be NULL for the others). Softmax and
    log_softmax take the Jacobian-vector product of their whole row.
    """
    cdef Py_ssize_t j
    cdef floating s, e, t, v, sp
    cdef floating zero = 0, one = 1, two = 2, three = 3, six = 6, half = 0.5
    if act == ACT_RELU:
        for j in range(n):
            d[j] = d[j] if y[j] > 0 else zero
    elif act == ACT_SIGMOID:
        for j in range(n):
            d[j] = d[j] * y[j] * (one - y[j])
    elif act == ACT_TANH:
        for j in range(n):
            d[j] = d[j] * (one - y[j] * y[j])
    elif act == ACT_SOFTMAX:
        # Jacobian-vector product of softmax: y * (d - <d, y>).
        s = 0
        for j in range(n):
            s += d[j] * y[j]
        for j in range(n):
            d[j] = y[j] * (d[j] - s)
    elif act == ACT_SILU:
        # d/dz z s(z) = s (1 + z (1 - s))
        if floating is float:
            fnn_silu_bwd_f32(d, z, n)
        else:
            for j in range(n):
                s = sigmoid(z[j])
                d[j] = d[j] * (s * (one + z[j] * (one - s)))
    elif act == ACT_RELU6:
        # 1 on (0, 6), 0 outside and at the kinks (as torch's hardtanh backward)
        for j in range(n):
            d[j] = d[j] if (y[j] > 0 and y[j] < six) else zero
    elif act == ACT_LEAKY_RELU:
        # alpha >= 0 (validated in Python), so y > 0 exactly when z > 0
        for j in range(n):
            d[j] = d[j] if y[j] > 0 else alpha * d[j]
    elif act == ACT_ELU:
        # z <= 0: alpha exp(z) = y + alpha (alpha >= 0, so y > 0 exactly when z > 0)
        for j in range(n):
            d[j] = d[j] if y[j] > 0 else d[j] * (y[j] + alpha)
    elif act == ACT_SELU:
        for j in range(n):
            d[j] = <floating>SELU_SCALE * d[j] if y[j] > 0 else d[j] * (y[j] + <floating>SELU_SCALE_ALPHA)
    elif act == ACT_GELU:
        # Phi(z) + z phi(z)
        for j in range(n):
            v = z[j]
            d[j] = d[j] * (half * ferfc(-v * <floating>SQRT1_2)
                           + v * <floating>INV_SQRT_2PI * fexp(-half * v * v))
    elif act == ACT_GELU_TANH:
        # d/dz z s(2u) = s + 2 z s (1 - s) u',  u' = sqrt(2/pi) (1 + 3 * 0.044715 z^2).
        # Where s (1 - s) is 0 the second term is 0 (skipping it also avoids
        # 0 * inf once z^2 overflows).
        if floating is float:
            fnn_gelu_tanh_bwd_f32(d, z, n)
        else:
            for j in range(n):
                v = z[j]
                s = sigmoid(two * gelu_tanh_u(v))
                t = s * (one - s)
                if t != 0:
                    s = s + two * v * t * (<floating>SQRT_2_OVER_PI * (one + three * <floating>GELU_K * v * v))
                d[j] = d[j] * s
    elif act == ACT_SOFTPLUS:
        # sigmoid(z) = 1 - exp(-y) = -expm1(-y), exact to the rounding of y
        if floating is float:
            fnn_softplus_bwd_f32(d, y, n)
        else:
            for j in range(n):
                d[j] = d[j] * -fexpm1(-y[j])
    elif act == ACT_SOFTSIGN:
        # 1 / (1 + |z|)^2 = (1 - |y|)^2
        for j in range(n):
            t = one - fabs_(y[j])
            d[j] = d[j] * (t * t)
    elif act == ACT_HARD_SIGMOID:
        # 1/6 on (-3, 3), i.e. where 0 < y < 1 (as torch's hardsigmoid backward)
        for j in range(n):
            d[j] = d[j] / six if (y[j] > 0 and y[j] < one) else zero
    elif act == ACT_MISH:
        # d/dz z tanh(sp) = t + z sigmoid(z) (1 - t^2),  t = tanh(softplus(z));
        # one exp(-|z|) gives both softplus and sigmoid.
        if floating is float:
            fnn_mish_bwd_f32(d, z, n)  # the same from exp(z): see fnn_mish_e
        else:
            for j in range(n):
                v = z[j]
                e = fexp(-fabs_(v))
                sp = (v if v > 0 else zero) + flog1p(e)
                t = ftanh(sp)
                s = one / (one + e) if v >= 0 else e / (one + e)
                d[j] = d[j] * (t + v * s * (one - t * t))
    elif act == ACT_EXPONENTIAL:
        for j in range(n):
            d[j] = d[j] * y[j]
    elif act == ACT_LOG_SOFTMAX:
        # y = z - lse(z): dz = d - softmax(z) sum(d), softmax(z) = exp(y)
        s = 0
        for j in range(n):
            s += d[j]
        if floating is float:
            fnn_log_softmax_bwd_f32(d, y, n, s)
        else:
            for j in range(n):
                d[j] = d[j] - fexp(y[j]) * s


# -- the bias + activation passes shared by the dense and sparse first-layer kernels ---------

cdef inline void bias_act_row(floating* z, floating* y, const floating* b, Py_ssize_t units,
                              int act, floating alpha) noexcept nogil:
    """z := z + b (b may be NULL); y := act(z) (in place when y == z, else z is kept
    as the pre-activation)."""
    cdef Py_ssize_t j
    if b != NULL:
        for j in range(units):
            z[j] = z[j] + b[j]
    if y != z:
        memcpy(y, z, units * sizeof(floating))
    act_forward_row(act, alpha, y, units)


cdef inline void act_bias_cols(floating* d, const floating* y, const floating* z, floating* db,
                               Py_ssize_t n, Py_ssize_t units, int act, floating alpha,
                               Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """Columns [c0, c1) of n rows: d *= act'(.) (element-wise activations), then db =
    the column sums of d (db may be NULL), each column summed in row order."""
    cdef Py_ssize_t i, j
    if db != NULL:
        for j in range(c0, c1):
            db[j] = 0
    for i in range(n):
        if act != ACT_LINEAR:
            act_backward_row(act, alpha, d + i * units + c0, y + i * units + c0,
                             z + i * units + c0 if z != NULL else NULL, c1 - c0)
        if db != NULL:
            for j in range(c0, c1):
                db[j] += d[i * units + j]


cdef inline void bias_act_rows(floating* z, floating* y, const floating* b, Py_ssize_t n,
                               Py_ssize_t units, int act, floating alpha, int n_threads) noexcept nogil:
    """bias_act_row over the first n rows (b may be NULL; y may be z), threads over rows
    above ACT_PARALLEL_MIN elements (rows are independent)."""
    cdef Py_ssize_t i
    if n_threads > 1 and n * units >= ACT_PARALLEL_MIN:
        for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
            bias_act_row(z + i * units, y + i * units, b, units, act, alpha)
    else:
        for i in range(n):
            bias_act_row(z + i * units, y + i * units, b, units, act, alpha)


cdef inline void act_bias_cols_par(floating* d, const floating* y, const floating* z, floating* db,
                                   Py_ssize_t n, Py_ssize_t units, int act, floating alpha,
                                   int n_threads, bint par) noexcept nogil:
    """act_bias_cols over all columns (element-wise activations only), on n_threads
    threads when `par` (the caller's size threshold) and the layer is wider than 16.

    Threads split the columns into one contiguous range each (a multiple of 16
    wide): each column's bias-gradient sum stays in row order, so the result is
    the same bit for bit whatever the thread count, and every thread streams
    long contiguous row segments (64-column blocks, measured: 3x slower, as each
    row of a 2048-wide layer then lands on a new page).
    """
    cdef Py_ssize_t t, c0, c1
    cdef Py_ssize_t step = ((units + n_threads - 1) // n_threads + 15) // 16 * 16
    if par and n_threads > 1 and units > 16:
        for t in prange(n_threads, nogil=True, schedule="static", num_threads=n_threads):
            c0 = t * step
            c1 = min(c0 + step, units)
            if c1 > c0:
                act_bias_cols(d, y, z, db, n, units, act, alpha, c0, c1)
    else:
        act_bias_cols(d, y, z, db, n, units, act, alpha, 0, units)
