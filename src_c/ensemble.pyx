# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Kernels of fastnn.ensemble: N dense networks of one architecture in one pass.

Layout (one source of truth: `ensemble_layout`, which the Python side reads).
With N members and layer sizes dims = [d0, d1, ..., dL]:

- Parameters, one flat arena, layer by layer:
  * layer 0: W0 as one (d0, N*d1) matrix, member k owning columns k*d1:(k+1)*d1,
    so that the first layer of every member is ONE GEMM  X @ W0_all;
  * layer l > 0: W_l as (N, d_l, d_{l+1}) (member k's matrix contiguous);
  * every layer: b_l as (N, d_{l+1}).
- Activations of layer l: (rows, N*d_{l+1}) with member k's block at columns
  k*d_{l+1}: every member of layer l > 0 reads its input block with a row stride
  (a GEMM's lda), so nothing is copied, and the bias + activation pass runs over
  all members' columns at once.

A training step (`ensemble_step`) is one call: forward (on one thread: one GEMM
for layer 0, N GEMMs per deeper layer), the weighted loss and its gradient per
member, the backward pass (layer 0's weight gradient one GEMM X^T @ delta_all)
into the gradient arena. The caller then runs ONE optimizer call over the arena.

Threads: with N a multiple of the thread count (or at least twice it) and enough
work, each thread runs whole members (forward, loss, backward: layer 0 as the
member's column block of W0_all), one parallel region per step and no barrier
inside; every buffer is laid out so that members write disjoint blocks (one delta
buffer per layer, like the activations). Otherwise layer 0 is the one GEMM, split
across the team when large (_blas.gemm_par), the N small GEMMs of a deeper layer
run one member per thread or in turn, element-wise passes split rows (forward)
or columns (backward: each bias-gradient column summed in row order), and the
loss splits members. Each output element is computed by one BLAS call on one
thread either way, so results depend on the thread count at most through the
split of GEMMs (as everywhere in fastnn).
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange

from _activations cimport (ACT_COUNT, ACT_LINEAR, ACT_PARALLEL_MIN, act_bias_cols,
                           act_bias_cols_par, act_needs_z, act_rowwise, bias_act_row,
                           bias_act_rows)
from _arrays cimport check_array, first_bad_label, float_type
from _blas cimport gemm_par, gemm_rm
from _math cimport fexp, flog

cnp.import_array()

cdef enum:
    MAX_LAYERS = 64
    MEMBER_GEMM_MAX = 1 << 20

# Threads work on whole members when the members balance over them and a step's
# forward multiply-adds (all members) reach this (members_in_parallel: one parallel
# region per step, no barrier inside); otherwise members run in turn, each GEMM
# split by gemm_par when large, and the member loops of a deeper layer run one
# member per thread when that layer's work reaches it (member_gemms). The value is
# gemm_par's split size (a team pays from ~1M multiply-adds per region, _blas.pxd).
# Every parallel region costs a scheduler time slice when the other core is busy:
# at load ~15 on 2 cores, 64-64-10 batch 32 with five regions per step (split
# layer-0 GEMMs, member loops) ran 20-80x slower at 2 threads than at 1, hence
# whole members per thread. A variable (not an enum) so that benchmarks can move it.
cdef double member_par_min = 1 << 20


def _set_member_par_min(double value):
    """Set the member-parallel threshold (multiply-adds); returns the old one. For benchmarks."""
    global member_par_min
    old = member_par_min
    member_par_min = value
    return old

TASK_CLASSIFICATION = 0
TASK_REGRESSION = 1
MAX_DEPTH = MAX_LAYERS


ctypedef struct Plan:
    int n_layers
    int n_members
    int dims[MAX_LAYERS + 1]
    Py_ssize_t w_off[MAX_LAYERS]
    Py_ssize_t b_off[MAX_LAYERS]
    Py_ssize_t a_off[MAX_LAYERS]
    Py_ssize_t n_params
    Py_ssize_t n_acts


cdef int make_plan(Plan* p, cnp.ndarray dims, int n_members, Py_ssize_t capacity) except -1:
    cdef Py_ssize_t l, off = 0, aoff = 0, u
    check_array(dims, "dims", cnp.NPY_INT64, 1, 2, -1, False)
    if dims.shape[0] > MAX_LAYERS + 1:
        raise ValueError(f"dims: expected at most {MAX_LAYERS + 1} sizes, got {dims.shape[0]}")
    if n_members < 1:
        raise ValueError(f"n_members: expected an integer >= 1, got {n_members}")
    if capacity < 0:
        raise ValueError(f"capacity: expected an integer >= 0, got {capacity}")
    cdef const cnp.int64_t* d = <cnp.int64_t*>cnp.PyArray_DATA(dims)
    p.n_layers = <int>dims.shape[0] - 1
    p.n_members = n_members
    for l in range(dims.shape[0]):
        if d[l] < 1 or d[l] > (1 << 30):
            raise ValueError(f"dims[{l}]: expected a size in [1, 2**30], got {d[l]}")
        p.dims[l] = <int>d[l]
    for l in range(p.n_layers):
        u = p.dims[l + 1]
        if <double>n_members * u > (1 << 30):
            raise ValueError(f"n_members * dims[{l + 1}]: expected at most 2**30, got {n_members * u}")
        p.w_off[l] = off
        off += <Py_ssize_t>n_members * p.dims[l] * u
        p.b_off[l] = off
        off += <Py_ssize_t>n_members * u
        p.a_off[l] = aoff
        aoff += capacity * n_members * u
    p.n_params = off
    p.n_acts = aoff
    return 0


def ensemble_layout(cnp.ndarray dims, int n_members, Py_ssize_t capacity=0):
    """The arena layout for layer sizes `dims` (int64) and `n_members`.

    Returns a dict: w_offsets, b_offsets (per layer, into the parameter arena),
    n_params, act_offsets (per layer, into an activation (or delta) buffer for
    `capacity` rows) and n_acts (the size of such a buffer).
    """
    cdef Plan p
    make_plan(&p, dims, n_members, capacity)
    return {
        "w_offsets": [p.w_off[l] for l in range(p.n_layers)],
        "b_offsets": [p.b_off[l] for l in range(p.n_layers)],
        "n_params": p.n_params,
        "act_offsets": [p.a_off[l] for l in range(p.n_layers)],
        "n_acts": p.n_acts,
    }


# -- the per-layer passes ---------------------------------------------------------------------

cdef void member_gemms(bint ta, bint tb, int m, int nn, int kk,
                       const floating* a, int lda, Py_ssize_t a_step,
                       const floating* b, int ldb, Py_ssize_t b_step,
                       floating* c, int ldc, Py_ssize_t c_step,
                       int n_members, int n_threads) noexcept nogil:
    """For each member k: C_k = op(A_k) @ op(B_k), A_k = a + k * a_step (likewise B, C)."""
    cdef int k
    cdef floating one = 1, zero = 0
    cdef double work = <double>m * nn * kk
    if (n_threads > 1 and n_members > 1 and work * n_members >= member_par_min
            and work < MEMBER_GEMM_MAX):
        for k in prange(n_members, nogil=True, schedule="static", num_threads=n_threads):
            gemm_rm(ta, tb, m, nn, kk, one, a + k * a_step, lda, b + k * b_step, ldb, zero,
                    c + k * c_step, ldc)
    else:
        for k in range(n_members):
            gemm_par(ta, tb, m, nn, kk, one, a + k * a_step, lda, b + k * b_step, ldb, zero,
                     c + k * c_step, ldc, n_threads)


cdef void forward(const Plan* p, const floating* x, Py_ssize_t n, const floating* params,
                  floating* acts, floating* zs, int act, floating alpha,
                  int n_threads) noexcept nogil:
    cdef int l, a, u, width, la, N = p.n_members
    cdef floating* y
    cdef floating* z
    cdef const floating* xin
    for l in range(p.n_layers):
        a = p.dims[l]
        u = p.dims[l + 1]
        width = N * u
        la = ACT_LINEAR if l == p.n_layers - 1 else act
        y = acts + p.a_off[l]
        z = zs + p.a_off[l] if (zs != NULL and act_needs_z(la)) else y
        if l == 0:
            gemm_par(False, False, <int>n, width, a, 1, x, a, params + p.w_off[0], width, 0,
                     z, width, n_threads)
        else:
            xin = acts + p.a_off[l - 1]
            member_gemms(False, False, <int>n, u, a, xin, N * a, a,
                         params + p.w_off[l], u, <Py_ssize_t>a * u, z, width, u, N, n_threads)
        bias_act_rows(z, y, params + p.b_off[l], n, width, la, alpha, n_threads)


cdef void backward(const Plan* p, const floating* x, Py_ssize_t n, const floating* params,
                   floating* grads, const floating* acts, const floating* zs, floating* deltas,
                   int act, floating alpha, int n_threads) noexcept nogil:
    """deltas (layout of acts) holds d(loss)/d(output) at the last layer's offset; writes
    each layer's delta at its offset and the whole gradient arena."""
    cdef int l, a, u, width, la, N = p.n_members
    cdef floating* cur
    cdef const floating* xin
    for l in range(p.n_layers - 1, -1, -1):
        cur = deltas + p.a_off[l]
        a = p.dims[l]
        u = p.dims[l + 1]
        width = N * u
        la = ACT_LINEAR if l == p.n_layers - 1 else act
        act_bias_cols_par(cur, acts + p.a_off[l],
                      zs + p.a_off[l] if (zs != NULL and act_needs_z(la)) else NULL,
                      grads + p.b_off[l], n, width, la, alpha, n_threads,
                      n * width >= ACT_PARALLEL_MIN)
        if l == 0:
            # dW0_all = X^T @ delta_all: one GEMM for every member
            gemm_par(True, False, a, width, <int>n, 1, x, a, cur, width, 0, grads + p.w_off[0],
                     width, n_threads)
        else:
            xin = acts + p.a_off[l - 1]
            # dW_k = H_k^T @ delta_k
            member_gemms(True, False, a, u, <int>n, xin, N * a, a, cur, width, u,
                         grads + p.w_off[l], u, <Py_ssize_t>a * u, N, n_threads)
            # dH_k = delta_k @ W_k^T, into the previous layer's delta (row stride N * a)
            member_gemms(False, True, <int>n, a, u, cur, width, u, params + p.w_off[l], u,
                         <Py_ssize_t>a * u, deltas + p.a_off[l - 1], N * a, a, N, n_threads)


# -- the member-parallel path: one thread runs whole members ---------------------------------

cdef void member_forward(const Plan* p, int k, const floating* x, Py_ssize_t n,
                         const floating* params, floating* acts, floating* zs, int act,
                         floating alpha) noexcept nogil:
    """Member k's forward pass on the calling thread: its column blocks of every layer
    (layer 0 reads W0_all's columns k*d1.. with the row stride of the whole matrix)."""
    cdef int l, a, u, width, la, N = p.n_members
    cdef Py_ssize_t i
    cdef floating* y
    cdef floating* z
    cdef floating one = 1, zero = 0
    for l in range(p.n_layers):
        a = p.dims[l]
        u = p.dims[l + 1]
        width = N * u
        la = ACT_LINEAR if l == p.n_layers - 1 else act
        y = acts + p.a_off[l] + k * u
        z = zs + p.a_off[l] + k * u if (zs != NULL and act_needs_z(la)) else y
        if l == 0:
            gemm_rm(False, False, <int>n, u, a, one, x, a, params + p.w_off[0] + k * u, width,
                    zero, z, width)
        else:
            gemm_rm(False, False, <int>n, u, a, one, acts + p.a_off[l - 1] + k * a, N * a,
                    params + p.w_off[l] + <Py_ssize_t>k * a * u, u, zero, z, width)
        for i in range(n):
            bias_act_row(z + i * width, y + i * width, params + p.b_off[l] + k * u, u, la, alpha)


cdef void member_backward(const Plan* p, int k, const floating* x, Py_ssize_t n,
                          const floating* params, floating* grads, const floating* acts,
                          const floating* zs, floating* deltas, int act,
                          floating alpha) noexcept nogil:
    """Member k's backward pass on the calling thread, from its block of the last layer's
    delta; it reads and writes only its own column blocks of the activation and delta
    buffers (one delta per layer: a ping-pong pair would let a member on a lower layer
    overwrite, in that layer's narrower or wider layout, a block another member still reads)."""
    cdef int l, a, u, width, la, N = p.n_members
    cdef floating* cur
    cdef floating one = 1, zero = 0
    for l in range(p.n_layers - 1, -1, -1):
        cur = deltas + p.a_off[l]
        a = p.dims[l]
        u = p.dims[l + 1]
        width = N * u
        la = ACT_LINEAR if l == p.n_layers - 1 else act
        act_bias_cols(cur, acts + p.a_off[l],
                      zs + p.a_off[l] if (zs != NULL and act_needs_z(la)) else NULL,
                      grads + p.b_off[l], n, width, la, alpha, <Py_ssize_t>k * u,
                      <Py_ssize_t>(k + 1) * u)
        if l == 0:
            gemm_rm(True, False, a, u, <int>n, one, x, a, cur + k * u, width, zero,
                    grads + p.w_off[0] + k * u, width)
        else:
            gemm_rm(True, False, a, u, <int>n, one, acts + p.a_off[l - 1] + k * a, N * a,
                    cur + k * u, width, zero, grads + p.w_off[l] + <Py_ssize_t>k * a * u, u)
            gemm_rm(False, True, <int>n, a, u, one, cur + k * u, width,
                    params + p.w_off[l] + <Py_ssize_t>k * a * u, u, zero,
                    deltas + p.a_off[l - 1] + k * a, N * a)


cdef bint members_in_parallel(const Plan* p, Py_ssize_t n, int n_threads) noexcept nogil:
    """Whether to run whole members on threads (one parallel region per call, no barrier
    inside) rather than one member after the other with split GEMMs: when the members
    balance over the threads and the step has the work of at least one split GEMM."""
    cdef int l, N = p.n_members
    cdef double work = 0
    if n_threads <= 1 or N < 2 or (N % n_threads != 0 and N < 2 * n_threads):
        return False
    for l in range(p.n_layers):
        work += <double>n * p.dims[l] * p.dims[l + 1] * N
    return work >= member_par_min


# -- losses: one member's weighted loss and gradient over the batch rows ----------------------

cdef void member_xent(int k, const floating* out, const cnp.int64_t* labels, const floating* w,
                      floating* grad, Py_ssize_t n, int N, int C, double scale,
                      double* loss) noexcept nogil:
    """loss[k] = scale * sum_i w_ik (lse(z_ik) - z_ik[y_i]); grad_ik = scale * w_ik * (softmax(z_ik) - e_y)."""
    cdef Py_ssize_t i, j, row
    cdef const floating* z
    cdef floating* g
    cdef floating mx, wk, e, s, inv
    cdef double total = 0
    for i in range(n):
        row = (i * N + k) * C
        z = out + row
        g = grad + row
        wk = w[i * N + k] if w != NULL else 1
        mx = z[0]
        for j in range(1, C):
            if z[j] > mx:
                mx = z[j]
        s = 0
        for j in range(C):
            e = fexp(z[j] - mx)
            g[j] = e
            s += e
        total += wk * (<double>flog(s) + mx - z[labels[i]])
        inv = <floating>(scale * wk) / s
        for j in range(C):
            g[j] = g[j] * inv
        g[labels[i]] -= <floating>(scale * wk)
    loss[k] = total * scale


cdef void member_mse(int k, const floating* out, const floating* t, const floating* w,
                     floating* grad, Py_ssize_t n, int N, int K, double scale,
                     double* loss) noexcept nogil:
    """loss[k] = scale * sum_i w_ik mean_j (p - t)^2; grad = 2 * scale * w_ik * (p - t) / K."""
    cdef Py_ssize_t i, j, row
    cdef floating wk, diff, c
    cdef double total = 0, acc
    for i in range(n):
        row = (i * N + k) * K
        wk = w[i * N + k] if w != NULL else 1
        c = <floating>(2.0 * scale * wk / K)
        acc = 0
        for j in range(K):
            diff = out[row + j] - t[i * K + j]
            acc += <double>diff * diff
            grad[row + j] = c * diff
        total += wk * (acc / K)
    loss[k] = total * scale


cdef void loss_grad(int task, const floating* out, const void* targets, const floating* w,
                    floating* grad, Py_ssize_t n, int N, int K, double scale, double* loss,
                    int n_threads) noexcept nogil:
    cdef int k
    if n_threads > 1 and N > 1 and n * N * K >= ACT_PARALLEL_MIN // 4:
        for k in prange(N, nogil=True, schedule="static", num_threads=n_threads):
            if task == 0:
                member_xent(k, out, <const cnp.int64_t*>targets, w, grad, n, N, K, scale, loss)
            else:
                member_mse(k, out, <const floating*>targets, w, grad, n, N, K, scale, loss)
    else:
        for k in range(N):
            if task == 0:
                member_xent(k, out, <const cnp.int64_t*>targets, w, grad, n, N, K, scale, loss)
            else:
                member_mse(k, out, <const floating*>targets, w, grad, n, N, K, scale, loss)


cdef void run_forward(const Plan* p, const floating* x, Py_ssize_t n, const floating* params,
                      floating* acts, floating* zs, int act, floating alpha,
                      int n_threads) noexcept nogil:
    cdef int k
    if members_in_parallel(p, n, n_threads):
        for k in prange(p.n_members, nogil=True, schedule="static", num_threads=n_threads):
            member_forward(p, k, x, n, params, acts, zs, act, alpha)
    else:
        forward(p, x, n, params, acts, zs, act, alpha, n_threads)


cdef void run_step(const Plan* p, const floating* x, Py_ssize_t n, const floating* params,
                   floating* grads, floating* acts, floating* zs, floating* deltas,
                   int act, floating alpha, int task, const void* targets, const floating* w,
                   double scale, double* loss, int n_threads) noexcept nogil:
    cdef int k, N = p.n_members, K = p.dims[p.n_layers]
    cdef floating* out = acts + p.a_off[p.n_layers - 1]
    cdef floating* dout = deltas + p.a_off[p.n_layers - 1]
    if members_in_parallel(p, n, n_threads):
        for k in prange(N, nogil=True, schedule="static", num_threads=n_threads):
            member_forward(p, k, x, n, params, acts, zs, act, alpha)
            if task == 0:
                member_xent(k, out, <const cnp.int64_t*>targets, w, dout, n, N, K, scale, loss)
            else:
                member_mse(k, out, <const floating*>targets, w, dout, n, N, K, scale, loss)
            member_backward(p, k, x, n, params, grads, acts, zs, deltas, act, alpha)
    else:
        forward(p, x, n, params, acts, zs, act, alpha, n_threads)
        loss_grad(task, out, targets, w, dout, n, N, K, scale, loss, n_threads)
        backward(p, x, n, params, grads, acts, zs, deltas, act, alpha, n_threads)


# -- def kernels --------------------------------------------------------------------------------

cdef int check_common(Plan* p, cnp.ndarray x, Py_ssize_t n, cnp.ndarray params, cnp.ndarray dims,
                      int n_members, int act, Py_ssize_t capacity, cnp.ndarray acts, object zs,
                      int t) except -1:
    make_plan(p, dims, n_members, capacity)
    if n < 1 or n > capacity:
        raise ValueError(f"n: expected a row count in [1, capacity={capacity}], got {n}")
    check_array(x, "x", t, 2, n, p.dims[0], False)
    check_array(params, "params", t, 1, p.n_params, -1, False)
    if params.shape[0] != p.n_params:
        raise ValueError(f"params: expected {p.n_params} elements, got {params.shape[0]}")
    check_array(acts, "acts", t, 1, p.n_acts, -1, True)
    if act < 0 or act >= ACT_COUNT or act_rowwise(act):
        raise ValueError(f"act: expected an element-wise activation code in [0, {ACT_COUNT}), got {act}")
    if act_needs_z(act):
        if zs is None:
            raise ValueError(f"zs: activation code {act} reads the pre-activation: expected a buffer, got None")
        check_array(zs, "zs", t, 1, p.n_acts, -1, True)
    return 0


cdef inline void* zs_ptr(object zs, int act):
    return cnp.PyArray_DATA(<cnp.ndarray>zs) if act_needs_z(act) else NULL


def ensemble_forward(cnp.ndarray x, Py_ssize_t n, cnp.ndarray params, cnp.ndarray dims,
                     int n_members, int act, double alpha, Py_ssize_t capacity, cnp.ndarray acts,
                     object zs, int n_threads=1):
    """Forward pass of every member over x[:n]; the outputs (linear: logits or values)
    land in acts at the last layer's offset as an (n, n_members * dims[-1]) block.

    x : (>= n, dims[0]); params : the arena (ensemble_layout's n_params);
    acts : (ensemble_layout(dims, n_members, capacity)["n_acts"],) written;
    zs : like acts, or None unless act needs the pre-activation (gelu, silu, mish).
    """
    cdef Plan p
    cdef int t = float_type(params, "params")
    check_common(&p, x, n, params, dims, n_members, act, capacity, acts, zs, t)
    cdef void* zp = zs_ptr(zs, act)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            run_forward(&p, <float*>cnp.PyArray_DATA(x), n, <float*>cnp.PyArray_DATA(params),
                        <float*>cnp.PyArray_DATA(acts), <float*>zp, act, <float>alpha, n_threads)
    else:
        with nogil:
            run_forward(&p, <double*>cnp.PyArray_DATA(x), n, <double*>cnp.PyArray_DATA(params),
                        <double*>cnp.PyArray_DATA(acts), <double*>zp, act, alpha, n_threads)


def ensemble_step(cnp.ndarray x, Py_ssize_t n, cnp.ndarray targets, object weights,
                  cnp.ndarray params, cnp.ndarray grads, cnp.ndarray dims, int n_members, int act,
                  double alpha, int task, double scale, Py_ssize_t capacity, cnp.ndarray acts,
                  object zs, cnp.ndarray deltas, cnp.ndarray member_loss, int n_threads=1):
    """Forward, weighted loss and backward of every member on the batch x[:n].

    Parameters
    ----------
    x : (>= n, dims[0]) the batch (shared by all members)
    targets : task 0 (softmax cross-entropy): int64 labels (>= n,) in [0, dims[-1]);
        task 1 (mean squared error): (>= n, dims[-1]) in the dtype of params
    weights : (>= n, n_members) per-row, per-member weights (bootstrap counts), or None (1)
    params, grads : the arenas; grads is overwritten with d(loss_k)/d(params of k)
    scale : factor of each member's loss: loss_k = scale * sum_i w_ik l_ik (1 / n: the mean)
    acts, zs : as ensemble_forward; deltas : like acts, written (each layer's d loss / d z)
    member_loss : (>= n_members,) float64, receives loss_k
    """
    cdef Plan p
    cdef int t = float_type(params, "params")
    check_common(&p, x, n, params, dims, n_members, act, capacity, acts, zs, t)
    check_array(grads, "grads", t, 1, p.n_params, -1, True)
    check_array(deltas, "deltas", t, 1, p.n_acts, -1, True)
    check_array(member_loss, "member_loss", cnp.NPY_FLOAT64, 1, n_members, -1, True)
    cdef int K = p.dims[p.n_layers]
    cdef Py_ssize_t bad
    if task == 0:
        check_array(targets, "targets", cnp.NPY_INT64, 1, n, -1, False)
        bad = first_bad_label(<cnp.int64_t*>cnp.PyArray_DATA(targets), n, K)
        if bad >= 0:
            raise ValueError(f"targets: expected labels in [0, {K}), got {targets[bad]} at row {bad}")
    elif task == 1:
        check_array(targets, "targets", t, 2, n, K, False)
    else:
        raise ValueError(f"task: expected 0 (classification) or 1 (regression), got {task}")
    cdef void* wp = NULL
    if weights is not None:
        check_array(weights, "weights", t, 2, n, n_members, False)
        wp = cnp.PyArray_DATA(<cnp.ndarray>weights)
    cdef void* zp = zs_ptr(zs, act)
    cdef void* tp = cnp.PyArray_DATA(targets)
    cdef double* lp = <double*>cnp.PyArray_DATA(member_loss)
    n_threads = max(1, n_threads)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            run_step(&p, <float*>cnp.PyArray_DATA(x), n, <float*>cnp.PyArray_DATA(params),
                     <float*>cnp.PyArray_DATA(grads), <float*>cnp.PyArray_DATA(acts), <float*>zp,
                     <float*>cnp.PyArray_DATA(deltas), act, <float>alpha,
                     task, tp, <float*>wp, scale, lp, n_threads)
    else:
        with nogil:
            run_step(&p, <double*>cnp.PyArray_DATA(x), n, <double*>cnp.PyArray_DATA(params),
                     <double*>cnp.PyArray_DATA(grads), <double*>cnp.PyArray_DATA(acts), <double*>zp,
                     <double*>cnp.PyArray_DATA(deltas), act, alpha,
                     task, tp, <double*>wp, scale, lp, n_threads)
