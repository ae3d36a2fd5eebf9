"""Who owns the cores: one OpenMP team for every parallel region.

fastnn's GEMMs go to its own BLAS (the OpenBLAS of the scipy-openblas32 wheel),
kept at one thread (fastnn.ops pins it on import); fastnn splits each large GEMM itself across an OpenMP team
(src_c/_blas.pxd: gemm_par), and element-wise passes and optimizer updates use
the same team. Two pools on the same cores (OpenBLAS's pthreads and OpenMP's,
both spin-waiting after their work) made a prototype's training steps 30-100x
slower, and running the element-wise passes serially instead cost W3
(784-2048-2048-10) ~10% of its step. numpy's and SciPy's BLAS keep their settings.
"""
from __future__ import annotations

import os

_num_threads: int | None = None
_default_threads: int | None = None  # the usable cores, read once (a syscall per kernel call cost ~0.4 us)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Set the threads used by fastnn's kernels, GEMMs included.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """Threads used by fastnn's kernels (default: the cores usable when first asked)."""
    global _default_threads
    if _num_threads is not None:
        return _num_threads
    if _default_threads is None:
        _default_threads = _usable_cores()
    return _default_threads

