"""Shared machinery of the scikit-learn estimators: parameters, the fastnn model,
the training loop with scikit-learn's convergence rule, and pickling.

The estimators follow `sklearn.neural_network.MLPClassifier` / `MLPRegressor`:
the same parameter names, defaults and meanings (for the "adam" and "sgd"
solvers), and the same fitted attributes. Training runs in a fastnn
`Sequential` (`model_`); the per-epoch bookkeeping (loss curve, the
no-improvement count, early stopping on a validation split) runs in a fastnn
callback, once per epoch.

Loss scale. scikit-learn minimises, per mini-batch of B rows,

    data_term + alpha / (2 B) * sum_l ||W_l||_F^2          (biases not penalised)

where data_term is the mean log-loss (softmax or binary), the sum over labels of
the binary log-loss for multi-label targets, and half the squared error summed
over the k outputs and averaged over the samples for regression (the gradient
scikit-learn steps along; its reported loss_ averages over the outputs, which
differs for k > 1). fastnn's built-in losses are c * data_term with c = 1
(softmax and binary cross-entropy), c = 1 / n_labels (binary cross-entropy is
averaged over the labels) and c = 2 / k (mean squared error). The estimators therefore put
``L2(c * alpha / (2 B))`` on every Dense kernel, so that fastnn's objective is
exactly c times scikit-learn's, report ``loss_`` / ``loss_curve_`` divided by c
(scikit-learn's scale, so `tol` means what it means there), and scale the solver
so the steps are scikit-learn's: the SGD learning rate by 1 / c and Adam's
epsilon by c (Adam is otherwise invariant to the scale of the loss). With a
user-given `loss` (regressor) or `optimizer`, c = 1 and nothing is rescaled.
B is the configured batch size: scikit-learn's last, smaller batch of an epoch
uses its own size there, fastnn keeps B (the only difference in the objective).
"""
from __future__ import annotations

import contextlib
import copy
import numbers
import threading
import warnings
from typing import Any, Iterator

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None
try:
    from sklearn.utils._param_validation import Interval, StrOptions
except ImportError:  # pragma: no cover - scikit-learn < 1.2
    Interval = StrOptions = None

from fastnn import _threads, layers, optimizers, regularizers
from fastnn.callbacks import Callback
from fastnn.models import Sequential

__all__ = ["BaseMLP", "ModelPickleMixin", "pinned_threads", "validate_data"]

# scikit-learn's activation names -> fastnn's.
_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def validate_data(estimator, X, y="no_validation", reset: bool = True, **kwargs):
    """scikit-learn's `validate_data` (>= 1.6), or the estimator method before it."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, reset=reset, **kwargs)
    return estimator._validate_data(X, y, reset=reset, **kwargs)  # pragma: no cover


# fastnn's thread count is process-wide: estimators fitted at once in threads (joblib's
# threading backend, Dask's threads) share it. The first block to pin saves the setting,
# the last one to leave restores it.
_pin_lock = threading.Lock()
_pin_depth = 0
_pin_saved: int | None = None


@contextlib.contextmanager
def pinned_threads(n_threads: int | None) -> Iterator[None]:
    """Run fastnn's kernels with `n_threads` threads inside the block (None: leave as is).

    joblib and Dask run several estimators at once, each in a worker: pinning each
    to one thread keeps them from oversubscribing the cores. The setting is
    process-wide; concurrent blocks (threads) restore it when the last one ends.
    """
    global _pin_depth, _pin_saved
    if n_threads is None:
        yield
        return
    with _pin_lock:
        if _pin_depth == 0:
            _pin_saved = _threads._num_threads  # None means "the default", restored as such
        _pin_depth += 1
        _threads.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        with _pin_lock:
            _pin_depth -= 1
            if _pin_depth == 0:
                _threads._num_threads = _pin_saved


def _check_hidden_layer_sizes(value: Any) -> tuple[int, ...]:
    sizes = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"hidden_layer_sizes: expected positive integers (an int or a "
                             f"sequence of ints >= 1), got {value!r}")
    return tuple(int(s) for s in sizes)


class _Monitor(Callback):
    """Per-epoch bookkeeping of scikit-learn's stochastic solvers (see `BaseMLP`)."""

    needs_batch_logs = False

    def __init__(self, est: "BaseMLP", scale: float, n_train: int, val, incremental: bool,
                 batch_size: int):
        super().__init__()
        self.est, self.scale, self.n_train = est, scale, n_train
        self.val, self.incremental, self.batch_size = val, incremental, batch_size
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        loss = float(logs["loss"]) / self.scale
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        tol = est.tol
        if self.val is not None:
            score = est._score_arrays(*self.val, batch_size=self.batch_size)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = self.model.get_weights()
        else:
            if loss > est.best_loss_ - tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = loss
        schedule = est.learning_rate if (est.solver == "sgd" and est.optimizer is None) else "constant"
        opt = self.model.optimizer
        if schedule == "invscaling":  # scikit-learn's rate after each epoch, t_ samples seen
            rate = float(est.learning_rate_init) / (est.t_ + 1) ** float(est.power_t)
            opt.learning_rate = rate / self.scale
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.val is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={tol:f} for {est.n_iter_no_change} "
                   "consecutive epochs.")
            lr = opt.current_learning_rate * self.scale  # on scikit-learn's scale
            if schedule == "adaptive" and lr > 1e-6:
                # scikit-learn's "adaptive": divide the rate by 5 and go on, until it is 1e-6.
                opt.learning_rate = lr / 5.0 / self.scale
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {lr / 5.0:f}")
            elif not self.incremental:
                if est.verbose:
                    print(f"{msg} Stopping.")
                self.stopped = True
                self.model.stop_training = True


class ModelPickleMixin:
    """Pickles the fitted fastnn model (`model_`) as fastnn archive bytes
    (`fastnn.saving.model_to_bytes`): no kernel objects or buffers are pickled, and
    the unpickled estimator predicts bit-identically."""

    def __getstate__(self):
        state = super().__getstate__()
        model = state.get("model_")
        if isinstance(model, Sequential):
            from fastnn.saving import model_to_bytes
            state = dict(state)
            state["model_"] = model_to_bytes(model)
            # A user's own Loss or Optimizer subclass is named in the archive; pickle
            # references its class (by import path) so that unpickling can rebuild it.
            custom = {}
            for obj in (model.loss, model.optimizer):
                cls = type(obj)
                if obj is not None and not cls.__module__.startswith("fastnn."):
                    custom[cls.__name__] = cls
            if custom:
                state["_model_custom_objects"] = custom
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), (bytes, bytearray)):
            from fastnn.saving import model_from_bytes
            state = dict(state)
            custom = state.pop("_model_custom_objects", None)
            state["model_"] = model_from_bytes(state["model_"], custom_objects=custom)
        super().__setstate__(state)


class BaseMLP(ModelPickleMixin, BaseEstimator):
    """Base of `MLPClassifier` and `MLPRegressor` (see their docstrings)."""

    if Interval is not None:
        _parameter_constraints: dict = {
            "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
            "activation": [StrOptions(set(_ACTIVATIONS))],
            "solver": [StrOptions({"adam", "sgd"})],
            "alpha": [Interval(numbers.Real, 0, None, closed="left")],
            "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
            "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
            "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
            "power_t": [Interval(numbers.Real, 0, None, closed="left")],
            "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
            "shuffle": ["boolean"],
            "random_state": ["random_state"],
            "tol": [Interval(numbers.Real, 0, None, closed="left")],
            "verbose": ["verbose"],
            "warm_start": ["boolean"],
            "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
            "nesterovs_momentum": ["boolean"],
            "early_stopping": ["boolean"],
            "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
            "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
            "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
            "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
            "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
            "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
            "batch_norm": ["boolean"],
            "optimizer": [None, str, optimizers.Optimizer],
            "dtype": [StrOptions({"float32", "float64"})],
            "n_threads": [None, Interval(numbers.Integral, 1, None, closed="left")],
        }

    # Set by subclasses: what the estimator predicts ("classifier" / "regressor").
    _kind = ""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate="constant", learning_rate_init=1e-3, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, dropout=0.0, batch_norm=False, optimizer=None,
                 dtype="float32", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.dtype = dtype
        self.n_threads = n_threads

    # -- hooks the subclasses define ------------------------------------------------------------
    def _validate_targets(self, X, y, incremental: bool, reset: bool):
        """(X, targets for fastnn, sklearn-form y for scoring); sets classes_ etc."""
        raise NotImplementedError

    def _output_spec(self) -> tuple[Any, float, str]:
        """(fastnn loss, scale c of the loss against scikit-learn's, out_activation_)."""
        raise NotImplementedError

    def _score_arrays(self, X, y, batch_size: int | None = None) -> float:
        raise NotImplementedError

    # -- parameters ----------------------------------------------------------------------------
    def _check_params(self) -> tuple[int, ...]:
        if Interval is not None:
            self._validate_params()
        sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        if self.activation not in _ACTIVATIONS:  # also checked by _validate_params (>= 1.2)
            raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver: expected 'adam' or 'sgd', got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"learning_rate: expected 'constant', 'invscaling' or 'adaptive', "
                             f"got {self.learning_rate!r}")
        if self.optimizer is not None and not isinstance(self.optimizer, (str, optimizers.Optimizer)):
            raise TypeError(f"optimizer: expected None, an optimizer name or a fastnn Optimizer, "
                            f"got {type(self.optimizer).__name__}")
        return sizes

    def _make_optimizer(self, scale: float):
        """A fresh optimizer: the user's (a copy, never the parameter object itself) or
        the solver's, rescaled for the loss scale c (see the module docstring)."""
        if self.optimizer is not None:
            if isinstance(self.optimizer, str):
                return optimizers.get(self.optimizer)
            return copy.deepcopy(self.optimizer)
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return optimizers.SGD(learning_rate=float(self.learning_rate_init) / scale,
                                  momentum=momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        return optimizers.Adam(learning_rate=float(self.learning_rate_init), beta_1=float(self.beta_1),
                               beta_2=float(self.beta_2), epsilon=float(self.epsilon) * scale)

    def _seed(self) -> int:
        """The fastnn model seed: random_state itself when it is an int, else drawn from it."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _build_model(self, sizes: tuple[int, ...], n_features: int, n_outputs: int) -> Sequential:
        act = _ACTIVATIONS[self.activation]
        stack: list[Any] = [layers.Input((n_features,))]
        for units in sizes:
            if self.batch_norm:
                stack += [layers.Dense(units, kernel_regularizer=regularizers.L2(0.0)),
                          layers.BatchNormalization(), layers.Activation(act)]
            else:
                stack.append(layers.Dense(units, activation=act, kernel_regularizer=regularizers.L2(0.0)))
            if self.dropout:
                stack.append(layers.Dropout(float(self.dropout)))
        stack.append(layers.Dense(n_outputs, kernel_regularizer=regularizers.L2(0.0)))
        model = Sequential(stack, seed=self._seed(), dtype=self.dtype)
        model.build((None, n_features))
        return model

    def _set_penalty(self, batch_size: int) -> None:
        """L2 factor c * alpha / (2 B) on every kernel (see the module docstring)."""
        l2 = self._loss_scale * float(self.alpha) / (2.0 * batch_size)
        for layer in self.model_.layers:
            reg = getattr(layer, "kernel_regularizer", None)
            if reg is not None:
                reg.l2 = l2

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        # Everything is checked (and the validation split made) before the model changes.
        sizes = self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, targets, y_sk = self._validate_targets(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            from sklearn.utils.validation import _check_sample_weight
            sample_weight = _check_sample_weight(sample_weight, X)
        n_features = X.shape[1]
        loss, scale, out_act = self._output_spec()
        n_outputs = self._n_model_outputs()
        if not first_pass and self.model_.layers[-1].units != n_outputs:
            raise ValueError(f"y: the model was fitted with {self.model_.layers[-1].units} outputs, "
                             f"got targets for {n_outputs}")
        early_stopping = self.early_stopping and not incremental
        val = None
        sw_train = sample_weight
        if early_stopping:
            rs = check_random_state(self._seed())
            # Stratified for single-output classification, as scikit-learn splits.
            stratify = y_sk if (self._kind == "classifier" and np.ndim(y_sk) == 1) else None
            arrays = [X, targets, y_sk] + ([sample_weight] if sample_weight is not None else [])
            split = train_test_split(*arrays, random_state=rs, test_size=self.validation_fraction,
                                     stratify=stratify)
            X, X_val = split[0], split[1]
            targets, y_val = split[2], split[5]
            if sample_weight is not None:
                sw_train = split[6]
            if X_val.shape[0] < 2:
                raise ValueError("validation_fraction: the validation set is too small "
                                 f"({X_val.shape[0]} samples); increase validation_fraction "
                                 "or the size of the data set")
            val = (X_val, y_val)
        if first_pass:
            self.model_ = self._build_model(sizes, n_features, n_outputs)
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None
                self.best_loss_ = np.inf
            self._best_weights = None
        self.out_activation_ = out_act
        self._loss_scale = scale
        model = self.model_
        if first_pass or not incremental or not model.compiled:
            model.compile(optimizer=self._make_optimizer(scale), loss=loss)
        n_train = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn(f"batch_size: {self.batch_size} is larger than the {n_train} training "
                              "samples; it is clipped", UserWarning)
            batch_size = int(np.clip(self.batch_size, 1, n_train))
        self._set_penalty(batch_size)
        epochs = 1 if incremental else int(self.max_iter)
        self.n_iter_ = 0  # epochs of this call (partial_fit: 1), as scikit-learn counts them
        monitor = _Monitor(self, scale, n_train, val, incremental, batch_size)
        with pinned_threads(self.n_threads):
            model.fit(X, targets, epochs=epochs, batch_size=batch_size, shuffle=bool(self.shuffle),
                      verbose=0, callbacks=[monitor], sample_weight=sw_train)
        if early_stopping and self._best_weights is not None:
            model.set_weights(self._best_weights)
        if not np.all(np.isfinite(model.param_arena)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        if not incremental and not monitor.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                          "the optimization hasn't converged yet.", ConvergenceWarning)
        self.n_outputs_ = n_outputs
        return self

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the loss: each batch's data term is
            sum(w_i l_i) / sum(w_i) (scikit-learn's weighted mean); the alpha
            penalty keeps its 1 / (2 * batch_size) factor (scikit-learn divides
            by the batch's sum of weights instead).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    # -- inference -----------------------------------------------------------------------------
    def _forward(self, X) -> np.ndarray:
        """Validated X -> the model's outputs (probabilities for classifiers), float64."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc", "coo"],
                          dtype=(np.float64, np.float32))
        return self._predict_arrays(X)

    def _predict_arrays(self, X, batch_size: int | None = None) -> np.ndarray:
        with pinned_threads(self.n_threads):
            out = self.model_.predict(X, batch_size=batch_size)
        return out.astype(np.float64)

    # -- weights -------------------------------------------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Copies of the Dense kernels, layer by layer: coefs_[i] has shape (in, out)."""
        check_is_fitted(self, "model_")
        return [layer.kernel.copy() for layer in self.model_.layers if isinstance(layer, layers.Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Copies of the Dense biases, layer by layer."""
        check_is_fitted(self, "model_")
        return [layer.bias.copy() for layer in self.model_.layers if isinstance(layer, layers.Dense)]

    @property
    def n_layers_(self) -> int:
        """Layers of scikit-learn's count: input, hidden and output."""
        check_is_fitted(self, "model_")
        return len(self.coefs_) + 1

    # -- tags ----------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
