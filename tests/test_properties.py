"""Property-based tests of the public API (hypothesis, derandomized: CI sees the same examples).

Over arbitrary small shapes (0 rows, 1 row, batches larger than the data, a wide
layer), input dtypes (float16/32/64, signed and unsigned ints, bools, big-endian),
layouts (C, Fortran, strided slices, negative strides, read-only, np.memmap, lists)
and label forms (int, whole floats, (n, 1), one-hot), every call of
Sequential.fit / predict / evaluate / train_on_batch / compute_gradients,
fastnn.gradient_check, the losses and the metric functions either

* works, and its result matches a float64 numpy reference (tests/reference*.py)
  of the same values in the model dtype, independently of dtype and layout; or
* raises ValueError / TypeError whose message starts with the name of the
  argument at fault, leaving the model exactly as it was: parameter arena,
  non-trainable state (batch-norm statistics), optimizer state and step count,
  shuffling and dropout random streams, byte for byte.

Inputs are never written to.
"""
from __future__ import annotations

import os
import re
import tempfile
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis (pip install hypothesis)")
import reference as ref
import reference_losses as rl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import layers, losses, metrics, optimizers

# derandomize: the examples are a function of the test alone (reproducible in CI);
# no example database, no deadline (2 shared cores make timings noisy).
# FASTNN_PROPERTY_SCALE=10 runs ten times the examples (a nightly or pre-release search).
SCALE = float(os.environ.get("FASTNN_PROPERTY_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


PROPS = {"derandomize": True, "database": None, "deadline": None, "print_blob": True,
         "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much]}

ACTS = ("linear", "relu", "tanh", "sigmoid")
INPUT_DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")
LAYOUTS = ("C", "F", "strided", "negative", "readonly", "memmap", "bigendian", "list")
TOL = {np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-5}, np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12}}


# -- strategies --------------------------------------------------------------------------------

@st.composite
def model_specs(draw, classification=None, allow_bn=False):
    """(features, [(units, act), ...], outputs, loss, dtype, batch_norm)."""
    features = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.tuples(st.integers(1, 7), st.sampled_from(ACTS)), max_size=2))
    loss = draw(st.sampled_from(["softmax_cross_entropy", "mse"])) if classification is None else \
        ("softmax_cross_entropy" if classification else "mse")
    outputs = draw(st.integers(2 if loss == "softmax_cross_entropy" else 1, 4))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    bn = allow_bn and draw(st.booleans())
    return features, hidden, outputs, loss, dtype, bn


def make_model(spec, seed=0, optimizer=None):
    features, hidden, outputs, loss, dtype, bn = spec
    stack = []
    for i, (units, act) in enumerate(hidden):
        stack.append(layers.Dense(units, activation=act))
        if bn and i == 0:
            stack.append(layers.BatchNormalization())
    stack.append(layers.Dense(outputs))
    model = fastnn.Sequential(stack, seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer or optimizers.Adam(0.05), loss=loss)
    model.build((None, features))
    return model


def reference_outputs(model, spec, x64):
    """float64 numpy forward of the model's current weights (no batch norm)."""
    _, hidden, _, loss, _, _ = spec
    acts = [a for _, a in hidden] + ["linear"]
    out = ref.network_forward(x64, ref.layers_from_weights(model.get_weights(), acts))
    return ref.softmax(out) if loss == "softmax_cross_entropy" and len(out) else out


def values_for(draw, shape, dtype):
    """An array of `dtype` whose values are exact in that dtype (small magnitudes)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        elements = st.booleans()
    elif dtype.kind == "u":
        elements = st.integers(0, 5)
    elif dtype.kind == "i":
        elements = st.integers(-4, 4)
    else:
        elements = st.floats(-3, 3, width=min(64, 8 * dtype.itemsize), allow_subnormal=False)
    flat = draw(st.lists(elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(flat, dtype=dtype).reshape(shape)


class Relayout:
    """Same values in another memory layout; memmaps are closed and removed by close()."""

    def __init__(self):
        self._files = []

    def __call__(self, a: np.ndarray, layout: str):
        if layout == "C":
            return np.ascontiguousarray(a)
        if layout == "F":
            return np.asfortranarray(a)
        if layout == "strided":  # every other row and every third column of a bigger array
            big = np.zeros((2 * a.shape[0] + 1, 3 * a.shape[1]) + a.shape[2:], a.dtype) if a.ndim >= 2 \
                else np.zeros(2 * a.shape[0] + 1, a.dtype)
            view = big[1::2, ::3] if a.ndim >= 2 else big[1::2]
            view[...] = a
            return view
        if layout == "negative":
            flipped = (a[::-1, ::-1] if a.ndim >= 2 else a[::-1]).copy()
            return flipped[::-1, ::-1] if a.ndim >= 2 else flipped[::-1]
        if layout == "readonly":
            b = a.copy()
            b.flags.writeable = False
            return b
        if layout == "memmap":
            if a.size == 0:
                return a.copy()  # a zero-length file cannot be mapped
            fd, path = tempfile.mkstemp(suffix=".dat")
            os.close(fd)
            self._files.append(path)
            m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
            m[...] = a
            m.flush()
            return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
        if layout == "bigendian":
            return a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a.copy()
        if layout == "list":
            return a.tolist()
        raise AssertionError(layout)

    def close(self):
        for path in self._files:
            try:
                os.remove(path)
            except OSError:  # still mapped on some platforms: the tmp dir is cleaned later
                pass


@pytest.fixture(scope="module")
def relayout():
    """Module-scoped: the memmap files it makes are removed when the module is done."""
    r = Relayout()
    yield r
    r.close()


def frozen(a):
    """A comparable copy of an input (to check it was not written to)."""
    return None if isinstance(a, list) else (np.array(a, copy=True), a.dtype)


def unchanged_input(a, before):
    if before is not None:
        np.testing.assert_array_equal(np.asarray(a), before[0], err_msg="an input array was written to")
        assert np.asarray(a).dtype == before[1]


def snapshot(model):
    """Everything a failed call must leave alone, as bytes."""
    opt = model.optimizer
    layer_rng = [repr(layer.random_state()) for layer in model.layers]
    return {
        "built": model.built,
        "params": model.param_arena.tobytes() if model.built else None,
        "state": model.state_arena.tobytes() if model.built else None,
        "iterations": None if opt is None else int(opt.iterations),
        # moments, scalars (e.g. Adam's step count), moving averages
        "opt_state": None if opt is None or opt._state is None else
        sorted((k, v.tobytes()) for k, v in opt.get_state().items()),
        "shuffle_rng": repr(model._shuffle_rng.bit_generator.state),
        "layer_rng": layer_rng,
    }


def assert_same_state(model, before):
    after = snapshot(model)
    for key in before:
        assert after[key] == before[key], f"a failed call changed the model's {key}"


def trained(spec, seed=0):
    """A model after two Adam steps (non-zero moments; moved batch-norm statistics)."""
    model = make_model(spec, seed)
    features, _, outputs, loss, _, _ = spec
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((9, features))
    y = rng.integers(0, outputs, 9) if loss == "softmax_cross_entropy" else rng.standard_normal((9, outputs))
    model.fit(X, y, epochs=1, batch_size=5, verbose=0)
    assert model.optimizer.iterations == 2
    return model


def canonical(x, dtype):
    """What the model must see: the values, cast to its dtype, then to float64."""
    return np.asarray(x).astype(dtype).astype(np.float64)


# -- predict: any dtype, layout and row count -----------------------------------------------------

@settings(max_examples=examples(60), **PROPS)
@given(data=st.data())
def test_predict_matches_reference_for_any_input_dtype_and_layout(data, relayout):
    spec = data.draw(model_specs())
    features, _, outputs, _, dtype, _ = spec
    model = make_model(spec, seed=data.draw(st.integers(0, 3)))
    n = data.draw(st.integers(0, 9), label="rows")
    in_dtype = data.draw(st.sampled_from(INPUT_DTYPES), label="input dtype")
    layout = data.draw(st.sampled_from(LAYOUTS), label="layout")
    values = values_for(data.draw, (n, features), in_dtype)
    x = relayout(values, layout)
    if n == 0 and layout == "list":  # [] has lost its column count: refused, by name
        with pytest.raises(ValueError, match=r"^x: expected a 2-D array, got shape \(0,\)"):
            model.predict(x)
        return
    before = frozen(x)
    batch_size = data.draw(st.one_of(st.none(), st.integers(1, n + 3)), label="batch_size")
    out = model.predict(x, batch_size=batch_size)
    assert out.shape == (n, outputs) and out.dtype == np.dtype(dtype)
    expected = reference_outputs(model, spec, canonical(values, dtype))
    np.testing.assert_allclose(out, expected, **TOL[np.dtype(dtype)])
    unchanged_input(x, before)


def test_a_wide_layer_predicts_like_the_reference():
    spec = (3, [(3000, "tanh")], 4, "softmax_cross_entropy", "float32", False)
    model = make_model(spec)
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(model.predict(x), reference_outputs(model, spec, canonical(x, np.float32)),
                               rtol=1e-4, atol=1e-6)


# -- training steps: invariance to dtype/layout/label form, and the reference loss ----------------

def label_forms(draw, labels, outputs, n):
    """The same class labels as int64/int32/uint8/whole floats/(n, 1)/bool (2 classes)."""
    forms = ["int64", "int32", "uint8", "float64", "float32", "column"]
    if outputs == 2:
        forms.append("bool")
    form = draw(st.sampled_from(forms), label="label form")
    if form == "column":
        return labels.reshape(n, 1)
    if form == "bool":
        return labels.astype(bool)
    return labels.astype(form)


@settings(max_examples=examples(40), **PROPS)
@given(data=st.data())
def test_train_on_batch_and_fit_are_layout_invariant_and_match_the_reference_loss(data, relayout):
    spec = data.draw(model_specs())
    features, _, outputs, loss, dtype, _ = spec
    n = data.draw(st.integers(1, 8), label="rows")
    in_dtype = data.draw(st.sampled_from(INPUT_DTYPES), label="input dtype")
    x_values = values_for(data.draw, (n, features), in_dtype)
    x = relayout(x_values, data.draw(st.sampled_from(LAYOUTS), label="x layout"))
    if loss == "softmax_cross_entropy":
        labels = np.array(data.draw(st.lists(st.integers(0, outputs - 1), min_size=n, max_size=n)))
        y = label_forms(data.draw, labels, outputs, n)
        y_canon = labels.astype(np.int64)
    else:
        y_values = values_for(data.draw, (n, outputs), data.draw(st.sampled_from(["float32", "float64", "int32"])))
        y = y_values[:, 0] if outputs == 1 and data.draw(st.booleans(), label="1-D y") else y_values
        y = relayout(y, data.draw(st.sampled_from(LAYOUTS), label="y layout"))
        y_canon = y_values.astype(dtype)
    x_before, y_before = frozen(x), frozen(y)

    a, b, c = make_model(spec), make_model(spec), make_model(spec)
    x_canon = np.ascontiguousarray(x_values, dtype=dtype)
    expected = ref.mean_loss(reference_outputs(a, spec[:3] + ("mse",) + spec[4:], canonical(x_values, dtype)),
                             y_canon, loss)
    # evaluate (inference mode; no dropout or batch norm here) gives the same loss first
    np.testing.assert_allclose(a.evaluate(x, y)["loss"], expected, rtol=TOL[np.dtype(dtype)]["rtol"] * 10,
                               atol=1e-6)
    loss_a = a.train_on_batch(x, y)
    loss_b = b.train_on_batch(x_canon, y_canon)
    # fit with a batch larger than the data, no shuffling: the same single step
    hist = c.fit(x, y, epochs=1, batch_size=n + data.draw(st.integers(0, 5)), shuffle=False, verbose=0)
    assert loss_a == loss_b == hist.history["loss"][0]
    np.testing.assert_allclose(loss_a, expected, rtol=TOL[np.dtype(dtype)]["rtol"] * 10, atol=1e-6)
    assert a.param_arena.tobytes() == b.param_arena.tobytes() == c.param_arena.tobytes()
    assert a.optimizer.iterations == b.optimizer.iterations == c.optimizer.iterations == 1
    unchanged_input(x, x_before)
    unchanged_input(y, y_before)


@settings(max_examples=examples(25), **PROPS)
@given(data=st.data())
def test_one_hot_rows_and_integer_labels_give_the_same_loss_and_gradients(data):
    spec = data.draw(model_specs(classification=True))
    features, _, outputs, _, dtype, _ = spec
    n = data.draw(st.integers(1, 7))
    x = values_for(data.draw, (n, features), "float64")
    labels = np.array(data.draw(st.lists(st.integers(0, outputs - 1), min_size=n, max_size=n)))
    a, b = make_model(spec), make_model(spec)
    loss_int, g_int = a.compute_gradients(x, labels)
    loss_hot, g_hot = b.compute_gradients(x, np.eye(outputs)[labels])
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(loss_hot, loss_int, **tol)
    for gi, gh in zip(g_int, g_hot):
        np.testing.assert_allclose(gh, gi, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


# -- bad input: a named error, and nothing changes --------------------------------------------------

CORRUPTIONS = ("x_nan", "x_inf", "x_cols", "x_1d", "x_3d", "x_rows0", "x_object", "x_complex", "x_str",
               "x_datetime", "x_overflow", "y_rows", "y_nan", "y_range_hi", "y_range_lo", "y_fraction",
               "y_cols", "y_object", "y_complex", "y_str", "w_negative", "w_nan", "w_rows")
METHODS = ("fit", "fit_validation", "train_on_batch", "evaluate", "predict", "gradient_check",
           "compute_gradients")
VALIDATION_ARG = {"x": "validation_data[0]", "y": "validation_data[1]", "sample_weight": "validation_data[2]"}


def corrupt(draw, kind, x, y, n, outputs, loss, model_dtype):
    """(x, y, sample_weight, argument the error must name)."""
    w = None
    pos = (draw(st.integers(0, n - 1)), draw(st.integers(0, x.shape[1] - 1)))
    if kind in ("x_nan", "x_inf", "x_overflow"):
        x = x.astype(draw(st.sampled_from(["float16", "float32", ">f8"])) if kind != "x_overflow" else np.float64)
        # 1e39 is finite in float64 but beyond float32's range: bad for a float32 model only
        big = 1e39 if model_dtype == "float32" else np.inf
        x[pos] = {"x_nan": np.nan, "x_inf": draw(st.sampled_from([np.inf, -np.inf])), "x_overflow": big}[kind]
        return x, y, w, "x"
    if kind == "x_cols":
        return x[:, :-1] if x.shape[1] > 1 else np.hstack([x, x]), y, w, "x"
    if kind == "x_1d":
        return x[:, 0], y, w, "x"
    if kind == "x_3d":
        return x[:, :, None], y, w, "x"
    if kind == "x_rows0":
        return x[:0], y[:0], w, "x"
    if kind == "x_object":
        return x.astype(object), y, w, "x"
    if kind == "x_complex":
        return x.astype(complex), y, w, "x"
    if kind == "x_str":
        return x.astype(str), y, w, "x"
    if kind == "x_datetime":
        return x.astype("int64").astype("datetime64[s]"), y, w, "x"
    if kind == "y_rows":
        return x, np.concatenate([y, y[:1]]), w, "y"
    if kind == "y_nan":
        y = y.astype(np.float64)
        y[pos[0]] = np.nan
        return x, y, w, "y"
    if kind == "y_range_hi":
        if loss != "softmax_cross_entropy":
            y = y.astype(np.float64)
            y[pos[0]] = np.inf
            return x, y, w, "y"
        y = y.copy()
        y[pos[0]] = draw(st.sampled_from([outputs, outputs + 1, 2**40]))
        return x, y, w, "y"
    if kind == "y_range_lo":
        if loss != "softmax_cross_entropy":
            return x, np.full_like(y, -np.inf, dtype=np.float64), w, "y"
        y = y.copy()
        y[pos[0]] = draw(st.sampled_from([-1, -(2**40)]))
        return x, y.astype(draw(st.sampled_from(["int64", "float64"]))), w, "y"
    if kind == "y_fraction":
        if loss != "softmax_cross_entropy":
            return x, y.astype(str), w, "y"
        return x, y + 0.5, w, "y"
    if kind == "y_cols":
        cols = outputs + 1
        return x, np.zeros((n, cols)), w, "y"
    if kind == "y_object":
        return x, y.astype(object) if loss == "softmax_cross_entropy" else np.array([[None]] * n), w, "y"
    if kind == "y_complex":
        return x, y.astype(complex), w, "y"
    if kind == "y_str":
        return x, y.astype(str), w, "y"
    if kind == "w_negative":
        w = np.ones(n)
        w[pos[0]] = -1.0
        return x, y, w, "sample_weight"
    if kind == "w_nan":
        w = np.ones(n)
        w[pos[0]] = np.nan
        return x, y, w, "sample_weight"
    if kind == "w_rows":
        return x, y, np.ones(n + 1), "sample_weight"
    raise AssertionError(kind)


def call(model, method, x, y, w, good=None):
    if method == "fit_validation":  # good training data, the bad arrays as validation_data
        val = (x, y) if w is None else (x, y, w)
        return model.fit(*good, epochs=1, batch_size=4, verbose=0, validation_data=val)
    if method == "fit":
        return model.fit(x, y, epochs=1, batch_size=4, verbose=0, sample_weight=w)
    if method == "train_on_batch":
        return model.train_on_batch(x, y, sample_weight=w)
    if method == "evaluate":
        return model.evaluate(x, y, sample_weight=w)
    if method == "predict":
        return model.predict(x)
    if method == "gradient_check":
        return fastnn.gradient_check(model, x, y, sample_weight=w, max_checks=1)
    return model.compute_gradients(x, y, sample_weight=w)


@settings(max_examples=examples(120), **PROPS)
@given(data=st.data())
def test_bad_input_raises_a_named_error_and_leaves_the_model_unchanged(data):
    spec = data.draw(model_specs(allow_bn=True))
    features, _, outputs, loss, _, _ = spec
    model = trained(spec, seed=data.draw(st.integers(0, 3)))
    n = data.draw(st.integers(1, 6))
    x = values_for(data.draw, (n, features), "float64")
    y = np.array(data.draw(st.lists(st.integers(0, outputs - 1), min_size=n, max_size=n))) \
        if loss == "softmax_cross_entropy" else values_for(data.draw, (n, outputs), "float64")
    kind = data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    method = data.draw(st.sampled_from(METHODS), label="method")
    if method == "predict" and not kind.startswith("x_"):
        method = "evaluate"  # predict takes no targets or weights
    bad_x, bad_y, w, arg = corrupt(data.draw, kind, x, y, n, outputs, loss, spec[4])
    if kind == "x_rows0" and method == "predict":
        out = model.predict(bad_x)  # zero rows are a valid (empty) prediction
        assert out.shape == (0, outputs)
        return
    if method == "fit_validation":
        arg = re.escape(VALIDATION_ARG[arg])
    before = snapshot(model)
    with pytest.raises((ValueError, TypeError)) as info:
        call(model, method, bad_x, bad_y, w, good=(x, y))
    message = str(info.value)
    assert re.match(rf"{arg}(\b|:)", message), f"{method} with {kind}: the message does not start with {arg!r}: {message}"
    assert ": expected" in message or "has " in message, f"the message does not say what was expected: {message}"
    assert "np.int64(" not in message and "np.float64(" not in message, f"numpy reprs leak into: {message}"
    assert_same_state(model, before)


@settings(max_examples=examples(30), **PROPS)
@given(data=st.data())
def test_set_weights_refuses_bad_arrays_and_changes_nothing(data):
    spec = data.draw(model_specs(allow_bn=True))
    model = trained(spec)
    weights = model.get_weights()
    i = data.draw(st.integers(0, len(weights) - 1), label="which array")
    bad = data.draw(st.sampled_from(["nan", "inf", "shape", "count", "object", "complex", "overflow"]))
    arg = f"weights[{i}]"
    if bad == "count":
        weights = weights[:-1]
        arg = "weights"
    elif bad == "shape":
        weights[i] = np.zeros(weights[i].shape + (1,))
    elif bad in ("object", "complex"):
        weights[i] = weights[i].astype(bad)
    else:
        w = weights[i].astype(np.float64)
        w.reshape(-1)[data.draw(st.integers(0, w.size - 1))] = {"nan": np.nan, "inf": -np.inf, "overflow": 1e39}[bad]
        if bad == "overflow" and spec[4] == "float64":
            w.reshape(-1)[0] = np.nan  # 1e39 fits in float64
        weights[i] = w
    before = snapshot(model)
    with pytest.raises((ValueError, TypeError)) as info:
        model.set_weights(weights)
    assert str(info.value).startswith(arg + ":"), str(info.value)
    assert_same_state(model, before)


def test_x_beyond_the_float32_range_is_named_without_an_overflow_warning():
    model = make_model((2, [], 2, "softmax_cross_entropy", "float32", False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast" on the way
        with pytest.raises(ValueError, match=r"x: expected values within the float32 range .* got 1e\+39 "
                                             r"at index \(1, 0\)"):
            model.predict(np.array([[0.0, 1.0], [1e39, 0.0]]))


# -- gradient_check ----------------------------------------------------------------------------------

@settings(max_examples=examples(15), **PROPS)
@given(data=st.data())
def test_gradient_check_passes_on_smooth_models_and_changes_nothing(data, relayout):
    features = data.draw(st.integers(1, 4))
    hidden = data.draw(st.lists(st.tuples(st.integers(1, 4), st.sampled_from(["tanh", "sigmoid", "linear"])),
                                max_size=2))
    loss = data.draw(st.sampled_from(["softmax_cross_entropy", "mse"]))
    outputs = data.draw(st.integers(2, 3))
    spec = (features, hidden, outputs, loss, data.draw(st.sampled_from(["float32", "float64"])), False)
    model = trained(spec)
    n = data.draw(st.integers(1, 4))
    x = relayout(values_for(data.draw, (n, features), data.draw(st.sampled_from(["float64", "int8"]))),
                 data.draw(st.sampled_from(LAYOUTS)))
    y = np.arange(n) % outputs if loss == "softmax_cross_entropy" else values_for(data.draw, (n, outputs), "float64")
    before = snapshot(model)
    errors = fastnn.gradient_check(model, x, y, max_checks=4)
    assert set(errors) == {l.name for l in model.layers if l.param_specs()}
    assert max(errors.values()) < 1e-5
    assert_same_state(model, before)


# -- losses and metric functions --------------------------------------------------------------------

LOSS_CASES = {
    # name: (factory, reference name, targets kind)
    "softmax_cross_entropy": (lambda: losses.get("softmax_cross_entropy"), "softmax_xent", "labels"),
    "mse": (lambda: losses.get("mse"), "mse", "real"),
    "mae": (lambda: losses.get("mae"), "mae", "real"),
    "huber": (lambda: losses.get("huber"), "huber", "real"),
    "log_cosh": (lambda: losses.get("log_cosh"), "log_cosh", "real"),
    "bce_logits": (lambda: losses.BinaryCrossentropy(from_logits=True), "bce_logits", "binary"),
}


@settings(max_examples=examples(60), **PROPS)
@given(data=st.data())
def test_losses_match_the_reference_for_any_dtype_and_layout(data, relayout):
    name = data.draw(st.sampled_from(sorted(LOSS_CASES)))
    factory, ref_name, kind = LOSS_CASES[name]
    n = data.draw(st.integers(0, 6), label="rows")
    k = data.draw(st.integers(2 if kind == "labels" else 1, 4), label="columns")
    in_dtype = data.draw(st.sampled_from(["float16", "float32", "float64", "int32", ">f8", "<f4"]))
    pred_values = values_for(data.draw, (n, k), in_dtype.lstrip("<>"))
    if in_dtype.startswith(">"):
        pred_values = pred_values.astype(in_dtype)
    # an empty list has lost its column count: lists only with rows
    pred = relayout(pred_values, data.draw(st.sampled_from(LAYOUTS if n else LAYOUTS[:-1])))
    if kind == "labels":
        true = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    elif kind == "binary":
        true = values_for(data.draw, (n, k), "bool").astype(np.float64)
    else:
        true = values_for(data.draw, (n, k), "float64")
    before = frozen(pred)
    value = factory()(true, pred)
    # the loss computes in float32 or float64: the prediction's dtype when it is one of them
    native = np.dtype(in_dtype).newbyteorder("=")
    work = native if native in (np.float32, np.float64) else np.dtype(np.float32)
    expected = rl.value_and_grad(ref_name, canonical(pred_values, work), true)[0] if n else 0.0
    np.testing.assert_allclose(value, expected, rtol=TOL[work]["rtol"] * 10, atol=TOL[work]["atol"] * 10)
    unchanged_input(pred, before)


@settings(max_examples=examples(40), **PROPS)
@given(data=st.data())
def test_losses_refuse_bad_input_naming_the_argument(data):
    name = data.draw(st.sampled_from(sorted(LOSS_CASES)))
    factory, _, kind = LOSS_CASES[name]
    n = data.draw(st.integers(1, 5))
    k = data.draw(st.integers(2, 3))
    pred = values_for(data.draw, (n, k), "float64")
    true = np.arange(n) % k if kind == "labels" else np.zeros((n, k))
    bad = data.draw(st.sampled_from(["pred_nan", "pred_inf", "pred_complex", "pred_3d", "true_rows",
                                     "true_nan", "true_str"]))
    arg = "y_pred" if bad.startswith("pred") else "y_true"
    if bad in ("pred_nan", "pred_inf"):
        pred[data.draw(st.integers(0, n - 1)), 0] = np.nan if bad == "pred_nan" else -np.inf
    elif bad == "pred_complex":
        pred = pred.astype(complex)
    elif bad == "pred_3d":
        pred = pred[:, :, None]
    elif bad == "true_rows":
        true = np.concatenate([true, true[:1]])
    elif bad == "true_nan":
        true = true.astype(np.float64)
        true[0] = np.nan
    else:
        true = true.astype(str)
    with pytest.raises((ValueError, TypeError)) as info:
        factory()(true, pred)
    assert re.match(rf"{arg}\b", str(info.value)), str(info.value)


def test_cross_entropy_from_probabilities_refuses_rows_that_sum_to_zero():
    # p / sum(p) is 0/0 there: a NaN loss would otherwise come back silently
    pred = np.array([[0.2, 0.3, 0.5], [0.0, 0.0, 0.0]])
    for loss in (losses.CategoricalCrossentropy(), losses.SparseCategoricalCrossentropy()):
        y = np.array([0, 1]) if isinstance(loss, losses.SparseCategoricalCrossentropy) else np.eye(3)[[0, 1]]
        with pytest.raises(ValueError, match=r"y_pred: expected probability rows with a positive sum, "
                                             r"got a row summing to 0\.0 at row 1"):
            loss(y, pred)
        # still fine where every row has mass (negative entries are clipped, as in Keras)
        assert np.isfinite(loss(y, np.array([[0.2, 0.3, 0.5], [0.1, -0.1, 0.4]])))


@settings(max_examples=examples(25), **PROPS)
@given(data=st.data())
def test_metric_functions_match_scikit_learn_for_any_dtype_and_layout(data, relayout):
    skm = pytest.importorskip("sklearn.metrics")
    name = data.draw(st.sampled_from(["accuracy", "mean_squared_error", "mean_absolute_error", "r2_score"]))
    n = data.draw(st.integers(2, 8))
    layout = data.draw(st.sampled_from(LAYOUTS))
    in_dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "float16"]))
    if name == "accuracy":
        k = data.draw(st.integers(2, 4))
        scores = values_for(data.draw, (n, k), in_dtype)
        labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
        got = metrics.accuracy(labels, relayout(scores, layout))
        s64 = scores.astype(np.float64)
        # ties: fastnn (like Keras and numpy) takes the first maximum
        want = skm.accuracy_score(labels, s64.argmax(axis=1))
        assert got == pytest.approx(want, abs=1e-12)
        return
    k = data.draw(st.integers(1, 3))
    pred = values_for(data.draw, (n, k), in_dtype)
    true = values_for(data.draw, (n, k), "float64")
    if name == "r2_score" and np.any(np.ptp(true, axis=0) == 0):
        true = true + np.arange(n)[:, None]  # r2 needs a non-constant target column
    got = getattr(metrics, name)(relayout(true, layout), relayout(pred, layout))
    work = np.float64 if in_dtype == "float64" else np.float32
    want = getattr(skm, name)(true.astype(work).astype(np.float64), pred.astype(work).astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-4 if work is np.float32 else 1e-10, atol=1e-5)
