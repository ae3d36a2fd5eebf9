# Header-only activation functions, applied in place to one row of a layer's output.
#
# Adding an activation: give it a code below (and in fastnn/activations.py), a
# case in act_forward_row and a case in act_backward_row. Backward is written in
# terms of the activation's output y (and the incoming gradient), which is what
# the dense layer keeps from its forward pass.
from cython cimport floating
from _math cimport fexp, ftanh

cdef enum:
    ACT_LINEAR = 0
    ACT_RELU = 1
    ACT_SIGMOID = 2
    ACT_TANH = 3
    ACT_SOFTMAX = 4


cdef inline floating sigmoid(floating z) noexcept nogil:
    # Two branches so that exp never overflows: exp(-|z|) <= 1.
    cdef floating e
    if z >= 0:
        return 1 / (1 + fexp(-z))
    e = fexp(z)
    return e / (1 + e)


cdef inline void softmax_row(floating* z, Py_ssize_t n) noexcept nogil:
    """In-place max-subtracted softmax of one row."""
    cdef Py_ssize_t j
    cdef floating mx = z[0], s = 0
    for j in range(1, n):
        if z[j] > mx:
            mx = z[j]
    for j in range(n):
        z[j] = fexp(z[j] - mx)
        s += z[j]
    s = 1 / s
    for j in range(n):
        z[j] *= s


cdef inline void act_forward_row(int act, floating* z, Py_ssize_t n) noexcept nogil:
    """z := act(z) for one row of n pre-activations."""
    cdef Py_ssize_t j
    if act == ACT_RELU:
        for j in range(n):
            z[j] = z[j] if z[j] > 0 else 0
    elif act == ACT_SIGMOID:
        for j in range(n):
            z[j] = sigmoid(z[j])
    elif act == ACT_TANH:
        for j in range(n):
            z[j] = ftanh(z[j])
    elif act == ACT_SOFTMAX:
        softmax_row(z, n)


cdef inline void act_backward_row(int act, floating* d, const floating* y, Py_ssize_t n) noexcept nogil:
    """d := d * act'(.) for one row, where y = act(z) is the forward output."""
    cdef Py_ssize_t j
    cdef floating s
    if act == ACT_RELU:
        for j in range(n):
            d[j] = d[j] if y[j] > 0 else 0
    elif act == ACT_SIGMOID:
        for j in range(n):
            d[j] = d[j] * y[j] * (1 - y[j])
    elif act == ACT_TANH:
        for j in range(n):
            d[j] = d[j] * (1 - y[j] * y[j])
    elif act == ACT_SOFTMAX:
        # Jacobian-vector product of softmax: y * (d - <d, y>).
        s = 0
        for j in range(n):
            s += d[j] * y[j]
        for j in range(n):
            d[j] = y[j] * (d[j] - s)
