"""Losses: mean squared error, cross-entropy, the asymmetric cost and a custom cost."""
import numpy as np

import fastnn
from fastnn import layers, losses

fastnn.set_num_threads(1)

# Mean squared error: the mean over outputs, then over samples.
y_true = np.array([[1.0, 0.0], [2.0, 1.0]])
y_pred = np.array([[1.5, 0.0], [1.0, 1.0]])
print("MSE      :", losses.MeanSquaredError()(y_true, y_pred),
      "by hand:", np.mean((y_pred - y_true) ** 2))

# Softmax cross-entropy takes logits and integer labels (or one-hot rows).
logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
labels = np.array([0, 2])
log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
print(f"CE       : {losses.SoftmaxCrossEntropy()(labels, logits):.6f}",
      f"by hand: {-log_p[[0, 1], labels].mean():.6f}")

# The asymmetric cost: over-prediction costs 1 per unit, under-prediction 9.
cost = losses.AsymmetricLoss(over_cost=1.0, under_cost=9.0)
print("over by 2:", cost([[10.0]], [[12.0]]), " under by 2:", cost([[10.0]], [[8.0]]))

# Train the same linear model with each loss on noisy data y = 2 x + noise.
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, size=(2000, 1)).astype(np.float32)
y = (2 * x + rng.normal(scale=0.3, size=(2000, 1))).astype(np.float32)
for loss in ["mse", losses.AsymmetricLoss(over_cost=1.0, under_cost=9.0)]:
    model = fastnn.Sequential([layers.Input((1,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.05), loss=loss)
    model.fit(x, y, epochs=30, batch_size=100, verbose=0)
    above = np.mean(model.predict(x) > y)
    print(f"{model.loss.name:>18}: forecasts above the truth: {above:.2f}")


# A custom cost: squared error that counts under-prediction twice. value() gives one
# loss per sample, gradient() its derivative with respect to each output.
class CostlyShortfall(losses.Loss):
    def value(self, y_true, y_pred):
        e = y_pred - y_true
        return np.mean(np.where(e < 0, 2.0, 1.0) * e ** 2, axis=-1)

    def gradient(self, y_true, y_pred):
        e = y_pred - y_true
        return np.where(e < 0, 2.0, 1.0) * 2 * e / y_pred.shape[1]


model = fastnn.Sequential([layers.Input((1,)), layers.Dense(4, activation="tanh"), layers.Dense(1)],
                          seed=0, dtype="float64")
model.compile(optimizer="adam", loss=CostlyShortfall())
errors = fastnn.gradient_check(model, x[:8], y[:8])   # is gradient() the derivative of value()?
print("custom loss gradient agrees with finite differences:", max(errors.values()) < 1e-6)
