"""RMSprop: gradients divided by a running root mean square (optionally centered, with momentum)."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_bool, _check_float, _check_unit


class RMSprop(Optimizer):
    """RMSprop (Hinton 2012; centered: Graves 2013), with torch.optim.RMSprop's update rule.

    Math, for gradient g_t (rho is torch's ``alpha``)::

        v_t = rho * v_{t-1} + (1 - rho) * g_t ** 2
        c_t = rho * c_{t-1} + (1 - rho) * g_t             (centered only)
        a_t = sqrt(v_t - c_t ** 2) + epsilon   if centered else   sqrt(v_t) + epsilon
        b_t = momentum * b_{t-1} + g_t / a_t;  p_t = p_{t-1} - lr * b_t      (momentum > 0)
        p_t = p_{t-1} - lr * g_t / a_t                                       (momentum == 0)

    epsilon is added to the square root as in torch (default 1e-8); Keras adds
    its epsilon (1e-7) under the square root. Keras's momentum buffer holds
    lr * b_t, the same update for a constant learning rate. torch's
    ``weight_decay`` adds ``wd * p`` to g_t; fastnn's is decoupled.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    rho : float in [0, 1), default 0.9
    momentum : float in [0, 1), default 0
    epsilon : float > 0, default 1e-8
    centered : bool, default False
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = RMSprop(learning_rate=0.01, rho=0.0)
    >>> w = np.zeros(1); opt.apply(np.array([4.0]), w)
    >>> w  # rho = 0: v = g^2, so the step is lr * g / |g|
    array([-0.01])
    """

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-8, centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _check_unit(rho, "rho")
        self.momentum = _check_unit(momentum, "momentum")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.centered = _check_bool(centered, "centered")

    def _slot_names(self):
        return ("velocity", "average_gradient" if self.centered else None,
                "momentum" if self.momentum > 0 else None)

    def _rule(self, step, lr):
        name = "rmsprop" + ("_centered" if self.centered else "") + ("_momentum" if self.momentum > 0 else "")
        return RULES[name], (lr, self.rho, 1 - self.rho, self.epsilon, self.momentum), None

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
