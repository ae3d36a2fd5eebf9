"""Every registered optimizer, schedule, loss and layer survives save -> load_model.

A loaded model must predict bit-identically, report the same loss, and resume training
exactly: one epoch, save, load, one more epoch equals two epochs straight (the optimizer
moments, the schedule's step count, the shuffling and the random layers continue).
"""
import numpy as np
import pytest

import fastnn
from fastnn import layers, losses, optimizers, schedules

RNG = np.random.default_rng(11)
X = RNG.standard_normal((48, 6)).astype(np.float32)
LABELS = RNG.integers(0, 3, 48)


def same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()


def resumes_exactly(tmp_path, build, y, epochs=2):
    straight = build()
    h = straight.fit(X, y, epochs=epochs, batch_size=16, verbose=0)
    first = build()
    first.fit(X, y, epochs=1, batch_size=16, verbose=0)
    first.save(tmp_path / "m.fastnn")
    loaded = fastnn.load_model(tmp_path / "m.fastnn")
    same(loaded.get_weights(), first.get_weights())
    same([loaded.predict(X)], [first.predict(X)])
    h2 = loaded.fit(X, y, epochs=epochs - 1, batch_size=16, verbose=0)
    same(loaded.get_weights(), straight.get_weights())
    assert h2.history["loss"] == h.history["loss"][1:]
    assert loaded.get_config() == first.get_config()
    assert loaded.optimizer.get_config() == first.optimizer.get_config()
    return loaded


def optimizer_cases():
    return [pytest.param(cls, id=cls.__name__) for cls in optimizers._CLASSES]


@pytest.mark.parametrize("cls", optimizer_cases())
def test_every_optimizer_resumes_exactly(tmp_path, cls):
    def build():
        m = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)], seed=2)
        m.compile(optimizer=cls(learning_rate=0.01), loss="softmax_cross_entropy")
        return m
    loaded = resumes_exactly(tmp_path, build, LABELS)
    assert type(loaded.optimizer) is cls


SCHEDULES = {
    "ExponentialDecay": lambda: schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5),
    "PiecewiseConstantDecay": lambda: schedules.PiecewiseConstantDecay([3, 5], [0.05, 0.02, 0.01]),
    "InverseTimeDecay": lambda: schedules.InverseTimeDecay(0.05, decay_steps=2, decay_rate=0.5),
    "PolynomialDecay": lambda: schedules.PolynomialDecay(0.05, decay_steps=5),
    "CosineDecay": lambda: schedules.CosineDecay(0.05, decay_steps=5),
    "CosineDecayRestarts": lambda: schedules.CosineDecayRestarts(0.05, first_decay_steps=2),
    "PerEpoch": lambda: schedules.PerEpoch(schedules.ExponentialDecay(0.05, 1, 0.5), steps_per_epoch=3),
}


def test_the_schedule_list_is_complete():
    assert set(SCHEDULES) == set(schedules._CLASSES)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_resumes_exactly(tmp_path, name):
    def build():
        m = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], seed=5)
        m.compile(optimizer=optimizers.SGD(SCHEDULES[name](), momentum=0.5), loss="softmax_cross_entropy")
        return m
    loaded = resumes_exactly(tmp_path, build, LABELS, epochs=3)
    assert loaded.optimizer.get_config()["learning_rate"]["class_name"] == name


def targets_for(cls):
    """Targets each loss accepts, for 3 outputs."""
    if cls in (losses.SoftmaxCrossEntropy, losses.SparseCategoricalCrossentropy):
        return LABELS
    if cls in (losses.CategoricalCrossentropy, losses.KLDivergence):
        return np.eye(3, dtype=np.float32)[LABELS]
    if cls in (losses.BinaryCrossentropy, losses.Hinge, losses.SquaredHinge):
        return (RNG.random((48, 3)) > 0.5).astype(np.float32)
    return RNG.random((48, 3)).astype(np.float32)  # regression losses (non-negative for MSLE, Poisson)


@pytest.mark.parametrize("cls", [pytest.param(c, id=n) for n, c in sorted(losses._CLASSES.items())])
def test_every_loss_round_trips(tmp_path, cls):
    y = targets_for(cls)
    # Probability-valued outputs for the losses that take probabilities by default.
    last = "softmax" if cls in (losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy,
                                losses.KLDivergence) else \
        "sigmoid" if cls is losses.BinaryCrossentropy else \
        "softplus" if cls in (losses.Poisson, losses.MeanSquaredLogarithmicError) else None

    def build():
        m = fastnn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3, activation=last)], seed=7)
        m.compile(optimizer=optimizers.Adam(0.01), loss=cls())
        return m
    loaded = resumes_exactly(tmp_path, build, y)
    assert type(loaded.loss) is cls and loaded.loss.get_config() == cls().get_config()
    original = build()
    original.fit(X, y, epochs=2, batch_size=16, verbose=0)
    assert loaded.evaluate(X, y)["loss"] == original.evaluate(X, y)["loss"]


def layer_stack():
    return [layers.Input((6,)), layers.Normalization(mean=X.mean(0), variance=X.var(0)),
            layers.GaussianNoise(0.1), layers.Dense(8), layers.BatchNormalization(), layers.ReLU(),
            layers.Dropout(0.2), layers.Dense(8), layers.LayerNormalization(), layers.LeakyReLU(0.1),
            layers.Dense(8), layers.ELU(0.5), layers.Activation("swish"), layers.Dense(3), layers.Softmax()]


def test_every_layer_round_trips_and_resumes(tmp_path):
    used = {type(l).__name__ for l in layer_stack()}
    assert used | {"Layer", "Flatten"} == set(layers.__all__)  # Flatten: below

    def build():
        m = fastnn.Sequential(layer_stack(), seed=9)
        m.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        return m
    loaded = resumes_exactly(tmp_path, build, LABELS)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in build().layers]


def test_flatten_round_trips(tmp_path):
    images = RNG.standard_normal((10, 2, 3)).astype(np.float32)
    m = fastnn.Sequential([layers.Flatten(), layers.Dense(3)], seed=1)
    m.compile(optimizer="adam", loss="softmax_cross_entropy")
    m.fit(images, LABELS[:10], epochs=1, verbose=0)
    m.save(tmp_path / "f.fastnn")
    loaded = fastnn.load_model(tmp_path / "f.fastnn")
    same([loaded.predict(images)], [m.predict(images)])
