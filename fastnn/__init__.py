"""fastnn: fast training of dense neural networks on the CPU.

Hot loops are Cython kernels (OpenMP, GEMMs through SciPy's BLAS) working on one
flat parameter arena; the API follows Keras 3.
"""
from fastnn import (activations, callbacks, constraints, datasets, distributed, ensemble, initializers,
                    layers, losses, metrics, optimizers, regularizers, schedules)
from fastnn._threads import get_num_threads, set_num_threads
from fastnn.gradient_check import gradient_check
from fastnn.models import Sequential
from fastnn.onnx_export import export_onnx
from fastnn.plotting import plot_history
from fastnn.saving import load_model

__version__ = "0.1.0"

__all__ = ["Sequential", "activations", "callbacks", "constraints", "datasets", "distributed", "ensemble",
           "initializers", "layers", "losses", "metrics", "optimizers", "regularizers", "schedules", "gradient_check",
           "get_num_threads", "set_num_threads", "load_model", "plot_history", "export_onnx", "__version__"]
