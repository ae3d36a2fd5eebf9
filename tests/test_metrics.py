"""fastnn.metrics against scikit-learn (and a numpy reference for Keras-only semantics).

Every comparison runs in float64 and float32. In float32 the reference is
computed from the float32-rounded inputs (cast back to float64), so what is
compared is fastnn's own arithmetic: counts and sums are float64 in the
kernels (rtol 1e-12 in float64; 1e-6 in float32 for the error metrics, whose
element differences are exact doubles, and 2e-5 for the log losses, which run
in float32). Data include tied scores, zero and non-zero sample weights,
multi-label and multi-class targets.
"""
from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pytest

import fastnn
import reference_metrics as R
from fastnn import metrics as M
from fastnn import ops

sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference of these tests")

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 1e-6}
LOG_RTOL = {np.float64: 1e-10, np.float32: 2e-5}
N, K = 301, 4


def dtype_id(dt):
    return np.dtype(dt).name


def as64(a, dtype):
    """a rounded to dtype, as float64: the exact values fastnn sees."""
    return np.asarray(a, dtype).astype(np.float64)


@pytest.fixture
def data():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, K, N)
    w = rng.uniform(0, 2, N)
    w[::9] = 0.0  # zero weights must drop out of every sum
    return {
        "labels": labels,
        "onehot": np.eye(K)[labels],
        "proba": rng.dirichlet(np.ones(K), N),              # continuous: no ties
        "multi": (rng.random((N, K)) < 0.4).astype(float),  # multi-label targets
        "scores": rng.random((N, K)),
        "tied": np.round(rng.random((N, K)), 1),             # many tied scores
        "binary": rng.integers(0, 2, N).astype(float),
        "w": w,
        "reg_t": 3 + rng.standard_normal((N, 3)),
        "reg_p": 3 + rng.standard_normal((N, 3)),
        "rng": rng,
    }


def weights_or_none(d, weighted):
    return d["w"] if weighted else None


# -- accuracy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracies_match_sklearn(data, dtype, weighted):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    lab, proba = data["labels"], data["proba"].astype(dtype)
    p64 = as64(proba, dtype)
    expected = sk.accuracy_score(lab, p64.argmax(axis=1), sample_weight=wd)
    for fn in (M.categorical_accuracy, M.sparse_categorical_accuracy, M.accuracy):
        assert fn(lab, proba, sample_weight=w) == pytest.approx(expected, rel=RTOL[dtype])
        assert fn(data["onehot"], proba, sample_weight=w) == pytest.approx(expected, rel=RTOL[dtype])
    for k in (1, 2, 3):
        expected = sk.top_k_accuracy_score(lab, p64, k=k, labels=range(K), sample_weight=wd)
        got = M.top_k_categorical_accuracy(lab, proba, k=k, sample_weight=w)
        assert got == pytest.approx(expected, rel=RTOL[dtype])
        assert M.sparse_top_k_categorical_accuracy(lab, proba, k=k, sample_weight=w) == got
        assert M.top_k_categorical_accuracy(data["onehot"], proba, k=k, sample_weight=w) == got
    # Binary / multi-label: every element counts, a sample's elements share its weight.
    multi, scores = data["multi"], data["scores"].astype(dtype)
    ew = None if wd is None else np.repeat(wd, K)
    for thr in (0.5, 0.3):
        expected = sk.accuracy_score(multi.ravel() > 0.5, (as64(scores, dtype) > thr).ravel(), sample_weight=ew)
        assert M.binary_accuracy(multi, scores, threshold=thr, sample_weight=w) == pytest.approx(
            expected, rel=RTOL[dtype])
    b, s = data["binary"], scores[:, 0]
    expected = sk.accuracy_score(b, as64(s, dtype) > 0.5, sample_weight=wd)
    assert M.binary_accuracy(b, s, sample_weight=w) == pytest.approx(expected, rel=RTOL[dtype])
    assert M.accuracy(b, s[:, None], sample_weight=w) == pytest.approx(expected, rel=RTOL[dtype])


def test_top_k_counts_tied_scores_at_the_boundary_as_hits():
    # Row 0: the label (class 2) ties with the 2nd-highest score: a hit for k = 2 (Keras's in_top_k).
    p = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    y = np.array([2, 0, 3])
    hits = R.top_k_hits_keras(y, p, 2)
    assert hits.tolist() == [True, False, True]
    assert M.top_k_categorical_accuracy(y, p, k=2) == pytest.approx(2 / 3)
    assert M.top_k_categorical_accuracy(y, p, k=1) == pytest.approx(1 / 3)  # row 2: all tied at the top
    assert M.top_k_categorical_accuracy(y, p, k=9) == 1.0  # k above the class count: every row


def test_categorical_accuracy_takes_the_first_maximum():
    p = np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45]])
    assert M.categorical_accuracy([0, 2], p) == 0.5  # argmax 0 (hit), argmax 1 (miss)
    assert M.categorical_accuracy([[0, 1, 0], [0, 1, 0]], p) == 0.5


# -- precision, recall, F-scores -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_match_sklearn(data, dtype, weighted):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    multi, tied = data["multi"], data["tied"].astype(dtype)
    t64 = as64(tied, dtype)
    kw = dict(sample_weight=wd, zero_division=0)
    for thr in (0.5, 0.3):
        assert M.precision(multi, tied, thr, sample_weight=w) == pytest.approx(
            sk.precision_score(multi, t64 > thr, average="micro", **kw), rel=RTOL[dtype])
        assert M.recall(multi, tied, thr, sample_weight=w) == pytest.approx(
            sk.recall_score(multi, t64 > thr, average="micro", **kw), rel=RTOL[dtype])
    # A list of thresholds gives one value per threshold.
    thresholds = [0.0, 0.25, 0.5, 0.95]
    got = M.precision(multi, tied, thresholds, sample_weight=w)
    expected = [sk.precision_score(multi, t64 > th, average="micro", **kw) for th in thresholds]
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype])
    # class_id: one column; binary: one column given as (n,).
    for c in range(K):
        assert M.recall(multi, tied, class_id=c, sample_weight=w) == pytest.approx(
            sk.recall_score(multi[:, c], t64[:, c] > 0.5, **kw), rel=RTOL[dtype])
    assert M.precision(multi[:, 0], tied[:, 0], sample_weight=w) == pytest.approx(
        sk.precision_score(multi[:, 0], t64[:, 0] > 0.5, **kw), rel=RTOL[dtype])
    # Integer labels with k > 1 columns are one-hot rows.
    lab, proba = data["labels"], data["proba"].astype(dtype)
    assert M.precision(lab, proba, 0.3, sample_weight=w) == pytest.approx(
        sk.precision_score(data["onehot"], as64(proba, dtype) > 0.3, average="micro", **kw), rel=RTOL[dtype])


@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_top_k_follow_keras(data, weighted):
    w = weights_or_none(data, weighted)
    tied, multi = data["tied"], data["multi"]  # ties across the top-k boundary
    for top_k in (1, 2, 3):
        mask = R.top_k_mask(tied, top_k)
        tp, fp, fn = R.confusion(multi > 0.5, mask, w)  # default threshold: every top-k score
        assert M.precision(multi, tied, top_k=top_k, sample_weight=w) == pytest.approx(tp / (tp + fp), rel=1e-12)
        assert M.recall(multi, tied, top_k=top_k, sample_weight=w) == pytest.approx(tp / (tp + fn), rel=1e-12)
        tp, fp, fn = R.confusion(multi > 0.5, mask & (tied > 0.4), w)
        assert M.precision(multi, tied, 0.4, top_k=top_k, sample_weight=w) == pytest.approx(
            tp / (tp + fp), rel=1e-12)
        c = 1
        tp, fp, fn = R.confusion(multi[:, [c]] > 0.5, mask[:, [c]], w)
        assert M.recall(multi, tied, top_k=top_k, class_id=c, sample_weight=w) == pytest.approx(
            tp / (tp + fn), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f_scores_match_sklearn(data, dtype, weighted, average):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    kw = dict(average=average, sample_weight=wd, zero_division=0)
    lab, proba = data["labels"], data["proba"].astype(dtype)
    # threshold=None: the argmax is the predicted class (multi-class).
    pred = as64(proba, dtype).argmax(axis=1)
    expected = sk.f1_score(lab, pred, labels=range(K), **kw)
    np.testing.assert_allclose(M.f1_score(lab, proba, average, sample_weight=w), expected, rtol=RTOL[dtype])
    np.testing.assert_allclose(M.f1_score(data["onehot"], proba, average, sample_weight=w), expected,
                               rtol=RTOL[dtype])
    np.testing.assert_allclose(M.fbeta_score(lab, proba, average, beta=2.0, sample_weight=w),
                               sk.fbeta_score(lab, pred, beta=2.0, labels=range(K), **kw), rtol=RTOL[dtype])
    # A threshold: multi-label.
    multi, tied = data["multi"], data["tied"].astype(dtype)
    pred = as64(tied, dtype) > 0.4
    np.testing.assert_allclose(M.f1_score(multi, tied, average, threshold=0.4, sample_weight=w),
                               sk.f1_score(multi, pred, **kw), rtol=RTOL[dtype])
    np.testing.assert_allclose(M.fbeta_score(multi, tied, average, beta=0.5, threshold=0.4, sample_weight=w),
                               sk.fbeta_score(multi, pred, beta=0.5, **kw), rtol=RTOL[dtype])


def test_f1_score_class_never_seen_counts_zero():
    # Class 2 is neither true nor predicted: its F1 is 0 (Keras; scikit-learn with labels=range(k)).
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.7, 0.3, 0.0]])
    np.testing.assert_allclose(M.f1_score(y, p), [0.8, 2 / 3, 0.0])
    assert M.f1_score(y, p, "macro") == pytest.approx((0.8 + 2 / 3) / 3)


# -- AUC -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_matches_sklearn(data, dtype, weighted):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    rtol = RTOL[np.float64]  # the buffers hold the float32 scores exactly; the sums are float64
    b = data["binary"]
    for key in ("tied", "scores"):
        s = data[key][:, 0].astype(dtype)
        s64 = as64(s, dtype)
        assert M.roc_auc(b, s, sample_weight=w) == pytest.approx(sk.roc_auc_score(b, s64, sample_weight=wd), rel=rtol)
        assert M.pr_auc(b, s, sample_weight=w) == pytest.approx(
            sk.average_precision_score(b, s64, sample_weight=wd), rel=rtol)
    multi, tied = data["multi"], data["tied"].astype(dtype)
    t64 = as64(tied, dtype)
    for multi_label, average in ((False, "micro"), (True, "macro")):
        assert M.roc_auc(multi, tied, multi_label, sample_weight=w) == pytest.approx(
            sk.roc_auc_score(multi, t64, average=average, sample_weight=wd), rel=rtol)
        assert M.pr_auc(multi, tied, multi_label, sample_weight=w) == pytest.approx(
            sk.average_precision_score(multi, t64, average=average, sample_weight=wd), rel=rtol)
    # Multi-class integer labels: one-vs-rest.
    lab, proba = data["labels"], data["proba"].astype(dtype)
    p64 = as64(proba, dtype)
    assert M.roc_auc(lab, proba, multi_label=True, sample_weight=w) == pytest.approx(
        sk.roc_auc_score(lab, p64 / p64.sum(axis=1, keepdims=True), multi_class="ovr", average="macro",
                         sample_weight=wd), rel=1e-9)
    ew = None if wd is None else np.repeat(wd, K)
    assert M.roc_auc(lab, proba, sample_weight=w) == pytest.approx(
        sk.roc_auc_score(data["onehot"].ravel(), p64.ravel(), sample_weight=ew), rel=rtol)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_label_weights(data, curve):
    multi, tied, w = data["multi"], data["tied"], data["w"]
    lw = np.array([1.0, 0.0, 2.5, 0.5])
    score = sk.roc_auc_score if curve == "ROC" else sk.average_precision_score
    per_label = [score(multi[:, j], tied[:, j], sample_weight=w) for j in range(K)]
    m = M.AUC(curve=curve, multi_label=True, label_weights=lw)
    m.update_state(multi, tied, w)
    assert m.result() == pytest.approx(np.average(per_label, weights=lw), rel=1e-12)
    m = M.AUC(curve=curve, multi_label=False, label_weights=lw)  # element weights w_i * lw_j
    m.update_state(multi, tied, w)
    assert m.result() == pytest.approx(score(multi.ravel(), tied.ravel(), sample_weight=(w[:, None] * lw).ravel()),
                                       rel=1e-12)


def test_auc_hand_computed_with_ties():
    # Scores 0.8 (pos), 0.5 (pos), 0.5 (neg), 0.2 (neg): pairs (pos > neg) 3 of 4, one tie worth 1/2.
    y, s = [1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]
    assert M.roc_auc(y, s) == pytest.approx(3.5 / 4)
    # Average precision: the 0.8 group (recall 1/2, precision 1), the 0.5 group (recall 1, precision 2/3).
    assert M.pr_auc(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_auc_undefined_cases_follow_sklearn():
    s = np.array([0.1, 0.4, 0.35, 0.8])
    for y in ([0, 0, 0, 0], [1, 1, 1, 1]):
        with pytest.warns(M.UndefinedMetricWarning, match="ROC AUC is undefined"):
            assert math.isnan(M.roc_auc(y, s))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert math.isnan(sk.roc_auc_score(y, s))
    with pytest.warns(M.UndefinedMetricWarning, match="without positive"):
        assert M.pr_auc([0, 0, 0, 0], s) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sk.average_precision_score([0, 0, 0, 0], s) == 0.0
    assert M.pr_auc([1, 1, 1, 1], s) == 1.0 == sk.average_precision_score([1, 1, 1, 1], s)
    # Positives that all weigh 0 are no positives.
    with pytest.warns(M.UndefinedMetricWarning):
        assert math.isnan(M.roc_auc([1, 0, 0, 1], s, sample_weight=[0, 1, 1, 0]))
    # Macro: one column with a single class makes the ROC average NaN (scikit-learn too).
    y2 = np.array([[0, 1], [1, 1], [0, 1], [1, 1]])
    s2 = np.column_stack([s, s[::-1]])
    with pytest.warns(M.UndefinedMetricWarning):
        assert math.isnan(M.roc_auc(y2, s2, multi_label=True))
    # Nothing seen yet: 0.0, as Keras.
    assert M.AUC().result() == 0.0


def test_auc_buffers_grow_by_doubling_and_survive_reset(data):
    m = M.AUC()
    b, s = data["binary"], data["scores"][:, :1]
    m.update_state(b[:200], s[:200])
    cap = len(m._weights)
    for start in range(200, N, 7):
        m.update_state(b[start:start + 7], s[start:start + 7])
    assert len(m._weights) in (cap, 2 * cap, 4 * cap)  # doubled, not grown per batch
    assert m.result() == pytest.approx(sk.roc_auc_score(b, s[:, 0]), rel=1e-12)
    buffers = (m._scores, m._labels, m._weights)
    m.reset_state()
    m.update_state(b[:50], s[:50])
    assert all(a is b_ for a, b_ in zip(buffers, (m._scores, m._labels, m._weights)))
    assert m.result() == pytest.approx(sk.roc_auc_score(b[:50], s[:50, 0]), rel=1e-12)


def test_auc_from_logits_ranks_like_probabilities(data):
    b, z = data["binary"], 4 * data["rng"].standard_normal(N)
    proba = 1 / (1 + np.exp(-z))
    assert M.AUC(from_logits=True)(b, z) == pytest.approx(sk.roc_auc_score(b, proba), rel=1e-12)


# -- log loss ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
def test_log_losses_match_sklearn(data, dtype, weighted):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    rtol = LOG_RTOL[dtype]
    lab, proba = data["labels"], data["proba"].astype(dtype)
    p64 = as64(proba, dtype)
    p64 /= p64.sum(axis=1, keepdims=True)
    expected = sk.log_loss(lab, p64, labels=range(K), sample_weight=wd)
    assert M.sparse_categorical_crossentropy(lab, proba, sample_weight=w) == pytest.approx(expected, rel=rtol)
    assert M.categorical_crossentropy(data["onehot"], proba, sample_weight=w) == pytest.approx(expected, rel=rtol)
    assert M.categorical_crossentropy(lab, proba, sample_weight=w) == pytest.approx(expected, rel=rtol)
    # Binary cross-entropy: scikit-learn's per column, averaged over columns (probabilities inside the clip).
    multi = data["multi"]
    q = (0.02 + 0.96 * data["scores"]).astype(dtype)
    q64 = as64(q, dtype)
    expected = np.mean([sk.log_loss(multi[:, j], q64[:, j], labels=[0, 1], sample_weight=wd) for j in range(K)])
    assert M.binary_crossentropy(multi, q, sample_weight=w) == pytest.approx(expected, rel=rtol)


@pytest.mark.parametrize("weighted", [False, True])
def test_log_losses_keras_options(data, weighted):
    w = weights_or_none(data, weighted)
    multi, scores, onehot = data["multi"], data["scores"], data["onehot"]
    z = 3 * data["rng"].standard_normal((N, K))
    proba = np.clip(data["proba"], 0, 1)
    assert M.binary_crossentropy(multi, scores, label_smoothing=0.2, sample_weight=w) == pytest.approx(
        R.bce(multi, scores, w, 0.2), rel=1e-10)
    assert M.binary_crossentropy(multi, z, from_logits=True, sample_weight=w) == pytest.approx(
        R.bce_logits(multi, z, w), rel=1e-10)
    assert M.categorical_crossentropy(onehot, proba, label_smoothing=0.1, sample_weight=w) == pytest.approx(
        R.cce(onehot, proba, w, 0.1), rel=1e-10)
    assert M.categorical_crossentropy(onehot, z, from_logits=True, sample_weight=w) == pytest.approx(
        R.cce_logits(onehot, z, w), rel=1e-10)
    assert M.sparse_categorical_crossentropy(data["labels"], z, from_logits=True, sample_weight=w) == \
        pytest.approx(R.cce_logits(onehot, z, w), rel=1e-10)


# -- regression ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_sklearn(data, dtype, weighted):
    w = weights_or_none(data, weighted)
    wd = None if w is None else as64(w, dtype)
    t, p = data["reg_t"].astype(dtype), data["reg_p"].astype(dtype)
    t64, p64 = as64(t, dtype), as64(p, dtype)
    rtol = RTOL[dtype]
    assert M.mean_absolute_error(t, p, sample_weight=w) == pytest.approx(
        sk.mean_absolute_error(t64, p64, sample_weight=wd), rel=rtol)
    assert M.mean_squared_error(t, p, sample_weight=w) == pytest.approx(
        sk.mean_squared_error(t64, p64, sample_weight=wd), rel=rtol)
    # RMSE pools the outputs (Keras): scikit-learn's for one output, sqrt(MSE) for several.
    assert M.root_mean_squared_error(t[:, 0], p[:, 0], sample_weight=w) == pytest.approx(
        sk.root_mean_squared_error(t64[:, 0], p64[:, 0], sample_weight=wd), rel=rtol)
    assert M.root_mean_squared_error(t, p, sample_weight=w) == pytest.approx(
        math.sqrt(sk.mean_squared_error(t64, p64, sample_weight=wd)), rel=rtol)
    for agg, multioutput in (("uniform_average", "uniform_average"),
                             ("variance_weighted_average", "variance_weighted"), (None, "raw_values")):
        np.testing.assert_allclose(M.r2_score(t, p, agg, sample_weight=w),
                                   sk.r2_score(t64, p64, multioutput=multioutput, sample_weight=wd), rtol=1e-9)
    assert M.r2_score(t[:, 1], p[:, 1], sample_weight=w) == pytest.approx(
        sk.r2_score(t64[:, 1], p64[:, 1], sample_weight=wd), rel=1e-9)


def test_r2_edge_cases_and_adjusted_score(data):
    t = np.full((6, 2), 3.0)
    p = t.copy()
    p[:, 1] += 1.0
    # Constant targets: 1.0 for a perfect prediction, 0.0 otherwise (scikit-learn's force_finite).
    np.testing.assert_allclose(M.r2_score(t, p, None), sk.r2_score(t, p, multioutput="raw_values"))
    assert M.r2_score(t, p, "variance_weighted_average") == sk.r2_score(t, p, multioutput="variance_weighted")
    # Adjusted R2 = 1 - (1 - R2)(n - 1)/(n - p - 1), from the formula.
    y, q = data["reg_t"][:, 0], data["reg_p"][:, 0]
    r2 = sk.r2_score(y, q)
    assert M.r2_score(y, q, num_regressors=5) == pytest.approx(1 - (1 - r2) * (N - 1) / (N - 6), rel=1e-12)
    with pytest.warns(RuntimeWarning, match="num_regressors"):
        assert M.r2_score(y[:4], q[:4], num_regressors=3) == pytest.approx(sk.r2_score(y[:4], q[:4]))


def test_r2_streaming_keeps_precision_for_targets_with_a_large_mean():
    rng = np.random.default_rng(5)
    t = 1e8 + rng.standard_normal((4000, 1))  # sum t^2 - (sum t)^2 / n would lose every digit
    p = t + 0.5 * rng.standard_normal((4000, 1))
    m = M.R2Score()
    for start in range(0, 4000, 100):
        m.update_state(t[start:start + 100], p[start:start + 100])
    assert m.result() == pytest.approx(sk.r2_score(t, p), rel=1e-9)


# -- streaming, reset, objects vs functions, dtypes ----------------------------------------------

def inputs(d, kind):
    return {
        "labels": (d["labels"], d["proba"]),
        "onehot": (d["onehot"], d["proba"]),
        "multi": (d["multi"], d["tied"]),
        "binary": (d["binary"], d["tied"][:, :1]),
        "regression": (d["reg_t"], d["reg_p"]),
    }[kind]


CASES = {
    "binary_accuracy": (lambda: M.BinaryAccuracy(0.3), "multi"),
    "accuracy_binary": (lambda: M.Accuracy(), "binary"),
    "categorical_accuracy": (lambda: M.CategoricalAccuracy(), "labels"),
    "categorical_accuracy_onehot": (lambda: M.CategoricalAccuracy(), "onehot"),
    "top_k": (lambda: M.TopKCategoricalAccuracy(k=2), "labels"),
    "precision_thresholds": (lambda: M.Precision(thresholds=[0.2, 0.5, 0.8]), "multi"),
    "recall_top_k": (lambda: M.Recall(top_k=2), "labels"),
    "f1_macro": (lambda: M.F1Score("macro"), "labels"),
    "f1_per_class_threshold": (lambda: M.F1Score(None, threshold=0.4), "multi"),
    "fbeta_weighted": (lambda: M.FBetaScore("weighted", beta=2.0), "onehot"),
    "auc_roc_micro": (lambda: M.AUC(), "multi"),
    "auc_pr_macro": (lambda: M.AUC("PR", multi_label=True), "multi"),
    "auc_binary": (lambda: M.AUC(), "binary"),
    "bce": (lambda: M.BinaryCrossentropy(), "multi"),
    "cce": (lambda: M.CategoricalCrossentropy(), "onehot"),
    "scce": (lambda: M.SparseCategoricalCrossentropy(), "labels"),
    "mae": (lambda: M.MeanAbsoluteError(), "regression"),
    "mse": (lambda: M.MeanSquaredError(), "regression"),
    "rmse": (lambda: M.RootMeanSquaredError(), "regression"),
    "r2": (lambda: M.R2Score(), "regression"),
    "r2_raw": (lambda: M.R2Score(class_aggregation=None), "regression"),
}


def close_results(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_streaming_equals_one_shot_and_reset_starts_over(data, case, weighted):
    factory, kind = CASES[case]
    y, p = inputs(data, kind)
    w = weights_or_none(data, weighted)
    one_shot = factory()
    one_shot.update_state(y, p, w)
    expected = one_shot.result()
    m = factory()
    bounds = [0, 1, 2, 50, 51, 180, N]  # uneven batches, one of a single row
    for a, b in zip(bounds[:-1], bounds[1:]):
        m.update_state(y[a:b], p[a:b], None if w is None else w[a:b])
    close_results(m.result(), expected, 1e-12)
    # reset_state: a new epoch sees only its own batches.
    m.reset_state()
    assert np.all(np.asarray(m.result()) == 0.0)
    m.update_state(y[100:200], p[100:200], None if w is None else w[100:200])
    fresh = factory()
    fresh.update_state(y[100:200], p[100:200], None if w is None else w[100:200])
    close_results(m.result(), fresh.result(), 1e-12)


FUNCTIONS = {  # case of CASES -> the plain function with the same configuration
    "binary_accuracy": lambda y, p, w: M.binary_accuracy(y, p, 0.3, sample_weight=w),
    "categorical_accuracy": lambda y, p, w: M.categorical_accuracy(y, p, sample_weight=w),
    "top_k": lambda y, p, w: M.top_k_categorical_accuracy(y, p, k=2, sample_weight=w),
    "precision_thresholds": lambda y, p, w: M.precision(y, p, [0.2, 0.5, 0.8], sample_weight=w),
    "recall_top_k": lambda y, p, w: M.recall(y, p, top_k=2, sample_weight=w),
    "f1_macro": lambda y, p, w: M.f1_score(y, p, "macro", sample_weight=w),
    "fbeta_weighted": lambda y, p, w: M.fbeta_score(y, p, "weighted", 2.0, sample_weight=w),
    "auc_roc_micro": lambda y, p, w: M.roc_auc(y, p, sample_weight=w),
    "auc_pr_macro": lambda y, p, w: M.pr_auc(y, p, True, sample_weight=w),
    "bce": lambda y, p, w: M.binary_crossentropy(y, p, sample_weight=w),
    "cce": lambda y, p, w: M.categorical_crossentropy(y, p, sample_weight=w),
    "scce": lambda y, p, w: M.sparse_categorical_crossentropy(y, p, sample_weight=w),
    "mae": lambda y, p, w: M.mae(y, p, sample_weight=w),
    "mse": lambda y, p, w: M.mse(y, p, sample_weight=w),
    "rmse": lambda y, p, w: M.rmse(y, p, sample_weight=w),
    "r2": lambda y, p, w: M.r2_score(y, p, sample_weight=w),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONS))
def test_function_agrees_with_streamed_object(data, case):
    y, p = inputs(data, CASES[case][1])
    w = data["w"]
    m = CASES[case][0]()
    for a in range(0, N, 64):
        m.update_state(y[a:a + 64], p[a:a + 64], w[a:a + 64])
    close_results(FUNCTIONS[case](y, p, w), m.result(), 1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_is_close_to_float64(data, case):
    factory, kind = CASES[case]
    y, p = inputs(data, kind)
    # Scores inside [0.01, 0.99]: the log losses clip at 1 - 1e-7, which float32 rounds to
    # 1 - 1.19e-7 (as Keras does), a real 10% difference of log(1 - p) at p = 1.
    p = np.clip(p, 0.01, 0.99)
    w = data["w"]
    results = []
    for dtype in (np.float64, np.float32):
        yy = y.astype(np.int64) if y.ndim == 1 and kind == "labels" else y.astype(dtype)
        m = factory()
        m.update_state(yy, as64(p, np.float32).astype(dtype), w.astype(dtype))
        results.append(m.result())
    close_results(results[1], results[0], 2e-5)


# -- threads -------------------------------------------------------------------------------------

@pytest.fixture
def restore_threads():
    before = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(before)


@pytest.mark.parametrize("factory, kind", [
    (lambda: M.BinaryAccuracy(), "multi"), (lambda: M.CategoricalAccuracy(), "labels"),
    (lambda: M.TopKCategoricalAccuracy(3), "labels"), (lambda: M.MeanAbsoluteError(), "multi"),
    (lambda: M.MeanSquaredError(), "multi")])
def test_one_and_two_threads_give_identical_sums(restore_threads, factory, kind):
    rng = np.random.default_rng(3)
    n, k = 4001, 10  # 40010 elements: above the threading threshold (32768)
    p = rng.random((n, k)).astype(np.float32)
    y = rng.integers(0, k, n) if kind == "labels" else (rng.random((n, k)) < 0.5).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    results = []
    for threads in (1, 2, 1):
        fastnn.set_num_threads(threads)
        m = factory()
        m.update_state(y, p, w)
        results.append(m.result())
    assert results[0] == results[1] == results[2]


# -- allocation ----------------------------------------------------------------------------------

PEAK_BOUND = 2048    # bytes above the start while updating: small Python objects only
GROWTH_BOUND = 1024  # over many updates: catches a leak of a few bytes per update


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_state_allocates_nothing_in_steady_state(data, case):
    factory, kind = CASES[case]
    y, p = inputs(data, kind)
    batch, steps = 256, 8
    rng = np.random.default_rng(0)
    # The model's buffers: preallocated, C-contiguous, in the model dtype (labels int64).
    idx = rng.integers(0, N, batch * steps)
    ybufs = [np.ascontiguousarray(y[idx[s * batch:(s + 1) * batch]],
                                  dtype=np.int64 if y.ndim == 1 and kind == "labels" else np.float32)
             for s in range(steps)]
    pbufs = [np.ascontiguousarray(p[idx[s * batch:(s + 1) * batch]], dtype=np.float32) for s in range(steps)]
    wbuf = rng.random(batch).astype(np.float32)
    m = factory()

    def epochs(count):
        for _ in range(count):
            m.reset_state()
            for s in range(steps):
                nb = batch - (s % 3)  # views of varying length, as the last batch of an epoch
                m.update_state(ybufs[s][:nb], pbufs[s][:nb], wbuf[:nb] if s % 2 else None)

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        epochs(10)  # warm-up: state built, AUC buffers grown, free lists filled
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        epochs(25)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    a_batch = batch * pbufs[0].shape[1] * 4
    assert current - start <= GROWTH_BOUND, f"{case}: memory grew by {current - start} bytes over 200 updates"
    assert peak - start <= PEAK_BOUND, (f"{case}: an update allocated up to {peak - start} bytes "
                                        f"(a float32 batch of predictions is {a_batch} bytes)")


# -- registry and config -------------------------------------------------------------------------

KERAS_DEFAULT_NAMES = {
    M.AUC: "auc", M.Precision: "precision", M.Recall: "recall", M.F1Score: "f1_score",
    M.FBetaScore: "fbeta_score", M.R2Score: "r2_score", M.MeanAbsoluteError: "mean_absolute_error",
    M.MeanSquaredError: "mean_squared_error", M.RootMeanSquaredError: "root_mean_squared_error",
    M.BinaryAccuracy: "binary_accuracy", M.CategoricalAccuracy: "categorical_accuracy",
    M.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
    M.TopKCategoricalAccuracy: "top_k_categorical_accuracy", M.Accuracy: "accuracy",
    M.BinaryCrossentropy: "binary_crossentropy", M.CategoricalCrossentropy: "categorical_crossentropy",
}


def test_default_names_and_directions_are_keras():
    for cls, name in KERAS_DEFAULT_NAMES.items():
        assert cls().name == name
    assert M.AUC().direction == M.F1Score().direction == M.R2Score().direction == "up"
    assert M.MeanAbsoluteError().direction == M.RootMeanSquaredError().direction == "down"
    assert M.BinaryCrossentropy().direction == "down"


@pytest.mark.parametrize("name", M.names())
def test_get_by_name_logs_under_that_name_and_round_trips_its_config(data, name):
    m = M.get(name)
    assert isinstance(m, M.Metric) and m.name == name
    clone = M.deserialize(M.serialize(m))
    assert type(clone) is type(m) and clone.get_config() == m.get_config()
    kind = {"mae": "regression", "mse": "regression", "rmse": "regression", "r2_score": "regression",
            "mean_absolute_error": "regression", "mean_squared_error": "regression",
            "root_mean_squared_error": "regression", "binary_crossentropy": "multi",
            "binary_accuracy": "multi", "auc": "multi", "precision": "multi", "recall": "multi"}.get(name, "labels")
    y, p = inputs(data, kind)
    m.update_state(y, p)
    clone.update_state(y, p)
    close_results(clone.result(), m.result(), 0)


def test_get_accepts_classes_instances_dicts_and_functions(data):
    assert type(M.get(M.AUC)) is M.AUC and M.get(M.AUC).name == "auc"
    inst = M.Precision(thresholds=0.3)
    assert M.get(inst) is inst
    m = M.get({"class_name": "AUC", "config": {"curve": "PR", "multi_label": True, "name": "ap"}})
    assert (type(m), m.curve, m.multi_label, m.name) == (M.AUC, "PR", True, "ap")

    def sq_err(y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean(axis=1)

    wrapped = M.get(sq_err)
    assert wrapped.name == "sq_err" and "sq_err" in repr(wrapped)
    t, p, w = data["reg_t"], data["reg_p"], data["w"]
    wrapped.update_state(t, p, w)
    assert wrapped.result() == pytest.approx(sk.mean_squared_error(t, p, sample_weight=w), rel=1e-12)


def test_get_resolves_accuracy_from_the_loss():
    m = M.get("accuracy", loss="binary_crossentropy")
    assert (type(m), m.threshold, m.name) == (M.BinaryAccuracy, 0.5, "accuracy")
    assert M.get("acc", loss=fastnn.losses.Hinge()).threshold == 0.0
    assert type(M.get("accuracy", loss="softmax_cross_entropy")) is M.CategoricalAccuracy
    assert type(M.get("accuracy", loss="sparse_categorical_crossentropy")) is M.CategoricalAccuracy
    assert type(M.get("accuracy")) is M.Accuracy
    with pytest.raises(ValueError, match=r"^metrics: 'accuracy' needs a classification loss"):
        M.get("accuracy", loss="mse")


# -- bad input -----------------------------------------------------------------------------------

def test_unknown_names_and_bad_identifiers_name_metrics():
    for bad in ("nope", "AUC ", 3, None, {"class_name": "Nope"}):
        with pytest.raises(ValueError, match=r"^metrics: "):
            M.get(bad)


@pytest.mark.parametrize("make, pattern", [
    (lambda: M.TopKCategoricalAccuracy(k=0), r"^k: expected an integer >= 1, got 0"),
    (lambda: M.top_k_categorical_accuracy([0], [[1.0, 0.0]], k=-2), r"^k: "),
    (lambda: M.TopKCategoricalAccuracy(k=2.5), r"^k: "),
    (lambda: M.BinaryAccuracy(threshold="0.5"), r"^threshold: "),
    (lambda: M.Precision(thresholds=[]), r"^thresholds: "),
    (lambda: M.Precision(thresholds=[0.5, float("nan")]), r"^thresholds: "),
    (lambda: M.Recall(top_k=0), r"^top_k: "),
    (lambda: M.Precision(class_id=-1), r"^class_id: "),
    (lambda: M.F1Score(average="binary"), r"^average: "),
    (lambda: M.FBetaScore(beta=0.0), r"^beta: "),
    (lambda: M.AUC(curve="roc_pr"), r"^curve: "),
    (lambda: M.AUC(multi_label="yes"), r"^multi_label: "),
    (lambda: M.AUC(label_weights=[1.0, -1.0]), r"^label_weights: "),
    (lambda: M.R2Score(class_aggregation="mean"), r"^class_aggregation: "),
    (lambda: M.R2Score(num_regressors=-1), r"^num_regressors: "),
    (lambda: M.BinaryCrossentropy(label_smoothing=1.5), r"^label_smoothing: "),
    (lambda: M.MeanAbsoluteError(name=""), r"^name: "),
])
def test_constructors_refuse_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_update_state_refuses_bad_inputs(data):
    lab, proba, multi, tied = data["labels"], data["proba"], data["multi"], data["tied"]
    with pytest.raises(ValueError, match=r"^y_true: expected 301 labels \(one per row of y_pred\), got 300"):
        M.CategoricalAccuracy().update_state(lab[:300], proba)
    m = M.MeanSquaredError()
    with pytest.raises(ValueError, match=r"^y_true: expected shape \(301, 3\) like y_pred, got \(301, 2\)"):
        m.update_state(data["reg_t"][:, :2], data["reg_p"])
    with pytest.raises(ValueError, match=r"^y_true: expected shape \(300, 3\)"):
        m.update_state(data["reg_t"][:301].astype(np.float64), data["reg_p"][:300])
    with pytest.raises(ValueError, match=r"^y_true: expected class labels in \[0, 4\), got 7 at index 3"):
        bad = lab.copy()
        bad[3] = 7
        M.CategoricalAccuracy().update_state(bad, proba)  # int64 labels: checked in the kernel
    with pytest.raises(ValueError, match=r"^y_true: expected class labels in \[0, 4\)"):
        M.AUC().update_state(np.array([0, 1, -1], np.int32), proba[:3])
    with pytest.raises(ValueError, match=r"^y_true: expected class labels \(n,\) or rows of shape \(301, 4\)"):
        M.F1Score().update_state(multi[:, :3], tied)
    with pytest.raises(ValueError, match=r"^sample_weight: expected 301 weights"):
        M.AUC().update_state(multi, tied, data["w"][:10])
    with pytest.raises(ValueError, match=r"^sample_weight: expected weights >= 0"):
        M.precision(multi, tied, sample_weight=-data["w"] - 1)
    with pytest.raises(ValueError, match=r"^y_pred: expected an array of shape \(n,\) or \(n, k\)"):
        M.MeanAbsoluteError().update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"^y_pred: expected finite values"):
        M.roc_auc([0, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match=r"^class_id: expected a class index in \[0, 4\)"):
        M.Precision(class_id=4).update_state(multi, tied)
    with pytest.raises(ValueError, match=r"^y_pred: expected 4 columns"):
        M.AUC(num_labels=4).update_state(multi[:, :3], tied[:, :3])
    with pytest.raises(ValueError, match=r"^y_true: label_smoothing needs one-hot rows"):
        M.CategoricalCrossentropy(label_smoothing=0.1).update_state(lab, proba)
    m = M.AUC()
    m.update_state(multi, tied)
    with pytest.raises(ValueError, match=r"^y_pred: expected 4 columns like the previous batches of 'auc'"):
        m.update_state(multi[:, :3], tied[:, :3])
    m.reset_state()
    m.update_state(multi[:, :3], tied[:, :3])  # after a reset, a new column count is fine
    assert m.result() == pytest.approx(sk.roc_auc_score(multi[:, :3], tied[:, :3], average="micro"), rel=1e-12)


def test_kernels_refuse_bad_buffers():
    p = np.zeros((4, 3))
    y = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"^acc: expected 2 elements, got 3"):
        ops.metric_accuracy_update(0, y, p, None, np.zeros(3), 4)
    with pytest.raises(ValueError, match=r"^y_true: expected dtype float64, got float32"):
        ops.metric_mean_error_update(0, y.astype(np.float32), p, None, np.zeros(2), 4)
    with pytest.raises(ValueError, match=r"^y_pred: expected at least 5 rows, got 4"):
        ops.metric_accuracy_update(0, y, p, None, np.zeros(2), 5)
    with pytest.raises(ValueError, match=r"^top_k: expected an integer >= 1, got 0"):
        ops.metric_accuracy_update(2, np.zeros(4, np.int64), p, None, np.zeros(2), 4, 0.5, 0)
    with pytest.raises(ValueError, match=r"^acc: expected 18 elements"):
        ops.metric_confusion_update(y, p, None, np.array([0.1, 0.5]), np.zeros((1, 3, 4)), 4)
    with pytest.raises(ValueError, match=r"^scores: expected at least 6 rows, got 4"):
        ops.metric_ranking_append(y, p, None, np.zeros((4, 3)), np.zeros((4, 3), np.int8), np.zeros(4), 2, 4)
    with pytest.raises(ValueError, match=r"^sample_weight: expected dtype float64"):
        ops.metric_r2_update(y, p, np.ones(4, np.float32), np.zeros((4, 3)), np.zeros((2, 3)), 4)
