"""Thread count shared by fastnn's OpenMP kernels and the BLAS.

Who owns the cores: the BLAS runs the GEMMs with its own threads; fastnn's
element-wise kernels run serially unless a pass is large enough to pay for a
thread team (ELEMENTWISE_PARALLEL_MIN elements). Running OpenMP teams between
multi-threaded BLAS calls on every small pass oversubscribes the cores (both
runtimes spin-wait), which made a prototype 30-100x slower.
"""
from __future__ import annotations

import os

# Below this many elements an element-wise pass runs on one thread.
ELEMENTWISE_PARALLEL_MIN = 1 << 20

_num_threads: int | None = None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Set the threads used by fastnn's kernels and by the BLAS (GEMMs).

    Parameters
    ----------
    n : int
        Number of threads, >= 1.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    from threadpoolctl import threadpool_limits

    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS so that threadpoolctl sees it)

    threadpool_limits(limits=n, user_api="blas")
    _num_threads = n


def get_num_threads() -> int:
    """Threads used by fastnn's kernels (default: the usable cores)."""
    return _num_threads if _num_threads is not None else _usable_cores()


def elementwise_threads(n_elements: int) -> int:
    """Threads for an element-wise pass over n_elements (1 below the threshold)."""
    if n_elements < ELEMENTWISE_PARALLEL_MIN:
        return 1
    return get_num_threads()
