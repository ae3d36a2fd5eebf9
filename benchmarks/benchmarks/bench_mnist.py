"""One MNIST epoch of the demo network (784-256-256-10, Adam, batch 128).

The `data` parameter says which MNIST was timed: "mnist-60k" is the real training set
(60000 images) read from $FASTNN_DATA/mnist or fastnn's cache folder, and is skipped
(n/a on the dashboard) when absent; "sample-6k" is the 6000-image sample bundled with
fastnn (fastnn.datasets.load_mnist_sample), always run.
"""
import time

import fastnn

from .common import MNIST_BATCH, MNIST_SIZES, MNIST_SOURCES, mlp, mnist_data


class MnistEpoch:
    """One epoch of fit over the MNIST training images."""

    params = (list(MNIST_SOURCES), ["float32", "float64"], [1, 2])
    param_names = ["data", "dtype", "threads"]
    timeout = 600
    # An epoch of the full set takes about a second: a few samples suffice.
    number = 1
    repeat = (2, 5, 30.0)

    def setup(self, data, dtype, threads):
        loaded = mnist_data(data, dtype)
        if loaded is None:
            # asv reports a NotImplementedError from setup as "skipped", not as a failure.
            raise NotImplementedError("full MNIST not found: set FASTNN_DATA to a folder holding mnist/")
        fastnn.set_num_threads(threads)
        (self.X, self.y), (self.Xt, self.yt) = loaded
        self.model = mlp(MNIST_SIZES, dtype)
        n = 4 * MNIST_BATCH
        self.model.fit(self.X[:n], self.y[:n], batch_size=MNIST_BATCH, verbose=0)

    def time_epoch(self, data, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=MNIST_BATCH, verbose=0)

    def peakmem_epoch(self, data, dtype, threads):
        self.model.fit(self.X, self.y, epochs=1, batch_size=MNIST_BATCH, verbose=0)

    def track_samples_per_second(self, data, dtype, threads):
        t = time.perf_counter()
        self.model.fit(self.X, self.y, epochs=1, batch_size=MNIST_BATCH, verbose=0)
        return len(self.X) / (time.perf_counter() - t)

    track_samples_per_second.unit = "samples/s"

    def track_test_accuracy(self, data, dtype, threads):
        # One epoch from seed 0, then the test set: a speed-up that broke training shows here.
        model = mlp(MNIST_SIZES, dtype)
        model.fit(self.X, self.y, epochs=1, batch_size=MNIST_BATCH, verbose=0)
        return model.evaluate(self.Xt, self.yt)["accuracy"]

    track_test_accuracy.unit = "accuracy"
