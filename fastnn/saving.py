"""Saving and loading models and weights: one zip file of JSON and .npy members, no pickle.

`save_weights` / `load_weights` write and read a model's parameters and its
non-trainable state (batch-norm moving statistics, Normalization's mean and
variance); `save_model` / `load_model` add what is needed to rebuild, compile
and resume training: the compile configuration, the optimizer state and the
random streams (shuffling, dropout, noise).

File format ("fastnn", version 1): a zip archive whose members are

====================  ===========================================================
``format.json``       ``{"format": "fastnn", "version": 1, "kind": "weights" | "model",
                      "dtype": ..., "fastnn_version": ..., "members": {name: {"size",
                      "sha256"[, "shape", "dtype"]}}}``: the size and SHA-256 of every
                      other member, and the shape and dtype of every array.
``config.json``       ``{"model": Sequential.get_config(), "input_shape": [...],
                      "weights": [{"name", "arena", "offset", "shape"}, ...]}``, plus
                      ``"compile"``, ``"optimizer_state"`` and ``"training_state"``
                      for a whole model.
``param_arena.npy``   the flat parameter arena (``model.param_arena``).
``state_arena.npy``   the flat non-trainable state arena (``model.state_arena``).
``optimizer_i.npy``   the optimizer state arrays, i = 0, 1, ... (whole model only).
====================  ===========================================================

Arrays are written with ``np.save(..., allow_pickle=False)`` and read with
``np.load(..., allow_pickle=False)``; everything else is JSON. Loading executes
no code from the file and checks, before it changes anything, the format name and
version, the presence, size, SHA-256, shape and dtype of every member, and that
the weights match the model (a clear ValueError naming the file otherwise).
Writes are atomic: the archive is written to a temporary file in the target's
directory, flushed and fsynced, then renamed over the target, so a failed write
leaves any previous file intact. Identical models give byte-identical files.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
import zlib
from typing import IO, Any, Callable

import numpy as np

FORMAT_NAME = "fastnn"
FORMAT_VERSION = 1
_HEADER = "format.json"
_CONFIG = "config.json"
_ARENAS = {"param": "param_arena.npy", "state": "state_arena.npy"}
# JSON members larger than this are refused before they are read (a hostile
# archive could declare a huge member); arrays are bounded by format.json's sizes.
_JSON_LIMIT = 64 << 20
# A fixed timestamp makes the file a function of the model alone.
_DATE = (1980, 1, 1, 0, 0, 0)
# zipfile's own failures on damaged archives; turned into ValueError naming the file.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError,
               RuntimeError, UnicodeDecodeError, OverflowError)


# -- public API ------------------------------------------------------------------------------------

def save_weights(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write the model's weights (parameters and non-trainable state) to `filepath`.

    Parameters
    ----------
    model : Sequential (built)
    filepath : str or path-like
        The file to write (any name; ``.weights.fastnn`` is a good suffix). Its
        directory must exist.
    overwrite : bool, default True
        False refuses to replace an existing file (FileExistsError).

    Notes
    -----
    The write is atomic: on any failure the previous file, if any, is untouched.
    """
    _require_built(model, "save_weights")
    config = {"model": model.get_config(), "input_shape": list(model.input_shape),
              "weights": _manifest(model)}
    _write_archive(filepath, "weights", model.dtype, config, _arena_arrays(model), overwrite)


def load_weights(model, filepath: str | os.PathLike) -> None:
    """Load weights written by `save_weights` (or `save_model`) into a built model.

    The file's weights must have the model's shapes, in the model's order (layer
    names may differ). A file written in the other float dtype is cast to the
    model's dtype. On any error (missing, truncated, corrupt, foreign or
    mismatched file) a ValueError names the file and the problem and the model's
    weights stay unchanged. The optimizer and the random streams are not touched.
    """
    _require_built(model, "load_weights")
    header, config, arrays = _read_archive(filepath)
    copies = _weight_copies(model, filepath, config, arrays)
    for view, values in copies:  # everything checked: nothing below can fail
        view[...] = values


def save_model(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write the whole model to `filepath`: `load_model` rebuilds it.

    Holds the architecture (``model.get_config()``), the weights, and when the
    model is compiled the optimizer (class and config), the loss (class and
    config), the metric names, the optimizer state (its moment arenas and step
    count, so that training resumes exactly), and the random streams of fit's
    shuffling and of the dropout / noise layers. The write is atomic.
    """
    config, arrays = _model_contents(model, "save")
    _write_archive(filepath, "model", model.dtype, config, arrays, overwrite)


def model_to_bytes(model) -> bytes:
    """The whole model as the bytes of a `save_model` file, written in memory.

    The same archive (JSON configuration and .npy arenas, no pickle) that
    `save_model` writes: `model_from_bytes` rebuilds the model from it. Useful
    to ship a model between processes (scikit-learn estimators pickle their
    model as these bytes) without touching the disk.

    Parameters
    ----------
    model : Sequential (built)

    Returns
    -------
    bytes
        Identical models give identical bytes.
    """
    config, arrays = _model_contents(model, "model_to_bytes")
    buffer = io.BytesIO()
    _write_zip(buffer, "model", model.dtype, config, arrays, "model_to_bytes")
    return buffer.getvalue()


def model_from_bytes(data: bytes, compile: bool = True, custom_objects: dict[str, Any] | None = None):
    """Rebuild a model from `model_to_bytes` output (or a `save_model` file's bytes).

    Parameters
    ----------
    data : bytes, bytearray or memoryview
    compile : bool, default True
        Compile the model as it was saved and restore the optimizer state.
    custom_objects : dict, optional
        As for `load_model`.

    Returns
    -------
    Sequential
        Predicts bit-identically to the model the bytes came from.

    Raises
    ------
    TypeError
        `data` is not bytes-like.
    ValueError
        The bytes are not a fastnn model archive, or are truncated or corrupt.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    where = "data"
    try:
        zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except _ZIP_ERRORS + (ValueError,) as exc:
        raise ValueError(f"{where}: not a fastnn archive: not a zip archive, or a truncated one "
                         f"({exc})") from None
    try:
        with zf:
            header, config, arrays = _read_members(zf, where)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"{where}: corrupt archive ({type(exc).__name__}: {exc})") from None
    return _model_from_archive(header, config, arrays, where, custom_objects, compile)


def _model_contents(model, what: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json and the arrays of a whole-model archive."""
    _require_built(model, what)
    config = {"model": model.get_config(), "input_shape": list(model.input_shape),
              "weights": _manifest(model)}
    arrays = _arena_arrays(model)
    if getattr(model, "compiled", False):
        config["compile"] = _compile_config(model)
        opt_state = _optimizer_state(model, model.optimizer)
        if opt_state is not None:
            described, opt_arrays = opt_state
            config["optimizer_state"] = described
            arrays.update(opt_arrays)
    config["training_state"] = _training_state(model)
    return config, arrays


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, Any] | None = None,
               compile: bool = True):
    """Rebuild a model written by `Sequential.save` (Keras's `load_model`).

    Parameters
    ----------
    filepath : str or path-like
    custom_objects : dict, optional
        Classes the file names that fastnn does not define: a custom `Loss`
        subclass (``{"MyLoss": MyLoss}``) or optimizer. Custom activations are
        found by their registered name: call ``fastnn.activations.register``
        before loading.
    compile : bool, default True
        Compile the model as it was saved and restore the optimizer state
        (False: the model is built with its weights, uncompiled).

    Returns
    -------
    Sequential
        Predicts bit-identically to the saved model; `fit` continues exactly
        where the saved model's training stopped (same optimizer state, same
        shuffling and dropout streams).

    Raises
    ------
    ValueError
        A missing member, a truncated, corrupt or foreign file, a weights-only
        file, or a configuration this fastnn cannot rebuild, naming the file.
    """
    header, config, arrays = _read_archive(filepath)
    return _model_from_archive(header, config, arrays, os.fspath(filepath), custom_objects, compile)


def _model_from_archive(header: dict, config: dict, arrays: dict[str, np.ndarray], path: str,
                        custom_objects: dict[str, Any] | None, compile: bool):
    """The model of a checked whole-model archive (`path` names it in errors)."""
    from fastnn.models import Sequential

    if header["kind"] != "model":
        raise ValueError(f"{path}: holds weights only (written by save_weights); build the model "
                         "and call model.load_weights() instead of load_model()")
    model_config = config.get("model")
    if not isinstance(model_config, dict) or not isinstance(model_config.get("layers"), list):
        raise ValueError(f"{path}: config.json has no model configuration")
    try:
        model = Sequential.from_config(model_config)
        model.build((None, *_shape(config.get("input_shape"), path, "input_shape")))
    except (ValueError, TypeError, KeyError) as exc:
        hint = (" (register custom activations with fastnn.activations.register before loading)"
                if "activation" in str(exc) else "")
        raise ValueError(f"{path}: cannot rebuild the model from config.json: {exc}{hint}") from exc
    for view, values in _weight_copies(model, path, config, arrays):
        view[...] = values
    if compile and isinstance(config.get("compile"), dict):
        _compile_from_config(model, config["compile"], custom_objects or {}, path)
        if isinstance(config.get("optimizer_state"), dict):
            _restore_optimizer_state(model, config["optimizer_state"], arrays, path)
    if isinstance(config.get("training_state"), dict):
        _restore_training_state(model, config["training_state"], path)
    return model


# -- what a model holds ----------------------------------------------------------------------------

def _require_built(model, what: str) -> None:
    check = getattr(model, "_require_built", None)
    if check is not None:
        check(what)  # builds a model whose Input fixes the shape; raises otherwise
    elif not getattr(model, "built", False):
        raise ValueError(f"model: build the model before {what}()")


def _offset(view: np.ndarray, arena: np.ndarray) -> int | None:
    """Element offset of a view inside an arena, or None when it lies elsewhere."""
    start = view.__array_interface__["data"][0] - arena.__array_interface__["data"][0]
    if 0 <= start and start + view.nbytes <= arena.nbytes and start % arena.itemsize == 0:
        return start // arena.itemsize
    return None


def weight_names(model) -> list[str]:
    """Names of the weights in ``get_weights()`` order: "<layer name>/<weight name>"
    (e.g. "dense/kernel", "batch_normalization/moving_mean")."""
    return [f"{layer.name}/{name}" for layer in model.layers
            for name, _ in layer.param_specs() + layer.state_specs()]


def _manifest(model) -> list[dict[str, Any]]:
    """Where each weight lives: name, arena ("param" or "state"), offset and shape,
    in get_weights() order (each layer's parameters, then its state)."""
    entries = []
    views = iter(model._weight_views)
    for layer in model.layers:
        for kind, specs in (("param", layer.param_specs()), ("state", layer.state_specs())):
            arena = model.param_arena if kind == "param" else model.state_arena
            for name, shape in specs:
                view = next(views)
                offset = _offset(view, arena)
                if offset is None or tuple(view.shape) != tuple(shape):
                    raise RuntimeError(f"{layer.name}/{name}: the weight is not a view of the {kind} "
                                       "arena (fastnn internal error)")
                entries.append({"name": f"{layer.name}/{name}", "arena": kind, "offset": int(offset),
                                "shape": [int(s) for s in shape]})
    return entries


def _arena_arrays(model) -> dict[str, np.ndarray]:
    return {_ARENAS["param"]: model.param_arena, _ARENAS["state"]: model.state_arena}


def _weight_copies(model, filepath, config: dict, arrays: dict[str, np.ndarray]
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(model view, file values) pairs for every weight, all checked; nothing is copied."""
    path = os.fspath(filepath)
    theirs = config.get("weights")
    if not isinstance(theirs, list):
        raise ValueError(f"{path}: config.json has no weight list")
    ours = _manifest(model)
    for i, entry in enumerate(theirs):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and entry.get("arena") in _ARENAS and _is_count(entry.get("offset"))
                and isinstance(entry.get("shape"), list) and all(_is_count(s) for s in entry["shape"])):
            raise ValueError(f"{path}: config.json weight entry {i} is malformed: {entry!r}")
    for i, (t, o) in enumerate(zip(theirs, ours)):
        if t["shape"] != o["shape"] or t["arena"] != o["arena"]:
            what = lambda e: f"shape {tuple(e['shape'])}" + (" (non-trainable)" if e["arena"] == "state" else "")
            raise ValueError(f"{path}: the file's weights do not match the model's: weight {i} is "
                             f"{t['name']!r} with {what(t)} in the file but {o['name']!r} with "
                             f"{what(o)} in the model")
    if len(theirs) != len(ours):
        first = theirs[len(ours)] if len(theirs) > len(ours) else ours[len(theirs)]
        where = "file" if len(theirs) > len(ours) else "model"
        raise ValueError(f"{path}: the file holds {len(theirs)} weights but the model has {len(ours)}; "
                         f"the first one only the {where} has is {first['name']!r} with shape "
                         f"{tuple(first['shape'])}")
    views = list(model._weight_views)
    copies = []
    for t, view in zip(theirs, views):
        arena = arrays[_ARENAS[t["arena"]]]
        size = int(np.prod(t["shape"], dtype=np.int64))
        if t["offset"] + size > arena.size:
            raise ValueError(f"{path}: weight {t['name']!r} lies outside the {t['arena']} arena "
                             f"({arena.size} values): corrupt file")
        copies.append((view, arena[t["offset"]:t["offset"] + size].reshape(t["shape"])))
    return copies


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _shape(value: Any, path: str, what: str) -> tuple[int, ...]:
    if not (isinstance(value, list) and value and all(_is_count(s) and s > 0 for s in value)):
        raise ValueError(f"{path}: config.json {what}: expected a list of positive integers, got {value!r}")
    return tuple(value)


# -- compile configuration and optimizer state -------------------------------------------------------

def _compile_config(model) -> dict[str, Any]:
    from fastnn import losses

    opt = model.optimizer
    return {"optimizer": {"class_name": type(opt).__name__, "config": opt.get_config()},
            "loss": losses.serialize(model.loss), "metrics": _metric_configs(model)}


def _metric_configs(model) -> list[Any]:
    """The compiled metrics in order: a name, or {"class_name", "config"} for a metric
    object (so that its arguments, e.g. AUC(curve="PR"), survive)."""
    objects = {getattr(m, "name", None): m for m in getattr(model, "_metric_objs", None) or []}
    out = []
    for m in model.metrics:
        name = m if isinstance(m, str) else getattr(m, "name", str(m))
        obj = objects.get(name, None if isinstance(m, str) else m)
        entry: Any = name
        if obj is not None and hasattr(obj, "get_config"):
            candidate = {"class_name": type(obj).__name__, "config": obj.get_config()}
            try:
                json.dumps(candidate, default=_json_default)
                entry = candidate
            except (TypeError, ValueError):
                pass  # e.g. a wrapped Python function: saved by name (load_model may refuse it)
        out.append(entry)
    return out


def _compile_from_config(model, config: dict, custom_objects: dict[str, Any], path: str) -> None:
    from fastnn import losses, optimizers

    try:
        spec = config["optimizer"]
        name = spec["class_name"]
        cls = custom_objects.get(name) or getattr(optimizers, name, None)
        if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
            raise ValueError(f"unknown optimizer class {name!r} (pass custom optimizers in custom_objects)")
        optimizer = cls.from_config(dict(spec["config"]))
        loss = losses.deserialize(config["loss"], custom_objects=custom_objects)
        metrics = []
        for entry in config.get("metrics") or []:
            if isinstance(entry, dict):
                from fastnn import metrics as metrics_mod
                entry = metrics_mod.deserialize(entry, custom_objects=custom_objects)
            metrics.append(entry)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: cannot compile the model as it was saved: {exc}") from exc


def _optimizer_state(model, opt) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(JSON description, arrays) of the optimizer's state, or None when it has none.

    Uses ``opt.get_state()`` (a dict of arrays) when the optimizer has it; an
    optimizer without it is read through the base class's slot arenas.
    """
    if getattr(opt, "iterations", 0) == 0:
        return None  # no step taken: nothing to resume
    shapes = getattr(opt, "_shapes", None)
    if shapes is not None and shapes != [(model.param_arena.shape, model.dtype)]:
        return None  # built for other variables (a custom loop): not this model's state
    if hasattr(opt, "get_state"):
        state = opt.get_state()
        api = "get_state"
        extra: dict[str, Any] = {}
    else:
        slots = getattr(opt, "_state", None)
        if not (isinstance(slots, list) and len(slots) == 1 and isinstance(slots[0], dict)):
            return None
        state, api, extra = slots[0], "slots", {"iterations": int(opt.iterations)}
    members, arrays = {}, {}
    for i, (key, value) in enumerate(state.items()):
        arr = np.asarray(value)
        if not isinstance(key, str) or arr.dtype.kind not in "fiub":
            raise TypeError(f"optimizer state: expected a dict of numeric arrays, got {key!r}: {arr.dtype}")
        member = f"optimizer_{i}.npy"
        members[key] = member
        arrays[member] = np.array(arr, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    return {"api": api, "members": members, **extra}, arrays


def _restore_optimizer_state(model, described: dict, arrays: dict[str, np.ndarray], path: str) -> None:
    opt = model.optimizer
    members = described.get("members")
    if not isinstance(members, dict) or not all(isinstance(m, str) and m in arrays for m in members.values()):
        raise ValueError(f"{path}: config.json optimizer_state names missing members: {members!r}")
    state = {key: arrays[member].copy() for key, member in members.items()}
    try:
        # Built as fit builds it (fit then keeps this state instead of starting afresh).
        builder = getattr(model, "_build_optimizer", None)
        if callable(builder):
            builder()
        else:
            opt.build(model.param_arena)
        if described.get("api") == "get_state":
            if not hasattr(opt, "set_state"):
                raise ValueError(f"{type(opt).__name__} has no set_state() to restore it")
            opt.set_state(state)
        elif described.get("api") == "slots":
            slots = opt._state[0]
            if sorted(slots) != sorted(state):
                raise ValueError(f"expected the slots {sorted(slots)}, got {sorted(state)}")
            for key, value in state.items():
                if value.shape != slots[key].shape:
                    raise ValueError(f"slot {key!r}: expected shape {slots[key].shape}, got {value.shape}")
            iterations = described.get("iterations")
            if not _is_count(iterations):
                raise ValueError(f"iterations: expected an integer >= 0, got {iterations!r}")
            for key, value in state.items():
                slots[key][...] = value
            opt.iterations = iterations
        else:
            raise ValueError(f"unknown state api {described.get('api')!r}")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: cannot restore the optimizer state: {exc}") from exc


# -- random streams ----------------------------------------------------------------------------------

def _training_state(model) -> dict[str, Any]:
    """The random streams fit consumes: its shuffling generator (PCG64 state, plain
    ints) and each dropout / noise layer's (key, counter)."""
    layers = []
    for i, layer in enumerate(model.layers):
        state = layer.random_state()
        if state is not None:
            key, counter = state
            layers.append({"index": i, "name": layer.name, "key": key, "counter": int(counter)})
    return {"shuffle_rng": model._shuffle_rng.bit_generator.state, "random_layers": layers}


def _restore_training_state(model, state: dict, path: str) -> None:
    try:
        rng_state = state.get("shuffle_rng")
        if rng_state is not None:
            if not isinstance(rng_state, dict) or rng_state.get("bit_generator") != \
                    type(model._shuffle_rng.bit_generator).__name__:
                raise ValueError(f"shuffle_rng: expected a {type(model._shuffle_rng.bit_generator).__name__} "
                                 f"state, got {rng_state!r}")
            model._shuffle_rng.bit_generator.state = rng_state
        for entry in state.get("random_layers", []):
            i = entry["index"]
            if not (_is_count(i) and i < len(model.layers)):
                raise ValueError(f"random_layers: layer index {i!r} out of range")
            key = entry["key"]
            if key is not None and not _is_count(key):
                raise ValueError(f"random_layers: expected an integer key, got {key!r}")
            model.layers[i].set_random_state((key, entry["counter"]))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: config.json training_state is malformed: {exc}") from exc


# -- the archive -------------------------------------------------------------------------------------

class _HashingWriter:
    """A write-only stream that forwards to a zip member and hashes what passes."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        n = memoryview(data).nbytes
        self._raw.write(data)
        self.sha256.update(data)
        self.size += n
        return n


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot be saved as JSON: {type(obj).__name__} {obj!r}")


def _zipinfo(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def _write_archive(filepath, kind: str, dtype: np.dtype, config: dict,
                   arrays: dict[str, np.ndarray], overwrite: bool) -> None:
    path = os.fspath(filepath)
    if not isinstance(path, str) or not path:
        raise ValueError(f"filepath: expected a non-empty path, got {filepath!r}")
    try:
        config_bytes = json.dumps(config, default=_json_default, indent=1).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the model's configuration {exc}") from exc
    atomic_write(path, lambda f: _write_zip(f, kind, dtype, config, arrays, path, config_bytes),
                 overwrite=overwrite)


def atomic_write(path: str, write: Callable[[IO[bytes]], None], overwrite: bool = True) -> None:
    """Write a file through ``write(f)`` into a temporary file beside `path`, fsync it and
    rename it over `path`: a failure or a crash at any point leaves the previous file whole.

    Raises FileNotFoundError (no such directory), IsADirectoryError, and FileExistsError
    when `path` exists and `overwrite` is False. (Also used by the ONNX export and the
    command line's prediction files.)
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path}: exists and overwrite=False")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _write_zip(f, kind: str, dtype: np.dtype, config: dict, arrays: dict[str, np.ndarray],
               where: str, config_bytes: bytes | None = None) -> None:
    """Write the archive into the binary stream f (a file or a BytesIO)."""
    if config_bytes is None:
        try:
            config_bytes = json.dumps(config, default=_json_default, indent=1).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: the model's configuration {exc}") from exc
    members: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr(_zipinfo(_CONFIG, zipfile.ZIP_DEFLATED), config_bytes)
        members[_CONFIG] = {"size": len(config_bytes),
                            "sha256": hashlib.sha256(config_bytes).hexdigest()}
        for name, arr in arrays.items():
            # Stored, not deflated: float weights barely compress and this streams.
            with zf.open(_zipinfo(name, zipfile.ZIP_STORED), "w", force_zip64=True) as raw:
                out = _HashingWriter(raw)
                np.save(out, arr, allow_pickle=False)
            members[name] = {"size": out.size, "sha256": out.sha256.hexdigest(),
                             "shape": list(arr.shape), "dtype": arr.dtype.name}
        from fastnn import __version__
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": kind,
                  "dtype": np.dtype(dtype).name, "fastnn_version": __version__,
                  "members": members}
        zf.writestr(_zipinfo(_HEADER, zipfile.ZIP_DEFLATED),
                    json.dumps(header, indent=1).encode("utf-8"))


def _file_mode(path: str) -> int:
    """Keep an existing file's permissions; a new file gets 0o666 less the umask
    (mkstemp creates 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); not possible (nor needed) everywhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_archive(filepath) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(format.json, config.json, {member: array}) of a fastnn file, everything checked."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory")
    try:
        zf = zipfile.ZipFile(path)
    except _ZIP_ERRORS + (ValueError,) as exc:
        raise ValueError(f"{path}: not a fastnn file: not a zip archive, or a truncated one ({exc})") from None
    try:
        with zf:
            return _read_members(zf, path)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"{path}: corrupt file ({type(exc).__name__}: {exc})") from None


def _read_members(zf: zipfile.ZipFile, path: str) -> tuple[dict, dict, dict[str, np.ndarray]]:
    infos = {info.filename: info for info in zf.infolist()}
    if _HEADER not in infos:
        names = sorted(infos)[:5]
        raise ValueError(f"{path}: not a fastnn file: it has no {_HEADER} member (members: {names}; "
                         "a .npz or another zip archive?)")
    header = _read_json(zf, infos[_HEADER], path, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        got = header.get("format") if isinstance(header, dict) else header
        raise ValueError(f"{path}: not a fastnn file: {_HEADER} names the format {got!r}")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: fastnn file format version {header.get('version')!r} is not supported "
                         f"(this fastnn reads version {FORMAT_VERSION})")
    if header.get("kind") not in ("weights", "model"):
        raise ValueError(f"{path}: {_HEADER}: expected kind 'weights' or 'model', got {header.get('kind')!r}")
    if header.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"{path}: {_HEADER}: expected dtype 'float32' or 'float64', got {header.get('dtype')!r}")
    members = header.get("members")
    if not isinstance(members, dict) or _CONFIG not in members or any(m not in members for m in _ARENAS.values()):
        raise ValueError(f"{path}: {_HEADER} does not list the members {[_CONFIG, *_ARENAS.values()]}")
    for name in sorted(set(members) - set(infos)):
        raise ValueError(f"{path}: the member {name!r} is missing: truncated or corrupt file")
    for name in sorted(set(infos) - set(members) - {_HEADER}):
        raise ValueError(f"{path}: unexpected member {name!r}, not written by fastnn")
    config, arrays = None, {}
    for name, meta in members.items():
        if not (isinstance(meta, dict) and _is_count(meta.get("size")) and isinstance(meta.get("sha256"), str)):
            raise ValueError(f"{path}: {_HEADER}: the entry of {name!r} is malformed: {meta!r}")
        if name.endswith(".json"):
            config = _read_json(zf, infos[name], path, meta)
        elif name.endswith(".npy"):
            arrays[name] = _read_array(zf, infos[name], path, meta)
        else:
            raise ValueError(f"{path}: unexpected member {name!r}: fastnn writes only .json and .npy members")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: {_CONFIG}: expected a JSON object")
    dtype = np.dtype(header["dtype"])
    for name in _ARENAS.values():
        arr = arrays[name]
        if arr.ndim != 1 or arr.dtype != dtype:
            raise ValueError(f"{path}: {name}: expected a 1-D {dtype} array, got shape {arr.shape} "
                             f"and dtype {arr.dtype}")
    return header, config, arrays


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, meta: dict | None,
                  limit: int | None) -> bytes:
    """The member's bytes after checking its size and SHA-256 against format.json."""
    name = info.filename
    if meta is not None and info.file_size != meta["size"]:
        raise ValueError(f"{path}: the member {name!r} holds {info.file_size} bytes but {_HEADER} "
                         f"says {meta['size']}: truncated or corrupt file")
    if limit is not None and info.file_size > limit:
        raise ValueError(f"{path}: the member {name!r} is {info.file_size} bytes, more than the "
                         f"{limit} a fastnn JSON member may hold")
    data = zf.read(info)  # zipfile checks the CRC-32 too
    if len(data) != info.file_size:
        raise ValueError(f"{path}: the member {name!r} is truncated")
    if meta is not None and hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ValueError(f"{path}: the member {name!r} fails its SHA-256 check: corrupt file")
    return data


def _read_json(zf, info, path: str, meta: dict | None) -> Any:
    data = _member_bytes(zf, info, path, meta, _JSON_LIMIT)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: the member {info.filename!r} is not valid JSON ({exc})") from None


def _read_array(zf, info, path: str, meta: dict) -> np.ndarray:
    data = _member_bytes(zf, info, path, meta, None)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: the member {info.filename!r} is not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise ValueError(f"{path}: the member {info.filename!r} is not a numeric array")
    shape, dtype = meta.get("shape"), meta.get("dtype")
    if not isinstance(shape, list) or not isinstance(dtype, str):
        raise ValueError(f"{path}: {_HEADER}: the entry of {info.filename!r} has no shape and dtype")
    if list(arr.shape) != shape:
        raise ValueError(f"{path}: the member {info.filename!r} has shape {arr.shape} but {_HEADER} "
                         f"says {tuple(shape)}")
    if arr.dtype.name != dtype:
        raise ValueError(f"{path}: the member {info.filename!r} has dtype {arr.dtype} but {_HEADER} "
                         f"says {dtype!r}")
    return arr
