"""Synchronous data-parallel training over MPI (mpi4py, an optional extra).

Every rank runs the same script on the same data (an array, or an np.memmap of
one file) with the same model seed::

    mpiexec -n 4 python train.py          # or mpirun -n 4 ...

    strategy = fastnn.distributed.MPIStrategy()
    model.fit(x, y, batch_size=256, strategy=strategy)   # 256 rows per step in all

All ranks shuffle identically, so they agree on each global batch; rank r takes
its contiguous share of the batch's rows, computes the gradients of its share,
and one in-place ``Allreduce`` of the flat gradient arena (each rank's gradient
scaled by its share of the rows, so the sum is the mean over the global batch)
gives every rank the gradient that one process with the whole batch would have
computed. Every rank then applies the same optimizer step, so the weights stay
identical on all ranks: training with n ranks equals one process with the same
global batch size, to round-off (the summation order differs).

What else crosses ranks, per step: the batch's loss sum, correct count and row
count (one 3-number allreduce, so the loss and accuracy in the logs are global), and,
for models with non-trainable state (BatchNormalization's moving statistics), the
average of that state (one more small allreduce). Within a step a
BatchNormalization layer normalizes with the statistics of its rank's rows (as
PyTorch's DistributedDataParallel does without SyncBatchNorm), so with batch
norm n ranks are not bit-for-bit one process. Dropout and noise layers draw
different masks on each rank (their keys are offset by the rank).

Other compiled metrics (AUC, precision, ...) accumulate over each rank's own rows;
at the end of each epoch rank 0's logs are broadcast, so every rank's callbacks see
the same figures (those metrics then describe rank 0's share of the data).

Only rank 0 prints progress and runs the callbacks that write files
(ModelCheckpoint, CSVLogger, TensorBoard); every rank runs the others on the
same global logs, and rank 0's `stop_training` is broadcast at the end of each
epoch, so an EarlyStopping on rank 0 stops every rank together. A rank that
raises aborts the whole job (``MPI.Comm.Abort``) after printing the error,
instead of leaving the others waiting in a collective forever.

Communication per step: the parameter count times the dtype size (for
784-256-256-10 in float32, 1.07 MB), plus 24 bytes. It pays off when a step's
compute on one rank takes much longer than moving that buffer; see the README's
"Scaling out" section for measured figures.
"""
from __future__ import annotations

import sys
import time
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

__all__ = ["MPIStrategy"]

# Offsets the random keys of Dropout/GaussianNoise on each rank (an odd 64-bit
# constant, so rank r's key differs from rank 0's for every r < 2**64).
_KEY_STRIDE = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:  # the extra is optional
        raise ImportError("fastnn.distributed needs mpi4py and an MPI runtime: "
                          "pip install 'fastnn[mpi]' (mpi4py with MPICH from PyPI)") from exc
    return MPI


class MPIStrategy:
    """Data-parallel training across the ranks of an MPI communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator (default ``MPI.COMM_WORLD``).
    abort_on_error : bool
        When a rank raises inside fit, print the error and abort every rank of
        the communicator (the others would otherwise wait forever in the next
        collective). Default True.

    Attributes
    ----------
    rank, size : int
        This process's rank and the number of ranks.
    comm_seconds : float
        Wall time spent in the gradient allreduce so far (for measuring what
        communication costs; reset it freely).
    """

    def __init__(self, comm: Any = None, abort_on_error: bool = True):
        self._mpi = _import_mpi()
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        if not isinstance(self.comm, self._mpi.Comm):
            raise TypeError(f"comm: expected an mpi4py.MPI.Comm, got {type(comm).__name__}")
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.abort_on_error = bool(abort_on_error)
        self._sums = np.zeros(3, np.float64)
        self.comm_seconds = 0.0
        self._keyed: set[int] = set()  # layers whose random key this rank has offset

    @property
    def is_chief(self) -> bool:
        """True on rank 0, the rank that prints and writes files."""
        return self.rank == 0

    def local_rows(self, start: int, stop: int) -> tuple[int, int]:
        """This rank's contiguous share [lo, hi) of the global batch rows [start, stop)."""
        n = stop - start
        return start + n * self.rank // self.size, start + n * (self.rank + 1) // self.size

    def reduce_gradients(self, grad_arena: np.ndarray, n_local: int, n_global: int) -> None:
        """Sum over ranks of each rank's mean gradient weighted by its share of the
        rows: the mean gradient of the global batch, in place, on every rank."""
        if n_local != n_global:
            np.multiply(grad_arena, n_local / n_global, out=grad_arena)
        t0 = time.perf_counter()
        self.comm.Allreduce(self._mpi.IN_PLACE, grad_arena, op=self._mpi.SUM)
        self.comm_seconds += time.perf_counter() - t0

    def reduce_batch_sums(self, loss_sum: float, correct: float, seen: int) -> tuple[float, float, int]:
        """Global (loss sum, correct count, rows) of a step from each rank's own."""
        sums = self._sums
        sums[0], sums[1], sums[2] = loss_sum, correct, seen
        self.comm.Allreduce(self._mpi.IN_PLACE, sums, op=self._mpi.SUM)
        return float(sums[0]), float(sums[1]), int(round(sums[2]))

    def average_state(self, state_arena: np.ndarray) -> None:
        """Mean over ranks of the non-trainable state (moving statistics), in place."""
        if state_arena.size:
            self.comm.Allreduce(self._mpi.IN_PLACE, state_arena, op=self._mpi.SUM)
            np.multiply(state_arena, 1.0 / self.size, out=state_arena)

    def broadcast_logs(self, logs: dict) -> dict:
        """Rank 0's epoch logs on every rank (compiled metric objects other than loss and
        accuracy see only their rank's rows: all ranks then act on rank 0's figures)."""
        return self.comm.bcast(logs, root=0)

    def broadcast_stop(self, stop: bool) -> bool:
        """Rank 0's decision to stop training, on every rank."""
        return bool(self.comm.bcast(bool(stop), root=0))

    def start(self, model, n_rows: int) -> None:
        """Before the first step of a fit: check that every rank holds the same number of
        rows, give all ranks rank 0's weights, state and (for an unseeded model) shuffling
        seed, and give each rank its own dropout/noise stream."""
        counts = self.comm.allgather(int(n_rows))
        if len(set(counts)) != 1:
            raise ValueError(f"x: every rank must hold the same rows (the whole dataset: each rank "
                             f"takes its share of every batch), got row counts {counts} by rank")
        self.comm.Bcast(model.param_arena, root=0)
        if model.state_arena.size:
            self.comm.Bcast(model.state_arena, root=0)
        if model.seed is None:  # each rank drew its own shuffling seed: use rank 0's
            seed = self.comm.bcast(int(np.random.SeedSequence().entropy) if self.is_chief else None, root=0)
            model._shuffle_rng = np.random.default_rng(seed)
        from fastnn.layers.dropout import RandomLayer
        for layer in model.layers:
            if id(layer) in self._keyed or not isinstance(layer, RandomLayer):
                continue
            key, counter = layer.random_state()
            if key is not None:
                layer.set_random_state(((key + self.rank * _KEY_STRIDE) & _MASK64, counter))
            self._keyed.add(id(layer))

    def max_weight_difference(self, model) -> float:
        """Largest difference of any parameter between ranks (0.0 when in sync)."""
        arena = np.ascontiguousarray(model.param_arena, np.float64)
        hi, lo = arena.copy(), arena.copy()
        self.comm.Allreduce(self._mpi.IN_PLACE, hi, op=self._mpi.MAX)
        self.comm.Allreduce(self._mpi.IN_PLACE, lo, op=self._mpi.MIN)
        return float(np.max(hi - lo)) if arena.size else 0.0

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Abort every rank when this one raises (see `abort_on_error`)."""
        try:
            yield
        except BaseException as exc:
            if not self.abort_on_error or self.size == 1:
                raise
            sys.stderr.write(f"fastnn.distributed: rank {self.rank} of {self.size} failed "
                             f"({type(exc).__name__}: {exc}); aborting all ranks\n")
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            self.comm.Abort(1)
            raise
