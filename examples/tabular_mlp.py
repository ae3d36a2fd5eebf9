"""A tabular multi-label network with every regularizer of the toolkit, trained with
RAdam, watched by AUC and stopped early.

    Normalization -> Dropout(0.2) -> 3 x [Dense(160) -> BatchNormalization -> swish ->
    Dropout(0.2)] -> Dense(5), BinaryCrossentropy(from_logits=True, label_smoothing=0.01)

on synthetic data (130 skewed features, 5 labels from noisy projections), batch
4096, with EarlyStopping on the validation AUC restoring the best weights.

    python examples/tabular_mlp.py [--samples 60000] [--epochs 40]
"""
from __future__ import annotations

import argparse

import numpy as np

import fastnn
from fastnn import callbacks, layers, losses, optimizers

FEATURES, LABELS, WIDTH = 130, 5, 160


def make_data(n: int, seed: int = 0):
    """Skewed, shifted features; each label is a noisy sign of a random projection."""
    rng = np.random.default_rng(seed)
    scale, shift = rng.uniform(0.5, 20, FEATURES), rng.uniform(-50, 50, FEATURES)
    X = (rng.standard_normal((n, FEATURES)) * scale + shift).astype(np.float32)
    proj = rng.standard_normal((FEATURES, LABELS)) / np.sqrt(FEATURES)
    Z = ((X - shift) / scale) @ proj
    Y = (Z + 0.5 * rng.standard_normal(Z.shape) > 0).astype(np.float32)
    return X, Y


def build(X_train: np.ndarray, seed: int = 0) -> fastnn.Sequential:
    norm = layers.Normalization()
    norm.adapt(X_train)  # per-feature mean and variance, kept with the model's weights
    stack = [layers.Input((FEATURES,)), norm, layers.Dropout(0.2)]
    for _ in range(3):
        stack += [layers.Dense(WIDTH), layers.BatchNormalization(), layers.Activation("swish"),
                  layers.Dropout(0.2)]
    stack.append(layers.Dense(LABELS))
    model = fastnn.Sequential(stack, seed=seed)
    model.compile(optimizer=optimizers.RAdam(learning_rate=3e-3),
                  loss=losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.01),
                  metrics=["auc"])
    return model


def main(samples: int = 60000, epochs: int = 40, patience: int = 3, verbose: int = 2) -> dict:
    X, Y = make_data(samples)
    n_val = samples // 5
    X_train, Y_train, X_val, Y_val = X[:-n_val], Y[:-n_val], X[-n_val:], Y[-n_val:]
    model = build(X_train)
    stop = callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience,
                                   restore_best_weights=True)
    history = model.fit(X_train, Y_train, epochs=epochs, batch_size=4096,
                        validation_data=(X_val, Y_val), callbacks=[stop], verbose=verbose)
    final = model.evaluate(X_val, Y_val)
    best = int(np.argmax(history.history["val_auc"]))
    print(f"trained {len(history.epoch)} epochs; best validation AUC {history.history['val_auc'][best]:.4f} "
          f"at epoch {best + 1}; restored model: val AUC {final['auc']:.4f}, val loss {final['loss']:.4f}")
    return {"history": history.history, "final": final, "best_epoch": best}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args()
    main(args.samples, args.epochs)
