"""Dense (fully connected) layer: y = activation(x @ W + b)."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import activations, initializers, ops
from fastnn.layers.base import Layer


class Dense(Layer):
    """Fully connected layer, Keras layout: kernel W of shape (in, units).

    Parameters
    ----------
    units : int
        Output width.
    activation : str or None
        One of fastnn.activations.names(); None is linear.
    use_bias : bool
        Whether to add a bias vector b of shape (units,).
    kernel_initializer, bias_initializer : str
        Names from fastnn.initializers.

    The forward pass is one GEMM plus a fused bias/activation pass; the backward
    pass fuses the activation gradient with the bias-gradient column sums, then
    runs the GEMMs for dW and (except in the first layer) dx.
    """

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 name: str | None = None):
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units: expected an integer >= 1, got {units!r}")
        self.units = int(units)
        self.act = activations.get_code(activation)
        self.activation = activation or "linear"
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer, "kernel_initializer")
        initializers.get(bias_initializer, "bias_initializer")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = self._dkernel = self._dbias = None
        self._out = self._dx = self._x = None

    def build(self, input_dim: int, dtype: np.dtype) -> None:
        self.input_dim, self.output_dim, self.dtype = input_dim, self.units, dtype
        self.built = True

    def param_specs(self):
        specs = [("kernel", (self.input_dim, self.units))]
        if self.use_bias:
            specs.append(("bias", (self.units,)))
        return specs

    def initial_values(self, rng):
        values = [initializers.get(self.kernel_initializer)(
            (self.input_dim, self.units), self.input_dim, self.units, rng, self.dtype)]
        if self.use_bias:
            values.append(initializers.get(self.bias_initializer)(
                (self.units,), self.input_dim, self.units, rng, self.dtype))
        return values

    def bind(self, params, grads):
        self.kernel, self._dkernel = params[0], grads[0]
        if self.use_bias:
            self.bias, self._dbias = params[1], grads[1]

    def allocate(self, capacity, need_dx):
        self._out = np.empty((capacity, self.units), self.dtype)
        self._dx = np.empty((capacity, self.input_dim), self.dtype) if need_dx else None

    def forward(self, x, n, training):
        self._x = x
        ops.dense_forward(x, self.kernel, self.bias, self._out, n, self.act)
        return self._out

    def backward(self, dout, n, need_dx):
        dx = self._dx if need_dx else None
        ops.dense_backward(self._x, self.kernel, self._out, dout, self._dkernel, self._dbias,
                           dx, n, self.act)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, "name": self.name}
