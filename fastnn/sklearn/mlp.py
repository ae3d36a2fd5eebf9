"""`MLPClassifier` and `MLPRegressor`: scikit-learn's multi-layer perceptrons, trained by fastnn."""
from __future__ import annotations

import copy

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import (_check_partial_fit_first_call, check_classification_targets,
                                      type_of_target, unique_labels)
from sklearn.utils.validation import column_or_1d

from fastnn import losses
from fastnn.sklearn._base import BaseMLP, validate_data

__all__ = ["MLPClassifier", "MLPRegressor"]

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int >= 1, default (100,)
        Units of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        Activation of the hidden layers.
    solver : {"adam", "sgd"}, default "adam"
        scikit-learn's stochastic solvers, run as fastnn's Adam / SGD (see Notes).
    alpha : float >= 0, default 1e-4
        L2 penalty, scikit-learn's meaning: alpha / (2 * batch_size) * sum ||W||^2
        over the kernels (biases are not penalised) is added to each batch's loss.
    batch_size : int >= 1 or "auto", default "auto"
        "auto" is min(200, n_samples); larger values are clipped (with a warning).
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        SGD's schedule, as in scikit-learn: "invscaling" sets the rate after each
        epoch to ``learning_rate_init / (t_ + 1) ** power_t``; "adaptive" divides it by 5
        each time the no-improvement rule fires (training stops once it is <= 1e-6).
        Adam and a given `optimizer` keep their own rate.
    learning_rate_init : float > 0, default 1e-3
    power_t : float >= 0, default 0.5
        Exponent of "invscaling".
    max_iter : int >= 1, default 200
        Epochs (passes over the data) of `fit`.
    shuffle : bool, default True
        Reshuffle the samples every epoch.
    random_state : int, RandomState or None
        Seeds the weights, the shuffling, dropout and the validation split; an int is
        the fastnn model's seed, otherwise a seed is drawn from it.
    tol : float >= 0, default 1e-4
        Training stops once the loss (or, with early_stopping, the validation
        score) has not improved by tol for more than n_iter_no_change epochs.
    verbose : bool, default False
        Print the loss after each epoch.
    warm_start : bool, default False
        `fit` continues from the fitted weights (with a fresh optimizer, as scikit-learn).
    momentum : float in [0, 1], default 0.9
        SGD momentum.
    nesterovs_momentum : bool, default True
        Nesterov momentum for SGD (when momentum > 0).
    early_stopping : bool, default False
        Hold out validation_fraction of the data (stratified for single-output
        classification), stop when its score stops improving, and end on the
        weights of the best epoch.
    validation_fraction : float in [0, 1), default 0.1
    beta_1, beta_2 : float in [0, 1), defaults 0.9, 0.999
        Adam's decay rates.
    epsilon : float > 0, default 1e-8
        Adam's epsilon.
    n_iter_no_change : int >= 1, default 10
    dropout : float in [0, 1), default 0.0
        fastnn: dropout rate after every hidden layer.
    batch_norm : bool, default False
        fastnn: batch normalization between each hidden Dense layer and its activation.
    optimizer : str or fastnn Optimizer, optional
        fastnn: an optimizer (name or object, copied at each fit) used instead of
        `solver` and its hyperparameters.
    dtype : {"float32", "float64"}, default "float32"
        fastnn: dtype of the parameters and computations.
    n_threads : int >= 1, optional
        fastnn: threads of fastnn's kernels during fit and predict (None: fastnn's
        global setting); use 1 inside joblib / Dask workers.
"""

_NOTES_DOC = """
    Notes
    -----
    The model is a fastnn `Sequential` (``model_``): Dense hidden layers with
    `activation`, then a linear output layer whose activation is applied by the
    loss (``out_activation_``). Weights start from fastnn's Glorot-uniform
    kernels and zero biases (scikit-learn also draws the biases). The loss
    matches scikit-learn's, including the scale of ``loss_`` and the alpha
    penalty; the Adam update follows PyTorch (epsilon added to the
    bias-corrected sqrt(v)), where scikit-learn adds epsilon before the bias
    correction: they differ only while sqrt(v) is near epsilon. SGD's momentum
    follows PyTorch (the velocity holds gradients, scaled by the current rate),
    scikit-learn's holds rate-scaled steps: equal at a constant rate, different
    once "invscaling" / "adaptive" change the rate with momentum > 0. The
    "lbfgs" solver is not offered.
    Estimators pickle with their model stored as fastnn's archive bytes
    (`fastnn.saving.model_to_bytes`): unpickled, they predict bit-identically.
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = ("""Multi-layer perceptron classifier trained by fastnn, scikit-learn's API.

    Multiclass targets train a softmax output with cross-entropy; binary targets
    one logistic output; multi-label targets (a 2-D 0/1 indicator matrix) one
    logistic output per label with binary cross-entropy, and `predict` thresholds
    the probabilities at 0.5. Labels may be of any type (`classes_`).
""" + _PARAMS_DOC + """
    Attributes
    ----------
    classes_ : ndarray
        Class labels (for multi-label targets, the label indices).
    n_features_in_, feature_names_in_ : as in scikit-learn
    loss_ : float
        Loss of the last epoch (scikit-learn's scale: mean log-loss + penalty).
    loss_curve_ : list of float
    best_loss_ : float or None (None with early_stopping)
    validation_scores_, best_validation_score_ : accuracy on the validation split
        (early_stopping), else None
    n_iter_ : int
        Epochs run by the last fit.
    t_ : int
        Training samples seen by the solver over all fits.
    coefs_, intercepts_ : list of ndarray
        Copies of the Dense kernels (in, out) and biases.
    n_layers_, n_outputs_ : int
    out_activation_ : {"softmax", "logistic"}
    model_ : fastnn.Sequential
""" + _NOTES_DOC + """
    Examples
    --------
    >>> from fastnn.sklearn import MLPClassifier
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2])
    """)

    _kind = "classifier"

    def _n_model_outputs(self) -> int:
        k = len(self.classes_)
        if self._multilabel:
            return k
        return 1 if k <= 2 else k

    def _validate_targets(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc", "coo"],
                             multi_output=True, dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        target_type = type_of_target(y)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"y: warm_start needs the classes of the previous fit, "
                                     f"{self.classes_}; got {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"y: has classes not in classes_ {self.classes_}: got {classes}")
        self._multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        if target_type.startswith("multilabel") != self._multilabel:
            raise ValueError(f"y: the model was fitted on {self._label_binarizer.y_type_} targets, "
                             f"got {target_type} targets")
        indicator = self._label_binarizer.transform(y)
        if self._n_model_outputs() > 1 and not self._multilabel:
            targets = np.argmax(indicator, axis=1).astype(np.int64)  # integer labels for softmax-CE
        else:
            targets = np.asarray(indicator, dtype=np.float64)
        return X, targets, y

    def _output_spec(self):
        k = self._n_model_outputs()
        if k > 1 and not self._multilabel:
            return losses.SoftmaxCrossEntropy(reduction="mean_with_sample_weight"), 1.0, "softmax"
        # fastnn's binary cross-entropy averages over the labels, scikit-learn's sums.
        return (losses.BinaryCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
                1.0 / k, "logistic")

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like, required on the first call
            All the classes that y may ever hold (not for multi-label targets).

        Returns
        -------
        self
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), in the order of ``classes_``."""
        p = self._forward(X)
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        return p

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X))."""
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (n_samples,), or a 0/1 indicator matrix for multi-label targets."""
        return self._labels(self._forward(X))

    def _labels(self, p: np.ndarray) -> np.ndarray:
        if p.shape[1] == 1:
            p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def _score_arrays(self, X, y, batch_size=None) -> float:
        return float(accuracy_score(y, self._labels(self._predict_arrays(X, batch_size))))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True, "multilabel": True}


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = ("""Multi-layer perceptron regressor trained by fastnn, scikit-learn's API.

    Minimises the squared error by default (any fastnn regression loss by
    `loss`); targets may have several outputs.
""" + _PARAMS_DOC + """    loss : str or fastnn Loss, optional
        fastnn: the training loss. None is scikit-learn's squared error (fastnn's
        "mse", rescaled so that the steps are scikit-learn's and ``loss_`` is half the
        squared error summed over the outputs and averaged over the samples, plus
        the penalty: scikit-learn's ``loss_`` for one output; for k outputs
        scikit-learn reports the mean over the outputs but steps along the
        gradient of the sum, which is what is minimised and reported here); other
        names or objects ("mae", "huber", `fastnn.losses.AsymmetricLoss(...)`, ...)
        are used as given (copied at each fit) and ``loss_`` is their value plus the
        alpha penalty.

    Attributes
    ----------
    n_features_in_, feature_names_in_ : as in scikit-learn
    loss_, loss_curve_, best_loss_ : as in `MLPClassifier`
    validation_scores_, best_validation_score_ : R^2 on the validation split
        (early_stopping), else None
    n_iter_, t_, coefs_, intercepts_, n_layers_, n_outputs_ : as in `MLPClassifier`
    out_activation_ : "identity"
    model_ : fastnn.Sequential
""" + _NOTES_DOC + """
    Examples
    --------
    >>> from fastnn.sklearn import MLPRegressor
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(X, y)
    >>> reg.predict(X[:2])
    """)

    _kind = "regressor"

    if hasattr(BaseMLP, "_parameter_constraints"):
        _parameter_constraints = {**BaseMLP._parameter_constraints, "loss": [None, str, losses.Loss]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate="constant", learning_rate_init=1e-3, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, dropout=0.0, batch_norm=False, optimizer=None, loss=None,
                 dtype="float32", n_threads=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, dropout=dropout,
            batch_norm=batch_norm, optimizer=optimizer, dtype=dtype, n_threads=n_threads)
        self.loss = loss

    def _n_model_outputs(self) -> int:
        return self._n_targets

    def _validate_targets(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc", "coo"],
                             multi_output=True, y_numeric=True, dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        self._n_targets = 1 if y.ndim == 1 else y.shape[1]
        targets = np.asarray(y, dtype=np.float64).reshape(len(y), self._n_targets)
        return X, targets, y

    def _output_spec(self):
        if self.loss is None:
            # scikit-learn steps along the gradient of 0.5 * sum over the k outputs of the
            # mean squared error over the samples; fastnn's MSE averages over the outputs
            # too: c = 2 / k (loss_ is that sum, scikit-learn's own loss_ for one output).
            return (losses.MeanSquaredError(reduction="mean_with_sample_weight"),
                    2.0 / self._n_targets, "identity")
        if isinstance(self.loss, losses.Loss):
            return copy.deepcopy(self.loss), 1.0, "identity"
        if not isinstance(self.loss, str):
            raise TypeError(f"loss: expected None, a fastnn loss name or a fastnn Loss, got "
                            f"{type(self.loss).__name__}")
        return losses.get(self.loss), 1.0, "identity"

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def _score_arrays(self, X, y, batch_size=None) -> float:
        out = self._predict_arrays(X, batch_size)
        return float(r2_score(y, out.ravel() if out.shape[1] == 1 else out))
