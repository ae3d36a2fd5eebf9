"""Determinism: the same seed and thread count give bit-identical results, run to run.

Two fresh processes train the same model (Dropout, GaussianNoise, BatchNormalization,
shuffled batches, Adam) and their weights, per-epoch losses and predictions must agree
byte for byte. What the thread count changes: fastnn's element-wise passes compute each
element in one fixed order whatever the thread count, but a GEMM that is split across
threads calls a single-threaded OpenBLAS on sub-blocks, and OpenBLAS picks its kernel by
sub-block size, so GEMM outputs (and everything downstream) agree across thread counts
to round-off only (see thread_checks.py). Random numbers (initialization, shuffling,
dropout masks, noise) come from seeded generators and counter-based streams and do not
depend on the thread count. For the same reason, predict with another batch_size rounds
differently (its chunks are GEMMs of other sizes).
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from thread_checks import same_bits

import fastnn
from fastnn import layers

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fastnn
    from fastnn import layers

    threads, out = int(sys.argv[1]), sys.argv[2]
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((640, 64)).astype(np.float32)
    y = rng.integers(0, 5, 640)
    model = fastnn.Sequential([layers.Dense(256, activation="relu"), layers.BatchNormalization(),
                               layers.Dropout(0.3), layers.GaussianNoise(0.1),
                               layers.Dense(128, activation="relu"), layers.Dropout(0.2),
                               layers.Dense(5)], seed=11)
    model.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=128, shuffle=True, validation_split=0.2, verbose=0)
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays["loss"] = np.array(history.history["loss"])
    arrays["val_loss"] = np.array(history.history["val_loss"])
    arrays["pred"] = model.predict(x)
    np.savez(out, **arrays)
""")


def run(tmp_path, threads, tag):
    script = tmp_path / "train.py"
    if not script.exists():
        script.write_text(SCRIPT)
    out = tmp_path / f"{tag}.npz"
    return subprocess.Popen([sys.executable, str(script), str(threads), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def results(tmp_path, runs):
    procs = [run(tmp_path, threads, tag) for threads, tag in runs]
    loaded = []
    for proc, out in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stdout + stderr
        with np.load(out) as f:
            loaded.append({k: f[k] for k in f.files})
    return loaded


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # Four fresh processes, two per thread count, run side by side (so the repeated
    # runs also see different scheduling).
    return results(tmp_path_factory.mktemp("determinism"),
                   [(1, "one_a"), (1, "one_b"), (2, "two_a"), (2, "two_b")])


@pytest.mark.parametrize("pair", [("one_a", "one_b"), ("two_a", "two_b")])
def test_two_processes_agree_bit_for_bit(runs, pair):
    by_tag = dict(zip(["one_a", "one_b", "two_a", "two_b"], runs))
    a, b = by_tag[pair[0]], by_tag[pair[1]]
    assert a.keys() == b.keys()
    for k in a:
        assert same_bits(a[k], b[k]), f"{k} differs between two runs with the same seed and threads"
    assert np.all(np.isfinite(a["loss"])) and a["loss"][-1] < a["loss"][0]  # it trained


def test_one_and_two_threads_agree_to_round_off(runs):
    one, two = runs[0], runs[2]
    # The GEMMs of this model are split across 2 threads (128 x 256 x 64 multiply-adds
    # and more), so the runs differ by round-off, carried through 12 Adam steps:
    # measured ~7e-7 of the largest magnitude (a few float32 ulps), bounded at 2e-5.
    for k in one:
        scale = max(float(np.max(np.abs(one[k]))), 1e-30)
        err = float(np.max(np.abs(one[k].astype(np.float64) - two[k])))
        assert err <= 2e-5 * scale, f"{k}: 1 vs 2 threads differ by {err:.3g} (scale {scale:.3g})"
    assert np.allclose(one["loss"], two["loss"], rtol=1e-6)


def test_same_seed_same_process_is_bit_identical():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((200, 12)).astype(np.float32), rng.integers(0, 3, 200)

    def train():
        model = fastnn.Sequential([layers.Dense(32, activation="relu"), layers.BatchNormalization(),
                                   layers.Dropout(0.5), layers.Dense(3)], seed=5)
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
        h = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return model.get_weights() + [np.array(h.history["loss"]), model.predict(x)]

    a, b = train(), train()
    assert all(same_bits(u, v) for u, v in zip(a, b))


def test_another_seed_changes_the_results():
    # Guards the tests above against a seed that is ignored.
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((64, 12)).astype(np.float32), rng.integers(0, 3, 64)
    outs = []
    for seed in (1, 2):
        model = fastnn.Sequential([layers.Dense(8), layers.Dropout(0.5), layers.Dense(3)], seed=seed)
        model.compile(optimizer="adam", loss="softmax_cross_entropy")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        outs.append(model.predict(x))
    assert not same_bits(*outs)
