"""fastnn: fast training of dense neural networks on the CPU.

Hot loops are Cython kernels (OpenMP, GEMMs through SciPy's BLAS) working on one
flat parameter arena; the API follows Keras 3.
"""
from fastnn import activations, callbacks, datasets, initializers, layers, losses, optimizers
from fastnn._threads import get_num_threads, set_num_threads
from fastnn.models import Sequential

__version__ = "0.1.0"

__all__ = ["Sequential", "activations", "callbacks", "datasets", "initializers", "layers",
           "losses", "optimizers", "get_num_threads", "set_num_threads", "__version__"]
