/* Optimizer update loops as plain C, compiled for several x86-64 levels.
 *
 * gcc's target_clones emits an AVX-512 (x86-64-v4), an AVX2 (v3) and a baseline
 * version of each function and picks one at load time, so a portable wheel
 * still uses the wide vectors (DESIGN's prototype measured ~2x on the Adam pass;
 * here an arena of ~100k float32 is memory-bound either way, ~0.6 ns/element). Each function
 * updates elements [0, n) of its arrays; callers split the arena into chunks
 * for threads. The arithmetic mirrors torch.optim operation by operation.
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

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FASTNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTNN_CLONES
#endif

/* Adam: m += (1-b1)(g-m); v = b2 v + (1-b2) g^2; p -= step_size * m / (sqrt(v)/bc2_sqrt + eps) */
#define FASTNN_ADAM(NAME, T, SQRT)                                                           \
    FASTNN_CLONES static void NAME(T *restrict p, const T *restrict g, T *restrict m,        \
                                   T *restrict v, ptrdiff_t n, T one_minus_b1, T b2,          \
                                   T one_minus_b2, T step_size, T bc2_sqrt, T eps) {          \
        unsigned int csr = fastnn_ftz_begin();                                                \
        for (ptrdiff_t i = 0; i < n; i++) {                                                   \
            T gi = g[i];                                                                      \
            T mi = m[i] + one_minus_b1 * (gi - m[i]);                                         \
            T vi = b2 * v[i] + one_minus_b2 * gi * gi;                                        \
            m[i] = mi;                                                                        \
            v[i] = vi;                                                                        \
            p[i] = p[i] - step_size * (mi / (SQRT(vi) / bc2_sqrt + eps));                     \
        }                                                                                     \
        fastnn_ftz_end(csr);                                                                  \
    }
FASTNN_ADAM(fastnn_adam_f32, float, sqrtf)
FASTNN_ADAM(fastnn_adam_f64, double, sqrt)

/* SGD with momentum buffer b (NULL: plain SGD): b = mu b + g; p -= lr (nesterov ? g + mu b : b) */
#define FASTNN_SGD(NAME, T)                                                                   \
    FASTNN_CLONES static void NAME(T *restrict p, const T *restrict g, T *restrict b,        \
                                   ptrdiff_t n, T lr, T mu, int nesterov) {                   \
        unsigned int csr = fastnn_ftz_begin();                                                \
        if (b == NULL) {                                                                      \
            for (ptrdiff_t i = 0; i < n; i++) p[i] = p[i] - lr * g[i];                        \
        } else if (nesterov) {                                                                \
            for (ptrdiff_t i = 0; i < n; i++) {                                               \
                T bi = mu * b[i] + g[i];                                                      \
                b[i] = bi;                                                                    \
                p[i] = p[i] - lr * (g[i] + mu * bi);                                          \
            }                                                                                 \
        } else {                                                                              \
            for (ptrdiff_t i = 0; i < n; i++) {                                               \
                T bi = mu * b[i] + g[i];                                                      \
                b[i] = bi;                                                                    \
                p[i] = p[i] - lr * bi;                                                        \
            }                                                                                 \
        }                                                                                     \
        fastnn_ftz_end(csr);                                                                  \
    }
FASTNN_SGD(fastnn_sgd_f32, float)
FASTNN_SGD(fastnn_sgd_f64, double)

#endif
