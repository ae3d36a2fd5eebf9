"""FTRL-proximal: follow the regularized leader, with L1/L2 regularization in closed form."""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.base import RULES, Optimizer, _check_float


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al. 2013, "Ad Click Prediction"), as Keras 3 implements it.

    Math, for gradient g_t, with k = -learning_rate_power (0.5: the paper's
    per-coordinate rate), accumulator n (n_0 = initial_accumulator_value) and
    linear term z (z_0 = 0); torch.optim has no FTRL::

        g'_t = g_t + 2 * l2_shrinkage_regularization_strength * p_{t-1}
        n_t = n_{t-1} + g_t ** 2
        z_t = z_{t-1} + g'_t - (n_t ** k - n_{t-1} ** k) / lr * p_{t-1}
        q_t = n_t ** k / lr + 2 * (l2_regularization_strength + beta / (2 * lr))
        p_t = (clip(z_t, -l1, l1) - z_t) / q_t      (0 when |z_t| <= l1)

    l1 = l1_regularization_strength. The paper's learning rate alpha is lr, its
    beta is beta and its lambda_2 is l2_regularization_strength.

    Parameters
    ----------
    learning_rate : float or schedule, default 0.001 (a schedule must stay > 0)
    learning_rate_power : float <= 0, default -0.5
    initial_accumulator_value : float >= 0, default 0.1
    l1_regularization_strength, l2_regularization_strength : float >= 0, default 0
    l2_shrinkage_regularization_strength : float >= 0, default 0
    beta : float >= 0, default 0
    **kwargs
        The common arguments of `Optimizer`.

    Examples
    --------
    >>> opt = Ftrl(learning_rate=0.1, initial_accumulator_value=0.0)
    >>> w = np.zeros(1); opt.apply(np.array([2.0]), w)
    >>> w  # z = 2, q = sqrt(4) / 0.1 = 20: p = -z / q
    array([-0.1])
    """

    _positive_lr = True

    def __init__(self, learning_rate: Any = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = _check_float(learning_rate_power, "learning_rate_power", high=0.0)
        self.initial_accumulator_value = _check_float(initial_accumulator_value,
                                                      "initial_accumulator_value", 0.0)
        self.l1_regularization_strength = _check_float(l1_regularization_strength,
                                                       "l1_regularization_strength", 0.0)
        self.l2_regularization_strength = _check_float(l2_regularization_strength,
                                                       "l2_regularization_strength", 0.0)
        self.l2_shrinkage_regularization_strength = _check_float(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", 0.0)
        self.beta = _check_float(beta, "beta", 0.0)

    def _slot_names(self):
        return ("accumulator", "linear", None)

    def _slot_initial(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _rule(self, step, lr):
        k = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        hyper = (lr, k, self.l1_regularization_strength, 2.0 * l2,
                 2.0 * self.l2_shrinkage_regularization_strength)
        return RULES["ftrl_sqrt" if k == 0.5 else "ftrl"], hyper, None

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
