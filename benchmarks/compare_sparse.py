"""Zero-skipping inputs on real MNIST: fastnn dense vs fastnn sparse vs JAX, side by side.

Training: W2 = 784-256-256-10 (relu, softmax cross-entropy), batch 128, Adam lr=1e-3,
5 epochs on the 60,000 MNIST training images (~81% zeros), all frameworks from the
same initial weights; wall time of fit and test accuracy.

    fastnn_dense   dense float32 input, zero_skipping="never" (the GEMM path)
    fastnn_skip    the same array, zero_skipping="always" (batches gathered as CSR)
    fastnn_csr     a scipy.sparse CSR matrix of the images
    jax_jit        one jax.jit call per step (Optax Adam), batches gathered in numpy
                   (only when jax and optax import)

Predict latency at batch 1 (median of many calls, one image per call): fastnn's
predict with the zero-skipping path and with it off, and a hand-written numpy forward
(x @ W1 + b1, relu, ..., softmax) on the same rows.

    FASTNN_DATA=/work/shared/data python benchmarks/compare_sparse.py [--epochs 5] [--threads 2]
        [--frameworks fastnn_dense,fastnn_skip,fastnn_csr,jax_jit] [--latency-calls 3000]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastnn
from fastnn import layers, optimizers
from fastnn.datasets import load_mnist

SIZES = [784, 256, 256, 10]
BATCH = 128


def make_fastnn(mode: str) -> fastnn.Sequential:
    model = fastnn.Sequential([layers.Input((784,))] + [
        layers.Dense(n, activation="relu" if i < len(SIZES) - 2 else None)
        for i, n in enumerate(SIZES[1:])], seed=0)
    model.compile(optimizer=optimizers.Adam(1e-3), loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    model.zero_skipping = mode
    return model


def run_fastnn(mode, X, y, Xt, yt, weights, epochs, sparse_input=False):
    import scipy.sparse as sp
    model = make_fastnn(mode)
    model.set_weights(weights)
    Xin = sp.csr_matrix(X) if sparse_input else X
    t = time.perf_counter()
    model.fit(Xin, y, epochs=epochs, batch_size=BATCH, verbose=0)
    wall = time.perf_counter() - t
    acc = model.evaluate(Xt, yt)["accuracy"]
    return wall, acc


def run_jax(X, y, Xt, yt, weights, epochs):
    import jax
    import jax.numpy as jnp
    import optax

    params = [jnp.asarray(w) for w in weights]

    def forward(p, x):
        for i in range(0, len(p) - 2, 2):
            x = jax.nn.relu(x @ p[i] + p[i + 1])
        return x @ p[-2] + p[-1]

    def loss_fn(p, x, yb):
        logits = forward(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    opt = optax.adam(1e-3)
    state = opt.init(params)

    @jax.jit
    def step(p, s, x, yb):
        loss, g = jax.value_and_grad(loss_fn)(p, x, yb)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(0)
    n = len(X)
    # Compile outside the timed region (a full batch and the last, shorter one).
    p0, s0, _ = step(params, state, X[:BATCH], y[:BATCH])
    if n % BATCH:
        step(params, state, X[:n % BATCH], y[:n % BATCH])
    t = time.perf_counter()
    p, s = params, state
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            p, s, loss = step(p, s, X[idx], y[idx])
    jax.block_until_ready(p)
    wall = time.perf_counter() - t
    pred = np.asarray(jax.jit(forward)(p, Xt)).argmax(1)
    return wall, float((pred == yt).mean())


def numpy_forward(weights):
    W1, b1, W2, b2, W3, b3 = weights

    def f(x):
        h = np.maximum(x @ W1 + b1, 0)
        h = np.maximum(h @ W2 + b2, 0)
        z = h @ W3 + b3
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    return f


def median_latency(fn, rows, calls):
    for r in rows[:50]:
        fn(r)
    times = []
    for i in range(calls):
        r = rows[i % len(rows)]
        t = time.perf_counter()
        fn(r)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--frameworks", default="fastnn_dense,fastnn_skip,fastnn_csr,jax_jit")
    ap.add_argument("--latency-calls", type=int, default=3000)
    ap.add_argument("--latency-only", action="store_true", help="skip the training runs")
    args = ap.parse_args()
    if args.threads:
        fastnn.set_num_threads(args.threads)
    (X, y), (Xt, yt) = load_mnist()
    X = X.reshape(len(X), -1).astype(np.float32)
    Xt = Xt.reshape(len(Xt), -1).astype(np.float32)
    print(f"MNIST train {X.shape}, density {np.count_nonzero(X) / X.size:.3f}; "
          f"fastnn threads {fastnn.get_num_threads()}; W2 {SIZES} batch {BATCH}, Adam 1e-3, "
          f"{args.epochs} epochs")
    weights = make_fastnn("never")
    weights.build((None, 784))
    weights = weights.get_weights()

    results = {}
    for fw in [] if args.latency_only else args.frameworks.split(","):
        if fw == "jax_jit":
            try:
                import jax  # noqa: F401
                import optax  # noqa: F401
            except ImportError as exc:
                print(f"jax_jit: skipped ({exc})")
                continue
            results[fw] = run_jax(X, y.astype(np.int32), Xt, yt, weights, args.epochs)
        elif fw == "fastnn_dense":
            results[fw] = run_fastnn("never", X, y, Xt, yt, weights, args.epochs)
        elif fw == "fastnn_skip":
            results[fw] = run_fastnn("always", X, y, Xt, yt, weights, args.epochs)
        elif fw == "fastnn_csr":
            results[fw] = run_fastnn("auto", X, y, Xt, yt, weights, args.epochs, sparse_input=True)
        else:
            raise SystemExit(f"--frameworks: unknown {fw!r}")
        wall, acc = results[fw]
        print(f"{fw:14s} fit {wall:7.2f} s   test accuracy {acc:.4f}", flush=True)
    if "jax_jit" in results:
        for fw in results:
            if fw != "jax_jit":
                print(f"  {fw} speed-up over jax_jit: {results['jax_jit'][0] / results[fw][0]:.2f}x")

    # -- batch-1 predict latency -------------------------------------------------------------
    rng = np.random.default_rng(0)
    mnist_rows = [Xt[i:i + 1] for i in range(1000)]
    dense_rows = [rng.random((1, 784), dtype=np.float32) for _ in range(1000)]
    f_np = numpy_forward(weights)
    skip, dense = make_fastnn("auto"), make_fastnn("never")
    for m in (skip, dense):
        m.build((None, 784))
        m.set_weights(weights)
    print(f"\nbatch-1 predict latency (median of {args.latency_calls} calls, us)")
    for label, rows in (("MNIST rows", mnist_rows), ("dense rows", dense_rows)):
        t_np = median_latency(f_np, rows, args.latency_calls)
        t_skip = median_latency(skip.predict, rows, args.latency_calls)
        t_dense = median_latency(dense.predict, rows, args.latency_calls)
        print(f"  {label}: numpy {t_np:6.1f}   fastnn auto {t_skip:6.1f} ({t_skip / t_np:.2f}x numpy)"
              f"   fastnn zero_skipping='never' {t_dense:6.1f} ({t_dense / t_np:.2f}x numpy)")


if __name__ == "__main__":
    main()
