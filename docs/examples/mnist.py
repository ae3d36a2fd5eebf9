"""MNIST end to end on the sample bundled with fastnn (6,000 training, 1,000 test images)."""
import numpy as np

import fastnn
from fastnn import layers, optimizers
from fastnn.datasets import load_mnist_sample

fastnn.set_num_threads(1)
(X, y), (X_test, y_test) = load_mnist_sample()       # float32 pixels in [0, 1], int64 labels
print("train", X.shape, X.dtype, " test", X_test.shape, " labels", np.bincount(y))

# The textbook's two-layer network: 784-50-10, sigmoid hidden layer, SGD, batch 100.
model = fastnn.Sequential([
    layers.Input((784,)),
    layers.Dense(50, activation="sigmoid"),
    layers.Dense(10),
], seed=0)
model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="softmax_cross_entropy",
              metrics=["accuracy"])
history = model.fit(X, y, epochs=5, batch_size=100, validation_data=(X_test, y_test), verbose=0)
for epoch, (acc, val_acc) in enumerate(zip(history.history["accuracy"], history.history["val_accuracy"]), 1):
    print(f"epoch {epoch}: train accuracy {acc:.3f}  test accuracy {val_acc:.3f}")

# Which digits does it confuse? Rows: true digit, columns: predicted digit.
predicted = model.predict(X_test).argmax(axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
print("correct per digit:", np.diag(confusion))
errors = confusion - np.diag(np.diag(confusion))
true_digit, guess = np.unravel_index(errors.argmax(), errors.shape)
print(f"most frequent mistake: {true_digit} read as {guess} ({errors.max()} times)")
