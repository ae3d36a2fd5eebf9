"""The Layer base class: what a model asks of every layer.

A layer declares its parameters (names and shapes); the model allocates them
as views into its flat parameter arena (and the gradients into the gradient
arena) and hands them back through `bind`. Non-trainable variables (moving
statistics, adapted means) live in a third arena, the state arena, handed back
through `bind_state`. Activation buffers are allocated once per capacity (the
largest batch seen) and reused: a step allocates nothing.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Layer:
    """Base class of fastnn layers.

    Subclasses implement `build`, `param_specs`, `forward`, `backward` and
    `get_config`; the hooks below are no-ops for layers without parameters.
    """

    #: True when the layer acts element by element, so that it may come before a
    #: Flatten on N-D input (Dropout, GaussianNoise, most activations).
    elementwise = False

    _counter: dict[str, int] = {}

    def __init__(self, name: str | None = None):
        if name is None:
            base = type(self).__name__.lower()
            Layer._counter[base] = Layer._counter.get(base, 0) + 1
            name = base if Layer._counter[base] == 1 else f"{base}_{Layer._counter[base] - 1}"
        if not isinstance(name, str):
            raise TypeError(f"name: expected a string, got {name!r}")
        self.name = name
        self.built = False
        self.input_dim: int | None = None
        self.output_dim: int | None = None
        self.dtype: np.dtype | None = None

    # -- construction -------------------------------------------------------------------
    def build(self, input_dim: int, dtype: np.dtype) -> None:
        """Fix the input width and dtype; sets output_dim."""
        self.input_dim, self.output_dim, self.dtype = input_dim, input_dim, dtype
        self.built = True

    def param_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each parameter, in get_weights order."""
        return []

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each non-trainable variable; get_weights lists them after
        the layer's parameters, as Keras does."""
        return []

    def initial_values(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Initial values of the parameters, in param_specs order.

        Called once when the model is built, for every layer, with the model's
        seeded generator: a layer that needs a seed of its own draws it here.
        """
        return []

    def initial_state(self) -> list[np.ndarray]:
        """Initial values of the non-trainable variables, in state_specs order."""
        return []

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Receive the arena views of the parameters and of their gradients."""

    def bind_state(self, state: list[np.ndarray]) -> None:
        """Receive the state-arena views of the non-trainable variables."""

    def allocate(self, capacity: int, need_dx: bool) -> None:
        """Allocate activation buffers for batches of up to `capacity` rows."""

    # -- computation --------------------------------------------------------------------
    def forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        """Compute the output of the first n rows of x; returns the output buffer."""
        return x

    def backward(self, dout: np.ndarray, n: int, need_dx: bool) -> np.ndarray | None:
        """Gradients of the parameters (into the gradient arena) and, when
        need_dx, of the input; `dout` may be overwritten."""
        return dout

    #: True when penalty() may be non-zero (the model asks only those layers).
    has_penalty = False
    #: True when apply_constraints() does something (the model calls only those layers).
    has_constraints = False

    def penalty(self) -> float:
        """Regularization loss computed by the last backward pass (training)."""
        return 0.0

    def weight_penalty(self) -> float:
        """Regularization loss of the current weights (what evaluate adds)."""
        return 0.0

    def random_state(self) -> Any:
        """Where the layer's random stream stands (None for deterministic layers);
        set_random_state(random_state()) replays the same masks or noise."""
        return None

    def set_random_state(self, state: Any) -> None:
        """Rewind the random stream to a value from random_state()."""

    def fuse_activation(self, spec: Any) -> bool:
        """Take over the activation of the `Activation` layer that follows (the model
        asks at build time): apply it inside this layer's own passes, which saves one
        pass over the batch each way. Returns whether it did; None undoes it."""
        return False

    def fuse_dropout(self, layer: Any) -> bool:
        """Take over the `Dropout` layer that follows (after a fused activation, if
        any): apply its mask in this layer's own passes. Returns whether it did;
        None undoes it."""
        return False

    def apply_constraints(self) -> None:
        """Project the parameters after an optimizer step (kernel constraints)."""

    # -- configuration ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-ready dict (subclasses add their own)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        """A new layer from the dict `get_config` returned."""
        return cls(**config)

    def count_params(self) -> int:
        """Number of scalars in the parameters and the non-trainable variables (as Keras counts)."""
        return int(sum(np.prod(shape) for _, shape in self.param_specs() + self.state_specs()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
