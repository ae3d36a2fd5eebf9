"""The tabular MLP of issue 4, fastnn vs PyTorch side by side in one process.

    Normalization -> Dropout(0.2) -> 3 x [Dense(160) -> BatchNormalization -> swish -> Dropout(0.2)]
    -> Dense(5), BinaryCrossentropy(from_logits=True, label_smoothing=0.01), Adam(1e-3),
    130 features, 5 labels (multi-label), batch 4096.

Also the same network without Dropout and BatchNormalization ("plain"), in fastnn,
to price those two layers. Windows (one epoch of each run, in an order rotated from
window to window) follow a warm-up; the table shows medians of the windows and the
medians of the per-window ratios (runs of one window see the same machine state).

    python benchmarks/compare_tabular.py [--threads 2] [--windows 7] [--samples 65536]

The models and data are the asv suite's (benchmarks/benchmarks/common.py).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import fastnn
from benchmarks.common import (TABULAR_BATCH as BATCH, TABULAR_FEATURES as FEATURES,
                               TABULAR_LABELS as LABELS, TABULAR_WIDTH as WIDTH, tabular_data)
from benchmarks.common import tabular_mlp as make_fastnn


def make_torch(model, mean, std):
    """The same network in torch, from fastnn's initial weights."""
    import torch
    from torch import nn

    weights = iter(model.get_weights())

    class Standardize(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("inv_std", torch.from_numpy(1 / std))

        def forward(self, x):
            return (x - self.mean) * self.inv_std

    def linear(n_in, n_out):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(next(weights).T.copy()))
            lin.bias.copy_(torch.from_numpy(next(weights)))
        return lin

    next(weights), next(weights)  # the Normalization's mean and variance
    mods, n_in = [Standardize(), nn.Dropout(0.2)], FEATURES
    for _ in range(3):
        lin = linear(n_in, WIDTH)
        for _ in range(4):  # BatchNormalization: gamma, beta, moving mean, moving variance
            next(weights)
        # Keras momentum 0.99 is torch momentum 0.01.
        mods += [lin, nn.BatchNorm1d(WIDTH, eps=1e-3, momentum=0.01), nn.SiLU(), nn.Dropout(0.2)]
        n_in = WIDTH
    mods.append(linear(n_in, LABELS))
    net = nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    return net, opt


def torch_epoch(net, opt, X, Y, gen, smoothing=0.01):
    import torch
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    perm = torch.randperm(len(X), generator=gen)
    for start in range(0, len(X), BATCH):
        idx = perm[start:start + BATCH]
        xb, yb = X[idx], Y[idx] * (1 - smoothing) + smoothing / 2
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
    return float(loss.detach())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--windows", type=int, default=7)
    p.add_argument("--samples", type=int, default=65536)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    fastnn.set_num_threads(args.threads)
    X, Y = tabular_data(args.samples)
    full, plain = make_fastnn(X), make_fastnn(X, plain=True)
    mean, std = X.mean(0), X.std(0)
    net, opt = make_torch(full, mean, std)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    gen = torch.Generator().manual_seed(0)
    n = len(X)

    def timed(fn):
        t = time.perf_counter()
        fn()
        return n / (time.perf_counter() - t)

    runs = {
        "fastnn": lambda: full.fit(X, Y, epochs=1, batch_size=BATCH, verbose=0),
        "fastnn plain": lambda: plain.fit(X, Y, epochs=1, batch_size=BATCH, verbose=0),
        "torch": lambda: torch_epoch(net, opt, Xt, Yt, gen),
    }
    for fn in runs.values():  # warm-up
        fn()
    rates = {k: [] for k in runs}
    names = list(runs)
    for w in range(args.windows):
        # Rotate the order: the run right after torch pays for torch's OpenMP threads
        # still spinning; each run takes that place equally often.
        for k in names[w % len(names):] + names[:w % len(names)]:
            rates[k].append(timed(runs[k]))
    med = {k: statistics.median(v) for k, v in rates.items()}
    # Ratios within each window, then their median: steadier than a ratio of
    # medians on a noisy machine.
    vs_torch = statistics.median(f / t for f, t in zip(rates["fastnn"], rates["torch"]))
    overhead = statistics.median(p / f for f, p in zip(rates["fastnn"], rates["fastnn plain"])) - 1
    print(f"fastnn {fastnn.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {args.threads} threads, "
          f"{n} samples, batch {BATCH}, medians of {args.windows} rotated windows")
    print(f"{'run':<16}{'samples/s':>14}")
    for k, v in med.items():
        print(f"{k:<16}{v:>14,.0f}")
    print(f"fastnn / torch: {vs_torch:.2f}x (target >= 1.5x)")
    print(f"Dropout + BatchNorm overhead: {overhead:+.1%} of the plain stack's time (target <= 25%)")
    with torch.no_grad():
        net.eval()
        tl = float(torch.nn.functional.binary_cross_entropy_with_logits(net(Xt), Yt * 0.99 + 0.005))
    print(f"final training-set BCE (smoothed targets): fastnn {full.evaluate(X, Y)['loss']:.4f}, torch {tl:.4f}")


if __name__ == "__main__":
    main()
