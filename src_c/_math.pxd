# Header-only scalar math in the precision of the fused type: float32 code must
# call expf/logf/tanhf, not the double versions (2x slower, and not vectorized).
from cython cimport floating
from libc.math cimport (exp, expf, tanh, tanhf, log, logf, log1p, log1pf, expm1, expm1f,
                        erf, erff, sqrt, sqrtf, fabs, fabsf)


cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating ftanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating flog(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating flog1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating fexpm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating ferf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline floating fsqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating fabs_(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating log1pexp(floating x) noexcept nogil:
    """softplus(x) = log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for x > 0."""
    if x > 0:
        return x + flog1p(fexp(-x))
    return flog1p(fexp(x))
