"""Export a built `Sequential` to ONNX: `export_onnx(model, path)`.

The exported graph is the model's inference pass, what `model.predict` computes:

=========================  ==========================================================
fastnn layer               ONNX nodes
=========================  ==========================================================
Input                      the graph input, shape ``(batch, *sample_shape)``
Dense                      Gemm (kernel (in, units), bias) + its activation
Activation, ReLU,          the activation (table below)
LeakyReLU, ELU, Softmax
Dropout, GaussianNoise     nothing (the identity at inference)
BatchNormalization         (x - moving_mean) * a + beta, a = gamma / sqrt(moving_variance
                           + epsilon) computed in float64 (the kernel's inference form)
LayerNormalization         LayerNormalization (float32, opset >= 17), else ReduceMean, Sqrt
Normalization              (x - mean) * (1 / max(sqrt(variance), 1e-7))
Flatten                    Flatten(axis=1) when the samples are N-D, else nothing
=========================  ==========================================================

plus, unless ``raw_output=True``, the output transform of the compiled loss
(softmax for softmax / categorical cross-entropy from logits, sigmoid for
binary cross-entropy from logits), so that the ONNX output equals `predict`.

Activations follow fastnn's formulas (`fastnn.activations`). In float32 they use
the ONNX operators of the same name (Elu, Selu, LeakyRelu, Softplus, Softsign,
HardSigmoid, Erf for gelu). onnxruntime has no float64 kernel for those, so a
float64 model gets them written with elementary operators instead (Exp, Log,
Where, ...), as it does sigmoid (alone, in silu, in gelu's tanh form and as the
binary cross-entropy output), whose float64 kernel in onnxruntime has no
relative precision for x < -37; exact gelu in float64 then uses erfc(z) = t exp(-z^2) P(2 t' - 1),
t = 1 / (1 + z / 2), a polynomial P fitted for this module (see `_ERFC_POLY`),
accurate to ~1e-14 relative. Weights are initializers in the model's dtype.

``onnx`` is an optional dependency (``pip install fastnn[onnx]``); it is imported
when `export_onnx` runs.
"""
from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export_onnx"]

#: The opset written when none is asked for (LayerNormalization exists from 17 on and
#: every onnxruntime since 1.14 runs it).
DEFAULT_OPSET = 17
#: Oldest opset supported (Softmax over one axis, Clip with tensor bounds, Where).
MIN_OPSET = 13
# A protobuf message cannot exceed 2 GiB; leave room for the graph itself.
_MAX_BYTES = 2 ** 31 - (16 << 20)

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT1_2 = 0.70710678118654752440084436210485
_SQRT_2_OVER_PI = 0.79788456080286535587989211986876
_GELU_K = 0.044715

# erfc(z) = t * exp(-z^2) * P(u) for z >= 0, t = 1 / (1 + z / 2), u = 2 (t - T0) / (1 - T0) - 1,
# with P of degree 22 (coefficients from u^0 up). Fitted for fastnn: weighted least squares
# (relative error) in the Chebyshev basis on 3000 Chebyshev nodes of t in [T0, 1], i.e.
# z in [0, 27] (erfc(27) underflows float64), against 40-digit mpmath erfc, then converted
# to monomials (|coefficients| < 0.54, so Horner's rule loses nothing). Max relative error
# measured on 2001 points of [0, 27] through the very node sequence below: 5.7e-14, from the
# rounding of z^2 inside exp at large z (gelu in float64: 1.4e-14 for |x| < 8).
_ERFC_T0 = 1.0 / (1.0 + 27.0 / 2.0)
_ERFC_POLY = (
    0.5351568958073265, 0.3380584422875125, 0.12411975947360132, 0.01219482879566294,
    -0.008834724158493, -0.0017940039961026394, 0.0011092739203213933, 0.0001428030163629,
    -0.00018505380497867144, 1.4460739357716818e-05, 2.770364422291837e-05,
    -1.0562050864005068e-05, -1.730528579673403e-06, 2.6833195495749336e-06,
    -7.115807420982967e-07, -2.71110527007575e-07, 2.903190600299855e-07,
    -6.515744917257286e-08, -4.688749630536638e-08, 3.031390652486573e-08,
    1.2500578008406569e-09, -4.0879611570427216e-09, 4.762519273710389e-10)


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:  # optional dependency
        raise ImportError("export_onnx needs the 'onnx' package: pip install fastnn[onnx] "
                          "(or pip install onnx)") from exc
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and initializers of the graph being written, with unique tensor names."""

    def __init__(self, helper, numpy_helper, dtype: np.dtype, opset: int):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype, self.opset = dtype, opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = set()
        self._consts: dict[Any, str] = {}
        self.scope = "graph"  # prefix of the names made while a layer is written

    def fresh(self, hint: str) -> str:
        base = f"{self.scope}/{hint}"
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def weight(self, values: np.ndarray, hint: str) -> str:
        """An initializer holding `values` in the model dtype."""
        name = self.fresh(hint)
        arr = np.ascontiguousarray(values, dtype=self.dtype)
        self.initializers.append(self.numpy_helper.from_array(arr, name))
        return name

    def const(self, value: float) -> str:
        """A scalar initializer in the model dtype, shared by every node that needs it."""
        key = (float(value),)
        if key not in self._consts:
            scope, self.scope = self.scope, "const"
            self._consts[key] = self.weight(np.asarray(value, dtype=np.float64), "c")
            self.scope = scope
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        out = self.fresh(hint or op_type)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    # Small arithmetic helpers: x and y are tensor names, numbers become constants.
    def _t(self, v: str | float) -> str:
        return v if isinstance(v, str) else self.const(v)

    def add(self, x, y): return self.op("Add", [self._t(x), self._t(y)])
    def sub(self, x, y): return self.op("Sub", [self._t(x), self._t(y)])
    def mul(self, x, y): return self.op("Mul", [self._t(x), self._t(y)])
    def div(self, x, y): return self.op("Div", [self._t(x), self._t(y)])

    def reduce_mean_last(self, x: str) -> str:
        """Mean over the last axis, kept as a (batch, 1) column."""
        if self.opset < 18:  # axes is an attribute up to opset 17, an input from 18 on
            return self.op("ReduceMean", [x], axes=[-1], keepdims=1)
        if "axes" not in self._consts:
            name = self.fresh("axes")
            self.initializers.append(self.numpy_helper.from_array(np.array([-1], np.int64), name))
            self._consts["axes"] = name
        return self.op("ReduceMean", [x, self._consts["axes"]], keepdims=1)

    def sigmoid(self, x: str) -> str:
        """1 / (1 + exp(-x)). float64: from e = exp(-|x|) as fastnn's kernel (1 / (1 + e)
        for x >= 0, e / (1 + e) below), since onnxruntime's float64 Sigmoid loses all
        relative precision below x = -37 (it returns 0 where the value is 1e-17)."""
        if self.dtype == np.float32:
            return self.op("Sigmoid", [x])
        e = self.op("Exp", [self.op("Neg", [self.op("Abs", [x])])])
        r = self.div(1.0, self.add(e, 1.0))
        neg = self.op("Less", [x, self.const(0.0)])
        return self.op("Where", [neg, self.mul(e, r), r])

    def where_positive(self, x: str, pos: str, neg: str) -> str:
        """pos where x > 0, neg elsewhere (NaN in the branch not taken does not leak)."""
        cond = self.op("Greater", [x, self.const(0.0)])
        return self.op("Where", [cond, pos, neg])

    def log1p(self, e: str) -> str:
        """log(1 + e), accurate for tiny e: log(u) * e / (u - 1), u = 1 + e (Goldberg's
        rewriting), and e itself where u rounds to 1."""
        u = self.add(e, 1.0)
        um1 = self.sub(u, 1.0)
        exact = self.div(self.mul(self.op("Log", [u]), e), um1)
        is_one = self.op("Equal", [um1, self.const(0.0)])
        return self.op("Where", [is_one, e, exact])


# -- activations -------------------------------------------------------------------------------

def _softplus(g: _Graph, x: str) -> str:
    if g.dtype == np.float32:
        return g.op("Softplus", [x])
    # max(x, 0) + log1p(exp(-|x|)): the exp never overflows.
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [x])])])
    return g.add(g.op("Relu", [x]), g.log1p(e))


def _expm1_nonpositive(g: _Graph, x: str) -> str:
    """exp(min(x, 0)) - 1: the negative branch of elu / selu (never overflows)."""
    return g.sub(g.op("Exp", [g.op("Min", [x, g.const(0.0)])]), 1.0)


def _erfc_half(g: _Graph, z: str) -> str:
    """0.5 * erfc(z) for z >= 0 (float64; see _ERFC_POLY)."""
    t = g.div(1.0, g.add(g.mul(z, 0.5), 1.0))
    a = 2.0 / (1.0 - _ERFC_T0)
    u = g.add(g.mul(t, a), -2.0 * _ERFC_T0 / (1.0 - _ERFC_T0) - 1.0)
    p = g.const(_ERFC_POLY[-1])
    for c in _ERFC_POLY[-2::-1]:
        p = g.add(g.mul(p, u), c)
    expo = g.op("Exp", [g.op("Neg", [g.mul(z, z)])])
    return g.mul(g.mul(g.mul(t, 0.5), p), expo)


def _gelu_exact(g: _Graph, x: str) -> str:
    if g.dtype == np.float32:
        # 0.5 x (1 + erf(x / sqrt 2))
        erf = g.op("Erf", [g.mul(x, _SQRT1_2)])
        return g.mul(g.mul(x, 0.5), g.add(erf, 1.0))
    # x * Phi(x), Phi(x) = e for x < 0 and 1 - e otherwise, e = 0.5 erfc(|x| / sqrt 2):
    # as fastnn's kernel, no cancellation for x << 0.
    e = _erfc_half(g, g.mul(g.op("Abs", [x]), _SQRT1_2))
    neg = g.op("Less", [x, g.const(0.0)])
    phi = g.op("Where", [neg, e, g.sub(1.0, e)])
    return g.mul(x, phi)


def _gelu_tanh(g: _Graph, x: str) -> str:
    # 0.5 x (1 + tanh(u)) = x sigmoid(2 u), u = sqrt(2/pi) (x + 0.044715 x^3), as the kernel.
    inner = g.add(g.mul(g.mul(x, x), _GELU_K), 1.0)
    two_u = g.mul(g.mul(x, inner), 2.0 * _SQRT_2_OVER_PI)
    return g.mul(x, g.sigmoid(two_u))


def _activation(g: _Graph, spec: Any, x: str, layer: Any) -> str:
    """Nodes computing the built-in activation `spec` of tensor x; returns the output."""
    from fastnn import activations as A
    if spec.custom:
        raise ValueError(f"model: layer {layer.name!r} ({type(layer).__name__}) uses the "
                         f"user-defined activation {spec.name!r}, which export_onnx cannot "
                         f"write; use a built-in activation (fastnn.activations.names())")
    code, f32 = spec.code, g.dtype == np.float32
    if code == A.LINEAR:
        return x
    if code == A.RELU:
        return g.op("Relu", [x])
    if code == A.RELU6:
        return g.op("Clip", [x, g.const(0.0), g.const(6.0)])
    if code == A.LEAKY_RELU:
        slope = spec.params["negative_slope"]
        if f32:
            return g.op("LeakyRelu", [x], alpha=float(slope))
        return g.where_positive(x, x, g.mul(x, slope))
    if code == A.ELU:
        alpha = spec.params["alpha"]
        if f32:
            return g.op("Elu", [x], alpha=float(alpha))
        return g.where_positive(x, x, g.mul(_expm1_nonpositive(g, x), alpha))
    if code == A.SELU:
        if f32:
            return g.op("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
        return g.where_positive(x, g.mul(x, _SELU_SCALE),
                                g.mul(_expm1_nonpositive(g, x), _SELU_SCALE * _SELU_ALPHA))
    if code == A.GELU:
        return _gelu_exact(g, x)
    if code == A.GELU_TANH:
        return _gelu_tanh(g, x)
    if code == A.SIGMOID:
        return g.sigmoid(x)
    if code == A.TANH:
        return g.op("Tanh", [x])
    if code == A.SILU:
        return g.mul(x, g.sigmoid(x))
    if code == A.SOFTPLUS:
        return _softplus(g, x)
    if code == A.SOFTSIGN:
        if f32:
            return g.op("Softsign", [x])
        return g.div(x, g.add(g.op("Abs", [x]), 1.0))
    if code == A.HARD_SIGMOID:
        if f32:
            return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        # relu6(x + 3) / 6, the kernel's formula
        return g.div(g.op("Clip", [g.add(x, 3.0), g.const(0.0), g.const(6.0)]), 6.0)
    if code == A.MISH:
        return g.mul(x, g.op("Tanh", [_softplus(g, x)]))
    if code == A.EXPONENTIAL:
        return g.op("Exp", [x])
    if code == A.SOFTMAX:
        return g.op("Softmax", [x], axis=-1)
    if code == A.LOG_SOFTMAX:
        return g.op("LogSoftmax", [x], axis=-1)
    raise ValueError(f"model: layer {layer.name!r} uses the activation {spec.name!r} "
                     f"(kernel code {code}), which export_onnx does not know")


# -- layers ------------------------------------------------------------------------------------

def _dense(g: _Graph, layer: Any, x: str) -> str:
    inputs = [x, g.weight(layer.kernel, "kernel")]
    if layer.use_bias:
        inputs.append(g.weight(layer.bias, "bias"))
    z = g.op("Gemm", inputs)
    return _activation(g, layer.activation_spec, z, layer)


def _vector(layer: Any, attr: str, fill: float) -> np.ndarray:
    """A per-feature parameter as float64, or `fill` when the layer has none (center/scale off)."""
    v = getattr(layer, attr)
    return np.full(layer.input_dim, fill) if v is None else np.asarray(v, dtype=np.float64)


def _batch_norm(g: _Graph, layer: Any, x: str) -> str:
    # The kernel's inference form: (x - mean) * a + beta with a = gamma / sqrt(var + eps)
    # computed in float64 and rounded to the dtype (no folding of the mean into the shift,
    # which would cancel when |mean| >> std).
    gamma = _vector(layer, "gamma", 1.0)
    var = np.asarray(layer.moving_variance, dtype=np.float64)
    a = gamma / np.sqrt(var + layer.epsilon)
    centered = g.op("Sub", [x, g.weight(layer.moving_mean, "moving_mean")])
    y = g.op("Mul", [centered, g.weight(a, "scale")])
    if layer.beta is not None:
        y = g.op("Add", [y, g.weight(layer.beta, "beta")])
    return y


def _layer_norm(g: _Graph, layer: Any, x: str) -> str:
    gamma, beta = _vector(layer, "gamma", 1.0), _vector(layer, "beta", 0.0)
    if g.opset >= 17 and g.dtype == np.float32:
        inputs = [x, g.weight(gamma, "gamma")]
        if layer.beta is not None:
            inputs.append(g.weight(beta, "beta"))
        return g.op("LayerNormalization", inputs, axis=-1, epsilon=float(layer.epsilon))
    # Before opset 17, and in float64 (the op's epsilon is a float32 attribute: 1e-3
    # becomes 1.00000005e-3, a 1e-11 error): mean and biased variance over the features
    # over the features.
    mean = g.reduce_mean_last(x)
    d = g.sub(x, mean)
    var = g.reduce_mean_last(g.mul(d, d))
    y = g.div(d, g.op("Sqrt", [g.add(var, float(layer.epsilon))]))
    if layer.gamma is not None:
        y = g.mul(y, g.weight(gamma, "gamma"))
    if layer.beta is not None:
        y = g.add(y, g.weight(beta, "beta"))
    return y


def _normalization(g: _Graph, layer: Any, x: str) -> str:
    from fastnn.layers.normalization import MIN_STD
    mean = np.asarray(layer.mean, dtype=np.float64)
    if np.isnan(mean).any():
        raise ValueError(f"model: layer {layer.name!r} (Normalization) has no statistics; call "
                         f"adapt(data) or pass mean= and variance= before export_onnx()")
    inv_std = 1.0 / np.maximum(np.sqrt(np.asarray(layer.variance, dtype=np.float64)), MIN_STD)
    centered = g.op("Sub", [x, g.weight(layer.mean, "mean")])
    return g.op("Mul", [centered, g.weight(inv_std, "inv_std")])


def _layer_writers() -> dict[type, Any]:
    """Exact layer class -> writer(g, layer, x) -> output tensor (None: the identity).

    Exact classes, not isinstance: a user subclass may compute something else, so it
    is refused rather than written wrong."""
    from fastnn import layers as L
    act = lambda g, layer, x: _activation(g, layer.activation_spec, x, layer)
    ident = lambda g, layer, x: x
    return {L.Dense: _dense, L.Activation: act, L.ReLU: act, L.LeakyReLU: act, L.ELU: act,
            L.Softmax: act, L.Dropout: ident, L.GaussianNoise: ident,
            L.BatchNormalization: _batch_norm, L.LayerNormalization: _layer_norm,
            L.Normalization: _normalization, L.Flatten: None}


def _output_transform(g: _Graph, model: Any, x: str) -> str:
    """What `predict` applies after the network (the compiled loss's transform_output)."""
    from fastnn import losses
    loss = getattr(model, "loss", None)
    if loss is None:
        return x
    method = type(loss).transform_output
    if method is losses.Loss.transform_output:
        return x
    if method is losses._CrossEntropy.transform_output:
        return g.op("Softmax", [x], axis=-1) if loss.from_logits else x
    if method is losses.BinaryCrossentropy.transform_output:
        return g.sigmoid(x) if loss.from_logits else x
    raise ValueError(f"model: the loss {type(loss).__name__} transforms the outputs of predict() "
                     f"in a way export_onnx cannot write; pass raw_output=True to export the "
                     f"network's raw outputs")


# -- validation and writing --------------------------------------------------------------------

def _check_name(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{argument}: expected a non-empty string, got {value!r}")
    return value


def _check_opset(opset: Any, onnx: Any) -> int:
    latest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, latest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset: expected an integer or None, got {opset!r}")
    if not MIN_OPSET <= opset <= latest:
        raise ValueError(f"opset: expected an integer in [{MIN_OPSET}, {latest}] (the installed "
                         f"onnx {onnx.__version__} knows up to {latest}), got {opset}")
    return int(opset)


def _write_bytes(data: bytes, path: Any) -> None:
    """Write `data` to a file-like object, or atomically to a path (temporary file in the
    target's directory, fsynced, renamed over the target), as fastnn.saving does."""
    if hasattr(path, "write"):
        path.write(data)
        return
    from fastnn.saving import atomic_write
    try:
        target = os.fspath(path)
    except TypeError:
        raise TypeError(f"path: expected a file path, a binary file object or None, "
                        f"got {path!r}") from None
    if not isinstance(target, str) or not target:
        raise ValueError(f"path: expected a non-empty str path, got {path!r}")
    atomic_write(target, lambda f: f.write(data))


def export_onnx(model: Any, path: str | os.PathLike | IO[bytes] | None, *, opset: int | None = None,
                input_name: str = "input", output_name: str = "output",
                dynamic_batch: bool = True, raw_output: bool = False) -> onnx.ModelProto:
    """Write the inference graph of a built `Sequential` model as an ONNX file.

    Parameters
    ----------
    model : Sequential
        A built model (fit, build, or an Input layer). Every layer must be a fastnn
        layer (see the module docstring) with built-in activations.
    path : str, path-like, binary file object or None
        Where to write: a path (written atomically: a failed export leaves any
        previous file intact), an object with ``write(bytes)``, or None to only
        return the model.
    opset : int, optional
        ONNX opset of the default domain, 13 up to what the installed onnx knows;
        default `DEFAULT_OPSET` (17).
    input_name, output_name : str
        Names of the graph's input and output.
    dynamic_batch : bool, default True
        True: the batch axis is symbolic ("batch"), any batch size runs. False: it
        is fixed to 1 (single-sample inference).
    raw_output : bool, default False
        False: the output is what `predict` returns (with the compiled loss's
        softmax or sigmoid for a cross-entropy from logits). True: the network's
        raw output (logits).

    Returns
    -------
    onnx.ModelProto
        The exported model, checked with ``onnx.checker.check_model``. The input
        has shape ``(batch, *model.input_shape)`` and the output (batch, output_dim),
        both in the model's dtype (float32: tensor(float), float64: tensor(double)).

    Raises
    ------
    ImportError
        When ``onnx`` is not installed (``pip install fastnn[onnx]``).
    ValueError
        For an unbuilt model, a layer or activation that cannot be exported
        (user-defined ones; the message names the layer), a Normalization without
        statistics, a bad opset, or a model past protobuf's 2 GiB limit.

    Examples
    --------
    >>> fastnn.export_onnx(model, "model.onnx")
    >>> import onnxruntime
    >>> sess = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    >>> probs = sess.run(None, {"input": X.astype("float32")})[0]   # == model.predict(X)
    """
    from fastnn.models import Sequential
    from fastnn.saving import _require_built
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a fastnn Sequential, got {type(model).__name__}")
    input_name = _check_name(input_name, "input_name")
    output_name = _check_name(output_name, "output_name")
    if input_name == output_name:
        raise ValueError(f"output_name: expected a name other than input_name, got {output_name!r} "
                         f"for both")
    for value, argument in ((dynamic_batch, "dynamic_batch"), (raw_output, "raw_output")):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{argument}: expected True or False, got {value!r}")
    if path is not None and not hasattr(path, "write") and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path, a binary file object or None, got {path!r}")
    onnx, helper, numpy_helper = _import_onnx()
    opset = _check_opset(opset, onnx)
    _require_built(model, "export_onnx")
    writers = _layer_writers()
    for layer in model.layers:  # every layer checked before any node is made
        if type(layer) not in writers:
            raise ValueError(f"model: layer {layer.name!r} ({type(layer).__name__}) cannot be "
                             f"exported to ONNX; supported layers: "
                             f"{sorted(c.__name__ for c in writers)}")
    n_bytes = (model.param_arena.nbytes + model.state_arena.nbytes)
    if n_bytes > _MAX_BYTES:
        raise ValueError(f"model: its weights take {n_bytes} bytes, past the 2 GiB limit of a "
                         f"single ONNX file")

    dtype = np.dtype(model.dtype)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    g = _Graph(helper, numpy_helper, dtype, opset)
    g.reserve(input_name)
    g.reserve(output_name)
    sample_shape = tuple(model.input_shape)
    x, rank = input_name, 1 + len(sample_shape)
    for layer in model.layers:
        g.scope = layer.name
        writer = writers[type(layer)]
        if writer is None:  # Flatten: data moves only when samples are N-D
            if rank > 2:
                x, rank = g.op("Flatten", [x], axis=1), 2
            continue
        x = writer(g, layer, x)
    g.scope = "output"
    if not raw_output:
        x = _output_transform(g, model, x)
    if g.nodes and g.nodes[-1].output[0] == x:  # name the last node's output directly
        g.nodes[-1].output[0] = output_name
    else:
        g.nodes.append(helper.make_node("Identity", [x], [output_name], name="output/Identity"))

    batch = "batch" if dynamic_batch else 1
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info(input_name, elem, [batch, *sample_shape])],
        [helper.make_tensor_value_info(output_name, elem, [batch, model.layers[-1].output_dim])],
        initializer=g.initializers)
    from fastnn import __version__
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastnn",
                              producer_version=__version__,
                              doc_string=f"fastnn Sequential {model.name!r}, inference graph")
    # The oldest IR version that carries this opset: runtimes older than the installed
    # onnx still load the file.
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        _write_bytes(proto.SerializeToString(), path)
    return proto
