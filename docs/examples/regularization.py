"""Regularization (L1/L2, constraints), dropout, batch normalization, initialization."""
import numpy as np

import fastnn
from fastnn import constraints, initializers, layers, regularizers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.normal(size=(256, 10)).astype(np.float32)
y = (X[:, :1] - 2 * X[:, 1:2] + rng.normal(scale=0.1, size=(256, 1))).astype(np.float32)

# L2 weight penalty: evaluate's loss is the MSE plus 0.01 * sum(W ** 2).
model = fastnn.Sequential([layers.Input((10,)),
                           layers.Dense(1, kernel_regularizer=regularizers.L2(0.01))], seed=0)
model.compile(optimizer="adam", loss="mse")
W, b = model.get_weights()
mse = np.mean((X @ W + b - y) ** 2)
print(f"loss {model.evaluate(X, y)['loss']:.5f} = MSE {mse:.5f} + penalty {0.01 * np.sum(W ** 2):.5f}")

# L1 drives useless weights to (near) zero; L2 only shrinks them.
for reg in [regularizers.L1(0.02), regularizers.L2(0.02)]:
    m = fastnn.Sequential([layers.Input((10,)), layers.Dense(1, kernel_regularizer=reg)], seed=0)
    m.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.01), loss="mse")
    m.fit(X, y, epochs=60, batch_size=32, verbose=0)
    w = m.get_weights()[0].ravel()
    print(f"{type(reg).__name__}: weights 0, 1 = {w[0]:+.2f} {w[1]:+.2f};"
          f" largest of the 8 useless ones = {np.abs(w[2:]).max():.3f}")

# A max-norm constraint: after every step each unit's incoming weight vector has norm <= 1.
m = fastnn.Sequential([layers.Input((10,)),
                       layers.Dense(4, kernel_constraint=constraints.MaxNorm(1.0)),
                       layers.Dense(1)], seed=0)
m.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.05), loss="mse")
m.fit(X, y, epochs=5, batch_size=32, verbose=0)
print("column norms <= 1:", bool(np.all(np.linalg.norm(m.get_weights()[0], axis=0) <= 1.0 + 1e-6)))

# Dropout and batch normalization act in training; in inference dropout is the identity
# and batch norm uses its moving statistics.
m = fastnn.Sequential([layers.Input((10,)), layers.Dense(16), layers.BatchNormalization(),
                       layers.Activation("relu"), layers.Dropout(0.5, seed=1), layers.Dense(1)],
                      seed=0, dtype="float64")
m.compile(optimizer="adam", loss="mse")
m.fit(X, y, epochs=3, batch_size=32, verbose=0)
W1, b1, gamma, beta, moving_mean, moving_var, W2, b2 = m.get_weights()
h = (X @ W1 + b1 - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta
by_hand = np.maximum(h, 0) @ W2 + b2
print("predict = numpy inference pass (no dropout, moving statistics):",
      bool(np.allclose(m.predict(X), by_hand, rtol=1e-10, atol=1e-10)))

# Initialization: He normal draws with standard deviation sqrt(2 / fan_in).
W = initializers.HeNormal(seed=0)((400, 300), dtype=np.float64)   # fans from the shape
print(f"He normal: std {W.std():.4f}, sqrt(2 / 400) = {np.sqrt(2 / 400):.4f}")
