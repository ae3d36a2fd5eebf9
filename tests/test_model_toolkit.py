"""Model-level toolkit features: N-D samples with Flatten, sample and class weights,
non-trainable state in get_weights, and the numerical gradient checker.

References: tests/reference.py (plain numpy float64 network and losses) and
central finite differences; the gradient checker is itself checked on a wrong
derivative, which it must flag.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
import reference as ref
from fastnn import layers


def small_model(out=3, loss="softmax_cross_entropy", dtype="float64", first=None):
    stack = ([first] if first is not None else []) + [layers.Dense(6, activation="tanh"), layers.Dense(out)]
    model = fastnn.Sequential(stack, seed=0, dtype=dtype)
    model.compile(optimizer="sgd", loss=loss)
    return model


# -- N-D samples ---------------------------------------------------------------------------

def test_flatten_feeds_images_to_dense():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4, 5))
    y = rng.integers(0, 3, 20)
    model = small_model(first=layers.Flatten())
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert model.input_shape == (4, 5)
    # The same network on the flattened rows, by the numpy reference.
    w = model.get_weights()
    expected = ref.softmax(ref.network_forward(X.reshape(20, 20),
                                               ref.layers_from_weights(w, ["tanh", "linear"])))
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12, atol=1e-14)


def test_input_declares_image_shape_and_refuses_others():
    model = fastnn.Sequential([layers.Input((4, 5)), layers.Flatten(), layers.Dense(3)], seed=0)
    model.compile(loss="mse")
    assert model.predict(np.zeros((2, 4, 5))).shape == (2, 3)
    with pytest.raises(ValueError, match=r"^x: expected samples of shape \(4, 5\)"):
        model.predict(np.zeros((2, 20)))
    with pytest.raises(ValueError, match=r"^x: expected samples of shape \(4, 5\)"):
        model.predict(np.zeros((2, 5, 4)))


def test_nd_input_without_flatten_is_refused_clearly():
    model = small_model()
    with pytest.raises(ValueError, match=r"^input_shape: samples of shape \(4, 5\) need layers.Flatten\(\)"):
        model.fit(np.zeros((3, 4, 5)), np.zeros(3, int), verbose=0)
    assert not model.built
    with pytest.raises(ValueError, match=r"need layers.Flatten\(\) before 'dense"):
        fastnn.Sequential([layers.Dense(3), layers.Flatten()]).build((None, 4, 5))


def test_summary_shows_flattened_shape():
    model = fastnn.Sequential([layers.Input((4, 5)), layers.Flatten(), layers.Dense(3)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 20)" in text and "(None, 3)" in text and "Trainable params: 63" in text


# -- sample and class weights -------------------------------------------------------------

def weighted_reference_loss(model, X, y, w, kind):
    out = ref.network_forward(X, ref.layers_from_weights(model.get_weights(), ["tanh", "linear"]))
    if kind == "mse":
        per_sample = ((out - y) ** 2).mean(axis=1)
    else:
        per_sample = ref.logsumexp_rows(out) - out[np.arange(len(y)), y]
    return float((w * per_sample).sum() / len(X))  # Keras: weighted sum over the batch size


@pytest.mark.parametrize("kind", ["mse", "softmax_cross_entropy"])
def test_sample_weight_weights_loss_and_gradients(kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 4))
    y = rng.standard_normal((12, 3)) if kind == "mse" else rng.integers(0, 3, 12)
    w = rng.uniform(0, 3, 12)
    model = small_model(loss=kind)
    model.build((None, 4))
    loss, grads = model.compute_gradients(X, y, sample_weight=w)
    assert loss == pytest.approx(weighted_reference_loss(model, X, y, w, kind), rel=1e-12)
    errors = fastnn.gradient_check(model, X, y, sample_weight=w)
    assert max(errors.values()) < 1e-6, errors
    # Weight 2 on every sample is the loss doubled.
    loss2, _ = model.compute_gradients(X, y, sample_weight=np.full(12, 2.0))
    loss1, _ = model.compute_gradients(X, y)
    assert loss2 == pytest.approx(2 * loss1, rel=1e-12)


def test_class_weight_equals_the_matching_sample_weight():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    cw = {0: 0.5, 2: 4.0}
    a, b = small_model(), small_model()
    ha = a.fit(X, y, epochs=2, batch_size=7, class_weight=cw, verbose=0)
    hb = b.fit(X, y, epochs=2, batch_size=7, sample_weight=np.array([cw.get(c, 1.0) for c in y]), verbose=0)
    assert ha.history["loss"] == hb.history["loss"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_zero_weight_samples_do_not_move_the_model():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10)
    model = small_model()
    model.build((None, 4))
    before = model.get_weights()
    model.train_on_batch(X, y, sample_weight=np.zeros(10))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    ({"sample_weight": np.ones(5)}, r"^sample_weight: has 5 entries but the data has 10 rows"),
    ({"sample_weight": -np.ones(10)}, r"^sample_weight: expected weights >= 0, got -1"),
    ({"sample_weight": np.full(10, np.nan)}, r"^sample_weight: expected finite values"),
    ({"class_weight": {3: 1.0}}, r"^class_weight: expected class indices in \[0, 3\)"),
    ({"class_weight": {0: -1.0}}, r"^class_weight: expected finite weights >= 0"),
    ({"class_weight": [1.0, 2.0]}, r"^class_weight: expected a dict"),
])
def test_bad_weights_are_refused_before_any_change(kwargs, match):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    model = small_model()
    model.build((None, 4))
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(X, y, verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_class_weight_needs_a_classification_loss():
    model = small_model(loss="mse")
    with pytest.raises(ValueError, match=r"^class_weight: needs a classification loss"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 3)), class_weight={0: 1.0}, verbose=0)


# -- gradient checker ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_check_passes_on_correct_gradients(dtype):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = small_model(dtype=dtype)
    model.build((None, 4))
    before = model.get_weights()
    errors = fastnn.gradient_check(model, X, y)
    assert set(errors) == {l.name for l in model.layers}
    assert max(errors.values()) < 1e-6, errors
    for a, b in zip(before, model.get_weights()):  # the model itself is untouched
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.dtype(dtype)


def test_gradient_check_flags_a_wrong_gradient(monkeypatch):
    # Break the analytic gradient of the second layer's kernel: the checker must see it.
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = small_model()
    model.build((None, 4))
    from fastnn.layers.dense import Dense
    original = Dense.backward

    def wrong(self, dout, n, need_dx):
        dx = original(self, dout, n, need_dx)
        if not need_dx:
            self._dkernel *= 1.01  # a 1% error in the first layer's weight gradient
        return dx

    monkeypatch.setattr(Dense, "backward", wrong)
    # A plain Dense stack trains through ops.DenseStep; take the layer-by-layer path
    # (in gradient_check's float64 clone too), whose Dense.backward is the broken one.
    monkeypatch.setattr(fastnn.Sequential, "_dense_step", lambda self: None)
    errors = fastnn.gradient_check(model, X, y)
    first, second = (l.name for l in model.layers)
    assert errors[first] > 5e-3 and errors[second] < 1e-6, errors


def test_gradient_check_max_checks_and_bad_arguments():
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = small_model()
    assert max(fastnn.gradient_check(model, X, y, max_checks=3).values()) < 1e-6
    with pytest.raises(ValueError, match=r"^epsilon: expected a float in \(0, 1\), got 0"):
        fastnn.gradient_check(model, X, y, epsilon=0)
    with pytest.raises(ValueError, match=r"^max_checks: expected an integer >= 1"):
        fastnn.gradient_check(model, X, y, max_checks=0)
    with pytest.raises(TypeError, match=r"^model: expected a fastnn Sequential"):
        fastnn.gradient_check(object(), X, y)
    uncompiled = fastnn.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match=r"^model: compile it"):
        fastnn.gradient_check(uncompiled, X, y)


# -- regularizers and constraints on Dense -------------------------------------------------

def linear_mse_reference(X, T, W, b, kernel=(0.0, 0.0), bias=(0.0, 0.0), activity=(0.0, 0.0)):
    """float64 loss and (dW, db) of y = X W + b under MSE plus Keras penalties."""
    n, k = T.shape
    Y = X @ W + b
    loss = np.mean((Y - T) ** 2)
    dY = 2 * (Y - T) / (n * k)
    (k1, k2), (b1, b2), (a1, a2) = kernel, bias, activity
    loss += k1 * np.abs(W).sum() + k2 * (W ** 2).sum() + b1 * np.abs(b).sum() + b2 * (b ** 2).sum()
    loss += (a1 * np.abs(Y).sum() + a2 * (Y ** 2).sum()) / n  # Keras divides by the batch size
    dY += (a1 * np.sign(Y) + 2 * a2 * Y) / n
    dW = X.T @ dY + k1 * np.sign(W) + 2 * k2 * W
    db = dY.sum(0) + b1 * np.sign(b) + 2 * b2 * b
    return loss, dW, db


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("which", ["kernel", "bias", "activity", "all"])
def test_regularized_loss_and_gradients_match_the_formula(dtype, which):
    rng = np.random.default_rng(11)
    X, T = rng.standard_normal((9, 5)), rng.standard_normal((9, 3))
    factors = {"kernel": (0.03, 0.2), "bias": (0.05, 0.1), "activity": (0.02, 0.3)}
    use = factors if which == "all" else {which: factors[which]}
    kwargs = {f"{k}_regularizer": fastnn.regularizers.L1L2(*v) for k, v in use.items()}
    model = fastnn.Sequential([layers.Dense(3, bias_initializer="random_normal", **kwargs)],
                              seed=1, dtype=dtype)
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, 5))
    W, b = (w.astype(np.float64) for w in model.get_weights())
    loss, (dW, db) = model.compute_gradients(X, T)
    want, want_dW, want_db = linear_mse_reference(X.astype(dtype), T.astype(dtype), W, b, **use)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(loss, want, rtol=tol)
    np.testing.assert_allclose(dW, want_dW, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, want_db, rtol=tol, atol=tol)
    # evaluate adds the weight penalties (not the activity one) to the data loss
    data_loss = np.mean((X.astype(dtype) @ W + b - T.astype(dtype)) ** 2)
    k1, k2 = use.get("kernel", (0, 0))
    b1, b2 = use.get("bias", (0, 0))
    weights_penalty = k1 * np.abs(W).sum() + k2 * (W ** 2).sum() + b1 * np.abs(b).sum() + b2 * (b ** 2).sum()
    np.testing.assert_allclose(model.evaluate(X, T)["loss"], data_loss + weights_penalty, rtol=tol)


def test_l2_regularization_shrinks_weights_and_gradient_check_passes():
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((64, 6)), rng.integers(0, 3, 64)
    norms = []
    for l2 in (0.0, 0.05):
        model = fastnn.Sequential([layers.Dense(8, activation="tanh", kernel_regularizer=fastnn.regularizers.L2(l2)),
                                   layers.Dense(3, kernel_regularizer=fastnn.regularizers.L2(l2))], seed=3)
        model.compile(optimizer=fastnn.optimizers.SGD(0.1), loss="softmax_cross_entropy")
        model.fit(X, y, epochs=30, batch_size=16, verbose=0)
        norms.append(sum(float((w ** 2).sum()) for w in model.get_weights()[::2]))
        if l2:
            assert max(fastnn.gradient_check(model, X[:8], y[:8]).values()) < 1e-6
    assert norms[1] < 0.7 * norms[0], norms


@pytest.mark.parametrize("constraint, check", [
    (fastnn.constraints.MaxNorm(0.5), lambda W: np.all(np.linalg.norm(W, axis=0) <= 0.5 + 1e-6)),
    (fastnn.constraints.UnitNorm(), lambda W: np.allclose(np.linalg.norm(W, axis=0), 1.0, atol=1e-5)),
    (fastnn.constraints.NonNeg(), lambda W: np.all(W >= 0)),
])
def test_kernel_constraint_holds_after_every_step(constraint, check):
    rng = np.random.default_rng(13)
    X, y = 3 * rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    model = fastnn.Sequential([layers.Dense(8, activation="relu", kernel_constraint=constraint),
                               layers.Dense(3)], seed=4)
    model.compile(optimizer=fastnn.optimizers.SGD(0.5), loss="softmax_cross_entropy")
    model.build((None, 6))
    unconstrained = model.get_weights()[0]
    assert not check(unconstrained)  # the test can fail: the initial kernel breaks it
    for _ in range(3):
        model.train_on_batch(X, y)
        assert check(model.get_weights()[0])


def test_regularized_dense_config_round_trip():
    layer = layers.Dense(4, kernel_initializer=fastnn.initializers.HeNormal(seed=3),
                         kernel_regularizer="l2", bias_regularizer=fastnn.regularizers.L1(0.1),
                         activity_regularizer={"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
                         kernel_constraint="max_norm", bias_constraint=fastnn.constraints.NonNeg())
    clone = layers.Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.activity_regularizer == fastnn.regularizers.L1L2(0.1, 0.2)
    assert clone.kernel_initializer.get_config()["seed"] == 3


@pytest.mark.parametrize("arg", ["kernel_regularizer", "bias_regularizer", "activity_regularizer",
                                 "kernel_constraint", "bias_constraint"])
def test_unknown_regularizer_or_constraint_is_named(arg):
    with pytest.raises(ValueError, match=rf"^{arg}: expected .* got 'nope'"):
        layers.Dense(3, **{arg: "nope"})


# -- gradient checks through whole networks ---------------------------------------------------

class WeightedSquare(fastnn.losses.Loss):
    """A custom cost: squared error, over-prediction counting three times."""

    def value(self, y_true, y_pred):
        e = y_pred - y_true
        return np.mean(np.where(e > 0, 3.0, 1.0) * e ** 2, axis=-1)

    def gradient(self, y_true, y_pred):
        e = y_pred - y_true
        return np.where(e > 0, 3.0, 1.0) * 2 * e / y_pred.shape[1]


@pytest.fixture
def softcube():
    name = "softcube_test"
    fastnn.activations.register(name, lambda z: z ** 3 / 3 + z, lambda z: z ** 2 + 1)
    yield name
    fastnn.activations.unregister(name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_check_through_every_toolkit_layer(dtype, softcube):
    rng = np.random.default_rng(14)
    X, T = rng.standard_normal((12, 5)), rng.standard_normal((12, 2))
    model = fastnn.Sequential([
        layers.Normalization(mean=0.5, variance=2.0),
        layers.GaussianNoise(0.1, seed=1),
        layers.Dense(7, activation="gelu", kernel_regularizer=fastnn.regularizers.L2(0.01)),
        layers.BatchNormalization(),
        layers.Activation("swish"),
        layers.Dropout(0.3, seed=2),
        layers.Dense(6, activation=softcube, activity_regularizer=fastnn.regularizers.L2(0.01)),
        layers.LayerNormalization(),
        layers.Dense(6, activation=fastnn.activations.get("leaky_relu", negative_slope=0.1)),
        layers.Dense(2, activation="tanh"),
    ], seed=5, dtype=dtype)
    model.compile(optimizer="adam", loss=WeightedSquare())
    errors = fastnn.gradient_check(model, X, T)
    assert len(errors) == 6  # Dense x4, BN, LN have parameters
    assert max(errors.values()) < 1e-5, errors


def test_gradient_check_flags_a_wrong_custom_derivative():
    name = "wrong_softcube_test"
    fastnn.activations.register(name, lambda z: z ** 3 / 3 + z, lambda z: z ** 2 + 1.1)
    try:
        rng = np.random.default_rng(15)
        X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
        model = fastnn.Sequential([layers.Dense(5, activation=name), layers.Dense(3)], seed=6)
        model.compile(optimizer="sgd", loss="softmax_cross_entropy")
        errors = fastnn.gradient_check(model, X, y)
        first, second = (l.name for l in model.layers)
        assert errors[first] > 1e-3 and errors[second] < 1e-6, errors
    finally:
        fastnn.activations.unregister(name)


def test_backpropagation_stops_at_the_first_trainable_layer():
    # Normalization and Dropout before the first Dense have nothing to learn: that Dense
    # skips its input-gradient GEMM, and the gradients stay exact (finite differences).
    rng = np.random.default_rng(16)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    model = fastnn.Sequential([layers.Normalization(mean=0.1, variance=2.0), layers.Dropout(0.2, seed=3),
                               layers.Dense(5, activation="tanh"), layers.Dense(3)], seed=7)
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    model.fit(X, y, verbose=0)
    assert model.layers[2]._dx is None and model.layers[3]._dx is not None
    assert max(fastnn.gradient_check(model, X, y).values()) < 1e-6


# -- every exported layer honours the model contract ----------------------------------------

LAYER_CASES = [
    lambda: layers.Dense(5, activation="selu", kernel_regularizer="l2"),
    lambda: layers.Activation("softsign"), lambda: layers.Activation("log_softmax"),
    lambda: layers.ReLU(max_value=6), lambda: layers.LeakyReLU(0.1), lambda: layers.ELU(0.5),
    lambda: layers.Softmax(), lambda: layers.Dropout(0.3, seed=1), lambda: layers.GaussianNoise(0.2, seed=2),
    lambda: layers.BatchNormalization(momentum=0.9), lambda: layers.LayerNormalization(),
    lambda: layers.Normalization(mean=0.5, variance=4.0), lambda: layers.Flatten(),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make", LAYER_CASES, ids=lambda f: type(f()).__name__)
def test_exported_layer_trains_predicts_and_round_trips(make, dtype):
    assert set(layers.__all__) >= {type(make()).__name__}
    rng = np.random.default_rng(17)
    X, y = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    model = fastnn.Sequential([layers.Input((6,)), layers.Dense(6, activation="tanh"), make(), layers.Dense(3)],
                              seed=2, dtype=dtype)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=3, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    proba = model.predict(X)
    assert proba.shape == (40, 3) and proba.dtype == np.dtype(dtype)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    clone = fastnn.Sequential.from_config(model.get_config())
    clone.compile(optimizer="adam", loss="softmax_cross_entropy")  # predict returns probabilities
    clone.build((None, 6))
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X), proba)  # inference is deterministic
    assert max(fastnn.gradient_check(model, X[:6], y[:6]).values()) < 1e-5


def test_every_exported_layer_has_a_contract_case():
    covered = {type(make()).__name__ for make in LAYER_CASES} | {"Layer", "Dense", "Input"}
    assert set(layers.__all__) <= covered, set(layers.__all__) - covered
