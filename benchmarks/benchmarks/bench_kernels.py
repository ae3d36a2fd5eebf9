"""Kernel-level timings at the workload shapes: dense forward/backward, softmax-CE, optimizers."""
import numpy as np

import fastnn
from fastnn import ops

SHAPES = {  # (batch, n_in, units)
    "b32-784x128": (32, 784, 128),
    "b128-784x256": (128, 784, 256),
    "b512-2048x2048": (512, 2048, 2048),
}


class Dense:
    params = (list(SHAPES), ["float32", "float64"], [1, 2])
    param_names = ["shape", "dtype", "threads"]

    def setup(self, shape, dtype, threads):
        fastnn.set_num_threads(threads)
        n, k, u = SHAPES[shape]
        rng = np.random.default_rng(0)
        self.n = n
        self.x = rng.standard_normal((n, k)).astype(dtype)
        self.w = rng.standard_normal((k, u)).astype(dtype)
        self.b = rng.standard_normal(u).astype(dtype)
        self.out = np.empty((n, u), dtype)
        self.dy = rng.standard_normal((n, u)).astype(dtype)
        self.dw, self.db, self.dx = np.empty_like(self.w), np.empty_like(self.b), np.empty_like(self.x)
        ops.dense_forward(self.x, self.w, self.b, self.out, n, 1)

    def time_forward_relu(self, shape, dtype, threads):
        ops.dense_forward(self.x, self.w, self.b, self.out, self.n, 1)

    def time_backward_relu(self, shape, dtype, threads):
        ops.dense_backward(self.x, self.w, self.out, self.dy, self.dw, self.db, self.dx, self.n, 1)


class SoftmaxCrossEntropy:
    params = ([32, 512, 4096], ["float32", "float64"])
    param_names = ["batch", "dtype"]

    def setup(self, batch, dtype):
        rng = np.random.default_rng(0)
        self.z = rng.standard_normal((batch, 10)).astype(dtype)
        self.y = rng.integers(0, 10, batch).astype(np.int64)
        self.g = np.empty_like(self.z)

    def time_loss_grad(self, batch, dtype):
        ops.softmax_xent_sparse(self.z, self.y, self.g, len(self.z), 1.0 / len(self.z))


class OptimizerUpdate:
    """One update of a million-parameter arena."""

    params = (["sgd", "momentum", "adam"], ["float32", "float64"], [1, 2])
    param_names = ["optimizer", "dtype", "threads"]

    def setup(self, optimizer, dtype, threads):
        fastnn.set_num_threads(threads)
        rng = np.random.default_rng(0)
        n = 1 << 20
        self.p = rng.standard_normal(n).astype(dtype)
        self.g = rng.standard_normal(n).astype(dtype) * 1e-3
        self.opt = {"sgd": fastnn.optimizers.SGD(0.01),
                    "momentum": fastnn.optimizers.SGD(0.01, momentum=0.9),
                    "adam": fastnn.optimizers.Adam()}[optimizer]
        self.opt.apply(self.g, self.p)

    def time_update(self, optimizer, dtype, threads):
        self.opt.apply(self.g, self.p)
