"""Plain numpy float64 references of fastnn's optimizers, written from the formulas.

Update rules follow torch.optim's documented algorithms (SGD, Adagrad, RMSprop,
Adadelta, Adam/AMSGrad, AdamW, Adamax, NAdam, RAdam), Chen et al. 2023 (Lion) and
McMahan et al. 2013 as Keras 3 implements it (Ftrl). The extras follow Keras 3's
BaseOptimizer: clip gradients (clipnorm per variable, global_clipnorm, clipvalue),
decoupled weight decay, the update, then the moving average of the weights and its
periodic overwrite. Everything here is independent of fastnn's code: whole-array
numpy expressions in the order the papers and docs write them.
"""
from __future__ import annotations

import math

import numpy as np


# -- update rules: (p, g, state dict, step t >= 1, lr, hyperparameters) -> new p ------------

def sgd(p, g, s, t, lr, momentum=0.0, nesterov=False):
    if momentum == 0:
        return p - lr * g
    s["b"] = g.copy() if "b" not in s else momentum * s["b"] + g
    d = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * d


def adagrad(p, g, s, t, lr, initial_accumulator_value=0.1, epsilon=1e-10):
    s.setdefault("sum", np.full_like(p, initial_accumulator_value))
    s["sum"] = s["sum"] + g ** 2
    return p - lr * g / (np.sqrt(s["sum"]) + epsilon)


def rmsprop(p, g, s, t, lr, rho=0.9, momentum=0.0, epsilon=1e-8, centered=False):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g ** 2
    if centered:
        s["c"] = rho * s.get("c", 0.0) + (1 - rho) * g
        avg = np.sqrt(s["v"] - s["c"] ** 2) + epsilon
    else:
        avg = np.sqrt(s["v"]) + epsilon
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0.0) + g / avg
        return p - lr * s["b"]
    return p - lr * g / avg


def adadelta(p, g, s, t, lr, rho=0.95, epsilon=1e-7):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g ** 2
    u = s.get("u", np.zeros_like(p))
    delta = np.sqrt(u + epsilon) / np.sqrt(s["v"] + epsilon) * g
    s["u"] = rho * u + (1 - rho) * delta ** 2
    return p - lr * delta


def adam(p, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g ** 2
    v = s["v"]
    if amsgrad:
        s["vmax"] = np.maximum(s.get("vmax", 0.0), s["v"])
        v = s["vmax"]
    m_hat = s["m"] / (1 - beta_1 ** t)
    v_hat = v / (1 - beta_2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def adamax(p, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["u"] = np.maximum(beta_2 * s.get("u", np.zeros_like(p)), np.abs(g) + epsilon)
    return p - lr / (1 - beta_1 ** t) * s["m"] / s["u"]


def nadam(p, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    psi = 0.004
    mu = beta_1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = beta_1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    # P_t = prod_{k <= t} mu_k, recomputed from scratch (not carried)
    prod = math.prod(beta_1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in range(1, t + 1))
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g ** 2
    denom = np.sqrt(s["v"] / (1 - beta_2 ** t)) + epsilon
    return (p - lr * (1 - mu) / (1 - prod) * g / denom
            - lr * mu_next / (1 - prod * mu_next) * s["m"] / denom)


def radam(p, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g ** 2
    m_hat = s["m"] / (1 - beta_1 ** t)
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 * t * beta_2 ** t / (1 - beta_2 ** t)
    if rho_t <= 5:
        return p - lr * m_hat
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = math.sqrt(1 - beta_2 ** t) / (np.sqrt(s["v"]) + epsilon)
    return p - lr * m_hat * r * adaptive


def lion(p, g, s, t, lr, beta_1=0.9, beta_2=0.99):
    m = s.get("m", np.zeros_like(p))
    c = beta_1 * m + (1 - beta_1) * g
    s["m"] = beta_2 * m + (1 - beta_2) * g
    return p - lr * np.sign(c)


def ftrl(p, g, s, t, lr, learning_rate_power=-0.5, initial_accumulator_value=0.1,
         l1_regularization_strength=0.0, l2_regularization_strength=0.0,
         l2_shrinkage_regularization_strength=0.0, beta=0.0):
    k = -learning_rate_power
    n = s.get("n", np.full_like(p, initial_accumulator_value))
    z = s.get("z", np.zeros_like(p))
    g_shrunk = g + 2 * l2_shrinkage_regularization_strength * p
    n_new = n + g ** 2
    sigma = (n_new ** k - n ** k) / lr
    z = z + g_shrunk - sigma * p
    l1 = l1_regularization_strength
    quadratic = n_new ** k / lr + 2 * (l2_regularization_strength + beta / (2 * lr))
    s["n"], s["z"] = n_new, z
    return np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / quadratic, 0.0)


RULES = {"SGD": sgd, "Adagrad": adagrad, "RMSprop": rmsprop, "Adadelta": adadelta, "Adam": adam,
         "AdamW": adam, "Adamax": adamax, "Nadam": nadam, "RAdam": radam, "Lion": lion, "Ftrl": ftrl}
DEFAULT_LR = {"SGD": 0.01}
COMMON = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
          "ema_momentum", "ema_overwrite_frequency", "ema_warmup", "name")


class ReferenceOptimizer:
    """One fastnn optimizer (by class name and its constructor arguments) in numpy float64.

    step(params, grads) -> new params (lists of arrays); `ema` holds the moving averages.
    """

    def __init__(self, name, **config):
        self.rule = RULES[name]
        self.lr = config.get("learning_rate", DEFAULT_LR.get(name, 0.001))
        wd_default = 0.004 if name == "AdamW" else None
        self.wd = config.get("weight_decay", wd_default)
        self.clipnorm = config.get("clipnorm")
        self.clipvalue = config.get("clipvalue")
        self.global_clipnorm = config.get("global_clipnorm")
        self.use_ema = config.get("use_ema", False)
        self.ema_momentum = config.get("ema_momentum", 0.99)
        self.ema_freq = config.get("ema_overwrite_frequency")
        self.ema_warmup = config.get("ema_warmup", False)
        self.hyper = {k: v for k, v in config.items() if k not in COMMON}
        self.iterations = 0
        self.states = None
        self.ema = None

    def lr_at(self, step):
        return self.lr(step) if callable(self.lr) else self.lr

    def clip(self, grads):
        if self.clipnorm is not None:  # Keras: each variable to norm <= clipnorm
            c = self.clipnorm
            return [g * c / max(np.sqrt(np.sum(g ** 2)), c) for g in grads]
        if self.global_clipnorm is not None:  # Keras's clip_by_global_norm
            c = self.global_clipnorm
            norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
            scale = c * min(1 / norm, 1 / c) + (norm - norm)
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def step(self, params, grads):
        params = [np.asarray(p, np.float64) for p in params]
        grads = self.clip([np.asarray(g, np.float64) for g in grads])
        if self.states is None:
            self.states = [{} for _ in params]
            self.ema = [p.copy() for p in params]
        t = self.iterations  # steps done before this one
        lr = self.lr_at(t)
        if self.wd:
            params = [p - p * self.wd * lr for p in params]
        out = [self.rule(p, g, s, t + 1, lr, **self.hyper) for p, g, s in zip(params, grads, self.states)]
        if self.use_ema:
            if self.ema_warmup:
                d = min(self.ema_momentum, (1 + t) / (10 + t))
            else:
                d = 0.0 if t == 0 else self.ema_momentum
            self.ema = [d * e + (1 - d) * p for e, p in zip(self.ema, out)]
            if self.ema_freq and (t + 1) % self.ema_freq == 0:
                out = [e.copy() for e in self.ema]
        self.iterations += 1
        return out
