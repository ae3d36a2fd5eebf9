"""Early stopping, callbacks and training curves."""
# requires: matplotlib
import os
import tempfile

import numpy as np

import fastnn
from fastnn import callbacks, layers

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
# Few noisy samples and a wide network: validation loss turns up after a while.
X = rng.normal(size=(200, 10)).astype(np.float32)
y = (X[:, :1] + rng.normal(scale=0.5, size=(200, 1))).astype(np.float32)

model = fastnn.Sequential([layers.Input((10,)), layers.Dense(256, activation="relu"), layers.Dense(1)],
                          seed=0)
model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.001), loss="mse")
stop = callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
every_10 = callbacks.LambdaCallback(
    on_epoch_end=lambda epoch, logs: epoch % 10 == 0 and print(
        f"epoch {epoch + 1:3d}: loss {logs['loss']:.3f}  val_loss {logs['val_loss']:.3f}"))
folder = tempfile.mkdtemp()
log = callbacks.CSVLogger(os.path.join(folder, "log.csv"))
history = model.fit(X, y, epochs=200, batch_size=20, validation_split=0.25, verbose=0,
                    callbacks=[stop, every_10, log])

epochs_run = len(history.history["loss"])
best = int(np.argmin(history.history["val_loss"]))
print(f"stopped after {epochs_run} epochs; best epoch {best + 1} (val_loss {history.history['val_loss'][best]:.3f})")
print(f"weights restored from the best epoch: val loss now {model.evaluate(X[150:], y[150:])['loss']:.3f}")
with open(os.path.join(folder, "log.csv")) as f:
    print("CSV header:", f.readline().strip())

# Training curves (matplotlib): loss and val_loss per epoch, saved as a PNG.
figure = fastnn.plot_history(history, path=os.path.join(folder, "curves.png"))
print("curves drawn:", [ax.get_title() for ax in figure.axes])
