"""LayerNormalization: normalize each sample over its features (Ba et al., 2016)."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import ops
from fastnn.layers.base import Layer
from fastnn.layers.batch_normalization import VectorInitializer, check_axis, check_bool
from fastnn.layers.dropout import check_float


class LayerNormalization(Layer):
    """Normalizes each sample over its features, then scales and shifts each
    feature (Keras's LayerNormalization on (batch, features) inputs). The same in
    training and inference: no batch statistics, no state.

    Formula::

        per row x (d features):
            mean = sum_j x_j / d,  var = sum_j (x_j - mean)**2 / d          (biased)
            x_hat = (x - mean) / sqrt(var + epsilon),  y = gamma * x_hat + beta
        backward, g = dy * gamma:
            dgamma = sum_rows dy * x_hat,  dbeta = sum_rows dy
            dx = (g - mean_j(g) - x_hat * mean_j(g * x_hat)) / sqrt(var + epsilon)

    Parameters
    ----------
    axis : int
        -1 only (the features axis; 1 is accepted as the same axis).
    epsilon : float > 0
        Added to the variance before the square root (Keras's default 1e-3;
        torch.nn.LayerNorm's is 1e-5).
    center, scale : bool
        Whether the layer has the trainable offset beta / scale gamma.
    beta_initializer, gamma_initializer : initializer names (or objects)
    name : str, optional

    Notes
    -----
    Weights: gamma (features,) if scale, then beta (features,) if center.
    Keras's rms_scaling is not implemented.
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 name: str | None = None):
        self.axis = check_axis(axis)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self._beta_init = VectorInitializer(beta_initializer, "beta_initializer")
        self._gamma_init = VectorInitializer(gamma_initializer, "gamma_initializer")
        super().__init__(name)
        self.gamma = self.beta = self._dgamma = self._dbeta = None
        self._out = self._stats = self._acc = self._ones = self._zeros = None
        self._x: np.ndarray | None = None

    def param_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        d = self.input_dim
        return ([("gamma", (d,))] if self.scale else []) + ([("beta", (d,))] if self.center else [])

    def initial_values(self, rng: np.random.Generator) -> list[np.ndarray]:
        d, dt = self.input_dim, self.dtype
        return ([self._gamma_init(d, rng, dt)] if self.scale else []) + \
               ([self._beta_init(d, rng, dt)] if self.center else [])

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        params, grads = list(params), list(grads)
        if self.scale:
            self.gamma, self._dgamma = params.pop(0), grads.pop(0)
        if self.center:
            self.beta, self._dbeta = params.pop(0), grads.pop(0)

    def allocate(self, capacity: int, need_dx: bool) -> None:
        d = self.input_dim
        self._out = np.empty((capacity, d), self.dtype)
        self._stats = np.empty((capacity, 2), np.float64)  # each row's (mean, 1 / std)
        self._acc = np.empty((2, d), np.float64)          # parameter-gradient sums
        # Stand-ins for an absent gamma (scale=False) or beta (center=False).
        self._ones = np.ones(d, self.dtype)
        self._zeros = np.zeros(d, self.dtype)

    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        self._x = x
        ops.layer_norm_forward(x, self._ones if self.gamma is None else self.gamma,
                               self._zeros if self.beta is None else self.beta, self._out,
                               self._stats, n, self.epsilon)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        ops.layer_norm_backward(self._x, self._ones if self.gamma is None else self.gamma, dout,
                                self._dgamma, self._dbeta, self._acc, self._stats, n, need_dx)
        return dout if need_dx else None

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": self._beta_init.config,
                "gamma_initializer": self._gamma_init.config, "name": self.name}
