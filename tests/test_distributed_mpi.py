"""Data-parallel training over MPI: n ranks equal one process with the same global batch.

Each test launches `mpiexec -n 2` (MPICH from PyPI's `mpich` wheel, with mpi4py)
on loopback with tests/mpi/train_worker.py and compares with the same training in
this process.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mpi"))
import train_worker  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "mpi", "train_worker.py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")

try:
    import mpi4py  # noqa: F401
    _missing = None if MPIEXEC else "no mpiexec on PATH or beside the interpreter"
except ImportError:
    _missing = "mpi4py is not installed (pip install 'fastnn[mpi]')"
if _missing:
    print(f"test_distributed_mpi: skipped: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=str(_missing))


def launch(tmp_path, *args, ranks=2, timeout=120):
    out = str(tmp_path / "run")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, WORKER, "--out", out, *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    return r, out


def single_process(optimizer, batch, epochs=3, **kw):
    x, y = train_worker.data()
    m = train_worker.model(optimizer, **kw)
    h = m.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, validation_data=(x[:50], y[:50]))
    return m, h


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch", [32, 37])  # 37: uneven shares and a short last batch
def test_two_ranks_equal_one_process_with_the_global_batch(tmp_path, optimizer, batch):
    r, out = launch(tmp_path, "--optimizer", optimizer, "--batch", str(batch))
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.load(open(out + ".json"))
    assert got["size"] == 2 and got["diff"] == 0.0  # weights identical on both ranks
    m, h = single_process(optimizer, batch)
    np.testing.assert_allclose(np.load(out + ".npy"), m.param_arena, rtol=1e-10, atol=1e-12)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got["history"][key], h.history[key], rtol=1e-10, err_msg=key)


def test_batch_norm_and_dropout_stay_in_sync(tmp_path):
    r, out = launch(tmp_path, "--batch-norm", "--dropout", "0.2")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.load(open(out + ".json"))
    assert got["diff"] == 0.0
    assert np.isfinite(got["history"]["loss"]).all()


def test_rank_local_metrics_give_every_rank_the_same_logs(tmp_path):
    # An AUC accumulates over each rank's own rows; ReduceLROnPlateau on it halves the
    # rate after every epoch but the first (min_delta=1): rank 0's logs are broadcast,
    # so all ranks agree.
    r, out = launch(tmp_path, "--auc", "--epochs", "3")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.load(open(out + ".json"))
    assert got["same_logs"] and got["diff"] == 0.0
    # (first epoch: the baseline; then a cut per epoch, logged from the epoch after)
    np.testing.assert_allclose(got["history"]["learning_rate"], [0.01, 0.01, 0.005])


def test_early_stopping_on_rank_0_stops_every_rank(tmp_path):
    r, out = launch(tmp_path, "--early-stop", "--epochs", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.load(open(out + ".json"))
    assert got["epochs_by_rank"] == [2, 2]


def test_a_failing_rank_aborts_the_job_instead_of_hanging(tmp_path):
    r, _ = launch(tmp_path, "--fail-rank", "1", timeout=60)
    assert r.returncode != 0
    assert "rank 1 of 2 failed" in r.stderr and "injected failure" in r.stderr


def test_strategy_argument_is_checked():
    x, y = train_worker.data()
    m = train_worker.model("sgd")
    with pytest.raises(TypeError, match="strategy"):
        m.fit(x, y, strategy="mpi", verbose=0)
