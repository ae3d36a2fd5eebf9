# Header-only scalar math in the precision of the fused type: float32 code must
# call expf/logf/tanhf, not the double versions (2x slower, and not vectorized).
from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf


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

