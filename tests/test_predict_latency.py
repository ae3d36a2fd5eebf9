"""predict's latency path (Sequential._predict_few -> ops.DenseChain) and the one-row
product kernel it runs (_blas.pxd row_times, reached through ops.dense_forward with n=1).

The path must compute what the general path computes: compared with a float64 numpy
reference (tests/reference.py), bit for bit with the general path on the same rows
(`predict(x, batch_size=...)` never takes the latency path), and it must fall back to
the general path (same errors, same conversions) for anything it does not handle.
"""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import reference as ref

import fastnn
from fastnn import layers, losses, ops

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def mlp(dtype, acts=("relu", "tanh"), widths=(784, 256, 64, 10), loss="softmax_cross_entropy",
        extra=lambda: (), seed=0):
    """A Dense stack; extra() gives the layers that follow each hidden Dense."""
    stack = [layers.Input((widths[0],))]
    for units, act in zip(widths[1:-1], acts):
        stack.append(layers.Dense(units, activation=act))
        stack.extend(extra())
    stack.append(layers.Dense(widths[-1]))
    model = fastnn.Sequential(stack, dtype=dtype, seed=seed)
    if loss is not None:
        model.compile(optimizer="adam", loss=loss)
    model.build((None, widths[0]))
    return model


def reference_predict(model, x, acts, transform):
    out = ref.network_forward(x, ref.layers_from_weights(model.get_weights(), list(acts) + ["linear"]))
    return {"softmax": ref.softmax, "sigmoid": ref.sigmoid, None: lambda z: z}[transform](out)


def sparse_rows(rng, n, cols, density, dtype):
    x = rng.random((n, cols)).astype(dtype)
    x[rng.random((n, cols)) >= density] = 0
    return x


# -- the one-row kernel --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, units", [(128, 128), (131, 37), (784, 256), (1300, 16), (2050, 9)])
@pytest.mark.parametrize("density", [1.0, 0.2, 0.0])
def test_one_row_product_matches_float64(dtype, k, units, density):
    # k past the kernel's 512-input chunks and not a multiple of its 4-row groups; units
    # not a multiple of the SIMD width; zero inputs skipped (all of them: density 0).
    rng = np.random.default_rng(k + units)
    w = rng.standard_normal((k, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    x = sparse_rows(rng, 1, k, density, dtype)
    out = np.full((1, units), np.nan, dtype)
    ops.dense_forward(x, w, b, out, 1, fastnn.activations.LINEAR)
    np.testing.assert_allclose(out, ref.dense_preactivation(x, w, b), **TOL[dtype])
    # The row is summed in increasing input order: the same bits as a plain float loop
    # in the model dtype would give up to contraction (fma), so within a few ulps of
    # a sequential float64 sum rounded to the dtype.
    assert np.all(np.isfinite(out))


def test_one_row_product_skips_zero_inputs_exactly():
    # A zero input contributes nothing, even against a non-finite weight (the product
    # is never formed), as the CSR kernels do.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((300, 64)).astype(np.float32)
    x = rng.random((1, 300)).astype(np.float32)
    x[0, 7] = 0
    w[7] = np.inf
    out = np.empty((1, 64), np.float32)
    ops.dense_forward(x, w, None, out, 1, fastnn.activations.LINEAR)
    keep = np.ones(300, bool)
    keep[7] = False
    np.testing.assert_allclose(out, ref.dense_preactivation(x[:, keep], w[keep]), rtol=2e-5, atol=2e-6)


# -- the latency path ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, transform", [("softmax_cross_entropy", "softmax"),
                                             (losses.BinaryCrossentropy(from_logits=True), "sigmoid"),
                                             ("mse", None), (None, None)])
def test_one_row_matches_reference_and_general_path(dtype, loss, transform):
    model = mlp(dtype, loss=loss)
    rng = np.random.default_rng(1)
    for x in (rng.random((1, 784)).astype(dtype), sparse_rows(rng, 1, 784, 0.19, dtype)):
        fast = model.predict(x)
        assert model._chain is not False
        np.testing.assert_allclose(fast, reference_predict(model, x, ("relu", "tanh"), transform),
                                   **TOL[dtype])
        np.testing.assert_array_equal(fast, model.predict(x, batch_size=1))  # the general path
        assert fast.shape == (1, 10) and fast.dtype == dtype and fast.flags.owndata


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 5, 8])
def test_few_rows_take_the_chain_with_zero_skipping_never(dtype, n):
    model = mlp(dtype, acts=("gelu", "elu"), widths=(40, 33, 17, 3))
    model.zero_skipping = "never"
    x = np.random.default_rng(n).standard_normal((n, 40)).astype(dtype)
    fast = model.predict(x)
    np.testing.assert_array_equal(fast, model.predict(x, batch_size=n))
    np.testing.assert_allclose(fast.sum(axis=1), 1.0, rtol=1e-5)


def test_dropout_and_gaussian_noise_are_the_identity_in_the_chain():
    model = mlp(np.float32, extra=lambda: (layers.Dropout(0.5), layers.GaussianNoise(1.0)))
    x = np.random.default_rng(2).random((1, 784)).astype(np.float32)
    fast = model.predict(x)
    assert model._chain is not False
    np.testing.assert_allclose(fast, reference_predict(model, x, ("relu", "tanh"), "softmax"),
                               **TOL[np.float32])


@pytest.fixture
def half_cube():
    spec = fastnn.activations.register("test_half_cube", lambda z: z ** 3 / 2, lambda z: 1.5 * z ** 2)
    yield spec
    fastnn.activations.unregister("test_half_cube")


@pytest.mark.parametrize("kind", ["batch_norm", "custom_activation", "image_samples"])
def test_models_the_chain_cannot_run_take_the_general_path(kind, half_cube):
    if kind == "batch_norm":
        model = mlp(np.float32, extra=lambda: (layers.BatchNormalization(),))
    elif kind == "custom_activation":
        model = mlp(np.float32, acts=("test_half_cube", "relu"))
    else:
        model = fastnn.Sequential([layers.Input((28, 28)), layers.Flatten(), layers.Dense(10)])
    x = np.random.default_rng(4).random((1,) + model.input_shape).astype(np.float32)
    out = model.predict(x)
    assert not isinstance(model._chain, ops.DenseChain)
    np.testing.assert_array_equal(out, model.predict(x, batch_size=1))


def test_weights_set_after_the_chain_is_built_are_used():
    model = mlp(np.float64)
    x = np.random.default_rng(5).random((1, 784))
    before = model.predict(x)
    weights = [w * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    after = model.predict(x)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, reference_predict(model, x, ("relu", "tanh"), "softmax"),
                               **TOL[np.float64])


def test_compile_with_another_loss_changes_the_output_transform():
    model = mlp(np.float64)
    x = np.random.default_rng(6).random((1, 784))
    probs = model.predict(x)
    model.compile(optimizer="adam", loss="mse")
    raw = model.predict(x)
    np.testing.assert_allclose(ref.softmax(raw), probs, rtol=1e-12)
    assert not np.allclose(raw.sum(), 1.0)


def test_training_steps_are_seen_by_the_next_predict():
    model = mlp(np.float32)
    rng = np.random.default_rng(7)
    x = rng.random((1, 784)).astype(np.float32)
    before = model.predict(x)
    model.train_on_batch(rng.random((16, 784)).astype(np.float32), rng.integers(0, 10, 16))
    after = model.predict(x)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, reference_predict(model, x, ("relu", "tanh"), "softmax"),
                               **TOL[np.float32])


def test_bad_rows_get_the_general_path_errors():
    model = mlp(np.float32)
    x = np.random.default_rng(8).random((1, 784)).astype(np.float32)
    model.predict(x)
    x[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"^x: expected finite values, got nan at index \(0, 3\)"):
        model.predict(x)
    with pytest.raises(ValueError, match="^x: expected 784 features"):
        model.predict(np.ones((1, 783), np.float32))
    with pytest.raises(ValueError, match="^x: expected values within the float32 range"):
        model.predict(np.full((1, 784), 1e300))  # float64 rows are converted, then refused


def test_other_dtypes_and_layouts_are_converted_like_the_general_path():
    model = mlp(np.float32)
    rng = np.random.default_rng(9)
    x = rng.random((1, 784)).astype(np.float32)
    expected = model.predict(x, batch_size=1)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), expected)
    wide = np.zeros((1, 1568), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(model.predict(wide[:, ::2]), expected)  # strided
    np.testing.assert_array_equal(model.predict(x.tolist()), expected)


def test_copies_of_a_model_get_their_own_chain():
    model = mlp(np.float32)
    x = np.random.default_rng(10).random((1, 784)).astype(np.float32)
    expected = model.predict(x)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone._chain is None
        np.testing.assert_array_equal(clone.predict(x), expected)
        clone.set_weights([np.zeros_like(w) for w in clone.get_weights()])
        np.testing.assert_allclose(clone.predict(x), 0.1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x), expected)  # the original is untouched


def test_dense_chain_refuses_inconsistent_layers():
    w = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="^layers: expected at least one"):
        ops.DenseChain([], 1, False)
    with pytest.raises(ValueError, match=r"^layers\[1\] w: expected 3 rows"):
        ops.DenseChain([(w, None, 0, 0.0), (w, None, 0, 0.0)], 1, False)
    with pytest.raises(ValueError, match=r"^layers\[0\] b: expected 3"):
        ops.DenseChain([(w, np.ones(4, np.float32), 0, 0.0)], 1, False)
    with pytest.raises(ValueError, match="^max_rows"):
        ops.DenseChain([(w, None, 0, 0.0)], 0, False)
    chain = ops.DenseChain([(w, None, 0, 0.0)], 2, False)
    assert chain.run(np.ones((3, 4), np.float32)) is None      # more rows than max_rows
    assert chain.run(np.ones((1, 4), np.float64)) is None      # another dtype
    assert chain.run(np.ones((1, 5), np.float32)) is None      # another width
    assert chain.run([[1.0, 2.0, 3.0, 4.0]]) is None           # not an ndarray
    np.testing.assert_array_equal(chain.run(np.ones((2, 4), np.float32)), np.full((2, 3), 4.0))
