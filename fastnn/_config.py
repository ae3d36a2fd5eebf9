"""Keras-style config dicts of small objects: {"class_name": ..., "config": {...}}.

Initializers, regularizers and constraints share these two functions; each module
keeps its own registry of classes and its own `get`.
"""
from __future__ import annotations

from typing import Any

# Keras also writes "module" and "registered_name": accepted and ignored.
_DICT_KEYS = frozenset({"class_name", "config", "module", "registered_name"})


def serialize_object(obj: Any, base: type, argument: str) -> dict[str, Any]:
    """{"class_name": type(obj).__name__, "config": obj.get_config()} for an instance of base."""
    if not isinstance(obj, base):
        raise ValueError(f"{argument}: expected an instance of {base.__name__}, got {obj!r}")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize_object(config: Any, classes: dict[str, type], argument: str) -> Any:
    """The object a serialize_object() dict describes, from the classes named in `classes`.

    Raises
    ------
    ValueError
        Naming `argument`, for an unknown class, a malformed dict or a config the
        class refuses (an unknown keyword or a bad value).
    """
    if (not isinstance(config, dict) or set(config) - _DICT_KEYS
            or config.get("class_name") not in classes):
        raise ValueError(f"{argument}: expected a dict {{'class_name': one of {sorted(classes)}, "
                         f"'config': {{...}}}}, got {config!r}")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ValueError(f"{argument}: expected 'config' to be a dict, got {inner!r}")
    try:
        return classes[config["class_name"]].from_config(inner)
    except (TypeError, ValueError) as exc:  # an unknown keyword or a bad value in the config
        raise ValueError(f"{argument}: bad config for {config['class_name']}: {exc}") from None


class Configurable:
    """Base of the small objects rebuilt from their constructor arguments: `get_config`
    returns them, `from_config` calls the constructor, and repr, equality and hashing
    follow the config."""

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """A new object from the output of get_config()."""
        if not isinstance(config, dict):
            raise ValueError(f"config: expected a dict, got {type(config).__name__}")
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))
