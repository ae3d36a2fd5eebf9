"""Sequential: a stack of layers over one flat parameter arena.

All trainable parameters live in one contiguous 1-D array (`param_arena`);
each layer's kernel and bias are reshaped views into it, and the gradients
live in a second arena with the same layout, so one optimizer kernel call
updates everything. Activation, batch and gradient buffers are sized for the
largest batch seen and reused: a training step allocates nothing.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from fastnn import losses as losses_mod
from fastnn import ops
from fastnn import optimizers as optimizers_mod
from fastnn._validation import as_float_array, check_int
from fastnn.callbacks import Callback, History, ProgbarLogger
from fastnn.layers.base import Layer
from fastnn.layers.input import Input

# Parameter views start on 64-byte boundaries (16 float32) so that SIMD loads
# inside the BLAS and the kernels are aligned; the gaps stay zero forever.
_ALIGN = 16
# Rows per chunk for predict/evaluate when batch_size is None.
_INFERENCE_CHUNK = 1024
_METRICS = {"accuracy": "accuracy", "acc": "accuracy"}


def _overrides(cb: Callback, hook: str) -> bool:
    return getattr(type(cb), hook) is not getattr(Callback, hook)


class Sequential:
    """A linear stack of layers, trained with fused Cython kernels.

    Parameters
    ----------
    layers : sequence of Layer, optional
        The layers, first to last; an `Input` first fixes the input width.
    seed : int, optional
        Seeds weight initialization and shuffling: the same seed (and thread
        count) gives bit-identical training.
    dtype : {"float32", "float64"}
        Dtype of parameters and computations.
    name : str, optional

    Examples
    --------
    >>> model = Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)], seed=0)
    >>> model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    >>> history = model.fit(X, y, epochs=2, batch_size=128)
    """

    def __init__(self, layers: Sequence[Layer] | None = None, seed: int | None = None,
                 dtype: str = "float32", name: str | None = None):
        if dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
        if seed is not None:
            check_int(seed, "seed", minimum=0)
        self.dtype = np.dtype(dtype)
        self.seed = seed
        self.name = name or "sequential"
        self._layers: list[Layer] = []
        self._stack: list[Layer] = []
        self.built = False
        self.optimizer = self.loss = None
        self.metrics: list[str] = []
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._capacity = 0
        self._ybuf: np.ndarray | None = None
        seeds = np.random.SeedSequence(seed).spawn(2)
        self._init_rng = np.random.default_rng(seeds[0])
        self._shuffle_rng = np.random.default_rng(seeds[1])
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The layers (without the Input placeholder)."""
        return self._stack

    def add(self, layer: Layer) -> None:
        """Append a layer (before the model is built)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a fastnn Layer, got {type(layer).__name__}")
        if self.built:
            raise ValueError(f"layer: cannot add {layer.name!r} to a model that is already built")
        if isinstance(layer, Input) and self._layers:
            raise ValueError("layer: an Input may only be the first layer")
        if any(l is layer for l in self._layers):
            raise ValueError(f"layer: {layer.name!r} is already in this model")
        self._layers.append(layer)
        # Cached: the training loop walks this list every step.
        self._stack = [l for l in self._layers if not isinstance(l, Input)]

    @property
    def input_dim(self) -> int | None:
        if self._layers and isinstance(self._layers[0], Input):
            return self._layers[0].shape[0]
        return self.layers[0].input_dim if self.built else None

    def build(self, input_shape: int | tuple) -> None:
        """Create the parameters for inputs of shape (None, n_features)."""
        n_in = self._parse_input_shape(input_shape)
        if self.built:
            if n_in != self.input_dim:
                raise ValueError(f"input_shape: model is built for {self.input_dim} features, got {n_in}")
            return
        if not self.layers:
            raise ValueError("layers: cannot build a model with no layers")
        dim = n_in
        for layer in self.layers:
            layer.build(dim, self.dtype)
            dim = layer.output_dim
        self._make_arenas()
        self.built = True

    def _parse_input_shape(self, input_shape) -> int:
        shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else tuple(input_shape)
        if len(shape) == 2 and shape[0] is None:
            shape = shape[1:]
        if len(shape) != 1 or isinstance(shape[0], bool) or not isinstance(shape[0], (int, np.integer)) \
                or shape[0] < 1:
            raise ValueError(f"input_shape: expected (None, n_features) with n_features >= 1, "
                             f"got {input_shape!r}")
        n_in = int(shape[0])
        declared = self.input_dim
        if declared is not None and declared != n_in:
            raise ValueError(f"input_shape: the model's Input declares {declared} features, got {n_in}")
        return n_in

    def _make_arenas(self) -> None:
        specs, offset = [], 0
        for layer in self.layers:
            for _, shape in layer.param_specs():
                size = int(np.prod(shape))
                specs.append((layer, shape, offset, size))
                offset += -(-size // _ALIGN) * _ALIGN
        self.param_arena = np.zeros(offset, self.dtype)
        self.grad_arena = np.zeros(offset, self.dtype)
        self._param_views, self._grad_views = [], []
        for layer in self.layers:
            mine = [s for s in specs if s[0] is layer]
            p = [self.param_arena[o:o + n].reshape(shape) for _, shape, o, n in mine]
            g = [self.grad_arena[o:o + n].reshape(shape) for _, shape, o, n in mine]
            for view, value in zip(p, layer.initial_values(self._init_rng)):
                view[...] = value
            layer.bind(p, g)
            self._param_views += p
            self._grad_views += g

    def _output_dim(self, n_in: int) -> int:
        """Output width for n_in inputs, without building (validation must not change state)."""
        if self.built:
            return self.layers[-1].output_dim
        dim = n_in
        for layer in self.layers:
            dim = getattr(layer, "units", dim)
        return dim

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print the layers, their output shapes and parameter counts."""
        self._require_built("summary")
        rows = [(f"{l.name} ({type(l).__name__})", f"(None, {l.output_dim})", f"{l.count_params():,}")
                for l in self.layers]
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "-" * (sum(w) + 6)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(f"{'Layer (type)':<{w[0]}}   {'Output Shape':<{w[1]}}   {'Param #':>{w[2]}}")
        print_fn(line)
        for r in rows:
            print_fn(f"{r[0]:<{w[0]}}   {r[1]:<{w[1]}}   {r[2]:>{w[2]}}")
        print_fn(line)
        print_fn(f"Total params: {self.count_params():,} ({self.count_params() * self.dtype.itemsize:,} bytes)")

    # -- weights -----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters, [W (in, out), b, ...] layer by layer, like Keras."""
        self._require_built("get_weights")
        return [v.copy() for v in self._param_views]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set all parameters from a list shaped like get_weights() (checked before any copy)."""
        self._require_built("set_weights")
        self._copy_into(weights, self._param_views, "weights")

    def _copy_into(self, arrays: Sequence[Any], views: list[np.ndarray], name: str) -> None:
        """Copy a list of arrays into arena views, all checked before the first copy."""
        arrays = list(arrays)
        if len(arrays) != len(views):
            raise ValueError(f"{name}: expected {len(views)} arrays, got {len(arrays)}")
        checked = []
        for i, (a, view) in enumerate(zip(arrays, views)):
            arr = as_float_array(a, f"{name}[{i}]", ndim=view.ndim, dtype=self.dtype)
            if arr.shape != view.shape:
                raise ValueError(f"{name}[{i}]: expected shape {view.shape}, got {arr.shape}")
            checked.append(arr)
        for arr, view in zip(checked, views):
            view[...] = arr

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer: str | optimizers_mod.Optimizer = "adam",
                loss: str | losses_mod.Loss | None = None, metrics: Sequence[str] | None = None) -> None:
        """Choose the optimizer, the loss and the metrics ("accuracy").

        Strings are accepted: optimizer "adam" / "sgd"; loss "softmax_cross_entropy",
        "mse". With softmax cross-entropy, leave the last layer linear (logits).
        """
        opt = optimizers_mod.get(optimizer)
        if loss is None:
            raise ValueError("loss: expected a loss name or Loss, got None")
        loss_obj = losses_mod.get(loss)
        names = []
        for m in metrics or []:
            if m not in _METRICS:
                raise ValueError(f"metrics: expected names from {sorted(_METRICS)}, got {m!r}")
            if _METRICS[m] == "accuracy" and not loss_obj.counts_correct:
                raise ValueError(f"metrics: 'accuracy' needs a classification loss, got loss {loss_obj.name!r}")
            names.append(_METRICS[m])
        last = self.layers[-1] if self.layers else None
        if isinstance(loss_obj, losses_mod.SoftmaxCrossEntropy) and getattr(last, "activation", None) == "softmax":
            raise ValueError("loss: 'softmax_cross_entropy' takes logits but the last layer applies softmax; "
                             "use Dense(units) with no activation (predict still returns probabilities)")
        self.optimizer, self.loss, self.metrics = opt, loss_obj, names
        self.compiled = True

    # -- buffers -----------------------------------------------------------------------------
    def _ensure_capacity(self, rows: int) -> None:
        """Activation and batch buffers for up to `rows` rows (grown, never shrunk)."""
        if rows <= self._capacity:
            return
        for i, layer in enumerate(self.layers):
            layer.allocate(rows, need_dx=i > 0)
        self._xbuf = np.empty((rows, self.input_dim), self.dtype)
        self._gbuf = np.empty((rows, self.layers[-1].output_dim), self.dtype)
        self._ybuf = None
        self._capacity = rows

    def _target_buffer(self, targets: np.ndarray) -> np.ndarray:
        shape = (self._capacity,) + targets.shape[1:]
        if self._ybuf is None or self._ybuf.shape != shape or self._ybuf.dtype != targets.dtype:
            self._ybuf = np.empty(shape, targets.dtype)
        return self._ybuf

    # -- the step ----------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, n, training)
        return x

    def _backward(self, n: int) -> None:
        d = self._gbuf
        layers = self.layers
        for i in range(len(layers) - 1, -1, -1):
            d = layers[i].backward(d, n, need_dx=i > 0)

    def _loss_and_grads(self, ybuf: np.ndarray, n: int) -> tuple[float, int]:
        out = self._forward(self._xbuf, n, training=True)
        loss, correct = self.loss.value_and_grad(out, ybuf, self._gbuf, n)
        self._backward(n)
        return loss, correct

    def _train_step(self, ybuf: np.ndarray, n: int) -> tuple[float, int]:
        loss, correct = self._loss_and_grads(ybuf, n)
        self._apply_arena()
        return loss, correct

    def _apply_arena(self) -> None:
        """One optimizer kernel call over the whole gradient and parameter arenas."""
        opt = self.optimizer
        if opt._state is None or opt._shapes != [(self.param_arena.shape, self.dtype)]:
            opt.build(self.param_arena)  # first step, or the optimizer came from another model
        opt._apply_flat([self.grad_arena], [self.param_arena])

    # -- validation --------------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if not self.built and self.input_dim is not None and self.layers:
            self.build((None, self.input_dim))  # an Input layer fixes the shape: build now
        if not self.built:
            raise ValueError(f"model: call build((None, n_features)) or fit() before {what}()")

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise ValueError(f"model: call compile(optimizer=..., loss=...) before {what}()")

    def _check_x(self, x: Any, xname: str = "x") -> np.ndarray:
        """Validated feature matrix in the model dtype; builds nothing."""
        if not self.layers:
            raise ValueError("layers: the model has no layers")
        X = as_float_array(x, xname, ndim=2, dtype=self.dtype, n_cols=self.input_dim)
        if X.shape[1] == 0:
            raise ValueError(f"{xname}: expected at least one feature column, got shape {X.shape}")
        return X

    def _check_data(self, x: Any, y: Any, xname: str = "x", yname: str = "y"):
        """Validated (X, targets) in the model dtype; builds nothing."""
        X = self._check_x(x, xname)
        targets = self.loss.check_targets(y, self._output_dim(X.shape[1]), self.dtype, yname)
        if len(targets) != len(X):
            raise ValueError(f"{yname}: has {len(targets)} rows but {xname} has {len(X)}")
        return X, targets

    # -- training ----------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            validation_data: tuple | None = None, verbose: int = 1,
            callbacks: Sequence[Callback] | None = None) -> History:
        """Train for `epochs` passes over (x, y) in mini-batches.

        Parameters
        ----------
        x : array-like (n, n_features)
        y : targets: integer labels (n,) or one-hot (n, classes) for cross-entropy;
            (n, outputs) or (n,) values for regression
        epochs, batch_size : int >= 1
        shuffle : bool
            Reshuffle the rows every epoch (seeded by the model's seed).
        validation_data : (x_val, y_val), optional
            Evaluated after each epoch; logged as val_loss, val_<metric>.
        verbose : 0 silent, 1 progress bar, 2 one line per epoch
        callbacks : list of Callback

        Returns
        -------
        History with per-epoch "loss", metrics and their "val_" counterparts.
        """
        self._require_compiled("fit")
        epochs = check_int(epochs, "epochs")
        batch_size = check_int(batch_size, "batch_size")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        X, targets = self._check_data(x, y)
        if len(X) == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data: expected a tuple (x_val, y_val)")
            val = self._check_data(*validation_data, xname="validation_data[0]", yname="validation_data[1]")
            if len(val[0]) == 0:
                raise ValueError("validation_data[0]: expected at least one sample, got 0 rows")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected Callback instances, got {type(cb).__name__}")

        self.build((None, X.shape[1]))
        n = len(X)
        batch_size = min(batch_size, n)
        self._ensure_capacity(batch_size)
        ybuf = self._target_buffer(targets)
        steps = -(-n // batch_size)
        history = History()
        cbs = [history] + callbacks + ([ProgbarLogger(verbose)] if verbose else [])
        params = {"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size, "verbose": verbose}
        for cb in cbs:
            cb.set_model(self)
            cb.set_params(params)
        batch_cbs = [cb for cb in cbs if _overrides(cb, "on_train_batch_end") and cb.needs_batch_logs]
        begin_cbs = [cb for cb in cbs if _overrides(cb, "on_train_batch_begin")]
        self.stop_training = False
        self.history = history
        for cb in cbs:
            cb.on_train_begin()
        order = np.arange(n, dtype=np.int64)
        for epoch in range(epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            if shuffle:
                order = self._shuffle_rng.permutation(n).astype(np.int64, copy=False)
            loss_sum, correct, seen = 0.0, 0, 0
            for step in range(steps):
                start = step * batch_size
                stop = min(start + batch_size, n)
                nb = stop - start
                for cb in begin_cbs:
                    cb.on_train_batch_begin(step)
                ops.gather_rows(X, order, start, stop, self._xbuf)
                ops.gather_rows(targets, order, start, stop, ybuf)
                loss, c = self._train_step(ybuf, nb)
                loss_sum += loss * nb
                correct += c
                seen += nb
                if batch_cbs:
                    logs = self._logs(loss_sum, correct, seen)
                    for cb in batch_cbs:
                        cb.on_train_batch_end(step, logs)
            logs = self._logs(loss_sum, correct, seen)
            if val is not None:
                for k, v in self._evaluate_arrays(*val, _INFERENCE_CHUNK).items():
                    logs["val_" + k] = v
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    def _logs(self, loss_sum: float, correct: int, seen: int) -> dict[str, float]:
        logs = {"loss": loss_sum / seen}
        if "accuracy" in self.metrics:
            logs["accuracy"] = correct / seen
        return logs

    def train_on_batch(self, x: Any, y: Any, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch
        computed before the update: a float, [loss, metrics...] or a dict."""
        loss, correct, n = self._batch_loss_and_grads(x, y, "train_on_batch")
        self._apply_arena()
        logs = self._logs(loss * n, correct, n)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def compute_gradients(self, x: Any, y: Any) -> tuple[float, list[np.ndarray]]:
        """Loss of one batch and the gradients of every parameter (low-level path).

        Returns (loss, grads) with grads ordered like get_weights(). The arrays are
        views into the model's gradient arena, overwritten by the next call: copy
        them to keep them. Pass them (or modified copies) to apply_gradients.
        """
        loss, _, _ = self._batch_loss_and_grads(x, y, "compute_gradients")
        return loss, list(self._grad_views)

    def apply_gradients(self, grads: Sequence[np.ndarray]) -> None:
        """One optimizer step from gradients ordered like get_weights()."""
        self._require_compiled("apply_gradients")
        self._require_built("apply_gradients")
        grads = list(grads)
        # The views compute_gradients returned are the arena itself: nothing to copy.
        if len(grads) != len(self._grad_views) or not all(g is v for g, v in zip(grads, self._grad_views)):
            self._copy_into(grads, self._grad_views, "grads")
        self._apply_arena()

    def _batch_loss_and_grads(self, x: Any, y: Any, what: str) -> tuple[float, int, int]:
        """Validate one batch, copy it into the batch buffers, run forward and backward."""
        self._require_compiled(what)
        X, targets = self._check_data(x, y)
        n = len(X)
        if n == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        self.build((None, X.shape[1]))
        self._ensure_capacity(n)
        ybuf = self._target_buffer(targets)
        self._xbuf[:n] = X
        ybuf[:n] = targets
        loss, correct = self._loss_and_grads(ybuf, n)
        return loss, correct, n

    # -- inference ---------------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Outputs for x: class probabilities for a cross-entropy model, raw values otherwise."""
        X = self._check_x(x)
        self.build((None, X.shape[1]))
        chunk = self._chunk(batch_size, len(X))
        out = np.empty((len(X), self.layers[-1].output_dim), self.dtype)
        self._ensure_capacity(chunk)
        for start in range(0, len(X), chunk):
            stop = min(start + chunk, len(X))
            y = self._forward(X[start:stop], stop - start, training=False)
            out[start:stop] = y[:stop - start]
        if self.loss is not None:
            self.loss.transform_output(out, len(out))
        return out

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None, verbose: int = 0) -> dict[str, float]:
        """Mean loss and metrics over (x, y) in inference mode: {"loss": ..., "accuracy": ...}."""
        self._require_compiled("evaluate")
        X, targets = self._check_data(x, y)
        if len(X) == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        self.build((None, X.shape[1]))
        return self._evaluate_arrays(X, targets, self._chunk(batch_size, len(X)))

    def _evaluate_arrays(self, X: np.ndarray, targets: np.ndarray, chunk: int) -> dict[str, float]:
        chunk = min(chunk, len(X))
        self._ensure_capacity(chunk)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(X), chunk):
            stop = min(start + chunk, len(X))
            out = self._forward(X[start:stop], stop - start, training=False)
            loss, c = self.loss.value_and_grad(out, targets[start:stop], None, stop - start)
            loss_sum += loss * (stop - start)
            correct += c
        return self._logs(loss_sum, correct, len(X))

    @staticmethod
    def _chunk(batch_size: int | None, n: int) -> int:
        if batch_size is None:
            return max(1, min(n, _INFERENCE_CHUNK))
        return min(check_int(batch_size, "batch_size"), max(n, 1))

    # -- config ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self._layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        from fastnn import layers as layers_mod
        built = []
        for spec in config["layers"]:
            layer_cls = getattr(layers_mod, spec["class_name"], None)
            if layer_cls is None:
                raise ValueError(f"config: unknown layer class {spec['class_name']!r}")
            built.append(layer_cls.from_config(spec["config"]))
        return cls(built, seed=config.get("seed"), dtype=config.get("dtype", "float32"),
                   name=config.get("name"))
