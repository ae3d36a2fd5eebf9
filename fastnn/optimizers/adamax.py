"""Adamax: Adam with the infinity norm in place of the second moment."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float, _check_unit


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7), with torch.optim.Adamax's update rule.

    Math, for gradient g_t at step t = 1, 2, ...::

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        u_t = max(beta_2 * u_{t-1}, |g_t| + epsilon)
        p_t = p_{t-1} - lr / (1 - beta_1 ** t) * m_t / u_t

    epsilon sits inside the max as in torch (default 1e-8); Keras adds its
    epsilon (1e-7) to u_t instead. torch's ``weight_decay`` adds ``wd * p`` to
    g_t; fastnn's is decoupled.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
    epsilon : float > 0, default 1e-8
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Adamax(learning_rate=0.1)
    >>> w = np.zeros(1); opt.apply(np.array([3.0]), w)
    >>> w  # first step: -lr * g / (|g| + eps)
    array([-0.1])
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit(beta_1, "beta_1")
        self.beta_2 = _check_unit(beta_2, "beta_2")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slot_names(self):
        return ("m", "u", None)

    def _rule(self, step, lr):
        clr = lr / (1 - self.beta_1 ** step)
        return RULES["adamax"], (1 - self.beta_1, self.beta_2, clr, self.epsilon), None

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
