"""Data-parallel scaling over MPI: samples/s with 1 and 2 ranks (1 thread each), the
allreduce's share of the step, and one process with 2 threads for reference.

    python benchmarks/compare_mpi.py [--windows 3] [--workloads W2,W3]

Each configuration runs in fresh processes (mpiexec -n R python this --worker ...);
the figure is the median of `--windows` runs, each timing the epochs after a warm-up
epoch. Global batch as in the end-to-end benchmarks (W2: 128, W3: 512), so every
configuration does the same arithmetic.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {"W2": ((256, 256), 128, 8192), "W3": ((2048, 2048), 512, 4096)}


def worker(args) -> None:
    import fastnn
    from fastnn import layers
    fastnn.set_num_threads(args.threads)
    hidden, batch, rows = WORKLOADS[args.workload]
    strategy = None
    if args.mpi:
        from fastnn.distributed import MPIStrategy
        strategy = MPIStrategy()
    rng = np.random.default_rng(0)
    x = rng.random((rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, rows)
    model = fastnn.Sequential([layers.Dense(h, activation="relu") for h in hidden] + [layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.fit(x, y, epochs=1, batch_size=batch, verbose=0, strategy=strategy)  # warm-up
    if strategy is not None:
        strategy.comm.Barrier()
        strategy.comm_seconds = 0.0
    t0 = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=batch, verbose=0, strategy=strategy)
    seconds = time.perf_counter() - t0
    if strategy is None or strategy.is_chief:
        comm = 0.0 if strategy is None else strategy.comm_seconds
        print(json.dumps({"sps": args.epochs * rows / seconds, "comm_share": comm / seconds,
                          "params": model.count_params()}))


def run(workload, ranks, threads, epochs):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--workload", workload,
           "--threads", str(threads), "--epochs", str(epochs)]
    if ranks:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
        cmd = [mpiexec, "-n", str(ranks)] + cmd + ["--mpi"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="W2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--workloads", default="W2,W3")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    configs = [("1 rank x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1), ("1 process x 2 threads", 0, 2)]
    print(f"{'workload':8} {'configuration':22} {'samples/s':>10} {'vs 1 rank':>9} {'allreduce':>9}")
    for wl in args.workloads.split(","):
        res = {name: [] for name, _, _ in configs}
        for _ in range(args.windows):  # alternate configurations within each window
            for name, ranks, threads in configs:
                res[name].append(run(wl, ranks, threads, args.epochs))
        base = statistics.median(r["sps"] for r in res[configs[0][0]])
        for name, ranks, _ in configs:
            sps = statistics.median(r["sps"] for r in res[name])
            share = statistics.median(r["comm_share"] for r in res[name])
            print(f"{wl:8} {name:22} {sps:10,.0f} {sps / base:8.2f}x {share if ranks else float('nan'):9.1%}")
        params = res[configs[0][0]][0]["params"]
        print(f"{wl:8} allreduce volume per step: {params:,} parameters x 4 bytes = {params * 4 / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
