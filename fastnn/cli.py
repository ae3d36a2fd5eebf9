"""The command line: ``fastnn train | evaluate | predict | info`` (also ``python -m fastnn``).

``fastnn train`` builds a `Sequential` of Dense layers from flags or from a small
JSON/TOML file, trains it on a .npz, .csv or MNIST and saves it with `model.save`;
``evaluate``, ``predict`` and ``info`` read that file back (`fastnn.load_model`,
which executes no code from the file).

Config file schema (``--config model.json`` or ``model.toml``; every section optional,
flags given on the command line override the file)::

    {
      "layers": [                                  # the hidden layers, first to last
        {"type": "Dense", "units": 128, "activation": "relu"},
        {"type": "BatchNormalization"},            # any fastnn.layers class but Input,
        {"type": "Dropout", "rate": 0.1}           # its other keys are its arguments
      ],
      "model":   {"seed": 0, "dtype": "float32"},
      "compile": {"task": "classification", "optimizer": "adam", "learning_rate": 0.001,
                  "loss": "softmax_cross_entropy", "metrics": ["accuracy"]},
      "fit":     {"epochs": 10, "batch_size": 32, "validation_split": 0.1,
                  "early_stopping": 3, "shuffle": true}
    }

In TOML the layers are an array of tables (``[[layers]]``, one per layer) and the
sections are tables (``[compile]``, ``[fit]``, ``[model]``). ``optimizer`` and
``loss`` are a name or a table ``{name = "adam", beta_1 = 0.8}`` whose other keys are
the constructor's arguments. The output layer is not listed: a Dense layer as wide as
the classes (or the target columns) is appended, linear (the loss takes logits) unless
the loss is given with ``from_logits = false`` (then softmax or sigmoid). Layers named
``Normalization`` are adapted to the training rows before training.

Exit status: 0 on success, 2 for a usage error (a bad flag or flag value), 1 for a
file or data error (missing, corrupt or foreign file, wrong columns, non-numeric
labels), 130 when interrupted; errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import textwrap
import time
from typing import Any, Callable, Sequence

import numpy as np

from fastnn._cli_data import (CHECKS, CONFIG_SECTIONS, MNIST_HELP, DataError, Dataset, UsageError,
                              infer_task, load_config, load_data, prepare_targets, write_predictions)

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULTS = {"hidden": [128], "activation": "relu", "dropout": 0.0, "batch_norm": False,
            "optimizer": "adam", "learning_rate": None, "epochs": 10, "batch_size": 32,
            "validation_split": 0.0, "early_stopping": None, "seed": 0, "dtype": "float32",
            "shuffle": True}
# Losses that can take logits: the command line builds them with from_logits=True
# (a linear output layer; predict still returns probabilities) unless told otherwise.
_LOGIT_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


def _flag_type(name: str) -> Callable[[str], Any]:
    """The check of CHECKS[name] for argparse: its message becomes 'argument --flag: ...'."""
    check = CHECKS[name]

    def parse(text: str) -> Any:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name
    return parse


def _output_path(suffixes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text or os.path.splitext(text)[1].lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"expected a file name ending in {' or '.join(suffixes)}, "
                                             f"got {text!r}")
        return text
    return parse


# -- the parser -----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage block is what --help is for)."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and epilogs (examples, the file schema) and
    wraps only the lines wider than the terminal, hanging under their second column."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            hang = re.match(r"\s*\S.*?\s{2,}(?=\S)", line)
            # Indented lines without a second column are examples or the schema: kept whole.
            if len(indent) + len(line) <= width or (line[:1].isspace() and not hang):
                lines.append(indent + line)
                continue
            lead = len(hang.group(0)) if hang else 0
            lines.append(textwrap.fill(line, width, initial_indent=indent, break_on_hyphens=False,
                                       subsequent_indent=indent + " " * lead))
        return "\n".join(lines)


_FORMATTER = _Formatter

_TRAIN_EPILOG = f"""\
data (--data):
  a .npz file      arrays x (features) and y (labels); other names with --x-key/--y-key
  a .csv file      numbers, comma-, tab- or semicolon-separated; a header row is detected; the label\
 column is --target (a name or a 0-based index), else the last
  mnist            {MNIST_HELP}

task: classification when the labels are whole numbers in 0..999 with 2 to 100 distinct values (or \
one-hot rows), else regression; --task or a --loss overrides. Classification trains \
softmax_cross_entropy with the accuracy metric, regression mse with mae.

config file (--config model.json or model.toml; flags override it):
  {{"layers":  [{{"type": "Dense", "units": 128, "activation": "relu"}},
               {{"type": "Dropout", "rate": 0.1}}],
   "model":   {{"seed": 0, "dtype": "float32"}},
   "compile": {{"task": "classification", "optimizer": "adam", "learning_rate": 0.001,
               "loss": "softmax_cross_entropy", "metrics": ["accuracy"]}},
   "fit":     {{"epochs": 10, "batch_size": 32, "validation_split": 0.1,
               "early_stopping": 3, "shuffle": true}}}}
Every section is optional. "layers" are the hidden layers: any fastnn.layers class but Input, its \
other keys the layer's arguments; the output Dense layer is appended, as wide as the classes or \
target columns. In TOML: one [[layers]] table per layer, then [model], [compile], [fit]. optimizer \
and loss may be tables such as {{name = "adam", beta_1 = 0.8}}. Any of --hidden, --activation, \
--dropout, --batch-norm builds the hidden layers from the flags instead of the file's layers.

examples:
  fastnn train --data train.csv --target label --hidden 128,64 --epochs 20 --output m.fastnn
  fastnn train --data data.npz --task regression --loss huber --early-stopping 3 --validation-split 0.1
  fastnn train --data mnist --hidden 256,256 --dropout 0.2 --batch-size 128 --epochs 5
  fastnn train --data train.csv --config model.toml --learning-rate 3e-4
"""


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``fastnn`` and its subcommands."""
    from fastnn import __version__

    parser = _Parser(prog="fastnn", formatter_class=_FORMATTER,
                     description="Train and use dense neural networks on the CPU with fastnn.",
                     epilog="examples:\n  fastnn train --data train.csv --output model.fastnn\n"
                            "  fastnn evaluate model.fastnn --data test.csv\n"
                            "  fastnn predict model.fastnn --data new.csv --output preds.csv\n"
                            "  fastnn info model.fastnn\n\n"
                            "'fastnn COMMAND --help' describes each command. Exit status: 0 ok, "
                            "1 file or data error, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a model and save it", formatter_class=_FORMATTER,
                           description="Train a fastnn Sequential model on a .npz, a .csv or MNIST, "
                                       "print the final metrics and the training speed, and save "
                                       "the model (fastnn.load_model reads it).",
                           epilog=_TRAIN_EPILOG)
    _data_flags(train, "training data")
    g = train.add_argument_group("model")
    g.add_argument("--config", metavar="FILE", help="a .json or .toml file describing the layers, "
                   "compile and fit settings (schema below); flags override it")
    g.add_argument("--hidden", type=_flag_type("hidden"), metavar="W1,W2,...",
                   help="widths of the hidden Dense layers, or 'none' (default: 128)")
    g.add_argument("--activation", type=_flag_type("activation"), metavar="NAME",
                   help="activation of the hidden layers, e.g. relu, tanh, gelu, swish (default: relu)")
    g.add_argument("--dropout", type=_flag_type("dropout"), metavar="RATE",
                   help="dropout rate after each hidden layer, in [0, 1) (default: 0, none)")
    g.add_argument("--batch-norm", action="store_true", default=None,
                   help="batch normalization between each hidden Dense layer and its activation")
    g.add_argument("--task", type=_flag_type("task"), metavar="{classification,regression}",
                   help="what the labels are (default: inferred from them, see below)")
    g.add_argument("--dtype", type=_flag_type("dtype"), metavar="{float32,float64}",
                   help="dtype of weights and computations (default: float32)")
    g.add_argument("--seed", type=_flag_type("seed"), metavar="N",
                   help="seed of initialization, shuffling and dropout (default: 0)")
    g = train.add_argument_group("training")
    g.add_argument("--loss", type=_flag_type("loss"), metavar="NAME",
                   help="loss name, e.g. softmax_cross_entropy, binary_crossentropy, mse, mae, huber "
                        "(default: softmax_cross_entropy for classification, mse for regression)")
    g.add_argument("--optimizer", type=_flag_type("optimizer"), metavar="NAME",
                   help="adam, adamw, sgd, rmsprop, nadam, radam, lion, ... (default: adam)")
    g.add_argument("--learning-rate", type=_flag_type("learning_rate"), metavar="LR",
                   help="learning rate > 0 (default: the optimizer's, 0.001 for adam)")
    g.add_argument("--epochs", type=_flag_type("epochs"), metavar="N", help="passes over the data (default: 10)")
    g.add_argument("--batch-size", type=_flag_type("batch_size"), metavar="N", help="rows per step (default: 32)")
    g.add_argument("--validation-split", type=_flag_type("validation_split"), metavar="FRACTION",
                   help="fraction of the rows held out for validation, the last ones as in Keras "
                        "(default: 0)")
    g.add_argument("--early-stopping", type=_flag_type("early_stopping"), metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement of val_loss (loss without "
                        "validation) and keep the best weights")
    g.add_argument("--threads", type=_flag_type("threads"), metavar="N",
                   help="threads of fastnn's kernels (default: the usable cores)")
    g.add_argument("--output", "-o", default="model.fastnn", metavar="FILE",
                   help="where to save the model (default: model.fastnn)")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar nor notes: print the final metrics only")
    train.set_defaults(run=_train, prog=train.prog)

    evaluate = sub.add_parser("evaluate", help="print a saved model's loss and metrics on data",
                              formatter_class=_FORMATTER,
                              description="Evaluate a model saved by 'fastnn train' (or model.save) "
                                          "on labelled data: prints 'name: value' lines (loss, then "
                                          "the compiled metrics).",
                              epilog="examples:\n  fastnn evaluate model.fastnn --data test.csv --target label\n"
                                     "  fastnn evaluate model.fastnn --data mnist --json\n\n"
                                     f"--data: a .npz, a .csv (as for train) or {MNIST_HELP}; "
                                     "MNIST is evaluated on its test split.")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by 'fastnn train'")
    _data_flags(evaluate, "labelled data")
    evaluate.add_argument("--batch-size", type=_flag_type("batch_size"), metavar="N",
                          help="rows per forward pass (default: 1024)")
    evaluate.add_argument("--threads", type=_flag_type("threads"), metavar="N", help="threads of the kernels")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead")
    evaluate.set_defaults(run=_evaluate, prog=evaluate.prog)

    predict = sub.add_parser("predict", help="write a saved model's predictions to .npy or .csv",
                             formatter_class=_FORMATTER,
                             description="Predict with a model saved by 'fastnn train': class labels "
                                         "for a classifier (probabilities with --proba), values for "
                                         "a regression.",
                             epilog="examples:\n  fastnn predict model.fastnn --data new.csv --output preds.csv\n"
                                    "  fastnn predict model.fastnn --data x.npy --output proba.npy --proba\n\n"
                                    "--data: a .npz (array x, or --x-key), a .npy of features, a .csv "
                                    f"or {MNIST_HELP}; MNIST is read from its test split. A .csv keeps all its columns "
                                    "as features, unless --target names a column to drop or it has "
                                    "one column more than the model takes (then the last is dropped).")
    predict.add_argument("model", metavar="MODEL", help="a model file written by 'fastnn train'")
    _data_flags(predict, "features", labels=False)
    predict.add_argument("--output", "-o", required=True, type=_output_path((".npy", ".csv")), metavar="FILE",
                         help="preds.npy or preds.csv (a .csv gets a header row)")
    predict.add_argument("--proba", action="store_true",
                         help="class probabilities instead of class labels (classifiers only)")
    predict.add_argument("--batch-size", type=_flag_type("batch_size"), metavar="N",
                         help="rows per forward pass (default: 1024)")
    predict.add_argument("--threads", type=_flag_type("threads"), metavar="N", help="threads of the kernels")
    predict.set_defaults(run=_predict, prog=predict.prog)

    info = sub.add_parser("info", help="describe a saved model", formatter_class=_FORMATTER,
                          description="Print a saved model's layers, parameter count, dtype, "
                                      "optimizer, loss and file format version. Reading the file "
                                      "runs no code from it (JSON and .npy members only).",
                          epilog="example:\n  fastnn info model.fastnn")
    info.add_argument("model", metavar="MODEL", help="a file written by model.save or model.save_weights")
    info.set_defaults(run=_info, prog=info.prog, threads=None)
    return parser


def _data_flags(p: argparse.ArgumentParser, what: str, labels: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="PATH|mnist",
                   help=f"{what}: a .npz, {'' if labels else 'a .npy, '}a .csv, or mnist / mnist-sample / mnist:DIR")
    g.add_argument("--target", metavar="COLUMN",
                   help="the label column of a .csv: a header name or a 0-based index (default: the last)"
                   if labels else "a .csv column to drop (the labels): a header name or a 0-based index")
    g.add_argument("--x-key", metavar="KEY", help="the features' array in a .npz (default: x)")
    if labels:
        g.add_argument("--y-key", metavar="KEY", help="the labels' array in a .npz (default: y)")


# -- building the model ---------------------------------------------------------------------------

def _layer_classes() -> dict[str, type]:
    from fastnn import layers
    return {name.replace("_", "").lower(): getattr(layers, name) for name in layers.__all__
            if name not in ("Layer", "Input")}


def _config_layers(specs: list[dict], path: str) -> list[Any]:
    classes = _layer_classes()
    built = []
    for i, spec in enumerate(specs):
        cls = classes.get(spec["type"].replace("_", "").lower())
        if cls is None:
            raise DataError(f"{path}: layers[{i}].type: expected one of "
                            f"{', '.join(sorted(c.__name__ for c in classes.values()))}, got {spec['type']!r}")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        try:
            built.append(cls(**kwargs))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: layers[{i}] ({cls.__name__}): {exc}") from None
    return built


def _flag_layers(widths: list[int], activation: str, dropout: float, batch_norm: bool) -> list[Any]:
    from fastnn import layers
    built: list[Any] = []
    for units in widths:
        if batch_norm:
            # Dense -> BatchNormalization -> Activation: the normalization's shift
            # replaces the bias, and the activation runs in its pass (fused).
            built += [layers.Dense(units, use_bias=False), layers.BatchNormalization(),
                      layers.Activation(activation)]
        else:
            built.append(layers.Dense(units, activation=activation))
        if dropout:
            built.append(layers.Dropout(dropout))
    return built


def _make_optimizer(spec: Any, learning_rate: float | None, where: str):
    from fastnn import optimizers
    name, kwargs = (spec["name"], {k: v for k, v in spec.items() if k != "name"}) if isinstance(spec, dict) \
        else (spec, {})
    cls = type(optimizers.get(name))
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: optimizer {cls.__name__}: {exc}") from None


def _make_loss(spec: Any, where: str):
    from fastnn import losses
    name, kwargs = (spec["name"], {k: v for k, v in spec.items() if k != "name"}) if isinstance(spec, dict) \
        else (spec, {})
    if name in _LOGIT_LOSSES:
        kwargs.setdefault("from_logits", True)
    cls = type(losses.get(name))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: loss {cls.__name__}: {exc}") from None


def _output_activation(loss) -> str | None:
    """The last layer's activation: linear for losses from logits (and regressions)."""
    from fastnn import losses
    if getattr(loss, "from_logits", True):
        return None
    return "sigmoid" if isinstance(loss, losses.BinaryCrossentropy) else "softmax"


def _settle(args: argparse.Namespace, config: dict[str, Any] | None) -> dict[str, Any]:
    """Each setting from its flag, else the config file, else the default."""
    file_values: dict[str, Any] = {}
    if config is not None:
        for section in CONFIG_SECTIONS:
            file_values.update(config[section])
    settings = {}
    for key in ("optimizer", "learning_rate", "epochs", "batch_size", "validation_split",
                "early_stopping", "seed", "dtype", "task", "loss", "activation", "dropout",
                "batch_norm", "hidden"):
        flag = getattr(args, key, None)
        settings[key] = flag if flag is not None else file_values.get(key, DEFAULTS.get(key))
    settings["metrics"] = file_values.get("metrics")
    settings["shuffle"] = file_values.get("shuffle", True)
    return settings


# -- commands -------------------------------------------------------------------------------------

def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, flush=True)


def _note(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"note: {text}", file=sys.stderr, flush=True)


def _model_error(source: str, exc: Exception) -> DataError:
    return DataError(f"{source}: {' '.join(str(exc).split())}")


def _train(args: argparse.Namespace) -> int:
    import fastnn
    from fastnn import callbacks, layers

    config = load_config(args.config) if args.config else None
    where = args.config or "the flags"
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory) or os.path.isdir(args.output):  # before training, not after
        raise DataError(f"--output: {args.output}: " + ("is a directory" if os.path.isdir(args.output)
                                                        else f"the directory {directory} does not exist"))
    s = _settle(args, config)

    data = load_data(args.data, split="train", target=args.target, x_key=args.x_key, y_key=args.y_key)
    for note in data.notes:
        _note(args, note)
    X, y = data.x, data.y

    # The loss decides the task when it is given; then --task may only agree.
    loss = None
    if s["loss"] is not None:
        loss = _make_loss(s["loss"], where)
        loss_task = "classification" if loss.counts_correct else "regression"
        if s["task"] is not None and s["task"] != loss_task:
            raise UsageError(f"--loss: {loss.name!r} is a {loss_task} loss but the task is {s['task']!r}")
        task, how = loss_task, f"from the loss {loss.name!r}"
    elif s["task"] is not None:
        task, how = s["task"], "as given"
    else:
        task, how = infer_task(y), "inferred from the labels; --task overrides"
    if loss is None:
        loss = _make_loss("softmax_cross_entropy" if task == "classification" else "mse", where)
    targets, n_out = prepare_targets(loss, y, data.source, None)

    flags_build = any(getattr(args, k) is not None for k in ("hidden", "activation", "dropout", "batch_norm"))
    if config is not None and config["layers"] is not None and not flags_build:
        hidden = _config_layers(config["layers"], args.config)
    else:
        if config is not None and config["layers"] is not None:
            _note(args, f"the hidden layers come from the flags, not from the layers of {args.config}")
        hidden = _flag_layers(s["hidden"], s["activation"], s["dropout"], bool(s["batch_norm"]))
    try:
        model = fastnn.Sequential([layers.Input((X.shape[1],)), *hidden,
                                   layers.Dense(n_out, activation=_output_activation(loss))],
                                  seed=s["seed"], dtype=s["dtype"])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {exc}") from None
    n_train = len(X) if not s["validation_split"] else int(math.floor(len(X) * (1 - s["validation_split"])))
    for layer in model.layers:
        if isinstance(layer, layers.Normalization):
            try:
                layer.adapt(X[:max(n_train, 1)])
            except ValueError as exc:
                raise _model_error(data.source, exc) from None

    metrics = s["metrics"] if s["metrics"] is not None else (["accuracy"] if task == "classification" else ["mae"])
    optimizer = _make_optimizer(s["optimizer"], s["learning_rate"], where)
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {exc}") from None

    cbs = []
    if s["early_stopping"] is not None:
        monitor = "val_loss" if s["validation_split"] else "loss"
        cbs.append(callbacks.EarlyStopping(monitor=monitor, patience=s["early_stopping"],
                                           restore_best_weights=True))
    label = f"; labels: {data.target_name}" if data.target_name else ""
    _say(args, f"data: {data.source}: {len(X):,} samples, {X.shape[1]:,} features{label}")
    what = f"{n_out} classes" if task == "classification" and loss.single_label else f"{n_out} output(s)"
    _say(args, f"task: {task}, {what} ({how}); loss {loss.name}, metrics {', '.join(metrics) or 'none'}")
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
    try:
        model.build((None, X.shape[1]))
        if not args.quiet:
            model.summary()
        start = time.perf_counter()
        history = model.fit(X, targets, epochs=s["epochs"], batch_size=s["batch_size"],
                            validation_split=s["validation_split"], shuffle=s["shuffle"],
                            verbose=verbose, callbacks=cbs)
    except (TypeError, ValueError) as exc:
        raise _model_error(data.source, exc) from None
    elapsed = time.perf_counter() - start
    logs = {k: v[-1] for k, v in history.history.items() if v and k != "learning_rate"}
    epochs_run = len(history.history.get("loss", []))
    seen = epochs_run * n_train
    print(f"trained {epochs_run} epoch{'s' * (epochs_run != 1)} on {n_train:,} samples in {elapsed:.2f} s: "
          f"{seen / elapsed if elapsed > 0 else float('inf'):,.0f} samples/s")
    print("final: " + " - ".join(f"{k} {_fmt(v)}" for k, v in logs.items()))
    try:
        model.save(args.output)
    except (OSError, ValueError) as exc:
        raise DataError(f"--output: {' '.join(str(exc).split())}") from None
    print(f"saved {args.output}")
    return EXIT_OK


def _fmt(value: Any) -> str:
    if np.ndim(value) == 0:
        return f"{float(value):.6g}"
    return np.array2string(np.asarray(value), precision=4, separator=", ")


def _load(path: str, compile: bool = True):
    from fastnn import load_model
    try:
        return load_model(path, compile=compile)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"MODEL {' '.join(str(exc).split())}") from None


def _features_for(model, data: Dataset) -> np.ndarray:
    """The features shaped as the model's samples (a model with a Flatten takes images)."""
    shape = model.input_shape
    X = data.x
    if shape is not None and len(shape) > 1 and X.shape[1] == math.prod(shape):
        X = X.reshape((len(X),) + tuple(shape))
    return X


def _evaluate(args: argparse.Namespace) -> int:
    model = _load(args.model)
    if not model.compiled:
        raise DataError(f"MODEL {args.model}: saved without a loss (an uncompiled model): cannot evaluate it")
    data = load_data(args.data, split="test", target=args.target, x_key=args.x_key, y_key=args.y_key)
    for note in data.notes:
        _note(args, note)
    targets, _ = prepare_targets(model.loss, data.y, data.source, model.layers[-1].output_dim)
    try:
        results = model.evaluate(_features_for(model, data), targets, batch_size=args.batch_size)
    except (TypeError, ValueError) as exc:
        raise _model_error(data.source, exc) from None
    if args.json:
        print(json.dumps({k: (float(v) if np.ndim(v) == 0 else np.asarray(v).tolist())
                          for k, v in results.items()}))
    else:
        for k, v in results.items():
            print(f"{k}: {float(v):.10g}" if np.ndim(v) == 0 else f"{k}: {_fmt(v)}")
    return EXIT_OK


def _is_classifier(model) -> bool:
    return model.loss is not None and bool(model.loss.counts_correct)


def _predict(args: argparse.Namespace) -> int:
    from fastnn import losses
    model = _load(args.model)
    classifier = _is_classifier(model)
    if args.proba and not classifier:
        what = f"the loss {model.loss.name!r}" if model.loss is not None else "no loss"
        raise UsageError(f"--proba: the model is not a classifier ({what}): its predictions are values")
    data = load_data(args.data, split="test", target=args.target, x_key=args.x_key, need_y=False,
                     n_features=model.input_dim)
    for note in data.notes:
        _note(args, note)
    try:
        out = model.predict(_features_for(model, data), batch_size=args.batch_size)
    except (TypeError, ValueError) as exc:
        raise _model_error(data.source, exc) from None
    if classifier and not args.proba:
        if out.shape[1] == 1:
            # One output: a probability (binary cross-entropy) or a margin (hinge losses).
            threshold = 0.5 if isinstance(model.loss, losses.BinaryCrossentropy) else 0.0
            values, kind = (out[:, 0] > threshold).astype(np.int64), "labels"
        else:
            values, kind = np.argmax(out, axis=1).astype(np.int64), "labels"
    else:
        values, kind = out, ("proba" if classifier else "values")
    try:
        write_predictions(args.output, values, kind)
    except OSError as exc:
        raise DataError(f"--output: {args.output}: cannot write it ({exc})") from None
    what = {"labels": "class labels", "proba": "rows of class probabilities", "values": "rows of outputs"}[kind]
    print(f"wrote {len(values):,} {what} to {args.output}")
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    import fastnn
    from fastnn import saving
    try:
        # The checked reader of fastnn.saving: format, version, sizes and SHA-256 of every member.
        header, config, arrays = saving._read_archive(args.model)
        model = fastnn.Sequential.from_config(config["model"])
        model.build((None, *config["input_shape"]))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DataError(f"MODEL {' '.join(str(exc).split())}") from None
    size = os.path.getsize(args.model)
    print(f"file: {args.model} ({size:,} bytes)")
    print(f"format: {header['format']} version {header['version']}, {header['kind']} file, "
          f"written by fastnn {header.get('fastnn_version', '?')}")
    print(f"dtype: {header['dtype']}")
    print(f"input shape: {tuple(config['input_shape'])}")
    model.summary()
    print(f"parameters: {model.count_params():,}")
    compiled = config.get("compile")
    if header["kind"] == "weights":
        print("weights only (save_weights): build the model and call model.load_weights()")
    elif not isinstance(compiled, dict):
        print("optimizer: none (saved uncompiled)")
    else:
        opt = compiled.get("optimizer") or {}
        print(f"optimizer: {opt.get('class_name', '?')} ({_kwargs(opt.get('config'))})")
        state = config.get("optimizer_state") or {}
        steps = state.get("iterations")  # kept in the JSON, or as a 0-d array member
        member = (state.get("members") or {}).get("iterations")
        if steps is None and member in arrays and arrays[member].size == 1:
            steps = int(arrays[member])
        if isinstance(steps, int):
            print(f"optimizer steps: {steps:,}")
        loss = compiled.get("loss")
        if isinstance(loss, dict):
            print(f"loss: {loss.get('class_name', '?')} ({_kwargs(loss.get('config'))})")
        else:
            print(f"loss: {loss}")
        names = [m if isinstance(m, str) else m.get("class_name", "?") for m in compiled.get("metrics", [])]
        print(f"metrics: {', '.join(names) or 'none'}")
    return EXIT_OK


def _kwargs(config: Any) -> str:
    if not isinstance(config, dict):
        return ""
    return ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None and k != "name")


# -- entry point ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fastnn`` with `argv` (default: ``sys.argv[1:]``) and return the exit status.

    Errors are one line on stderr: status 2 for usage errors (as argparse), 1 for
    file and data errors, 130 when interrupted.
    """
    from fastnn import _threads

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    saved_threads = _threads._num_threads  # restored: main() may run inside a longer process
    try:
        if args.threads is not None:
            _threads.set_num_threads(args.threads)
        return args.run(args)
    except UsageError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`fastnn info m.fastnn | head`): stop quietly, and keep
        # Python's exit-time flush of stdout from raising again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_ERROR
    finally:
        _threads._num_threads = saved_threads


if __name__ == "__main__":
    sys.exit(main())
