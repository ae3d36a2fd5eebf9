"""End-to-end training throughput and inference latency of the workload MLPs."""
import fastnn

from .common import WORKLOADS, classification_data, mlp


class TrainEpoch:
    """One epoch of fit (shuffle, gather, forward, loss, backward, Adam)."""

    params = (["W1", "W2", "W3"], ["float32", "float64"], [1, 2])
    param_names = ["workload", "dtype", "threads"]
    timeout = 300

    def setup(self, workload, dtype, threads):
        fastnn.set_num_threads(threads)
        sizes, self.batch, n = WORKLOADS[workload]
        self.X, self.y = classification_data(n, sizes[0], sizes[-1], dtype)
        self.model = mlp(sizes, dtype)
        self.model.fit(self.X[: self.batch * 4], self.y[: self.batch * 4], batch_size=self.batch, verbose=0)

    def time_epoch(self, workload, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch, verbose=0)

    def peakmem_epoch(self, workload, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch, verbose=0)

    def track_samples_per_second(self, workload, dtype, threads):
        import time
        t = time.perf_counter()
        self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch, verbose=0)
        return len(self.X) / (time.perf_counter() - t)

    track_samples_per_second.unit = "samples/s"

    def track_train_loss(self, workload, dtype, threads):
        # A speed-up that breaks convergence shows here: 3 epochs from the same seed.
        model = mlp(WORKLOADS[workload][0], dtype)
        h = model.fit(self.X, self.y, epochs=3, batch_size=self.batch, verbose=0)
        return h.history["loss"][-1]

    track_train_loss.unit = "loss"


class Predict:
    """predict latency at batch 1 and throughput at batch 4096."""

    params = (["W2", "W3"], [1, 4096], [1, 2])
    param_names = ["workload", "batch", "threads"]

    def setup(self, workload, batch, threads):
        fastnn.set_num_threads(threads)
        sizes = WORKLOADS[workload][0]
        self.X, _ = classification_data(4096, sizes[0], sizes[-1])
        self.X = self.X[:batch]
        self.model = mlp(sizes)
        self.model.predict(self.X)

    def time_predict(self, workload, batch, threads):
        self.model.predict(self.X, batch_size=batch)

    def peakmem_predict(self, workload, batch, threads):
        self.model.predict(self.X, batch_size=batch)
