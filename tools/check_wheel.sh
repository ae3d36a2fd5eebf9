#!/usr/bin/env bash
# Build a wheel with `python -m build --wheel` (isolated build), install it into a fresh venv
# and train a small network from outside the source tree: the wheel must carry everything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q build
"$work/build-env/bin/python" -m build --wheel --outdir "$work/dist" "$root" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
python3 -m venv "$work/run-env"
"$work/run-env/bin/pip" install -q "$work"/dist/fastnn-*.whl
cd "$work"
"$work/run-env/bin/python" - <<'PY'
import numpy as np, fastnn
from fastnn import layers
assert "site-packages" in fastnn.__file__, fastnn.__file__
(X, y), (Xt, yt) = fastnn.datasets.load_mnist_sample()
m = fastnn.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)], seed=0)
m.compile(optimizer="adam", loss="softmax_cross_entropy", metrics=["accuracy"])
m.fit(X, y, epochs=2, batch_size=64, verbose=0)
acc = m.evaluate(Xt, yt)["accuracy"]
print(f"wheel OK: {fastnn.__file__}, sample test accuracy {acc:.3f}")
assert acc > 0.8, acc
PY
ls "$work"/dist
