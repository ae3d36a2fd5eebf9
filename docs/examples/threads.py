"""Threads and determinism."""
import numpy as np

import fastnn
from fastnn import layers

rng = np.random.default_rng(0)
X = rng.normal(size=(2048, 64)).astype(np.float32)
y = rng.integers(0, 10, size=2048)


def train(threads):
    fastnn.set_num_threads(threads)      # kernels and GEMMs alike
    model = fastnn.Sequential([layers.Input((64,)), layers.Dense(128, activation="relu"),
                               layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=2, batch_size=128, verbose=0)
    return model.get_weights()


w1 = train(1)
w1_again = train(1)
print("threads now:", fastnn.get_num_threads())
print("same seed, same thread count -> bit-identical weights:",
      all(np.array_equal(a, b) for a, b in zip(w1, w1_again)))
w2 = train(2)
print("1 vs 2 threads agree to round-off:",
      all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(w1, w2)))
fastnn.set_num_threads(1)
