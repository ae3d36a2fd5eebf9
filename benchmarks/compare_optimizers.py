"""fastnn vs PyTorch optimizer updates, side by side in one process: parameters per second.

One update of a flat float32 parameter arena (1M and 10M parameters) for SGD with
momentum, Adam, AdamW and RAdam: fastnn's fused kernel (the path a model takes:
`optimizer._apply_flat([grads], [params])`) against torch.optim with `fused=True`
and with `foreach=True` on one flat tensor (torch's best case: one tensor, one call).

Also the cost of the extras: fastnn with clipnorm + EMA (one reduction pass, then
the update with the gradient scale and the moving average fused in), and torch's
equivalent (clip_grad_norm_ + the fused step + a foreach lerp of the EMA copy).

Windows of a few steps alternate between the implementations (the order rotates
each window) after a warm-up; the table shows the median time per update, the
parameters per second, the ratio to fastnn, and the memory bandwidth that the
minimum traffic of the update implies (bytes each parameter must move: 20 for
SGD-momentum, 28 for Adam/AdamW/RAdam (read p, g, m, v; write p, m, v), +12 with
clipnorm + EMA (the norm pass reads g; the EMA is read and written)). Both
libraries run with the same thread count.

    python benchmarks/compare_optimizers.py [--threads 2] [--windows 9] [--sizes 1M,10M]
                                            [--optimizers sgdm,adam,adamw,radam]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np

import fastnn
from fastnn import optimizers

LR = 1e-3
CLIPNORM = 0.5     # below the gradients' norm (~1 at 1M, ~3 at 10M): the clip is active
EMA_MOMENTUM = 0.99
MIN_BYTES = {"sgdm": 20, "adam": 28, "adamw": 28, "radam": 28}  # float32, per parameter
EXTRA_BYTES = 12


def fastnn_optimizer(name: str, extras: bool):
    kw = dict(clipnorm=CLIPNORM, use_ema=True, ema_momentum=EMA_MOMENTUM) if extras else {}
    if name == "sgdm":
        return optimizers.SGD(LR, momentum=0.9, **kw)
    if name == "adam":
        return optimizers.Adam(LR, **kw)
    if name == "adamw":
        return optimizers.AdamW(LR, weight_decay=0.01, **kw)
    if name == "radam":
        return optimizers.RAdam(LR, **kw)
    raise ValueError(f"optimizer: unknown {name!r}")


def torch_optimizer(torch, name: str, params, mode: str):
    """mode: "fused" or "foreach"; None when torch has no such implementation."""
    kw = {"fused": True} if mode == "fused" else {"foreach": True}
    if name == "sgdm":
        return torch.optim.SGD(params, lr=LR, momentum=0.9, **kw)
    if name == "adam":
        return torch.optim.Adam(params, lr=LR, **kw)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=LR, weight_decay=0.01, **kw)
    if name == "radam":
        if mode == "fused":
            return None  # torch.optim.RAdam has no fused implementation
        return torch.optim.RAdam(params, lr=LR, decoupled_weight_decay=False, **kw)
    raise ValueError(f"optimizer: unknown {name!r}")


def make_steps(name: str, p0: np.ndarray, g: np.ndarray, torch) -> dict[str, object]:
    """label -> a function doing one update (on its own copy of the parameters)."""
    steps = {}
    for extras in (False, True):
        opt = fastnn_optimizer(name, extras)
        p = p0.copy()
        opt.build([p])
        steps["fastnn" + (" +clip+ema" if extras else "")] = (
            lambda opt=opt, p=p: opt._apply_flat([g], [p]))
    if torch is None:
        return steps
    for mode in ("fused", "foreach"):
        tp = torch.from_numpy(p0.copy()).requires_grad_()
        tp.grad = torch.from_numpy(g.copy())
        topt = torch_optimizer(torch, name, [tp], mode)
        if topt is not None:
            steps[f"torch {mode}"] = topt.step
    # torch with the same extras: clip_grad_norm_ (one reduction + a scale pass), the
    # step, and an EMA copy updated with a foreach lerp (what AveragedModel-style code does).
    mode = "fused" if torch_optimizer(torch, name, [torch.zeros(1, requires_grad=True)], "fused") else "foreach"
    tp = torch.from_numpy(p0.copy()).requires_grad_()
    tp.grad = torch.from_numpy(g.copy())
    topt = torch_optimizer(torch, name, [tp], mode)
    ema = [tp.detach().clone()]
    params = [tp]

    def torch_extras(topt=topt, params=params, ema=ema):
        torch.nn.utils.clip_grad_norm_(params, CLIPNORM, foreach=True)
        topt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [q.detach() for q in params], 1 - EMA_MOMENTUM)

    steps[f"torch {mode} +clip+ema"] = torch_extras
    return steps


def measure(steps: dict[str, object], windows: int, target_s: float) -> dict[str, float]:
    """Median seconds per update of each implementation over alternating windows."""
    reps = {}
    for label, step in steps.items():  # warm-up and calibration
        step()
        t = time.perf_counter()
        step()
        one = max(time.perf_counter() - t, 1e-6)
        reps[label] = max(2, int(target_s / one))
    times: dict[str, list[float]] = {label: [] for label in steps}
    labels = list(steps)
    for w in range(windows):
        order = labels[w % len(labels):] + labels[:w % len(labels)]
        for label in order:
            step, n = steps[label], reps[label]
            t = time.perf_counter()
            for _ in range(n):
                step()
            times[label].append((time.perf_counter() - t) / n)
    return {label: statistics.median(ts) for label, ts in times.items()}


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def size_label(n: int) -> str:
    return f"{n / 2**20:g}M" if n >= 1 << 20 else f"{n / 2**10:g}K"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=9)
    ap.add_argument("--window-seconds", type=float, default=0.05)
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--optimizers", default="sgdm,adam,adamw,radam")
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    fastnn.set_num_threads(args.threads)

    print("command: python " + " ".join(sys.argv))
    print(f"fastnn {fastnn.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}, python {platform.python_version()}")
    print(f"{cpu_name()}, {args.threads} threads each, float32, {args.windows} alternating windows, medians")
    print()
    header = (f"{'params':>7} {'optimizer':<9} {'implementation':<26} {'ms/update':>10} {'Mparam/s':>9} "
              f"{'GB/s':>6} {'fastnn x':>9}")
    print(header)
    print("-" * len(header))
    summary = []
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(0)
        p0 = rng.standard_normal(size).astype(np.float32)
        g = (rng.standard_normal(size) * 1e-3).astype(np.float32)
        for name in args.optimizers.split(","):
            steps = make_steps(name, p0, g, torch)
            med = measure(steps, args.windows, args.window_seconds)
            base, extra = med["fastnn"], med["fastnn +clip+ema"]
            for label, t in med.items():
                ref = extra if "+clip" in label else base
                nbytes = MIN_BYTES[name] + (EXTRA_BYTES if "+clip" in label else 0)
                print(f"{size_label(size):>7} {name:<9} {label:<26} {t * 1e3:>10.3f} {size / t / 1e6:>9.0f} "
                      f"{size * nbytes / t / 1e9:>6.1f} {t / ref:>9.2f}")
            fused = med.get("torch fused")
            tx = next((t for k, t in med.items() if k.startswith("torch") and "+clip" in k), None)
            tplain = fused or med.get("torch foreach")
            summary.append((size, name, fused and fused / base, med.get("torch foreach", 0) / base,
                            extra / base - 1, tx / tplain - 1 if tx and tplain else None))
    print()
    print("summary: speed-up of fastnn over torch (fused, foreach) and the cost of clipnorm + EMA")
    print(f"{'params':>7} {'optimizer':<9} {'vs fused':>9} {'vs foreach':>11} {'fastnn +clip+ema':>17} "
          f"{'torch +clip+ema':>16}")
    for size, name, vf, vfe, xf, xt in summary:
        vf_s = f"{vf:.2f}x" if vf else "n/a"
        xt_s = f"{xt * 100:+.0f}%" if xt is not None else "n/a"
        print(f"{size_label(size):>7} {name:<9} {vf_s:>9} {vfe:>10.2f}x {xf * 100:>+16.0f}% {xt_s:>16}")


if __name__ == "__main__":
    main()
