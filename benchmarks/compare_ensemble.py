"""One DenseEnsemble of N members vs N sequential fastnn.Sequential fits of the same work.

Both sides train N bagged MLPs (``in -> hidden (relu) -> classes``, softmax
cross-entropy, Adam 1e-3) for a few epochs over the same rows: the ensemble in
one pass with stacked weights, the baseline as N separate `Sequential.fit` calls,
member k with ``sample_weight`` = the ensemble's bootstrap counts of member k (so
each baseline model is the ensemble's member k, to rounding, apart from the
batch order). OOB scoring is off on the ensemble side (the baseline has none).

Windows alternate between the two sides (the order flips each window) after a
warm-up; the table shows the median wall time of one full training per side and
the ratio baseline / ensemble (> 1: the ensemble is faster). The machine's other
load makes single timings noisy: read the medians, and rerun to see the spread.

    python benchmarks/compare_ensemble.py [--threads 2] [--windows 5] [--members 8]
                                          [--shapes 64-64-10:32,64-64-10:128,784-64-10:32,784-64-10:128]
                                          [--samples 4096] [--epochs 3] [--dtype float32]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import fastnn
from fastnn import layers, optimizers
from fastnn.ensemble import DenseEnsemble


def parse_shapes(text: str) -> list[tuple[tuple[int, ...], int]]:
    out = []
    for item in text.split(","):
        sizes, batch = item.split(":")
        out.append((tuple(int(s) for s in sizes.split("-")), int(batch)))
    return out


def make_data(n: int, n_in: int, n_classes: int, dtype: str):
    """Learnable fixed-seed data: labels from a random linear map of the inputs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    y = np.argmax(X @ rng.normal(size=(n_in, n_classes)), axis=1).astype(np.int64)
    return X, y


def run_ensemble(sizes, batch, X, y, members, epochs, dtype):
    ens = DenseEnsemble(n_members=members, hidden_layer_sizes=sizes[1:-1], activation="relu",
                        optimizer="adam", learning_rate=1e-3, bootstrap=True, oob_score=False,
                        seed=0, dtype=dtype)
    ens.fit(X, y, epochs=epochs, batch_size=batch)
    return ens


def run_sequential(sizes, batch, X, y, counts, epochs, dtype):
    models = []
    for k in range(len(counts)):
        model = fastnn.Sequential([layers.Dense(h, activation="relu") for h in sizes[1:-1]]
                                  + [layers.Dense(sizes[-1])], seed=k, dtype=dtype)
        model.compile(optimizer=optimizers.Adam(1e-3), loss="softmax_cross_entropy")
        model.fit(X, y, epochs=epochs, batch_size=batch, verbose=0,
                  sample_weight=counts[k].astype(dtype))
        models.append(model)
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--shapes", default="64-64-10:32,64-64-10:128,784-64-10:32,784-64-10:128")
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    print(f"fastnn {getattr(fastnn, '__version__', '?')}, numpy {np.__version__}, "
          f"{platform.machine()}, threads={args.threads}, members={args.members}, "
          f"samples={args.samples}, epochs={args.epochs}, dtype={args.dtype}, windows={args.windows}")
    print(f"{'shape:batch':>18} {'ensemble s':>11} {'N x Sequential s':>17} {'ratio':>6} "
          f"{'ens acc':>8} {'seq acc':>8}")
    for sizes, batch in parse_shapes(args.shapes):
        X, y = make_data(args.samples, sizes[0], sizes[-1], args.dtype)
        counts = run_ensemble(sizes, batch, X[:256], y[:256], args.members, 1,
                              args.dtype).bootstrap_counts_  # warm-up (buffers, code paths)
        ens = run_ensemble(sizes, batch, X, y, args.members, 1, args.dtype)
        counts = ens.bootstrap_counts_
        run_sequential(sizes, batch, X[:256], y[:256], counts[:, :256], 1, args.dtype)
        times = {"ens": [], "seq": []}
        for w in range(args.windows):
            for side in (("ens", "seq") if w % 2 == 0 else ("seq", "ens")):
                t = time.perf_counter()
                if side == "ens":
                    ens = run_ensemble(sizes, batch, X, y, args.members, args.epochs, args.dtype)
                else:
                    seq = run_sequential(sizes, batch, X, y, counts, args.epochs, args.dtype)
                times[side].append(time.perf_counter() - t)
        te, ts = statistics.median(times["ens"]), statistics.median(times["seq"])
        acc_e = float(np.mean(ens.predict(X) == y))
        acc_s = float(np.mean(np.argmax(np.mean([m.predict(X) for m in seq], axis=0), axis=1) == y))
        label = "-".join(map(str, sizes)) + f":{batch}"
        print(f"{label:>18} {te:11.4f} {ts:17.4f} {ts / te:6.2f} {acc_e:8.3f} {acc_s:8.3f}")


if __name__ == "__main__":
    main()
