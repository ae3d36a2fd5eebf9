"""Activation layers: an activation applied on its own, as `keras.layers.Activation`.

`Activation("relu")` takes any activation of `fastnn.activations` (a name with
parameters, a spec or a config dict); `ReLU`, `LeakyReLU`, `ELU` and `Softmax`
are the Keras layer forms with their own parameters and defaults. They have no
weights. A Dense layer fuses its activation with its GEMM and bias; a separate
activation layer costs one more pass over the batch, and is what to use after a
layer that has no activation of its own (BatchNormalization, Dropout).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import activations
from fastnn.layers.base import Layer


class Activation(Layer):
    """Applies an activation function to its input.

    Parameters
    ----------
    activation : str, dict, ActivationSpec or None
        A name from `fastnn.activations.names()`, a spec, or a config dict;
        None is linear (the identity).
    name : str, optional
    **params
        The activation's parameters (``negative_slope`` for leaky_relu,
        ``alpha`` for elu, ``approximate`` for gelu), as `activations.get`.

    Notes
    -----
    Shapes: input (n, features), output (n, features) in a buffer of the
    layer's own (the input, which may be the user's array, is never written).
    The backward pass reads the output, and for gelu, silu, mish and
    user-defined activations the input, kept by reference from the forward
    pass (the previous layer leaves its buffer untouched until the next
    forward).

    Formula::

        y = activation(x)

    Examples
    --------
    >>> model = fastnn.Sequential([layers.Dense(64), layers.BatchNormalization(),
    ...                            layers.Activation("swish"), layers.Dense(10)])
    """

    #: Element-wise (may precede a Flatten) except for the softmax family, which
    #: normalizes each row: instances of softmax / log_softmax set it to False.
    elementwise = True

    def __init__(self, activation: str | dict | activations.ActivationSpec | None,
                 name: str | None = None, **params: Any):
        super().__init__(name)
        self._set_spec(activations.get(activation, **params))

    def _set_spec(self, spec: activations.ActivationSpec) -> None:
        self.activation_spec = spec
        self.activation = spec.name  # the name, as Sequential.compile reads it
        if spec.rowwise:
            self.elementwise = False
        self._out: np.ndarray | None = None
        self._x: np.ndarray | None = None
        #: Set by the model when the previous layer applies this activation in its own
        #: passes (`Layer.fuse_activation`): this layer then passes data through.
        self.fused = False

    def allocate(self, capacity: int, need_dx: bool) -> None:
        self._out = None if self.fused else np.empty((capacity, self.input_dim), self.dtype)

    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        if self.fused:
            return x
        self._x = x
        self.activation_spec.forward(x, self._out, n)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        if not need_dx:  # no weights: nothing to compute when no one needs dx
            return None
        if self.fused:
            return dout
        self.activation_spec.backward(self._x, self._out, dout, n)
        return dout

    def get_config(self) -> dict[str, Any]:
        return {"activation": activations.serialize(self.activation_spec), "name": self.name}


class ReLU(Activation):
    """Rectified linear unit, as `keras.layers.ReLU`.

    Parameters
    ----------
    max_value : None or 6
        None: max(x, 0); 6: relu6, min(max(x, 0), 6).
    negative_slope : float >= 0
        Slope for x < 0 (leaky_relu when > 0; not together with max_value).
    threshold : 0
        Only 0 is supported (Keras's default).
    name : str, optional

    Notes
    -----
    Formula::

        y = x if x > 0 else negative_slope * x        (max_value None)
        y = min(max(x, 0), 6)                          (max_value 6)
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, name: str | None = None):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
                or threshold != 0:
            raise ValueError(f"threshold: only 0 is supported, got {threshold!r}")
        slope = activations.get("leaky_relu", negative_slope=negative_slope).alpha
        if max_value is None:
            spec = activations.get("leaky_relu", negative_slope=slope) if slope else activations.get("relu")
        elif (not isinstance(max_value, bool) and isinstance(max_value, (int, float, np.integer, np.floating))
              and max_value == 6):
            if slope:
                raise ValueError(f"negative_slope: expected 0 with max_value=6, got {negative_slope!r}")
            spec = activations.get("relu6")
        else:
            raise ValueError(f"max_value: expected None or 6, got {max_value!r}")
        Layer.__init__(self, name)
        self.max_value = None if max_value is None else 6.0
        self.negative_slope = slope
        self.threshold = 0.0
        self._set_spec(spec)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold, "name": self.name}


class LeakyReLU(Activation):
    """Leaky rectified linear unit, as `keras.layers.LeakyReLU` (default slope 0.3,
    the layer's Keras default; the function `activations.leaky_relu` defaults to 0.2).

    Parameters
    ----------
    negative_slope : float >= 0
    name : str, optional

    Notes
    -----
    Formula::

        y = x if x > 0 else negative_slope * x
    """

    def __init__(self, negative_slope: float = 0.3, name: str | None = None):
        Layer.__init__(self, name)
        self._set_spec(activations.get("leaky_relu", negative_slope=negative_slope))
        self.negative_slope = self.activation_spec.alpha

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope, "name": self.name}


class ELU(Activation):
    """Exponential linear unit, as `keras.layers.ELU`.

    Parameters
    ----------
    alpha : float >= 0
    name : str, optional

    Notes
    -----
    Formula::

        y = x if x > 0 else alpha * (exp(x) - 1)
    """

    def __init__(self, alpha: float = 1.0, name: str | None = None):
        Layer.__init__(self, name)
        self._set_spec(activations.get("elu", alpha=alpha))
        self.alpha = self.activation_spec.alpha

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "name": self.name}


class Softmax(Activation):
    """Softmax over the features (the last axis), as `keras.layers.Softmax`.

    Parameters
    ----------
    axis : -1
        Only the last axis (the features) is supported in a layer.
    name : str, optional

    Notes
    -----
    Formula::

        y_j = exp(x_j - max(x)) / sum_k exp(x_k - max(x))
    """

    elementwise = False

    def __init__(self, axis: int = -1, name: str | None = None):
        Layer.__init__(self, name)
        self._set_spec(activations.get("softmax", axis=axis))
        self.axis = -1

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, "name": self.name}
