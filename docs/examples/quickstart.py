"""Quickstart: classify three Gaussian clouds with a small network."""
import numpy as np

import fastnn
from fastnn import layers, optimizers

fastnn.set_num_threads(1)  # one thread: the printed digits do not depend on the core count

# 600 points in 2-D, 200 around each of three centres; labels 0, 1, 2.
rng = np.random.default_rng(0)
centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
y = np.repeat(np.arange(3), 200)
X = (centres[y] + rng.normal(scale=0.8, size=(600, 2))).astype(np.float32)
order = rng.permutation(600)
X, y = X[order], y[order]
X_train, y_train, X_test, y_test = X[:450], y[:450], X[450:], y[450:]

model = fastnn.Sequential([
    layers.Input((2,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(3),                    # logits: the loss applies the softmax
], seed=0)
model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
              loss="softmax_cross_entropy", metrics=["accuracy"])
history = model.fit(X_train, y_train, epochs=20, batch_size=32, verbose=0)

print("epochs run:", len(history.history["loss"]))
print(f"first / last training loss: {history.history['loss'][0]:.3f} / {history.history['loss'][-1]:.3f}")
scores = model.evaluate(X_test, y_test)
print(f"test loss {scores['loss']:.3f}, test accuracy {scores['accuracy']:.3f}")
proba = model.predict(X_test[:3])       # class probabilities, rows sum to 1
print("probabilities of the first test point:", np.round(proba[0], 3))
print("rows sum to 1:", bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)))
