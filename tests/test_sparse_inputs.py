"""scipy.sparse CSR inputs and the zero-skipping first Dense layer.

References are plain numpy float64 (x @ W + b, X^T dZ, column sums) computed from
dense copies of the inputs, and the dense path of the same model.
"""
import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import fastnn  # noqa: E402
from fastnn import activations, layers, ops  # noqa: E402
from fastnn._core import sparse as ksparse  # noqa: E402

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def sparse_data(n, d, density, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random((n, d)) > density] = 0
    return X.astype(dtype)


def kernel_csr(X, dtype):
    c = sp.csr_matrix(X)
    return (c.indptr.astype(np.int64), c.indices.astype(np.int32), c.data.astype(dtype))


def act_ref(name, z):
    if name == "linear":
        return z, np.ones_like(z)
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(float)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    raise AssertionError(name)


def workspace(n_in, nnz, n, units, dtype):
    pad = ksparse.padded_units(units, np.dtype(dtype).num)
    return (np.empty(n_in + 1, np.int64), np.empty(max(nnz, 1), np.int32),
            np.empty(max(nnz, 1), dtype), np.empty(n * pad, dtype))


# -- kernels ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["linear", "relu", "tanh"])
@pytest.mark.parametrize("n, units", [(1, 40), (3, 70), (37, 130), (64, 64)])
def test_forward_backward_match_numpy(dtype, act, n, units):
    d = 53
    X = sparse_data(n, d, 0.3, seed=n + units, dtype=dtype)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((d, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    ip, ix, val = kernel_csr(X, dtype)
    code = activations.get(act).code
    out = np.empty((n, units), dtype)
    wp, wr, wv, wo = workspace(d, len(val), n, units, dtype)
    transposed = ksparse.csr_dense_forward(ip, ix, val, n, W, b, out, code, 2, 0.0, None,
                                           wp, wr, wv, wo)
    assert transposed == (n >= ksparse.CSC_MIN_ROWS)
    z = X.astype(np.float64) @ W.astype(np.float64) + b
    y, dact = act_ref(act, z)
    np.testing.assert_allclose(out, y, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)

    dy = rng.standard_normal((n, units)).astype(dtype)
    dz = dy.astype(np.float64) * dact
    dw = np.full_like(W, np.nan)  # every element must be written
    db = np.full_like(b, np.nan)
    ksparse.csr_dense_backward(ip, ix, val, n, out, dy, dw, db, code, wp, wr, wv, wo, transposed, 2)
    np.testing.assert_allclose(dw, X.T.astype(np.float64) @ dz, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    np.testing.assert_allclose(db, dz.sum(0), rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_and_column_kernels_agree_and_thread_counts_agree(dtype):
    """The CSR-row path (no workspace) and the CSC path sum in the same order; results
    do not depend on the thread count."""
    n, d, units = 200, 300, 256
    X = sparse_data(n, d, 0.2, seed=3, dtype=dtype)
    W = np.random.default_rng(2).standard_normal((d, units)).astype(dtype)
    ip, ix, val = kernel_csr(X, dtype)
    outs = []
    for threads, work in ((1, None), (1, True), (2, True), (2, None)):
        out = np.empty((n, units), dtype)
        ws = workspace(d, len(val), n, units, dtype) if work else (None,) * 4
        ksparse.csr_dense_forward(ip, ix, val, n, W, None, out, 0, threads, 0.0, None, *ws)
        outs.append(out)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    grads = []
    dy = np.random.default_rng(4).standard_normal((n, units)).astype(dtype)
    for threads in (1, 2):
        dw = np.empty_like(W)
        wp, wr, wv, wo = workspace(d, len(val), n, units, dtype)
        ksparse.csr_dense_backward(ip, ix, val, n, outs[0], dy.copy(), dw, None, 0, wp, wr, wv,
                                   wo, False, threads)
        grads.append(dw)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_kernels_refuse_out_of_range_columns_and_bad_offsets():
    W = np.ones((4, 8), np.float32)
    out = np.empty((1, 8), np.float32)
    with pytest.raises(ValueError, match="indices: expected column numbers in \\[0, 4\\)"):
        ksparse.csr_dense_forward(np.array([0, 2], np.int64), np.array([1, 9], np.int32),
                                  np.ones(2, np.float32), 1, W, None, out, 0)
    with pytest.raises(ValueError, match="indptr"):
        ksparse.csr_dense_forward(np.array([0, 5], np.int64), np.array([1, 2], np.int32),
                                  np.ones(2, np.float32), 1, W, None, out, 0)


def test_gathers_match_scipy_and_buffer_grows():
    X = sparse_data(50, 30, 0.4, seed=5, dtype=np.float32)
    rows = ops.SparseRows(*kernel_csr(X, np.float32), 30)
    order = np.random.default_rng(0).permutation(50).astype(np.int64)
    buf = ops.CSRBatchBuffer(20, 30, np.float32, capacity=3)  # forces growth
    got = buf.gather_csr(rows, order, 5, 25)
    dense = np.empty((20, 30), np.float32)
    ops.csr_gather_dense(got, None, 0, 20, dense)
    np.testing.assert_array_equal(dense, X[order[5:25]])
    got = buf.gather_dense(X, order, 5, 25)
    ops.csr_gather_dense(got, None, 0, 20, dense)
    np.testing.assert_array_equal(dense, X[order[5:25]])
    cap = len(buf.indices)
    buf.gather_dense(X, order[::-1].copy(), 25, 45)  # the same rows: they fit, no new buffers
    assert len(buf.indices) == cap


# -- the model -----------------------------------------------------------------------------------

def make_model(dtype, zero_skipping="auto", first=None, act="relu"):
    stack = ([first] if first is not None else []) + [
        layers.Dense(24, activation=act), layers.Dense(16, activation="tanh"), layers.Dense(3)]
    m = fastnn.Sequential(stack, seed=7, dtype=dtype)
    m.zero_skipping = zero_skipping
    m.compile(optimizer=fastnn.optimizers.Adam(learning_rate=1e-2), loss="softmax_cross_entropy",
              metrics=["accuracy"])
    return m


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_fit_on_csr_equals_fit_on_dense(dtype, tol, act):
    X = sparse_data(300, 50, 0.15, seed=11)
    y = np.random.default_rng(3).integers(0, 3, 300)
    dense = make_model(dtype, "never", act=act)
    hd = dense.fit(X, y, epochs=3, batch_size=32, verbose=0)
    sparse = make_model(dtype, act=act)
    hs = sparse.fit(sp.csr_matrix(X), y, epochs=3, batch_size=32, verbose=0,
                    validation_data=(sp.csr_matrix(X[:40]), y[:40]))
    for a, b in zip(sparse.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=tol)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=tol, atol=tol)
    es, ed = sparse.evaluate(sp.csr_matrix(X), y), dense.evaluate(X, y)
    assert es["accuracy"] == ed["accuracy"]
    np.testing.assert_allclose(es["loss"], ed["loss"], rtol=tol)


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-6), ("float64", 1e-12)])
def test_zero_skipping_dense_inputs_equals_dense_path(dtype, tol):
    X = sparse_data(200, 50, 0.1, seed=12)
    y = np.random.default_rng(4).integers(0, 3, 200)
    a, b = make_model(dtype, "always"), make_model(dtype, "never")
    a.fit(X, y, epochs=2, batch_size=16, verbose=0)
    b.fit(X, y, epochs=2, batch_size=16, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)
    for rows in (1, 5, 200):  # batch-1 row kernel and the column kernel
        np.testing.assert_allclose(a.predict(X[:rows]), b.predict(X[:rows]), rtol=tol, atol=tol)


def test_gradients_on_csr_match_numpy_reference():
    """One softmax-CE layer: dW = X^T (softmax(XW + b) - onehot) / n, db = column sums / n."""
    X = sparse_data(20, 12, 0.3, seed=13)
    y = np.random.default_rng(5).integers(0, 4, 20)
    m = fastnn.Sequential([layers.Dense(4)], seed=0, dtype="float64")
    m.compile("sgd", "softmax_cross_entropy")
    loss, (dw, db) = m.compute_gradients(sp.csr_matrix(X), y)
    W, b = m.get_weights()
    z = X @ W + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = p.copy()
    g[np.arange(20), y] -= 1
    g /= 20
    np.testing.assert_allclose(dw, X.T @ g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(20), y]).mean(), rtol=1e-12)


def test_gradient_check_finite_differences_on_csr():
    """Central differences of the loss (evaluated on the CSR input) against the sparse
    backward pass, first-layer kernel and bias."""
    X = sparse_data(10, 8, 0.4, seed=14)
    y = np.random.default_rng(6).integers(0, 3, 10)
    m = fastnn.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(3)], seed=2,
                          dtype="float64")
    m.compile("sgd", "softmax_cross_entropy")
    Xs = sp.csr_matrix(X)
    _, grads = m.compute_gradients(Xs, y)
    grads = [g.copy() for g in grads]
    W = m.trainable_weights[0]
    eps = 1e-6
    for idx in [(0, 0), (3, 2), (7, 4), (5, 1)]:
        old = W[idx]
        W[idx] = old + eps
        lp = m.evaluate(Xs, y)["loss"]
        W[idx] = old - eps
        lm = m.evaluate(Xs, y)["loss"]
        W[idx] = old
        np.testing.assert_allclose(grads[0][idx], (lp - lm) / (2 * eps), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("fmt", ["coo", "csc", "lil"])
def test_other_formats_are_converted(fmt):
    X = sparse_data(40, 10, 0.3, seed=15)
    m = make_model("float64")
    m.build((None, 10))
    expected = m.predict(X)
    np.testing.assert_allclose(m.predict(sp.csr_matrix(X).asformat(fmt)), expected, rtol=1e-12)


def test_sparse_input_with_a_first_layer_that_is_not_dense():
    """A Dropout (or any layer) first: CSR batches are made dense, results unchanged."""
    X = sparse_data(60, 10, 0.3, seed=16)
    y = np.random.default_rng(7).integers(0, 3, 60)
    a = make_model("float64", first=layers.Dropout(0.0))
    b = make_model("float64", first=layers.Dropout(0.0))
    a.fit(sp.csr_matrix(X), y, epochs=2, batch_size=8, verbose=0)
    b.fit(X, y, epochs=2, batch_size=8, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


def test_steady_state_reuses_sparse_buffers():
    X = sp.csr_matrix(sparse_data(128, 20, 0.3, seed=17))
    y = np.random.default_rng(8).integers(0, 3, 128)
    m = make_model("float32")
    m.fit(X, y, epochs=1, batch_size=32, verbose=0)
    bufs = (m._csrbuf.indices, m.layers[0]._sparse_work.rows, m.layers[0]._sparse_work.out)
    m.fit(X, y, epochs=2, batch_size=32, verbose=0)
    assert all(a is b for a, b in zip(bufs, (m._csrbuf.indices, m.layers[0]._sparse_work.rows,
                                             m.layers[0]._sparse_work.out)))


# -- bad input -----------------------------------------------------------------------------------

def test_bad_sparse_inputs_give_clear_errors():
    m = make_model("float32")
    m.build((None, 5))
    y = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="x: expected 5 features \\(columns\\), got 4"):
        m.predict(sp.csr_matrix(np.ones((3, 4))))
    bad = sp.csr_matrix(np.eye(3, 5))
    bad.data[1] = np.nan
    with pytest.raises(ValueError, match="x: expected finite values, got nan at index \\(1, 1\\)"):
        m.fit(bad, y, verbose=0)
    uns = sp.csr_matrix((np.array([1.0, 2.0]), np.array([3, 1]), np.array([0, 2, 2, 2])), shape=(3, 5))
    with pytest.raises(ValueError, match="unsorted indices in row 0.*sort_indices"):
        m.evaluate(uns, y)
    oob = sp.csr_matrix(np.eye(3, 5))
    oob.indices[2] = 7
    with pytest.raises(ValueError, match="column indices in \\[0, 5\\), got 7"):
        m.predict(oob)
    with pytest.raises(ValueError, match="y: has 3 rows but x has 2"):
        m.fit(sp.csr_matrix(np.ones((2, 5))), y, verbose=0)
    with pytest.raises(ValueError, match="zero_skipping: expected"):
        m.zero_skipping = "sometimes"


def test_sparse_input_refused_for_a_model_of_nd_samples():
    m = fastnn.Sequential([layers.Input((2, 3)), layers.Flatten(), layers.Dense(2)])
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match="samples of shape \\(2, 3\\)"):
        m.predict(sp.csr_matrix(np.ones((2, 6))))


def test_gradient_check_accepts_a_sparse_batch():
    import scipy.sparse as sp
    rng = np.random.default_rng(30)
    X = sp.random(12, 20, density=0.2, format="csr", random_state=1)
    y = rng.integers(0, 3, 12)
    model = fastnn.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    assert max(fastnn.gradient_check(model, X, y).values()) < 1e-6
