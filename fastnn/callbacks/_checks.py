"""Argument checks and monitor helpers shared by the callbacks."""
from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np


def _check_count(value: Any, name: str) -> int:
    """An integer >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    return int(value)


def _check_number(value: Any, name: str, minimum: float | None = 0.0, allow_none: bool = False) -> float | None:
    """A finite real number >= minimum (None when allowed; bools refused)."""
    if value is None and allow_none:
        return None
    is_real = (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_numpy_real(value)
    if not is_real or not math.isfinite(float(value)) or (minimum is not None and float(value) < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"{name}: expected a finite number{bound}, got {value!r}")
    return float(value)


def _is_numpy_real(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("f", "i", "u") and getattr(value, "ndim", 1) == 0


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return value


def _check_monitor(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"monitor: expected the name of a logged quantity such as 'val_loss', got {value!r}")
    return value


def _check_mode(value: Any) -> str:
    if value not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {value!r}")
    return value


def _check_path(value: Any, name: str) -> str:
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path:
        raise ValueError(f"{name}: expected a non-empty path, got {value!r}")
    return path


# Quantities that improve downwards / upwards, for mode="auto" (after removing "val_").
_MIN_NAMES = {"loss", "mae", "mse", "rmse", "msle", "mape", "hinge", "squared_hinge", "poisson",
              "kl_divergence", "kld", "log_cosh", "logcosh", "huber"}
_MIN_WORDS = ("loss", "error", "crossentropy")
_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "top_k")


def monitor_direction(monitor: str, mode: str, model: Any = None) -> str:
    """"min" or "max": whether `monitor` improves by going down or up.

    ``mode`` "min" / "max" decide; "auto" reads the name without its ``"val_"``
    prefix: a metric object of the model with that name and a ``direction``
    (or Keras's ``_direction``) of "up" / "down" decides first; then losses,
    errors and cross-entropies go down, and accuracies, AUC, precision, recall,
    F1, R2 go up. Anything else raises ValueError (as Keras does): pass mode.
    """
    if mode != "auto":
        return mode
    base = monitor[4:] if monitor.startswith("val_") else monitor
    for metric in getattr(model, "metrics", None) or []:
        if getattr(metric, "name", None) == base:
            direction = getattr(metric, "direction", None) or getattr(metric, "_direction", None)
            if direction in ("up", "max"):
                return "max"
            if direction in ("down", "min"):
                return "min"
    if base in _MIN_NAMES or any(word in base for word in _MIN_WORDS):
        return "min"
    if any(word in base for word in _MAX_WORDS):
        return "max"
    raise ValueError(f"mode: cannot tell whether monitor={monitor!r} should be minimized or maximized; "
                     "pass mode='min' or mode='max'")


def _warn_missing(who: str, monitor: str, logs: dict) -> None:
    warnings.warn(f"{who} is conditioned on {monitor!r}, which is not in the logs; available: "
                  f"{', '.join(logs) or 'none'}", stacklevel=3)


def current_learning_rate(model: Any) -> float:
    """The learning rate the model's optimizer uses next, as a float (reads
    ``optimizer.current_learning_rate`` when it exists, else evaluates a schedule
    at the optimizer's step, else ``optimizer.learning_rate``)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError("model: the optimizer has no learning_rate (compile the model first)")
    current = getattr(opt, "current_learning_rate", None)
    if current is not None:
        return float(current() if callable(current) else current)
    rate = opt.learning_rate
    if callable(rate):
        return float(rate(getattr(opt, "iterations", 0)))
    return float(rate)


def _improved(direction: str, current: float, reference: float, min_delta: float) -> bool:
    """current beats reference by more than min_delta in the direction."""
    if direction == "min":
        return current + min_delta < reference
    return current - min_delta > reference


def _all_finite(arr) -> bool:
    """No NaN or infinity in a weight array (TerminateOnNaN's fallback check)."""
    return bool(np.isfinite(arr).all())
