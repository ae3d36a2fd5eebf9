"""Finite-difference gradient checks of whole networks, and one hand-worked example.

`Sequential.compute_gradients` (fastnn's forward and backward kernels through the
model) is compared with central finite differences of the loss computed by the
numpy reference (tests/reference.py) from `get_weights()`, so the check also
pins the order of the gradients to the order of `get_weights()`.

Tolerance. Central differences (L(w + eps) - L(w - eps)) / (2 eps), eps = 1e-6,
float64 models. Truncation error: eps^2 / 6 * |L'''| ~ 1e-13. Round-off: each
float64 loss evaluation is exact to a few tens of ulps of |L|, so the difference
quotient carries an absolute error of about 50 * 1.1e-16 * |L| / eps ~ 5e-9 |L|
(measured: <= 7e-10 on these networks). So a gradient entry g passes when

    |analytic - numeric| <= 1e-6 * max(|analytic|, |numeric|) + 1e-8 * max(1, |L|),

i.e. a relative error below 1e-6 wherever the entry is large enough (>~ 1e-2) for
the finite difference to resolve it, and the round-off bound below that.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
import reference as ref
from fastnn import layers

EPS = 1e-6
RTOL = 1e-6
ATOL_PER_UNIT_LOSS = 1e-8
RELU_MARGIN = 1e-4  # no ReLU pre-activation closer than this to the kink


def numeric_gradients(weights, loss_fn, eps=EPS):
    """Central differences of loss_fn(weights) w.r.t. every entry of every array."""
    out = []
    for i, w in enumerate(weights):
        g = np.zeros_like(w, dtype=np.float64)
        for idx in np.ndindex(w.shape):
            plus = [a.copy() for a in weights]
            minus = [a.copy() for a in weights]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (loss_fn(plus) - loss_fn(minus)) / (2 * eps)
        out.append(g)
    return out


def assert_gradients_match(analytic, numeric, loss_value):
    assert len(analytic) == len(numeric)
    atol = ATOL_PER_UNIT_LOSS * max(1.0, abs(loss_value))
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert a.shape == n.shape, f"grads[{i}]: shape {a.shape} != {n.shape}"
        err = np.abs(a - n)
        bound = RTOL * np.maximum(np.abs(a), np.abs(n)) + atol
        worst = np.unravel_index(np.argmax(err - bound), err.shape)
        assert np.all(err <= bound), (
            f"grads[{i}]{worst}: analytic {a[worst]!r} vs finite difference {n[worst]!r} "
            f"(|diff| {err[worst]:.3g} > {bound[worst]:.3g})")


def make_targets(loss, kind, n, k, rng):
    if loss == "softmax_cross_entropy":
        labels = rng.integers(0, k, n)
        labels[:k] = np.arange(k)  # every class present
        if kind == "labels":
            return labels
        if kind == "onehot":
            return np.eye(k)[labels]
        if kind == "soft":  # rows of a random distribution
            t = rng.random((n, k)) + 0.1
            return t / t.sum(axis=1, keepdims=True)
    if loss == "mse":
        if kind == "bounded":  # targets an output squashed to (0, 1) can approach
            return rng.uniform(0.05, 0.95, (n, k))
        return rng.standard_normal((n, k))
    raise AssertionError(kind)


def relu_safe_inputs(weights, acts, use_bias, n, n_in, rng):
    """Inputs for which no ReLU pre-activation lies within RELU_MARGIN of 0.

    A perturbation of eps = 1e-6 in one weight moves a pre-activation by about
    eps * |input| (~1e-5 here), far less than the margin: the finite difference
    never straddles the kink, where the derivative is undefined.
    """
    layer_list = ref.layers_from_weights(weights, acts, use_bias)
    for _ in range(1000):
        x = rng.standard_normal((n, n_in))
        _, pre = ref.network_forward(x, layer_list, return_preactivations=True)
        if all(np.abs(z).min() > RELU_MARGIN for z, a in zip(pre, acts) if a == "relu"):
            return x
    raise AssertionError("could not draw inputs away from the ReLU kink")


def check_network(sizes, acts, loss, target_kind, seed, use_bias=None, n=6):
    """Build a float64 Sequential, compare compute_gradients with finite differences."""
    rng = np.random.default_rng(seed)
    use_bias = use_bias or [True] * len(acts)
    model = fastnn.Sequential(
        [layers.Input((sizes[0],))]
        + [layers.Dense(u, activation=a, use_bias=ub)
           for u, a, ub in zip(sizes[1:], acts, use_bias)],
        seed=seed, dtype="float64")
    model.compile(optimizer="sgd", loss=loss)
    # Non-zero biases, so that the bias terms are exercised in the forward pass too.
    weights = [w + 0.1 * rng.standard_normal(w.shape) if w.ndim == 1 else w
               for w in model.get_weights()]
    model.set_weights(weights)
    x = relu_safe_inputs(weights, acts, use_bias, n, sizes[0], rng)
    y = make_targets(loss, target_kind, n, sizes[-1], rng)

    loss_value, grads = model.compute_gradients(x, y)
    grads = [g.copy() for g in grads]  # views into the gradient arena
    assert [g.shape for g in grads] == [w.shape for w in weights]
    assert all(g.dtype == np.float64 for g in grads)

    def ref_loss(ws):
        return ref.network_loss(x, y, ref.layers_from_weights(ws, acts, use_bias), loss)

    # The model's loss is the reference loss (both are means over the batch).
    np.testing.assert_allclose(loss_value, ref_loss(weights), rtol=1e-12)
    assert_gradients_match(grads, numeric_gradients(weights, ref_loss), loss_value)
    return model


HIDDEN = list(ref.ACTIVATIONS)  # softmax as a hidden activation too
LOSS_CASES = [
    # (loss, output activation, target kind)
    ("softmax_cross_entropy", "linear", "labels"),
    ("softmax_cross_entropy", "linear", "onehot"),
    ("mse", "linear", "normal"),
    ("mse", "sigmoid", "bounded"),
    ("mse", "tanh", "normal"),
    ("mse", "softmax", "bounded"),
]


@pytest.mark.parametrize("loss, out_act, target_kind", LOSS_CASES,
                         ids=[f"{l}-{a}-{k}" for l, a, k in LOSS_CASES])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradcheck_5_7_4_3(hidden, loss, out_act, target_kind):
    check_network([5, 7, 4, 3], [hidden, hidden, out_act], loss, target_kind,
                  seed=HIDDEN.index(hidden) * 10 + LOSS_CASES.index((loss, out_act, target_kind)))


def test_gradcheck_soft_targets():
    # Soft (non one-hot) target rows: grad = p * sum(t) - t, loss = sum_j t_j (lse - z_j).
    check_network([5, 7, 3], ["tanh", "linear"], "softmax_cross_entropy", "soft", seed=101)


@pytest.mark.parametrize("hidden", ["relu", "sigmoid"])
def test_gradcheck_without_bias(hidden):
    # A layer without bias shifts every later gradient in the get_weights() order.
    check_network([4, 6, 5, 3], [hidden, hidden, "linear"], "softmax_cross_entropy", "labels",
                  seed=202, use_bias=[True, False, True])


def test_gradcheck_mixed_activations_deeper():
    check_network([3, 9, 8, 7, 6, 2], ["relu", "tanh", "softmax", "sigmoid", "linear"], "mse",
                  "normal", seed=303, n=5)


def test_gradcheck_one_sample_one_output():
    # Degenerate widths: one sample, one output unit, mse targets of shape (n,).
    rng = np.random.default_rng(404)
    model = fastnn.Sequential([layers.Input((3,)), layers.Dense(1, activation="tanh"),
                               layers.Dense(1)], seed=404, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((1, 3)), rng.standard_normal(1)
    weights = model.get_weights()
    acts = ["tanh", "linear"]
    loss_value, grads = model.compute_gradients(x, y)
    grads = [g.copy() for g in grads]

    def ref_loss(ws):
        return ref.network_loss(x, y, ref.layers_from_weights(ws, acts), "mse")

    np.testing.assert_allclose(loss_value, ref_loss(weights), rtol=1e-12)
    assert_gradients_match(grads, numeric_gradients(weights, ref_loss), loss_value)


def test_hand_worked_example():
    """2 inputs -> Dense(2, relu) -> Dense(2) logits -> softmax cross-entropy, 2 samples.

    W1 = [[0.1, -0.2],   b1 = [0.05, -0.1]     W2 = [[0.2, -0.1],   b2 = [0.0, 0.2]
          [0.3,  0.4]]                               [0.5,  0.3]]
    Sample a: x = [1, 2],    label 0.     Sample b: x = [2, -0.5], label 1.

    Forward
      a: z1 = [0.1 + 0.6 + 0.05, -0.2 + 0.8 - 0.1] = [0.75, 0.5];  h = relu(z1) = [0.75, 0.5]
         logits = [0.75*0.2 + 0.5*0.5 + 0, 0.75*(-0.1) + 0.5*0.3 + 0.2] = [0.4, 0.275]
         softmax: p0 = 1 / (1 + exp(-(0.4 - 0.275))) = 1 / (1 + exp(-0.125))
                  exp(-0.125) = 0.8824969025845954, p0 = 0.5312093733737563,
                  p1 = q = 0.4687906266262437
         loss_a = -log(p0) = log(1 + exp(-0.125)) = 0.6325990353171691
      b: z1 = [0.2 - 0.15 + 0.05, -0.4 - 0.2 - 0.1] = [0.1, -0.7];  h = [0.1, 0] (unit 2 dead)
         logits = [0.1*0.2 + 0, 0.1*(-0.1) + 0.2] = [0.02, 0.19]
         p0 = r = 1 / (1 + exp(0.17)) = 0.4576020592256490, p1 = 0.5423979407743510
         loss_b = -log(p1) = log(1 + exp(-0.17)) = 0.6117553388706230
      mean loss = (loss_a + loss_b) / 2 = 0.6221771870938960

    Backward (mean over 2 samples: every per-sample gradient is halved)
      dlogits_a = p - onehot(0) = [-q, q];   dlogits_b = p - onehot(1) = [r, -r]
      dW2 = (h_a^T dlogits_a + h_b^T dlogits_b) / 2
          = [[(-0.75 q + 0.1 r) / 2, (0.75 q - 0.1 r) / 2],
             [ -0.5 q / 2,             0.5 q / 2          ]]
          = [[-0.1529163820235590, 0.1529163820235590], [-0.1171976566565609, 0.1171976566565609]]
      db2 = ([-q, q] + [r, -r]) / 2 = [-0.005594283700297367, 0.005594283700297367]
      dh_a = dlogits_a W2^T = [-0.2 q - 0.1 q, -0.5 q + 0.3 q] = [-0.3 q, -0.2 q]
      dh_b = dlogits_b W2^T = [0.2 r + 0.1 r, 0.5 r - 0.3 r] = [0.3 r, 0.2 r]
      relu': a keeps both units; b keeps unit 1 only  ->  dz1_a = [-0.3 q, -0.2 q], dz1_b = [0.3 r, 0]
      dW1 = (x_a^T dz1_a + x_b^T dz1_b) / 2
          = [[(-0.3 q + 0.6 r) / 2, -0.2 q / 2], [(-0.6 q - 0.15 r) / 2, -0.4 q / 2]]
          = [[0.06696202377375814, -0.04687906266262437], [-0.1749573424297968, -0.09375812532524875]]
      db1 = ([-0.3 q, -0.2 q] + [0.3 r, 0]) / 2 = [-0.001678285110089210, -0.04687906266262437]
    """
    model = fastnn.Sequential([layers.Input((2,)), layers.Dense(2, activation="relu"),
                               layers.Dense(2)], dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy", metrics=["accuracy"])
    W1 = np.array([[0.1, -0.2], [0.3, 0.4]])
    b1 = np.array([0.05, -0.1])
    W2 = np.array([[0.2, -0.1], [0.5, 0.3]])
    b2 = np.array([0.0, 0.2])
    model.set_weights([W1, b1, W2, b2])
    x = np.array([[1.0, 2.0], [2.0, -0.5]])
    y = np.array([0, 1])

    # Intermediate values through the reference (which must agree with the hand values).
    h, pre = ref.network_forward(x, [(W1, b1, "relu"), (W2, b2, "linear")],
                                 return_preactivations=True)
    np.testing.assert_allclose(pre[0], [[0.75, 0.5], [0.1, -0.7]], rtol=1e-12)
    np.testing.assert_allclose(h, [[0.4, 0.275], [0.02, 0.19]], rtol=1e-12)

    proba = np.array([[0.5312093733737563, 0.4687906266262437],
                      [0.4576020592256490, 0.5423979407743510]])
    np.testing.assert_allclose(model.predict(x), proba, rtol=1e-12)
    logits = np.array([[0.4, 0.275], [0.02, 0.19]])
    mean_loss = 0.6221771870938960
    np.testing.assert_allclose(fastnn.losses.SoftmaxCrossEntropy()(y, logits), mean_loss, rtol=1e-12)
    # Sample a is right (p0 > p1, label 0), sample b is right (p1 > p0, label 1).
    assert model.evaluate(x, y) == pytest.approx({"loss": mean_loss, "accuracy": 1.0}, rel=1e-12)

    loss, grads = model.compute_gradients(x, y)
    np.testing.assert_allclose(loss, mean_loss, rtol=1e-12)
    expected = [
        np.array([[0.06696202377375814, -0.04687906266262437],
                  [-0.1749573424297968, -0.09375812532524875]]),   # dW1
        np.array([-0.001678285110089210, -0.04687906266262437]),    # db1
        np.array([[-0.1529163820235590, 0.1529163820235590],
                  [-0.1171976566565609, 0.1171976566565609]]),     # dW2
        np.array([-0.005594283700297367, 0.005594283700297367]),    # db2
    ]
    assert len(grads) == 4
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss, out_act, target_kind", [("softmax_cross_entropy", "linear", "onehot"),
                                                         ("mse", "sigmoid", "bounded")])
def test_gradcheck_through_the_model(loss, out_act, target_kind):
    # The same check with the model's own loss: perturb with set_weights and read
    # the mean loss back from evaluate() (fastnn's forward kernels, inference mode).
    rng = np.random.default_rng(505)
    acts = ["tanh", "relu", out_act]
    model = fastnn.Sequential([layers.Input((5,)), layers.Dense(7, activation="tanh"),
                               layers.Dense(4, activation="relu"),
                               layers.Dense(3, activation=out_act)], seed=505, dtype="float64")
    model.compile(optimizer="sgd", loss=loss)
    weights = [w + 0.1 * rng.standard_normal(w.shape) if w.ndim == 1 else w
               for w in model.get_weights()]
    model.set_weights(weights)
    x = relu_safe_inputs(weights, acts, [True] * 3, 6, 5, rng)
    y = make_targets(loss, target_kind, 6, 3, rng)
    loss_value, grads = model.compute_gradients(x, y)
    grads = [g.copy() for g in grads]

    def model_loss(ws):
        model.set_weights(ws)
        return model.evaluate(x, y)["loss"]

    numeric = numeric_gradients(weights, model_loss)
    assert_gradients_match(grads, numeric, loss_value)
    model.set_weights(weights)
    np.testing.assert_allclose(model.evaluate(x, y)["loss"], loss_value, rtol=1e-12)
