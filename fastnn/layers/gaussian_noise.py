"""GaussianNoise: additive zero-mean Gaussian noise in training."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import ops
from fastnn.layers.dropout import RandomLayer, check_float


class GaussianNoise(RandomLayer):
    """Adds N(0, stddev**2) noise to every input in training; the identity in
    inference (Keras's GaussianNoise), a regularizer and a form of data augmentation.

    Formula::

        training:  y = x + stddev * z,  z_e ~ N(0, 1) per element
        inference: y = x
        dx = dy (the noise does not depend on x)

    Parameters
    ----------
    stddev : float >= 0
        Standard deviation of the noise. (Keras also refuses values above 1;
        fastnn does not, as raw, unscaled features may call for more.)
    seed : int >= 0, optional
        Seeds the noise; None: drawn from the model's seeded generator when the
        model is built.
    name : str, optional

    Notes
    -----
    Input and output shape: (batch, features); the layer acts element by element.

    The normal samples come from Box-Muller on the counter-based generator's
    32-bit uniforms (src_c/noise.pyx), so they are bit-identical for a seed
    whatever the thread count, and bounded by 6.66 standard deviations.
    """

    def __init__(self, stddev: float, seed: int | None = None, name: str | None = None):
        stddev = check_float(stddev, "stddev", 0.0)
        super().__init__(seed, name)
        self.stddev = stddev

    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        if not training or self.stddev == 0.0:
            self._call = None
            return x
        self._call = self.counter
        self.counter += 1
        ops.gaussian_noise_forward(x, self._out, n, self.stddev, self._key, self._call)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        return dout if need_dx else None

    def get_config(self) -> dict[str, Any]:
        return {"stddev": self.stddev, "seed": self.seed, "name": self.name}
