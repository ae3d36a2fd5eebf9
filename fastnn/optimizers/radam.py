"""RAdam: Adam with a rectified (variance-corrected) adaptive learning rate."""
from __future__ import annotations

import math
from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float, _check_unit


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2020), with torch.optim.RAdam's update rule.

    Math, for gradient g_t at step t = 1, 2, ...::

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t ** 2
        rho_inf = 2 / (1 - beta_2) - 1
        rho_t = rho_inf - 2 t beta_2 ** t / (1 - beta_2 ** t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            p_t = p_{t-1} - lr r_t / (1 - beta_1 ** t) * m_t * sqrt(1 - beta_2 ** t) / (sqrt(v_t) + epsilon)
        else:                                  (the variance estimate is not yet tractable)
            p_t = p_{t-1} - lr / (1 - beta_1 ** t) * m_t

    epsilon is added to sqrt(v_t) before the bias correction, as torch does.
    Keras has no RAdam; the argument names follow its Adam. torch's
    ``weight_decay`` adds ``wd * p`` to g_t unless ``decoupled_weight_decay=True``,
    which is fastnn's meaning.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
    epsilon : float > 0, default 1e-8
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = RAdam(learning_rate=0.1)
    >>> w = np.zeros(1); opt.apply(np.array([0.5]), w)
    >>> w  # step 1 is unrectified: -lr * m_hat = -lr * g
    array([-0.05])
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit(beta_1, "beta_1")
        self.beta_2 = _check_unit(beta_2, "beta_2")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slot_names(self):
        return ("m", "v", None)

    def _rule(self, step, lr):
        b1, b2 = self.beta_1, self.beta_2
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * b2 ** step / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return RULES["radam"], (1 - b1, b2, 1 - b2, lr * rect * math.sqrt(bc2) / bc1, self.epsilon), None
        return RULES["radam_unrectified"], (1 - b1, b2, 1 - b2, lr / bc1, self.epsilon), None

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
