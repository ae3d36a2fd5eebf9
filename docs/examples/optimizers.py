"""Optimizers: update rules by hand, then side by side on one problem."""
import numpy as np

import fastnn
from fastnn import layers, optimizers

fastnn.set_num_threads(1)

# Momentum (torch's form, as fastnn): v = mu * v + g;  p = p - lr * v.
p = np.array([1.0, 2.0])
opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
v, p_ref = np.zeros(2), p.copy()
for g in [np.array([1.0, -1.0]), np.array([0.5, 0.5])]:
    opt.apply([g], [p])
    v = 0.9 * v + g
    p_ref = p_ref - 0.1 * v
print("momentum :", p, "by hand:", p_ref)

# Adam: m, v moving averages of g and g**2, bias-corrected; epsilon added to sqrt(v_hat).
p = np.array([1.0, 2.0])
opt = optimizers.Adam(learning_rate=0.1)
m = v = np.zeros(2)
p_ref = p.copy()
for t, g in enumerate([np.array([1.0, -1.0]), np.array([0.5, 0.5]), np.array([0.1, -2.0])], start=1):
    opt.apply([g], [p])
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g ** 2
    p_ref = p_ref - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
print("Adam     :", np.round(p, 6), "by hand:", np.round(p_ref, 6))

# The same network and data with each optimizer (names or objects work in compile).
rng = np.random.default_rng(0)
X = rng.normal(size=(512, 8)).astype(np.float32)
y = (np.sin(X[:, :1]) + X[:, 1:2] * X[:, 2:3]).astype(np.float32)
choices = {
    "SGD": optimizers.SGD(learning_rate=0.05),
    "Momentum": optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "Nesterov": optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "AdaGrad": optimizers.Adagrad(learning_rate=0.1),
    "RMSProp": optimizers.RMSprop(learning_rate=0.01),
    "Adam": optimizers.Adam(learning_rate=0.01),
    "RAdam": optimizers.RAdam(learning_rate=0.01),
    "AdamW": optimizers.AdamW(learning_rate=0.01, weight_decay=0.004),
}
for name, opt in choices.items():
    model = fastnn.Sequential([layers.Input((8,)), layers.Dense(32, activation="tanh"), layers.Dense(1)],
                              seed=0)
    model.compile(optimizer=opt, loss="mse")
    history = model.fit(X, y, epochs=20, batch_size=32, verbose=0)
    print(f"{name:>9}: training MSE after 20 epochs {history.history['loss'][-1]:.4f}")
