"""Learning rate and its exponential decay."""
import numpy as np

import fastnn
from fastnn import layers, optimizers, schedules

fastnn.set_num_threads(1)

# lr = 0.1 * 0.5 ** (step / 100): halved every 100 steps, smoothly ...
smooth = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
# ... or in stairs: lr = 0.1 * 0.5 ** floor(step / 100).
stairs = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5, staircase=True)
for step in [0, 50, 100, 150, 200]:
    print(f"step {step:3d}: smooth {smooth(step):.5f}  staircase {stairs(step):.5f}")

# The textbook decays per epoch: lr = lr0 * decay_rate ** epoch. PerEpoch counts the
# wrapped schedule in epochs; 200 samples in batches of 50 make 4 steps per epoch.
X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
per_epoch = schedules.PerEpoch(schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9),
                               steps_per_epoch=4)
model = fastnn.Sequential([layers.Input((3,)), layers.Dense(1)], seed=0)
model.compile(optimizer=optimizers.SGD(learning_rate=per_epoch), loss="mse")
history = model.fit(X, y, epochs=4, batch_size=50, verbose=0)
# History logs the rate the next update will use, as Keras does.
print("learning_rate per epoch:", [round(v, 5) for v in history.history["learning_rate"]])
print("by hand                :", [round(0.1 * 0.9 ** e, 5) for e in range(1, 5)])
print("optimizer steps:", model.optimizer.iterations)
