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
    activation : str, dict, ActivationSpec or None
        A name from fastnn.activations.names() (None is linear), a spec with
        parameters such as ``activations.get("leaky_relu", negative_slope=0.1)``,
        or its config dict ``{"name": "leaky_relu", "negative_slope": 0.1}``.
    use_bias : bool
        Whether to add a bias vector b of shape (units,).
    kernel_initializer, bias_initializer : str
        Names from fastnn.initializers.

    The forward pass is one GEMM plus a fused bias/activation pass; the backward
    pass fuses the activation gradient with the bias-gradient column sums, then
    runs the GEMMs for dW and (except in the first layer) dx. Activations whose
    derivative needs the pre-activation z (gelu, silu, mish) keep z in a buffer of
    the layer's own, written in the same fused pass as the output.

    A user-defined activation (`fastnn.activations.register`) runs the slower
    Python path: the kernel computes z = x @ W + b (linear), then the user's
    numpy functions give act(z) and, backward, act'(z).

    Formula::

        y = activation(x @ W + b)        x: (n, in), W: (in, units), b: (units,)
    """

    def __init__(self, units: int, activation: str | dict | activations.ActivationSpec | None = None,
                 use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 name: str | None = None):
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units: expected an integer >= 1, got {units!r}")
        self.units = int(units)
        self.activation_spec = activations.get(activation)
        self.activation = self.activation_spec.name  # the name, as Sequential.compile reads it
        self.act = self.activation_spec.code
        self._alpha = self.activation_spec.alpha
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer, "kernel_initializer")
        initializers.get(bias_initializer, "bias_initializer")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = self._dkernel = self._dbias = None
        self._out = self._dx = self._x = self._z = None

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
        # The pre-activation, kept only for the activations whose backward reads it.
        self._z = (np.empty((capacity, self.units), self.dtype)
                   if self.activation_spec.needs_z else None)
        self._dx = np.empty((capacity, self.input_dim), self.dtype) if need_dx else None

    def forward(self, x, n, training):
        self._x = x
        if self.activation_spec.custom:  # z = x @ W + b in the kernel, act(z) in numpy
            ops.dense_forward(x, self.kernel, self.bias, self._z, n, activations.LINEAR)
            self.activation_spec.forward(self._z, self._out, n)
        else:
            ops.dense_forward(x, self.kernel, self.bias, self._out, n, self.act, self._alpha,
                              self._z)
        return self._out

    def backward(self, dout, n, need_dx):
        dx = self._dx if need_dx else None
        if self.activation_spec.custom:  # dout *= act'(z) in numpy, then a linear backward
            self.activation_spec.backward(self._z, self._out, dout, n)
            ops.dense_backward(self._x, self.kernel, self._out, dout, self._dkernel, self._dbias,
                               dx, n, activations.LINEAR)
        else:
            ops.dense_backward(self._x, self.kernel, self._out, dout, self._dkernel, self._dbias,
                               dx, n, self.act, self._alpha, self._z)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": activations.serialize(self.activation_spec),
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, "name": self.name}
