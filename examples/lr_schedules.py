"""Learning-rate schedules: print (and optionally plot) every built-in schedule over the
steps of a short run, then show on a 1-D quadratic why decaying the rate helps.

f(w) = w**2 / 2 has gradient w, so one gradient-descent step is w <- (1 - lr) w:

* a constant lr in (1, 2) overshoots the minimum every step: w changes sign each
  step and |w| shrinks only by |1 - lr| (lr = 1.9: by 0.9 a step);
* a constant lr > 2 overshoots further each time and diverges (lr = 2.1: |w| grows
  by 1.1 a step);
* an exponentially decaying rate that starts at the same diverging 2.1 soon falls
  into the good range and converges.

    python examples/lr_schedules.py [--plot schedules.png]
"""
from __future__ import annotations

import argparse

import numpy as np

from fastnn import optimizers
from fastnn.schedules import (CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay,
                              LearningRateSchedule, PerEpoch, PiecewiseConstantDecay, PolynomialDecay)

STEPS = 200  # steps shown for the schedules
SHOWN = [0, 10, 25, 50, 75, 100, 125, 150, 175, 199]
DESCENT_STEPS = 30


def make_schedules() -> dict[str, LearningRateSchedule]:
    """One of each built-in schedule, all starting near 0.1, over a 200-step run."""
    return {
        "ExponentialDecay": ExponentialDecay(0.1, decay_steps=50, decay_rate=0.5),
        "ExponentialDecay stairs": ExponentialDecay(0.1, decay_steps=50, decay_rate=0.5, staircase=True),
        "PiecewiseConstantDecay": PiecewiseConstantDecay([60, 120], [0.1, 0.05, 0.01]),
        "InverseTimeDecay": InverseTimeDecay(0.1, decay_steps=20, decay_rate=0.5),
        "PolynomialDecay": PolynomialDecay(0.1, decay_steps=150, end_learning_rate=0.001, power=2.0),
        "CosineDecay + warm-up": CosineDecay(0.0, decay_steps=170, alpha=0.05, warmup_target=0.1,
                                             warmup_steps=30),
        "CosineDecayRestarts": CosineDecayRestarts(0.1, first_decay_steps=40, t_mul=2.0, m_mul=0.8),
        # textbook per-epoch decay 0.1 * 0.8**epoch, with 25 steps (batches) per epoch
        "PerEpoch(Exponential)": PerEpoch(ExponentialDecay(0.1, decay_steps=1, decay_rate=0.8),
                                          steps_per_epoch=25),
    }


def print_schedules(curves: dict[str, np.ndarray]) -> None:
    print("learning rate at step".rjust(24) + "".join(f"{k:>8}" for k in SHOWN))
    for name, lr in curves.items():
        print(f"{name:<24}" + "".join(f"{lr[k]:8.4f}" for k in SHOWN))


def gradient_descent(learning_rate: float | LearningRateSchedule, w0: float = 1.0,
                     steps: int = DESCENT_STEPS) -> tuple[np.ndarray, bool]:
    """Iterates w_0..w_steps of gradient descent on f(w) = w**2 / 2 (gradient w), and
    whether fastnn's SGD ran them (else the same update was computed here)."""
    w = np.array([w0], dtype=np.float64)
    iterates = [w0]
    try:
        opt = optimizers.SGD(learning_rate=learning_rate)
    except (TypeError, ValueError):
        # fastnn.optimizers.SGD does not take a schedule yet (it is being rewritten to): until it
        # does, apply SGD's update w <- w - lr(step) * grad here, with step 0 for the first update
        # as an optimizer calls its schedule.
        opt = None
    for step in range(steps):
        grad = w.copy()  # the gradient of w**2 / 2
        if opt is not None:
            opt.apply(grad, w)
        else:
            w -= learning_rate(step) * grad
        iterates.append(float(w[0]))
    return np.array(iterates), opt is not None


def plot(path: str, curves: dict[str, np.ndarray], runs: dict[str, np.ndarray]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    for name, lr in curves.items():
        left.plot(np.arange(STEPS), lr, label=name)
    left.set(xlabel="optimizer step", ylabel="learning rate", title="fastnn.schedules")
    left.legend(fontsize=8)
    for name, w in runs.items():
        right.plot(np.arange(len(w)), np.abs(w), "o-", ms=3, label=name)
    right.set(yscale="log", xlabel="step", ylabel="|w|", title="gradient descent on w**2 / 2")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"saved {path}")


def main(plot_path: str | None = None) -> dict:
    schedules = make_schedules()
    curves = {name: np.array([s(k) for k in range(STEPS)]) for name, s in schedules.items()}
    print_schedules(curves)

    decay = ExponentialDecay(2.1, decay_steps=10, decay_rate=0.5)  # halves every 10 steps
    runs, used_sgd = {}, []
    for name, lr in [("constant lr 1.9", 1.9), ("constant lr 2.1", 2.1),
                     ("ExponentialDecay from 2.1", decay)]:
        runs[name], sgd = gradient_descent(lr)
        used_sgd.append(sgd)
    print(f"\ngradient descent on f(w) = w**2 / 2 from w = 1 "
          f"({'fastnn SGD' if all(used_sgd) else 'update computed in the example'}):")
    print(" step" + "".join(f"{name:>28}" for name in runs) + f"{'decayed lr':>14}")
    for k in range(DESCENT_STEPS + 1):
        lr = f"{decay(k):14.4f}" if k < DESCENT_STEPS else ""
        print(f"{k:5d}" + "".join(f"{w[k]:28.3e}" for w in runs.values()) + lr)
    if plot_path:
        try:
            plot(plot_path, curves, runs)
        except ImportError:
            print("matplotlib is not installed: no plot")
    return {"schedules": curves, "descent": runs, "decay": decay, "used_sgd": all(used_sgd)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plot", default=None, help="save the schedules and the descent to this PNG")
    main(p.parse_args().plot)
