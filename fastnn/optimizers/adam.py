"""Adam and AdamW: adaptive moment estimation (AdamW: with decoupled weight decay)."""
from __future__ import annotations

import math
from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_bool, _check_float, _check_unit


class Adam(Optimizer):
    """Adam, with torch.optim.Adam's update rule (amsgrad included).

    Math, for gradient g_t at step t = 1, 2, ...::

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t ** 2
        vmax_t = max(vmax_{t-1}, v_t)       (amsgrad; then v_t below is vmax_t)
        p_t = p_{t-1} - lr / (1 - beta_1 ** t) * m_t / (sqrt(v_t) / sqrt(1 - beta_2 ** t) + epsilon)

    epsilon is added to sqrt(v_hat) as in PyTorch (default 1e-8); Keras adds its
    epsilon (default 1e-7) to sqrt(v_t) before the bias correction, which differs
    slightly early in training. torch's ``weight_decay`` adds ``wd * p`` to g_t
    (L2); fastnn's is Keras's decoupled one, i.e. ``Adam(weight_decay=wd)`` is
    torch's ``AdamW(weight_decay=wd)``.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
    epsilon : float > 0, default 1e-8
    amsgrad : bool, default False
    **kwargs
        The common arguments of `Optimizer` (weight_decay, clipnorm, clipvalue,
        global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, ema_warmup, name).

    Examples
    --------
    >>> opt = Adam(learning_rate=0.1)
    >>> w = np.zeros(2); opt.apply(np.array([1.0, -2.0]), w)
    >>> w  # the first step moves each weight by ~lr against its gradient's sign
    array([-0.1,  0.1])
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit(beta_1, "beta_1")
        self.beta_2 = _check_unit(beta_2, "beta_2")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.amsgrad = _check_bool(amsgrad, "amsgrad")

    def _slot_names(self):
        return ("m", "v", "vmax" if self.amsgrad else None)

    def _rule(self, step, lr):
        bc1 = 1 - self.beta_1 ** step
        bc2 = 1 - self.beta_2 ** step
        hyper = (1 - self.beta_1, self.beta_2, 1 - self.beta_2, lr / bc1, 1 / math.sqrt(bc2), self.epsilon)
        return RULES["adam_amsgrad" if self.amsgrad else "adam"], hyper, None

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), torch.optim.AdamW's rule.

    Math: before the Adam step (see `Adam`) of step t with learning rate lr::

        p_{t-1} <- p_{t-1} - lr * weight_decay * p_{t-1}

    which is what every fastnn optimizer does with ``weight_decay``; AdamW only
    makes it required, with Keras's default 0.004 (torch's default is 0.01).

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    weight_decay : float >= 0, default 0.004
    beta_1, beta_2, epsilon, amsgrad : as `Adam`
    **kwargs
        The other common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> w = np.ones(1); opt.apply(np.array([1.0]), w)
    >>> w  # 1 * (1 - 0.1 * 0.5) - 0.1
    array([0.85])
    """

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise ValueError("weight_decay: AdamW expects a float >= 0, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay,
                         **kwargs)
