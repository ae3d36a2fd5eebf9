"""Train the same small network with every built-in activation on a non-linear 2-D
problem (two interleaved spirals) and print the accuracy each reaches; when
matplotlib is installed, also save a plot of each activation and its derivative.

    python examples/activations_tour.py [--plot activations.png]
"""
from __future__ import annotations

import argparse

import numpy as np

import fastnn
from fastnn import activations, layers, optimizers

HIDDEN = ["linear", "sigmoid", "tanh", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu",
          "silu", "softplus", "softsign", "hard_sigmoid", "mish", "exponential"]


def spirals(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    angle = t + np.pi * label
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + rng.normal(0, 0.02, (n, 2))
    return X.astype(np.float32), label


def accuracy_with(activation: str, X, y, epochs: int = 60) -> float:
    model = fastnn.Sequential([layers.Dense(32, activation=activation),
                               layers.Dense(32, activation=activation), layers.Dense(2)], seed=0)
    model.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=epochs, batch_size=32, verbose=0)
    return model.evaluate(X, y)["accuracy"]


def plot(path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    z = np.linspace(-4, 4, 401, dtype=np.float64)
    fig, axes = plt.subplots(3, 5, figsize=(16, 9), sharex=True)
    for ax, name in zip(axes.flat, HIDDEN):
        ax.plot(z, activations.get(name)(z), label="value")
        ax.plot(z, activations.derivative(name, z), "--", label="derivative")
        ax.set_title(name)
        ax.set_ylim(-2, 4)
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"saved {path}")


def main(plot_path: str | None = None) -> dict[str, float]:
    X, y = spirals()
    results = {}
    for name in HIDDEN:
        results[name] = accuracy_with(name, X, y)
        print(f"{name:<14} accuracy {results[name]:.3f}")
    if plot_path:
        try:
            plot(plot_path)
        except ImportError:
            print("matplotlib is not installed: no plot")
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--plot", default=None, help="save the activation curves to this PNG")
    main(p.parse_args().plot)
