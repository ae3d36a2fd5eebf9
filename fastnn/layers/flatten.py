"""Flatten: turns each sample of shape (d1, d2, ...) into a vector of d1*d2*... features."""
from __future__ import annotations

from fastnn.layers.base import Layer


class Flatten(Layer):
    """Flattens each sample, as `keras.layers.Flatten`, so 28x28 images feed a Dense.

    A model holds a batch as a C-contiguous (n, features) array whatever the sample
    shape, so flattening moves no data: forward and backward return their input.
    Layers before the Flatten must act element by element (Dropout, GaussianNoise,
    Activation); a Dense needs the Flatten first.
    """

    elementwise = True
    flattens = True

    def forward(self, x, n, training):
        return x

    def backward(self, dout, n, need_dx):
        return dout if need_dx else None
