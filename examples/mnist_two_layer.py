"""The textbook's two-layer network on MNIST: 784-50-10, sigmoid hidden layer,
softmax cross-entropy, plain SGD (learning rate 0.1), mini-batches of 100.

Prints the training and test accuracy after every epoch (the textbook evaluates
the whole training set at each epoch end, so train and test accuracy are
comparable) and, when matplotlib is installed, saves the loss and accuracy
curves, where under- or over-fitting shows as the gap between the two.

    python examples/mnist_two_layer.py [--epochs 10] [--sample] [--plot curves.png]
"""
from __future__ import annotations

import argparse

import fastnn
from fastnn import callbacks, layers, optimizers
from fastnn.datasets import load_mnist, load_mnist_sample


class TrainSetAccuracy(callbacks.Callback):
    """At each epoch end, the accuracy on the whole training set (with the weights
    of the epoch's end, as the textbook measures it), logged as "train_accuracy"."""

    needs_batch_logs = False

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def on_epoch_end(self, epoch, logs=None):
        logs["train_accuracy"] = self.model.evaluate(self.x, self.y)["accuracy"]
        print(f"epoch {epoch + 1:2d}  train acc {logs['train_accuracy']:.4f}  "
              f"test acc {logs['val_accuracy']:.4f}  loss {logs['loss']:.4f}")


def build() -> fastnn.Sequential:
    model = fastnn.Sequential([
        layers.Input((784,)),
        layers.Dense(50, activation="sigmoid"),
        layers.Dense(10),                       # logits: the loss applies the softmax
    ], seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    return model


def main(epochs: int = 10, sample: bool = False, plot_path: str | None = None) -> dict[str, list[float]]:
    if sample:
        (X, y), (Xt, yt) = load_mnist_sample()
    else:
        try:
            (X, y), (Xt, yt) = load_mnist()
        except (FileNotFoundError, OSError):
            print("Full MNIST not available: using the small sample bundled with fastnn")
            (X, y), (Xt, yt) = load_mnist_sample()
    model = build()
    history = model.fit(X, y, epochs=epochs, batch_size=100, validation_data=(Xt, yt), verbose=0,
                        callbacks=[TrainSetAccuracy(X, y)])
    if plot_path:
        try:
            fastnn.plot_history(history, path=plot_path)
            print(f"saved the training curves to {plot_path}")
        except ImportError:
            print("matplotlib is not installed: no plot")
    return history.history


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--sample", action="store_true", help="train on the bundled MNIST sample")
    p.add_argument("--plot", default=None, help="save the loss/accuracy curves to this PNG")
    args = p.parse_args()
    main(args.epochs, args.sample, args.plot)
