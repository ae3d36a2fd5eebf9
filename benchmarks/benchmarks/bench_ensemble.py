"""DenseEnsemble: N bagged MLPs trained in one pass, against N sequential Sequential fits.

`EnsembleFit.time_epoch` and `SequentialBaseline.time_epoch` run the same work (the same
rows, members, bootstrap counts as sample weights, Adam) with the same parameters, so
``asv compare`` or the two rows side by side give the speed-up; `benchmarks/compare_ensemble.py`
prints the ratio from alternating windows in one process.
"""
import functools

import numpy as np

import fastnn
from fastnn import layers, ops, optimizers
from fastnn.ensemble import DenseEnsemble

N_SAMPLES = 4096
SHAPES = {"64-64-10": (64, 64, 10), "784-64-10": (784, 64, 10)}


@functools.cache
def ensemble_data(n_in, n_classes, dtype="float32", n=N_SAMPLES, seed=0):
    """Fixed-seed learnable data: labels from a random linear map of the inputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    y = np.argmax(X @ rng.normal(size=(n_in, n_classes)), axis=1).astype(np.int64)
    return X, y


def make_ensemble(sizes, members, dtype="float32"):
    return DenseEnsemble(n_members=members, hidden_layer_sizes=sizes[1:-1], activation="relu",
                         optimizer="adam", learning_rate=1e-3, bootstrap=True, oob_score=False,
                         seed=0, dtype=dtype)


class EnsembleFit:
    """One epoch of DenseEnsemble.fit over 4096 rows (one step per batch for all members)."""

    params = (list(SHAPES), [8], [32, 128], [1, 2])
    param_names = ["shape", "members", "batch", "threads"]
    timeout = 300

    def setup(self, shape, members, batch, threads):
        fastnn.set_num_threads(threads)
        self.sizes = SHAPES[shape]
        self.X, self.y = ensemble_data(self.sizes[0], self.sizes[-1])
        self.ens = make_ensemble(self.sizes, members)
        self.ens.fit(self.X[:512], self.y[:512], batch_size=batch)

    def time_epoch(self, shape, members, batch, threads):
        self.ens.fit(self.X, self.y, epochs=1, batch_size=batch)

    def peakmem_epoch(self, shape, members, batch, threads):
        self.ens.fit(self.X, self.y, epochs=1, batch_size=batch)

    def track_train_loss(self, shape, members, batch, threads):
        # A speed-up that breaks convergence shows here: 3 epochs from the same seeds.
        ens = make_ensemble(self.sizes, members).fit(self.X, self.y, epochs=3, batch_size=batch)
        return ens.history_["loss"][-1]

    track_train_loss.unit = "loss"


class SequentialBaseline:
    """The same epoch as N separate Sequential fits, each with bootstrap counts as sample_weight."""

    params = EnsembleFit.params
    param_names = EnsembleFit.param_names
    timeout = 600

    def setup(self, shape, members, batch, threads):
        fastnn.set_num_threads(threads)
        sizes = SHAPES[shape]
        self.X, self.y = ensemble_data(sizes[0], sizes[-1])
        # Bootstrap counts drawn as the ensemble draws them (the same distribution of work).
        rng = np.random.default_rng(0)
        self.weights = [rng.multinomial(N_SAMPLES, np.full(N_SAMPLES, 1.0 / N_SAMPLES)).astype("float32")
                        for _ in range(members)]
        self.models = []
        for k in range(members):
            m = fastnn.Sequential([layers.Dense(h, activation="relu") for h in sizes[1:-1]]
                                  + [layers.Dense(sizes[-1])], seed=k)
            m.compile(optimizer=optimizers.Adam(1e-3), loss="softmax_cross_entropy")
            m.fit(self.X[:512], self.y[:512], batch_size=batch, verbose=0)
            self.models.append(m)

    def time_epoch(self, shape, members, batch, threads):
        for m, w in zip(self.models, self.weights):
            m.fit(self.X, self.y, epochs=1, batch_size=batch, verbose=0, sample_weight=w)


class EnsembleStep:
    """One training step of all members (the kernel call plus the one optimizer call):
    the per-step cost that small batches are bound by."""

    params = (list(SHAPES), [1, 8], [32, 128], ["float32", "float64"])
    param_names = ["shape", "members", "batch", "dtype"]

    def setup(self, shape, members, batch, dtype):
        fastnn.set_num_threads(1)
        sizes = SHAPES[shape]
        X, y = ensemble_data(sizes[0], sizes[-1], dtype)
        e = make_ensemble(sizes, members, dtype).fit(X[:batch], y[:batch], batch_size=batch)
        self.e, self.n = e, batch
        self.xb, self.yb = np.ascontiguousarray(X[:batch]), np.ascontiguousarray(y[:batch])
        self.wb = np.ones((batch, members), dtype)
        self.loss = np.zeros(members)

    def time_step(self, shape, members, batch, dtype):
        e = self.e
        ops.ensemble_step(self.xb, self.n, self.yb, self.wb, e.params_, e.grads_, e._dims_,
                          e.n_members, 1, 0.0, 0, 1.0 / self.n, e._capacity, e._acts, None,
                          e._deltas, self.loss)
        e._optimizer._apply_flat([e.grads_], [e.params_])


class EnsemblePredict:
    """member_predict of 4096 rows (every member's probabilities) and predict with a vote."""

    params = (list(SHAPES), [8], [1, 2])
    param_names = ["shape", "members", "threads"]

    def setup(self, shape, members, threads):
        fastnn.set_num_threads(threads)
        sizes = SHAPES[shape]
        self.X, y = ensemble_data(sizes[0], sizes[-1])
        self.ens = make_ensemble(sizes, members).fit(self.X[:512], y[:512])

    def time_member_predict(self, shape, members, threads):
        self.ens.member_predict(self.X)

    def time_predict_vote(self, shape, members, threads):
        self.ens.predict(self.X, combine="vote")
