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
