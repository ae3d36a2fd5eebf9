"""Input validation at the API boundary: clear errors that name the argument,
what was expected and what came. Runs once per call, before any state changes."""
from __future__ import annotations

from typing import Any

import numpy as np

from fastnn.ops import all_finite, check_labels


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def as_ndarray(x: Any, name: str) -> np.ndarray:
    """x itself if it is an ndarray, else np.asarray(x) with an error that names the argument."""
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name}: expected a rectangular array of numbers, got {type(x).__name__} "
                         f"that numpy cannot convert ({exc})") from None


def as_float_array(x: Any, name: str, ndim: int, dtype: np.dtype | None = None,
                   n_cols: int | None = None) -> np.ndarray:
    """A finite, C-contiguous float array (float32 unless dtype says otherwise).

    Copies only when the layout or dtype requires it.
    """
    arr = as_ndarray(x, name)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ValueError(f"{name}: expected {n_cols} features (columns), got {arr.shape[1]}")
    if dtype is not None:
        target = np.dtype(dtype)
    else:  # byte order does not change the precision: big-endian float64 stays float64
        native = arr.dtype.newbyteorder("=")
        target = native if native in (np.float32, np.float64) else np.dtype(np.float32)
    source = arr
    if arr.dtype != target:
        # Values beyond float32's range become inf in the cast: reported below by value,
        # not as a numpy RuntimeWarning.
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(arr, dtype=target)
    else:
        arr = np.ascontiguousarray(arr)
    # The kernel check makes no temporaries (train_on_batch must not allocate per step).
    if arr.size and not all_finite(arr):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = bad if len(bad) > 1 else bad[0]
        original = source[bad]
        if np.isfinite(original):
            limit = np.finfo(target).max
            raise ValueError(f"{name}: expected values within the {target.name} range (|value| <= "
                             f"{limit:.4g}), got {original.item()} at index {where}")
        raise ValueError(f"{name}: expected finite values, got {original.item()} at index {where}")
    return arr


def as_labels(y: Any, name: str, n_classes: int) -> np.ndarray:
    """Integer class labels in [0, n_classes) as a C-contiguous int64 array of shape (n,).

    Accepts (n,) or (n, 1); floats are accepted when they hold whole numbers.
    """
    arr = as_ndarray(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected class labels of shape (n,) or one-hot rows, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: expected finite class labels, got {arr[~np.isfinite(arr)][0]}")
        if (arr != np.round(arr)).any():
            raise ValueError(f"{name}: expected integer class labels, got {arr[arr != np.round(arr)][0]}")
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):  # before a cast could wrap
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise ValueError(f"{name}: expected class labels in [0, {n_classes}), got {bad}")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    labels = np.ascontiguousarray(arr, dtype=np.int64)
    bad = check_labels(labels, n_classes)
    if bad >= 0:
        raise ValueError(f"{name}: expected class labels in [0, {n_classes}), got {arr[bad]} at index {bad}")
    return labels
