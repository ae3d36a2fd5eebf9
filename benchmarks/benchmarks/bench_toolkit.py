"""The toolkit of issue 4: the tabular MLP end to end (with and without Dropout and
BatchNormalization), and the kernels of its layers and loss at its shapes."""
import time

import numpy as np

import fastnn
from fastnn import losses, ops

from .common import TABULAR_BATCH, TABULAR_WIDTH, tabular_data, tabular_mlp

TABULAR_SAMPLES = 32768


class TabularTrainEpoch:
    """One epoch of fit of the tabular MLP (batch 4096); 'plain' drops Dropout and BN."""

    params = (["full", "plain"], ["float32", "float64"], [1, 2])
    param_names = ["stack", "dtype", "threads"]
    timeout = 300

    def setup(self, stack, dtype, threads):
        fastnn.set_num_threads(threads)
        self.X, self.Y = tabular_data(TABULAR_SAMPLES)
        self.model = tabular_mlp(self.X, plain=stack == "plain", dtype=dtype)
        self.model.fit(self.X[:2 * TABULAR_BATCH], self.Y[:2 * TABULAR_BATCH],
                       batch_size=TABULAR_BATCH, verbose=0)

    def time_epoch(self, stack, dtype, threads):
        self.model.fit(self.X, self.Y, epochs=1, batch_size=TABULAR_BATCH, verbose=0)

    def peakmem_epoch(self, stack, dtype, threads):
        self.model.fit(self.X, self.Y, epochs=1, batch_size=TABULAR_BATCH, verbose=0)

    def track_samples_per_second(self, stack, dtype, threads):
        t = time.perf_counter()
        self.model.fit(self.X, self.Y, epochs=1, batch_size=TABULAR_BATCH, verbose=0)
        return len(self.X) / (time.perf_counter() - t)

    track_samples_per_second.unit = "samples/s"

    def track_train_loss(self, stack, dtype, threads):
        # 5 epochs from the same seed: a fast but wrong kernel shows up here.
        model = tabular_mlp(self.X, plain=stack == "plain", dtype=dtype)
        h = model.fit(self.X, self.Y, epochs=5, batch_size=TABULAR_BATCH, verbose=0)
        return h.history["loss"][-1]

    track_train_loss.unit = "loss"


class TabularLayerKernels:
    """Dropout, BatchNormalization, swish and BCE-from-logits on a (4096, 160) batch."""

    params = (["float32", "float64"], [1, 2])
    param_names = ["dtype", "threads"]

    def setup(self, dtype, threads):
        fastnn.set_num_threads(threads)
        rng = np.random.default_rng(0)
        n, d = TABULAR_BATCH, TABULAR_WIDTH
        self.n = n
        self.x = rng.standard_normal((n, d)).astype(dtype)
        self.out = np.empty_like(self.x)
        self.dy = rng.standard_normal((n, d)).astype(dtype)
        self.dbuf = np.empty_like(self.dy)
        self.gamma, self.beta = np.ones(d, dtype), np.zeros(d, dtype)
        self.mmean, self.mvar = np.zeros(d, dtype), np.ones(d, dtype)
        self.dgamma, self.dbeta = np.empty(d, dtype), np.empty(d, dtype)
        self.acc, self.work = np.empty((2, d)), np.empty((ops.BN_WORK_ROWS, d), dtype)
        self.logits = rng.standard_normal((n, 5)).astype(dtype)
        self.targets = (rng.random((n, 5)) > 0.5).astype(dtype)
        self.grad = np.empty_like(self.logits)
        self.bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.01)
        self.swish = fastnn.activations.get_code("silu")

    def time_dropout_forward(self, dtype, threads):
        ops.dropout_forward(self.x, self.out, self.n, 0.2, 1, 0)

    # The backward kernels work in place: each timing copies a fresh gradient in first
    # (one memory pass), so repeated runs do not drift towards inf or denormals.
    def time_dropout_backward(self, dtype, threads):
        self.dbuf[...] = self.dy
        ops.dropout_backward(self.dbuf, self.n, 0.2, 1, 0)

    def time_batch_norm_forward(self, dtype, threads):
        ops.batch_norm_forward(self.x, self.gamma, self.beta, self.mmean, self.mvar, self.out,
                               self.acc, self.work, self.n, 0.99, 1e-3, True)

    def time_batch_norm_backward(self, dtype, threads):
        self.dbuf[...] = self.dy
        ops.batch_norm_backward(self.x, self.dbuf, self.dgamma, self.dbeta, self.acc, self.work,
                                self.n, True, True)

    def time_swish_forward(self, dtype, threads):
        ops.activation_forward(self.x, self.out, self.n, self.swish)

    def time_swish_backward(self, dtype, threads):
        self.dbuf[...] = self.dy
        ops.activation_backward(self.x, self.out, self.dbuf, self.n, self.swish)

    def time_bce_from_logits(self, dtype, threads):
        self.bce.value_and_grad(self.logits, self.targets, self.grad, self.n)
