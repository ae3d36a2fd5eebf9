"""Optimizers over flat parameter arenas: one fused kernel call per step.

Every optimizer takes Keras 3's common arguments (weight_decay, clipnorm,
clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency) and
a float or schedule learning rate; see `Optimizer`.
"""
from __future__ import annotations

from typing import Any

from fastnn.optimizers.adadelta import Adadelta
from fastnn.optimizers.adagrad import Adagrad
from fastnn.optimizers.adam import Adam, AdamW
from fastnn.optimizers.adamax import Adamax
from fastnn.optimizers.base import Optimizer
from fastnn.optimizers.ftrl import Ftrl
from fastnn.optimizers.lion import Lion
from fastnn.optimizers.nadam import Nadam
from fastnn.optimizers.radam import RAdam
from fastnn.optimizers.rmsprop import RMSprop
from fastnn.optimizers.sgd import SGD

_CLASSES = [SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, Adamax, Nadam, RAdam, Lion, Ftrl]
_ALIASES = {cls.__name__.lower(): cls for cls in _CLASSES}


def get(optimizer: "str | Optimizer") -> Optimizer:
    """An Optimizer from a name ("sgd", "adam", "adamw", "rmsprop", ...) or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _ALIASES:
        return _ALIASES[optimizer.lower()]()
    raise ValueError(f"optimizer: expected an Optimizer or one of {sorted(_ALIASES)}, got {optimizer!r}")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """{"class_name": ..., "config": optimizer.get_config()} (no state; see get_state)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """The optimizer of a serialize() dict (fastnn's own classes)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"config: expected a dict with 'class_name' and 'config', got {config!r}")
    cls = {c.__name__: c for c in _CLASSES}.get(config["class_name"])
    if cls is None:
        raise ValueError(f"config: unknown optimizer class {config['class_name']!r}; expected one of "
                         f"{sorted(c.__name__ for c in _CLASSES)}")
    return cls.from_config(config.get("config", {}))


__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam",
           "RAdam", "Lion", "Ftrl", "get", "serialize", "deserialize"]
