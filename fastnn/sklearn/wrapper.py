"""`KerasClassifier` / `KerasRegressor`: any fastnn model as a scikit-learn estimator.

The user writes a function that builds and compiles a fastnn `Sequential`; the
wrapper calls it at each `fit` and trains the model with fastnn's `fit`. The
wrapper's parameters are

* ``build_fn``: the function;
* the fit parameters ``epochs``, ``batch_size``, ``verbose``, ``callbacks``,
  ``shuffle``, ``validation_split`` (passed to `Sequential.fit`) and
  ``n_threads`` (fastnn's threads during fit and predict);
* **model parameters**: every keyword argument named ``model__<name>`` is passed
  to ``build_fn`` as ``<name>`` (the prefix keeps them apart from the fit
  parameters, so that ``GridSearchCV(param_grid={"model__units": [16, 32]})``
  tunes the architecture).

``build_fn`` also receives, when its signature names them (or takes
``**kwargs``), ``n_features_in`` (the input width) and ``n_outputs`` (the
classifier's number of classes, 2 for binary targets: a model with one
sigmoid unit may ignore it; the regressor's number of target columns), unless
a ``model__`` parameter of the same name is set.

The model's seed is build_fn's business (e.g. a ``model__seed`` parameter):
with a fixed seed, fits are bit-identical, so `cross_val_score` equals a loop
over the folds.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from fastnn import losses
from fastnn.models import Sequential
from fastnn.sklearn._base import ModelPickleMixin, pinned_threads, validate_data

__all__ = ["KerasClassifier", "KerasRegressor"]

_PREFIX = "model__"


class _KerasWrapper(ModelPickleMixin, BaseEstimator):
    """Shared parameters, routing and fitting of the wrappers (see the module docstring)."""

    def __init__(self, build_fn: Callable[..., Sequential] | None = None, *, epochs: int = 1,
                 batch_size: int = 32, verbose: int = 0, callbacks: list | None = None,
                 shuffle: bool = True, validation_split: float = 0.0, n_threads: int | None = None,
                 **model__params: Any):
        self.build_fn = build_fn
        self.epochs = epochs
        self.batch_size = batch_size
        self.verbose = verbose
        self.callbacks = callbacks
        self.shuffle = shuffle
        self.validation_split = validation_split
        self.n_threads = n_threads
        # Stored as given (scikit-learn's rule: no validation in __init__); fit refuses
        # keywords without the model__ prefix.
        for key, value in model__params.items():
            setattr(self, key, value)

    # -- parameters ----------------------------------------------------------------------------
    def _model_param_names(self) -> list[str]:
        return sorted(k for k in vars(self) if k.startswith(_PREFIX) and len(k) > len(_PREFIX))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The wrapper's parameters and the ``model__<name>`` parameters of build_fn."""
        params = super().get_params(deep=deep)
        for key in self._model_param_names():
            params[key] = getattr(self, key)
        return params

    def set_params(self, **params: Any):
        """Set parameters; ``model__<name>`` keys are accepted even when new."""
        routed = {k: v for k, v in params.items() if k.startswith(_PREFIX) and len(k) > len(_PREFIX)}
        for key, value in routed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in routed}
        if rest:
            super().set_params(**rest)
        return self

    def _check_fit_params(self) -> None:
        known = set(inspect.signature(_KerasWrapper.__init__).parameters) | set(self._model_param_names())
        unknown = sorted(k for k in vars(self) if k not in known and not k.startswith("_")
                         and not k.endswith("_"))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument {unknown[0]!r}; "
                            f"parameters of build_fn are named '{_PREFIX}<name>'")
        if not callable(self.build_fn):
            raise TypeError(f"build_fn: expected a function returning a compiled fastnn Sequential, "
                            f"got {self.build_fn!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if self.n_threads is not None and (isinstance(self.n_threads, bool) or
                                           not isinstance(self.n_threads, (int, np.integer))
                                           or self.n_threads < 1):
            raise ValueError(f"n_threads: expected None or an integer >= 1, got {self.n_threads!r}")
        if self.callbacks is not None and not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(f"callbacks: expected a list of fastnn callbacks, got "
                            f"{type(self.callbacks).__name__}")

    def _build(self, n_features: int, n_outputs: int) -> Sequential:
        kwargs = {k[len(_PREFIX):]: getattr(self, k) for k in self._model_param_names()}
        try:
            sig = inspect.signature(self.build_fn)
            names = sig.parameters
            takes_any = any(p.kind == p.VAR_KEYWORD for p in names.values())
        except (TypeError, ValueError):  # builtins without a signature
            names, takes_any = {}, False
        for key, value in (("n_features_in", n_features), ("n_outputs", n_outputs)):
            if key not in kwargs and (takes_any or key in names):
                kwargs[key] = value
        model = self.build_fn(**kwargs)
        if not isinstance(model, Sequential):
            raise TypeError(f"build_fn: expected it to return a fastnn Sequential, got "
                            f"{type(model).__name__}")
        if not model.compiled:
            raise ValueError("build_fn: the model it returns must be compiled (call "
                             "model.compile(optimizer=..., loss=...) inside build_fn)")
        return model

    def _fit_model(self, X, targets, sample_weight, n_outputs: int):
        self._check_fit_params()
        if sample_weight is not None:
            from sklearn.utils.validation import _check_sample_weight
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        model = self._build(X.shape[1], n_outputs)
        targets = self._targets_for(model, targets, n_outputs)
        # Copies: the callbacks parameter stays as the user gave it (clone and
        # GridSearchCV compare parameters before and after fit).
        cbs = copy.deepcopy(list(self.callbacks or []))
        with pinned_threads(self.n_threads):
            history = model.fit(X, targets, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                shuffle=bool(self.shuffle), verbose=int(self.verbose), callbacks=cbs,
                                sample_weight=sample_weight,
                                validation_split=float(self.validation_split))
        self.model_ = model
        self.history_ = dict(history.history)
        return self

    def _targets_for(self, model: Sequential, targets: np.ndarray, n_outputs: int) -> np.ndarray:
        """The targets in the form the model's compiled loss reads."""
        return targets

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc", "coo"],
                          dtype=(np.float64, np.float32))
        with pinned_threads(self.n_threads):
            return self.model_.predict(X).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class KerasClassifier(ClassifierMixin, _KerasWrapper):
    """A fastnn model built by `build_fn` as a scikit-learn classifier.

    Labels of any type are encoded as 0 .. n_classes - 1 (`classes_` holds them).
    How the targets reach the model follows its compiled loss: integer labels for
    "softmax_cross_entropy" / "sparse_categorical_crossentropy", one-hot rows for
    "categorical_crossentropy", a 0/1 column for "binary_crossentropy" on a
    one-unit model (binary targets), and the indicator matrix as is for
    multi-label targets with "binary_crossentropy". `predict_proba` is the
    model's `predict` (probabilities), widened to two columns for a one-unit model.

    Parameters
    ----------
    build_fn : callable
        ``build_fn(**params) -> compiled fastnn.Sequential``; see
        `fastnn.sklearn.wrapper` for what it receives.
    epochs, batch_size : int >= 1, defaults 1 and 32
    verbose : {0, 1, 2}, default 0
    callbacks : list of fastnn callbacks, optional (copied at each fit)
    shuffle : bool, default True
    validation_split : float in [0, 1), default 0.0
    n_threads : int >= 1, optional
        fastnn's threads during fit and predict (None: fastnn's global setting).
    **model__<name> :
        Passed to build_fn as <name>.

    Attributes
    ----------
    model_ : fastnn.Sequential
    history_ : dict of per-epoch logs
    classes_, n_classes_, n_features_in_, feature_names_in_

    Examples
    --------
    >>> def build(units=16, n_features_in=None, n_outputs=None):
    ...     model = fastnn.Sequential([layers.Dense(units, activation="relu"),
    ...                                layers.Dense(n_outputs)], seed=0)
    ...     model.compile(optimizer="adam", loss="softmax_cross_entropy")
    ...     return model
    >>> clf = KerasClassifier(build, epochs=20, model__units=32)
    >>> cross_val_score(clf, X, y, cv=3)
    """

    def fit(self, X, y, sample_weight=None):
        """Build the model with build_fn and train it on (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), or a 0/1 indicator matrix (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True,
                             dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._multilabel = type_of_target(y).startswith("multilabel")
        if self._multilabel:
            self.classes_ = np.arange(y.shape[1])
            targets = np.asarray(y, dtype=np.float64)
            n_outputs = y.shape[1]
        else:
            self._encoder = LabelEncoder().fit(y)
            self.classes_ = self._encoder.classes_
            targets = self._encoder.transform(y).astype(np.int64)
            n_outputs = len(self.classes_)
        self.n_classes_ = len(self.classes_)
        return self._fit_model(X, targets, sample_weight, n_outputs)

    def _targets_for(self, model, targets, n_outputs):
        if self._multilabel:
            return targets
        loss = model.loss
        if isinstance(loss, losses.CategoricalCrossentropy):
            return np.eye(n_outputs)[targets]
        if isinstance(loss, (losses.SoftmaxCrossEntropy, losses.SparseCategoricalCrossentropy)):
            return targets
        return targets.astype(np.float64).reshape(-1, 1)  # binary: one 0/1 column

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes) in the order of ``classes_``."""
        p = self._outputs(X)
        if p.shape[1] == 1 and self.n_classes_ == 2 and not self._multilabel:
            return np.hstack([1.0 - p, p])
        return p

    def predict(self, X) -> np.ndarray:
        """Predicted labels; a 0/1 indicator matrix for multi-label targets (threshold 0.5)."""
        p = self.predict_proba(X)
        if self._multilabel:
            return (p > 0.5).astype(np.int64)
        return self.classes_[np.argmax(p, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class KerasRegressor(RegressorMixin, _KerasWrapper):
    """A fastnn model built by `build_fn` as a scikit-learn regressor.

    Parameters and attributes are those of `KerasClassifier` (without ``classes_``);
    targets of shape (n,) or (n, n_outputs) reach the model as float columns and
    `predict` returns (n,) for one output.

    Examples
    --------
    >>> def build(units=16, n_features_in=None, n_outputs=1):
    ...     model = fastnn.Sequential([layers.Dense(units, activation="relu"),
    ...                                layers.Dense(n_outputs)], seed=0)
    ...     model.compile(optimizer="adam", loss="mse")
    ...     return model
    >>> GridSearchCV(KerasRegressor(build, epochs=20), {"model__units": [8, 32]}, cv=3).fit(X, y)
    """

    def fit(self, X, y, sample_weight=None):
        """Build the model with build_fn and train it on (X, y); returns self."""
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        targets = np.asarray(y, dtype=np.float64).reshape(len(y), n_outputs)
        self.n_outputs_ = n_outputs
        return self._fit_model(X, targets, sample_weight, n_outputs)

    def predict(self, X) -> np.ndarray:
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs)."""
        out = self._outputs(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
