"""Optimizers over flat parameter arenas: one kernel call per step."""
from __future__ import annotations

from fastnn.optimizers.adam import Adam
from fastnn.optimizers.base import Optimizer
from fastnn.optimizers.sgd import SGD

_ALIASES = {"sgd": SGD, "adam": Adam}


def get(optimizer: "str | Optimizer") -> Optimizer:
    """An Optimizer from a name ("sgd", "adam") or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _ALIASES:
        return _ALIASES[optimizer.lower()]()
    raise ValueError(f"optimizer: expected an Optimizer or one of {sorted(_ALIASES)}, got {optimizer!r}")


__all__ = ["Optimizer", "SGD", "Adam", "get"]
