/* Optimizer update loops as plain C, compiled for several x86-64 levels.
 *
 * gcc's target_clones emits an AVX-512 (x86-64-v4), an AVX2 (v3) and a baseline
 * version of each function and picks one at load time, so a portable wheel
 * still uses the wide vectors (DESIGN's prototype measured ~2x on the Adam pass;
 * here an arena of ~100k float32 is memory-bound either way, ~0.6 ns/element). Each function
 * updates elements [0, n) of its arrays; callers split the arena into chunks
 * for threads. The arithmetic mirrors torch.optim operation by operation.
 *
 * Every rule runs inside one loop that also applies the optimizer's extras, in
 * Keras 3's order, so that one pass over memory does all of it:
 *
 *     g = clamp(g * gscale, -clipvalue, clipvalue)   gscale: clipnorm / global_clipnorm factor
 *     p = p * decay                                  decay = 1 - lr * weight_decay
 *     <the rule: updates p and its slots from g>
 *     e = ema_decay * e + (1 - ema_decay) * p        only when an EMA array is given
 *     p = e                                          only on an EMA overwrite step
 *
 * Without extras the factors are exactly 1 and the clip bound +inf, so the
 * results are bit-identical to the rule alone.
 */
#ifndef FASTNN_OPTIM_SIMD_H
#define FASTNN_OPTIM_SIMD_H
#include <math.h>
#include <stddef.h>

/* Flush-to-zero and denormals-are-zero for the duration of one update loop.
 * Why: Adam's first moment of a weight whose gradient stays 0 (a dead ReLU unit)
 * decays by beta_1 every step and reaches the subnormal range after ~800 steps;
 * subnormal arithmetic is ~100x slower and made a whole training step 2.5x slower
 * (measured on 784-256-256-10). Values below 1.2e-38 (float32) do not change any
 * update measurably. MXCSR is per thread, so each chunk sets and restores it. */
#if defined(__SSE2__)
#include <xmmintrin.h>
static inline unsigned int fastnn_ftz_begin(void) {
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void fastnn_ftz_end(unsigned int old) { _mm_setcsr(old); }
#else
static inline unsigned int fastnn_ftz_begin(void) { return 0; }
static inline void fastnn_ftz_end(unsigned int old) { (void)old; }
#endif

#include "_clones.h"

/* Type-generic math for the rule bodies (float -> sqrtf, double -> sqrt). */
#define FASTNN_SQRT(x) _Generic((x), float: sqrtf, default: sqrt)(x)
#define FASTNN_POW(x, y) _Generic((x), float: powf, default: pow)((x), (y))
#define FASTNN_ABS(x) ((x) < 0 ? -(x) : (x))
/* clamp(x, -c, c); NaN stays NaN, c = +inf is a no-op. */
#define FASTNN_CLAMP(x, c) ((x) < -(c) ? -(c) : ((x) > (c) ? (c) : (x)))

/* The per-step extras shared by every rule (scalars, in double; cast per dtype). */
typedef struct {
    double clipvalue;  /* +inf: no value clipping */
    double decay;      /* 1 - lr * weight_decay (1: no decay) */
    double ema_decay;  /* e = ema_decay * e + (1 - ema_decay) * p */
    int ema_overwrite; /* p = e after the EMA update (Keras's ema_overwrite_frequency step) */
} fastnn_extras;

/* Rule ids. Variants that touch different arrays are separate rules, so that each
 * loop streams only the memory it needs and vectorizes without branches. */
enum {
    FASTNN_SGD = 0,
    FASTNN_SGD_MOMENTUM,
    FASTNN_SGD_NESTEROV,
    FASTNN_ADAGRAD,
    FASTNN_RMSPROP,
    FASTNN_RMSPROP_CENTERED,
    FASTNN_RMSPROP_MOMENTUM,
    FASTNN_RMSPROP_CENTERED_MOMENTUM,
    FASTNN_ADADELTA,
    FASTNN_ADAM,
    FASTNN_ADAM_AMSGRAD,
    FASTNN_ADAMAX,
    FASTNN_NADAM,
    FASTNN_RADAM,
    FASTNN_RADAM_UNRECTIFIED,
    FASTNN_LION,
    FASTNN_FTRL,
    FASTNN_FTRL_SQRT,
    FASTNN_N_RULES
};

/* ---- rule bodies ---------------------------------------------------------------------------
 * Each rule is a SETUP (scalars from h[], the step's hyperparameters computed in
 * double by the caller) and a BODY that reads gi (the clipped gradient) and pi
 * (the decayed parameter), updates its slots s0..s2 at i and leaves the new
 * parameter in pi. Slot positions are fixed per rule (the Cython table
 * RULE_SLOTS says which must be present). */

/* SGD (torch.optim.SGD, dampening 0): b = mu b + g; p -= lr * (nesterov ? g + mu b : b) */
#define SGD_SETUP(T) const T lr = (T)h[0];
#define SGD_BODY(T) pi = pi - lr * gi;
#define SGD_MOMENTUM_SETUP(T) const T lr = (T)h[0], mu = (T)h[1];
#define SGD_MOMENTUM_BODY(T) \
    T bi = mu * s0[i] + gi;  \
    s0[i] = bi;              \
    pi = pi - lr * bi;
#define SGD_NESTEROV_SETUP SGD_MOMENTUM_SETUP
#define SGD_NESTEROV_BODY(T) \
    T bi = mu * s0[i] + gi;  \
    s0[i] = bi;              \
    pi = pi - lr * (gi + mu * bi);

/* Adagrad (torch): s += g^2; p -= lr * g / (sqrt(s) + eps) */
#define ADAGRAD_SETUP(T) const T lr = (T)h[0], eps = (T)h[1];
#define ADAGRAD_BODY(T)         \
    T si = s0[i] + gi * gi;     \
    s0[i] = si;                 \
    pi = pi - lr * (gi / (FASTNN_SQRT(si) + eps));

/* RMSprop (torch): v = a v + (1-a) g^2; [c = c + (1-a)(g - c); v - c^2 under the sqrt];
 * avg = sqrt(.) + eps; momentum: b = mu b + g / avg, p -= lr b; else p -= lr g / avg.
 * Slots: s0 = v, s1 = c (centered), s2 = b (momentum). */
#define RMSPROP_SETUP(T) const T lr = (T)h[0], a = (T)h[1], oma = (T)h[2], eps = (T)h[3], mu = (T)h[4]; \
    (void)mu;
#define RMSPROP_V(T)                    \
    T vi = a * s0[i] + oma * (gi * gi); \
    s0[i] = vi;
#define RMSPROP_C(T)                     \
    T ci = s1[i] + oma * (gi - s1[i]);   \
    s1[i] = ci;
#define RMSPROP_BODY(T) \
    RMSPROP_V(T)        \
    pi = pi - lr * (gi / (FASTNN_SQRT(vi) + eps));
#define RMSPROP_CENTERED_SETUP RMSPROP_SETUP
#define RMSPROP_CENTERED_BODY(T) \
    RMSPROP_V(T)                 \
    RMSPROP_C(T)                 \
    pi = pi - lr * (gi / (FASTNN_SQRT(vi - ci * ci) + eps));
#define RMSPROP_MOMENTUM_SETUP RMSPROP_SETUP
#define RMSPROP_MOMENTUM_BODY(T)                         \
    RMSPROP_V(T)                                         \
    T bi = mu * s2[i] + gi / (FASTNN_SQRT(vi) + eps);    \
    s2[i] = bi;                                          \
    pi = pi - lr * bi;
#define RMSPROP_CENTERED_MOMENTUM_SETUP RMSPROP_SETUP
#define RMSPROP_CENTERED_MOMENTUM_BODY(T)                         \
    RMSPROP_V(T)                                                  \
    RMSPROP_C(T)                                                  \
    T bi = mu * s2[i] + gi / (FASTNN_SQRT(vi - ci * ci) + eps);   \
    s2[i] = bi;                                                   \
    pi = pi - lr * bi;

/* Adadelta (torch): v = r v + (1-r) g^2; d = sqrt(u + eps) / sqrt(v + eps) * g;
 * u = r u + (1-r) d^2; p -= lr d. Slots: s0 = v, s1 = u. */
#define ADADELTA_SETUP(T) const T lr = (T)h[0], r = (T)h[1], omr = (T)h[2], eps = (T)h[3];
#define ADADELTA_BODY(T)                                             \
    T vi = r * s0[i] + omr * (gi * gi);                              \
    s0[i] = vi;                                                      \
    T di = FASTNN_SQRT(s1[i] + eps) / FASTNN_SQRT(vi + eps) * gi;    \
    s1[i] = r * s1[i] + omr * (di * di);                             \
    pi = pi - lr * di;

/* Adam (torch): m += (1-b1)(g-m); v = b2 v + (1-b2) g^2; [vmax = max(vmax, v)];
 * p -= step_size * m / (sqrt(v or vmax) * inv_bc2_sqrt + eps). Slots: s0 = m, s1 = v, s2 = vmax.
 * torch divides sqrt(v) by sqrt(1 - b2^t); multiplying by the reciprocal (within an ulp)
 * leaves one sqrt and one division per element: they share one execution unit, and with
 * the arena in cache the loop is bound by it (the division was ~30% of the pass). */
#define ADAM_SETUP(T) const T omb1 = (T)h[0], b2 = (T)h[1], omb2 = (T)h[2], step_size = (T)h[3], \
    inv_bc2_sqrt = (T)h[4], eps = (T)h[5];
#define ADAM_MV(T)                          \
    T mi = s0[i] + omb1 * (gi - s0[i]);     \
    T vi = b2 * s1[i] + omb2 * gi * gi;     \
    s0[i] = mi;                             \
    s1[i] = vi;
#define ADAM_BODY(T) \
    ADAM_MV(T)       \
    pi = pi - step_size * (mi / (FASTNN_SQRT(vi) * inv_bc2_sqrt + eps));
#define ADAM_AMSGRAD_SETUP ADAM_SETUP
#define ADAM_AMSGRAD_BODY(T)              \
    ADAM_MV(T)                            \
    T xi = s2[i] > vi ? s2[i] : vi;       \
    s2[i] = xi;                           \
    pi = pi - step_size * (mi / (FASTNN_SQRT(xi) * inv_bc2_sqrt + eps));

/* Adamax (torch): m += (1-b1)(g-m); u = max(b2 u, |g| + eps); p -= lr / bc1 * m / u.
 * Slots: s0 = m, s1 = u. */
#define ADAMAX_SETUP(T) const T omb1 = (T)h[0], b2 = (T)h[1], clr = (T)h[2], eps = (T)h[3];
#define ADAMAX_BODY(T)                       \
    T mi = s0[i] + omb1 * (gi - s0[i]);      \
    s0[i] = mi;                              \
    T ui = b2 * s1[i];                       \
    T ai = FASTNN_ABS(gi) + eps;             \
    ui = ui > ai ? ui : ai;                  \
    s1[i] = ui;                              \
    pi = pi - clr * (mi / ui);

/* NAdam (torch, Dozat's momentum schedule): m += (1-b1)(g-m); v = b2 v + (1-b2) g^2;
 * den = sqrt(v / bc2) + eps; p -= (c_g g + c_m m) / den, where the caller computes
 * c_g = lr (1 - mu_t) / (1 - prod mu) and c_m = lr mu_{t+1} / (1 - prod mu * mu_{t+1}).
 * (torch: two addcdiv and v / bc2; here one division and v * (1 / bc2), equal within ulps.)
 * Slots: s0 = m, s1 = v. */
#define NADAM_SETUP(T) const T omb1 = (T)h[0], b2 = (T)h[1], omb2 = (T)h[2], inv_bc2 = (T)h[3], \
    eps = (T)h[4], c_g = (T)h[5], c_m = (T)h[6];
#define NADAM_BODY(T)                               \
    ADAM_MV(T)                                      \
    T den = FASTNN_SQRT(vi * inv_bc2) + eps;        \
    pi = pi - (c_g * gi + c_m * mi) / den;

/* RAdam (torch): m, v as Adam; rectified steps: p -= c * m / (sqrt(v) + eps) with
 * c = lr * rect * sqrt(bc2) / bc1; early (unrectified) steps: p -= lr / bc1 * m. */
#define RADAM_SETUP(T) const T omb1 = (T)h[0], b2 = (T)h[1], omb2 = (T)h[2], c = (T)h[3], eps = (T)h[4];
#define RADAM_BODY(T) \
    ADAM_MV(T)        \
    pi = pi - (mi * c) / (FASTNN_SQRT(vi) + eps);
#define RADAM_UNRECTIFIED_SETUP RADAM_SETUP
#define RADAM_UNRECTIFIED_BODY(T) \
    ADAM_MV(T)                    \
    (void)vi; (void)eps;          \
    pi = pi - mi * c;

/* Lion (Chen et al. 2023): p -= lr sign(b1 m + (1-b1) g); m = b2 m + (1-b2) g. Slot: s0 = m.
 * sign(0) = 0 and sign(NaN) = NaN, as Keras's ops.sign. */
#define LION_SETUP(T) const T lr = (T)h[0], b1 = (T)h[1], omb1 = (T)h[2], b2 = (T)h[3], omb2 = (T)h[4];
#define LION_BODY(T)                                        \
    T ci = s0[i] * b1 + gi * omb1;                          \
    T sg = ci > 0 ? (T)1 : (ci < 0 ? (T)-1 : ci);           \
    pi = pi - lr * sg;                                      \
    s0[i] = s0[i] * b2 + gi * omb2;

/* FTRL-proximal (McMahan et al. 2013) as Keras 3 implements it. Slots: s0 = n (accumulator),
 * s1 = z (linear). With k = -learning_rate_power:
 *   gs = g + 2 l2_shrinkage p;  n' = n + g^2;  z += gs - (n'^k - n^k) / lr * p;
 *   p = (clamp(z, -l1, l1) - z) / (n'^k / lr + 2 l2_eff);  n = n'
 * l2_eff = l2 + beta / (2 lr). FTRL_SQRT is the k = 0.5 default with sqrt instead of pow. */
#define FTRL_SETUP(T) const T lr = (T)h[0], k = (T)h[1], l1 = (T)h[2], two_l2 = (T)h[3], \
    two_shrink = (T)h[4];
#define FTRL_STEP(T, PN, PO)                                   \
    T ni = s0[i];                                              \
    T nn = ni + gi * gi;                                       \
    T gsh = gi + two_shrink * pi;                              \
    T pn = PN, po = PO;                                        \
    T zi = s1[i] + (gsh - (pn - po) / lr * pi);                \
    s1[i] = zi;                                                \
    T quad = pn / lr + two_l2;                                 \
    pi = (FASTNN_CLAMP(zi, l1) - zi) / quad;                   \
    s0[i] = nn;
#define FTRL_BODY(T) FTRL_STEP(T, FASTNN_POW(nn, k), FASTNN_POW(ni, k))
#define FTRL_SQRT_SETUP FTRL_SETUP
#define FTRL_SQRT_BODY(T) \
    (void)k;              \
    FTRL_STEP(T, FASTNN_SQRT(nn), FASTNN_SQRT(ni))

/* ---- the fused loop ------------------------------------------------------------------------
 * One function per (rule, dtype). The EMA branch is hoisted out of the loop. */
#define FASTNN_RULE_FN(NAME, R, T)                                                              \
    FNN_CLONES_ATTR static void NAME(T *restrict p, const T *restrict g, T *restrict s0,         \
                                   T *restrict s1, T *restrict s2, T *restrict e, ptrdiff_t n,  \
                                   const double *h, const fastnn_extras *x, double gscale) {   \
        const T gs_ = (T)gscale, cv_ = (T)x->clipvalue, dm_ = (T)x->decay;                     \
        R##_SETUP(T)                                                                            \
        (void)s0; (void)s1; (void)s2;                                                           \
        unsigned int csr = fastnn_ftz_begin();                                                  \
        if (e == NULL) {                                                                        \
            for (ptrdiff_t i = 0; i < n; i++) {                                                 \
                T gi = g[i] * gs_;                                                              \
                gi = FASTNN_CLAMP(gi, cv_);                                                     \
                T pi = p[i] * dm_;                                                              \
                R##_BODY(T)                                                                     \
                p[i] = pi;                                                                      \
            }                                                                                   \
        } else {                                                                                \
            const T ed_ = (T)x->ema_decay, oed_ = (T)(1.0 - x->ema_decay);                      \
            const int ow_ = x->ema_overwrite;                                                   \
            for (ptrdiff_t i = 0; i < n; i++) {                                                 \
                T gi = g[i] * gs_;                                                              \
                gi = FASTNN_CLAMP(gi, cv_);                                                     \
                T pi = p[i] * dm_;                                                              \
                R##_BODY(T)                                                                     \
                T ei = ed_ * e[i] + oed_ * pi;                                                  \
                e[i] = ei;                                                                      \
                p[i] = ow_ ? ei : pi;                                                           \
            }                                                                                   \
        }                                                                                       \
        fastnn_ftz_end(csr);                                                                    \
    }

#define FASTNN_RULE_PAIR(name, R)                   \
    FASTNN_RULE_FN(fastnn_##name##_f32, R, float)   \
    FASTNN_RULE_FN(fastnn_##name##_f64, R, double)

FASTNN_RULE_PAIR(sgd, SGD)
FASTNN_RULE_PAIR(sgd_momentum, SGD_MOMENTUM)
FASTNN_RULE_PAIR(sgd_nesterov, SGD_NESTEROV)
FASTNN_RULE_PAIR(adagrad, ADAGRAD)
FASTNN_RULE_PAIR(rmsprop, RMSPROP)
FASTNN_RULE_PAIR(rmsprop_centered, RMSPROP_CENTERED)
FASTNN_RULE_PAIR(rmsprop_momentum, RMSPROP_MOMENTUM)
FASTNN_RULE_PAIR(rmsprop_centered_momentum, RMSPROP_CENTERED_MOMENTUM)
FASTNN_RULE_PAIR(adadelta, ADADELTA)
FASTNN_RULE_PAIR(adam, ADAM)
FASTNN_RULE_PAIR(adam_amsgrad, ADAM_AMSGRAD)
FASTNN_RULE_PAIR(adamax, ADAMAX)
FASTNN_RULE_PAIR(nadam, NADAM)
FASTNN_RULE_PAIR(radam, RADAM)
FASTNN_RULE_PAIR(radam_unrectified, RADAM_UNRECTIFIED)
FASTNN_RULE_PAIR(lion, LION)
FASTNN_RULE_PAIR(ftrl, FTRL)
FASTNN_RULE_PAIR(ftrl_sqrt, FTRL_SQRT)

#define FASTNN_DISPATCH(SUFFIX, T)                                                                 \
    static void fastnn_rule_##SUFFIX(int rule, T *p, const T *g, T *s0, T *s1, T *s2, T *e,       \
                                     ptrdiff_t n, const double *h, const fastnn_extras *x,         \
                                     double gscale) {                                              \
        switch (rule) {                                                                            \
        case FASTNN_SGD: fastnn_sgd_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;        \
        case FASTNN_SGD_MOMENTUM: fastnn_sgd_momentum_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_SGD_NESTEROV: fastnn_sgd_nesterov_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_ADAGRAD: fastnn_adagrad_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_RMSPROP: fastnn_rmsprop_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_RMSPROP_CENTERED:                                                              \
            fastnn_rmsprop_centered_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;         \
        case FASTNN_RMSPROP_MOMENTUM:                                                              \
            fastnn_rmsprop_momentum_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;         \
        case FASTNN_RMSPROP_CENTERED_MOMENTUM:                                                     \
            fastnn_rmsprop_centered_momentum_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_ADADELTA: fastnn_adadelta_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_ADAM: fastnn_adam_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;      \
        case FASTNN_ADAM_AMSGRAD: fastnn_adam_amsgrad_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        case FASTNN_ADAMAX: fastnn_adamax_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;  \
        case FASTNN_NADAM: fastnn_nadam_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;    \
        case FASTNN_RADAM: fastnn_radam_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;    \
        case FASTNN_RADAM_UNRECTIFIED:                                                             \
            fastnn_radam_unrectified_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;        \
        case FASTNN_LION: fastnn_lion_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;      \
        case FASTNN_FTRL: fastnn_ftrl_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break;      \
        case FASTNN_FTRL_SQRT: fastnn_ftrl_sqrt_##SUFFIX(p, g, s0, s1, s2, e, n, h, x, gscale); break; \
        default: break;                                                                            \
        }                                                                                          \
    }
FASTNN_DISPATCH(f32, float)
FASTNN_DISPATCH(f64, double)

/* ---- reductions and copies -----------------------------------------------------------------*/

/* sum(x^2) accumulated in double over 16 independent lanes (so that it vectorizes
 * without reassociation), then the lanes summed in a fixed order: the result does
 * not depend on the thread count, only on where a range starts and ends. */
#define FASTNN_SUMSQ(NAME, T)                                                   \
    FNN_CLONES_ATTR static double NAME(const T *restrict x, ptrdiff_t n) {        \
        double acc[16] = {0};                                                   \
        ptrdiff_t i = 0;                                                        \
        for (; i + 16 <= n; i += 16)                                            \
            for (int k = 0; k < 16; k++) {                                      \
                double v = (double)x[i + k];                                    \
                acc[k] += v * v;                                                \
            }                                                                   \
        double tail = 0.0;                                                      \
        for (; i < n; i++) {                                                    \
            double v = (double)x[i];                                            \
            tail += v * v;                                                      \
        }                                                                       \
        for (int w = 8; w >= 1; w /= 2)                                         \
            for (int k = 0; k < w; k++) acc[k] += acc[k + w];                   \
        return acc[0] + tail;                                                   \
    }
FASTNN_SUMSQ(fastnn_sumsq_f32, float)
FASTNN_SUMSQ(fastnn_sumsq_f64, double)

/* a <-> b element-wise (swapping a model's weights with their moving average). */
#define FASTNN_SWAP(NAME, T)                                                  \
    FNN_CLONES_ATTR static void NAME(T *restrict a, T *restrict b, ptrdiff_t n) { \
        for (ptrdiff_t i = 0; i < n; i++) {                                   \
            T t = a[i];                                                       \
            a[i] = b[i];                                                      \
            b[i] = t;                                                         \
        }                                                                     \
    }
FASTNN_SWAP(fastnn_swap_f32, float)
FASTNN_SWAP(fastnn_swap_f64, double)

#endif
