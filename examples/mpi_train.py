"""Data-parallel training on MNIST over MPI: every rank computes the gradients of its
share of each batch, one allreduce averages them, every rank takes the same step.

    mpiexec -n 2 python examples/mpi_train.py                  # 2 ranks on this machine
    mpiexec -n 8 -hosts a,b python examples/mpi_train.py       # MPICH's hydra across hosts

MPICH and mpi4py come from PyPI (`pip install "fastnn[mpi]"`). With 2 ranks on a
2-core machine give each rank one thread (the default below). Real MNIST is read
from --data or $FASTNN_DATA/mnist; without it the bundled sample is used.
"""
import argparse
import time

import fastnn
from fastnn import layers
from fastnn.distributed import MPIStrategy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="directory of the MNIST files (default: $FASTNN_DATA/mnist)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128, help="global batch: rows per step over all ranks")
    ap.add_argument("--threads", type=int, default=1, help="fastnn threads per rank")
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    strategy = MPIStrategy()
    try:
        (x, y), (xt, yt) = fastnn.datasets.load_mnist(args.data, download=False)
    except (FileNotFoundError, ValueError):
        (x, y), (xt, yt) = fastnn.datasets.load_mnist_sample()
    model = fastnn.Sequential([layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
                               layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    with strategy.guard():
        model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, strategy=strategy,
                  verbose=1 if strategy.is_chief else 0)
    seconds = time.perf_counter() - t0
    acc = model.evaluate(xt, yt)["accuracy"]
    drift = strategy.max_weight_difference(model)
    if strategy.is_chief:
        print(f"{strategy.size} ranks x {args.threads} thread(s): {args.epochs * len(x) / seconds:,.0f} samples/s, "
              f"test accuracy {acc:.4f}, allreduce {strategy.comm_seconds / seconds:.1%} of the time, "
              f"weights identical on all ranks: {drift == 0.0}")


if __name__ == "__main__":
    main()
