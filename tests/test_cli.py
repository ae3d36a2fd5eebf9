"""The command line (`fastnn.cli`, ``python -m fastnn``): train / evaluate / predict / info.

End-to-end runs go through a subprocess (``sys.executable -m fastnn``) once per
command; the rest call ``main([...])`` in-process for speed. Every number the CLI
prints or writes is checked against `fastnn.load_model(...)` used directly and
against plain numpy float64 computations on the same data.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastnn
from fastnn import _threads
from fastnn._cli_data import infer_task
from fastnn.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# -- data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small generated files: a 3-class .npz, a regression .csv with a header whose label
    column is in the middle, and a headerless 2-class .csv (label last)."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    np.savez(d / "cls.npz", x=X, y=y)

    Xr = rng.normal(size=(200, 4))
    yr = Xr @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.3
    with open(d / "reg.csv", "w") as f:
        f.write("f0,f1,price,f2,f3\n")
        np.savetxt(f, np.column_stack([Xr[:, :2], yr, Xr[:, 2:]]), delimiter=",", fmt="%.17g")

    Xb = rng.normal(size=(160, 3))
    yb = (Xb[:, 0] - Xb[:, 2] > 0).astype(int)
    np.savetxt(d / "bin.csv", np.column_stack([Xb, yb]), delimiter=",", fmt="%.17g")
    return {"dir": d, "cls": (str(d / "cls.npz"), X, y), "reg": (str(d / "reg.csv"), Xr, yr),
            "bin": (str(d / "bin.csv"), Xb, yb)}


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    # From a neutral folder: `python -m` puts the working directory first on sys.path, and
    # a source checkout there (CI runs from one) would shadow the installed, built package.
    return subprocess.run([sys.executable, "-m", "fastnn", *argv], capture_output=True, text=True,
                          env=full_env, timeout=120, cwd=tempfile.gettempdir())


def parse_metrics(text: str) -> dict[str, float]:
    """The 'name: value' lines that evaluate prints."""
    out = {}
    for line in text.strip().splitlines():
        key, _, value = line.partition(": ")
        out[key] = float(value)
    return out


# -- end to end through `python -m fastnn` -----------------------------------------------------

def test_subprocess_train_info_evaluate_predict_classification(data, tmp_path):
    path, X, y = data["cls"]
    model_file = tmp_path / "m.fastnn"
    r = run("train", "--data", path, "--hidden", "16,8", "--epochs", "3", "--batch-size", "32",
            "--threads", "1", "--output", str(model_file))
    assert r.returncode == 0, r.stderr
    assert model_file.is_file()
    assert "accuracy" in r.stdout and "samples/s" in r.stdout
    model = fastnn.load_model(model_file)

    r = run("info", str(model_file))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("(Dense)") == 3          # two hidden layers and the output layer
    assert f"parameters: {model.count_params():,}" in r.stdout
    assert model.count_params() == (6 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    assert "dtype: float32" in r.stdout and "version 1" in r.stdout
    assert "optimizer: Adam" in r.stdout and "SoftmaxCrossEntropy" in r.stdout
    assert "optimizer steps: 24" in r.stdout        # 240 rows / batch 32 = 8 steps, 3 epochs

    r = run("evaluate", str(model_file), "--data", path)
    assert r.returncode == 0, r.stderr
    printed = parse_metrics(r.stdout)
    expected = model.evaluate(X, y)
    assert printed["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert printed["loss"] == pytest.approx(expected["loss"], rel=1e-8)
    # Independent of evaluate: accuracy and cross-entropy from the probabilities in float64.
    proba = model.predict(X).astype(np.float64)
    assert printed["accuracy"] == pytest.approx(np.mean(np.argmax(proba, axis=1) == y), abs=1e-9)
    assert printed["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(y)), y])), rel=1e-4)

    preds_file = tmp_path / "preds.csv"
    r = run("predict", str(model_file), "--data", path, "--output", str(preds_file))
    assert r.returncode == 0, r.stderr
    written = np.loadtxt(preds_file, delimiter=",", skiprows=1, dtype=np.int64)
    np.testing.assert_array_equal(written, np.argmax(model.predict(X), axis=1))


def test_subprocess_error_is_one_line_without_traceback(tmp_path):
    r = run("evaluate", str(tmp_path / "absent.fastnn"), "--data", "mnist-sample")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "absent.fastnn" in r.stderr and "no such file" in r.stderr
    r = run("train", "--data", "x.npz", "--epochs", "-2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "--epochs" in r.stderr and "-2" in r.stderr


def test_console_script(tmp_path):
    # pyproject's [project.scripts] fastnn = "fastnn.cli:main"; installed next to the interpreter.
    script = os.path.join(os.path.dirname(sys.executable), "fastnn" + (".exe" if os.name == "nt" else ""))
    if not os.path.isfile(script):
        pytest.skip(f"the fastnn console script is not installed in {os.path.dirname(sys.executable)} "
                    "(pip install . installs it)")
    r = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"fastnn {fastnn.__version__}"
    r = subprocess.run([script, "info", str(tmp_path / "absent.fastnn")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "absent.fastnn" in r.stderr and "Traceback" not in r.stderr


# -- in-process runs ---------------------------------------------------------------------------

def test_regression_csv_target_by_name(data, tmp_path, capsys):
    path, Xr, yr = data["reg"]
    out = tmp_path / "r.fastnn"
    assert main(["train", "--data", path, "--target", "price", "--hidden", "8", "--epochs", "4",
                 "--learning-rate", "0.01", "--output", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" not in printed and "mae" in printed   # inferred: a regression
    model = fastnn.load_model(out)
    assert model.layers[-1].output_dim == 1 and model.loss.name == "mean_squared_error"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)

    assert main(["evaluate", str(out), "--data", path, "--target", "price", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    pred = model.predict(Xr.astype(np.float32)).astype(np.float64)[:, 0]
    assert printed["loss"] == pytest.approx(np.mean((pred - yr) ** 2), rel=1e-5)
    assert printed["mae"] == pytest.approx(np.mean(np.abs(pred - yr)), rel=1e-5)

    # predict: the .csv has one column more than the model takes: the label column is dropped
    # when named, else the last column would be; here --target names it.
    npy = tmp_path / "r.npy"
    assert main(["predict", str(out), "--data", path, "--target", "price", "--output", str(npy)]) == 0
    np.testing.assert_array_equal(np.load(npy), model.predict(Xr.astype(np.float32)))


def test_binary_csv_classification_and_proba(data, tmp_path, capsys):
    path, Xb, yb = data["bin"]
    out = tmp_path / "b.fastnn"
    assert main(["train", "--data", path, "--hidden", "8", "--activation", "tanh", "--epochs", "3",
                 "--seed", "5", "--output", str(out), "-q"]) == 0
    model = fastnn.load_model(out)
    assert model.layers[-1].output_dim == 2 and model.layers[0].activation == "tanh"
    proba = model.predict(Xb.astype(np.float32))

    labels_file, proba_file = tmp_path / "l.npy", tmp_path / "p.csv"
    assert main(["predict", str(out), "--data", path, "--output", str(labels_file)]) == 0
    np.testing.assert_array_equal(np.load(labels_file), np.argmax(proba, axis=1))
    assert main(["predict", str(out), "--data", path, "--output", str(proba_file), "--proba"]) == 0
    written = np.loadtxt(proba_file, delimiter=",", skiprows=1, dtype=np.float32)
    np.testing.assert_array_equal(written, proba)      # 9 significant digits round-trip float32
    assert open(proba_file).readline().strip() == "proba_0,proba_1"
    # A file of features only (3 columns) predicts the same.
    feats = tmp_path / "feats.csv"
    np.savetxt(feats, Xb, delimiter=",", fmt="%.17g")
    assert main(["predict", str(out), "--data", str(feats), "--output", str(tmp_path / "l2.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "l2.npy"), np.argmax(proba, axis=1))


def test_binary_crossentropy_has_one_sigmoid_output(data, tmp_path):
    path, Xb, yb = data["bin"]
    out = tmp_path / "bce.fastnn"
    assert main(["train", "--data", path, "--loss", "binary_crossentropy", "--hidden", "none",
                 "--epochs", "2", "--output", str(out), "-q"]) == 0
    model = fastnn.load_model(out)
    assert len(model.layers) == 1 and model.layers[0].output_dim == 1
    assert model.loss.from_logits
    p = model.predict(Xb.astype(np.float32))[:, 0]
    # The model is logistic regression: predict is the sigmoid of x @ W + b (float64 reference).
    W, b = model.get_weights()
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(Xb @ W.astype(np.float64)[:, 0] + b[0]))), rtol=1e-5)
    labels_file = tmp_path / "l.npy"
    assert main(["predict", str(out), "--data", path, "--output", str(labels_file)]) == 0
    np.testing.assert_array_equal(np.load(labels_file), (p > 0.5).astype(np.int64))


def test_layer_flags_build_the_stack(data, tmp_path, capsys):
    path, X, y = data["cls"]
    out = tmp_path / "bn.fastnn"
    assert main(["train", "--data", path, "--hidden", "12,10", "--batch-norm", "--dropout", "0.25",
                 "--activation", "gelu", "--epochs", "1", "--dtype", "float64", "--output", str(out),
                 "-q"]) == 0
    model = fastnn.load_model(out)
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds == ["Dense", "BatchNormalization", "Activation", "Dropout"] * 2 + ["Dense"]
    assert model.dtype == np.float64
    assert [l.rate for l in model.layers if type(l).__name__ == "Dropout"] == [0.25, 0.25]
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("(BatchNormalization)") == 2 and "dtype: float64" in text


CONFIG_JSON = {
    "layers": [{"type": "Dense", "units": 12, "activation": "tanh"},
               {"type": "dropout", "rate": 0.1},
               {"type": "Dense", "units": 6, "activation": "relu"}],
    "model": {"seed": 3},
    "compile": {"optimizer": {"name": "adam", "beta_1": 0.8}, "learning_rate": 0.01,
                "metrics": ["accuracy"]},
    "fit": {"epochs": 2, "batch_size": 16},
}
CONFIG_TOML = """
[[layers]]
type = "Dense"
units = 12
activation = "tanh"

[[layers]]
type = "dropout"
rate = 0.1

[[layers]]
type = "Dense"
units = 6
activation = "relu"

[model]
seed = 3

[compile]
optimizer = {name = "adam", beta_1 = 0.8}
learning_rate = 0.01
metrics = ["accuracy"]

[fit]
epochs = 2
batch_size = 16
"""


def _architecture(model) -> list:
    return [(type(l).__name__, {k: v for k, v in l.get_config().items() if k != "name"})
            for l in model.layers]


def test_json_and_toml_configs_give_the_same_model(data, tmp_path):
    path, X, y = data["cls"]
    (tmp_path / "c.json").write_text(json.dumps(CONFIG_JSON))
    (tmp_path / "c.toml").write_text(CONFIG_TOML)
    models = {}
    for kind in ("json", "toml"):
        out = tmp_path / f"{kind}.fastnn"
        assert main(["train", "--data", path, "--config", str(tmp_path / f"c.{kind}"), "--threads", "1",
                     "--output", str(out), "-q"]) == 0
        models[kind] = fastnn.load_model(out)
    a, b = models["json"], models["toml"]
    assert _architecture(a) == _architecture(b)
    assert [t for t, _ in _architecture(a)] == ["Dense", "Dropout", "Dense", "Dense"]
    assert a.layers[0].units == 12 and a.layers[0].activation == "tanh" and a.layers[1].rate == 0.1
    assert a.layers[-1].units == 3                       # the appended output layer: 3 classes
    assert a.optimizer.get_config()["beta_1"] == 0.8
    assert a.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    assert a.seed == 3
    for wa, wb in zip(a.get_weights(), b.get_weights()):   # same seed, same threads: same bits
        np.testing.assert_array_equal(wa, wb)
    # Flags override the file.
    out = tmp_path / "override.fastnn"
    assert main(["train", "--data", path, "--config", str(tmp_path / "c.toml"), "--learning-rate", "0.002",
                 "--seed", "9", "--output", str(out), "-q"]) == 0
    c = fastnn.load_model(out)
    assert c.optimizer.get_config()["learning_rate"] == pytest.approx(0.002) and c.seed == 9
    assert _architecture(c) == _architecture(a)


def test_toml_needs_python_311_or_tomli(data, tmp_path, monkeypatch, capsys):
    (tmp_path / "c.toml").write_text(CONFIG_TOML)
    monkeypatch.setitem(sys.modules, "tomllib", None)   # import fails, as on Python < 3.11
    monkeypatch.setitem(sys.modules, "tomli", None)
    code = main(["train", "--data", data["cls"][0], "--config", str(tmp_path / "c.toml"),
                 "--output", str(tmp_path / "m.fastnn")])
    err = capsys.readouterr().err
    assert code == 2 and "--config" in err and "3.11" in err and "tomli" in err


def test_early_stopping_stops(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = rng.integers(0, 2, 200)                 # noise labels: the validation loss soon rises
    np.savez(tmp_path / "noise.npz", x=X, y=y)
    assert main(["train", "--data", str(tmp_path / "noise.npz"), "--hidden", "64", "--epochs", "60",
                 "--learning-rate", "0.01", "--validation-split", "0.3", "--early-stopping", "1",
                 "--output", str(tmp_path / "m.fastnn"), "-q"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("trained"))
    epochs = int(line.split()[1])
    assert 2 <= epochs < 60
    assert "on 140 samples" in line            # 30% of 200 rows held out


def test_mnist_sample_one_epoch(tmp_path, monkeypatch, capsys):
    # No MNIST files anywhere: 'mnist' falls back to the bundled sample and says so.
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "mnist.fastnn"
    assert main(["train", "--data", "mnist", "--hidden", "32", "--epochs", "1", "--batch-size", "128",
                 "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert "sample" in captured.err and "6,000 samples, 784 features" in captured.out
    assert main(["evaluate", str(out), "--data", "mnist-sample", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (_, _), (Xt, yt) = fastnn.datasets.load_mnist_sample()
    model = fastnn.load_model(out)
    assert printed["accuracy"] == pytest.approx(np.mean(np.argmax(model.predict(Xt), axis=1) == yt), abs=1e-12)
    assert printed["accuracy"] > 0.5                  # chance is 0.1


def test_threads_flag_is_restored(data, tmp_path):
    before = _threads._num_threads
    assert main(["train", "--data", data["cls"][0], "--hidden", "4", "--epochs", "1", "--threads", "1",
                 "--output", str(tmp_path / "m.fastnn"), "-q"]) == 0
    assert _threads._num_threads == before


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["info"]])
def test_help(command, capsys):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    expected = {(): ["train", "evaluate", "predict", "info", "examples"],
                ("train",): ["--data", "--target", "--x-key", "--y-key", "--config", "--hidden",
                             "--activation", "--dropout", "--batch-norm", "--task", "--loss", "--optimizer",
                             "--learning-rate", "--epochs", "--batch-size", "--validation-split",
                             "--early-stopping", "--seed", "--threads", "--dtype", "--output", "--quiet",
                             "[[layers]]", "examples"],
                ("evaluate",): ["MODEL", "--data", "--target", "--json", "examples"],
                ("predict",): ["MODEL", "--data", "--output", "--proba", "examples"],
                ("info",): ["MODEL", "example"]}[tuple(command)]
    for word in expected:
        assert word in text, word


def test_infer_task():
    assert infer_task(np.array([0, 1, 2, 1])) == "classification"
    assert infer_task(np.array([0.0, 1.0, 1.0])) == "classification"
    assert infer_task(np.eye(3)[[0, 2, 1]]) == "classification"
    assert infer_task(np.array([0.5, 1.0, 2.0])) == "regression"
    assert infer_task(np.array([-1, 0, 1])) == "regression"
    assert infer_task(np.arange(500)) == "regression"          # 500 distinct values: counts, not classes
    assert infer_task(np.zeros(10)) == "regression"              # one value: nothing to classify
    assert infer_task(np.array([[0.2, 0.8], [1.0, 0.0]])) == "regression"


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, named", [
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--activation", "relu7"], "--activation"),
    (["--optimizer", "adamz"], "--optimizer"),
    (["--loss", "msee"], "--loss"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--validation-split", "1.5"], "--validation-split"),
    (["--dropout", "1"], "--dropout"),
    (["--hidden", "64,x"], "--hidden"),
    (["--task", "clustering"], "--task"),
    (["--dtype", "float16"], "--dtype"),
    (["--threads", "0"], "--threads"),
    (["--early-stopping", "-3"], "--early-stopping"),
    (["--config", "model.yaml"], "--config"),
    (["--loss", "mse", "--task", "classification"], "--loss"),
])
def test_bad_flags_exit_2(flags, named, data, tmp_path, capsys):
    code = main(["train", "--data", data["cls"][0], *flags, "--output", str(tmp_path / "m.fastnn")])
    err = capsys.readouterr().err
    assert code == 2
    assert named in err and "error" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.fastnn").exists()


def test_missing_arguments_exit_2(capsys):
    assert main(["train"]) == 2 and "--data" in capsys.readouterr().err
    assert main(["predict", "m.fastnn", "--data", "x.npy"]) == 2 and "--output" in capsys.readouterr().err
    assert main(["predict", "m.fastnn", "--data", "x.npy", "--output", "p.txt"]) == 2
    assert "--output" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["fit"]) == 2 and "fit" in capsys.readouterr().err
    assert main(["train", "--data", "mnist-sample", "--target", "3"]) == 2      # --target is for .csv
    assert "--target" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "m.fastnn"
    assert main(["train", "--data", data["cls"][0], "--hidden", "8", "--epochs", "1", "--output", str(out),
                 "-q"]) == 0
    return str(out)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def _npy(path):
    np.save(path, np.zeros((4, 2)))
    return str(path)


def _npy_as_npz(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros((4, 2)))
    return str(path)


def test_bad_data_files_exit_1(data, trained, tmp_path, capsys):
    d = tmp_path
    cases = [
        # (argv, words the one-line message must hold)
        (["train", "--data", str(d / "absent.csv")], ["absent.csv", "no such file"]),
        (["train", "--data", _write(d / "lab.csv", "a,b,label\n1,2,cat\n3,4,dog\n")],
         ["lab.csv", "label column", "'label'", "'cat'", "numeric"]),
        (["train", "--data", _write(d / "feat.csv", "a,b,label\n1,2,0\n3,x,1\n")],
         ["feat.csv", "'b'", "'x'", "row 2"]),
        (["train", "--data", _write(d / "ragged.csv", "1,2,0\n3,4\n")], ["ragged.csv", "columns"]),
        (["train", "--data", data["reg"][0], "--target", "cost"], ["--target", "'cost'", "price"]),
        (["train", "--data", data["reg"][0], "--target", "7"], ["--target", "7"]),
        (["train", "--data", data["cls"][0], "--y-key", "labels"], ["--y-key", "'labels'", "x, y"]),
        (["train", "--data", _write(d / "x.parquet", "PAR1")], ["x.parquet", ".csv"]),
        (["train", "--data", _write(d / "junk.npz", "not a zip")], ["junk.npz", ".npz"]),
        (["train", "--data", _npy_as_npz(d / "array.npz")], ["array.npz", ".npy"]),
        (["train", "--data", _npy(d / "feats.npy")], ["feats.npy", "labels"]),
        (["train", "--data", "mnist:" + str(d / "nowhere")], ["mnist:", "nowhere"]),
        (["train", "--data", data["cls"][0], "--task", "classification"], []),   # fine: control
        (["train", "--data", data["reg"][0], "--target", "price", "--task", "classification"],
         ["reg.csv", "class labels"]),
        (["train", "--data", data["cls"][0], "--output", str(d / "no" / "m.fastnn")], ["--output", "no"]),
        (["train", "--data", data["cls"][0], "--config", str(d / "absent.json")], ["--config", "absent.json"]),
        (["train", "--data", data["cls"][0], "--config", _write(d / "bad.json", "{layers: }")],
         ["bad.json", "JSON"]),
        (["train", "--data", data["cls"][0], "--config", _write(d / "sec.json", '{"optimiser": {}}')],
         ["sec.json", "'optimiser'"]),
        (["train", "--data", data["cls"][0], "--config",
          _write(d / "typ.json", '{"layers": [{"type": "Conv2D", "filters": 3}]}')],
         ["typ.json", "layers[0]", "Conv2D", "Dense"]),
        (["train", "--data", data["cls"][0], "--config",
          _write(d / "arg.json", '{"layers": [{"type": "Dense", "unit": 3}]}')],
         ["arg.json", "layers[0]", "unit"]),
        (["train", "--data", data["cls"][0], "--config", _write(d / "ep.toml", "[fit]\nepochs = -4\n")],
         ["ep.toml", "fit.epochs", "-4"]),
        (["evaluate", str(d / "absent.fastnn"), "--data", data["cls"][0]], ["absent.fastnn", "no such file"]),
        (["evaluate", _write(d / "text.fastnn", "hello"), "--data", data["cls"][0]],
         ["text.fastnn", "not a fastnn file"]),
        (["info", data["cls"][0]], ["cls.npz", "not a fastnn file"]),
        (["evaluate", trained, "--data", data["bin"][0]], ["bin.csv", "features"]),
        (["predict", trained, "--data", data["reg"][0], "--output", str(d / "p.npy")], ["reg.csv"]),
    ]
    with open(trained, "rb") as f:
        blob = bytearray(f.read())
    (d / "trunc.fastnn").write_bytes(bytes(blob[: len(blob) // 2]))
    flipped = bytearray(blob)
    flipped[len(blob) // 3] ^= 0xFF              # inside the stored parameter arena
    (d / "flip.fastnn").write_bytes(bytes(flipped))
    cases += [(["info", str(d / "trunc.fastnn")], ["trunc.fastnn"]),
              (["evaluate", str(d / "flip.fastnn"), "--data", data["cls"][0]], ["flip.fastnn"])]
    for argv, words in cases:
        if "--output" not in argv and argv[0] == "train":
            argv = argv + ["--output", str(d / "out.fastnn"), "--epochs", "1", "-q"]
        code = main(argv)
        err = capsys.readouterr().err
        if not words:
            assert code == 0, (argv, err)
            continue
        assert code == 1, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "error" in err, (argv, err)
        for word in words:
            assert word in err, (argv, word, err)


def test_proba_on_regression_model_is_a_usage_error(data, tmp_path, capsys):
    path = data["reg"][0]
    out = tmp_path / "r.fastnn"
    assert main(["train", "--data", path, "--hidden", "4", "--epochs", "1", "--output", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), "--data", path, "--output", str(tmp_path / "p.npy"), "--proba"]) == 2
    assert "--proba" in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists()


@pytest.mark.parametrize("text, rows", [
    ("\ufeff1,2,0\n3,4,1\n5,6,0\n", 3),          # a byte-order mark is not a header
    ("\ufeffa,b,y\n1,2,0\n3,4,1\n", 2),
    ("1 2 0\n3 4 1\n5 6 0\n7 8 1\n", 4),          # whitespace-separated
    ("a;b;y\n1;2;0\n\n3;4;1\n", 2),               # semicolons; a blank line skipped
])
def test_csv_dialects(text, rows, tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    assert main(["train", "--data", str(path), "--hidden", "2", "--epochs", "1",
                 "--output", str(tmp_path / "m.fastnn")]) == 0
    assert f"{rows} samples, 2 features" in capsys.readouterr().out
