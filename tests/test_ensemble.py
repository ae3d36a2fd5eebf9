"""fastnn.ensemble.DenseEnsemble against independent references.

- bootstrap=False: each member equals a separately trained fastnn.Sequential of the
  same seed, batches and optimizer (float64, to round-off).
- bootstrap=True: each member equals a plain numpy float64 reference of the weighted
  loss steps (SGD with momentum, Adam) written here from the formulas, with the
  ensemble's stored bootstrap counts as per-row weights.
- predictions (mean, vote) and OOB scores against numpy and hand loops.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import layers, ops, optimizers
from fastnn.ensemble import DenseEnsemble

# -- a plain numpy float64 reference of the weighted training steps -----------------------------


def _act(z, name):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "silu":
        return z / (1.0 + np.exp(-z))
    raise ValueError(name)


def _act_grad(z, name):
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "silu":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 + z * (1.0 - s))
    raise ValueError(name)


def _ref_grads(ws, x, t, w, act, task):
    """Loss and gradients of (1 / n) sum_i w_i l_i for one MLP (ws: [W0, b0, W1, b1, ...])."""
    n = len(x)
    hs, zs = [x], []
    for l in range(len(ws) // 2):
        z = hs[-1] @ ws[2 * l] + ws[2 * l + 1]
        zs.append(z)
        hs.append(z if l == len(ws) // 2 - 1 else _act(z, act))
    out = hs[-1]
    if task == "classification":
        zmax = out.max(axis=1, keepdims=True)
        e = np.exp(out - zmax)
        p = e / e.sum(axis=1, keepdims=True)
        per = np.log(e.sum(axis=1)) + zmax[:, 0] - out[np.arange(n), t]
        d = p.copy()
        d[np.arange(n), t] -= 1.0
    else:
        per = ((out - t) ** 2).mean(axis=1)
        d = 2.0 * (out - t) / out.shape[1]
    loss = float((w * per).sum() / n)
    d = d * w[:, None] / n
    grads = [None] * len(ws)
    for l in range(len(ws) // 2 - 1, -1, -1):
        if l < len(ws) // 2 - 1:
            d = d * _act_grad(zs[l], act)
        grads[2 * l] = hs[l].T @ d
        grads[2 * l + 1] = d.sum(axis=0)
        d = d @ ws[2 * l].T
    return loss, grads


def _ref_train(ws, X, T, W, act, task, batch, epochs, rule, lr):
    """Weighted mini-batch training in the rows' order (shuffle=False), torch's update rules."""
    ws = [np.array(a, np.float64) for a in ws]
    s1 = [np.zeros_like(a) for a in ws]
    s2 = [np.zeros_like(a) for a in ws]
    n, step, epoch_losses = len(X), 0, []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch):
            sl = slice(start, min(start + batch, n))
            loss, gs = _ref_grads(ws, X[sl], T[sl], W[sl], act, task)
            total += loss * (sl.stop - sl.start)
            step += 1
            for i, g in enumerate(gs):
                if rule == "sgd_momentum":  # torch: b = mu b + g (b = g at the first step); p -= lr b
                    s1[i] = g.copy() if step == 1 else 0.9 * s1[i] + g
                    ws[i] = ws[i] - lr * s1[i]
                else:  # torch's Adam, eps added to sqrt(v_hat)
                    b1, b2, eps = 0.9, 0.999, 1e-8
                    s1[i] = b1 * s1[i] + (1 - b1) * g
                    s2[i] = b2 * s2[i] + (1 - b2) * g * g
                    mhat = s1[i] / (1 - b1 ** step)
                    vhat = s2[i] / (1 - b2 ** step)
                    ws[i] = ws[i] - lr * mhat / (np.sqrt(vhat) + eps)
        epoch_losses.append(total / n)
    return ws, epoch_losses


def _ref_forward(ws, x, act, task):
    h = np.asarray(x, np.float64)
    for l in range(len(ws) // 2):
        h = h @ ws[2 * l] + ws[2 * l + 1]
        if l < len(ws) // 2 - 1:
            h = _act(h, act)
    if task == "classification":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return h


def _initial_weights(seed, sizes, act, dtype="float64"):
    m = fastnn.Sequential([layers.Dense(h, activation=act) for h in sizes[1:-1]]
                          + [layers.Dense(sizes[-1])], seed=seed, dtype=dtype)
    m.build((None, sizes[0]))
    return m.get_weights()


@pytest.fixture(scope="module")
def cls_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 7))
    y = np.argmax(X @ rng.normal(size=(7, 3)) + 0.5 * rng.normal(size=(90, 3)), axis=1)
    return X, y


@pytest.fixture(scope="module")
def reg_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 5))
    Y = np.stack([X @ rng.normal(size=5), np.sin(X[:, 0])], axis=1) + 0.1 * rng.normal(size=(80, 2))
    return X, Y


# -- equality with separately trained models --------------------------------------------------

@pytest.mark.parametrize("act", ["relu", "tanh", "silu"])
def test_no_bootstrap_members_equal_sequential_fits(cls_data, act):
    X, y = cls_data
    ens = DenseEnsemble(n_members=3, hidden_layer_sizes=(6, 5), activation=act, bootstrap=False,
                        optimizer="adam", learning_rate=0.01, seed=7, dtype="float64")
    ens.fit(X, y, epochs=3, batch_size=16, shuffle=False)
    assert ens.member_seeds_ == [7, 8, 9]
    for k in range(3):
        m = fastnn.Sequential([layers.Dense(6, activation=act), layers.Dense(5, activation=act),
                               layers.Dense(3)], seed=7 + k, dtype="float64")
        m.compile(optimizer=optimizers.Adam(0.01), loss="softmax_cross_entropy")
        h = m.fit(X, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        for a, b in zip(m.get_weights(), ens.members_weights(k)):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(np.array(ens.history_["member_loss"])[:, k], h.history["loss"],
                                   rtol=1e-12)
    # the members started from different seeds and stay different
    assert not np.allclose(ens.members_weights(0)[0], ens.members_weights(1)[0])


def test_bootstrap_members_equal_weighted_sequential(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=2, hidden_layer_sizes=(4,), bootstrap=True, optimizer="sgd",
                        learning_rate=0.05, seed=3, dtype="float64").fit(X, y, epochs=2, batch_size=20,
                                                                        shuffle=False)
    for k in range(2):
        m = fastnn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3)], seed=3 + k,
                              dtype="float64")
        m.compile(optimizer=optimizers.SGD(0.05), loss="softmax_cross_entropy")
        m.fit(X, y, epochs=2, batch_size=20, shuffle=False, verbose=0,
              sample_weight=ens.bootstrap_counts_[k].astype(np.float64))
        for a, b in zip(m.get_weights(), ens.members_weights(k)):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("rule", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_bootstrap_members_equal_numpy_reference(cls_data, reg_data, rule, task):
    X, T = cls_data if task == "classification" else reg_data
    n_out = 3 if task == "classification" else 2
    opt = optimizers.Adam(0.02) if rule == "adam" else optimizers.SGD(0.05, momentum=0.9)
    act = "tanh" if task == "regression" else "silu"
    ens = DenseEnsemble(n_members=4, hidden_layer_sizes=(5, 4), activation=act, task=task,
                        bootstrap=True, optimizer=opt, seed=[11, 5, 2, 40], dtype="float64")
    ens.fit(X, T, epochs=2, batch_size=32, shuffle=False)
    counts = ens.bootstrap_counts_
    assert counts.shape == (4, len(X)) and (counts.sum(axis=1) == len(X)).all()
    assert len({tuple(c) for c in counts}) == 4  # every member draws its own sample
    lr = 0.02 if rule == "adam" else 0.05
    for k, seed in enumerate([11, 5, 2, 40]):
        ws0 = _initial_weights(seed, (X.shape[1], 5, 4, n_out), act)
        ref, losses = _ref_train(ws0, X, T, counts[k].astype(np.float64), act, task, 32, 2, rule, lr)
        for a, b in zip(ref, ens.members_weights(k)):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.array(ens.history_["member_loss"])[:, k], losses, rtol=1e-10)
    np.testing.assert_allclose(ens.history_["loss"], np.mean(ens.history_["member_loss"], axis=1))


def test_float32_tracks_float64_reference(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=3, hidden_layer_sizes=(8,), bootstrap=True, optimizer="adam",
                        learning_rate=0.01, seed=1, dtype="float32").fit(X, y, epochs=2,
                                                                        batch_size=16, shuffle=False)
    assert ens.params_.dtype == np.float32
    for k in range(3):
        ws0 = _initial_weights(1 + k, (7, 8, 3), "relu", "float32")
        ref, _ = _ref_train(ws0, X.astype(np.float32), y, ens.bootstrap_counts_[k].astype(np.float64),
                            "relu", "classification", 16, 2, "adam", 0.01)
        for a, b in zip(ref, ens.members_weights(k)):
            assert b.dtype == np.float32
            # float32 forward/backward, 12 Adam steps of size ~lr: a few 1e-5 of drift
            np.testing.assert_allclose(b, a, rtol=1e-3, atol=2e-4)


def test_shuffle_is_seeded_and_changes_the_order(cls_data):
    X, y = cls_data
    kw = {"n_members": 2, "hidden_layer_sizes": (4,), "seed": 5, "dtype": "float64"}
    a = DenseEnsemble(**kw).fit(X, y, epochs=2, batch_size=16)
    b = DenseEnsemble(**kw).fit(X, y, epochs=2, batch_size=16)
    c = DenseEnsemble(**kw).fit(X, y, epochs=2, batch_size=16, shuffle=False)
    np.testing.assert_array_equal(a.params_, b.params_)
    np.testing.assert_array_equal(a.bootstrap_counts_, c.bootstrap_counts_)
    assert not np.array_equal(a.params_, c.params_)


@pytest.mark.parametrize("n_members, member_par_min", [(8, None), (3, None), (3, 0.0), (8, 1e300)])
def test_threads_one_and_two_agree(cls_data, n_members, member_par_min):
    """At 2 threads, 8 members run whole members on threads (one parallel region per
    step); 3 members (unbalanced) or a threshold out of reach take the other path: split
    layer-0 GEMMs and element-wise passes, and member loops on threads when the
    threshold is 0 (the loss too)."""
    from fastnn._core import ensemble as kernel
    X, y = cls_data
    X = np.repeat(X, 8, axis=0)  # large enough that the kernels split work over threads
    y = np.repeat(y, 8)
    before = fastnn.get_num_threads()
    old = kernel._set_member_par_min(member_par_min) if member_par_min is not None else None
    out = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            ens = DenseEnsemble(n_members=n_members, hidden_layer_sizes=(64, 32), activation="silu",
                                bootstrap=True, learning_rate=0.01, seed=0, dtype="float64")
            out.append(ens.fit(X, y, epochs=1, batch_size=512, shuffle=False).params_.copy())
    finally:
        fastnn.set_num_threads(before)
        if old is not None:
            kernel._set_member_par_min(old)
    np.testing.assert_allclose(out[1], out[0], rtol=1e-9, atol=1e-11)
    # and both equal the numpy reference of the last member
    k = n_members - 1
    ws0 = _initial_weights(k, (7, 64, 32, 3), "silu")
    ref, _ = _ref_train(ws0, X, y, ens.bootstrap_counts_[k].astype(np.float64), "silu",
                        "classification", 512, 1, "adam", 0.01)
    for a, b in zip(ref, ens.members_weights(k)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11)
    # inference runs the same paths, forward only
    want = _ref_forward(ens.members_weights(k), X, "silu", "classification")
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            np.testing.assert_allclose(ens.member_predict(X)[k], want, rtol=1e-11, atol=1e-13)
    finally:
        fastnn.set_num_threads(before)


# -- predictions ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_cls(cls_data):
    X, y = cls_data
    labels = np.array(["ant", "bee", "cat"])[y]  # arbitrary class labels
    ens = DenseEnsemble(n_members=5, hidden_layer_sizes=(6,), bootstrap=True, learning_rate=0.02,
                        seed=2, dtype="float64").fit(X, labels, epochs=3, batch_size=16)
    return ens, X, labels


def test_member_predict_matches_numpy_forward(fitted_cls):
    ens, X, _ = fitted_cls
    P = ens.member_predict(X, batch_size=7)  # several chunks, the last one short
    assert P.shape == (5, len(X), 3)
    for k in range(5):
        np.testing.assert_allclose(P[k], _ref_forward(ens.members_weights(k), X, "relu",
                                                      "classification"), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(P[k], ens.to_sequential(k).predict(X), rtol=1e-12, atol=1e-14)


def test_predict_mean_and_vote(fitted_cls):
    ens, X, labels = fitted_cls
    P = np.stack([_ref_forward(ens.members_weights(k), X, "relu", "classification")
                  for k in range(5)])
    np.testing.assert_allclose(ens.predict_proba(X), P.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(ens.predict(X), ens.classes_[np.argmax(P.mean(axis=0), axis=1)])
    votes = np.zeros((len(X), 3), int)
    for k in range(5):
        np.add.at(votes, (np.arange(len(X)), np.argmax(P[k], axis=1)), 1)
    np.testing.assert_array_equal(ens.predict(X, combine="vote"), ens.classes_[np.argmax(votes, axis=1)])
    assert set(ens.predict(X)) <= {"ant", "bee", "cat"}
    assert ens.score(X, labels) == np.mean(ens.predict(X) == labels)


def test_oob_classification_matches_hand_loop(fitted_cls):
    ens, X, labels = fitted_cls
    y = np.searchsorted(ens.classes_, labels)
    probs = [ens.to_sequential(k).predict(X) for k in range(5)]
    hits, rows = 0, 0
    for i in range(len(X)):
        oob = [k for k in range(5) if ens.bootstrap_counts_[k, i] == 0]
        if not oob:
            assert np.isnan(ens.oob_decision_[i]).all()
            continue
        avg = np.mean([probs[k][i] for k in oob], axis=0)
        np.testing.assert_allclose(ens.oob_decision_[i], avg, rtol=1e-12)
        hits += int(np.argmax(avg) == y[i])
        rows += 1
    assert rows > 0
    assert ens.oob_score_ == pytest.approx(hits / rows, abs=1e-15)


def test_regression_predict_and_oob(reg_data):
    X, Y = reg_data
    ens = DenseEnsemble(n_members=6, hidden_layer_sizes=(8,), task="regression", activation="tanh",
                        learning_rate=0.02, seed=4, dtype="float64").fit(X, Y, epochs=4, batch_size=16)
    P = np.stack([_ref_forward(ens.members_weights(k), X, "tanh", "regression") for k in range(6)])
    np.testing.assert_allclose(ens.member_predict(X), P, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ens.predict(X), P.mean(axis=0), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ens.predict(X, combine="median"), np.median(P, axis=0), rtol=1e-12)
    oob = ens.bootstrap_counts_ == 0
    rows = oob.any(axis=0)
    dec = np.array([P[oob[:, i], i].mean(axis=0) for i in np.flatnonzero(rows)])
    np.testing.assert_allclose(ens.oob_decision_[rows], dec, rtol=1e-12)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert ens.oob_score_ == pytest.approx(sklearn_metrics.r2_score(Y[rows], dec), rel=1e-12)
    # 1-D targets give 1-D predictions
    e1 = DenseEnsemble(n_members=2, hidden_layer_sizes=(3,), task="regression", seed=0).fit(X, Y[:, 0])
    assert e1.predict(X).shape == (len(X),)


def test_no_bootstrap_has_no_oob(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=2, hidden_layer_sizes=(3,), bootstrap=False).fit(X, y)
    assert ens.bootstrap_counts_ is None and ens.oob_score_ is None and ens.oob_decision_ is None


def test_to_sequential_and_config_round_trip(fitted_cls):
    ens, _X, _ = fitted_cls
    m = ens.to_sequential(3)
    assert isinstance(m, fastnn.Sequential) and m.seed == ens.member_seeds_[3]
    for a, b in zip(m.get_weights(), ens.members_weights(3)):
        np.testing.assert_array_equal(a, b)
    clone = DenseEnsemble.from_config(ens.get_config())
    assert clone.get_config() == ens.get_config()


def test_hidden_free_softmax_model(cls_data):
    """No hidden layer: one GEMM for all members' logits (softmax regression)."""
    X, y = cls_data
    ens = DenseEnsemble(n_members=3, hidden_layer_sizes=(), bootstrap=True, optimizer="sgd",
                        learning_rate=0.1, seed=9, dtype="float64").fit(X, y, epochs=2, batch_size=30,
                                                                       shuffle=False)
    for k in range(3):
        ws0 = _initial_weights(9 + k, (7, 3), "relu")
        ref = _plain_sgd(ws0, X, y, ens.bootstrap_counts_[k].astype(np.float64), 30, 2, 0.1)
        for a, b in zip(ref, ens.members_weights(k)):
            np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-13)


def _plain_sgd(ws, X, y, w, batch, epochs, lr):
    ws = [np.array(a, np.float64) for a in ws]
    for _ in range(epochs):
        for start in range(0, len(X), batch):
            sl = slice(start, min(start + batch, len(X)))
            _, gs = _ref_grads(ws, X[sl], y[sl], w[sl], "relu", "classification")
            ws = [p - lr * g for p, g in zip(ws, gs)]
    return ws


# -- buffers and kernels -------------------------------------------------------------------------

def test_steps_allocate_nothing(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=4, hidden_layer_sizes=(8,), seed=0).fit(X, y, batch_size=16)
    xb = np.ascontiguousarray(X[:16], np.float32)
    yb = y[:16].astype(np.int64)
    wb = np.ones((16, 4), np.float32)
    loss = np.zeros(4)
    opt = ens._optimizer

    def step():
        ops.ensemble_step(xb, 16, yb, wb, ens.params_, ens.grads_, ens._dims_, 4, 1, 0.0, 0, 1 / 16,
                          ens._capacity, ens._acts, None, ens._deltas, loss)
        opt._apply_flat([ens.grads_], [ens.params_])

    for _ in range(5):
        step()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            step()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 2048  # 200 steps; any per-step array (>= 64 bytes each) would show


def test_kernel_refuses_bad_buffers(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=2, hidden_layer_sizes=(3,), seed=0, dtype="float64").fit(X, y)
    args = {"x": X[:4].copy(), "n": 4, "targets": np.array([0, 1, 2, 3], np.int64), "weights": None,
                "params": ens.params_, "grads": ens.grads_, "dims": ens._dims_, "n_members": 2, "act": 1, "alpha": 0.0,
                "task": 0, "scale": 0.25, "capacity": ens._capacity, "acts": ens._acts, "zs": None,
                "deltas": ens._deltas, "member_loss": np.zeros(2)}
    with pytest.raises(ValueError, match="targets: expected labels in \\[0, 3\\)"):
        ops.ensemble_step(**args)
    args["targets"] = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="params: expected"):
        ops.ensemble_step(**{**args, "params": ens.params_[:-1].copy()})
    with pytest.raises(ValueError, match="x: expected"):
        ops.ensemble_step(**{**args, "x": X[:4].astype(np.float32)})
    with pytest.raises(ValueError, match="n: expected"):
        ops.ensemble_step(**{**args, "n": ens._capacity + 1})
    with pytest.raises(ValueError, match="act: expected"):
        ops.ensemble_step(**{**args, "act": 4})  # softmax mixes the members' columns
    with pytest.raises(ValueError, match="zs: "):
        ops.ensemble_step(**{**args, "act": 11})  # silu reads the pre-activation


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_members": 0}, ValueError, "n_members: expected an integer >= 1, got 0"),
    ({"hidden_layer_sizes": (4, 0)}, ValueError, "hidden_layer_sizes\\[1\\]: expected an integer >= 1"),
    ({"hidden_layer_sizes": "64"}, TypeError, "hidden_layer_sizes: expected a sequence"),
    ({"activation": "softmax"}, ValueError, "activation: expected a built-in element-wise"),
    ({"activation": "nope"}, ValueError, "nope"),
    ({"task": "ranking"}, ValueError, "task: expected 'classification' or 'regression', got 'ranking'"),
    ({"optimizer": "adamm"}, ValueError, "optimizer: expected"),
    ({"optimizer": optimizers.Adam(clipnorm=1.0)}, ValueError, "clipnorm"),
    ({"optimizer": optimizers.Adam(), "learning_rate": 0.1}, ValueError, "learning_rate: set the rate"),
    ({"learning_rate": -1.0}, ValueError, "learning_rate: expected a finite float > 0"),
    ({"seed": [1, 2]}, ValueError, "seed: expected an int or 8 ints"),
    ({"seed": -1}, ValueError, "seed: expected an integer >= 0"),
    ({"dtype": "float16"}, ValueError, "dtype: expected 'float32' or 'float64', got 'float16'"),
    ({"bootstrap": "yes"}, TypeError, "bootstrap: expected a bool"),
])
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DenseEnsemble(**kwargs)


def test_fit_and_predict_errors(cls_data):
    X, y = cls_data
    ens = DenseEnsemble(n_members=2, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="member_predict: the ensemble is not fitted"):
        ens.predict(X)
    with pytest.raises(ValueError, match="y: expected 90 rows like x, got 89"):
        ens.fit(X, y[:-1])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="x"):
        ens.fit(bad, y)
    with pytest.raises(ValueError, match="y: expected at least 2 classes"):
        ens.fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 0"):
        ens.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        ens.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="x: expected at least one sample"):
        ens.fit(X[:0], y[:0])
    assert not ens.fitted  # failed calls changed nothing
    ens.fit(X, y)
    with pytest.raises(ValueError, match="x: expected 7 features"):
        ens.predict(X[:, :5])
    with pytest.raises(ValueError, match="combine: expected one of \\('mean', 'vote'\\)"):
        ens.predict(X, combine="median")
    with pytest.raises(ValueError, match="k: expected a member index in \\[0, 2\\), got 2"):
        ens.members_weights(2)
    reg = DenseEnsemble(n_members=2, hidden_layer_sizes=(3,), task="regression").fit(X, X[:, :2])
    with pytest.raises(ValueError, match="predict_proba: needs task='classification'"):
        reg.predict_proba(X)
    with pytest.raises(ValueError, match="combine: expected one of \\('mean', 'median'\\)"):
        reg.predict(X, combine="vote")
    with pytest.raises(ValueError, match="y: expected targets of shape"):
        reg.fit(X, np.zeros((90, 2, 2)))
