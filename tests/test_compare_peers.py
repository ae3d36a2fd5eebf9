"""Smoke test of benchmarks/compare_peers.py on tiny sizes, over the peers installed here.

The frameworks must start from the same weights, agree on the first step's loss and,
after a few Adam steps over the same batches, on the weights; both are checked against
a float64 numpy reference written from the formulas (softmax cross-entropy, PyTorch's
Adam), not against any one framework.
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)
compare_peers = pytest.importorskip("compare_peers")

SIZES, BATCH = [12, 9, 7, 3], 4
# torch.compile costs seconds per model: it is checked once, in its own test.
NEEDS = {"torch": "torch", "torch_compile": "torch", "jax_jit": "jax", "jax_scan": "jax",
         "sklearn": "sklearn", "numpy": "numpy", "fastnn": "fastnn"}
FAST = [k for k in compare_peers.FRAMEWORKS
        if k != "torch_compile" and importlib.util.find_spec(NEEDS[k]) is not None]


@pytest.fixture(autouse=True)
def _keep_thread_settings(monkeypatch):
    """The script sets fastnn's and torch's thread counts process-wide: restore them."""
    import fastnn._threads
    monkeypatch.setattr(fastnn._threads, "_num_threads", fastnn._threads._num_threads)
    torch = sys.modules.get("torch") if importlib.util.find_spec("torch") else None
    before = torch.get_num_threads() if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None:
        torch.set_num_threads(before)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return X, y


def _weights():
    return compare_peers.make_fastnn(SIZES).get_weights()


def _ref_loss_grads(w, x, y):
    """float64 mean softmax cross-entropy of an MLP (relu hidden layers) and its gradients."""
    acts = [x]
    for i in range(len(w) // 2):
        z = acts[-1] @ w[2 * i] + w[2 * i + 1]
        acts.append(np.maximum(z, 0) if i < len(w) // 2 - 1 else z)
    z = acts[-1]
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    loss = np.mean(lse - z[np.arange(len(y)), y])
    d = np.exp(z - lse[:, None])
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    grads = [None] * len(w)
    for i in reversed(range(len(w) // 2)):
        grads[2 * i], grads[2 * i + 1] = acts[i].T @ d, d.sum(0)
        d = (d @ w[2 * i].T) * (acts[i] > 0)
    return loss, grads


def _ref_train(w, X, y, batch):
    """PyTorch's Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8 added to sqrt(v_hat)) in float64."""
    w = [a.astype(np.float64) for a in w]
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    for t, start in enumerate(range(0, len(X), batch), 1):
        _, g = _ref_loss_grads(w, X[start:start + batch].astype(np.float64), y[start:start + batch])
        for k in range(len(w)):
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            w[k] = w[k] - 1e-3 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return w


def _trainers(names, weights, scan=2):
    skipped = []
    trainers = compare_peers.make_trainers(names, SIZES, weights, BATCH, 1, scan=scan, log=skipped.append)
    assert not skipped, skipped  # installed peers must build
    return trainers


def test_same_initial_weights_and_first_loss():
    w0 = _weights()
    X, y = _data(BATCH)
    trainers = _trainers(FAST, w0)
    assert set(trainers) == set(FAST)
    ref, _ = _ref_loss_grads([a.astype(np.float64) for a in w0], X.astype(np.float64), y)
    for name, tr in trainers.items():
        got = tr.weights()
        assert len(got) == len(w0), name
        for a, b in zip(got, w0):
            np.testing.assert_array_equal(a, b, err_msg=name)
        loss = tr.epoch(X, y)  # one batch: the loss before the first update
        assert loss == pytest.approx(ref, rel=1e-5), name


def test_same_weights_after_several_steps():
    # 22 rows, batch 4: 5 full batches and a partial one; jax_scan with scan=2 runs two
    # scanned chunks, then one step and the partial batch through its one-step call.
    w0 = _weights()
    X, y = _data(22, seed=1)
    want = _ref_train(w0, X, y, BATCH)
    for name, tr in _trainers(FAST, w0).items():
        tr.epoch(X, y)
        got = tr.weights()
        # sklearn puts eps outside the bias correction (eps / sqrt(1 - beta_2^t) in PyTorch's
        # form): a relative change of ~3e-7 / |g| in the first steps.
        tol = 2e-5 if name == "sklearn" else 3e-6
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=tol, err_msg=name)
        moved = max(np.abs(a - b).max() for a, b in zip(got, w0))
        assert moved > 1e-3, name  # 6 Adam steps move some weight by ~lr each


def test_torch_compile_first_loss():
    pytest.importorskip("torch")
    w0 = _weights()
    X, y = _data(2 * BATCH, seed=2)
    tr = _trainers(["torch_compile"], w0)["torch_compile"]
    for a, b in zip(tr.weights(), w0):
        np.testing.assert_array_equal(a, b)
    ref, _ = _ref_loss_grads([a.astype(np.float64) for a in w0], X[:BATCH].astype(np.float64), y[:BATCH])
    assert tr.epoch(X[:BATCH], y[:BATCH]) == pytest.approx(ref, rel=1e-5)
    tr.epoch(X[BATCH:], y[BATCH:])
    want = _ref_train(w0, X, y, BATCH)
    for a, b in zip(tr.weights(), want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=3e-6)


def test_throughput_and_main_on_a_tiny_workload(monkeypatch, capsys):
    monkeypatch.setitem(compare_peers.WORKLOADS, "T", (SIZES, BATCH, 40))
    names = [k for k in FAST if k in ("fastnn", "numpy", "sklearn", "jax_scan")]
    rates = compare_peers.run_throughput("T", names, threads=1, windows=2, scan=2)
    assert set(rates) == set(names)
    assert all(r > 0 and np.isfinite(r) for r in rates.values())
    compare_peers.main(["--workloads", "T", "--windows", "1", "--threads", "1",
                        "--frameworks", ",".join(n for n in names if n != "fastnn")])
    out = capsys.readouterr().out
    for text in ["command:", "threads: 1", "T 12-9-7-3 batch 4"] + names:
        assert text in out
    with pytest.raises(SystemExit):
        compare_peers.main(["--frameworks", "fastnn,nope"])


def test_a_failing_peer_is_skipped_with_a_reason(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("not today")
    monkeypatch.setitem(compare_peers.BUILDERS, "numpy", broken)
    said = []
    trainers = compare_peers.make_trainers(["fastnn", "numpy"], SIZES, _weights(), BATCH, 1, log=said.append)
    assert list(trainers) == ["fastnn"]
    assert said and "numpy" in said[0] and "not today" in said[0]
