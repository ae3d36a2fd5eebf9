"""What the command line (`fastnn.cli`) reads, checked once: data (.npz, .npy, .csv, MNIST),
config files (JSON/TOML, schema in `fastnn.cli`), flag values, and labels made into targets.

Every expected problem (a missing file, a foreign format, a missing column or key,
non-numeric values) raises `DataError` with one line that names the file, what was
expected and what came; the command line prints it and exits with status 1.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from fastnn.saving import atomic_write

__all__ = ["DataError", "UsageError", "Dataset", "MNIST_HELP", "CHECKS", "CONFIG_SECTIONS", "load_data",
           "load_config", "infer_task", "prepare_targets", "write_predictions"]

# Integer labels with at most this many distinct values are read as classes when
# --task is not given (more look like counts or prices: a regression).
MAX_INFERRED_CLASSES = 100
# The largest class label inferred: keeps a stray large integer from creating
# thousands of output units.
MAX_INFERRED_LABEL = 999
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
MNIST_HELP = ("mnist (the full MNIST from $FASTNN_DATA/mnist or the cache folder, else the "
              "sample bundled with fastnn), mnist-sample (the bundled sample: 6,000 training "
              "and 1,000 test images) or mnist:DIR (the four .gz files in DIR)")


class DataError(Exception):
    """An expected problem with a data or model file: one line for the user (exit status 1)."""


class UsageError(Exception):
    """A flag or flag value that cannot work (exit status 2, as argparse's errors)."""


@dataclass
class Dataset:
    """Features (n, d) and, when the source has them, targets (n,) or (n, k)."""

    x: np.ndarray
    y: np.ndarray | None
    source: str
    feature_names: list[str] | None = None
    target_name: str | None = None
    notes: list[str] = field(default_factory=list)


def load_data(spec: str, *, split: str = "train", target: str | None = None, x_key: str | None = None,
              y_key: str | None = None, need_y: bool = True, n_features: int | None = None) -> Dataset:
    """Read the data named by ``--data``.

    Parameters
    ----------
    spec : str
        A path to a .npz (arrays `x_key`/`y_key`, default "x"/"y"), .npy (features
        only), or .csv/.tsv/.txt file (numbers; a header row is detected; the label
        column is `target`, a name or a 0-based index, default the last column), or
        an MNIST name (see `MNIST_HELP`).
    split : {"train", "test"}
        The MNIST split to read.
    need_y : bool
        False (predict) reads features only: the .npz label array may be absent and
        a .csv keeps all its columns unless `target` is given or the file has exactly
        ``n_features + 1`` columns (then the label column, `target` or the last one,
        is dropped).
    n_features : int, optional
        The model's input width, used by predict as described above.

    Raises
    ------
    DataError
        One line naming the file (or the flag) and the problem.
    """
    if spec == "mnist" or spec == "mnist-sample" or spec.startswith("mnist:"):
        _only_for(target, "--target", ".csv", spec)
        _only_for(x_key, "--x-key", ".npz", spec)
        _only_for(y_key, "--y-key", ".npz", spec)
        return _load_mnist(spec, split)
    if not os.path.exists(spec):
        raise DataError(f"--data: {spec}: no such file (expected a .npz, .npy or .csv file, or "
                        "mnist, mnist-sample or mnist:DIR)")
    if os.path.isdir(spec):
        raise DataError(f"--data: {spec}: is a directory, expected a .npz, .npy or .csv file")
    suffix = os.path.splitext(spec)[1].lower()
    if suffix == ".npz":
        _only_for(target, "--target", ".csv", spec)
        return _load_npz(spec, x_key or "x", y_key or "y", need_y)
    _only_for(x_key, "--x-key", ".npz", spec)
    _only_for(y_key, "--y-key", ".npz", spec)
    if suffix == ".npy":
        _only_for(target, "--target", ".csv", spec)
        if need_y:
            raise DataError(f"--data: {spec}: a .npy file holds features only, but this command needs "
                            "labels too: use a .npz with arrays x and y, or a .csv")
        return Dataset(_numeric(_load_npy(spec), spec, "the features"), None, spec)
    if suffix in _CSV_SUFFIXES:
        return _load_csv(spec, target, need_y, n_features)
    raise DataError(f"--data: {spec}: expected a .npz, .npy or .csv file (or {MNIST_HELP}), "
                    f"got the suffix {suffix or '(none)'!r}")


def _only_for(value: str | None, flag: str, kind: str, spec: str) -> None:
    if value is not None:
        raise UsageError(f"{flag}: applies to {kind} data only, got --data {spec}")


# -- formats ------------------------------------------------------------------------------------

def _numeric(arr: np.ndarray, path: str, what: str) -> np.ndarray:
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{path}: {what}: expected numbers, got an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise DataError(f"{path}: {what}: expected an array with one row per sample, got a scalar")
    return arr


def _as_rows(x: np.ndarray, path: str) -> np.ndarray:
    """Features as (n, d): samples of any shape are flattened (the layers take vectors)."""
    if x.ndim == 1:
        raise DataError(f"{path}: the features: expected a 2-D array (samples, features), got shape "
                        f"{x.shape}; a single feature needs shape (n, 1)")
    return x.reshape(len(x), -1) if x.ndim > 2 else x


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({_one_line(exc)})") from None


def _load_npz(path: str, x_key: str, y_key: str, need_y: bool) -> Dataset:
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):  # a .npy array under a .npz name
            raise DataError(f"{path}: expected a .npz archive of arrays, got a single .npy array "
                            f"of shape {npz.shape}")
        with npz:
            keys = list(npz.files)
            if x_key not in keys:
                raise DataError(f"--x-key: {path} has no array {x_key!r} (its arrays: {', '.join(keys) or 'none'})")
            x = npz[x_key]
            y = None
            if y_key in keys:
                y = npz[y_key]
            elif need_y:
                raise DataError(f"--y-key: {path} has no array {y_key!r} (its arrays: {', '.join(keys) or 'none'})")
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({_one_line(exc)})") from None
    x = _as_rows(_numeric(x, path, f"array {x_key!r}"), path)
    if y is not None:
        y = _numeric(y, path, f"the labels (array {y_key!r})")
        if len(y) != len(x):
            raise DataError(f"{path}: array {y_key!r} has {len(y)} rows but {x_key!r} has {len(x)}")
        if y.ndim > 2:
            raise DataError(f"{path}: array {y_key!r}: expected labels of shape (n,) or (n, k), got {y.shape}")
    return Dataset(x, y, path)


def _delimiter(line: str) -> str | None:
    """",", tab or ";" (the first found in the first line), else None: runs of whitespace."""
    for d in (",", "\t", ";"):
        if d in line:
            return d
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_csv(path: str, target: str | None, need_y: bool, n_features: int | None) -> Dataset:
    try:
        # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first field.
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the file as UTF-8 text ({_one_line(exc)})") from None
    if not first.strip():
        raise DataError(f"{path}: expected a header or a row of numbers on the first line, got an empty line")
    delim = _delimiter(first)
    fields = first.split() if delim is None else [s.strip() for s in next(csv.reader([first], delimiter=delim))]
    # A first row that is not all numbers is a header (names of the columns).
    header = not all(_is_number(s) for s in fields)
    names = fields if header else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
            data = np.loadtxt(path, delimiter=delim, skiprows=int(header), dtype=np.float64, ndmin=2,
                              encoding="utf-8-sig", comments=None)
    except ValueError as exc:
        raise DataError(_csv_error(path, exc, names, len(fields), target, need_y)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the file ({_one_line(exc)})") from None
    if data.size == 0:
        raise DataError(f"{path}: expected rows of numbers{' after the header' if header else ''}, got none")
    n_cols = data.shape[1]
    if names is not None and len(names) != n_cols:
        raise DataError(f"{path}: the header names {len(names)} columns but the rows have {n_cols}")
    label = None
    if target is not None:
        label = _target_column(path, target, names, n_cols)
    elif need_y or (n_features is not None and n_cols == n_features + 1):
        label = n_cols - 1
    if label is None:
        return Dataset(data, None, path, feature_names=names)
    if n_cols < 2:
        raise DataError(f"{path}: expected at least 2 columns (features and a label), got {n_cols}")
    keep = np.arange(n_cols) != label
    x = np.ascontiguousarray(data[:, keep])
    y = data[:, label]
    return Dataset(x, y, path, feature_names=None if names is None else [n for n, k in zip(names, keep) if k],
                   target_name=names[label] if names is not None else f"column {label}")


def _target_column(path: str, target: str, names: list[str] | None, n_cols: int) -> int:
    if names is not None and target in names:
        return names.index(target)
    try:
        index = int(target)
    except ValueError:
        if names is None:
            raise DataError(f"--target: {path} has no header row, so columns are chosen by index "
                            f"(0 to {n_cols - 1}, or -1 for the last), got {target!r}") from None
        raise DataError(f"--target: {path} has no column named {target!r} (its columns: "
                        f"{', '.join(names)})") from None
    if not -n_cols <= index < n_cols:
        raise DataError(f"--target: expected a column index in [{-n_cols}, {n_cols - 1}] for {path} "
                        f"({n_cols} columns), got {index}")
    return index % n_cols


_CONVERT = re.compile(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)")


def _csv_error(path: str, exc: ValueError, names: list[str] | None, n_cols: int,
               target: str | None, need_y: bool) -> str:
    """One line for numpy's loadtxt failure, naming the column (and whether it holds the labels)."""
    message = _one_line(exc).split("; use `usecols`")[0]
    m = _CONVERT.search(message)
    if not m:
        return f"{path}: expected a table of numbers with the same number of columns on every row: {message}"
    value, row, col = m.group(1), int(m.group(2)) + 1, int(m.group(3)) - 1
    label = None
    if target is not None:
        try:
            label = _target_column(path, target, names, n_cols)
        except DataError:
            label = None
    elif need_y:
        label = n_cols - 1
    what = "an empty value" if value.strip() == "" else f"the non-numeric value {value!r}"
    name = (f"{names[col]!r} (index {col})" if names is not None and col < len(names)
            else f"{col} (0-based)")
    if label is not None and col == label:
        return (f"{path}: the label column {name} holds {what} at data row {row}: expected numeric "
                "labels (class labels as integers 0..k-1, or numbers for regression)")
    return f"{path}: column {name} holds {what} at data row {row}: expected numeric features"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# -- MNIST ------------------------------------------------------------------------------------

def _load_mnist(spec: str, split: str) -> Dataset:
    from fastnn.datasets import load_mnist, load_mnist_sample

    notes = []
    if spec == "mnist-sample":
        train, test = load_mnist_sample()
        source = "the MNIST sample bundled with fastnn"
    elif spec.startswith("mnist:"):
        folder = spec[len("mnist:"):]
        try:
            train, test = load_mnist(folder, download=False)
        except (FileNotFoundError, ValueError) as exc:
            # The library's advice is for Python callers; the command line has its own.
            reason = _one_line(exc).split(" To fix:")[0]
            raise DataError(f"--data {spec}: {reason} (--data mnist-sample uses the sample bundled "
                            "with fastnn)") from None
        source = f"MNIST from {folder}"
    else:
        try:
            train, test = load_mnist(download=False)
            source = "MNIST"
        except FileNotFoundError:
            train, test = load_mnist_sample()
            source = "the MNIST sample bundled with fastnn"
            notes.append("MNIST not found in $FASTNN_DATA/mnist nor in the cache folder: using the "
                         "small sample bundled with fastnn (6,000 training / 1,000 test images; "
                         "accuracy is lower than on the full data)")
        except ValueError as exc:
            raise DataError(f"--data mnist: {_one_line(exc)}") from None
    x, y = train if split == "train" else test
    return Dataset(x, y, f"{source} ({split} split)", notes=notes)


# -- task -------------------------------------------------------------------------------------

def infer_task(y: np.ndarray) -> str:
    """"classification" or "regression", read from the labels.

    Classification: integer labels (an integer or bool dtype, or floats that are all
    whole numbers) in 0..999 with at least 2 and at most 100 distinct values, or
    one-hot rows (0/1 values, one 1 per row). Anything else is a regression.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.size and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
            return "classification"
        return "regression"
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            return "regression"
    elif y.dtype.kind not in "iub":
        return "regression"
    if y.size == 0 or y.min() < 0 or y.max() > MAX_INFERRED_LABEL:
        return "regression"
    distinct = len(np.unique(y))
    return "classification" if 2 <= distinct <= MAX_INFERRED_CLASSES else "regression"


# -- values of flags and config files: each check takes a string (flag) or a typed value ---

def _int_at_least(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        parsed = value
        if isinstance(value, str):
            try:
                parsed = int(value.strip())
            except ValueError:
                parsed = None
        if isinstance(parsed, bool) or not isinstance(parsed, int) or parsed < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return parsed
    return check


def _float_in(low: float, high: float, high_open: bool = True, low_open: bool = False
              ) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        parsed = value
        if isinstance(value, str):
            try:
                parsed = float(value.strip())
            except ValueError:
                parsed = None
        if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
            parsed = None
        ok = parsed is not None and math.isfinite(parsed) and \
            (parsed > low if low_open else parsed >= low) and (parsed < high if high_open else parsed <= high)
        if not ok:
            interval = f"{'(' if low_open else '['}{low:g}, {'inf' if math.isinf(high) else f'{high:g}'}" \
                       f"{')' if high_open else ']'}"
            raise ValueError(f"expected a number in {interval}, got {value!r}")
        return float(parsed)
    return check


def _one_of(names: Callable[[], list[str]], what: str, fold_case: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        known = names()
        key = value.lower() if fold_case and isinstance(value, str) else value
        if not isinstance(value, str) or key not in known:
            raise ValueError(f"expected {what}: one of {', '.join(known)}; got {value!r}")
        return key
    return check


def _activation_names() -> list[str]:
    from fastnn import activations
    return activations.names()


def _optimizer_names() -> list[str]:
    from fastnn import optimizers
    return sorted(name.lower() for name in optimizers.__all__
                  if isinstance(getattr(optimizers, name), type) and name != "Optimizer"
                  and issubclass(getattr(optimizers, name), optimizers.Optimizer))


def _loss_names() -> list[str]:
    from fastnn import losses
    return losses.names()


def _hidden(value: Any) -> list[int]:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "0"):
            return []
        parts = [p.strip() for p in text.split(",")]
        try:
            widths = [int(p) for p in parts]
        except ValueError:
            widths = []
        if widths and all(w >= 1 for w in widths):
            return widths
    raise ValueError(f"expected comma-separated layer widths >= 1 such as 128,64 (or 'none' for no "
                     f"hidden layer), got {value!r}")


CHECKS: dict[str, Callable[[Any], Any]] = {
    "epochs": _int_at_least(1), "batch_size": _int_at_least(1), "early_stopping": _int_at_least(0),
    "seed": _int_at_least(0), "threads": _int_at_least(1),
    "learning_rate": _float_in(0.0, math.inf, low_open=True),
    "validation_split": _float_in(0.0, 1.0), "dropout": _float_in(0.0, 1.0),
    "activation": _one_of(_activation_names, "an activation"),
    "optimizer": _one_of(_optimizer_names, "an optimizer", fold_case=True),
    "loss": _one_of(_loss_names, "a loss"),
    "task": _one_of(lambda: ["classification", "regression"], "a task"),
    "dtype": _one_of(lambda: ["float32", "float64"], "a dtype"),
    "hidden": _hidden,
}


# -- config files ---------------------------------------------------------------------------------

CONFIG_SECTIONS = {
    "model": ("seed", "dtype"),
    "compile": ("task", "optimizer", "learning_rate", "loss", "metrics"),
    "fit": ("epochs", "batch_size", "validation_split", "early_stopping", "shuffle"),
}


def load_config(path: str) -> dict[str, Any]:
    """Read and check a JSON or TOML config file (its schema is in `fastnn.cli`'s docstring).

    Returns ``{"layers": list of dicts or None, "model": {...}, "compile": {...},
    "fit": {...}}`` with checked values. Raises UsageError for a suffix other than
    .json/.toml and DataError (naming the file and the key) for anything in it.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".json", ".toml"):
        raise UsageError(f"--config: expected a .json or .toml file, got {path!r}")
    if not os.path.isfile(path):
        raise DataError(f"--config: {path}: no such file")
    try:
        if suffix == ".json":
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        else:
            toml = _toml_module()
            with open(path, "rb") as f:
                raw = toml.load(f)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        kind = "JSON" if suffix == ".json" else "TOML"
        raise DataError(f"--config: {path}: not valid {kind} ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise DataError(f"--config: {path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object with the sections layers, model, compile, fit; "
                        f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(CONFIG_SECTIONS) - {"layers"})
    if unknown:
        raise DataError(f"{path}: unknown section {unknown[0]!r}: expected layers, model, compile or fit")
    out: dict[str, Any] = {"layers": None}
    for section, keys in CONFIG_SECTIONS.items():
        values = raw.get(section, {})
        if not isinstance(values, dict):
            raise DataError(f"{path}: {section}: expected a table of settings, got {values!r}")
        bad = sorted(set(values) - set(keys))
        if bad:
            raise DataError(f"{path}: {section}.{bad[0]}: unknown setting; {section} takes {', '.join(keys)}")
        checked = {}
        for key, value in values.items():
            checked[key] = _check_config_value(path, section, key, value)
        out[section] = checked
    if "layers" in raw:
        layers = raw["layers"]
        if not isinstance(layers, list) or not all(isinstance(l, dict) for l in layers):
            raise DataError(f"{path}: layers: expected a list of tables such as "
                            f"{{\"type\": \"Dense\", \"units\": 64}}, got {layers!r}")
        for i, spec in enumerate(layers):
            if not isinstance(spec.get("type"), str):
                raise DataError(f"{path}: layers[{i}]: expected a 'type' naming a fastnn layer class "
                                f"(e.g. \"Dense\"), got {spec!r}")
        out["layers"] = layers
    return out


def _toml_module():
    try:
        import tomllib  # Python >= 3.11
        return tomllib
    except ImportError:
        pass
    try:
        import tomli
        return tomli
    except ImportError:
        raise UsageError(f"--config: reading TOML needs Python 3.11 or newer, or the tomli package "
                         f"(pip install tomli); this is Python {sys.version.split()[0]}: use a .json "
                         "file instead") from None


def _check_config_value(path: str, section: str, key: str, value: Any) -> Any:
    try:
        if key in ("optimizer", "loss"):
            if isinstance(value, dict):
                if not isinstance(value.get("name"), str):
                    raise ValueError(f"expected a table with a 'name', got {value!r}")
                CHECKS[key](value["name"])
                return dict(value)
            return CHECKS[key](value)
        if key == "metrics":
            if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                raise ValueError(f"expected a list of metric names, got {value!r}")
            return list(value)
        if key == "shuffle":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return value
        if isinstance(value, str) and key not in ("task", "dtype"):
            raise ValueError(f"expected a number, got the string {value!r}")
        return CHECKS[key](value)
    except ValueError as exc:
        raise DataError(f"{path}: {section}.{key}: {exc}") from None


# -- targets ----------------------------------------------------------------------------------

def _class_targets(y: np.ndarray, source: str) -> np.ndarray:
    """Whole-number labels >= 0 as int64 (n,), or a DataError naming the first bad one."""
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y)) | (y < 0)
    elif y.dtype.kind in "iub":
        bad = y < 0
    else:
        raise DataError(f"{source}: the labels: expected numbers, got dtype {y.dtype}")
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{source}: the labels: expected class labels 0..k-1 (whole numbers >= 0) for "
                        f"classification, got {y[i].item()!r} at row {i}; use --task regression for values")
    return y.astype(np.int64)


def prepare_targets(loss, y: np.ndarray, source: str, n_outputs: int | None) -> tuple[np.ndarray, int]:
    """Labels in the form the loss reads, and the output width (`n_outputs` when the model
    fixes it): class labels become one-hot rows for losses that want rows, a single 0/1
    column for binary losses."""
    from fastnn import losses
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if not loss.counts_correct:  # a regression: values as they are
        return y, (1 if y.ndim == 1 else y.shape[1]) if n_outputs is None else n_outputs
    if y.ndim == 2:
        return y, y.shape[1] if n_outputs is None else n_outputs
    if not loss.single_label and n_outputs in (None, 1) and y.size and np.isin(y, (-1, 1)).all():
        return y.reshape(-1, 1), 1  # -1/1 labels, as the hinge losses also take them
    labels = _class_targets(y, source)
    top = int(labels.max()) if labels.size else 0
    if not loss.single_label:  # binary losses (binary_crossentropy, hinge): one 0/1 column
        width = n_outputs if n_outputs is not None else (1 if top <= 1 else top + 1)
        if width == 1:
            return labels.reshape(-1, 1), 1
    else:
        width = n_outputs if n_outputs is not None else max(top + 1, 2)
        if not isinstance(loss, losses.CategoricalCrossentropy):
            return labels, width
    if top >= width:
        raise DataError(f"{source}: the labels: expected classes 0..{width - 1}, got {top}")
    return np.eye(width, dtype=np.float64)[labels], width



# -- predictions --------------------------------------------------------------------------------

def write_predictions(path: str, values: np.ndarray, kind: str) -> None:
    """Write predictions atomically to a .npy or .csv file.

    kind is "labels" (integers, one column "label"), "proba" (columns proba_0..)
    or "values" (columns output_0..); a .csv gets that header row.
    """
    suffix = os.path.splitext(path)[1].lower()

    def write(f) -> None:
        if suffix == ".npy":
            np.save(f, values, allow_pickle=False)
            return
        table = values.reshape(len(values), -1)
        if kind == "labels":
            header, fmt = "label", "%d"
        else:
            prefix = "proba" if kind == "proba" else "output"
            header = ",".join(f"{prefix}_{j}" for j in range(table.shape[1]))
            # Enough digits to read back the same float (9 for float32, 17 for float64).
            fmt = "%.9g" if values.dtype == np.float32 else "%.17g"
        np.savetxt(f, table, fmt=fmt, delimiter=",", header=header, comments="")

    try:
        atomic_write(path, write)
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise DataError(f"--output: {exc}") from None
