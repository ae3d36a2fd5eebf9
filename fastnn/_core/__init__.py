"""Compiled kernels (private: only fastnn.ops imports them)."""
import ctypes as _ctypes
import importlib.util as _util
import os as _os

if _util.find_spec("fastnn._core.dense") is None:  # pragma: no cover - environment problem
    raise ImportError(
        f"fastnn's compiled kernels are missing from {__path__[0]}: this is a source tree "
        "without a build. Install fastnn (pip install .) and run from elsewhere, or build in "
        "place with pip install -e . (note: `python -m pytest` puts the current folder first "
        "on sys.path; run `pytest` instead).")


def _preload_openblas() -> None:
    """Load scipy-openblas32's library so the kernels' dependency on it resolves by
    its soname even where the rpath does not reach (editable installs)."""
    import scipy_openblas32

    lib_dir = scipy_openblas32.get_lib_dir()
    for name in sorted(_os.listdir(lib_dir)):
        if name.startswith("lib" + scipy_openblas32.get_library()) and ".so" in name:
            _ctypes.CDLL(_os.path.join(lib_dir, name), mode=_ctypes.RTLD_LOCAL)
            return


if _os.name == "posix":
    _preload_openblas()
