"""The tabular MLP of issue 4, fastnn vs PyTorch side by side in one process.

    Normalization -> Dropout(0.2) -> 3 x [Dense(160) -> BatchNormalization -> swish -> Dropout(0.2)]
    -> Dense(5), BinaryCrossentropy(from_logits=True, label_smoothing=0.01), Adam(1e-3),
    130 features, 5 labels (multi-label), batch 4096.

Also the same network without Dropout and BatchNormalization ("plain"), in fastnn,
to price those two layers. Windows (one epoch each) alternate after a warm-up; the
table shows medians of the windows and ratios measured in the same run.

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
    for _ in range(args.windows):
        for k, fn in runs.items():
            rates[k].append(timed(fn))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"fastnn {fastnn.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {args.threads} threads, "
          f"{n} samples, batch {BATCH}, medians of {args.windows} alternating windows")
    print(f"{'run':<16}{'samples/s':>14}")
    for k, v in med.items():
        print(f"{k:<16}{v:>14,.0f}")
    print(f"fastnn / torch: {med['fastnn'] / med['torch']:.2f}x (target >= 1.5x)")
    print(f"Dropout + BatchNorm overhead: {med['fastnn plain'] / med['fastnn'] - 1:+.1%} "
          f"of the plain stack's time (target <= 25%)")
    with torch.no_grad():
        net.eval()
        tl = float(torch.nn.functional.binary_cross_entropy_with_logits(net(Xt), Yt * 0.99 + 0.005))
    print(f"final training-set BCE (smoothed targets): fastnn {full.evaluate(X, Y)['loss']:.4f}, torch {tl:.4f}")


if __name__ == "__main__":
    main()
