"""Bad input: every public call validates before anything changes, and raises
ValueError/TypeError whose message starts with the argument's name and shows what was
expected and what came. After each failed call on a trained model, the weights and the
optimizer state (moment arrays, iteration count) are exactly as before."""
import re

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers, optimizers

N, FEATURES, CLASSES = 40, 6, 3


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, FEATURES)).astype(np.float32), rng.integers(0, CLASSES, n).astype(np.int64)


def new_model(loss="softmax_cross_entropy", seed=0):
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(CLASSES)], seed=seed)
    metrics = ["accuracy"] if loss == "softmax_cross_entropy" else []
    model.compile(optimizer=optimizers.Adam(0.01), loss=loss, metrics=metrics)
    return model


@pytest.fixture
def trained():
    """A model after a few Adam steps (so that its state is not all zeros)."""
    X, y = data()
    model = new_model()
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert model.optimizer.iterations == 3
    return model


@pytest.fixture
def trained_mse():
    X, _ = data()
    model = new_model("mse")
    model.fit(X, np.random.default_rng(1).standard_normal((N, CLASSES)), epochs=1, batch_size=16, verbose=0)
    return model


def snapshot(model):
    opt = model.optimizer
    return {
        "weights": model.get_weights() if model.built else None,
        "arena": model.param_arena.copy() if model.built else None,
        "optimizer": opt,
        "loss": model.loss,
        "built": model.built,
        "iterations": None if opt is None else opt.iterations,
        "state": None if opt is None or opt._state is None else
        [{k: v.copy() for k, v in slots.items()} for slots in opt._state],
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert after["built"] == before["built"], "a failed call built the model"
    assert after["optimizer"] is before["optimizer"] and after["loss"] is before["loss"]
    assert after["iterations"] == before["iterations"], "a failed call counted an optimizer step"
    if before["weights"] is not None:
        for a, b in zip(after["weights"], before["weights"]):
            np.testing.assert_array_equal(a, b, err_msg="a failed call changed the weights")
        np.testing.assert_array_equal(after["arena"], before["arena"])
    if before["state"] is None:
        assert after["state"] is None, "a failed call built the optimizer state"
    else:
        assert len(after["state"]) == len(before["state"])
        for sa, sb in zip(after["state"], before["state"]):
            assert sa.keys() == sb.keys()
            for k in sa:
                np.testing.assert_array_equal(sa[k], sb[k], err_msg=f"a failed call changed optimizer state {k}")


def fails(model, call, exc, arg, *shown):
    """call() raises exc with a message starting with the argument name `arg` and
    containing every string in `shown`; the model is left exactly as it was."""
    before = snapshot(model)
    with pytest.raises(exc, match=rf"^{re.escape(arg)}(?![\w\[])") as info:
        call()
    for s in shown:
        assert s in str(info.value), f"{s!r} not in the message {str(info.value)!r}"
    assert_unchanged(model, before)
    return str(info.value)


def with_nan(a, value=np.nan, index=(3, 2)):
    a = a.astype(np.float64 if a.dtype.kind != "f" else a.dtype, copy=True)
    a[index] = value
    return a


X0, Y0 = data()
VAL = data(12, seed=5)

# (id, call(model), exception, argument, fragments the message must show)
TRAINING_CASES = [
    # x shape and content
    ("x-1d", lambda m: m.fit(X0[:, 0], Y0, verbose=0), ValueError, "x", "2-D", "(40,)"),
    ("x-3d", lambda m: m.fit(X0[:, :, None], Y0, verbose=0), ValueError, "x", "2-D", "(40, 6, 1)"),
    ("x-nan", lambda m: m.fit(with_nan(X0), Y0, verbose=0), ValueError, "x", "finite", "nan"),
    ("x-inf", lambda m: m.fit(with_nan(X0, np.inf), Y0, verbose=0), ValueError, "x", "finite", "inf"),
    ("x-neg-inf", lambda m: m.fit(with_nan(X0, -np.inf), Y0, verbose=0), ValueError, "x", "finite", "inf"),
    ("x-strings", lambda m: m.fit(X0.astype(str), Y0, verbose=0), TypeError, "x", "numeric", "<U"),
    ("x-object", lambda m: m.fit(X0.astype(object), Y0, verbose=0), TypeError, "x", "numeric", "object"),
    ("x-complex", lambda m: m.fit(X0.astype(complex), Y0, verbose=0), TypeError, "x", "numeric", "complex"),
    ("x-wrong-width", lambda m: m.fit(X0[:, :5], Y0, verbose=0), ValueError, "x", "6", "5"),
    ("x-overflows-float32", lambda m: m.fit(with_nan(X0, 1e300), Y0, verbose=0), ValueError, "x", "finite"),
    ("zero-rows", lambda m: m.fit(X0[:0], Y0[:0], verbose=0), ValueError, "x", "0"),
    # y
    ("len-mismatch", lambda m: m.fit(X0, Y0[:-1], verbose=0), ValueError, "y", "39", "40"),
    ("label-too-large", lambda m: m.fit(X0, np.r_[Y0[:-1], 3], verbose=0), ValueError, "y", "[0, 3)", "3"),
    ("label-negative", lambda m: m.fit(X0, np.r_[-1, Y0[1:]], verbose=0), ValueError, "y", "[0, 3)", "-1"),
    ("label-fraction", lambda m: m.fit(X0, np.r_[0.5, Y0[1:]], verbose=0), ValueError, "y", "integer", "0.5"),
    ("label-nan", lambda m: m.fit(X0, with_nan(Y0, index=4), verbose=0), ValueError, "y", "finite", "nan"),
    ("label-inf", lambda m: m.fit(X0, with_nan(Y0, np.inf, index=4), verbose=0), ValueError, "y", "finite", "inf"),
    ("label-strings", lambda m: m.fit(X0, Y0.astype(str), verbose=0), TypeError, "y", "integer", "<U"),
    ("labels-2d", lambda m: m.fit(X0, np.stack([Y0, Y0, Y0, Y0], 1)[:, :2].reshape(N, 2, 1), verbose=0),
     ValueError, "y", "(40, 2, 1)"),
    ("onehot-wrong-columns", lambda m: m.fit(X0, np.eye(4)[Y0], verbose=0), ValueError, "y", "3", "(40, 4)"),
    ("onehot-nan", lambda m: m.fit(X0, with_nan(np.eye(3)[Y0], index=(0, 1)), verbose=0),
     ValueError, "y", "finite", "nan"),
    # fit's other arguments
    ("epochs-0", lambda m: m.fit(X0, Y0, epochs=0, verbose=0), ValueError, "epochs", ">= 1", "0"),
    ("epochs-negative", lambda m: m.fit(X0, Y0, epochs=-2, verbose=0), ValueError, "epochs", "-2"),
    ("epochs-bool", lambda m: m.fit(X0, Y0, epochs=True, verbose=0), (ValueError, TypeError), "epochs", "True"),
    ("epochs-float", lambda m: m.fit(X0, Y0, epochs=2.0, verbose=0), (ValueError, TypeError), "epochs", "2.0"),
    ("batch-0", lambda m: m.fit(X0, Y0, batch_size=0, verbose=0), ValueError, "batch_size", ">= 1", "0"),
    ("batch-negative", lambda m: m.fit(X0, Y0, batch_size=-16, verbose=0), ValueError, "batch_size", "-16"),
    ("batch-bool", lambda m: m.fit(X0, Y0, batch_size=True, verbose=0), (ValueError, TypeError),
     "batch_size", "True"),
    ("batch-float", lambda m: m.fit(X0, Y0, batch_size=16.0, verbose=0), (ValueError, TypeError),
     "batch_size", "16.0"),
    ("batch-string", lambda m: m.fit(X0, Y0, batch_size="16", verbose=0), (ValueError, TypeError),
     "batch_size", "'16'"),
    ("verbose-3", lambda m: m.fit(X0, Y0, verbose=3), ValueError, "verbose", "3"),
    ("callbacks-not-callback", lambda m: m.fit(X0, Y0, verbose=0, callbacks=[print]), TypeError, "callbacks"),
    # validation_data
    ("val-not-pair", lambda m: m.fit(X0, Y0, verbose=0, validation_data=VAL[0]), ValueError, "validation_data"),
    ("val-x-nan", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(with_nan(VAL[0]), VAL[1])),
     ValueError, "validation_data[0]", "nan"),
    ("val-x-inf", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(with_nan(VAL[0], np.inf), VAL[1])),
     ValueError, "validation_data[0]", "inf"),
    ("val-y-nan", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(VAL[0], with_nan(VAL[1], index=2))),
     ValueError, "validation_data[1]", "nan"),
    ("val-label-out-of-range", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(VAL[0], VAL[1] + 3)),
     ValueError, "validation_data[1]", "[0, 3)"),
    ("val-wrong-width", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(VAL[0][:, :4], VAL[1])),
     ValueError, "validation_data[0]", "6", "4"),
    ("val-len-mismatch", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(VAL[0], VAL[1][:-2])),
     ValueError, "validation_data[1]", "10", "12"),
    ("val-zero-rows", lambda m: m.fit(X0, Y0, verbose=0, validation_data=(VAL[0][:0], VAL[1][:0])),
     ValueError, "validation_data[0]", "0"),
    # evaluate
    ("evaluate-x-nan", lambda m: m.evaluate(with_nan(X0), Y0), ValueError, "x", "nan"),
    ("evaluate-len-mismatch", lambda m: m.evaluate(X0[:10], Y0), ValueError, "y", "40", "10"),
    ("evaluate-label", lambda m: m.evaluate(X0, Y0 + 1), ValueError, "y", "[0, 3)", "3"),
    ("evaluate-zero-rows", lambda m: m.evaluate(X0[:0], Y0[:0]), ValueError, "x", "0"),
    ("evaluate-wrong-width", lambda m: m.evaluate(X0[:, 1:], Y0), ValueError, "x", "6", "5"),
    ("evaluate-batch-0", lambda m: m.evaluate(X0, Y0, batch_size=0), ValueError, "batch_size", "0"),
    # predict
    ("predict-wrong-width", lambda m: m.predict(X0[:, :5]), ValueError, "x", "6", "5"),
    ("predict-too-wide", lambda m: m.predict(np.ones((3, 7), np.float32)), ValueError, "x", "6", "7"),
    ("predict-1d", lambda m: m.predict(X0[0]), ValueError, "x", "2-D", "(6,)"),
    ("predict-nan", lambda m: m.predict(with_nan(X0)), ValueError, "x", "nan"),
    ("predict-strings", lambda m: m.predict(X0.astype(str)), TypeError, "x", "<U"),
    ("predict-batch-0", lambda m: m.predict(X0, batch_size=0), ValueError, "batch_size", "0"),
    ("predict-batch-bool", lambda m: m.predict(X0, batch_size=False), (ValueError, TypeError),
     "batch_size", "False"),
    # train_on_batch and compute_gradients
    ("tob-1d", lambda m: m.train_on_batch(X0[0], Y0[:1]), ValueError, "x", "2-D"),
    ("tob-len-mismatch", lambda m: m.train_on_batch(X0[:8], Y0[:9]), ValueError, "y", "9", "8"),
    ("tob-label", lambda m: m.train_on_batch(X0, np.full(N, 7)), ValueError, "y", "[0, 3)", "7"),
    ("tob-label-negative", lambda m: m.train_on_batch(X0, np.full(N, -2)), ValueError, "y", "-2"),
    ("tob-label-fraction", lambda m: m.train_on_batch(X0, np.full(N, 1.25)), ValueError, "y", "1.25"),
    ("tob-x-nan", lambda m: m.train_on_batch(with_nan(X0), Y0), ValueError, "x", "nan"),
    ("tob-x-inf", lambda m: m.train_on_batch(with_nan(X0, np.inf), Y0), ValueError, "x", "inf"),
    ("tob-y-nan", lambda m: m.train_on_batch(X0, with_nan(Y0, index=0)), ValueError, "y", "nan"),
    ("tob-wrong-width", lambda m: m.train_on_batch(X0[:, :2], Y0), ValueError, "x", "6", "2"),
    ("tob-zero-rows", lambda m: m.train_on_batch(X0[:0], Y0[:0]), ValueError, "x", "0"),
    ("tob-onehot-columns", lambda m: m.train_on_batch(X0, np.eye(2)[Y0 % 2]), ValueError, "y", "3", "(40, 2)"),
    ("tob-object", lambda m: m.train_on_batch(X0.astype(object), Y0), TypeError, "x", "object"),
    ("grads-label", lambda m: m.compute_gradients(X0, Y0 + 5), ValueError, "y", "[0, 3)"),
    ("grads-nan", lambda m: m.compute_gradients(with_nan(X0), Y0), ValueError, "x", "nan"),
    # apply_gradients
    ("apply-count", lambda m: m.apply_gradients(m.get_weights()[:3]), ValueError, "grads", "4", "3"),
    ("apply-shape", lambda m: m.apply_gradients([np.zeros((8, 6))] + m.get_weights()[1:]),
     ValueError, "grads[0]", "(6, 8)", "(8, 6)"),
    ("apply-nan", lambda m: m.apply_gradients(m.get_weights()[:3] + [np.full(3, np.nan)]),
     ValueError, "grads[3]", "nan"),
    # set_weights
    ("weights-count", lambda m: m.set_weights(m.get_weights()[:3]), ValueError, "weights", "4", "3"),
    ("weights-extra", lambda m: m.set_weights(m.get_weights() + [np.zeros(3)]), ValueError, "weights", "4", "5"),
    ("weights-shape", lambda m: m.set_weights([w + 1 for w in m.get_weights()[:2]] + [np.zeros((3, 8)),
                                                                                      np.zeros(3)]),
     ValueError, "weights[2]", "(8, 3)", "(3, 8)"),
    ("weights-ndim", lambda m: m.set_weights([np.zeros(48)] + m.get_weights()[1:]),
     ValueError, "weights[0]", "2-D", "(48,)"),
    ("weights-nan", lambda m: m.set_weights([w + 1 for w in m.get_weights()[:3]] + [np.full(3, np.nan)]),
     ValueError, "weights[3]", "nan"),
    ("weights-strings", lambda m: m.set_weights([w.astype(str) for w in m.get_weights()]), TypeError,
     "weights[0]"),
    # compile and build on a trained model
    ("compile-loss", lambda m: m.compile(optimizer="sgd", loss="hinge_loss_v2"), ValueError, "loss", "'hinge_loss_v2'"),
    ("compile-no-loss", lambda m: m.compile(optimizer="sgd"), ValueError, "loss", "None"),
    ("compile-optimizer", lambda m: m.compile(optimizer="rmsprop_v9", loss="mse"), ValueError,
     "optimizer", "'rmsprop_v9'"),
    ("compile-metric", lambda m: m.compile(optimizer="sgd", loss="mse", metrics=["auc_roc"]), ValueError,
     "metrics", "'auc_roc'"),
    ("build-other-width", lambda m: m.build((None, 5)), ValueError, "input_shape", "6", "5"),
]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("call, exc, arg, shown", [c[1:3] + (c[3], c[4:]) for c in TRAINING_CASES],
                         ids=[c[0] for c in TRAINING_CASES])
def test_trained_model_is_unchanged_by_a_failed_call(trained, call, exc, arg, shown):
    fails(trained, lambda: call(trained), exc, arg, *shown)


def test_x_ragged_list_names_the_argument(trained):
    fails(trained, lambda: trained.fit([[0.0] * 6, [1.0] * 5], [0, 1], verbose=0), (ValueError, TypeError), "x")


MSE_CASES = [
    ("y-nan", lambda m: m.fit(X0, with_nan(np.zeros((N, 3)), index=(5, 1)), verbose=0), ValueError, "y", "nan"),
    ("y-inf", lambda m: m.train_on_batch(X0, with_nan(np.zeros((N, 3)), -np.inf, (5, 1))), ValueError, "y", "inf"),
    ("y-columns", lambda m: m.fit(X0, np.zeros((N, 2)), verbose=0), ValueError, "y", "3", "(40, 2)"),
    ("y-1d-for-3-outputs", lambda m: m.train_on_batch(X0, np.zeros(N)), ValueError, "y", "2-D", "(40,)"),
    ("y-rows", lambda m: m.evaluate(X0, np.zeros((N + 1, 3))), ValueError, "y", "41", "40"),
    ("y-strings", lambda m: m.fit(X0, np.zeros((N, 3)).astype(str), verbose=0), TypeError, "y", "<U"),
    ("val-y-nan", lambda m: m.fit(X0, np.zeros((N, 3)), verbose=0,
                                  validation_data=(VAL[0], with_nan(np.zeros((12, 3)), index=(0, 0)))),
     ValueError, "validation_data[1]", "nan"),
]


@pytest.mark.parametrize("call, exc, arg, shown", [c[1:3] + (c[3], c[4:]) for c in MSE_CASES],
                         ids=[c[0] for c in MSE_CASES])
def test_regression_targets_are_validated(trained_mse, call, exc, arg, shown):
    fails(trained_mse, lambda: call(trained_mse), exc, arg, *shown)


def test_valid_variants_are_accepted(trained):
    """The checks refuse only what is wrong: whole-number float labels, (n, 1) labels,
    float64 or integer X, lists, and a final partial batch are all fine."""
    trained.fit(X0.astype(np.float64), Y0.astype(np.float64), epochs=1, batch_size=16, verbose=0)
    trained.fit(X0.tolist(), Y0.reshape(-1, 1), epochs=1, batch_size=16, verbose=0)
    trained.train_on_batch(np.round(X0 * 3).astype(np.int32), Y0.astype(np.int8))
    trained.evaluate(X0, Y0.astype(np.uint8))
    trained.fit(X0, Y0, epochs=np.int64(1), batch_size=np.int32(1000), verbose=0)  # batch > n: one batch


# --- calls in the wrong order ------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda m: m.fit(X0, Y0, verbose=0),
    lambda m: m.evaluate(X0, Y0),
    lambda m: m.train_on_batch(X0, Y0),
    lambda m: m.compute_gradients(X0, Y0),
    lambda m: m.apply_gradients([]),
], ids=["fit", "evaluate", "train_on_batch", "compute_gradients", "apply_gradients"])
def test_training_before_compile_raises(call):
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
    with pytest.raises(ValueError, match="compile"):
        call(model)
    assert not model.built and not model.compiled


@pytest.mark.parametrize("call", [
    lambda m: m.get_weights(),
    lambda m: m.set_weights([]),
    lambda m: m.summary(),
    lambda m: m.count_params(),
], ids=["get_weights", "set_weights", "summary", "count_params"])
def test_use_before_build_raises(call):
    """Without an Input layer and before any data, the input width is unknown.
    (predict and evaluate build lazily from their data, like fit: see test_model_api.)"""
    model = fastnn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy")
    with pytest.raises(ValueError, match="build"):
        call(model)
    assert not model.built


FIRST_CALLS = [(method, case)
               for method in ("fit", "evaluate", "train_on_batch", "compute_gradients", "predict")
               for case in ("labels", "nan", "no-columns", "zero-rows", "1d")
               if method != "predict" or case in ("nan", "no-columns", "1d")]  # predict takes no labels


@pytest.mark.parametrize("method, case", FIRST_CALLS, ids=[f"{m}-{c}" for m, c in FIRST_CALLS])
def test_failed_first_call_builds_nothing(method, case):
    """Validation runs before the lazy build: a failed first call leaves no weights and
    no optimizer state behind, and its message names x or y."""
    model = new_model()
    X, y = X0, Y0
    if case == "labels":
        y = Y0 + 3
    elif case == "nan":
        X = with_nan(X0)
    elif case == "no-columns":
        X = np.zeros((N, 0), np.float32)
    elif case == "zero-rows":
        X, y = X0[:0], Y0[:0]
    else:
        X = X0[:, 0]
    args = (X,) if method == "predict" else (X, y)
    kwargs = {"verbose": 0} if method == "fit" else {}
    with pytest.raises(ValueError, match="^[xy]:"):
        getattr(model, method)(*args, **kwargs)
    assert not model.built
    assert model.optimizer.iterations == 0 and model.optimizer._state is None


# --- constructors and names --------------------------------------------------------------------

@pytest.mark.parametrize("make, arg, shown", [
    (lambda: layers.Dense(4, activation="swishy"), "activation", "'swishy'"),
    (lambda: layers.Dense(4, activation=3), "activation", "3"),
    (lambda: layers.Dense(0), "units", "0"),
    (lambda: layers.Dense(-3), "units", "-3"),
    (lambda: layers.Dense(2.5), "units", "2.5"),
    (lambda: layers.Dense(True), "units", "True"),
    (lambda: layers.Input((0,)), "shape", "(0,)"),
    (lambda: layers.Input((28, 0)), "shape", "(28, 0)"),
    (lambda: fastnn.Sequential(dtype="float16"), "dtype", "'float16'"),
    (lambda: fastnn.Sequential(seed=-1), "seed", "-1"),
    (lambda: fastnn.Sequential(seed=1.5), "seed", "1.5"),
    (lambda: fastnn.Sequential([layers.Dense(2), "dense"]), "layer", "str"),
    (lambda: fastnn.Sequential([layers.Dense(2), layers.Input((3,))]), "layer", "Input"),
])
def test_constructors_validate(make, arg, shown):
    with pytest.raises((ValueError, TypeError), match=rf"^{re.escape(arg)}(?![\w\[])") as info:
        make()
    assert shown in str(info.value)


@pytest.mark.parametrize("arg", ["kernel_initializer", "bias_initializer"])
def test_unknown_initializer_names_the_argument(arg):
    with pytest.raises(ValueError, match=arg) as info:
        layers.Dense(4, **{arg: "lecun_magic"})
    assert "'lecun_magic'" in str(info.value) and "glorot_uniform" in str(info.value)


@pytest.mark.parametrize("kwargs, arg, shown", [
    (dict(optimizer="adamz", loss="mse"), "optimizer", "'adamz'"),
    (dict(optimizer=None, loss="mse"), "optimizer", "None"),
    (dict(optimizer="adam", loss="cross_entropy"), "loss", "'cross_entropy'"),
    (dict(optimizer="adam", loss=len), "loss", "len"),
    (dict(optimizer="adam", loss="softmax_cross_entropy", metrics=["precission"]), "metrics", "'precission'"),
])
def test_compile_rejects_unknown_names_and_stays_uncompiled(kwargs, arg, shown):
    model = fastnn.Sequential([layers.Dense(3)], seed=0)
    with pytest.raises(ValueError, match=rf"^{arg}\b") as info:
        model.compile(**kwargs)
    assert shown in str(info.value)
    assert not model.compiled and model.optimizer is None and model.loss is None


# --- optimizers used directly ------------------------------------------------------------------

def test_optimizer_apply_bad_grads_on_first_call_changes_nothing():
    opt = optimizers.Adam()
    w = np.ones(5)
    with pytest.raises(ValueError, match=r"^grads\[0\]"):
        opt.apply([np.ones(4)], [w])
    assert opt._state is None and opt.iterations == 0, "the failed call built the optimizer state"
    np.testing.assert_array_equal(w, np.ones(5))


def test_optimizer_apply_dtype_mismatch_shows_received_dtype():
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"^grads\[0\]") as info:
        opt.apply([np.ones(5, np.float32)], [np.ones(5)])
    assert "float64" in str(info.value) and "float32" in str(info.value)


def test_optimizer_apply_count_and_later_shape_mismatch():
    opt = optimizers.Adam()
    ws = [np.ones(5), np.ones((2, 3))]
    with pytest.raises(ValueError, match="^grads"):
        opt.apply([np.ones(5)], ws)
    opt.apply([np.ones(5), np.ones((2, 3))], ws)
    state = [{k: v.copy() for k, v in s.items()} for s in opt._state]
    with pytest.raises(ValueError, match="^variables"):
        opt.apply([np.ones(5), np.ones(6)], [ws[0], np.ones(6)])
    assert opt.iterations == 1
    for sa, sb in zip(opt._state, state):
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


def test_optimizer_refuses_read_only_or_strided_variables_on_first_call():
    w = np.ones(6)
    w.flags.writeable = False
    with pytest.raises(ValueError, match=r"^variables\[0\]"):
        optimizers.SGD(0.1).apply(np.ones(6), w)
    with pytest.raises(ValueError, match=r"^variables\[0\]"):
        optimizers.SGD(0.1).apply(np.ones(3), np.ones(6)[::2])
    with pytest.raises(TypeError, match=r"^variables\[0\]"):
        optimizers.SGD(0.1).apply(np.ones(3, np.int64), np.ones(3, np.int64))


def test_optimizer_never_drops_an_update_on_a_non_contiguous_variable():
    """After the state is built for a C-contiguous (3, 3) array, a later call with a
    non-contiguous variable of the same shape must either raise or update it; it must
    not update a temporary copy and leave the variable untouched."""
    opt = optimizers.SGD(0.1)
    opt.apply(np.ones((3, 3)), np.ones((3, 3)))
    base = np.ones((3, 3))
    strided = base.T  # same shape and dtype, Fortran order
    try:
        opt.apply(np.ones((3, 3)), strided)
    except ValueError as err:
        assert str(err).startswith("variables")
    else:
        np.testing.assert_allclose(base, 0.9, err_msg="the update was silently lost")


def test_fit_with_a_callback_that_fails_validation_leaves_weights(trained):
    """A callbacks list with one bad entry is refused before any epoch runs."""
    fails(trained, lambda: trained.fit(X0, Y0, verbose=0, callbacks=[callbacks.History(), object()]),
          TypeError, "callbacks", "object")
