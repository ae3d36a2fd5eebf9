"""Mini-batches and epochs; custom training loops."""
import math

import numpy as np

import fastnn
from fastnn import layers, optimizers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 20)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)          # two classes


def new_model(learning_rate=0.1):
    model = fastnn.Sequential([layers.Input((20,)), layers.Dense(16, activation="relu"), layers.Dense(2)],
                              seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate),
                  loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


# fit: one epoch is one pass over the data in shuffled mini-batches.
model = new_model()
history = model.fit(X, y, epochs=3, batch_size=64, verbose=0)
print("steps per epoch:", math.ceil(1000 / 64), " updates after 3 epochs:", model.optimizer.iterations)
print("accuracy per epoch:", [round(a, 3) for a in history.history["accuracy"]])

# The same training written out with train_on_batch (one update per call).
model = new_model()
order_rng = np.random.default_rng(1)
for epoch in range(3):
    order = order_rng.permutation(len(X))              # reshuffle every epoch
    losses = []
    for start in range(0, len(X), 64):
        batch = order[start:start + 64]
        losses.append(model.train_on_batch(X[batch], y[batch], return_dict=True)["loss"])
    print(f"epoch {epoch + 1}: mean batch loss {np.mean(losses):.4f}")

# The low-level step: gradients out, your own change, gradients back in.
model = new_model(learning_rate=0.1)
before = [w.copy() for w in model.trainable_weights]
loss, grads = model.compute_gradients(X[:64], y[:64])   # views: copy them to keep them
clipped = [np.clip(g, -0.01, 0.01) for g in grads]      # e.g. clip each entry yourself
model.apply_gradients(clipped)                          # one SGD step: w = w - lr * g
after = model.trainable_weights
print(f"batch loss {loss:.4f};",
      "update equals -lr * clipped gradient:",
      all(np.allclose(a - b, -0.1 * g, atol=1e-7) for a, b, g in zip(after, before, clipped)))
