"""Dense (fully connected) layer: y = activation(x @ W + b)."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn import activations, constraints, initializers, ops, regularizers
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
    kernel_initializer, bias_initializer : str, Initializer or dict
        Names from `fastnn.initializers.names()`, instances or config dicts.
    kernel_regularizer, bias_regularizer : Regularizer, str, dict or None
        Penalty on the weights, `fastnn.regularizers.L1/L2/L1L2` (Keras
        definitions: ``l1 * sum|w| + l2 * sum w**2``). Its gradient is added to
        the weight gradient by one kernel pass right after the backward GEMM,
        and its value to the training loss (and to evaluate's loss).
    activity_regularizer : Regularizer, str, dict or None
        Penalty on the layer's output y, divided by the batch size as Keras
        does: ``(l1 * sum|y| + l2 * sum y**2) / n``. Its gradient is added to
        the incoming gradient before the backward pass; its value goes into the
        training loss (evaluate reports the weight penalties only).
    kernel_constraint, bias_constraint : Constraint, str, dict or None
        Projection applied in place after each optimizer step
        (`fastnn.constraints.MaxNorm`, `NonNeg`, `UnitNorm`, `MinMaxNorm`).

    Notes
    -----
    The forward pass is one GEMM plus a fused bias/activation pass; the backward
    pass fuses the activation gradient with the bias-gradient column sums, then
    runs the GEMMs for dW and (except in the first layer) dx. Activations whose
    derivative needs the pre-activation z (gelu, silu, mish) keep z in a buffer of
    the layer's own, written in the same fused pass as the output.

    As the first layer, it also takes a batch of sparse rows (`fastnn.ops.SparseRows`,
    from scipy.sparse CSR inputs or dense inputs with many zeros, see
    `Sequential.zero_skipping`): the forward pass sums only the rows of W whose inputs
    are nonzero, and the weight gradient ``dW = x^T dz`` only over the nonzeros; no dx
    is computed (the input is data).

    A user-defined activation (`fastnn.activations.register`) runs the slower
    Python path: the kernel computes z = x @ W + b (linear), then the user's
    numpy functions give act(z) and, backward, act'(z).

    Formula::

        y = activation(x @ W + b)        x: (n, in), W: (in, units), b: (units,)
    """

    def __init__(self, units: int, activation: str | dict | activations.ActivationSpec | None = None,
                 use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, name: str | None = None):
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units: expected an integer >= 1, got {units!r}")
        self.units = int(units)
        self.activation_spec = activations.get(activation)
        self.activation = self.activation_spec.name  # the name, as Sequential.compile reads it
        self.act = self.activation_spec.code
        self._alpha = self.activation_spec.alpha
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        if not self.use_bias:  # nothing to penalize or project
            self.bias_regularizer = self.bias_constraint = None
        self.has_penalty = any(r is not None for r in (
            self.kernel_regularizer, self.bias_regularizer, self.activity_regularizer))
        self.has_constraints = self.kernel_constraint is not None or self.bias_constraint is not None
        self._penalty = 0.0
        self.kernel = self.bias = self._dkernel = self._dbias = None
        self._out = self._dx = self._x = self._z = None
        self._sparse_work = None  # workspace of the sparse-input kernels, made on first use

    def build(self, input_dim: int, dtype: np.dtype) -> None:
        self.input_dim, self.output_dim, self.dtype = input_dim, self.units, dtype
        self.built = True

    def param_specs(self):
        specs = [("kernel", (self.input_dim, self.units))]
        if self.use_bias:
            specs.append(("bias", (self.units,)))
        return specs

    def initial_values(self, rng):
        values = [self.kernel_initializer(
            (self.input_dim, self.units), self.input_dim, self.units, rng, self.dtype)]
        if self.use_bias:
            values.append(self.bias_initializer(
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
        if isinstance(x, ops.SparseRows):
            self._forward_sparse(x, n, training)
        elif self.activation_spec.custom:  # z = x @ W + b in the kernel, act(z) in numpy
            ops.dense_forward(x, self.kernel, self.bias, self._z, n, activations.LINEAR)
            self.activation_spec.forward(self._z, self._out, n)
        else:
            ops.dense_forward(x, self.kernel, self.bias, self._out, n, self.act, self._alpha,
                              self._z)
        return self._out

    def backward(self, dout, n, need_dx):
        dx = self._dx if need_dx else None
        penalty = 0.0
        if self.activity_regularizer is not None:  # d/dy of (l1 sum|y| + l2 sum y^2) / n
            r = self.activity_regularizer
            penalty += ops.add_penalty(self._out, dout, n * self.units, r.l1 / n, r.l2 / n)
        if isinstance(self._x, ops.SparseRows):
            self._backward_sparse(dout, n, need_dx)
        elif self.activation_spec.custom:  # dout *= act'(z) in numpy, then a linear backward
            self.activation_spec.backward(self._z, self._out, dout, n)
            ops.dense_backward(self._x, self.kernel, self._out, dout, self._dkernel, self._dbias,
                               dx, n, activations.LINEAR)
        else:
            ops.dense_backward(self._x, self.kernel, self._out, dout, self._dkernel, self._dbias,
                               dx, n, self.act, self._alpha, self._z)
        if self.has_penalty:
            penalty += self._weight_penalties(add_gradient=True)
        self._penalty = penalty
        return dx

    def _forward_sparse(self, x, n, training):
        """Zero-skipping forward pass on CSR rows (the column-major kernel, with the
        batch transposed into the workspace for the backward pass, from
        ops CSC_MIN_ROWS rows on)."""
        if self._sparse_work is None:
            self._sparse_work = ops.CSRWorkspace()
        work = self._sparse_work
        if self.activation_spec.custom:
            ops.csr_dense_forward(x, self.kernel, self.bias, self._z, n, activations.LINEAR,
                                  work=work)
            self.activation_spec.forward(self._z, self._out, n)
        else:
            ops.csr_dense_forward(x, self.kernel, self.bias, self._out, n, self.act, self._alpha,
                                  self._z, work=work)

    def _backward_sparse(self, dout, n, need_dx):
        if need_dx:
            raise ValueError(f"{self.name}: a sparse input batch feeds the first layer only "
                             "(no gradient w.r.t. the input); got a request for dx")
        if self._sparse_work is None:
            self._sparse_work = ops.CSRWorkspace()
        if self.activation_spec.custom:
            self.activation_spec.backward(self._z, self._out, dout, n)
            ops.csr_dense_backward(self._x, self._out, dout, self._dkernel, self._dbias, n,
                                   activations.LINEAR, self._sparse_work)
        else:
            ops.csr_dense_backward(self._x, self._out, dout, self._dkernel, self._dbias, n,
                                   self.act, self._sparse_work, self._alpha, self._z)

    def _weight_penalties(self, add_gradient: bool) -> float:
        """Kernel and bias penalties; with add_gradient, their gradients go into the
        gradient arena in the same kernel pass (otherwise the value alone)."""
        total = 0.0
        for r, w, dw in ((self.kernel_regularizer, self.kernel, self._dkernel),
                         (self.bias_regularizer, self.bias, self._dbias)):
            if r is not None:
                if add_gradient:
                    total += ops.add_penalty(w, dw, w.size, r.l1, r.l2)
                else:
                    total += r(w)
        return total

    def penalty(self) -> float:
        return self._penalty

    def weight_penalty(self) -> float:
        return self._weight_penalties(add_gradient=False)

    def apply_constraints(self) -> None:
        if self.kernel_constraint is not None:
            self.kernel_constraint(self.kernel)
        if self.bias_constraint is not None:
            self.bias_constraint(self.bias)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": activations.serialize(self.activation_spec),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "name": self.name}
