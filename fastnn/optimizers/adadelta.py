"""Adadelta: step sizes from running averages of squared gradients and squared updates."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float, _check_unit


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012), with torch.optim.Adadelta's update rule (= Keras's).

    Math, for gradient g_t::

        v_t = rho * v_{t-1} + (1 - rho) * g_t ** 2
        d_t = sqrt(u_{t-1} + epsilon) / sqrt(v_t + epsilon) * g_t
        u_t = rho * u_{t-1} + (1 - rho) * d_t ** 2
        p_t = p_{t-1} - lr * d_t

    Defaults are Keras's (torch: lr 1.0, rho 0.9, epsilon 1e-6; the paper has no
    learning rate, i.e. lr = 1). torch's ``weight_decay`` adds ``wd * p`` to g_t;
    fastnn's is decoupled.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    rho : float in [0, 1), default 0.95
    epsilon : float > 0, default 1e-7
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Adadelta(learning_rate=1.0, rho=0.0, epsilon=1e-6)
    >>> w = np.zeros(1); opt.apply(np.array([1.0]), w)
    >>> round(float(w[0]), 10)  # -sqrt(eps) / sqrt(1 + eps) * 1
    -0.0009999995
    """

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _check_unit(rho, "rho")
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var", None)

    def _rule(self, step, lr):
        return RULES["adadelta"], (lr, self.rho, 1 - self.rho, self.epsilon), None

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
