"""fastnn vs PyTorch, side by side in one process: training samples/s.

Workloads (relu hidden layers, softmax cross-entropy, Adam lr=1e-3):
    W1 784-128-10 batch 32, W2 784-256-256-10 batch 128, W3 784-2048-2048-10 batch 512.

Both frameworks run the same work per epoch: shuffle, gather each batch, forward,
loss, backward, Adam step. They start from the same weights. Windows (one epoch
each) alternate between the frameworks after a warm-up; the table shows medians
of the windows and the ratio fastnn / torch.

    python benchmarks/compare_torch.py [--threads 2] [--windows 5] [--workloads W1,W2,W3]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import fastnn
from fastnn import layers, optimizers

WORKLOADS = {
    "W1": ([784, 128, 10], 32, 20_000),
    "W2": ([784, 256, 256, 10], 128, 40_000),
    "W3": ([784, 2048, 2048, 10], 512, 8_192),
}


def make_fastnn(sizes, dtype="float32"):
    model = fastnn.Sequential([layers.Input((sizes[0],))] + [
        layers.Dense(n, activation="relu" if i < len(sizes) - 2 else None)
        for i, n in enumerate(sizes[1:])], seed=0, dtype=dtype)
    model.compile(optimizer=optimizers.Adam(1e-3), loss="softmax_cross_entropy")
    return model


def make_torch(sizes, weights, fused=True):
    import torch
    mods = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(weights[2 * i].T.copy()))
            lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)
    return net, opt


def torch_epoch(net, opt, X, y, batch_size, gen):
    import torch
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(len(X), generator=gen)
    for start in range(0, len(X), batch_size):
        idx = perm[start:start + batch_size]
        xb, yb = X[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
    return float(loss.detach())


def run(name, threads, windows, fused):
    import torch
    sizes, batch, n = WORKLOADS[name]
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n).astype(np.int64)
    model = make_fastnn(sizes)
    net, opt = make_torch(sizes, model.get_weights(), fused=fused)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def fastnn_window():
        t = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=batch, verbose=0)
        return n / (time.perf_counter() - t)

    def torch_window():
        t = time.perf_counter()
        torch_epoch(net, opt, Xt, yt, batch, gen)
        return n / (time.perf_counter() - t)

    fastnn_window(), torch_window()  # warm-up
    ours, theirs = [], []
    for _ in range(windows):
        ours.append(fastnn_window())
        theirs.append(torch_window())
    mo, mt = statistics.median(ours), statistics.median(theirs)
    return mo, mt


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--workloads", default="W1,W2,W3")
    p.add_argument("--no-fused", action="store_true", help="torch Adam without fused=True")
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    fastnn.set_num_threads(args.threads)
    print(f"fastnn {fastnn.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {args.threads} threads, "
          f"torch Adam fused={not args.no_fused}, medians of {args.windows} alternating windows")
    print(f"{'workload':<28}{'fastnn samples/s':>18}{'torch samples/s':>18}{'ratio':>8}")
    for name in args.workloads.split(","):
        mo, mt = run(name, args.threads, args.windows, not args.no_fused)
        sizes, batch, _ = WORKLOADS[name]
        label = f"{name} {'-'.join(map(str, sizes))} b{batch}"
        print(f"{label:<28}{mo:>18,.0f}{mt:>18,.0f}{mo / mt:>8.2f}")


if __name__ == "__main__":
    main()
