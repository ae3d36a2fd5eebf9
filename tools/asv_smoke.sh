#!/usr/bin/env bash
# asv smoke test for CI: run one small parameter set of every benchmark suite once
# (`asv run --quick --python=same`) against the fastnn installed in the current Python,
# and fail when a benchmark errors. Results, HTML and the machine file go to a temporary
# folder, so neither the tree nor ~/.asv-machine.json change. Takes about a minute.
#
#   tools/asv_smoke.sh [extra asv run arguments, e.g. --show-stderr]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# From outside the tree: run from the repository root, `import fastnn` would find the unbuilt sources.
(cd "$work" && python -c "import asv, fastnn") || { echo "asv_smoke: needs fastnn and asv in this Python (pip install '.[bench]')" >&2; exit 1; }

# A copy of benchmarks/asv.conf.json that writes results and HTML under $work.
python - "$root/benchmarks/asv.conf.json" "$work/asv.conf.json" "$root" "$work" <<'PY'
import json, sys
from asv.util import load_json  # the config has // comments
src, dst, root, work = sys.argv[1:]
conf = load_json(src, js_comments=True)
conf.update(repo=root, benchmark_dir=f"{root}/benchmarks/benchmarks", env_dir=f"{work}/env",
            results_dir=f"{work}/results", html_dir=f"{work}/html")
with open(dst, "w") as f:
    json.dump(conf, f, indent=2)
PY

# One quick parameter set per suite (asv matches each regex against "name(params)").
benches=(
    --bench "bench_kernels\.Dense\..*\('b32-784x128', 'float32', 1\)"
    --bench "bench_kernels\.SoftmaxCrossEntropy\..*\(32, 'float32'\)"
    --bench "bench_kernels\.OptimizerUpdate\..*\('adam', 'float32', 1\)"
    --bench "bench_optimizers\.OptimizerUpdate\.time_update\('adam', 'float32', 'wd\+clipnorm\+ema', 1\)"
    --bench "bench_optimizers\.OptimizerStepOverhead\.time_step\('sgd'\)"
    --bench "bench_training\.TrainEpoch\.(time_epoch|track_train_loss)\('W1', 'float32', 1\)"
    --bench "bench_training\.Predict\.time_predict\('W2', 1, 1\)"
    --bench "bench_toolkit\.TabularLayerKernels\..*\('float32', 1\)"
    --bench "bench_overhead\.TinyCalls\..*\((1, 16, 'float32', 1|8, 64, 'float64', 2)\)"
    --bench "bench_mnist\.MnistEpoch\..*\('sample-6k', 'float32', 1\)"
    --bench "bench_ensemble\.EnsembleFit\.(time_epoch|track_train_loss)\('64-64-10', 8, 32, 1\)"
)

export HOME="$work"  # asv keeps its machine file in ~/.asv-machine.json
cd "$root/benchmarks"
asv --config "$work/asv.conf.json" machine --yes --machine asv-smoke > /dev/null
set +e
asv --config "$work/asv.conf.json" run --python=same --quick --machine asv-smoke "${benches[@]}" "$@" \
    > "$work/run.log" 2>&1
status=$?
set -e
# asv 0.6 exits 2 when a benchmark failed (it has no --strict); a "failed" cell in the report
# is caught too, in case an asv version reports success anyway. A benchmark that skips
# itself (NotImplementedError in setup: n/a) is not a failure.
if [ "$status" -ne 0 ] || grep -Eq '(^|[[:space:]])failed([[:space:]]|$)' "$work/run.log"; then
    cat "$work/run.log"
    echo "asv_smoke: FAILED (asv exit status $status); rerun with --show-stderr for tracebacks" >&2
    exit 1
fi
# The full tables (mostly n/a cells outside the subset) only on failure; the summary always.
grep -E '^\[ *[0-9.]+%\] ··· [^ =-]' "$work/run.log" | grep -Ev '···[[:space:]]+[=-]' || true
ran=$(grep -Ec '···.*[[:space:]]ok$' "$work/run.log" || true)
[ "$ran" -gt 0 ] || { cat "$work/run.log"; echo "asv_smoke: FAILED (no benchmark matched)" >&2; exit 1; }
# A suite added without a line in `benches` above is imported (discovery) but never run: say so.
for f in "$root"/benchmarks/benchmarks/bench_*.py; do
    suite=$(basename "$f" .py)
    # asv shortens long names from the left ("...kit.TabularLayerKernels.time_x"): match class names.
    classes=$(sed -nE 's/^class ([A-Za-z0-9_]+).*/\1/p' "$f" | paste -sd'|' -)
    [ -n "$classes" ] && grep -Eq "··· .*($classes)\.[a-z]" "$work/run.log" \
        || echo "asv_smoke: warning: nothing of $suite ran; add it to tools/asv_smoke.sh" >&2
done
echo "asv_smoke: OK ($ran benchmarks ran)"
