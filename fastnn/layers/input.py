"""Input: declares the number of input features of a Sequential model."""
from __future__ import annotations

from fastnn.layers.base import Layer


class Input(Layer):
    """Placeholder for the input width, as `keras.Input(shape=(n_features,))`.

    Parameters
    ----------
    shape : tuple of one int
        (n_features,). Dense networks take flat feature vectors.
    """

    def __init__(self, shape: tuple[int], name: str | None = None):
        super().__init__(name)
        if isinstance(shape, int):
            shape = (shape,)
        if (not isinstance(shape, (tuple, list)) or len(shape) != 1
                or isinstance(shape[0], bool) or not isinstance(shape[0], int) or shape[0] < 1):
            raise ValueError(f"shape: expected (n_features,) with n_features >= 1, got {shape!r}")
        self.shape = (int(shape[0]),)

    def get_config(self):
        return {"shape": self.shape, "name": self.name}
