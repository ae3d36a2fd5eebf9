# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Dense layer kernels: y = act(x @ W + b) and its backward pass.

An activation whose derivative needs the pre-activation (gelu, silu, mish:
_activations.act_needs_z) gets a buffer z from the caller: the forward pass
writes z = x @ W + b there and y = act(z) into out in the same fused pass, and
the backward pass reads z. Every other activation runs in place on out and its
backward reads y alone.

Two tiers: `cdef ... noexcept nogil` functions on raw pointers (fused float32 /
float64) that never validate, and `def` kernels that check their ndarray
arguments cheaply (shape, dtype, contiguity) and call them with the GIL released.
Every kernel writes into buffers the caller owns and processes the first `n`
rows, so a model can keep one buffer per layer sized for its largest batch.
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from libc.string cimport memcpy

from _activations cimport (ACT_COUNT, ACT_LINEAR, ACT_PARALLEL_MIN, act_backward_row,
                           act_bias_cols_par, act_needs_z, act_rowwise, arrays_overlap,
                           bias_act_rows, softmax_row)
from _arrays cimport check_array, data_or_null, finite_floats, float_type
from _blas cimport gemm_par

cnp.import_array()


cdef void act_bias_backward(floating* d, const floating* y, const floating* z, floating* db,
                            Py_ssize_t n, Py_ssize_t units, int act, floating alpha,
                            int n_threads) noexcept nogil:
    """d := d * act'(.) in place, and db := column sums of d (db may be NULL).

    y is the forward output; z (NULL unless act_needs_z) the pre-activation.
    """
    cdef Py_ssize_t i, j
    if act_rowwise(act):  # row-wise Jacobian: rows are independent, columns are not
        for i in range(n):
            act_backward_row(act, alpha, d + i * units, y + i * units, NULL, units)
        if db == NULL:
            return
        memset(db, 0, units * sizeof(floating))
        for i in range(n):
            for j in range(units):
                db[j] += d[i * units + j]
        return
    act_bias_cols_par(d, y, z, db, n, units, act, alpha, n_threads,
                      n * units >= ACT_PARALLEL_MIN)


cdef void _dense_forward(const floating* x, const floating* w, const floating* b, floating* out,
                         floating* z, int n, int n_in, int units, int act, floating alpha,
                         int n_threads) noexcept nogil:
    if z == NULL:  # in place in out
        gemm_par(False, False, n, units, n_in, 1, x, n_in, w, units, 0, out, units, n_threads)
        if b != NULL or act != ACT_LINEAR:
            bias_act_rows(out, out, b, n, units, act, alpha, n_threads)
    else:
        gemm_par(False, False, n, units, n_in, 1, x, n_in, w, units, 0, z, units, n_threads)
        bias_act_rows(z, out, b, n, units, act, alpha, n_threads)


cdef void _dense_backward(const floating* x, const floating* w, const floating* y, const floating* z,
                          floating* dy, floating* dw, floating* db, floating* dx,
                          int n, int n_in, int units, int act, floating alpha,
                          int n_threads) noexcept nogil:
    act_bias_backward(dy, y, z, db, n, units, act, alpha, n_threads)
    # dW = x^T dz ; dx = dz W^T
    if n == 0:
        memset(dw, 0, <size_t>n_in * units * sizeof(floating))
    else:
        gemm_par(True, False, n_in, units, n, 1, x, n_in, dy, units, 0, dw, units, n_threads)
    if dx != NULL:
        gemm_par(False, True, n, n_in, units, 1, dy, units, w, units, 0, dx, n_in, n_threads)


cdef int check_act(int act, bint has_z) except -1:
    if act < 0 or act >= ACT_COUNT:
        raise ValueError(f"act: expected an activation code in [0, {ACT_COUNT}), got {act}")
    if act_needs_z(act) and not has_z:
        raise ValueError(f"z: activation code {act} reads the pre-activation: expected a z buffer, got None")
    return 0


def dense_forward(cnp.ndarray x, cnp.ndarray w, object b, cnp.ndarray out,
                  Py_ssize_t n, int act, int n_threads=1, double alpha=0.0, object z=None):
    """out[:n] = act(x[:n] @ w + b), and z[:n] = x[:n] @ w + b when z is given.

    Parameters
    ----------
    x : (>= n, n_in) C-contiguous, dtype of w
    w : (n_in, units)
    b : (units,) or None
    out : (>= n, units), written
    n : rows to process
    act : activation code (fastnn.activations)
    n_threads : OpenMP threads for the GEMM (split, see _blas.gemm_par) and the
        bias/activation pass; large enough work only
    alpha : the activation's parameter (leaky_relu's negative_slope, elu's alpha)
    z : (>= n, units) or None, written: the pre-activation, required by the
        activations whose backward reads it (gelu, silu, mish); must not overlap out
    """
    cdef int t = float_type(w, "w")
    check_array(w, "w", t, 2, 0, -1, False)
    cdef Py_ssize_t n_in = w.shape[0], units = w.shape[1]
    check_array(x, "x", t, 2, n, n_in, False)
    check_array(out, "out", t, 2, n, units, True)
    cdef void* bp = data_or_null(b, "b", t, 1, units, -1, False)
    cdef void* zp = data_or_null(z, "z", t, 2, n, units, True)
    check_act(act, zp != NULL)
    if zp != NULL and arrays_overlap(<cnp.ndarray>z, out):
        raise ValueError("z: expected a buffer separate from out, got one that overlaps it")
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dense_forward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(w), <float*>bp,
                           <float*>cnp.PyArray_DATA(out), <float*>zp, n, n_in, units, act,
                           <float>alpha, n_threads)
    else:
        with nogil:
            _dense_forward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(w), <double*>bp,
                           <double*>cnp.PyArray_DATA(out), <double*>zp, n, n_in, units, act,
                           alpha, n_threads)


def dense_backward(cnp.ndarray x, cnp.ndarray w, cnp.ndarray y, cnp.ndarray dy,
                   cnp.ndarray dw, object db, object dx, Py_ssize_t n, int act, int n_threads=1,
                   double alpha=0.0, object z=None):
    """Backward pass of dense_forward for the first n rows.

    dy (gradient w.r.t. the output y, (>= n, units)) is overwritten with the
    gradient w.r.t. the pre-activation. Writes dw (n_in, units), db (units,)
    unless None, and dx (>= n, n_in) unless None (the first layer skips it).
    alpha is the activation's parameter; z (>= n, units), the pre-activation
    written by dense_forward, is required by gelu, silu and mish (act_needs_z)
    and ignored by the others.
    """
    cdef int t = float_type(w, "w")
    check_array(w, "w", t, 2, 0, -1, False)
    cdef Py_ssize_t n_in = w.shape[0], units = w.shape[1]
    check_array(x, "x", t, 2, n, n_in, False)
    check_array(y, "y", t, 2, n, units, False)
    check_array(dy, "dy", t, 2, n, units, True)
    check_array(dw, "dw", t, 2, n_in, units, True)
    cdef void* dbp = data_or_null(db, "db", t, 1, units, -1, True)
    cdef void* dxp = data_or_null(dx, "dx", t, 2, n, n_in, True)
    cdef void* zp = data_or_null(z, "z", t, 2, n, units, False)
    check_act(act, zp != NULL)
    if not act_needs_z(act):
        zp = NULL
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _dense_backward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(w),
                            <float*>cnp.PyArray_DATA(y), <float*>zp, <float*>cnp.PyArray_DATA(dy),
                            <float*>cnp.PyArray_DATA(dw), <float*>dbp, <float*>dxp,
                            n, n_in, units, act, <float>alpha, n_threads)
    else:
        with nogil:
            _dense_backward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(w),
                            <double*>cnp.PyArray_DATA(y), <double*>zp, <double*>cnp.PyArray_DATA(dy),
                            <double*>cnp.PyArray_DATA(dw), <double*>dbp, <double*>dxp,
                            n, n_in, units, act, alpha, n_threads)


def softmax_rows(cnp.ndarray z, Py_ssize_t n):
    """In-place softmax of the first n rows of z (turns logits into probabilities)."""
    cdef int t = float_type(z, "z")
    check_array(z, "z", t, 2, n, -1, True)
    cdef Py_ssize_t i, k = z.shape[1]
    if k == 0:
        return
    if t == cnp.NPY_FLOAT32:
        with nogil:
            for i in range(n):
                softmax_row(<float*>cnp.PyArray_DATA(z) + i * k, k)
    else:
        with nogil:
            for i in range(n):
                softmax_row(<double*>cnp.PyArray_DATA(z) + i * k, k)


cdef class _DenseLayers:
    """Per-layer tables of a stack of Dense layers, for kernels that run them in one call.

    _ptrs holds each layer's buffer pointers (width set by the subclass; the kernel
    first), _dims its (n_in, units, act) and _alphas its activation parameter; _keep
    the arrays those pointers point into, alive as long as the object.
    """
    cdef list _keep
    cdef int t, n_layers
    cdef Py_ssize_t n_in, n_out
    cdef cnp.ndarray _ptrs, _dims, _alphas

    cdef int _start(self, list layers, int width, str what) except -1:
        if not layers:
            raise ValueError(f"layers: expected at least one {what}, got none")
        self.t = float_type(layers[0][0], "layers[0] w")
        self.n_layers = len(layers)
        self.n_in = self.n_out = (<cnp.ndarray>layers[0][0]).shape[0]
        self._keep = []
        self._ptrs = cnp.PyArray_ZEROS(2, [self.n_layers, width], cnp.NPY_INTP, 0)
        self._dims = cnp.PyArray_ZEROS(2, [self.n_layers, 3], cnp.NPY_INTP, 0)
        self._alphas = cnp.PyArray_ZEROS(1, [self.n_layers], cnp.NPY_FLOAT64, 0)
        return 0

    cdef Py_ssize_t _layer(self, Py_ssize_t i, object w, int act, double alpha, bint has_z) except -1:
        """Check layer i's kernel (n_in = the previous layer's units) and activation,
        record them, and return its units (the next layer's n_in)."""
        cdef Py_ssize_t n_in = self.n_out
        check_array(w, f"layers[{i}] w", self.t, 2, n_in, -1, False)
        if (<cnp.ndarray>w).shape[0] != n_in:
            raise ValueError(f"layers[{i}] w: expected {n_in} rows (the previous layer's units), "
                             f"got {(<cnp.ndarray>w).shape[0]}")
        check_act(act, has_z)
        cdef Py_ssize_t units = (<cnp.ndarray>w).shape[1]
        cdef Py_ssize_t* dims = <Py_ssize_t*>cnp.PyArray_DATA(self._dims) + 3 * i
        dims[0], dims[1], dims[2] = n_in, units, act
        (<double*>cnp.PyArray_DATA(self._alphas))[i] = alpha
        (<Py_ssize_t*>cnp.PyArray_DATA(self._ptrs))[cnp.PyArray_DIMS(self._ptrs)[1] * i] = \
            <Py_ssize_t>cnp.PyArray_DATA(w)
        self.n_out = units
        return units

    cdef Py_ssize_t _vector(self, object v, str name, Py_ssize_t units, bint writable) except? -1:
        """Data pointer (as an integer, 0 for None) of an optional (units,) vector."""
        cdef void* p = data_or_null(v, name, self.t, 1, units, -1, writable)
        if p != NULL and (<cnp.ndarray>v).shape[0] != units:
            raise ValueError(f"{name}: expected {units} values, got {(<cnp.ndarray>v).shape[0]}")
        return <Py_ssize_t>p


cdef class DenseChain(_DenseLayers):
    """A stack of dense layers run for a few rows in one call: the latency path of predict.

    Built once from the layers' (kernel, bias, activation code, alpha); `run` checks
    the input cheaply and runs every layer back to back on buffers it owns (no
    Python between layers). The kernel and bias arrays are referenced, not copied:
    weights set in place (set_weights, an optimizer step) are seen by the next run.

    Parameters
    ----------
    layers : list of (w, b, act, alpha); w (n_in, units) C-contiguous float32 or
        float64, all one dtype, each layer's n_in the previous layer's units; b
        (units,) or None
    max_rows : the most rows one run takes
    softmax : apply a row softmax to the last layer's output
    """
    cdef int max_rows
    cdef readonly bint softmax  # whether run applies the row softmax

    def __init__(self, list layers, int max_rows, bint softmax):
        if max_rows < 1:
            raise ValueError(f"max_rows: expected an integer >= 1, got {max_rows}")
        self._start(layers, 4, "(w, b, act, alpha) tuple")  # pointers: w, b, out, z
        cdef Py_ssize_t i, units
        cdef Py_ssize_t* ptrs = <Py_ssize_t*>cnp.PyArray_DATA(self._ptrs)
        for i in range(self.n_layers):
            w, b, act, alpha = layers[i]
            units = self._layer(i, w, act, alpha, True)
            out = cnp.PyArray_EMPTY(2, [max_rows, units], self.t, 0)
            z = cnp.PyArray_EMPTY(2, [max_rows, units], self.t, 0) if act_needs_z(act) else None
            self._keep += [w, b, out, z]
            ptrs[4 * i + 1] = self._vector(b, f"layers[{i}] b", units, False)
            ptrs[4 * i + 2] = <Py_ssize_t>cnp.PyArray_DATA(out)
            ptrs[4 * i + 3] = 0 if z is None else <Py_ssize_t>cnp.PyArray_DATA(z)
        self.max_rows, self.softmax = max_rows, softmax

    def run(self, object x, int n_threads=1):
        """act(...act(x @ W0 + b0)... @ Wk + bk) (with the row softmax) as a new array,
        or None when x is not a C-contiguous (n <= max_rows, n_in) array of the
        chain's dtype holding finite values (the caller then takes its general path,
        which converts or explains)."""
        if not isinstance(x, cnp.ndarray):
            return None
        cdef cnp.ndarray a = <cnp.ndarray>x
        if (cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_TYPE(a) != self.t
                or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_DIMS(a)[1] != self.n_in):
            return None
        cdef Py_ssize_t n = cnp.PyArray_DIMS(a)[0]
        if n < 1 or n > self.max_rows:
            return None
        cdef cnp.ndarray result = cnp.PyArray_EMPTY(2, [n, self.n_out], self.t, 0)
        cdef bint ok
        if self.t == cnp.NPY_FLOAT32:
            with nogil:
                ok = self._run(<float*>cnp.PyArray_DATA(a), <float*>cnp.PyArray_DATA(result), n,
                               max(1, n_threads))
        else:
            with nogil:
                ok = self._run(<double*>cnp.PyArray_DATA(a), <double*>cnp.PyArray_DATA(result), n,
                               max(1, n_threads))
        return result if ok else None

    cdef bint _run(self, floating* x, floating* result, Py_ssize_t n, int n_threads) noexcept nogil:
        cdef Py_ssize_t i, last = self.n_layers - 1
        cdef const Py_ssize_t* ptrs = <Py_ssize_t*>cnp.PyArray_DATA(self._ptrs)
        cdef const Py_ssize_t* dims = <Py_ssize_t*>cnp.PyArray_DATA(self._dims)
        cdef const double* alphas = <double*>cnp.PyArray_DATA(self._alphas)
        cdef const floating* src = x
        cdef floating* dst
        if not finite_floats(x, n * self.n_in, floating is float):
            return False
        for i in range(self.n_layers):
            dst = result if i == last else <floating*>ptrs[4 * i + 2]
            _dense_forward(src, <floating*>ptrs[4 * i], <floating*>ptrs[4 * i + 1], dst,
                           <floating*>ptrs[4 * i + 3], <int>n, <int>dims[3 * i], <int>dims[3 * i + 1],
                           <int>dims[3 * i + 2], <floating>alphas[i], n_threads)
            src = dst
        if self.softmax:
            for i in range(n):
                softmax_row(result + i * self.n_out, self.n_out)
        return True


cdef class DenseStep(_DenseLayers):
    """The forward and backward passes of a stack of Dense layers, each in one call.

    A training step of a model made only of Dense layers with built-in activations
    spent ~1.5-2 us of Python per layer and pass (the layer method, the ops wrapper,
    argument checks); this runs the same kernels on the same buffers back to back
    with the GIL released once. Built from the layers' buffers for one capacity
    (rebuild it when the buffers are reallocated).

    Parameters
    ----------
    layers : list of (w, b, out, z, dw, db, dx, act, alpha), first layer first:
        w (n_in, units) and dw alike; b, db (units,) or None; out (capacity, units);
        z (capacity, units) for the activations that read it (act_needs_z), else
        None; dx (capacity, n_in), None for the first layer (no input gradient).
        All C-contiguous, one float dtype; each n_in the previous layer's units.
    capacity : rows the buffers hold
    """
    cdef Py_ssize_t capacity

    def __init__(self, list layers, Py_ssize_t capacity):
        self._start(layers, 7, "Dense layer's buffers")  # pointers: w, b, out, z, dw, db, dx
        cdef Py_ssize_t i, n_in, units, t = self.t
        cdef Py_ssize_t* ptrs = <Py_ssize_t*>cnp.PyArray_DATA(self._ptrs)
        for i in range(self.n_layers):
            w, b, out, z, dw, db, dx, act, alpha = layers[i]
            n_in = self.n_out
            units = self._layer(i, w, act, alpha, z is not None)
            check_array(out, f"layers[{i}] out", t, 2, capacity, units, True)
            check_array(dw, f"layers[{i}] dw", t, 2, n_in, units, True)
            if i == 0 and dx is not None:
                raise ValueError("layers[0] dx: expected None (the first layer has no input gradient)")
            if i > 0 and dx is None:
                raise ValueError(f"layers[{i}] dx: expected a (capacity, {n_in}) buffer, got None")
            if (b is None) != (db is None):
                raise ValueError(f"layers[{i}] b, db: expected both or neither")
            ptrs[7 * i + 1] = self._vector(b, f"layers[{i}] b", units, False)
            ptrs[7 * i + 2] = <Py_ssize_t>cnp.PyArray_DATA(out)
            if act_needs_z(act):
                ptrs[7 * i + 3] = <Py_ssize_t>data_or_null(z, f"layers[{i}] z", t, 2, capacity, units, True)
            ptrs[7 * i + 4] = <Py_ssize_t>cnp.PyArray_DATA(dw)
            ptrs[7 * i + 5] = self._vector(db, f"layers[{i}] db", units, True)
            ptrs[7 * i + 6] = <Py_ssize_t>data_or_null(dx, f"layers[{i}] dx", t, 2, capacity, n_in, True)
            self._keep += [w, b, out, z, dw, db, dx]
        self.capacity = capacity

    cdef int _check(self, cnp.ndarray a, str name, Py_ssize_t n, Py_ssize_t cols) except -1:
        if n < 0 or n > self.capacity:
            raise ValueError(f"n: expected 0 <= n <= {self.capacity} (the buffers' rows), got {n}")
        check_array(a, name, self.t, 2, n, cols, False)
        return 0

    def forward(self, cnp.ndarray x, Py_ssize_t n, int n_threads=1):
        """Every layer's out[:n] (and z[:n]) from the input rows x[:n]."""
        self._check(x, "x", n, self.n_in)
        n_threads = max(1, n_threads)
        if self.t == cnp.NPY_FLOAT32:
            with nogil:
                self._forward(<float*>cnp.PyArray_DATA(x), <int>n, n_threads)
        else:
            with nogil:
                self._forward(<double*>cnp.PyArray_DATA(x), <int>n, n_threads)

    def backward(self, cnp.ndarray x, cnp.ndarray dout, Py_ssize_t n, int n_threads=1):
        """Every layer's dw, db from the loss gradient dout[:n] w.r.t. the last layer's
        output (overwritten, as are the layers' dx) and the input rows x[:n] of forward."""
        cdef Py_ssize_t last = self.n_layers - 1
        self._check(x, "x", n, self.n_in)
        self._check(dout, "dout", n, (<Py_ssize_t*>cnp.PyArray_DATA(self._dims))[3 * last + 1])
        if not cnp.PyArray_ISWRITEABLE(dout):
            raise ValueError("dout: expected a writable array")
        n_threads = max(1, n_threads)
        if self.t == cnp.NPY_FLOAT32:
            with nogil:
                self._backward(<float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(dout), <int>n,
                               n_threads)
        else:
            with nogil:
                self._backward(<double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(dout), <int>n,
                               n_threads)

    cdef void _forward(self, const floating* x, int n, int n_threads) noexcept nogil:
        cdef const Py_ssize_t* p = <Py_ssize_t*>cnp.PyArray_DATA(self._ptrs)
        cdef const Py_ssize_t* d = <Py_ssize_t*>cnp.PyArray_DATA(self._dims)
        cdef const double* alphas = <double*>cnp.PyArray_DATA(self._alphas)
        cdef Py_ssize_t i
        for i in range(self.n_layers):
            _dense_forward(x, <floating*>p[7 * i], <floating*>p[7 * i + 1], <floating*>p[7 * i + 2],
                           <floating*>p[7 * i + 3], n, <int>d[3 * i], <int>d[3 * i + 1], <int>d[3 * i + 2],
                           <floating>alphas[i], n_threads)
            x = <floating*>p[7 * i + 2]

    cdef void _backward(self, const floating* x, floating* dy, int n, int n_threads) noexcept nogil:
        cdef const Py_ssize_t* p = <Py_ssize_t*>cnp.PyArray_DATA(self._ptrs)
        cdef const Py_ssize_t* d = <Py_ssize_t*>cnp.PyArray_DATA(self._dims)
        cdef const double* alphas = <double*>cnp.PyArray_DATA(self._alphas)
        cdef Py_ssize_t i
        cdef const floating* xi
        for i in range(self.n_layers - 1, -1, -1):
            xi = x if i == 0 else <floating*>p[7 * (i - 1) + 2]
            _dense_backward(xi, <floating*>p[7 * i], <floating*>p[7 * i + 2], <floating*>p[7 * i + 3],
                            dy, <floating*>p[7 * i + 4], <floating*>p[7 * i + 5], <floating*>p[7 * i + 6],
                            n, <int>d[3 * i], <int>d[3 * i + 1], <int>d[3 * i + 2], <floating>alphas[i],
                            n_threads)
            dy = <floating*>p[7 * i + 6]
