"""Adagrad: per-parameter learning rates from the sum of squared gradients."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), with torch.optim.Adagrad's update rule.

    Math, for gradient g_t::

        s_t = s_{t-1} + g_t ** 2                  (s_0 = initial_accumulator_value)
        p_t = p_{t-1} - lr * g_t / (sqrt(s_t) + epsilon)

    epsilon is added to sqrt(s_t) as in torch (default 1e-10); Keras adds its
    epsilon (1e-7) to s_t under the square root. initial_accumulator_value follows
    Keras (0.1; torch's default is 0). torch's ``lr_decay`` is not offered (use a
    schedule); its ``weight_decay`` adds ``wd * p`` to g_t, fastnn's is decoupled.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001
    initial_accumulator_value : float >= 0, default 0.1
    epsilon : float > 0, default 1e-10
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Adagrad(learning_rate=0.1, initial_accumulator_value=0.0)
    >>> w = np.zeros(2); opt.apply(np.array([2.0, -0.5]), w)
    >>> w  # first step: -lr * g / |g|
    array([-0.1,  0.1])
    """

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-10, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _check_float(initial_accumulator_value,
                                                      "initial_accumulator_value", 0.0)
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slot_names(self):
        return ("accumulator", None, None)

    def _slot_initial(self, name):
        return self.initial_accumulator_value

    def _rule(self, step, lr):
        return RULES["adagrad"], (lr, self.epsilon), None

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
