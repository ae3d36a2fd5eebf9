"""Gradient checking: backpropagation against central finite differences."""
import numpy as np

import fastnn
from fastnn import activations, layers, regularizers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.normal(size=(16, 6))
y = rng.integers(0, 3, size=16)

model = fastnn.Sequential([
    layers.Input((6,)),
    layers.Dense(5, activation="tanh", kernel_regularizer=regularizers.L2(1e-3)),
    layers.Dense(4, activation="sigmoid"),
    layers.Dense(3),
], seed=0)
model.compile(optimizer="sgd", loss="softmax_cross_entropy")
errors = fastnn.gradient_check(model, X, y)         # {layer name: worst relative error}
for name, err in errors.items():
    print(f"{name:8s} worst relative error below 1e-7: {err < 1e-7}")

# A hand-written activation with a wrong derivative is caught at once.
activations.register("cube", lambda z: z ** 3, lambda z: 2 * z ** 2)   # should be 3 z**2
bad = fastnn.Sequential([layers.Input((6,)), layers.Dense(5, activation="cube"), layers.Dense(3)], seed=0)
bad.compile(optimizer="sgd", loss="softmax_cross_entropy")
worst = max(fastnn.gradient_check(bad, X, y).values())
print(f"wrong derivative: worst relative error {worst:.1f}")
activations.unregister("cube")
