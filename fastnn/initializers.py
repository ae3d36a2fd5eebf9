"""Weight initializers (Keras 3 names, formulas and defaults).

An initializer is a small object called as ``init(shape, fan_in, fan_out, rng,
dtype)`` that returns a new array; layers call it once, when the model is
built. Strings name them as in Keras (``"glorot_uniform"``, ``"he_normal"``,
also the class names ``"GlorotUniform"``), and `get` accepts a name, an
instance, a class or a ``{"class_name": ..., "config": ...}`` dict.

Randomness: an initializer built with ``seed=None`` (the default) draws from
the generator the model passes (the model's seeded generator, so a model's
weights follow from its seed); one built with an integer seed draws from its
own fresh ``np.random.default_rng(seed)`` at every call, so it gives the same
array every time whatever the model's generator (Keras's behaviour for an
integer seed; two layers sharing such an instance get equal weights).

Draws are made in float64 and then cast to the requested dtype. Glorot uniform
is the default for Dense kernels: it is what makes a 784-256-256-10 MLP reach
~97% on MNIST in 2 epochs (PyTorch's default init lands lower).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fastnn._config import Configurable, deserialize_object, serialize_object

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "compute_fans", "get",
           "serialize", "deserialize"]

#: Standard deviation of a standard normal truncated to [-2, 2]; VarianceScaling
#: divides its target std by it so that the *truncated* draw has that std (Keras).
TRUNCATED_STD = 0.87962566103423978


def _real(value: Any, name: str, what: str = "a finite float") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return float(value)


def _positive(value: Any, name: str) -> float:
    v = _real(value, name, "a finite float > 0")
    if v <= 0:
        raise ValueError(f"{name}: expected a finite float > 0, got {value!r}")
    return v


def _seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected None or an integer >= 0, got {seed!r}")
    return int(seed)


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(f"shape: expected a tuple of integers >= 0, got {shape!r}")
    return tuple(int(d) for d in shape)


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    () -> (1, 1); (n,) -> (n, n); (in, out) -> (in, out); higher ranks are read
    as convolution kernels (..., in, out) with the leading axes as the
    receptive field.
    """
    shape = _shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_standard_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal draws, each redrawn until it lies within [-2, 2] (Keras/TF)."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():  # redraw the (~4.6%) samples beyond two standard deviations, all at once
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


class Initializer(Configurable):
    """Base class: ``init(shape, fan_in, fan_out, rng, dtype) -> ndarray``.

    Subclasses implement `generate` (and `get_config` when they take
    arguments); `__call__` validates the arguments, fills in the defaults and
    picks the generator.
    """

    #: The initializer's own seed, or None to draw from the generator the caller passes.
    seed: int | None = None

    def __call__(self, shape: Sequence[int] | int, fan_in: int | None = None,
                 fan_out: int | None = None, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> np.ndarray:
        """A new array of the given shape and dtype.

        Parameters
        ----------
        shape : tuple of int
            Shape of the weight, e.g. (inputs, units) for a Dense kernel.
        fan_in, fan_out : int, optional
            Inputs and outputs of the unit the weight feeds (Dense passes
            inputs and units for both its kernel and its bias); by default
            `compute_fans(shape)`.
        rng : numpy.random.Generator, optional
            The model's generator; ignored when the initializer has its own
            seed; None with no seed draws from fresh OS entropy.
        dtype : float32 or float64

        Returns
        -------
        ndarray of `shape` and `dtype`
        """
        shape = _shape(shape)
        fi, fo = compute_fans(shape)
        fan_in = fi if fan_in is None else fan_in
        fan_out = fo if fan_out is None else fan_out
        for value, name in ((fan_in, "fan_in"), (fan_out, "fan_out")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {dt}")
        if self.seed is not None:
            rng = np.random.default_rng(self.seed)
        elif rng is None:
            rng = np.random.default_rng()
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator or None, got {type(rng).__name__}")
        return self.generate(shape, int(fan_in), int(fan_out), rng, dt)

    def generate(self, shape: tuple[int, ...], fan_in: int, fan_out: int,
                 rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        """Draw the array (arguments already validated). Subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement generate()")


# -- constants ------------------------------------------------------------------------------

class Zeros(Initializer):
    """All zeros (the default bias initializer)."""

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    """All ones."""

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return np.ones(shape, dtype)


class Constant(Initializer):
    """Every element equal to `value`.

    Parameters
    ----------
    value : float, default 0.0
        A finite scalar.
    """

    def __init__(self, value: float = 0.0):
        self.value = _real(value, "value", "a finite scalar")

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, self.value, dtype)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


# -- plain random distributions --------------------------------------------------------------

class RandomNormal(Initializer):
    """Normal draws N(mean, stddev**2).

    Parameters
    ----------
    mean : float, default 0.0
    stddev : float, default 0.05
        Finite, > 0.
    seed : int, optional
        Own generator (same array at every call); None: the model's generator.

    Notes
    -----
    Formula::

        w = mean + stddev * z,    z ~ N(0, 1)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _real(mean, "mean")
        self.stddev = _positive(stddev, "stddev")
        self.seed = _seed(seed)

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return (self.mean + self.stddev * rng.standard_normal(shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal draws, redrawn when more than 2 standard deviations from the mean.

    Parameters
    ----------
    mean : float, default 0.0
    stddev : float, default 0.05
        Std of the normal *before* truncation (finite, > 0); the truncated
        draw's std is 0.8796 * stddev (Keras; VarianceScaling corrects for it).
    seed : int, optional

    Notes
    -----
    Formula::

        w = mean + stddev * z,    z ~ N(0, 1) conditioned on |z| <= 2
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _real(mean, "mean")
        self.stddev = _positive(stddev, "stddev")
        self.seed = _seed(seed)

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return (self.mean + self.stddev * _truncated_standard_normal(shape, rng)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform draws in [minval, maxval).

    Parameters
    ----------
    minval : float, default -0.05
    maxval : float, default 0.05
        Finite, > minval.
    seed : int, optional
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = _real(minval, "minval")
        self.maxval = _real(maxval, "maxval")
        if not self.maxval > self.minval:
            raise ValueError(f"maxval: expected a float > minval ({self.minval}), got {maxval!r}")
        self.seed = _seed(seed)

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


# -- variance scaling and its named cases ----------------------------------------------------

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(Initializer):
    """Draws with variance scale / n, n set by the fans of the weight.

    Parameters
    ----------
    scale : float, default 1.0
        Finite, > 0.
    mode : {"fan_in", "fan_out", "fan_avg"}, default "fan_in"
        n = fan_in, fan_out or (fan_in + fan_out) / 2 (at least 1).
    distribution : {"truncated_normal", "untruncated_normal", "uniform"}
        Default "truncated_normal" ("normal" is read as "truncated_normal",
        as in Keras; case does not matter).
    seed : int, optional

    Notes
    -----
    Formula::

        n = max(1, fan_in | fan_out | (fan_in + fan_out) / 2)
        truncated_normal:   w = sqrt(scale / n) / 0.87962566103423978 * z,  z ~ N(0, 1), |z| <= 2
        untruncated_normal: w = sqrt(scale / n) * z,  z ~ N(0, 1)
        uniform:            w ~ U(-limit, limit),  limit = sqrt(3 * scale / n)

    The truncated normal's factor 1 / 0.8796... makes the std of the truncated
    draw sqrt(scale / n).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        self.scale = _positive(scale, "scale")
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {list(_MODES)}, got {mode!r}")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in _DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {list(_DISTRIBUTIONS)}, "
                             f"got {distribution!r}")
        self.mode = mode
        self.distribution = dist
        self.seed = _seed(seed)

    def _n(self, fan_in: int, fan_out: int) -> float:
        if self.mode == "fan_in":
            return max(1.0, fan_in)
        if self.mode == "fan_out":
            return max(1.0, fan_out)
        return max(1.0, (fan_in + fan_out) / 2.0)

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        n = self._n(fan_in, fan_out)
        if self.distribution == "uniform":
            # (3 * scale) / n in one division: for Glorot 3 / ((a + b) / 2) is 6 / (a + b)
            # to the last bit, the limit fastnn has always used (same draws for a seed).
            limit = math.sqrt(3.0 * self.scale / n)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        std = math.sqrt(self.scale / n)
        if self.distribution == "truncated_normal":
            return (_truncated_standard_normal(shape, rng) * (std / TRUNCATED_STD)).astype(dtype)
        return (rng.standard_normal(shape) * std).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _NamedScaling(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config is the seed only."""

    _ARGS: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None):
        scale, mode, distribution = self._ARGS
        super().__init__(scale, mode, distribution, seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_NamedScaling):
    """Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    VarianceScaling(1.0, "fan_avg", "uniform"). The default Dense kernel initializer.

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedScaling):
    """Glorot (Xavier) normal: truncated normal with std sqrt(2 / (fan_in + fan_out)).

    VarianceScaling(1.0, "fan_avg", "truncated_normal").

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_NamedScaling):
    """He uniform: U(-limit, limit), limit = sqrt(6 / fan_in). VarianceScaling(2.0, "fan_in", "uniform").

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (2.0, "fan_in", "uniform")


class HeNormal(_NamedScaling):
    """He normal: truncated normal with std sqrt(2 / fan_in). VarianceScaling(2.0, "fan_in").

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_NamedScaling):
    """LeCun uniform: U(-limit, limit), limit = sqrt(3 / fan_in). VarianceScaling(1.0, "fan_in", "uniform").

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (1.0, "fan_in", "uniform")


class LecunNormal(_NamedScaling):
    """LeCun normal: truncated normal with std sqrt(1 / fan_in). VarianceScaling(1.0, "fan_in").

    Parameters
    ----------
    seed : int, optional
    """

    _ARGS = (1.0, "fan_in", "truncated_normal")


# -- orthogonal ------------------------------------------------------------------------------

class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain` (Saxe et al., 2014).

    For shape (rows, cols): the Q factor of the QR decomposition of a
    (max, min) standard normal matrix, its columns' signs set so that R has a
    non-negative diagonal (which makes Q uniformly distributed, as Keras and
    torch do), transposed when rows < cols. So W^T W = gain^2 I when rows >= cols
    and W W^T = gain^2 I otherwise. Shapes of rank > 2 are flattened to
    (prod(shape[:-1]), shape[-1]) first, as in Keras.

    Parameters
    ----------
    gain : float, default 1.0
        Finite multiplicative factor.
    seed : int, optional
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain = _real(gain, "gain")
        self.seed = _seed(seed)

    def __call__(self, shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
        s = _shape(shape)
        if len(s) < 2:
            raise ValueError(f"shape: Orthogonal expected a shape of rank >= 2 (a kernel), got {s}")
        return super().__call__(s, fan_in, fan_out, rng, dtype)

    def generate(self, shape, fan_in, fan_out, rng, dtype):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype)
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)  # reduced: q is (max, min) with orthonormal columns
        # Sign fix: flip the columns whose R diagonal is negative (a zero diagonal,
        # of probability 0, keeps its column rather than zeroing it as sign() would).
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


# -- lookup ----------------------------------------------------------------------------------

_CLASSES: dict[str, type[Initializer]] = {c.__name__: c for c in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal)}
# Keras's snake_case names and aliases.
_NAMES: dict[str, type[Initializer]] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "zero": Zeros, "one": Ones, "normal": RandomNormal, "uniform": RandomUniform,
}


def names() -> list[str]:
    """The snake_case names `get` accepts (class names are accepted too)."""
    return sorted(_NAMES)


def serialize(initializer: Initializer) -> dict[str, Any]:
    """{"class_name": ..., "config": ...} of an initializer."""
    return serialize_object(initializer, Initializer, "initializer")


def deserialize(config: dict[str, Any], argument: str = "initializer") -> Initializer:
    """The initializer a serialize() dict describes."""
    return deserialize_object(config, _CLASSES, argument)


def get(identifier: Any, argument: str = "initializer") -> Initializer:
    """An initializer from a name, an instance, a class or a config dict.

    Parameters
    ----------
    identifier : str, Initializer, Initializer subclass or dict
        A name from `names()` or a class name ("glorot_uniform",
        "GlorotUniform": default arguments); an instance (returned as is); a
        dict from serialize().
    argument : str
        The argument name that errors mention (e.g. "kernel_initializer").

    Raises
    ------
    ValueError
        Naming `argument`, the accepted names and what came.
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    elif isinstance(identifier, dict):
        return deserialize(identifier, argument)
    elif isinstance(identifier, type) and issubclass(identifier, Initializer) \
            and identifier is not Initializer:
        return identifier()
    raise ValueError(f"{argument}: expected one of {names()}, an Initializer or its config dict, "
                     f"got {identifier!r}")
