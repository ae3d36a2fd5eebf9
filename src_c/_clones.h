/* The one definition of fastnn's multi-versioned loops.
 *
 * The wheel is portable (no -march), so the compiler alone would emit SSE2 for the
 * hot loops. gcc's target_clones builds an AVX-512 (x86-64-v4), an AVX2 (v3) and a
 * baseline version of a function and picks one when the module loads. Elsewhere
 * (clang, other systems) the functions are compiled once, for the baseline.
 *
 *   FNN_CLONES_ATTR  the attribute alone (for a declaration that says `static` itself)
 *   FNN_CLONED       static, multi-versioned, and no warning when a module leaves it unused
 */
#ifndef FASTNN_CLONES_H
#define FASTNN_CLONES_H
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FNN_CLONES_ATTR __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), unused))
#elif defined(__GNUC__)
#define FNN_CLONES_ATTR __attribute__((unused))
#else
#define FNN_CLONES_ATTR
#endif
#define FNN_CLONED FNN_CLONES_ATTR static
#endif
