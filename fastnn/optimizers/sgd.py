"""Stochastic gradient descent with optional (Nesterov) momentum."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_bool, _check_float


class SGD(Optimizer):
    """SGD, with torch.optim.SGD's update rule (dampening 0).

    Math, for gradient g_t, parameter p, momentum mu, learning rate lr::

        b_t = mu * b_{t-1} + g_t          (b_0 = 0; only when mu > 0)
        d_t = g_t + mu * b_t   if nesterov else   b_t     (d_t = g_t when mu == 0)
        p_t = p_{t-1} - lr * d_t

    With a constant learning rate this equals Keras's SGD (whose velocity is
    -lr * b_t). torch's ``weight_decay`` adds ``wd * p`` to g_t; fastnn's is
    Keras's decoupled one (see Optimizer).

    Parameters
    ----------
    learning_rate : float or schedule, default 0.01
    momentum : float in [0, 1), default 0
    nesterov : bool, default False (needs momentum > 0)
    **kwargs
        The common arguments of `Optimizer` (weight_decay, clipnorm, clipvalue,
        global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, ema_warmup, name).

    Examples
    --------
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> w = np.ones(3, np.float32); opt.apply(np.full(3, 0.5, np.float32), w)
    >>> w  # 1 - 0.1 * 0.5
    array([0.95, 0.95, 0.95], dtype=float32)
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _check_float(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.nesterov = _check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0.0")

    def _slot_names(self):
        return ("momentum" if self.momentum > 0 else None, None, None)

    def _rule(self, step, lr):
        if self.momentum == 0:
            return RULES["sgd"], (lr,), None
        return RULES["sgd_nesterov" if self.nesterov else "sgd_momentum"], (lr, self.momentum), None

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
