"""Run under mpiexec by tests/test_distributed_mpi.py: trains one model with
MPIStrategy and writes rank 0's weights, losses and the ranks' agreement."""
import argparse
import json

import numpy as np

import fastnn
from fastnn import callbacks, layers
from fastnn.distributed import MPIStrategy


def data(n=192, features=12, classes=4):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, features))
    y = (x[:, :classes] + 0.3 * rng.standard_normal((n, classes))).argmax(axis=1)
    return x, y


def model(optimizer, batch_norm=False, dropout=0.0, auc=False):
    stack = [layers.Dense(16, activation="tanh")]
    if batch_norm:
        stack.append(layers.BatchNormalization())
    if dropout:
        stack.append(layers.Dropout(dropout))
    m = fastnn.Sequential(stack + [layers.Dense(4)], seed=3, dtype="float64")
    opt = fastnn.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd" else fastnn.optimizers.Adam(0.01)
    metrics = ["accuracy"] + ([fastnn.metrics.AUC(multi_label=True)] if auc else [])
    m.compile(optimizer=opt, loss="softmax_cross_entropy", metrics=metrics)
    return m


class FailAt(callbacks.Callback):
    def __init__(self, rank, strategy, step):
        super().__init__()
        self.rank, self.strategy, self.step = rank, strategy, step

    def on_train_batch_end(self, batch, logs=None):
        if self.strategy.rank == self.rank and batch == self.step:
            raise RuntimeError("injected failure")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-norm", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--fail-rank", type=int, default=-1)
    ap.add_argument("--early-stop", action="store_true")
    ap.add_argument("--auc", action="store_true", help="an AUC metric and ReduceLROnPlateau on it")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fastnn.set_num_threads(1)
    strategy = MPIStrategy()
    x, y = data()
    m = model(a.optimizer, a.batch_norm, a.dropout, a.auc)
    cbs = []
    if a.auc:  # acts on a rank-local metric: every rank must take the same decision
        cbs.append(callbacks.ReduceLROnPlateau(monitor="auc", mode="max", factor=0.5, patience=0,
                                               min_delta=1.0))
    if a.fail_rank >= 0:
        cbs.append(FailAt(a.fail_rank, strategy, 2))
    if a.early_stop:  # stops after the 2nd epoch: loss never improves by 10
        cbs.append(callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1))
    hist = m.fit(x, y, epochs=a.epochs, batch_size=a.batch, verbose=0, callbacks=cbs,
                 strategy=strategy, validation_data=(x[:50], y[:50]))
    diff = strategy.max_weight_difference(m)
    epochs = strategy.comm.allgather(len(hist.history["loss"]))
    same_logs = all(h == hist.history for h in strategy.comm.allgather(hist.history))
    if strategy.is_chief:
        np.save(a.out + ".npy", m.param_arena)
        with open(a.out + ".json", "w") as f:
            json.dump({"history": hist.history, "diff": diff, "epochs_by_rank": epochs, "same_logs": same_logs,
                       "size": strategy.size}, f)


if __name__ == "__main__":
    main()
