"""Activation functions: by name on layers, and as functions on numpy arrays.

Every built-in activation runs in the Cython kernels (src_c/_activations.pxd):
fused with the GEMM and bias on `Dense`, on whole arrays for `layers.Activation`
and for the functions of this module. Names, formulas and defaults are Keras 3's
(``keras.activations``); ``"swish"`` is an alias of ``"silu"``.

The built-in activations (z is the pre-activation)::

    ==============  =======================================================  ===============
    name            formula                                                  parameters
    ==============  =======================================================  ===============
    linear          z
    relu            max(z, 0)
    relu6           min(max(z, 0), 6)
    leaky_relu      z if z > 0 else negative_slope * z                       negative_slope=0.2
    elu             z if z > 0 else alpha * (exp(z) - 1)                     alpha=1.0
    selu            scale * elu(z, alpha), alpha = 1.67326324..., scale = 1.05070098...
    gelu            z * Phi(z) = 0.5 z (1 + erf(z / sqrt 2)), or with        approximate=False
                    approximate=True: 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
    sigmoid         1 / (1 + exp(-z))
    tanh            tanh(z)
    silu (swish)    z * sigmoid(z)
    softplus        log(1 + exp(z))
    softsign        z / (1 + |z|)
    hard_sigmoid    relu6(z + 3) / 6
    mish            z * tanh(softplus(z))
    exponential     exp(z)
    softmax         exp(z_j) / sum_k exp(z_k) over the last axis              axis=-1
    log_softmax     z_j - log(sum_k exp(z_k)) over the last axis              axis=-1
    ==============  =======================================================  ===============

Numerics: sigmoid, softplus, silu, mish, gelu and the softmax family never
overflow (their exps are taken of non-positive arguments; softmax and
log_softmax subtract the row maximum), so they are finite for any finite input,
``|z| = 1e4`` in float32 included. `exponential` overflows to inf above
log(max float) (88.7 in float32, 709.8 in float64), as exp does.

`softmax` is meant for an output layer; with the softmax cross-entropy loss,
leave the last layer linear (the loss applies the softmax, fused and stable).

Parameters: ``get("leaky_relu", negative_slope=0.1)`` returns an
`ActivationSpec` that `Dense(activation=...)` and `layers.Activation` accept,
as do its config dict ``{"name": "leaky_relu", "negative_slope": 0.1}`` and a
plain name. ``negative_slope`` and elu's ``alpha`` must be finite and >= 0:
then the output's sign tells the input's, and the backward pass reads the
output alone (Keras accepts negative values; fastnn refuses them).

A user-defined activation is a pair of vectorized numpy functions of the
pre-activation, registered by name (`register`); it runs on a slower Python
path (see `register`).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from fastnn import ops
from fastnn._validation import as_ndarray

__all__ = ["ActivationSpec", "get", "serialize", "deserialize", "names", "get_code", "register",
           "unregister", "derivative", "gradient", "linear", "relu", "relu6", "leaky_relu", "elu",
           "selu", "gelu", "sigmoid", "tanh", "silu", "swish", "softplus", "softsign",
           "hard_sigmoid", "mish", "exponential", "softmax", "log_softmax"]

# Codes shared with src_c/_activations.pxd (same numbers, same order).
(LINEAR, RELU, SIGMOID, TANH, SOFTMAX, RELU6, LEAKY_RELU, ELU, SELU, GELU, GELU_TANH, SILU,
 SOFTPLUS, SOFTSIGN, HARD_SIGMOID, MISH, EXPONENTIAL, LOG_SOFTMAX) = range(18)
#: Number of kernel codes (valid codes are 0 .. N_CODES - 1).
N_CODES = 18
#: Code of a user-defined activation (never passed to a kernel).
CUSTOM = -1

# Activations whose derivative is not a function of their output (not monotonic):
# their backward pass reads the pre-activation z, which a layer then keeps.
_NEEDS_Z = frozenset({GELU, GELU_TANH, SILU, MISH})
_ROWWISE = frozenset({SOFTMAX, LOG_SOFTMAX})

# name -> (code, {parameter: default}); gelu's code depends on `approximate`.
_BUILTINS: dict[str, tuple[int, dict[str, Any]]] = {
    "linear": (LINEAR, {}),
    "relu": (RELU, {}),
    "relu6": (RELU6, {}),
    "leaky_relu": (LEAKY_RELU, {"negative_slope": 0.2}),
    "elu": (ELU, {"alpha": 1.0}),
    "selu": (SELU, {}),
    "gelu": (GELU, {"approximate": False}),
    "sigmoid": (SIGMOID, {}),
    "tanh": (TANH, {}),
    "silu": (SILU, {}),
    "softplus": (SOFTPLUS, {}),
    "softsign": (SOFTSIGN, {}),
    "hard_sigmoid": (HARD_SIGMOID, {}),
    "mish": (MISH, {}),
    "exponential": (EXPONENTIAL, {}),
    "softmax": (SOFTMAX, {"axis": -1}),
    "log_softmax": (LOG_SOFTMAX, {"axis": -1}),
}
_ALIASES = {"swish": "silu"}

# name -> (value_fn, derivative_fn) of the registered user-defined activations.
_CUSTOM: dict[str, tuple[Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]] = {}


# -- parameter checks ---------------------------------------------------------------------------

def _nonnegative(value: Any, name: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"{name}: expected a finite float >= 0, got {value!r}")
    return float(value)


def _check_param(act: str, key: str, value: Any) -> Any:
    if key in ("negative_slope", "alpha"):
        return _nonnegative(value, key)
    if key == "approximate":
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"approximate: expected True or False, got {value!r}")
        return bool(value)
    if key == "axis":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value != -1:
            raise ValueError(f"axis: {act} in a layer runs over the features, the last axis: "
                             f"expected -1, got {value!r}")
        return -1
    raise AssertionError(key)


# -- the spec ---------------------------------------------------------------------------------

class ActivationSpec:
    """An activation with its parameters: what a layer needs to run it.

    Made by `get`; not constructed directly.

    Attributes
    ----------
    name : str
        Keras name of the activation (``"silu"`` for ``"swish"``).
    code : int
        Kernel code (`CUSTOM`, -1, for a user-defined activation).
    alpha : float
        The kernel's scalar parameter: leaky_relu's ``negative_slope``, elu's
        ``alpha``; 0 for the others.
    needs_z : bool
        Whether the backward pass reads the pre-activation z (gelu, silu, mish,
        user-defined activations); a layer then keeps z in a buffer of its own.
    rowwise : bool
        Whether it couples the entries of a row (softmax, log_softmax).
    custom : bool
        Whether it is a user-defined activation (runs in numpy).
    params : dict
        The activation's parameters, defaults filled in.
    """

    __slots__ = ("name", "code", "alpha", "needs_z", "rowwise", "custom", "params",
                 "_value_fn", "_derivative_fn")

    def __init__(self, name: str, code: int, params: dict[str, Any],
                 fns: tuple[Callable, Callable] | None = None):
        self.name = name
        self.code = code
        self.params = dict(params)
        self.alpha = float(params.get("negative_slope", params.get("alpha", 0.0)))
        self.custom = fns is not None
        self.needs_z = self.custom or code in _NEEDS_Z
        self.rowwise = code in _ROWWISE
        self._value_fn, self._derivative_fn = fns if fns is not None else (None, None)

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``; `get` (or `from_config`) rebuilds the spec from it."""
        return {"name": self.name, **self.params}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ActivationSpec":
        return get(config)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActivationSpec):
            return NotImplemented
        return self.name == other.name and self.params == other.params and self.code == other.code

    def __hash__(self) -> int:
        return hash((self.name, self.code, tuple(sorted(self.params.items()))))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"activations.get({self.name!r}{args})"

    # -- use on numpy arrays ------------------------------------------------------------------
    def __call__(self, x: Any) -> np.ndarray:
        """The activation of an array (over the last axis for the softmax family)."""
        return _apply(self, x, -1)

    # -- use in layers (buffers already validated and allocated) -----------------------------
    def forward(self, z: np.ndarray, out: np.ndarray, n: int) -> None:
        """out[:n] = act(z[:n]) for (>= n, k) C-contiguous buffers in the layer dtype."""
        if self.custom:
            if n:
                self._call_custom(self._value_fn, "value_fn", z[:n], out[:n])
        else:
            ops.activation_forward(z, out, n, self.code, self.alpha)

    def backward(self, z: np.ndarray | None, y: np.ndarray, d: np.ndarray, n: int) -> None:
        """``d[:n] *= act'(.)``: z is the forward's input (needed when needs_z), y its output."""
        if self.custom:
            if n:
                dz = d[:n]
                # The derivative goes through a scratch result: d itself stays the
                # upstream gradient until the user's function has been validated.
                deriv = self._checked(self._derivative_fn, "derivative_fn", z[:n])
                np.multiply(dz, deriv, out=dz, casting="same_kind")
        else:
            ops.activation_backward(z if self.needs_z else None, y, d, n, self.code, self.alpha)

    def _checked(self, fn: Callable, what: str, z: np.ndarray) -> np.ndarray:
        """fn(z) as an array of z's shape, checked (user-defined activations)."""
        res = np.asarray(fn(z))
        if res.shape != z.shape:
            raise ValueError(f"activation {self.name!r}: {what} returned shape {res.shape} "
                             f"for an input of shape {z.shape}; expected the input's shape")
        if res.dtype.kind not in "fiub":
            raise ValueError(f"activation {self.name!r}: {what} returned dtype {res.dtype}; "
                             f"expected real numbers")
        if not np.all(np.isfinite(res)) and np.all(np.isfinite(z)):
            bad = tuple(np.argwhere(~np.isfinite(res))[0])
            raise ValueError(f"activation {self.name!r}: {what} returned {res[bad]} at index {bad} "
                             f"for the finite input {z[bad]}; expected finite values")
        return res

    def _call_custom(self, fn: Callable, what: str, z: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, self._checked(fn, what, z), casting="same_kind")


# -- lookup -----------------------------------------------------------------------------------

def names() -> list[str]:
    """Names accepted by `get`: the built-in activations, their aliases and the
    registered user-defined ones."""
    return sorted(set(_BUILTINS) | set(_ALIASES) | set(_CUSTOM))


def get(identifier: str | dict | ActivationSpec | None = None, **params: Any) -> ActivationSpec:
    """The `ActivationSpec` of a name, config dict or spec (None means linear).

    Parameters
    ----------
    identifier : str, dict, ActivationSpec or None
        A name from `names()`, a config ``{"name": ..., **params}`` (what
        `serialize` and `ActivationSpec.get_config` return), or a spec.
    **params
        The activation's parameters: ``negative_slope`` (leaky_relu, default
        0.2), ``alpha`` (elu, default 1.0), ``approximate`` (gelu, default
        False), ``axis`` (softmax, log_softmax: only -1 in a layer). They
        override those of a config or spec.

    Examples
    --------
    >>> get("relu").code
    1
    >>> get("leaky_relu", negative_slope=0.1).get_config()
    {'name': 'leaky_relu', 'negative_slope': 0.1}
    """
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, ActivationSpec):
        if not params:
            return identifier
        identifier = identifier.get_config()
    if isinstance(identifier, dict):
        config = dict(identifier)
        if "name" not in config:
            raise ValueError(f"activation: expected a config with a 'name' key, got {identifier!r}")
        name = config.pop("name")
        config.update(params)
        return get(name, **config)
    if not isinstance(identifier, str):
        raise ValueError(f"activation: expected a name from {names()}, a config dict, an "
                         f"ActivationSpec or None, got {identifier!r}")
    name = _ALIASES.get(identifier, identifier)
    if name in _CUSTOM:
        if params:
            raise ValueError(f"activation: the user-defined activation {name!r} takes no "
                             f"parameters, got {sorted(params)}")
        return ActivationSpec(name, CUSTOM, {}, _CUSTOM[name])
    if name not in _BUILTINS:
        raise ValueError(f"activation: expected one of {names()} or None, got {identifier!r}")
    code, defaults = _BUILTINS[name]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        accepted = sorted(defaults) if defaults else "none"
        raise ValueError(f"activation: {name!r} has no parameter {unknown[0]!r} "
                         f"(its parameters: {accepted})")
    values = {k: _check_param(name, k, params.get(k, v)) for k, v in defaults.items()}
    if name == "gelu" and values["approximate"]:
        code = GELU_TANH
    return ActivationSpec(name, code, values)


deserialize = get


def serialize(activation: str | dict | ActivationSpec | None) -> str | dict[str, Any]:
    """The name of an activation with default parameters, else its config dict."""
    spec = get(activation)
    _, defaults = _BUILTINS.get(spec.name, (None, {}))
    if spec.params == defaults:
        return spec.name
    return spec.get_config()


def get_code(activation: str | dict | ActivationSpec | None) -> int:
    """Kernel code of a built-in activation (None means linear)."""
    spec = get(activation)
    if spec.custom:
        raise ValueError(f"activation: {spec.name!r} is user-defined and has no kernel code")
    return spec.code


# -- user-defined activations --------------------------------------------------------------------

def register(name: str, value_fn: Callable[[np.ndarray], Any],
             derivative_fn: Callable[[np.ndarray], Any]) -> ActivationSpec:
    """Register a user-defined activation under `name`.

    Parameters
    ----------
    name : str
        A name that is not a built-in activation (or alias) and not registered yet.
    value_fn : callable
        ``value_fn(z) -> act(z)``: a vectorized numpy function of the
        pre-activation array z (any shape), returning an array of z's shape.
    derivative_fn : callable
        ``derivative_fn(z) -> d act / dz`` element-wise, same shape as z.

    Returns
    -------
    ActivationSpec
        Also reachable as ``get(name)``; layers accept the name.

    Notes
    -----
    The slower Python path: a `Dense` runs its GEMM and bias through the kernel
    with a linear activation into a pre-activation buffer, then calls
    ``value_fn`` (forward) and ``derivative_fn`` (backward) on the batch in
    numpy, which allocates their result arrays at every step. Each result is
    checked (shape, real dtype, finite for finite input) and a bad one raises
    ValueError naming the activation and the function. Check the pair with
    `fastnn.gradient_check` (finite differences against ``derivative_fn``).
    The functions must be element-wise: entry (i, j) of the result depends on
    z[i, j] alone. Registration lasts for the process (save models with the
    name; register it again before loading them).

    Examples
    --------
    >>> spec = register("cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    >>> layer = layers.Dense(8, activation="cube")
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if name in _BUILTINS or name in _ALIASES:
        raise ValueError(f"name: {name!r} is a built-in activation; choose another name")
    if name in _CUSTOM:
        raise ValueError(f"name: {name!r} is already registered; unregister({name!r}) first")
    for fn, what in ((value_fn, "value_fn"), (derivative_fn, "derivative_fn")):
        if not callable(fn):
            raise ValueError(f"{what}: expected a callable taking an array, got {fn!r}")
    spec = ActivationSpec(name, CUSTOM, {}, (value_fn, derivative_fn))
    # Try both functions on a small probe before accepting them.
    probe = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    for fn, what in ((value_fn, "value_fn"), (derivative_fn, "derivative_fn")):
        try:
            res = fn(probe.copy())
        except Exception as exc:  # the user's function failed: say which one
            raise ValueError(f"{what}: calling it on a (3, 4) float64 array raised "
                             f"{type(exc).__name__}: {exc}") from exc
        res = np.asarray(res)
        if res.shape != probe.shape:
            raise ValueError(f"{what}: expected an array of the input's shape {probe.shape}, "
                             f"got shape {res.shape}")
        if res.dtype.kind not in "fiub" or not np.all(np.isfinite(res)):
            raise ValueError(f"{what}: expected finite real values on inputs in [-2, 2], got {res!r}")
    _CUSTOM[name] = (value_fn, derivative_fn)
    return spec


def unregister(name: str) -> None:
    """Forget a user-defined activation (built-ins cannot be removed)."""
    if name in _BUILTINS or name in _ALIASES:
        raise ValueError(f"name: {name!r} is a built-in activation and cannot be unregistered")
    if name not in _CUSTOM:
        raise ValueError(f"name: no user-defined activation {name!r} is registered")
    del _CUSTOM[name]


# -- functions on numpy arrays --------------------------------------------------------------------

def _work_array(x: Any) -> tuple[np.ndarray, np.dtype, np.dtype]:
    """(x as an array, the dtype to compute in, the dtype to return).

    float32 and float64 arrays stay as they are; float16 is computed in float32
    and returned as float16 (Keras computes in the input's float dtype);
    integers, bools, Python lists and scalars are computed and returned in
    float32 (Keras's floatx); longer floats in float64.
    """
    arr = as_ndarray(x, "x")
    kind = arr.dtype.kind
    if kind == "f" and not isinstance(x, (np.ndarray, np.generic)):
        return arr, np.dtype(np.float32), np.dtype(np.float32)  # Python floats: floatx
    if kind == "f":
        if arr.dtype in (np.float32, np.float64):
            return arr, arr.dtype, arr.dtype
        if arr.dtype.itemsize < 4:
            return arr, np.dtype(np.float32), arr.dtype
        return arr, np.dtype(np.float64), np.dtype(np.float64)
    if kind in "iub":
        return arr, np.dtype(np.float32), np.dtype(np.float32)
    raise TypeError(f"x: expected real numbers, got dtype {arr.dtype}")


def _rows(arr: np.ndarray, work: np.dtype, rowwise: bool, axis: int) -> np.ndarray:
    """A C-contiguous 2-D copy-or-view of arr in `work` dtype; rows along `axis` when rowwise."""
    if rowwise:
        return np.ascontiguousarray(np.moveaxis(arr, axis, -1), dtype=work).reshape(-1, arr.shape[axis])
    return np.ascontiguousarray(arr, dtype=work).reshape(1, -1)


def _unrows(a2: np.ndarray, arr: np.ndarray, rowwise: bool, axis: int, ret: np.dtype) -> np.ndarray:
    if rowwise:
        moved = np.moveaxis(arr, axis, -1).shape
        out = np.moveaxis(a2.reshape(moved), -1, axis)
        out = np.ascontiguousarray(out)
    else:
        out = a2.reshape(arr.shape)
    return out if out.dtype == ret else out.astype(ret)


def _check_axis(spec: ActivationSpec, arr: np.ndarray, axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis: expected an integer, got {axis!r}")
    if arr.ndim == 0:
        raise ValueError(f"x: {spec.name} normalizes along an axis: expected an array with at "
                         f"least one axis, got a scalar")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis: expected an axis of a {arr.ndim}-D array, in "
                         f"[{-arr.ndim}, {arr.ndim}), got {axis}")
    return int(axis) % arr.ndim


def _apply(spec: ActivationSpec, x: Any, axis: int = -1) -> np.ndarray:
    arr, work, ret = _work_array(x)
    if spec.rowwise:
        axis = _check_axis(spec, arr, axis)
    if spec.custom:
        z = np.asarray(arr, dtype=work)
        out = np.empty(z.shape, work)
        spec._call_custom(spec._value_fn, "value_fn", z, out)
        return out if work == ret else out.astype(ret)
    if arr.size == 0:
        return np.empty(arr.shape, ret)
    a2 = _rows(arr, work, spec.rowwise, axis)
    out = np.empty_like(a2)
    ops.activation_forward(a2, out, a2.shape[0], spec.code, spec.alpha)
    return _unrows(out, arr, spec.rowwise, axis, ret)


def gradient(activation: str | dict | ActivationSpec | None, x: Any, upstream: Any,
             axis: int = -1, **params: Any) -> np.ndarray:
    """The gradient w.r.t. x of sum(upstream * act(x)): what the backward pass computes.

    Element-wise activations: ``upstream * act'(x)``. softmax and log_softmax:
    the Jacobian-vector product along `axis`, ``y * (u - sum(u * y))`` and
    ``u - softmax(x) * sum(u)``.

    Parameters
    ----------
    activation : name, config, spec or None (see `get`)
    x : array-like, the activation's input (any shape)
    upstream : array-like of x's shape, d(loss)/d(act(x))
    axis : the softmax family's axis
    **params : the activation's parameters (see `get`)

    Returns
    -------
    ndarray of x's shape, in x's float dtype (float32 for integer input)
    """
    spec = get(activation, **params)
    arr, work, ret = _work_array(x)
    up = as_ndarray(upstream, "upstream")
    if up.shape != arr.shape:
        raise ValueError(f"upstream: expected the shape of x, {arr.shape}, got {up.shape}")
    if up.dtype.kind not in "fiub":
        raise TypeError(f"upstream: expected real numbers, got dtype {up.dtype}")
    if spec.rowwise:
        axis = _check_axis(spec, arr, axis)
    if arr.size == 0:
        return np.empty(arr.shape, ret)
    if spec.custom:
        z = np.asarray(arr, dtype=work)
        d = np.array(up, dtype=work)
        np.multiply(d, spec._checked(spec._derivative_fn, "derivative_fn", z), out=d,
                    casting="same_kind")
        return d if work == ret else d.astype(ret)
    z2 = _rows(arr, work, spec.rowwise, axis)
    d2 = _rows(up, work, spec.rowwise, axis).copy()
    n = z2.shape[0]
    if spec.needs_z:
        ops.activation_backward(z2, None, d2, n, spec.code, spec.alpha)
    else:
        y2 = np.empty_like(z2)
        ops.activation_forward(z2, y2, n, spec.code, spec.alpha)
        ops.activation_backward(None, y2, d2, n, spec.code, spec.alpha)
    return _unrows(d2, arr, spec.rowwise, axis, ret)


def derivative(activation: str | dict | ActivationSpec | None, x: Any, **params: Any) -> np.ndarray:
    """The element-wise derivative act'(x), as the backward kernels compute it.

    At a kink the one-sided value the kernels use is returned: relu'(0) = 0,
    leaky_relu'(0) = negative_slope, elu'(0) = alpha, relu6' and hard_sigmoid'
    are 0 at their corners (torch's conventions).

    Parameters
    ----------
    activation : name, config, spec or None (see `get`); not softmax or
        log_softmax, whose derivative is a Jacobian (use `gradient`)
    x : array-like, any shape
    **params : the activation's parameters

    Returns
    -------
    ndarray of x's shape, in x's float dtype (float32 for integer input)
    """
    spec = get(activation, **params)
    if spec.rowwise:
        raise ValueError(f"activation: {spec.name} is not element-wise (its Jacobian couples "
                         f"the entries of a row); use gradient(activation, x, upstream)")
    arr = as_ndarray(x, "x")
    return gradient(spec, arr, np.ones(arr.shape, np.float32))


# One public function per built-in activation, Keras's signatures.

def linear(x: Any) -> np.ndarray:
    """z (a copy of x, in x's float dtype)."""
    return _apply(get("linear"), x)


def relu(x: Any) -> np.ndarray:
    """max(x, 0)."""
    return _apply(get("relu"), x)


def relu6(x: Any) -> np.ndarray:
    """min(max(x, 0), 6)."""
    return _apply(get("relu6"), x)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> np.ndarray:
    """x if x > 0 else negative_slope * x (negative_slope finite, >= 0)."""
    return _apply(get("leaky_relu", negative_slope=negative_slope), x)


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """x if x > 0 else alpha * (exp(x) - 1) (alpha finite, >= 0; expm1 keeps precision near 0)."""
    return _apply(get("elu", alpha=alpha), x)


def selu(x: Any) -> np.ndarray:
    """scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6732632423543772,
    scale = 1.0507009873554805 (Klambauer et al. 2017)."""
    return _apply(get("selu"), x)


def gelu(x: Any, approximate: bool = False) -> np.ndarray:
    """Gaussian error linear unit, Keras 3's default exact form.

    Formula::

        approximate=False:  x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))
        approximate=True:   0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))

    computed as 0.5 x erfc(-x / sqrt 2) and x sigmoid(2 u) (the same values,
    without cancellation for x << 0).
    """
    return _apply(get("gelu", approximate=approximate), x)


def sigmoid(x: Any) -> np.ndarray:
    """1 / (1 + exp(-x)), evaluated with ``exp(-|x|)`` so that it never overflows."""
    return _apply(get("sigmoid"), x)


def tanh(x: Any) -> np.ndarray:
    """tanh(x)."""
    return _apply(get("tanh"), x)


def silu(x: Any) -> np.ndarray:
    """x * sigmoid(x) (also called swish)."""
    return _apply(get("silu"), x)


swish = silu


def softplus(x: Any) -> np.ndarray:
    """log(1 + exp(x)), evaluated as ``max(x, 0) + log1p(exp(-|x|))``: no overflow."""
    return _apply(get("softplus"), x)


def softsign(x: Any) -> np.ndarray:
    """``x / (1 + |x|)``."""
    return _apply(get("softsign"), x)


def hard_sigmoid(x: Any) -> np.ndarray:
    """relu6(x + 3) / 6: 0 for x <= -3, 1 for x >= 3, x / 6 + 0.5 between (Keras 3, torch)."""
    return _apply(get("hard_sigmoid"), x)


def mish(x: Any) -> np.ndarray:
    """x * tanh(softplus(x))."""
    return _apply(get("mish"), x)


def exponential(x: Any) -> np.ndarray:
    """exp(x); overflows to inf above 88.7 (float32) or 709.8 (float64), by definition."""
    return _apply(get("exponential"), x)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along `axis` (any axis; -1 by default)."""
    return _apply(get("softmax"), x, axis)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """(x - max) - log(sum(exp(x - max))) along `axis`."""
    return _apply(get("log_softmax"), x, axis)
