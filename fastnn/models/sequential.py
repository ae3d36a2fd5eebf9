"""Sequential: a stack of layers over one flat parameter arena.

All trainable parameters live in one contiguous 1-D array (`param_arena`);
each layer's kernel and bias are reshaped views into it, and the gradients
live in a second arena with the same layout, so one optimizer kernel call
updates everything. Activation, batch and gradient buffers are sized for the
largest batch seen and reused: a training step allocates nothing.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from fastnn import losses as losses_mod
from fastnn import metrics as metrics_mod
from fastnn import ops
from fastnn import optimizers as optimizers_mod
from fastnn._guard import ModelLock, StepGuard
from fastnn._validation import as_float_array, as_ndarray, check_int
from fastnn.callbacks import Callback, History, ProgbarLogger
from fastnn.layers.activation import Activation
from fastnn.layers.base import Layer
from fastnn.layers.dense import Dense
from fastnn.layers.dropout import Dropout
from fastnn.layers.gaussian_noise import GaussianNoise
from fastnn.layers.input import Input, check_shape

# Parameter views start on 64-byte boundaries (16 float32) so that SIMD loads
# inside the BLAS and the kernels are aligned; the gaps stay zero forever.
_ALIGN = 16
# Rows per chunk for predict/evaluate when batch_size is None.
_INFERENCE_CHUNK = 1024
# predict() of up to this many rows runs as one DenseChain call (see _predict_few).
_LATENCY_ROWS = 8
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

    Attributes
    ----------
    zero_skipping : {"auto", "always", "never"}
        How inputs reach the first Dense layer. scipy.sparse inputs (CSR; COO, CSC and
        the other formats are converted with ``tocsr()``) run the zero-skipping kernels
        unless "never" (then each batch is made dense). Dense inputs run them when
        "always", or with "auto" (the default) when their fraction of nonzeros is below
        the threshold measured for the batch size (`fastnn.ops.zero_skip_pays`; batches
        of 8 rows or more only at one thread, where the measurement was made).
        Results equal the dense path's to rounding.

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
        self._metric_objs: list[Any] = []  # Metric objects, in compile order (not "accuracy")
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        # A copy of the state arena taken before each step while a callback asks for
        # non-finite steps to be skipped (TerminateOnNaN); None otherwise.
        self._state_backup: np.ndarray | None = None
        self._param_backup: np.ndarray | None = None  # the parameters, likewise
        self._capacity = 0
        self._sample_shape: tuple[int, ...] | None = None
        self._ybuf: np.ndarray | None = None
        self._wbuf: np.ndarray | None = None
        self._csrbuf: ops.CSRBatchBuffer | None = None
        self._zero_skipping = "auto"
        # predict's latency path (see _predict_few): an ops.DenseChain, None until first
        # needed, False when the model has a layer it cannot run; dropped by build()
        # and compile().
        self._chain: Any = None
        # The training passes of a plain Dense stack (see _dense_step): an ops.DenseStep
        # for the buffers of _step_capacity rows, False when the model has other layers.
        self._step: Any = None
        self._step_capacity = 0
        # One user of the buffers at a time; other threads are refused while fit runs.
        self._lock = ModelLock()
        self._strategy = None  # a fastnn.distributed strategy while fit runs with one
        seeds = np.random.SeedSequence(seed).spawn(2)
        self._init_rng = np.random.default_rng(seeds[0])
        self._shuffle_rng = np.random.default_rng(seeds[1])
        for layer in layers or []:
            self.add(layer)

    def __getstate__(self) -> dict[str, Any]:
        # The latency chain holds raw pointers into this model's arrays: a copy
        # (pickle, deepcopy) makes its own on first use.
        state = self.__dict__.copy()
        state["_chain"] = state["_step"] = None
        return state

    # -- structure ---------------------------------------------------------------------------
    @property
    def zero_skipping(self) -> str:
        """How inputs reach the first Dense layer, "auto", "always" or "never" (see the class docstring)."""
        return self._zero_skipping

    @zero_skipping.setter
    def zero_skipping(self, value: str) -> None:
        if value not in ("auto", "always", "never"):
            raise ValueError(f"zero_skipping: expected 'auto', 'always' or 'never', got {value!r}")
        self._zero_skipping = value

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
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one sample, from the Input layer, build() or the first fit()."""
        if self._layers and isinstance(self._layers[0], Input):
            return self._layers[0].shape
        return self._sample_shape

    @property
    def input_dim(self) -> int | None:
        """Number of input features once a sample is flattened."""
        shape = self.input_shape
        return None if shape is None else math.prod(shape)

    def build(self, input_shape: int | tuple) -> None:
        """Create the parameters for inputs of shape (None, n_features) (or (None, d1, d2, ...)
        for a model that flattens its samples)."""
        shape = self._parse_input_shape(input_shape)
        if self.built:
            if shape != self.input_shape:
                raise ValueError(f"input_shape: model is built for samples of shape {self.input_shape}, "
                                 f"got {shape}")
            return
        if not self.layers:
            raise ValueError("layers: cannot build a model with no layers")
        self._check_flatten(shape)
        dim = int(np.prod(shape))
        for layer in self.layers:
            layer.build(dim, self.dtype)
            dim = layer.output_dim
        self._sample_shape = shape
        self._make_arenas()
        self._chain = self._step = None
        self.built = True

    def _build_for(self, shape: tuple[int, ...]) -> None:
        """build() for validated data whose samples have this shape (cheap once built)."""
        if not (self.built and shape == self._sample_shape):
            self.build((None,) + shape)

    def _parse_input_shape(self, input_shape) -> tuple[int, ...]:
        shape = input_shape
        if isinstance(shape, (tuple, list)) and len(shape) >= 2 and shape[0] is None:
            shape = tuple(shape[1:])
        shape = check_shape(shape, "input_shape")
        declared = self.input_shape
        if declared is not None and declared != shape:
            raise ValueError(f"input_shape: the model's Input declares samples of shape {declared}, got {shape}")
        return shape

    def _check_flatten(self, shape: tuple[int, ...]) -> None:
        """N-D samples need a Flatten, and only element-wise layers before it."""
        if len(shape) == 1:
            return
        for layer in self.layers:
            if getattr(layer, "flattens", False):
                return
            if not layer.elementwise:
                raise ValueError(f"input_shape: samples of shape {shape} need layers.Flatten() before "
                                 f"{layer.name!r} ({type(layer).__name__} takes feature vectors)")
        raise ValueError(f"input_shape: samples of shape {shape} need a layers.Flatten() in the model")

    def _make_arenas(self) -> None:
        """One arena for the parameters (and one for their gradients), one for the
        non-trainable state; every layer gets views into them."""
        def layout(specs_of):
            out, offset = [], 0
            for layer in self.layers:
                mine = []
                for _, shape in specs_of(layer):
                    size = int(np.prod(shape))
                    mine.append((shape, offset, size))
                    offset += -(-size // _ALIGN) * _ALIGN
                out.append(mine)
            return out, offset

        params, n_params = layout(lambda l: l.param_specs())
        states, n_state = layout(lambda l: l.state_specs())
        # Where each parameter array starts in the arena: the optimizer's segments
        # (clipnorm clips each array separately, as Keras clips each variable).
        self._param_offsets = [o for mine in params for _, o, _ in mine]
        self.param_arena = np.zeros(n_params, self.dtype)
        self.grad_arena = np.zeros(n_params, self.dtype)
        self.state_arena = np.zeros(n_state, self.dtype)
        self._param_views, self._grad_views, self._weight_views = [], [], []
        views = lambda arena, mine: [arena[o:o + n].reshape(shape) for shape, o, n in mine]
        for layer, mine, mine_state in zip(self.layers, params, states):
            p = views(self.param_arena, mine)
            g = views(self.grad_arena, mine)
            st = views(self.state_arena, mine_state)
            # initial_values is called for every layer: layers without parameters may
            # draw their own seeds (Dropout) from the model's generator here.
            for view, value in zip(p, layer.initial_values(self._init_rng)):
                view[...] = value
            for view, value in zip(st, layer.initial_state()):
                view[...] = value
            layer.bind(p, g)
            layer.bind_state(st)
            self._param_views += p
            self._grad_views += g
            self._weight_views += p + st
        self._penalized = [l for l in self.layers if getattr(l, "has_penalty", False)]
        self._plan_fusions()
        self._first_trainable = next(
            (i for i, layer in enumerate(self.layers) if layer.param_specs()), len(self.layers))
        self._constrained = [l for l in self.layers if getattr(l, "has_constraints", False)]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """Live views of the trainable parameters (the order of compute_gradients)."""
        self._require_built("trainable_weights")
        return list(self._param_views)

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """Live views of the non-trainable variables (moving statistics, adapted means)."""
        self._require_built("non_trainable_weights")
        ids = {id(v) for v in self._param_views}
        return [v for v in self._weight_views if id(v) not in ids]

    def _output_dim(self, n_in: int) -> int:
        """Output width for n_in inputs, without building (validation must not change state)."""
        if self.built:
            return self.layers[-1].output_dim
        dim = n_in
        for layer in self.layers:
            dim = getattr(layer, "units", dim)
        return dim

    def count_params(self) -> int:
        """Number of weights: trainable parameters plus non-trainable state (as Keras counts)."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print the layers, their output shapes and parameter counts."""
        self._require_built("summary")
        rows, flat = [], len(self.input_shape) == 1
        for l in self.layers:
            flat = flat or getattr(l, "flattens", False)
            out_shape = (l.output_dim,) if flat else self.input_shape
            rows.append((f"{l.name} ({type(l).__name__})", f"(None, {', '.join(map(str, out_shape))})",
                         f"{l.count_params():,}"))
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "-" * (sum(w) + 6)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(f"{'Layer (type)':<{w[0]}}   {'Output Shape':<{w[1]}}   {'Param #':>{w[2]}}")
        print_fn(line)
        for r in rows:
            print_fn(f"{r[0]:<{w[0]}}   {r[1]:<{w[1]}}   {r[2]:>{w[2]}}")
        print_fn(line)
        total, trainable = self.count_params(), sum(v.size for v in self._param_views)
        print_fn(f"Total params: {total:,} ({total * self.dtype.itemsize:,} bytes)")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")

    # -- weights -----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights layer by layer, like Keras: each layer's parameters
        ([W (in, out), b] for Dense) then its non-trainable variables (moving statistics)."""
        self._require_built("get_weights")
        return [v.copy() for v in self._weight_views]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set all weights from a list shaped like get_weights() (checked before any copy)."""
        self._require_built("set_weights")
        self._copy_into(weights, self._weight_views, "weights")

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
                loss: str | losses_mod.Loss | None = None, metrics: Sequence[Any] | None = None) -> None:
        """Choose the optimizer, the loss and the metrics.

        Strings are accepted: optimizer names ("adam", "sgd", ...), loss names
        ("softmax_cross_entropy", "mse", ...), metric names from
        `fastnn.metrics.names()` ("accuracy", "auc", "precision", "f1_score",
        "mae", "r2_score", ...) or Metric objects. With softmax cross-entropy, leave
        the last layer linear (logits).

        "accuracy" with a classification loss is counted by the loss kernel itself
        (free); other metrics see the predictions (probabilities for losses from
        logits) batch by batch and give their value at the end of each epoch (the
        per-batch logs of callbacks carry the loss and accuracy only: exact AUC is
        an epoch-level sort). As in Keras, `metrics` are not weighted by sample_weight.
        """
        opt = optimizers_mod.get(optimizer)
        if loss is None:
            raise ValueError("loss: expected a loss name or Loss, got None")
        loss_obj = losses_mod.get(loss)
        names, objects = [], []
        for m in metrics or []:
            if isinstance(m, str) and m in _METRICS:
                if not loss_obj.counts_correct:
                    raise ValueError(f"metrics: 'accuracy' needs a classification loss, got loss {loss_obj.name!r}")
                names.append(_METRICS[m])
                continue
            obj = metrics_mod.get(m, loss=loss_obj)
            if obj.name in names or obj.name == "loss":
                raise ValueError(f"metrics: two metrics would be logged as {obj.name!r}; give one a name")
            names.append(obj.name)
            objects.append(obj)
        last = self.layers[-1] if self.layers else None
        if isinstance(loss_obj, losses_mod.SoftmaxCrossEntropy) and getattr(last, "activation", None) == "softmax":
            raise ValueError("loss: 'softmax_cross_entropy' takes logits but the last layer applies softmax; "
                             "use Dense(units) with no activation (predict still returns probabilities)")
        self.optimizer, self.loss, self.metrics = opt, loss_obj, names
        self._metric_objs = objects
        self._chain = None  # its output transform follows the loss
        self.compiled = True

    def _plan_fusions(self) -> None:
        """Let a layer take over the element-wise layers after it: BatchNormalization ->
        Activation("swish") -> Dropout runs as one pass each way. Called at build,
        before buffers are allocated; results are bit-identical to separate layers."""
        for layer in self.layers:
            layer.fuse_activation(None)
            layer.fuse_dropout(None)
        owner, took_activation = None, False  # the layer the next element-wise layer may join
        for layer in self.layers:
            if isinstance(layer, Activation):
                layer.fused = (owner is not None and not took_activation
                               and owner.fuse_activation(layer.activation_spec))
                if layer.fused:
                    took_activation = True
                    continue
            elif isinstance(layer, Dropout):
                layer.fused = owner is not None and owner.fuse_dropout(layer)
                owner = None  # the mask comes last: nothing joins past a dropout
                continue
            owner, took_activation = layer, False

    # -- buffers -----------------------------------------------------------------------------
    def _ensure_capacity(self, rows: int) -> None:
        """Activation and batch buffers for up to `rows` rows (grown, never shrunk)."""
        if rows <= self._capacity:
            return
        for i, layer in enumerate(self.layers):
            layer.allocate(rows, need_dx=i > self._first_trainable)
        self._xbuf = np.empty((rows, self.input_dim), self.dtype)
        self._gbuf = np.empty((rows, self.layers[-1].output_dim), self.dtype)
        # Predictions of a batch (probabilities for losses from logits) for the metrics.
        self._pbuf = np.empty((rows, self.layers[-1].output_dim), self.dtype)
        self._ybuf = None
        self._csrbuf = None
        self._capacity = rows

    def _target_buffer(self, targets: np.ndarray) -> np.ndarray:
        shape = (self._capacity,) + targets.shape[1:]
        if self._ybuf is None or self._ybuf.shape != shape or self._ybuf.dtype != targets.dtype:
            self._ybuf = np.empty(shape, targets.dtype)
        return self._ybuf

    # -- sparse inputs ---------------------------------------------------------------------------
    def _input_mode(self, X: Any, rows: int) -> str:
        """How batches of X reach the layers: "dense" (row copies), "csr" (CSR rows into the
        first Dense layer's zero-skipping kernels), "dense_to_csr" (dense rows converted
        while gathered) or "densify" (CSR rows made dense: the first layer is no Dense)."""
        sparse_ok = isinstance(self.layers[0], Dense) and self._zero_skipping != "never"
        if isinstance(X, ops.SparseRows):
            return "csr" if sparse_ok else "densify"
        if not sparse_ok or X.size == 0:
            return "dense"
        if self._zero_skipping == "always":
            return "dense_to_csr"
        return "dense_to_csr" if ops.zero_skip_pays(X, rows) else "dense"

    def _batch_input(self, X: Any, mode: str, index: np.ndarray | None, start: int,
                     stop: int) -> Any:
        """Rows index[start:stop] (start..stop when index is None) of X in the batch
        buffers, in the form the first layer takes (see _input_mode)."""
        if mode == "dense":
            if index is None:
                return X[start:stop]  # contiguous rows: a view
            ops.gather_rows(X, index, start, stop, self._xbuf)
            return self._xbuf
        if mode == "densify":
            ops.csr_gather_dense(X, index, start, stop, self._xbuf)
            return self._xbuf
        if mode == "csr" and index is None:
            return X[start:stop]  # a view of the user's rows
        if self._csrbuf is None:
            self._csrbuf = ops.CSRBatchBuffer(self._capacity, self.input_dim, self.dtype)
        if mode == "csr":
            return self._csrbuf.gather_csr(X, index, start, stop)
        return self._csrbuf.gather_dense(X, index, start, stop)

    # -- the step ----------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, n: int, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, n, training)
        return x

    def _backward(self, n: int) -> None:
        d = self._gbuf
        layers, first = self.layers, self._first_trainable
        # Layers before the first one with parameters (Normalization, Dropout on the
        # input) need no gradient: backpropagation stops there, and the first
        # trainable layer skips its dx GEMM.
        for i in range(len(layers) - 1, first - 1, -1):
            d = layers[i].backward(d, n, need_dx=i > first)

    def _loss_value(self, out: np.ndarray, targets: np.ndarray, grad: np.ndarray | None, n: int,
                    weights: np.ndarray | None) -> tuple[float, float]:
        if weights is None:
            return self.loss.value_and_grad(out, targets, grad, n)
        return self.loss.value_and_grad(out, targets, grad, n, sample_weight=weights)

    def _loss_and_grads(self, ybuf: np.ndarray, n: int, wbuf: np.ndarray | None = None,
                        x: Any = None) -> tuple[float, float]:
        x = self._xbuf if x is None else x
        step = self._dense_step()
        if step is not None and type(x) is np.ndarray:
            # A stack of plain Dense layers: both passes in one kernel call each.
            threads = ops.get_num_threads()
            step.forward(x, n, threads)
            out = self.layers[-1]._out
            self._last_out = out
            loss, correct = self._loss_value(out, ybuf, self._gbuf, n, wbuf)
            step.backward(x, self._gbuf, n, threads)
            return loss, correct
        out = self._forward(x, n, training=True)
        self._last_out = out  # the batch's outputs, intact after backward (for metrics)
        loss, correct = self._loss_value(out, ybuf, self._gbuf, n, wbuf)
        self._backward(n)
        # Regularization penalties are computed by the layers' backward passes
        # (in the kernel that adds their gradient) and reported with the loss, as Keras does.
        for layer in self._penalized:
            loss += layer.penalty()
        return loss, correct

    def _dense_step(self) -> Any:
        """The training passes as an ops.DenseStep when every layer is a Dense with a
        built-in activation and no regularizer (else None); made for the current
        buffers, remade when they grow."""
        if self._step is not None and self._step_capacity == self._capacity:
            return self._step or None
        self._step_capacity = self._capacity
        self._step = False
        if (self._sample_shape is not None and len(self._sample_shape) == 1 and self._capacity
                and all(type(l) is Dense and not l.activation_spec.custom and not l.has_penalty
                        for l in self.layers)):
            self._step = ops.DenseStep(
                [(l.kernel, l.bias, l._out, l._z, l._dkernel, l._dbias, l._dx, l.act, l._alpha)
                 for l in self.layers], self._capacity)
        return self._step or None

    def _train_step(self, ybuf: np.ndarray, n: int, wbuf: np.ndarray | None = None,
                    x: Any = None, n_global: int | None = None) -> tuple[float, float]:
        if self._state_backup is not None:  # TerminateOnNaN: keep the last finite state
            np.copyto(self._state_backup, self.state_arena)
            np.copyto(self._param_backup, self.param_arena)
        if self._strategy is None:
            loss, correct = self._loss_and_grads(ybuf, n, wbuf, x)
        else:
            loss, correct = self._distributed_loss_and_grads(ybuf, n, wbuf, x, n_global)
        if self._state_backup is not None and not math.isfinite(loss):
            # Skip the update: the weights stay those of the last finite step (the
            # forward pass may have moved batch-norm statistics: put them back).
            np.copyto(self.state_arena, self._state_backup)
            return loss, correct
        self._apply_arena()
        if self._state_backup is not None and not ops.all_finite(self.param_arena):
            # A finite loss whose update overflowed the weights (a huge learning rate or
            # gradient): undo the update and report the step as non-finite, so that
            # TerminateOnNaN stops with the weights from before it.
            np.copyto(self.param_arena, self._param_backup)
            np.copyto(self.state_arena, self._state_backup)
            return math.nan, correct
        if self._strategy is not None:
            self._strategy.average_state(self.state_arena)
        return loss, correct

    def _distributed_loss_and_grads(self, ybuf, n: int, wbuf, x, n_global: int) -> tuple[float, float]:
        """This rank's share of a global batch of n_global rows: the global mean gradient
        in the gradient arena (one allreduce), and the global loss and correct count."""
        if n:
            loss, correct = self._loss_and_grads(ybuf, n, wbuf, x)
        else:  # an empty share of a short last batch adds nothing
            self.grad_arena.fill(0)
            loss, correct = 0.0, 0.0
        self._strategy.reduce_gradients(self.grad_arena, n, n_global)
        loss_sum, correct, _ = self._strategy.reduce_batch_sums(loss * n, correct, n)
        return loss_sum / n_global, correct

    def _apply_arena(self) -> None:
        """One optimizer kernel call over the whole gradient and parameter arenas,
        then the layers' constraints (Keras applies them after the update)."""
        opt = self.optimizer
        if opt._state is None or opt._shapes != [(self.param_arena.shape, self.dtype)]:
            self._build_optimizer()  # first step, or the optimizer came from another model
        opt._apply_flat([self.grad_arena], [self.param_arena])
        for layer in self._constrained:
            layer.apply_constraints()

    def _build_optimizer(self) -> None:
        """Build the optimizer's state for the parameter arena, one segment per
        parameter array (load_model calls this too, before restoring the state)."""
        segments = None
        if self._param_offsets:
            segments = [self._param_offsets + [self.param_arena.size]]
        self.optimizer.build([self.param_arena], segments=segments)

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Swap the optimizer's moving average of the weights in, and back out on exit.

        Needs an optimizer with ``use_ema=True`` that has made at least one step.
        Inside the block evaluate/predict (and save) see the averaged weights; on
        exit the trained weights are back, bit for bit.

        Examples
        --------
        >>> with model.ema_weights():
        ...     print(model.evaluate(X_val, y_val))
        """
        self._require_compiled("ema_weights")
        opt = self.optimizer
        if not getattr(opt, "use_ema", False):
            raise ValueError("ema_weights: the optimizer keeps no moving average; "
                             "compile with an optimizer built with use_ema=True")
        if opt._state is None:
            raise ValueError("ema_weights: the optimizer has made no step yet: there is no average")
        with opt.ema_swapped([self.param_arena]):
            yield

    # -- validation --------------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if not self.built and self.input_dim is not None and self.layers:
            self.build((None,) + self.input_shape)  # an Input layer fixes the shape: build now
        if not self.built:
            raise ValueError(f"model: call build((None, n_features)) or fit() before {what}()")

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise ValueError(f"model: call compile(optimizer=..., loss=...) before {what}()")

    def _check_x(self, x: Any, xname: str = "x") -> tuple[np.ndarray, tuple[int, ...]]:
        """Validated inputs in the model dtype as a C-contiguous (n, features) array,
        and the shape of one sample; builds nothing."""
        if not self.layers:
            raise ValueError("layers: the model has no layers")
        if isinstance(x, ops.SparseRows) or type(x).__module__.startswith("scipy.sparse"):
            return self._check_sparse_x(x, xname)
        arr = as_ndarray(x, xname)
        shape = self.input_shape
        if (shape is not None and len(shape) > 1) or (shape is None and arr.ndim > 2):
            if shape is not None and arr.shape[1:] != shape:
                raise ValueError(f"{xname}: expected samples of shape {shape}, i.e. an array of shape "
                                 f"(n, {', '.join(map(str, shape))}), got shape {arr.shape}")
            if shape is None:
                self._check_flatten(arr.shape[1:])
            X = as_float_array(arr, xname, ndim=arr.ndim, dtype=self.dtype)
        else:
            X = as_float_array(arr, xname, ndim=2, dtype=self.dtype, n_cols=self.input_dim)
        if 0 in X.shape[1:]:
            raise ValueError(f"{xname}: expected at least one feature column, got shape {X.shape}")
        # C-contiguous, so flattening each sample is a view: layers see (n, features).
        return X.reshape(len(X), math.prod(X.shape[1:])), X.shape[1:]

    def _check_sparse_x(self, x: Any, xname: str) -> tuple[ops.SparseRows, tuple[int, ...]]:
        """A scipy.sparse matrix or array as validated CSR rows in the model dtype
        (int32 column numbers, int64 offsets); copies only what needs converting."""
        if isinstance(x, ops.SparseRows):
            if x.dtype != self.dtype:
                raise ValueError(f"{xname}: expected SparseRows of dtype {self.dtype}, got {x.dtype}")
            X = x
        else:
            import scipy.sparse as sp
            if not sp.issparse(x):
                raise TypeError(f"{xname}: expected a scipy.sparse matrix, got {type(x).__name__}")
            if x.ndim != 2:
                raise ValueError(f"{xname}: expected a 2-D sparse matrix, got shape {x.shape}")
            if x.format != "csr":
                try:
                    x = x.tocsr()
                except Exception as exc:  # noqa: BLE001 - any conversion failure, named
                    raise ValueError(f"{xname}: expected a CSR matrix (or one that converts with "
                                     f"tocsr()), got format {x.format!r} that failed to convert "
                                     f"({exc})") from None
            if x.dtype.kind not in "fiub":
                raise TypeError(f"{xname}: expected numeric values, got dtype {x.dtype}")
            if x.shape[1] >= 2**31:
                raise ValueError(f"{xname}: expected fewer than 2**31 columns, got {x.shape[1]}")
            X = ops.SparseRows(np.ascontiguousarray(x.indptr, dtype=np.int64),
                               np.ascontiguousarray(x.indices, dtype=np.int32),
                               np.ascontiguousarray(x.data, dtype=self.dtype), int(x.shape[1]))
            if len(X.data) != len(X.indices) or len(X.indptr) != x.shape[0] + 1:
                raise ValueError(f"{xname}: expected a well-formed CSR matrix, got indptr of length "
                                 f"{len(X.indptr)} for {x.shape[0]} rows and {len(X.data)} values "
                                 f"for {len(X.indices)} column indices")
            code, pos = ops.csr_validate(X.indptr, X.indices, X.data, X.n_cols)
            codes = ops.CSR_CODES
            if code == codes["bad_indptr"]:
                raise ValueError(f"{xname}: expected a well-formed CSR matrix, got row offsets "
                                 f"(indptr) that do not start at 0, decrease or pass the end "
                                 f"(at position {pos}: {X.indptr[pos]})")
            if code == codes["bad_column"]:
                raise ValueError(f"{xname}: expected column indices in [0, {X.n_cols}), got "
                                 f"{X.indices[pos]} at position {pos} of indices")
            if code == codes["unsorted"]:
                row = int(np.searchsorted(X.indptr, pos, side="right") - 1)
                raise ValueError(f"{xname}: expected sorted column indices in each row of the "
                                 f"CSR matrix, got unsorted indices in row {row}; call "
                                 f"x.sort_indices() (or x.sorted_indices()) first")
            if code == codes["nonfinite"]:
                row = int(np.searchsorted(X.indptr, pos, side="right") - 1)
                col = int(X.indices[pos])
                raise ValueError(f"{xname}: expected finite values, got {X.data[pos]} at index "
                                 f"({row}, {col})")
        shape = self.input_shape
        if shape is not None and len(shape) > 1:
            raise ValueError(f"{xname}: a sparse matrix gives samples of shape ({X.n_cols},), but the "
                             f"model expects samples of shape {shape}; pass a dense array")
        if self.input_dim is not None and X.n_cols != self.input_dim:
            raise ValueError(f"{xname}: expected {self.input_dim} features (columns), got {X.n_cols}")
        if X.n_cols == 0:
            raise ValueError(f"{xname}: expected at least one feature column, got shape {X.shape}")
        return X, (X.n_cols,)

    def _check_data(self, x: Any, y: Any, xname: str = "x", yname: str = "y"):
        """Validated (X, targets, sample shape) in the model dtype; builds nothing."""
        X, shape = self._check_x(x, xname)
        targets = self.loss.check_targets(y, self._output_dim(X.shape[1]), self.dtype, yname)
        if len(targets) != len(X):
            raise ValueError(f"{yname}: has {len(targets)} rows but {xname} has {len(X)}")
        return X, targets, shape

    def _check_weights(self, sample_weight: Any, class_weight: Any, targets: np.ndarray,
                       n_outputs: int, prefix: str = "") -> np.ndarray | None:
        """Per-sample loss weights from sample_weight and/or class_weight (None when neither)."""
        n = len(targets)
        w = None
        if sample_weight is not None:
            name = prefix + "sample_weight"
            arr = as_ndarray(sample_weight, name)
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            w = as_float_array(arr, name, ndim=1, dtype=self.dtype)
            if len(w) != n:
                raise ValueError(f"{name}: has {len(w)} entries but the data has {n} rows")
            if n and w.min() < 0:
                raise ValueError(f"{name}: expected weights >= 0, got {w.min()}")
        if class_weight is not None:
            table = self._class_weight_table(class_weight, targets, n_outputs)
            if targets.ndim == 1:
                labels = targets
            elif targets.shape[1] == 1:  # binary targets in one column
                labels = (targets[:, 0] > 0.5).astype(np.int64)
            else:
                labels = np.argmax(targets, axis=1)
            cw = table[labels].astype(self.dtype)
            w = cw if w is None else w * cw
        return w

    def _class_weight_table(self, class_weight: Any, targets: np.ndarray, n_outputs: int) -> np.ndarray:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight: expected a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}")
        if not self.loss.counts_correct:
            raise ValueError(f"class_weight: needs a classification loss, got {self.loss.name!r}")
        k = 2 if targets.ndim == 2 and targets.shape[1] == 1 else n_outputs
        if targets.ndim == 2 and targets.shape[1] > 1 and not getattr(self.loss, "single_label", True):
            raise ValueError("class_weight: needs single-label targets (one class per sample), "
                             "got multi-label targets; use sample_weight")
        table = np.ones(k)
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < k:
                raise ValueError(f"class_weight: expected class indices in [0, {k}) as keys, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or value < 0:
                raise ValueError(f"class_weight: expected finite weights >= 0, got {value!r} for class {key}")
            table[int(key)] = float(value)
        return table

    # -- training ----------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            validation_data: tuple | None = None, verbose: int = 1,
            callbacks: Sequence[Callback] | None = None, sample_weight: Any = None,
            class_weight: dict | None = None, validation_split: float = 0.0,
            validation_batch_size: int | None = None, strategy: Any = None) -> History:
        """Train for `epochs` passes over (x, y) in mini-batches.

        Parameters
        ----------
        x : array-like (n, n_features), or (n, d1, d2, ...) for a model with a Flatten
        y : targets: integer labels (n,) or one-hot (n, classes) for cross-entropy;
            (n, outputs) or (n,) values for regression
        epochs, batch_size : int >= 1
        shuffle : bool
            Reshuffle the rows every epoch (seeded by the model's seed).
        validation_data : (x_val, y_val) or (x_val, y_val, sample_weight_val), optional
            Evaluated after each epoch; logged as val_loss, val_<metric>.
        verbose : 0 silent, 1 progress bar, 2 one line per epoch
        callbacks : list of Callback
        sample_weight : array-like (n,), optional
            Weight of each sample in the loss (Keras semantics: with the "mean"
            reduction a batch's loss is sum(w_i * loss_i) / batch size).
        class_weight : dict {class index: weight}, optional
            Multiplies the weight of every sample of that class (classification
            losses only); classes not in the dict keep weight 1.
        validation_split : float in [0, 1)
            Keras semantics: the last fraction of the rows of x and y (and
            sample_weight), taken before any shuffling, is held out and evaluated
            after each epoch (views: nothing is copied). Ignored when
            validation_data is given.
        validation_batch_size : int >= 1, optional
            Rows per validation chunk; defaults to `batch_size` (as in Keras), so
            validating needs no activation buffers beyond those of training.
        strategy : fastnn.distributed.MPIStrategy, optional
            Data-parallel training over MPI: every rank calls fit with the same data;
            `batch_size` is the global batch, of which each rank computes its share
            (see `fastnn.distributed`).

        Returns
        -------
        History with per-epoch "loss", metrics, "learning_rate" (the rate the next
        update uses, as Keras logs it) and the "val_" counterparts.

        Notes
        -----
        With an optimizer built with ``use_ema=True`` the weights are replaced by
        their moving average when training ends, as Keras 3 does
        (`ema_weights()` swaps the average in and out without that).

        Callbacks whose class sets ``skips_nonfinite_updates = True``
        (`callbacks.TerminateOnNaN`) make each step check its loss before the
        update: a NaN or infinite loss skips that update, so the model keeps the
        weights (and batch-norm statistics) of the last finite step. An update that
        itself makes a weight non-finite is undone the same way and logged as a NaN
        loss (the optimizer's moments and step count keep that step). Without such a
        callback, a non-finite epoch loss raises one RuntimeWarning per fit.

        KeyboardInterrupt (Ctrl-C, or raised by a callback) ends fit at a step
        boundary: a SIGINT during a step takes effect when the step is complete
        (fit installs a handler for that, in the main thread, unless the program
        has its own SIGINT handler). The weights, optimizer state (moments,
        ``iterations``), batch-norm statistics and dropout counters are then all
        those of the last completed step, so calling fit again continues from
        there. Before the exception propagates, `model.history` gets the partial
        epoch as one more entry (running means over its completed steps, the
        learning rate of the next update; no validation) and
        ``model.history.params["interrupted"] = {"epoch": e, "steps_done": k}``.
        No other callback is called, and the EMA weights are not swapped in.

        Threads: while fit runs, calls of predict, evaluate, train_on_batch or
        fit on this model from other threads raise RuntimeError (callbacks, in
        fit's own thread, may call them); fit waits for such calls already
        running to end before it starts.
        """
        self._require_compiled("fit")
        epochs = check_int(epochs, "epochs")
        batch_size = check_int(batch_size, "batch_size")
        val_chunk = batch_size if validation_batch_size is None else \
            check_int(validation_batch_size, "validation_batch_size")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        X, targets, shape = self._check_data(x, y)
        if len(X) == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        n_outputs = self._output_dim(X.shape[1])
        weights = self._check_weights(sample_weight, class_weight, targets, n_outputs)
        val = None
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.integer, np.floating)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected a float in [0, 1), got {validation_split!r}")
        if validation_split and validation_data is None:
            split_at = int(math.floor(len(X) * (1.0 - validation_split)))
            if split_at == 0 or split_at == len(X):
                raise ValueError(f"validation_split: {validation_split} of {len(X)} samples leaves "
                                 f"{split_at} for training and {len(X) - split_at} for validation; "
                                 "both must be at least 1")
            wv = None if weights is None else weights[split_at:]
            val = (X[split_at:], targets[split_at:], wv)
            X, targets = X[:split_at], targets[:split_at]
            weights = None if weights is None else weights[:split_at]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            Xv, tv, vshape = self._check_data(*validation_data[:2], xname="validation_data[0]",
                                              yname="validation_data[1]")
            if len(Xv) == 0:
                raise ValueError("validation_data[0]: expected at least one sample, got 0 rows")
            if vshape != shape:
                raise ValueError(f"validation_data[0]: expected samples of shape {shape} like x, got {vshape}")
            wv = None
            if len(validation_data) == 3:
                wv = self._check_weights(validation_data[2], None, tv, n_outputs, prefix="validation_data[2]: ")
            val = (Xv, tv, wv)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected Callback instances, got {type(cb).__name__}")
        if strategy is not None:
            from fastnn.distributed import MPIStrategy
            if not isinstance(strategy, MPIStrategy):
                raise TypeError("strategy: expected a fastnn.distributed.MPIStrategy or None, "
                                f"got {type(strategy).__name__}")
            if not strategy.is_chief:  # rank 0 alone prints and writes files
                verbose = 0
                callbacks = [cb for cb in callbacks if not getattr(cb, "writes_files", False)]

        # Waits for other threads' predict/evaluate to end, then refuses them until fit returns.
        self._lock.begin_training("fit")
        try:
            self._build_for(shape)
            n = len(X)
            if strategy is not None:
                strategy.start(self, n)
            self._strategy = strategy
            batch_size = min(batch_size, n)
            self._ensure_capacity(batch_size)
            ybuf = self._target_buffer(targets)
            wbuf = None if weights is None else self._weight_buffer()
            steps = -(-n // batch_size)
            history = History()
            # User callbacks first (they may add to the logs), then History and the progress
            # bar, which record and print what the others added (as Keras orders them).
            cbs = callbacks + [history] + ([ProgbarLogger(verbose)] if verbose else [])
            params = {"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size, "verbose": verbose}
            for cb in cbs:
                cb.set_model(self)
                cb.set_params(params)
            self.stop_training = False
            self.history = history
            if any(getattr(cb, "skips_nonfinite_updates", False) for cb in cbs):
                self._state_backup = np.empty_like(self.state_arena)
                self._param_backup = np.empty_like(self.param_arena)
            # A rank that fails under a strategy aborts all ranks (the others would wait
            # in their next allreduce forever).
            aborts = contextlib.nullcontext() if strategy is None else strategy.guard()
            with aborts, StepGuard() as guard:  # Ctrl-C lands between steps
                self._fit_epochs(X, targets, weights, val, val_chunk, epochs, steps, batch_size, shuffle,
                                 cbs, ybuf, wbuf, guard)
        finally:
            self._state_backup = self._param_backup = None
            self._strategy = None
            self._lock.end_training()
        return history

    def _fit_epochs(self, X, targets, weights, val, val_chunk, epochs, steps, batch_size, shuffle,
                    cbs, ybuf, wbuf, guard: StepGuard) -> None:
        n = len(X)
        mode = self._input_mode(X, batch_size)
        batch_cbs = [cb for cb in cbs if _overrides(cb, "on_train_batch_end") and cb.needs_batch_logs]
        begin_cbs = [cb for cb in cbs if _overrides(cb, "on_train_batch_begin")]
        for cb in cbs:
            cb.on_train_begin()
        order = np.arange(n, dtype=np.int64)
        # Without shuffling, batches are contiguous rows: dense and CSR inputs, targets and
        # weights are then read in place (the W1 step gathered 32 rows in ~6 us).
        index = None if not shuffle and mode in ("dense", "csr") else order
        epoch, loss_sum, correct, seen, epoch_logs = 0, 0.0, 0.0, 0, None
        diverged = False
        try:
            for epoch in range(epochs):
                loss_sum, correct, seen, epoch_logs = 0.0, 0.0, 0, None
                for cb in cbs:
                    cb.on_epoch_begin(epoch)
                if shuffle:
                    # In place, and the same order as rng.permutation(n) (a shuffle of
                    # arange(n), which sorting the previous order restores) without a
                    # second n-row array.
                    order.sort()
                    self._shuffle_rng.shuffle(order)
                self._reset_metrics()
                for step in range(steps):
                    start = step * batch_size
                    stop = min(start + batch_size, n)
                    nb = stop - start
                    for cb in begin_cbs:
                        cb.on_train_batch_begin(step)
                    guard.begin_step()
                    # This rank's share of the batch (all of it without a strategy).
                    lo, hi = (start, stop) if self._strategy is None else self._strategy.local_rows(start, stop)
                    xb = self._batch_input(X, mode, index, lo, hi) if hi > lo else None
                    if index is None:  # rows in order: views, no copies
                        yb, wb = targets[lo:hi], None if weights is None else weights[lo:hi]
                    else:
                        yb, wb = ybuf, wbuf
                        ops.gather_rows(targets, order, lo, hi, ybuf)
                        if wbuf is not None:
                            ops.gather_rows(weights, order, lo, hi, wbuf)
                    loss, c = self._train_step(yb, hi - lo, wb, xb, nb)
                    if hi > lo:
                        self._update_metrics(self._last_out, yb, hi - lo)
                    loss_sum += loss * nb
                    correct += c
                    seen += nb
                    guard.end_step()  # raises a KeyboardInterrupt deferred during the step
                    if batch_cbs:
                        logs = self._logs(loss_sum, correct, seen, with_metrics=False)
                        for cb in batch_cbs:
                            cb.on_train_batch_end(step, logs)
                        if self.stop_training:  # a batch callback stopped: end within the epoch
                            break
                logs = epoch_logs = self._logs(loss_sum, correct, seen)
                if not math.isfinite(logs["loss"]) and self._state_backup is None and not diverged:
                    diverged = True  # once per fit
                    warnings.warn(
                        f"fit: the training loss is {logs['loss']} at epoch {epoch + 1}: training "
                        "diverged and the weights may no longer be finite. Lower the learning rate, "
                        "clip gradients (clipnorm=...), or pass callbacks=[callbacks.TerminateOnNaN()] "
                        "to stop at the first non-finite step with the last finite weights.",
                        RuntimeWarning, stacklevel=3)
                if val is not None:
                    for k, v in self._evaluate_arrays(*val, val_chunk).items():
                        logs["val_" + k] = v
                logs["learning_rate"] = self._last_learning_rate()
                if self._strategy is not None and self._metric_objs:
                    logs = self._strategy.broadcast_logs(logs)  # same figures on every rank
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
                if self._strategy is not None:  # rank 0's callbacks decide for every rank
                    self.stop_training = self._strategy.broadcast_stop(self.stop_training)
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            self._record_interrupt(epoch, -(-seen // batch_size), loss_sum, correct, seen, epoch_logs)
            raise
        if self.optimizer._state is not None:
            # With use_ema, training ends on the averaged weights (Keras 3's fit does the same).
            self.optimizer.finalize_variable_values([self.param_arena])
        for cb in cbs:
            cb.on_train_end()

    def _record_interrupt(self, epoch: int, done: int, loss_sum: float, correct: float,
                          seen: int, epoch_logs: dict | None) -> None:
        """KeyboardInterrupt during fit: History gets the partial epoch (see fit's Notes).
        `epoch_logs`: the epoch's logs when all its steps ran (the metric objects may
        hold validation results by then)."""
        history = self.history
        history.params = {**history.params, "interrupted": {"epoch": epoch, "steps_done": done}}
        if seen == 0 or (history.epoch and history.epoch[-1] == epoch):
            return  # no step of this epoch ran, or History recorded the whole epoch already
        logs = dict(epoch_logs) if epoch_logs is not None else self._logs(loss_sum, correct, seen)
        logs["learning_rate"] = self._last_learning_rate()
        history.on_epoch_end(epoch, logs)

    def _last_learning_rate(self) -> float:
        """The learning rate the optimizer's next update uses (what Keras logs)."""
        return float(self.optimizer.current_learning_rate)

    def _weight_buffer(self) -> np.ndarray:
        if self._wbuf is None or len(self._wbuf) != self._capacity:
            self._wbuf = np.empty(self._capacity, self.dtype)
        return self._wbuf

    def _logs(self, loss_sum: float, correct: float, seen: int, with_metrics: bool = True) -> dict[str, float]:
        """The loss, accuracy and (with_metrics) the other metrics, in compile's order."""
        logs = {"loss": loss_sum / seen}
        objects = iter(self._metric_objs)
        for name in self.metrics:
            if name == "accuracy" and name in _METRICS:
                logs["accuracy"] = correct / seen
            elif with_metrics:
                value = next(objects).result()
                logs[name] = float(value) if np.ndim(value) == 0 else value
        return logs

    def _reset_metrics(self) -> None:
        for m in self._metric_objs:
            m.reset_state()

    def _update_metrics(self, out: np.ndarray, targets: np.ndarray, n: int) -> None:
        """Feed one batch's outputs (made predictions in a buffer of the model's) to the metrics."""
        if not self._metric_objs:
            return
        pred = self._pbuf[:n]
        np.copyto(pred, out[:n])
        self.loss.transform_output(self._pbuf, n)
        y = targets[:n]
        for m in self._metric_objs:
            m.update_state(y, pred)

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None, class_weight: dict | None = None,
                       return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch
        computed before the update: a float, [loss, metrics...] or a dict.

        Concurrent calls on one model take turns; while `fit` runs in another
        thread it raises RuntimeError."""
        self._lock.acquire("train_on_batch")
        try:
            loss, correct, n = self._batch_loss_and_grads(x, y, "train_on_batch", sample_weight, class_weight)
            self._reset_metrics()
            self._update_metrics(self._last_out, self._ybuf, n)
            self._apply_arena()
            logs = self._logs(loss * n, correct, n)
        finally:
            self._lock.release()
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def compute_gradients(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[float, list[np.ndarray]]:
        """Loss of one batch and the gradients of every trainable parameter (low-level path).

        Returns (loss, grads) with grads ordered like `trainable_weights` (get_weights()
        without the non-trainable variables). The arrays are views into the model's
        gradient arena, overwritten by the next call: copy them to keep them. Pass
        them (or modified copies) to apply_gradients. In training mode: dropout and
        noise are drawn, batch normalization uses (and updates) batch statistics.
        """
        loss, _, _ = self._batch_loss_and_grads(x, y, "compute_gradients", sample_weight, None)
        return loss, list(self._grad_views)

    def apply_gradients(self, grads: Sequence[np.ndarray]) -> None:
        """One optimizer step from gradients ordered like `trainable_weights`."""
        self._require_compiled("apply_gradients")
        self._require_built("apply_gradients")
        grads = list(grads)
        # The views compute_gradients returned are the arena itself: nothing to copy.
        if len(grads) != len(self._grad_views) or not all(g is v for g, v in zip(grads, self._grad_views)):
            self._copy_into(grads, self._grad_views, "grads")
        self._apply_arena()

    def _batch_loss_and_grads(self, x: Any, y: Any, what: str, sample_weight: Any,
                              class_weight: Any) -> tuple[float, float, int]:
        """Validate one batch, copy it into the batch buffers, run forward and backward."""
        self._require_compiled(what)
        X, targets, shape = self._check_data(x, y)
        n = len(X)
        if n == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        weights = self._check_weights(sample_weight, class_weight, targets, self._output_dim(X.shape[1]))
        self._build_for(shape)
        self._ensure_capacity(n)
        ybuf = self._target_buffer(targets)
        mode = self._input_mode(X, n)
        if mode == "dense":
            self._xbuf[:n] = X
            xb = self._xbuf
        else:  # CSR rows feed the layer in place; dense rows are converted to CSR
            xb = self._batch_input(X, mode, None, 0, n)
        ybuf[:n] = targets
        wbuf = None
        if weights is not None:
            wbuf = self._weight_buffer()
            wbuf[:n] = weights
        loss, correct = self._loss_and_grads(ybuf, n, wbuf, xb)
        return loss, correct, n

    # -- inference ---------------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Outputs for x: class probabilities for a cross-entropy model, raw values otherwise.

        Rows run in chunks of `batch_size` (default 1024) through the model's reused
        buffers: memory beyond the (n, outputs) result does not grow with n. One row
        (up to 8 with zero_skipping="never") of a stack of Dense layers (and Dropout,
        GaussianNoise) runs as a single kernel call, the latency path: same kernels,
        same results, ~1 us of Python.
        Thread-safe: concurrent calls on one model take turns (they share those
        buffers); while `fit` runs in another thread it raises RuntimeError.
        """
        if batch_size is None and type(x) is np.ndarray and x.ndim == 2 and len(x) <= _LATENCY_ROWS:
            out = self._predict_few(x)
            if out is not None:
                return out
        X, shape = self._check_x(x)
        chunk = self._chunk(batch_size, len(X))
        self._lock.acquire("predict")
        try:
            self._build_for(shape)
            out = np.empty((len(X), self.layers[-1].output_dim), self.dtype)
            self._ensure_capacity(chunk)
            mode = self._input_mode(X, chunk)
            for start in range(0, len(X), chunk):
                stop = min(start + chunk, len(X))
                y = self._forward(self._batch_input(X, mode, None, start, stop), stop - start,
                                  training=False)
                out[start:stop] = y[:stop - start]
        finally:
            self._lock.release()
        if self.loss is not None:
            self.loss.transform_output(out, len(out))
        return out

    def _predict_few(self, x: np.ndarray) -> np.ndarray | None:
        """predict() of a few rows in one kernel call (None: take the general path).

        Batch-1 predict spent ~5 of its ~20 us in Python (validation, buffer sizing,
        one call per layer); the chain runs all Dense layers back to back and checks
        its input itself. It computes what the general path computes, with the same
        kernels (the same rounding): it is taken for a single row, whose product
        skips zero inputs in the dense kernel, and for up to _LATENCY_ROWS rows when
        zero_skipping is "never" (otherwise the general path may pick sparse kernels).
        """
        if len(x) != 1 and self._zero_skipping != "never":
            return None
        chain = self._chain
        if chain is None:
            chain = self._chain = self._make_chain()
        if chain is False:
            return None
        if x.dtype != self.dtype and x.dtype.kind == "f":
            with np.errstate(over="ignore"):  # out-of-range values become inf: refused by run()
                x = x.astype(self.dtype)
        self._lock.acquire("predict")
        try:
            out = chain.run(x, ops.get_num_threads())
        finally:
            self._lock.release()
        if out is not None and self.loss is not None and not chain.softmax:
            self.loss.transform_output(out, len(out))
        return out

    def _make_chain(self) -> Any:
        """The model as an ops.DenseChain, or False when it has a layer other than a
        Dense with a built-in activation and layers that are the identity in inference."""
        if not self.built or len(self._sample_shape) != 1:
            return False
        spec = []
        for layer in self.layers:
            if type(layer) is Dense and not layer.activation_spec.custom:
                spec.append((layer.kernel, layer.bias, layer.act, layer._alpha))
            elif not isinstance(layer, (Dropout, GaussianNoise)):
                return False
        if not spec:
            return False
        # The chain applies the softmax of cross-entropy from logits itself; any other
        # output transform runs after it (none without a loss).
        loss = self.loss
        softmax = bool(loss is not None and getattr(loss, "from_logits", False)
                       and type(loss).transform_output is losses_mod._CrossEntropy.transform_output)
        return ops.DenseChain(spec, _LATENCY_ROWS, softmax)

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None, verbose: int = 0,
                 sample_weight: Any = None) -> dict[str, float]:
        """Mean loss and metrics over (x, y) in inference mode: {"loss": ..., "accuracy": ...}.

        The loss includes the kernel and bias regularization penalties (as Keras
        reports it); activity regularization is a training-time term.
        """
        self._require_compiled("evaluate")
        X, targets, shape = self._check_data(x, y)
        if len(X) == 0:
            raise ValueError("x: expected at least one sample, got 0 rows")
        weights = self._check_weights(sample_weight, None, targets, self._output_dim(X.shape[1]))
        chunk = self._chunk(batch_size, len(X))
        self._lock.acquire("evaluate")  # thread-safe as predict is
        try:
            self._build_for(shape)
            return self._evaluate_arrays(X, targets, weights, chunk)
        finally:
            self._lock.release()

    def _evaluate_arrays(self, X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None,
                         chunk: int) -> dict[str, float]:
        chunk = min(chunk, len(X))
        self._ensure_capacity(chunk)
        mode = self._input_mode(X, chunk)
        loss_sum, correct = 0.0, 0.0
        self._reset_metrics()
        for start in range(0, len(X), chunk):
            stop = min(start + chunk, len(X))
            out = self._forward(self._batch_input(X, mode, None, start, stop), stop - start,
                                training=False)
            w = None if weights is None else weights[start:stop]
            loss, c = self._loss_value(out, targets[start:stop], None, stop - start, w)
            self._update_metrics(out, targets[start:stop], stop - start)
            loss_sum += loss * (stop - start)
            correct += c
        logs = self._logs(loss_sum, correct, len(X))
        for layer in self._penalized:
            logs["loss"] += layer.weight_penalty()
        return logs

    @staticmethod
    def _chunk(batch_size: int | None, n: int) -> int:
        if batch_size is None:
            return max(1, min(n, _INFERENCE_CHUNK))
        return min(check_int(batch_size, "batch_size"), max(n, 1))

    # -- config ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Architecture as a JSON-ready dict: name, seed, dtype and each layer's config."""
        return {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self._layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        """A new, unbuilt and uncompiled model from the dict `get_config` returned."""
        from fastnn import layers as layers_mod
        built = []
        for spec in config["layers"]:
            layer_cls = getattr(layers_mod, spec["class_name"], None)
            if layer_cls is None:
                raise ValueError(f"config: unknown layer class {spec['class_name']!r}")
            built.append(layer_cls.from_config(spec["config"]))
        return cls(built, seed=config.get("seed"), dtype=config.get("dtype", "float32"),
                   name=config.get("name"))

    # -- saving (helper CB) --
    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write the weights (parameters and non-trainable state) to one file, atomically.
        See `fastnn.saving` for the format (a zip of JSON and .npy members, no pickle)."""
        from fastnn import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Load weights from `save_weights` or `save`; checked before anything changes."""
        from fastnn import saving
        saving.load_weights(self, filepath)

    def save(self, filepath, overwrite: bool = True) -> None:
        """Write the whole model (architecture, weights, compile config, optimizer state,
        random streams) to one file, atomically; `fastnn.load_model` reads it back."""
        from fastnn import saving
        saving.save_model(self, filepath, overwrite=overwrite)
    # -- end saving
