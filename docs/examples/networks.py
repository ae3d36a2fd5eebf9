"""Networks, layers and activations: the forward pass written out in numpy."""
import numpy as np

import fastnn
from fastnn import activations, layers

fastnn.set_num_threads(1)

# A 4-8-3 network: tanh hidden layer, linear output layer.
model = fastnn.Sequential([
    layers.Input((4,)),
    layers.Dense(8, activation="tanh"),
    layers.Dense(3),
], seed=0, dtype="float64")
model.summary()

# Keras layout: each Dense holds W of shape (inputs, units) and b of shape (units,).
W1, b1, W2, b2 = model.get_weights()
print("shapes:", W1.shape, b1.shape, W2.shape, b2.shape)

# The forward pass, a1 = tanh(x W1 + b1), out = a1 W2 + b2, by hand ...
x = np.random.default_rng(1).normal(size=(5, 4))
by_hand = np.tanh(x @ W1 + b1) @ W2 + b2
# ... and by the model (not compiled: predict returns the raw outputs).
out = model.predict(x)
print("predict equals the numpy forward pass:", bool(np.allclose(out, by_hand, rtol=1e-12, atol=1e-12)))

# Activations are also plain functions on arrays, with their derivatives.
z = np.array([-2.0, 0.0, 2.0])
print("sigmoid(z) :", np.round(activations.sigmoid(z), 4))
print("sigmoid'(z):", np.round(activations.derivative("sigmoid", z), 4))
print("relu(z)    :", activations.relu(z))
print("leaky_relu(z) :", activations.leaky_relu(z, negative_slope=0.1))
print("leaky_relu'(z):", activations.derivative("leaky_relu", z, negative_slope=0.1))
# A parameterized activation on a layer: a spec from activations.get.
hidden = layers.Dense(8, activation=activations.get("leaky_relu", negative_slope=0.1))
print("softmax([1, 2, 3]):", np.round(activations.softmax(np.array([[1.0, 2.0, 3.0]])), 4))
