"""Lion: sign of an interpolated momentum (evolved sign momentum)."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_unit


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), as Keras 3.

    Math, for gradient g_t (torch.optim has no Lion)::

        c_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        p_t = p_{t-1} - lr * sign(c_t)              (sign(0) = 0)
        m_t = beta_2 * m_{t-1} + (1 - beta_2) * g_t

    The paper's decoupled weight decay, p_t -= lr * lambda * p_{t-1}, is the
    common ``weight_decay`` argument. Its step has norm ~lr per element: use a
    learning rate 3-10x smaller than AdamW's and a weight decay 3-10x larger.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    beta_1 : float in [0, 1), default 0.9
    beta_2 : float in [0, 1), default 0.99
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Lion(learning_rate=0.1)
    >>> w = np.zeros(3); opt.apply(np.array([2.0, -1e-9, 0.0]), w)
    >>> w  # -lr * sign(g) on the first step (m_0 = 0)
    array([-0.1,  0.1,  0. ])
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit(beta_1, "beta_1")
        self.beta_2 = _check_unit(beta_2, "beta_2")

    def _slot_names(self):
        return ("momentum", None, None)

    def _rule(self, step, lr):
        b1, b2 = self.beta_1, self.beta_2
        return RULES["lion"], (lr, b1, 1 - b1, b2, 1 - b2), None

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
