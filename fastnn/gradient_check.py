"""Numerical gradient checking: central finite differences against the analytic
gradients of a model, in float64, as the textbook verifies backpropagation."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn._validation import check_int


def gradient_check(model: Any, x: Any, y: Any, epsilon: float = 1e-5, atol: float = 1e-5,
                   sample_weight: Any = None, max_checks: int | None = None,
                   seed: int = 0) -> dict[str, float]:
    """Worst relative error between analytic and finite-difference gradients, per layer.

    The model is copied into float64 (its own weights are left untouched); for each
    parameter entry theta_i the loss L (training mode, regularization included) is
    evaluated at theta_i +- epsilon and compared with the analytic gradient::

        numeric_i = (L(theta_i + epsilon) - L(theta_i - epsilon)) / (2 epsilon)
        error_i   = |analytic_i - numeric_i| / max(|analytic_i|, |numeric_i|, atol)

    Dropout masks and noise are replayed, so every evaluation sees the same ones;
    batch normalization uses the batch statistics of x.

    Parameters
    ----------
    model : Sequential
        A compiled model (its loss is the one checked), built or buildable from x.
    x, y : array-like
        One batch; keep it small: every checked entry costs two forward/backward passes.
    epsilon : float
        Finite-difference step. The truncation error is ``~epsilon**2 * |L'''| / 6`` and
        the round-off ``~1e-16 * |L| / epsilon``, so 1e-5 balances them in float64.
    atol : float
        Gradients smaller than this are compared in absolute terms (their finite
        difference is mostly round-off).
    sample_weight : array-like (n,), optional
    max_checks : int, optional
        Check at most this many entries per parameter array, chosen at random
        (seeded by `seed`); all entries when None.
    seed : int

    Returns
    -------
    dict
        {layer name: worst relative error over its parameters}, layers with
        parameters only. Below ~1e-6 the gradients agree; errors near 1e-2 or more
        point to a wrong derivative (or a kink such as relu at 0 or MAE at a tie
        sitting within epsilon of a checked point).

    Examples
    --------
    >>> errors = fastnn.gradient_check(model, X[:16], y[:16])
    >>> assert max(errors.values()) < 1e-5
    """
    from fastnn.models.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a fastnn Sequential, got {type(model).__name__}")
    if not model.compiled:
        raise ValueError("model: compile it with a loss before gradient_check")
    for value, name in ((epsilon, "epsilon"), (atol, "atol")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{name}: expected a float in (0, 1), got {value!r}")
    if max_checks is not None:
        max_checks = check_int(max_checks, "max_checks")
    X, targets, shape = model._check_data(x, y)
    if len(X) == 0:
        raise ValueError("x: expected at least one sample, got 0 rows")
    model._build_for(shape)

    clone = Sequential.from_config({**model.get_config(), "dtype": "float64"})
    clone.compile(optimizer="sgd", loss=model.loss)  # never stepped
    clone.build((None,) + shape)
    clone.set_weights([w.astype(np.float64) for w in model.get_weights()])
    # a scipy.sparse batch is small here: check it through the dense float64 path
    x64 = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    random_states = [(layer, layer.random_state()) for layer in clone.layers]
    state0 = clone.state_arena.copy()

    def loss_and_grads():
        # The same masks and statistics for every evaluation: replay the random
        # streams and put back the moving statistics a training forward updates.
        for layer, st in random_states:
            layer.set_random_state(st)
        clone.state_arena[...] = state0
        return clone.compute_gradients(x64, y, sample_weight=sample_weight)

    _, grads = loss_and_grads()
    analytic = [g.copy() for g in grads]
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    views = iter(zip(clone._param_views, analytic))
    for layer in clone.layers:
        for _ in layer.param_specs():
            w, a = next(views)
            flat_w, flat_a = w.reshape(-1), a.reshape(-1)
            idx = np.arange(flat_w.size)
            if max_checks is not None and max_checks < flat_w.size:
                idx = np.sort(rng.choice(flat_w.size, max_checks, replace=False))
            worst = errors.get(layer.name, 0.0)
            for i in idx:
                keep = flat_w[i]
                flat_w[i] = keep + epsilon
                plus = loss_and_grads()[0]
                flat_w[i] = keep - epsilon
                minus = loss_and_grads()[0]
                flat_w[i] = keep
                numeric = (plus - minus) / (2 * epsilon)
                err = abs(flat_a[i] - numeric) / max(abs(flat_a[i]), abs(numeric), atol)
                worst = max(worst, float(err))
            errors[layer.name] = worst
    return errors
