"""Per-call overhead on tiny inputs: batches of 1-8 rows through a width 16-64 network.

Here the work per call is a few thousand flops, so what is timed is the Python
orchestration, validation, thread hand-offs and kernel-call costs around it:
train_on_batch, predict, and one fit epoch of tiny batches (TINY_SAMPLES rows).
"""
import time

import fastnn

from .common import TINY_SAMPLES, tiny_data, tiny_mlp


class TinyCalls:
    """One call of train_on_batch / predict, and one epoch of fit, on tiny inputs."""

    params = ([1, 8], [16, 64], ["float32", "float64"], [1, 2])
    param_names = ["batch", "width", "dtype", "threads"]

    def setup(self, batch, width, dtype, threads):
        fastnn.set_num_threads(threads)
        self.X, self.y = tiny_data(width, dtype)
        self.xb, self.yb = self.X[:batch], self.y[:batch]
        self.model = tiny_mlp(width, dtype)
        # First calls build buffers for this batch size; time the steady state.
        self.model.fit(self.X[:4 * batch], self.y[:4 * batch], batch_size=batch, verbose=0)
        self.model.train_on_batch(self.xb, self.yb)
        self.model.predict(self.xb, batch_size=batch)

    def time_train_on_batch(self, batch, width, dtype, threads):
        self.model.train_on_batch(self.xb, self.yb)

    def time_predict(self, batch, width, dtype, threads):
        self.model.predict(self.xb, batch_size=batch)

    def time_fit_epoch(self, batch, width, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=batch, verbose=0)

    def peakmem_fit_epoch(self, batch, width, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=batch, verbose=0)

    def track_us_per_fit_step(self, batch, width, dtype, threads):
        # Best of 5 epochs: the per-step cost of fit with the noise of a shared machine cut down.
        steps = -(-TINY_SAMPLES // batch)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            self.model.fit(self.X, self.y, epochs=1, batch_size=batch, verbose=0)
            best = min(best, time.perf_counter() - t)
        return best / steps * 1e6

    track_us_per_fit_step.unit = "us/step"

    def track_train_loss(self, batch, width, dtype, threads):
        # The small-batch fast paths are where a broken step hides: 3 epochs from the same seed.
        model = tiny_mlp(width, dtype)
        h = model.fit(self.X, self.y, epochs=3, batch_size=batch, verbose=0)
        return h.history["loss"][-1]

    track_train_loss.unit = "loss"
