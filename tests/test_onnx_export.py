"""ONNX export: every layer and activation run by onnxruntime equals `model.predict`
(float32 within 1e-5, float64 within 1e-12), plus independent numpy and scipy
references, dynamic batch, the loss's output transform, atomic writes and clear
errors. Skipped, with the reason, when onnx or onnxruntime is not installed."""
from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import activations, layers, losses, optimizers
from fastnn.onnx_export import export_onnx

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install fastnn[onnx])")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-12, "atol": 1e-12}}
DTYPES = ["float32", "float64"]

# Every built-in activation, with non-default parameters where it has some.
ACTIVATIONS = [
    "linear", "relu", "relu6", "leaky_relu", {"name": "leaky_relu", "negative_slope": 1.7},
    "elu", {"name": "elu", "alpha": 0.5}, "selu", "gelu", {"name": "gelu", "approximate": True},
    "sigmoid", "tanh", "silu", "swish", "softplus", "softsign", "hard_sigmoid", "mish",
    "exponential", "softmax", "log_softmax",
]


def act_id(a):
    return a if isinstance(a, str) else "-".join(f"{v}" for v in a.values())


def run(proto_or_path, X, input_name="input"):
    """Outputs of onnxruntime's CPU provider for X."""
    src = proto_or_path if isinstance(proto_or_path, (str, os.PathLike)) \
        else proto_or_path.SerializeToString()
    sess = ort.InferenceSession(os.fspath(src) if isinstance(src, os.PathLike) else src,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {input_name: X})[0]


def data(n=64, features=6, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)) * scale, rng.integers(0, 3, n)


def fitted(layer_list, dtype, loss="mse", X=None, y=None, steps=6, lr=0.02):
    """A model trained a few steps (so that weights and moving statistics are not the
    initial ones)."""
    if X is None:
        X, y = data()
    model = fastnn.Sequential(layer_list, seed=0, dtype=dtype)
    model.compile(optimizer=optimizers.Adam(lr), loss=loss)
    if y is None or loss == "mse":
        y = np.random.default_rng(1).standard_normal((len(X), model_outputs(model, X)))
    model.fit(X, y, epochs=1, batch_size=max(1, len(X) // steps), verbose=0)
    return model


def model_outputs(model, X):
    model.build((None,) + X.shape[1:])
    return model.layers[-1].output_dim


def check_export(model, X, tmp_path, dtype, **kw):
    """Export, check the file with onnx's checker, run it and compare with predict."""
    path = tmp_path / "model.onnx"
    proto = export_onnx(model, path, **kw)
    loaded = onnx.load(os.fspath(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.SerializeToString() == proto.SerializeToString()
    got = run(path, X.astype(dtype))
    want = model.predict(X)
    assert np.isfinite(want).all()  # NaN == NaN would pass the comparison below
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL[dtype])
    return loaded


# -- activations ---------------------------------------------------------------------------------

def test_the_list_covers_every_builtin_activation():
    covered = {activations.get(a).name for a in ACTIVATIONS}
    builtin = {n for n in activations.names() if not activations.get(n).custom}
    assert {activations.get(n).name for n in builtin} <= covered
    codes = {activations.get(a).code for a in ACTIVATIONS}
    assert codes == set(range(activations.N_CODES))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
def test_activation_in_dense_and_layer_matches_predict(act, dtype, tmp_path):
    # exp(Dense(exp(...))) diverges at the others' input scale and learning rate.
    gentle = activations.get(act).name == "exponential"
    X, _ = data(scale=0.5 if gentle else 2.0)
    model = fitted([layers.Dense(12, activation=act), layers.Dense(8),
                    layers.Activation(act), layers.Dense(2)], dtype, X=X,
                   lr=0.002 if gentle else 0.02)
    proto = check_export(model, X, tmp_path, dtype)
    if activations.get(act).name not in ("linear",):
        assert len(proto.graph.node) > 3  # the activations were written, not dropped


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
def test_activation_on_a_wide_range(act, dtype, tmp_path):
    # The activation alone, on inputs from -60 to 60 (30 for exp): overflow or
    # cancellation in the exported formulas would show here.
    top = 30.0 if activations.get(act).name == "exponential" else 60.0
    X = np.concatenate([np.linspace(-top, top, 242), [-1e-9, 0.0, 1e-9, -3.0, 3.0, 6.0, 1e-30,
                                                      -1e-30]]).reshape(-1, 5)
    model = fastnn.Sequential([layers.Activation(act)], dtype=dtype)
    model.build((None, 5))
    got = run(export_onnx(model, None), X.astype(dtype))
    np.testing.assert_allclose(got, model.predict(X), **TOL[dtype])
    assert np.isfinite(got).all()


def test_keras_activation_layers(tmp_path):
    X, _ = data(scale=2.0)
    for dtype in DTYPES:
        model = fitted([layers.Dense(8), layers.ReLU(), layers.Dense(8), layers.ReLU(max_value=6),
                        layers.Dense(8), layers.ReLU(negative_slope=0.1), layers.Dense(8),
                        layers.LeakyReLU(), layers.Dense(8), layers.ELU(alpha=0.7),
                        layers.Dense(3), layers.Softmax()], dtype, X=X)
        check_export(model, X, tmp_path, dtype)


def _gelu_tanh_ref(x):
    from scipy.special import expit  # 0.5 (1 + tanh(u)) = sigmoid(2 u), no cancellation
    return x * expit(2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))


def _scipy_reference(name):
    from scipy import special
    return {"gelu": lambda x: 0.5 * x * special.erfc(-x / np.sqrt(2)),
            "gelu_tanh": _gelu_tanh_ref,
            "sigmoid": special.expit,
            "silu": lambda x: x * special.expit(x),
            "softplus": lambda x: np.logaddexp(0.0, x),
            "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x))}[name]


@pytest.mark.parametrize("name,rtol", [("gelu", 5e-13), ("gelu_tanh", 5e-13), ("sigmoid", 1e-14),
                                       ("silu", 1e-14), ("softplus", 1e-14), ("mish", 1e-14)])
def test_float64_formulas_keep_relative_precision(name, rtol):
    # Independent references (scipy) over -40..40 and tiny |x|: the float64 graphs
    # (the fitted erfc polynomial, the stable sigmoid and log1p) are accurate
    # relative to the value even where it is tiny, as fastnn's kernels are (gelu's
    # tails: exp of a large argument amplifies its rounding, in the references too).
    x = np.concatenate([np.linspace(-40, 40, 4001), np.geomspace(1e-12, 10, 200),
                        -np.geomspace(1e-12, 10, 200)]).reshape(-1, 1)
    act = activations.get("gelu", approximate=True) if name == "gelu_tanh" else activations.get(name)
    model = fastnn.Sequential([layers.Activation(act)], dtype="float64")
    model.build((None, 1))
    got = run(export_onnx(model, None), x)
    want = _scipy_reference(name)(x)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-300)
    if name == "gelu":  # tighter where gelu is not vanishingly small
        small = np.abs(x) <= 8
        np.testing.assert_allclose(got[small], want[small], rtol=3e-14, atol=1e-300)


# -- layers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_normalization(center, scale, dtype, tmp_path):
    X, _ = data(scale=3.0)
    X = X + 5.0  # |mean| >> std: the exported form must not cancel
    model = fitted([layers.Dense(16), layers.BatchNormalization(center=center, scale=scale,
                                                                momentum=0.5),
                    layers.Activation("swish"), layers.Dropout(0.3), layers.Dense(3)],
                   dtype, X=X, lr=0.05)
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean, 0) and not np.allclose(bn.moving_variance, 1)
    if scale:
        assert not np.allclose(bn.gamma, 1)
    check_export(model, X, tmp_path, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_layer_normalization(center, scale, opset, dtype, tmp_path):
    X, _ = data(scale=3.0)
    model = fitted([layers.Dense(16, activation="relu"),
                    layers.LayerNormalization(center=center, scale=scale, epsilon=1e-3),
                    layers.Dense(3)], dtype, X=X, lr=0.05)
    proto = check_export(model, X, tmp_path, dtype, opset=opset)
    assert proto.opset_import[0].version == opset
    ops = {n.op_type for n in proto.graph.node}
    # The fused op where it carries the precision (its epsilon is a float32 attribute).
    assert ("LayerNormalization" in ops) == (opset >= 17 and dtype == "float32")


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization(dtype, tmp_path):
    X, _ = data(scale=4.0)
    X = X * np.array([1, 10, 100, 0.01, 1, 1]) + np.array([0, 50, -300, 2, 0, 7])
    X[:, 4] = 3.0  # zero variance: divided by Keras's 1e-7 floor
    norm = layers.Normalization()
    norm.adapt(X)
    model = fitted([norm, layers.Dense(8, activation="tanh"), layers.Dense(2)], dtype, X=X)
    Xp = X.copy()
    Xp[:, 4] += np.linspace(-1e-6, 1e-6, len(X))  # (x - mean) / 1e-7: the floor matters
    check_export(model, Xp, tmp_path, dtype)
    fixed = fastnn.Sequential([layers.Normalization(mean=2.0, variance=9.0)], dtype=dtype)
    fixed.build((None, 6))
    np.testing.assert_allclose(run(export_onnx(fixed, None), X.astype(dtype)), (X - 2.0) / 3.0,
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_flatten_dropout_noise(dtype, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4, 5))
    model = fastnn.Sequential([layers.Input((4, 5)), layers.GaussianNoise(0.5), layers.Activation("elu"),
                               layers.Dropout(0.5), layers.Flatten(), layers.Dense(6, activation="relu"),
                               layers.Dropout(0.2), layers.Dense(3)], seed=0, dtype=dtype)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.fit(X, rng.integers(0, 3, 40), epochs=2, batch_size=8, verbose=0)
    proto = check_export(model, X, tmp_path, dtype)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 4, 5]
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Flatten") == 1 and "Dropout" not in ops and "RandomNormal" not in ops


def test_flat_input_needs_no_flatten_node(tmp_path):
    X, _ = data()
    model = fitted([layers.Flatten(), layers.Dense(3)], "float32", X=X)
    proto = check_export(model, X, tmp_path, "float32")
    assert [n.op_type for n in proto.graph.node] == ["Gemm"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_against_an_independent_numpy_reference(dtype, tmp_path):
    X, y = data(scale=2.0)
    model = fitted([layers.Dense(10, activation="tanh", use_bias=False),
                    layers.BatchNormalization(epsilon=1e-2),
                    layers.Dense(7, activation="relu"), layers.LayerNormalization(),
                    layers.Dense(3)], dtype, loss="softmax_cross_entropy", X=X, y=y)
    W1, g, b, mm, mv, W2, b2, lg, lb, W3, b3 = [w.astype(np.float64) for w in model.get_weights()]
    h = np.tanh(X @ W1)
    h = (h - mm) / np.sqrt(mv + 1e-2) * g + b
    h = np.maximum(h @ W2 + b2, 0)
    h = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + 1e-3) * lg + lb
    z = h @ W3 + b3
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    got = run(export_onnx(model, None), X.astype(dtype))
    np.testing.assert_allclose(got, p, rtol=1e-4 if dtype == "float32" else 1e-11, atol=1e-6)


# -- outputs: what predict returns ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_output_transforms_of_the_loss(dtype, tmp_path):
    X, y = data()
    # (loss, targets, activation of the last layer, op that ends the graph)
    cases = [("softmax_cross_entropy", y, None, "Softmax"),
             (losses.CategoricalCrossentropy(from_logits=True), np.eye(3)[y], None, "Softmax"),
             (losses.SparseCategoricalCrossentropy(from_logits=False), y, "softmax", "Softmax"),
             (losses.BinaryCrossentropy(from_logits=True), np.eye(3)[y], None, "Sigmoid"),
             (losses.BinaryCrossentropy(from_logits=False), np.eye(3)[y], "sigmoid", "Sigmoid"),
             ("mse", None, None, "Gemm")]
    for loss, targets, last, last_op in cases:
        model = fitted([layers.Dense(5, activation="relu"), layers.Dense(3, activation=last)],
                       dtype, loss=loss, X=X, y=targets)
        proto = check_export(model, X, tmp_path, dtype)
        ops = [n.op_type for n in proto.graph.node]
        if dtype == "float64" and last_op == "Sigmoid":
            last_op = "Where"  # the stable float64 sigmoid (Exp, Div, Where)
            assert ops.count("Exp") == 1
        assert ops[-1] == last_op and ops.count(last_op) == (2 if last_op == "Gemm" else 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_raw_output_gives_the_logits(dtype, tmp_path):
    X, y = data()
    model = fitted([layers.Dense(3)], dtype, loss="softmax_cross_entropy", X=X, y=y)
    W, b = (w.astype(np.float64) for w in model.get_weights())
    logits = run(export_onnx(model, None, raw_output=True), X.astype(dtype))
    np.testing.assert_allclose(logits, X @ W + b, **TOL[dtype])
    probs = run(export_onnx(model, None), X.astype(dtype))
    np.testing.assert_allclose(probs.sum(1), 1.0, **TOL[dtype])
    assert not np.allclose(logits, probs)


def test_custom_loss_output_transform():
    class SquashedMSE(losses.Loss):
        def value(self, y_true, y_pred):
            return np.mean((y_pred - y_true) ** 2, axis=-1)

        def gradient(self, y_true, y_pred):
            return 2 * (y_pred - y_true) / y_pred.shape[1]

        def transform_output(self, out, n):
            np.tanh(out[:n], out=out[:n])

    class PlainMSE(SquashedMSE):
        transform_output = losses.Loss.transform_output

    X, _ = data()
    model = fitted([layers.Dense(2, name="head")], "float64", loss=PlainMSE(), X=X)
    np.testing.assert_allclose(run(export_onnx(model, None), X), model.predict(X), **TOL["float64"])
    model.compile(optimizer="sgd", loss=SquashedMSE())
    with pytest.raises(ValueError, match="SquashedMSE.*raw_output=True"):
        export_onnx(model, None)
    np.testing.assert_allclose(np.tanh(run(export_onnx(model, None, raw_output=True), X)),
                               model.predict(X), **TOL["float64"])


# -- batch, MNIST shape, file format ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dynamic_batch(dtype, tmp_path):
    X, y = data(n=80)
    model = fitted([layers.Dense(9, activation="gelu"), layers.BatchNormalization(), layers.Dense(3)],
                   dtype, loss="softmax_cross_entropy", X=X, y=y)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    for n in (1, 37):
        np.testing.assert_allclose(run(path, X[:n].astype(dtype)), model.predict(X[:n]), **TOL[dtype])
    fixed = export_onnx(model, None, dynamic_batch=False)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 6]
    np.testing.assert_allclose(run(fixed, X[:1].astype(dtype)), model.predict(X[:1]), **TOL[dtype])
    with pytest.raises(Exception, match="(?i)dim|shape"):
        run(fixed, X[:37].astype(dtype))


def test_mnist_shaped_784_128_10(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.random((256, 784)) < 0.2) * rng.random((256, 784))  # sparse, MNIST-like
    y = rng.integers(0, 10, 256)
    model = fastnn.Sequential([layers.Input((784,)), layers.Dense(128, activation="relu"),
                               layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    proto = check_export(model, X, tmp_path, "float32")
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    shapes = sorted(v.shape for v in inits.values() if v.ndim)
    assert shapes == [(10,), (128,), (128, 10), (784, 128)]
    assert all(v.dtype == np.float32 for v in inits.values())
    np.testing.assert_array_equal(run(proto, X.astype(np.float32)).argmax(1), model.predict(X).argmax(1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_graph_types_names_and_checker(dtype, tmp_path):
    X, _ = data()
    model = fitted([layers.Dense(4, activation="selu"), layers.Dense(2)], dtype, X=X)
    path = tmp_path / "named.onnx"
    proto = export_onnx(model, str(path), input_name="features", output_name="scores", opset=15)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
    assert loaded.graph.input[0].name == "features" and loaded.graph.output[0].name == "scores"
    assert loaded.graph.input[0].type.tensor_type.elem_type == elem
    assert loaded.graph.output[0].type.tensor_type.elem_type == elem
    assert all(i.data_type == elem for i in loaded.graph.initializer)
    assert loaded.opset_import[0].version == 15 and loaded.producer_name == "fastnn"
    assert proto == loaded
    np.testing.assert_allclose(run(path, X.astype(dtype), "features"), model.predict(X), **TOL[dtype])
    # Weights stored exactly as the model holds them.
    inits = [onnx.numpy_helper.to_array(i) for i in loaded.graph.initializer]
    np.testing.assert_array_equal(next(a for a in inits if a.shape == (6, 4)), model.get_weights()[0])


def test_file_object_and_atomic_replace(tmp_path):
    X, _ = data()
    model = fitted([layers.Dense(3)], "float32", X=X)
    buf = io.BytesIO()
    proto = export_onnx(model, buf)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old contents")
    export_onnx(model, path)
    assert path.read_bytes() == buf.getvalue() == proto.SerializeToString()
    np.testing.assert_allclose(run(path, X.astype(np.float32)), model.predict(X),
                               **TOL["float32"])
    # A failed export leaves the previous file as it was and no temporary file.
    activations.register("onnx_test_cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    try:
        bad = fastnn.Sequential([layers.Dense(2, activation="onnx_test_cube")])
        bad.build((None, 6))
        with pytest.raises(ValueError):
            export_onnx(bad, path)
    finally:
        activations.unregister("onnx_test_cube")
    assert path.read_bytes() == buf.getvalue()
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(model, tmp_path / "missing" / "m.onnx")


# -- errors --------------------------------------------------------------------------------------

def test_custom_activation_is_refused_naming_the_layer():
    activations.register("onnx_test_sq", lambda z: z * z, lambda z: 2 * z)
    try:
        for model in (fastnn.Sequential([layers.Dense(4, activation="onnx_test_sq", name="hidden")]),
                      fastnn.Sequential([layers.Dense(4), layers.Activation("onnx_test_sq",
                                                                            name="hidden")])):
            model.build((None, 3))
            with pytest.raises(ValueError, match="'hidden'.*'onnx_test_sq'"):
                export_onnx(model, None)
    finally:
        activations.unregister("onnx_test_sq")


def test_custom_layer_is_refused_naming_the_layer():
    class Doubler(layers.Layer):
        elementwise = True

        def forward(self, x, n, training):
            return 2 * x

    class MyDense(layers.Dense):
        pass

    for odd in (Doubler(name="twice"), MyDense(3, name="twice")):
        model = fastnn.Sequential([layers.Dense(3), odd])
        model.build((None, 4))
        with pytest.raises(ValueError, match=r"'twice' \((Doubler|MyDense)\) cannot be exported"):
            export_onnx(model, None)


def test_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="build"):
        export_onnx(fastnn.Sequential([layers.Dense(2)]), None)
    # An Input layer fixes the shape: the model builds itself, as save() does.
    model = fastnn.Sequential([layers.Input((3,)), layers.Dense(2)])
    assert export_onnx(model, None).graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3


def test_normalization_without_statistics_is_refused():
    model = fastnn.Sequential([layers.Normalization(name="norm"), layers.Dense(2)])
    model.build((None, 3))
    with pytest.raises(ValueError, match="'norm'.*adapt"):
        export_onnx(model, None)


def test_bad_arguments():
    model = fastnn.Sequential([layers.Dense(2)])
    model.build((None, 3))
    with pytest.raises(TypeError, match="model: expected a fastnn Sequential"):
        export_onnx(object(), None)
    with pytest.raises(ValueError, match=r"opset: expected an integer in \[13, "):
        export_onnx(model, None, opset=12)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(model, None, opset=10_000)
    with pytest.raises(TypeError, match="opset: expected an integer"):
        export_onnx(model, None, opset="17")
    with pytest.raises(TypeError, match="input_name: expected a non-empty string"):
        export_onnx(model, None, input_name="")
    with pytest.raises(ValueError, match="output_name: expected a name other than input_name"):
        export_onnx(model, None, input_name="x", output_name="x")
    with pytest.raises(TypeError, match="dynamic_batch: expected True or False"):
        export_onnx(model, None, dynamic_batch="yes")
    with pytest.raises(TypeError, match="path: expected a file path"):
        export_onnx(model, 3.5)


def test_missing_onnx_gives_an_install_hint(monkeypatch):
    model = fastnn.Sequential([layers.Dense(2)])
    model.build((None, 3))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install fastnn\[onnx\]"):
        export_onnx(model, None)
