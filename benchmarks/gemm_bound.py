"""How close is a training step to the time of its GEMMs alone?

For a workload (relu MLP, batch B, Adam) a step does, per Dense layer, the forward GEMM
X @ W, the weight gradient A^T @ dZ and (but for the first layer) dX = dZ @ W^T. This
script times each of those GEMMs, at the given thread count, with every BLAS at hand
(fastnn's own OpenBLAS through its dense kernel for the forward shape, SciPy's BLAS, torch,
JAX) and sums the fastest time of each: the GEMM-bound step time at the best BLAS rate
measured here. It then measures fastnn's whole step (fit over a few epochs) and prints
step / GEMM-bound.

    python benchmarks/gemm_bound.py [--threads 2] [--workloads W2,W3] [--reps 7]
"""
import argparse
import os
import statistics
import time

import numpy as np

WORKLOADS = {"W1": ([784, 128, 10], 32), "W2": ([784, 256, 256, 10], 128),
             "W3": ([784, 2048, 2048, 10], 512)}


def timer(fn, reps, inner):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def gemms(dims, batch):
    """(m, k, n, trans_a, trans_b, what) of one training step's GEMMs."""
    out = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        out.append((batch, a, b, False, False, f"fwd {batch}x{a} @ {a}x{b}"))
        out.append((a, batch, b, True, False, f"dW  {a}x{batch} @ {batch}x{b}"))
        if i > 0:
            out.append((batch, b, a, False, True, f"dX  {batch}x{b} @ {b}x{a}"))
    return out


def fastnn_backend(threads):
    """fastnn's own OpenBLAS through its dense kernel (forward shapes only)."""
    import fastnn
    from fastnn import ops
    from fastnn.activations import get_code
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(0)

    def fastnn_fwd(m, k, n, ta, tb):
        if ta or tb:
            return None  # fastnn's kernels expose the forward shape only
        x, w = rng.random((m, k), np.float32), rng.random((k, n), np.float32)
        out, code = np.empty((m, n), np.float32), get_code("linear")
        return lambda: ops.dense_forward(x, w, None, out, m, code)
    return {"fastnn": fastnn_fwd}


def peer_backends(threads):
    """SciPy's BLAS, torch and JAX: loaded only after fastnn was measured, because their
    thread pools, spinning in the same process, would slow fastnn's OpenMP team."""
    rng = np.random.default_rng(0)
    found = {}
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)

    def scipy_gemm(m, k, n, ta, tb):
        a = np.asfortranarray(rng.random((k, m) if ta else (m, k), np.float32))
        b = np.asfortranarray(rng.random((n, k) if tb else (k, n), np.float32))
        return lambda: blas.sgemm(1.0, a, b, trans_a=ta, trans_b=tb)
    found["scipy"] = scipy_gemm
    try:
        import torch
        torch.set_num_threads(threads)

        def torch_mm(m, k, n, ta, tb):
            a = torch.rand((k, m) if ta else (m, k))
            b = torch.rand((n, k) if tb else (k, n))
            a, b = (a.T if ta else a), (b.T if tb else b)
            return lambda: torch.mm(a, b)
        found["torch"] = torch_mm
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        def jax_mm(m, k, n, ta, tb):
            a = jnp.asarray(rng.random((k, m) if ta else (m, k), np.float32))
            b = jnp.asarray(rng.random((n, k) if tb else (k, n), np.float32))
            f = jax.jit(lambda a, b: (a.T if ta else a) @ (b.T if tb else b))
            return lambda: f(a, b).block_until_ready()
        found["jax"] = jax_mm
    except ImportError:
        pass
    return found


def time_gemms(impls, dims, batch, reps):
    """{what: {backend: us}} for the step's GEMMs."""
    table = {}
    for m, k, n, ta, tb, what in gemms(dims, batch):
        inner = max(1, int(2e7 / (m * k * n) + 1))
        row = table.setdefault(what, {})
        for name, make in impls.items():
            call = make(m, k, n, ta, tb)
            if call is not None:
                row[name] = timer(call, reps, inner) * 1e6
    return table


def fastnn_step(dims, batch, threads, epochs=5):
    import fastnn
    from fastnn import layers
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(0)
    steps = max(40, int(4e8 / (batch * sum(a * b for a, b in zip(dims[:-1], dims[1:])))))
    n = batch * steps
    x, y = rng.random((n, dims[0]), np.float32), rng.integers(0, dims[-1], n)
    m = fastnn.Sequential([layers.Dense(h, activation="relu") for h in dims[1:-1]] + [layers.Dense(dims[-1])],
                          seed=0)
    m.compile(optimizer="adam", loss="softmax_cross_entropy")
    m.fit(x, y, epochs=1, batch_size=batch, verbose=0)
    # One fit of several epochs per timing: the step, with its shuffled batch gather and
    # the per-epoch work, but not fit's one-time set-up (input checks, buffers), which a
    # single-epoch fit of 40 steps would spread over too few steps.
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        m.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
        times.append((time.perf_counter() - t0) / (steps * epochs))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workloads", default="W2,W3")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    print(f"threads {args.threads}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    names = args.workloads.split(",")
    # fastnn first (its GEMMs and its whole step), then the peers' GEMMs.
    mine = {wl: (time_gemms(fastnn_backend(args.threads), *WORKLOADS[wl], args.reps),
                 fastnn_step(*WORKLOADS[wl], args.threads)) for wl in names}
    peers = peer_backends(args.threads)
    for wl in names:
        dims, batch = WORKLOADS[wl]
        table, step = mine[wl]
        for what, row in time_gemms(peers, dims, batch, args.reps).items():
            table[what].update(row)
        print(f"\n{wl} {'-'.join(map(str, dims))} batch {batch}: us per GEMM")
        total = 0.0
        for what, row in table.items():
            best = min(row, key=row.get)
            total += row[best] * 1e-6
            print(f"  {what:28} " + "  ".join(f"{k} {v:8.1f}" for k, v in row.items()) + f"   best {best}")
        print(f"  GEMM-bound step {total * 1e3:.3f} ms; fastnn step {step * 1e3:.3f} ms; "
              f"step / GEMM-bound = {step / total:.2f}")


if __name__ == "__main__":
    main()
