"""Adam: adaptive moment estimation."""
from __future__ import annotations

from fastnn import ops
from fastnn.optimizers.base import Optimizer, _check_float


class Adam(Optimizer):
    """Adam, with torch.optim.Adam's update rule.

    Math, for gradient g_t at step t = 1, 2, ...::

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t ** 2
        p_t = p_{t-1} - lr / (1 - beta_1 ** t) * m_t / (sqrt(v_t) / sqrt(1 - beta_2 ** t) + epsilon)

    epsilon is added to sqrt(v_hat) as in PyTorch (default 1e-8); Keras adds its
    epsilon (default 1e-7) to sqrt(v_t) before the bias correction, which differs
    slightly early in training.

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
    epsilon : float > 0, default 1e-8

    Examples
    --------
    >>> opt = Adam(learning_rate=0.1)
    >>> w = np.zeros(2); opt.apply(np.array([1.0, -2.0]), w)
    >>> w  # the first step moves each weight by ~lr against its gradient's sign
    array([-0.1,  0.1])
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, name: str | None = None):
        super().__init__(learning_rate, name)
        self.beta_1 = _check_float(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _check_float(beta_2, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = _check_float(epsilon, "epsilon", 0.0, low_open=True)

    def _slots(self):
        return ["m", "v"]

    def _update(self, param, grad, state, step):
        ops.adam_update(param, grad, state["m"], state["v"], self.learning_rate, self.beta_1,
                        self.beta_2, self.epsilon, step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
