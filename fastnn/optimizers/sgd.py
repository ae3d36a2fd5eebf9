"""Stochastic gradient descent with optional (Nesterov) momentum."""
from __future__ import annotations

from fastnn import ops
from fastnn.optimizers.base import Optimizer, _check_float


class SGD(Optimizer):
    """SGD, with torch.optim.SGD's update rule (dampening 0).

    Math, for gradient g_t, parameter p, momentum mu, learning rate lr::

        b_t = mu * b_{t-1} + g_t          (b_0 = 0; only when mu > 0)
        d_t = g_t + mu * b_t   if nesterov else   b_t     (d_t = g_t when mu == 0)
        p_t = p_{t-1} - lr * d_t

    With a constant learning rate this equals Keras's SGD (whose velocity is
    -lr * b_t).

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float in [0, 1), default 0
    nesterov : bool, default False (needs momentum > 0)

    Examples
    --------
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> w = np.ones(3, np.float32); opt.apply(np.full(3, 0.5, np.float32), w)
    >>> w  # 1 - 0.1 * 0.5
    array([0.95, 0.95, 0.95], dtype=float32)
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str | None = None):
        super().__init__(learning_rate, name)
        self.momentum = _check_float(momentum, "momentum", 0.0, 1.0, high_open=True)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0.0")
        self.nesterov = bool(nesterov)

    def _slots(self):
        return ["momentum"] if self.momentum > 0 else []

    def _update(self, param, grad, state, step):
        ops.sgd_update(param, grad, state.get("momentum"), self.learning_rate, self.momentum,
                       self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
