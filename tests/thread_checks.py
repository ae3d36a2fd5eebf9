"""What 1 and 2 threads must agree on.

fastnn's own element-wise passes compute every element in one fixed order whatever
the thread count, so they agree to the bit. GEMMs split across the OpenMP team call
a single-threaded BLAS on sub-blocks, and OpenBLAS picks its kernel by sub-problem
size (measured on an AMD EPYC with AVX-512: sgemm on half the rows rounded ~1 in 10
elements differently from the whole), so GEMM outputs agree to round-off across
thread counts and to the bit only for a fixed thread count.
"""
import numpy as np


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_threads_agree(one, two, gemm_fed, what=""):
    """Bit-identical unless `gemm_fed`; then equal to a few ulps of the largest magnitude."""
    if not gemm_fed:
        assert same_bits(one, two), f"{what}: 1 and 2 threads differ in an element-wise pass"
        return
    scale = max(float(np.max(np.abs(one))), 1e-30)
    tol = 64 * np.finfo(one.dtype).eps * scale
    err = float(np.max(np.abs(one.astype(np.float64) - two)))
    assert err <= tol, f"{what}: 1 vs 2 threads differ by {err:.3g} > {tol:.3g}"
