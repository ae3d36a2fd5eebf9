"""Input: declares the shape of one sample of a Sequential model's input."""
from __future__ import annotations

import numpy as np

from fastnn.layers.base import Layer


def check_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """A sample shape: a tuple of ints >= 1 (an int n means (n,))."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if (not isinstance(shape, (tuple, list)) or len(shape) < 1
            or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in shape)):
        raise ValueError(f"{name}: expected a tuple of sizes >= 1 such as (n_features,) or (28, 28), "
                         f"got {shape!r}")
    return tuple(int(d) for d in shape)


class Input(Layer):
    """Placeholder for the shape of one sample, as `keras.Input(shape=(n_features,))`.

    Parameters
    ----------
    shape : tuple of ints
        (n_features,) for flat feature vectors, or e.g. (28, 28) for images that
        a `Flatten` layer turns into vectors.
    """

    def __init__(self, shape: tuple[int, ...], name: str | None = None):
        super().__init__(name)
        self.shape = check_shape(shape)

    def get_config(self):
        return {"shape": self.shape, "name": self.name}
