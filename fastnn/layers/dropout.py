"""Dropout: inverted dropout with masks from a counter-based generator."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastnn import ops
from fastnn._validation import check_int
from fastnn.layers.base import Layer

_MASK64 = (1 << 64) - 1


def check_float(value: Any, name: str, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within [low, high] (ends excluded when *_open); bools,
    NaN and infinities are refused with an error naming the argument."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    v = float(value) if ok else math.nan
    ok = ok and math.isfinite(v) and (v > low or (not low_open and v == low)) \
        and (v < high or (not high_open and v == high))
    if not ok:
        if math.isinf(high):
            expected = f"a finite float {'>' if low_open else '>='} {low:g}"
        else:
            expected = f"a float in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return v


class RandomLayer(Layer):
    """Base of the layers that draw random numbers in training (Dropout, GaussianNoise).

    Their random numbers come from a counter-based generator (SplitMix64 read by
    position, src_c/_random.pxd): the bits of element e of training call c are a
    pure function of (seed, c, e). So a mask does not depend on the thread count,
    the backward pass recomputes it instead of storing it, and anyone can replay a
    call by setting `counter` back.

    Attributes
    ----------
    counter : int
        Number of training forward passes so far; the next one uses call number
        `counter`, then increments it. Set it (or use set_random_state) to replay.
        Calls 2**32 apart reuse the same random numbers.
    """

    elementwise = True

    def __init__(self, seed: int | None = None, name: str | None = None):
        super().__init__(name)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.seed = seed
        self.counter = 0
        # The generator's key: the seed, or (seed=None) drawn from the model's
        # generator when the model is built, so that a seeded model is reproducible.
        self._key: int | None = None if seed is None else seed & _MASK64
        self._call: int | None = None  # counter of the last training forward; None: it was the identity
        self._out: np.ndarray | None = None

    def build(self, input_dim: int, dtype: np.dtype) -> None:
        super().build(input_dim, dtype)
        if self._key is None:  # used outside a model: fresh entropy (a model overrides it)
            self._key = int(np.random.SeedSequence().entropy) & _MASK64

    def initial_values(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.seed is None:
            self._key = int(rng.integers(0, 1 << 63))
        self.counter = 0
        return []

    def allocate(self, capacity: int, need_dx: bool) -> None:
        self._out = None if getattr(self, "fused", False) else np.empty((capacity, self.input_dim), self.dtype)

    def random_state(self) -> tuple[int | None, int]:
        """(key, counter): set_random_state of it replays the next training call."""
        return (self._key, self.counter)

    def set_random_state(self, state: tuple[int | None, int]) -> None:
        key, counter = state
        self._key = key
        self.counter = check_int(counter, "counter", minimum=0)


class Dropout(RandomLayer):
    """Randomly sets inputs to 0 with probability `rate` in training (Keras's Dropout).

    Inverted dropout: the kept inputs are scaled by 1 / (1 - rate), so the expected
    output equals the input and inference is the identity (forward returns x itself).

    Formula::

        training:  y = x * m / (1 - rate),  m_e ~ Bernoulli(1 - rate) per element
        inference: y = x
        dx = dy * m / (1 - rate) (the mask of the forward pass, recomputed from (seed, counter))

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of the inputs to drop. (Keras accepts 1; a layer that drops
        everything has no gradient, so it is refused here.)
    noise_shape : None
        Keras's broadcast mask shape; only None (one mask entry per element) is supported.
    seed : int >= 0, optional
        Seeds the masks. None: drawn from the model's seeded generator when the
        model is built (a model seed then fixes the masks too). Two layers with the
        same seed draw the same masks call by call.
    name : str, optional

    Notes
    -----
    Input and output shape: (batch, features); the layer acts element by element,
    so it may come before a Flatten.

    The mask of element e (row-major over the batch) in training call c is
    bit-identical for a given seed whatever the thread count; P(drop) is `rate`
    rounded to a multiple of 2**-32.
    """

    def __init__(self, rate: float, noise_shape: None = None, seed: int | None = None,
                 name: str | None = None):
        rate = check_float(rate, "rate", 0.0, 1.0, high_open=True)
        if noise_shape is not None:
            raise ValueError(f"noise_shape: only None (a mask entry per element) is supported, "
                             f"got {noise_shape!r}")
        super().__init__(seed, name)
        self.rate = rate
        self.noise_shape = None

    #: Set by the model when the previous layer applies this layer's masks in its own
    #: passes (`Layer.fuse_dropout`): this layer then passes data through.
    fused = False

    def next_call(self, training: bool) -> tuple[float, int, int]:
        """(rate, key, call) of the next forward pass, advancing the counter as the
        forward does; rate 0.0 when the pass is the identity (inference or rate 0)."""
        if not training or self.rate == 0.0:
            self._call = None
            return 0.0, 0, 0
        self._call = self.counter
        self.counter += 1
        return self.rate, self._key, self._call

    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        if self.fused:  # the previous layer applied the mask
            return x
        rate, key, call = self.next_call(training)
        if rate == 0.0:
            return x
        ops.dropout_forward(x, self._out, n, rate, key, call)
        return self._out

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        if not need_dx:
            return None
        if self._call is not None and not self.fused:
            ops.dropout_backward(dout, n, self.rate, self._key, self._call)
        return dout

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "noise_shape": None, "seed": self.seed, "name": self.name}
