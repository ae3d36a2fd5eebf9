"""Plain-numpy float64 references of the dropout, noise and normalization layers.

Written from the formulas (and, for the random layers, from the generator's
definition in src_c/_random.pxd), independently of fastnn's code: every function
converts its inputs to float64, allocates its outputs and never imports fastnn.
"""
from __future__ import annotations

import numpy as np

# -- the counter-based generator (SplitMix64 read by position) ------------------------------

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SEED_SALT = np.uint64(0x6A09E667F3BCC908)
PAIRS_PER_BLOCK = 16
_M32 = np.uint64(0xFFFFFFFF)


def mix64(z) -> np.ndarray:
    """SplitMix64's finalizer on uint64 values (numpy integer arithmetic wraps mod 2**64)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def pair_words(seed: int, counter: int, pairs) -> np.ndarray:
    """The 64-bit word of each pair index: mix64(key + ((counter << 32) + pair + 1) * GOLDEN),
    key = mix64(seed ^ SEED_SALT)."""
    key = mix64(np.uint64(seed) ^ SEED_SALT)
    t = (np.uint64(counter) << np.uint64(32)) + np.asarray(pairs, dtype=np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        return mix64(key + t * GOLDEN)


def element_pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair index, high half?) of elements 0..m-1: element o of block b (blocks of
    2K elements) uses pair b*K + o % K, its low 32 bits when o < K, else its high 32."""
    e = np.arange(m, dtype=np.int64)
    k = PAIRS_PER_BLOCK
    block, o = e // (2 * k), e % (2 * k)
    return block * k + o % k, o >= k


def element_uniform32(seed: int, counter: int, m: int) -> np.ndarray:
    """The 32 random bits of each of m elements, as uint64 values in [0, 2**32)."""
    pairs, high = element_pairs(m)
    w = pair_words(seed, counter, pairs)
    return np.where(high, w >> np.uint64(32), w & _M32)


def dropout_keep(seed: int, counter: int, shape: tuple[int, int], rate: float) -> np.ndarray:
    """Boolean keep mask: kept where the element's 32 bits >= round(rate * 2**32)."""
    thr = min(int(np.floor(rate * 2.0**32 + 0.5)), 2**32 - 1)
    return (element_uniform32(seed, counter, shape[0] * shape[1]) >= np.uint64(thr)).reshape(shape)


def gaussian_noise(seed: int, counter: int, shape: tuple[int, int]) -> np.ndarray:
    """Standard normal samples by Box-Muller on each pair's word: the pair's low-half
    element gets r cos(theta), its high-half element r sin(theta), with
    r = sqrt(-2 log((hi32 + 1) / 2**32)), theta = 2 pi lo32 / 2**32."""
    m = shape[0] * shape[1]
    pairs, high = element_pairs(m)
    w = pair_words(seed, counter, pairs)
    u1 = ((w >> np.uint64(32)).astype(np.float64) + 1.0) / 2.0**32
    theta = 2.0 * np.pi * (w & _M32).astype(np.float64) / 2.0**32
    r = np.sqrt(-2.0 * np.log(u1))
    return np.where(high, r * np.sin(theta), r * np.cos(theta)).reshape(shape)


# -- dropout and noise ------------------------------------------------------------------------

def dropout_forward(x, keep, rate: float) -> np.ndarray:
    """Inverted dropout: x / (1 - rate) where kept, 0 elsewhere."""
    return np.where(keep, np.asarray(x, np.float64) / (1.0 - rate), 0.0)


def dropout_backward(dy, keep, rate: float) -> np.ndarray:
    return np.where(keep, np.asarray(dy, np.float64) / (1.0 - rate), 0.0)


# -- batch normalization ----------------------------------------------------------------------

def batch_norm_train(x, gamma, beta, epsilon: float):
    """Training-mode forward: (y, batch mean, biased batch variance)."""
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    mean = x.sum(axis=0) / n
    var = ((x - mean) ** 2).sum(axis=0) / n
    y = np.asarray(gamma, np.float64) * (x - mean) / np.sqrt(var + epsilon) + np.asarray(beta, np.float64)
    return y, mean, var


def batch_norm_infer(x, gamma, beta, moving_mean, moving_var, epsilon: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (np.asarray(gamma, np.float64) * (x - np.asarray(moving_mean, np.float64))
            / np.sqrt(np.asarray(moving_var, np.float64) + epsilon) + np.asarray(beta, np.float64))


def moving_update(moving, batch, momentum: float) -> np.ndarray:
    """Keras: moving * momentum + batch * (1 - momentum)."""
    return np.asarray(moving, np.float64) * momentum + np.asarray(batch, np.float64) * (1.0 - momentum)


def batch_norm_train_backward(x, dy, gamma, epsilon: float):
    """(dx, dgamma, dbeta) of the training-mode forward, from the textbook formula
    dx = gamma / sqrt(var + eps) / n * (n dy - sum dy - x_hat sum(dy x_hat))."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    inv = 1.0 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    dx = np.asarray(gamma, np.float64) * inv / n * (n * dy - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def batch_norm_infer_backward(x, dy, gamma, moving_mean, moving_var, epsilon: float):
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    inv = 1.0 / np.sqrt(np.asarray(moving_var, np.float64) + epsilon)
    x_hat = (x - np.asarray(moving_mean, np.float64)) * inv
    return dy * np.asarray(gamma, np.float64) * inv, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


# -- layer normalization ----------------------------------------------------------------------

def layer_norm(x, gamma, beta, epsilon: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    d = x.shape[1]
    mean = x.sum(axis=1, keepdims=True) / d
    var = ((x - mean) ** 2).sum(axis=1, keepdims=True) / d
    return np.asarray(gamma, np.float64) * (x - mean) / np.sqrt(var + epsilon) + np.asarray(beta, np.float64)


def layer_norm_backward(x, dy, gamma, epsilon: float):
    """(dx, dgamma, dbeta): dx = inv * (g - mean(g) - x_hat mean(g x_hat)), g = dy * gamma."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    mean = x.mean(axis=1, keepdims=True)
    inv = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True) + epsilon)
    x_hat = (x - mean) * inv
    g = dy * np.asarray(gamma, np.float64)
    dx = inv * (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


# -- input standardization --------------------------------------------------------------------

def adapt(data) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and biased variance, from explicit sums."""
    data = np.asarray(data, np.float64)
    n = data.shape[0]
    mean = data.sum(axis=0) / n
    return mean, ((data - mean) ** 2).sum(axis=0) / n


def standardize(x, mean, variance) -> np.ndarray:
    """Keras: (x - mean) / max(sqrt(variance), 1e-7)."""
    std = np.maximum(np.sqrt(np.asarray(variance, np.float64)), 1e-7)
    return (np.asarray(x, np.float64) - np.asarray(mean, np.float64)) / std


def standardize_backward(dy, variance) -> np.ndarray:
    return np.asarray(dy, np.float64) / np.maximum(np.sqrt(np.asarray(variance, np.float64)), 1e-7)
