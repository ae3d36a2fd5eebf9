"""Datasets: MNIST loader (see mnist.py)."""

from .mnist import load_mnist, load_mnist_sample

__all__ = ["load_mnist", "load_mnist_sample"]
