"""Do small networks get slower with more threads? fit us/step and predict us/call at 1 and
2 threads for hidden widths 16-256 and batches 1-32 (two hidden relu layers, Adam).

    python benchmarks/compare_threads.py [--windows 3]

Windows alternate the thread counts; the table shows medians and 2 threads / 1 thread
(> 1: slower with 2 threads).
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn import layers


def run(width: int, batch: int, threads: int, rng) -> tuple[float, float]:
    fastnn.set_num_threads(threads)
    x = rng.standard_normal((batch * 200, width)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    m = fastnn.Sequential([layers.Dense(width, activation="relu"), layers.Dense(width, activation="relu"),
                           layers.Dense(10)], seed=0)
    m.compile(optimizer="adam", loss="softmax_cross_entropy")
    m.fit(x, y, epochs=1, batch_size=batch, verbose=0)  # warm-up
    t0 = time.perf_counter()
    m.fit(x, y, epochs=3, batch_size=batch, verbose=0)
    fit_us = (time.perf_counter() - t0) / 600 * 1e6
    xb = x[:batch]
    m.predict(xb)
    t0 = time.perf_counter()
    for _ in range(2000):
        m.predict(xb)
    return fit_us, (time.perf_counter() - t0) / 2000 * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("width batch | fit us/step: 1T 2T 2T/1T | predict us: 1T 2T 2T/1T")
    for width in (16, 64, 256):
        for batch in (1, 8, 32):
            res = {1: [], 2: []}
            for _ in range(args.windows):
                for t in (1, 2):
                    res[t].append(run(width, batch, t, rng))
            f1, f2 = (np.median([r[0] for r in res[t]]) for t in (1, 2))
            p1, p2 = (np.median([r[1] for r in res[t]]) for t in (1, 2))
            print(f"{width:5d} {batch:5d} | {f1:8.1f} {f2:8.1f} {f2 / f1:5.2f} | {p1:7.1f} {p2:7.1f} {p2 / p1:5.2f}")


if __name__ == "__main__":
    main()
