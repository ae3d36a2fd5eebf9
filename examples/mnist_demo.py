"""Train a 784-256-256-10 network with Adam on MNIST and report accuracy and speed.

Reads the full MNIST from $FASTNN_DATA/mnist (or the cache, or downloads it);
with neither files nor a network it trains on the small sample bundled with
fastnn and says so.

    python examples/mnist_demo.py [--epochs 2] [--batch-size 128] [--threads N] [--sample]
                                  [--curves mnist_curves.png]

When matplotlib is installed it also saves the loss and accuracy curves (training
and test per epoch) to --curves.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastnn
from fastnn import layers, optimizers
from fastnn.datasets import load_mnist, load_mnist_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", action="store_true", help="use the bundled sample, not the full MNIST")
    parser.add_argument("--curves", default="mnist_curves.png",
                        help="where to save the training curves (needs matplotlib; '' to skip)")
    args = parser.parse_args()
    if args.threads:
        fastnn.set_num_threads(args.threads)

    if args.sample:
        (X, y), (Xt, yt) = load_mnist_sample()
        source = "the small MNIST SAMPLE bundled with fastnn"
    else:
        try:
            (X, y), (Xt, yt) = load_mnist()
            source = "the full MNIST"
        except (FileNotFoundError, OSError) as exc:
            print(f"Full MNIST not available ({str(exc).splitlines()[0]})")
            print("Set FASTNN_DATA to a folder holding mnist/ to train on the full data.")
            (X, y), (Xt, yt) = load_mnist_sample()
            source = "the small MNIST SAMPLE bundled with fastnn (not the full data set)"
    print(f"Training on {source}: {len(X):,} train / {len(Xt):,} test images; "
          f"fastnn {fastnn.__version__}, {fastnn.get_num_threads()} threads")

    model = fastnn.Sequential([
        layers.Input((784,)),
        layers.Dense(256, activation="relu"),
        layers.Dense(256, activation="relu"),
        layers.Dense(10),
    ], seed=args.seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    model.summary()

    t0 = time.perf_counter()
    history = model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, validation_data=(Xt, yt),
                        verbose=1)
    train_time = time.perf_counter() - t0
    result = model.evaluate(Xt, yt)
    predictions = model.predict(Xt).argmax(axis=1)
    print(f"test accuracy: {result['accuracy']:.4f} (loss {result['loss']:.4f}); "
          f"predict agrees with evaluate: {np.mean(predictions == yt):.4f}")
    print(f"training: {args.epochs * len(X) / train_time:,.0f} samples/s "
          f"({train_time:.2f} s for {args.epochs} epochs incl. validation)")
    if args.curves:
        try:
            fastnn.plot_history(history, path=args.curves)
            print(f"training curves saved to {args.curves}")
        except ImportError:
            print("matplotlib is not installed: no training curves (pip install matplotlib)")


if __name__ == "__main__":
    main()
