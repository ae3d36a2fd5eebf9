"""BatchNormalization: normalize each feature with batch statistics (training) or
moving statistics (inference), Keras semantics, fused kernels."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import activations, initializers, ops
from fastnn.layers.base import Layer
from fastnn.layers.dropout import check_float


def check_axis(axis: Any) -> int:
    """Only the feature axis: -1 (or 1, the same axis of a (batch, features) input)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or axis not in (-1, 1):
        raise ValueError(f"axis: expected -1 (the features axis of a (batch, features) input), got {axis!r}")
    return int(axis)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


class VectorInitializer:
    """An initializer argument of a per-feature vector: validated at construction,
    kept as given for get_config (a name, or the initializer's config dict)."""

    def __init__(self, identifier: Any, argument: str):
        self.init = initializers.get(identifier, argument)
        self.config = identifier if isinstance(identifier, str) else initializers.serialize(self.init)

    def __call__(self, d: int, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        # A (d,) vector has fan_in = fan_out = d (Keras's compute_fans of a 1-D shape).
        return self.init((d,), d, d, rng, dtype)


class BatchNormalization(Layer):
    """Normalizes each feature over the batch, then scales and shifts it (Keras's
    BatchNormalization on (batch, features) inputs).

    Formula::

        training (batch statistics over the n rows of the batch):
            mean = sum_i x_i / n,  var = sum_i (x_i - mean)**2 / n          (biased)
            y = gamma * (x - mean) / sqrt(var + epsilon) + beta
            moving_mean     = moving_mean * momentum + mean * (1 - momentum)
            moving_variance = moving_variance * momentum + var * (1 - momentum)
        inference:
            y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
        backward (training), x_hat = (x - mean) / sqrt(var + epsilon):
            dbeta = sum_i dy,  dgamma = sum_i dy * x_hat,
            dx = gamma / sqrt(var + epsilon) / n * (n dy - sum_i dy - x_hat * sum_i dy x_hat)

    Differences from torch.nn.BatchNorm1d: torch's `momentum` is the weight of
    the *new* batch (torch_momentum = 1 - momentum: Keras's 0.99 is torch's
    0.01), torch's default eps is 1e-5 (Keras and fastnn: 1e-3), and torch's
    running variance takes the unbiased batch variance var * n / (n - 1) while
    Keras and fastnn take the biased one; the normalization in training uses the
    biased variance in all three.

    Parameters
    ----------
    axis : int
        -1 only: the features axis of a (batch, features) input (1 is accepted
        as the same axis).
    momentum : float in [0, 1]
        Weight of the old moving statistics at each training step.
    epsilon : float > 0
        Added to the variance before the square root.
    center, scale : bool
        Whether the layer has the trainable offset beta / scale gamma.
    beta_initializer, gamma_initializer : str or Initializer
        Initializer names (or objects) from fastnn.initializers.
    moving_mean_initializer, moving_variance_initializer : str or Initializer
        Initializer names (or objects) from fastnn.initializers.
    name : str, optional

    Notes
    -----
    Weights (get_weights order, Keras's): gamma (features,) if scale, beta
    (features,) if center, then the non-trainable moving_mean and
    moving_variance (features,), which live in the model's state arena.

    Statistics are accumulated in float64 whatever the dtype, in two passes (no
    cancellation when ``|mean| >> std``). A batch of one row has var = 0, so it
    normalizes to beta (no NaN) and passes no gradient to x.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", name: str | None = None):
        self.axis = check_axis(axis)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self._beta_init = VectorInitializer(beta_initializer, "beta_initializer")
        self._gamma_init = VectorInitializer(gamma_initializer, "gamma_initializer")
        self._moving_mean_init = VectorInitializer(moving_mean_initializer, "moving_mean_initializer")
        self._moving_variance_init = VectorInitializer(moving_variance_initializer,
                                                       "moving_variance_initializer")
        super().__init__(name)
        self.gamma = self.beta = self._dgamma = self._dbeta = None
        self.moving_mean = self.moving_variance = None
        self._initial_state: list[np.ndarray] | None = None
        self._out = self._acc = self._work = self._ones = self._zeros = None
        self._x: np.ndarray | None = None
        self._training = False
        self._act, self._alpha = 0, 0.0  # a fused activation (fuse_activation)
        self._dropout = None  # a fused Dropout layer (fuse_dropout)
        self._drop_rate, self._drop_key, self._drop_call = 0.0, 0, 0

    # -- construction -------------------------------------------------------------------
    def param_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        d = self.input_dim
        return ([("gamma", (d,))] if self.scale else []) + ([("beta", (d,))] if self.center else [])

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("moving_mean", (self.input_dim,)), ("moving_variance", (self.input_dim,))]

    def initial_values(self, rng: np.random.Generator) -> list[np.ndarray]:
        d, dt = self.input_dim, self.dtype
        values = ([self._gamma_init(d, rng, dt)] if self.scale else []) + \
                 ([self._beta_init(d, rng, dt)] if self.center else [])
        # The moving statistics' initializers draw from the same generator, here,
        # because initial_state() receives none.
        self._initial_state = [self._moving_mean_init(d, rng, dt), self._moving_variance_init(d, rng, dt)]
        return values

    def initial_state(self) -> list[np.ndarray]:
        if self._initial_state is None:  # not built through a model: deterministic default
            self.initial_values(np.random.default_rng(0))
        state, self._initial_state = self._initial_state, None
        return state

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        params, grads = list(params), list(grads)
        if self.scale:
            self.gamma, self._dgamma = params.pop(0), grads.pop(0)
        if self.center:
            self.beta, self._dbeta = params.pop(0), grads.pop(0)

    def bind_state(self, state: list[np.ndarray]) -> None:
        self.moving_mean, self.moving_variance = state

    def allocate(self, capacity: int, need_dx: bool) -> None:
        d = self.input_dim
        self._out = np.empty((capacity, d), self.dtype)
        self._acc = np.empty((2, d), np.float64)   # batch statistics / gradient sums
        self._work = np.empty((ops.BN_WORK_ROWS, d), self.dtype)  # per-feature coefficients
        # Stand-ins for an absent gamma (scale=False) or beta (center=False).
        self._ones = np.ones(d, self.dtype)
        self._zeros = np.zeros(d, self.dtype)

    # -- computation --------------------------------------------------------------------
    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        self._x, self._training = x, bool(training)
        drop = self._dropout
        if drop is not None:  # draw the fused Dropout's call, as its own forward would
            self._drop_rate, self._drop_key, self._drop_call = drop.next_call(training)
        ops.batch_norm_forward(x, self._ones if self.gamma is None else self.gamma,
                               self._zeros if self.beta is None else self.beta,
                               self.moving_mean, self.moving_variance, self._out, self._acc,
                               self._work, n, self.momentum, self.epsilon, self._training,
                               self._act, self._alpha, self._drop_rate, self._drop_key,
                               self._drop_call)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        ops.batch_norm_backward(self._x, dout, self._dgamma, self._dbeta, self._acc, self._work, n,
                                self._training, need_dx, self._out, self._act, self._alpha,
                                self._drop_rate, self._drop_key, self._drop_call)
        return dout if need_dx else None

    def fuse_activation(self, spec: activations.ActivationSpec | None) -> bool:
        # Any element-wise kernel activation: applied to each output row in the
        # normalization pass, its derivative inside the gradient-sums pass.
        if spec is None or spec.custom or spec.rowwise:
            self._act, self._alpha = 0, 0.0
            return False
        self._act, self._alpha = spec.code, spec.alpha
        return True

    def fuse_dropout(self, layer: Any) -> bool:
        # Only when the width is a multiple of the dropout generator's block (32):
        # then every row's mask starts on a block and the fused loop vectorizes.
        if layer is None or self.input_dim % 32:
            self._dropout = None
            self._drop_rate, self._drop_key, self._drop_call = 0.0, 0, 0
            return False
        self._dropout = layer
        return True

    # -- configuration ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": self._beta_init.config,
                "gamma_initializer": self._gamma_init.config,
                "moving_mean_initializer": self._moving_mean_init.config,
                "moving_variance_initializer": self._moving_variance_init.config,
                "name": self.name}
