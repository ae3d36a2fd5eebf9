"""Compiled kernels (private: only fastnn.ops imports them)."""
import importlib.util as _util

if _util.find_spec("fastnn._core.dense") is None:  # pragma: no cover - environment problem
    raise ImportError(
        f"fastnn's compiled kernels are missing from {__path__[0]}: this is a source tree "
        "without a build. Install fastnn (pip install .) and run from elsewhere, or build in "
        "place with pip install -e . (note: `python -m pytest` puts the current folder first "
        "on sys.path; run `pytest` instead).")
