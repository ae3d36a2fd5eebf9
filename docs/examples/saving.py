"""Saving and loading: bit-identical predictions, exactly resumed training."""
import os
import tempfile

import numpy as np

import fastnn
from fastnn import layers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 8)).astype(np.float32)
y = rng.integers(0, 3, size=300)


def new_model():
    model = fastnn.Sequential([layers.Input((8,)), layers.Dense(32, activation="relu"),
                               layers.Dropout(0.2), layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


folder = tempfile.mkdtemp()
path = os.path.join(folder, "model.fastnn")

model = new_model()
model.fit(X, y, epochs=2, batch_size=32, verbose=0)
model.save(path)                      # architecture, weights, compile config, optimizer state
restored = fastnn.load_model(path)
print("same predictions, bit for bit:", np.array_equal(model.predict(X), restored.predict(X)))
print("optimizer steps restored:", restored.optimizer.iterations)

# Resume: 2 epochs, save, load, 2 more epochs == 4 epochs in one go.
restored.fit(X, y, epochs=2, batch_size=32, verbose=0)
straight = new_model()
straight.fit(X, y, epochs=4, batch_size=32, verbose=0)
print("resumed run equals the uninterrupted one:",
      all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), straight.get_weights())))

# Weights only: into a model of the same architecture.
model.save_weights(os.path.join(folder, "model.weights.fastnn"))
other = new_model()
other.load_weights(os.path.join(folder, "model.weights.fastnn"))
print("weights copied:", all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights())))
