"""Moving averages of the weights (EMA)."""
import numpy as np

import fastnn
from fastnn import layers, optimizers

fastnn.set_num_threads(1)

# The rule on one parameter vector, with made-up gradients: after each update p_t,
#   e_t = d * e_{t-1} + (1 - d) * p_t    (d = 0 at the first update: e_1 = p_1).
opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
p = np.array([1.0, -1.0])
grads = [np.array([0.5, 0.2]), np.array([0.3, -0.4]), np.array([-0.2, 0.1])]
p_ref, e_ref = p.copy(), None
for t, g in enumerate(grads):
    opt.apply([g], [p])                  # updates p in place
    p_ref = p_ref - 0.1 * g
    e_ref = p_ref.copy() if t == 0 else 0.9 * e_ref + 0.1 * p_ref
print("weights    :", np.round(p, 4))
print("EMA        :", np.round(opt.get_state()["ema.0"], 4))
print("EMA by hand:", np.round(e_ref, 4))

# On a model: a large, noisy step; a custom loop (train_on_batch) keeps the last
# weights in the model, and ema_weights() swaps the average in for the block.
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 5)).astype(np.float32)
y = (X @ rng.normal(size=5) + rng.normal(scale=0.5, size=1000)).astype(np.float32)
model = fastnn.Sequential([layers.Input((5,)), layers.Dense(1)], seed=0)
model.compile(optimizer=optimizers.SGD(learning_rate=0.2, use_ema=True, ema_momentum=0.95), loss="mse")
for epoch in range(5):
    for start in range(0, 1000, 10):
        model.train_on_batch(X[start:start + 10], y[start:start + 10])
print(f"training MSE, last weights    : {model.evaluate(X, y)['loss']:.4f}")
with model.ema_weights():
    print(f"training MSE, averaged weights: {model.evaluate(X, y)['loss']:.4f}")
best = np.linalg.lstsq(X, y, rcond=None)[0]
print(f"least-squares optimum         : {np.mean((X @ best - y) ** 2):.4f}")
# fit() ends on the averaged weights, as Keras 3 does.
