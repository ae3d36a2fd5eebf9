"""Build the Cython kernels: src_c/<m>.pyx -> fastnn._core.<m>.

Flags are portable (no -march): -O3, OpenMP, and -fno-math-errno so that sqrt
and friends vectorize. -ffast-math is avoided on purpose: in a shared object it
can switch on flush-to-zero for the whole process.

GEMMs go to the OpenBLAS of the scipy-openblas32 wheel (a runtime dependency):
the extensions link to it, find it through an rpath relative to their own
location in site-packages, and fastnn._core preloads it for other layouts.

Set FASTNN_DEBUG=1 to build with bounds checking and without optimization, and
FASTNN_BUILD_ONLY=dense,losses to (re)build only those modules during development.
"""
import os
import sys
from pathlib import Path

import numpy as np
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNN_DEBUG", "") not in ("", "0")
ONLY = {m for m in os.environ.get("FASTNN_BUILD_ONLY", "").split(",") if m}

if sys.platform == "win32":
    compile_args, link_args = ["/O2", "/openmp"], []
elif sys.platform == "darwin":  # Apple clang needs libomp from elsewhere; build serial
    compile_args, link_args = ["-O3"], []
else:
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
    compile_args += ["-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
    link_args = ["-fopenmp", "-Wl,-rpath,$ORIGIN/../../scipy_openblas32/lib"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        f"fastnn._core.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include(), "src_c"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        library_dirs=[scipy_openblas32.get_lib_dir()],
        libraries=[scipy_openblas32.get_library()],
    )
    for pyx in sorted(Path("src_c").glob("*.pyx"))
    if not ONLY or pyx.stem in ONLY
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src_c"],
        compiler_directives=directives,
        # Always regenerate: a copied tree with reset mtimes can otherwise reuse a stale .c.
        force=True,
    )
)
