"""Model evaluation by resampling: the out-of-bag, .632 and .632+ bootstrap estimates.

Requires scikit-learn (``pip install fastnn[sklearn]``); works with any scikit-learn
compatible estimator, fastnn's ``fastnn.sklearn`` wrappers included.

References
----------
Efron, B. (1983). Estimating the error rate of a prediction rule: improvement on
cross-validation. JASA 78(382), 316-331.
Efron, B. and Tibshirani, R. (1997). Improvements on cross-validation: the .632+
bootstrap method. JASA 92(438), 548-560.
"""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# sklearn.utils.parallel's Parallel is joblib's, carrying scikit-learn's config and warning
# filters to the workers.
try:
    from sklearn.base import ClassifierMixin, RegressorMixin, clone
    from sklearn.metrics import check_scoring, get_scorer
    from sklearn.utils import _safe_indexing, check_random_state, indexable
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.parallel import Parallel, delayed
    from sklearn.utils.validation import _num_samples
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("fastnn.model_selection needs scikit-learn: pip install 'fastnn[sklearn]'") from exc

__all__ = ["BootstrapResult", "bootstrap_score"]

METHODS = (".632+", ".632", "oob")
# Efron's weights: a bootstrap sample holds a row with probability 1 - (1 - 1/n)^n -> 1 - 1/e ~ 0.632.
_W_OOB = 0.632
_W_TRAIN = 0.368
# The no-information score averages the score over this many cyclic pairings of labels with
# predictions; with n <= this every pairing is used and the value is exact (see _no_information_score).
_MAX_SHIFTS = 1000
# A replicate whose bootstrap sample holds every row has no out-of-bag rows and is redrawn;
# for n >= 2 each draw succeeds with probability >= 1/2, so this bound is never reached in practice.
_MAX_DRAWS = 100


@dataclass(frozen=True, eq=False)  # eq would compare arrays elementwise
class BootstrapResult:
    """What `bootstrap_score` estimated.

    All values are scores on the scorer's scale (higher is better, e.g. accuracy, R^2,
    negative MSE), never errors.

    Attributes
    ----------
    estimate : float
        The `method`'s estimate of the score on unseen data.
    ci_low, ci_high : float
        Percentile interval of `scores` at the requested confidence.
    scores : ndarray of shape (n_bootstraps,)
        The method's estimate computed from each replicate alone (its out-of-bag score
        combined with `train_score` and, for .632+, `no_information_score`).
    oob_scores : ndarray of shape (n_bootstraps,)
        Score of each replicate's model on that replicate's out-of-bag rows.
    train_score : float
        Resubstitution score: a model fitted on all rows, scored on the same rows.
    method : str
        ".632+", ".632" or "oob".
    n_bootstraps : int
    confidence : float
    no_information_score : float or None
        Score of the all-rows model when labels and predictions are paired at random
        (computed for ".632+" only).
    """

    estimate: float
    ci_low: float
    ci_high: float
    scores: np.ndarray
    oob_scores: np.ndarray
    train_score: float
    method: str
    n_bootstraps: int
    confidence: float = 0.95
    no_information_score: float | None = None

    def __str__(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        return (f"{self.method} bootstrap estimate {self.estimate:.4f} "
                f"({pct} percentile interval [{self.ci_low:.4f}, {self.ci_high:.4f}], "
                f"{self.n_bootstraps} replicates)")


def bootstrap_score(estimator: Any, X: Any, y: Any, *, n_bootstraps: int = 200,
                    method: str = ".632+",
                    scoring: str | Callable[..., float] | None = None,
                    confidence: float = 0.95,
                    random_state: int | np.random.RandomState | None = None,
                    stratify: bool = False, n_jobs: int | None = None) -> BootstrapResult:
    """Estimate how well `estimator` scores on unseen data with the bootstrap.

    Each replicate draws n row indices with replacement, fits a clone of `estimator` on
    those rows and scores it on the rows it never saw (out of bag, OOB). Then:

    - ``"oob"``: the mean OOB score, ``S1 = mean_b oob_b`` (pessimistic: each model
      saw only ~63.2% of the distinct rows);
    - ``".632"`` (Efron 1983): ``0.368 * S_train + 0.632 * S1``, where ``S_train`` is the
      resubstitution score of a model fitted and scored on all rows (optimistic);
    - ``".632+"`` (Efron & Tibshirani 1997): moves the weight towards ``S1`` the more the
      model overfits. Written, as in the paper, for a loss ``L`` (lower is better) with
      ``err = L_train``, ``Err1 = L_oob`` and the no-information loss ``gamma``::

          Err1' = min(Err1, gamma)
          R     = (Err1' - err) / (gamma - err)   if Err1 > err and gamma > err, else 0
          w     = 0.632 / (1 - 0.368 R)           (0.632 <= w <= 1)
          Err   = (1 - w) err + w Err1'

      A score ``s`` where higher is better (accuracy, R^2, negative MSE, AUC, ...) is used
      as the loss ``L = -s``. ``R`` is a ratio of differences and ``Err`` a weighted mean,
      so any loss ``L = c - s`` gives the same estimate: for accuracy this is exactly the
      paper's computation on the error rate ``1 - accuracy``. The result is returned as a
      score again.

    ``gamma``, the no-information score, is the score of the all-rows model when
    predictions and labels are paired independently: the mean over every pair (i, j) of
    the score of prediction j against label i. It is computed from the n cyclic pairings
    of labels with predictions (label ``(j + k) mod n`` with prediction ``j``, for k =
    0..n-1), which together hold every pair once; so for accuracy it equals
    ``sum_l p_l q_l`` (p: label proportions, q: predicted-label proportions) and for mean
    squared error the mean of all n^2 squared differences. Above 1,000 rows a random 1,000
    of the n pairings are averaged. For a score that is not a mean over rows (R^2, AUC),
    gamma is the mean of the scores of the pairings.

    Parameters
    ----------
    estimator : scikit-learn compatible estimator
        Cloned (``sklearn.base.clone``) for every fit; it is not fitted itself. Its own
        randomness (e.g. ``random_state``) is left as set: give it a fixed seed for
        reproducible results.
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    n_bootstraps : int, default 200
        Number of bootstrap replicates (fits), >= 1.
    method : {".632+", ".632", "oob"}, default ".632+"
    scoring : None, str or callable, default None
        None uses ``estimator.score`` (accuracy for classifiers, R^2 for regressors); a
        string is a scikit-learn scorer name (``sklearn.metrics.get_scorer_names()``); a
        callable is ``scorer(fitted_estimator, X, y) -> float``, higher is better.
    confidence : float, default 0.95
        Level of the percentile interval, in (0, 1). The interval is taken over the
        per-replicate estimates (`BootstrapResult.scores`): each replicate's OOB score put
        through the method's formula with the same ``S_train`` and ``gamma``, and cut at
        the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles (numpy's
        linear interpolation). It shows the spread of single-replicate estimates, a rough
        interval, not a corrected bootstrap interval of the estimator.
    random_state : None, int or numpy.random.RandomState, default None
        Seeds the resampling. Replicate seeds are drawn first, in one call:
        ``seeds = check_random_state(random_state).randint(2**31 - 1, size=n_bootstraps)``;
        replicate b then uses ``rng = numpy.random.RandomState(seeds[b])`` and draws
        ``rng.randint(0, n, size=n)`` (or, with `stratify`, for each class in
        ``numpy.unique(y)`` order, ``members[rng.randint(0, n_c, size=n_c)]`` where
        ``members`` are that class's row indices in increasing order, concatenated), drawing
        again with the same `rng` while the draw leaves no row out of bag.
    stratify : bool, default False
        Resample within each class, so that every bootstrap sample keeps the class counts
        of `y` (classification targets only).
    n_jobs : int or None, default None
        Replicates fitted in parallel with ``joblib.Parallel(n_jobs)`` (scikit-learn's
        subclass); None means 1 unless in a ``joblib.parallel_config`` context. Results do
        not depend on it (the resampling is drawn up front) as long as the estimator's own
        fit does not depend on its thread count. With fastnn estimators and ``n_jobs > 1``,
        give the estimator ``n_threads=1`` so that the workers do not oversubscribe the cores.

    Returns
    -------
    BootstrapResult

    Notes
    -----
    ``S1`` averages per-replicate OOB scores, which works for any scorer; the paper's
    leave-one-out bootstrap ``Err^(1)`` instead averages each row's loss over the replicates
    that left it out, which needs a per-row loss. Both have the same expectation when every
    replicate leaves out the same number of rows and differ little otherwise.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> r = bootstrap_score(DecisionTreeClassifier(random_state=0), X, y, random_state=0)
    >>> r.estimate, (r.ci_low, r.ci_high)
    """
    _check_estimator(estimator)
    X, y = indexable(X, y)
    n = _num_samples(X)
    if n < 2:
        raise ValueError(f"X: expected at least 2 samples to bootstrap, got {n}")
    if isinstance(n_bootstraps, bool) or not isinstance(n_bootstraps, numbers.Integral) \
            or n_bootstraps < 1:
        raise ValueError(f"n_bootstraps: expected an integer >= 1, got {n_bootstraps!r}")
    n_bootstraps = int(n_bootstraps)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
            or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number strictly between 0 and 1, got {confidence!r}")
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify: expected True or False, got {stratify!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or n_jobs == 0):
        raise ValueError(f"n_jobs: expected None or a nonzero integer, got {n_jobs!r}")
    scorer = _resolve_scorer(estimator, scoring)
    try:
        rng = check_random_state(random_state)
    except ValueError:
        raise ValueError(f"random_state: expected None, an integer or a numpy.random.RandomState, "
                         f"got {random_state!r}") from None
    strata = _strata(y) if stratify else None

    seeds = rng.randint(np.iinfo(np.int32).max, size=n_bootstraps)
    shift_seed = rng.randint(np.iinfo(np.int32).max)  # drawn after the replicate seeds
    splits = [_bootstrap_split(seed, n, strata) for seed in seeds]

    oob = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(estimator, X, y, train, test, scorer) for train, test in splits)
    oob = np.asarray(oob, dtype=np.float64)

    full = clone(estimator).fit(X, y)
    train_score = float(scorer(full, X, y))
    no_info = None
    if method == ".632+":
        no_info = _no_information_score(full, X, y, scorer, np.random.RandomState(shift_seed))

    scores = _combine(method, oob, train_score, no_info)
    estimate = float(_combine(method, np.array([oob.mean()]), train_score, no_info)[0])
    tail = 50.0 * (1.0 - confidence)
    ci_low, ci_high = np.percentile(scores, [tail, 100.0 - tail])
    return BootstrapResult(estimate=estimate, ci_low=float(ci_low), ci_high=float(ci_high),
                           scores=scores, oob_scores=oob, train_score=train_score,
                           method=method, n_bootstraps=n_bootstraps,
                           confidence=float(confidence), no_information_score=no_info)


def _check_estimator(estimator: Any) -> None:
    if isinstance(estimator, type):
        raise TypeError(f"estimator: expected an estimator instance, got the class "
                        f"{estimator.__name__}; call it first, e.g. {estimator.__name__}()")
    for attr in ("fit", "get_params"):
        if not callable(getattr(estimator, attr, None)):
            raise TypeError(f"estimator: expected a scikit-learn estimator (with fit and "
                            f"get_params), got {type(estimator).__name__} without {attr}")


def _resolve_scorer(estimator: Any, scoring: Any) -> Callable[..., float]:
    """A scorer(estimator, X, y) -> float, higher is better."""
    if scoring is None:
        if not callable(getattr(estimator, "score", None)):
            raise TypeError(f"scoring: estimator {type(estimator).__name__} has no score method; "
                            f"pass scoring= a scorer name or callable")
        # The mixins' score methods are exactly these scorers; the named scorers let the
        # no-information score reuse cached predictions instead of predicting n times.
        own = getattr(type(estimator), "score", None)
        if own is ClassifierMixin.score:
            return get_scorer("accuracy")
        if own is RegressorMixin.score:
            return get_scorer("r2")
        return check_scoring(estimator)
    if isinstance(scoring, str):
        try:
            return get_scorer(scoring)
        except ValueError:
            raise ValueError(f"scoring: expected None, a callable or a scikit-learn scorer name "
                             f"(sklearn.metrics.get_scorer_names()), got {scoring!r}") from None
    if callable(scoring):
        return scoring
    raise TypeError(f"scoring: expected None, a scorer name or a callable "
                    f"scorer(estimator, X, y), got {type(scoring).__name__}")


def _strata(y: Any) -> list:
    """Row indices of each class (np.unique order), increasing within a class."""
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"stratify: expected class labels in y (binary or multiclass), "
                         f"got a {kind!r} target")
    _, codes = np.unique(np.asarray(y), return_inverse=True)
    codes = codes.ravel()
    order = np.argsort(codes, kind="stable")
    strata = np.split(order, np.cumsum(np.bincount(codes))[:-1])
    if max(len(s) for s in strata) < 2:
        raise ValueError("stratify: every class of y has a single row, so a stratified "
                         "bootstrap sample would leave no row out of bag")
    return strata


def _bootstrap_split(seed: int, n: int, strata: list | None) -> tuple:
    """(in-bag indices with repeats, out-of-bag indices) of one replicate."""
    rng = np.random.RandomState(seed)
    for _ in range(_MAX_DRAWS):
        if strata is None:
            train = rng.randint(0, n, size=n)
        else:
            train = np.concatenate([m[rng.randint(0, len(m), size=len(m))] for m in strata])
        in_bag = np.zeros(n, dtype=bool)
        in_bag[train] = True
        test = np.flatnonzero(~in_bag)
        if test.size:
            return train, test
    raise ValueError(f"X: {n} samples are too few: {_MAX_DRAWS} bootstrap draws in a row "
                     f"left no row out of bag")


def _fit_and_score(estimator: Any, X: Any, y: Any, train: np.ndarray, test: np.ndarray,
                   scorer: Callable[..., float]) -> float:
    model = clone(estimator).fit(_safe_indexing(X, train), _safe_indexing(y, train))
    return float(scorer(model, _safe_indexing(X, test), _safe_indexing(y, test)))


class _CachedPredictions:
    """A fitted estimator whose predict/predict_proba/decision_function on one fixed X are
    computed once: the no-information score re-scores the same predictions against
    shuffled labels. Everything else is passed through to the estimator."""

    _CACHED = ("predict", "predict_proba", "predict_log_proba", "decision_function")

    def __init__(self, estimator: Any, X: Any):
        self._estimator = estimator
        self._X = X
        self._cache: dict = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._estimator, name)
        if name not in self._CACHED:
            return attr

        # scikit-learn's scorers read the method's __name__ to post-process its output
        @functools.wraps(attr)
        def cached(X: Any, *args: Any, **kwargs: Any) -> Any:
            if X is not self._X or args or kwargs:
                return attr(X, *args, **kwargs)
            if name not in self._cache:
                self._cache[name] = attr(X)
            return self._cache[name]
        return cached


def _no_information_score(fitted: Any, X: Any, y: Any, scorer: Callable[..., float],
                          rng: np.random.RandomState) -> float:
    """Mean score of `fitted`'s predictions on X against labels paired at random."""
    n = _num_samples(X)
    shifts = np.arange(n) if n <= _MAX_SHIFTS else rng.choice(n, _MAX_SHIFTS, replace=False)
    cached = _CachedPredictions(fitted, X)
    rows = np.arange(n)
    # Shift k pairs prediction j with label (j + k) mod n; the n shifts hold every pair once.
    total = 0.0
    for k in shifts:
        total += float(scorer(cached, X, _safe_indexing(y, np.roll(rows, -int(k)))))
    return total / len(shifts)


def _combine(method: str, oob: np.ndarray, train: float, no_info: float | None) -> np.ndarray:
    """The method's estimate for each OOB score in `oob` (scores, higher is better)."""
    if method == "oob":
        return oob.copy()
    if method == ".632":
        return _W_TRAIN * train + _W_OOB * oob
    # .632+ on the loss L = -score (any c - score gives the same result, see bootstrap_score)
    err, err1, gamma = -train, -oob, -no_info
    err1p = np.minimum(err1, gamma)
    if gamma > err:
        r = np.where(err1 > err, (err1p - err) / (gamma - err), 0.0)
    else:
        r = np.zeros_like(err1)
    w = _W_OOB / (1.0 - _W_TRAIN * r)
    return -((1.0 - w) * err + w * err1p)
