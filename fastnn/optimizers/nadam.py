"""Nadam: Adam with Nesterov momentum (Dozat's momentum schedule)."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float, _check_unit

MOMENTUM_DECAY = 0.004  # psi of Dozat (2016); torch's momentum_decay default, Keras's constant


class Nadam(Optimizer):
    """Nadam (Dozat 2016), with torch.optim.NAdam's update rule (= Keras's Nadam).

    Math, for gradient g_t at step t = 1, 2, ..., psi = 0.004::

        mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * psi))
        P_t = mu_1 * mu_2 * ... * mu_t                     (the "mu_product" state)
        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t ** 2
        a_t = sqrt(v_t / (1 - beta_2 ** t)) + epsilon
        p_t = p_{t-1} - lr * (1 - mu_t) / (1 - P_t) * g_t / a_t
                      - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m_t / a_t

    Defaults are Keras's (torch: lr 0.002, epsilon 1e-8). torch's
    ``weight_decay`` adds ``wd * p`` to g_t unless ``decoupled_weight_decay=True``,
    which is fastnn's (Keras's) meaning.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
    epsilon : float > 0, default 1e-7
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Nadam(learning_rate=0.1)
    >>> w = np.zeros(1); opt.apply(np.array([1.0]), w)
    >>> float(w[0]) < 0  # moves against the gradient
    True
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit(beta_1, "beta_1")
        self.beta_2 = _check_unit(beta_2, "beta_2")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slot_names(self):
        return ("m", "v", None)

    def _initial_scalars(self):
        return {"mu_product": 1.0}

    def _rule(self, step, lr):
        b1, b2 = self.beta_1, self.beta_2
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * MOMENTUM_DECAY))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * MOMENTUM_DECAY))
        mu_product = self._scalars["mu_product"] * mu
        c_g = lr * (1.0 - mu) / (1.0 - mu_product)
        c_m = lr * mu_next / (1.0 - mu_product * mu_next)
        hyper = (1 - b1, b2, 1 - b2, 1 / (1 - b2 ** step), self.epsilon, c_g, c_m)
        return RULES["nadam"], hyper, {"mu_product": mu_product}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
