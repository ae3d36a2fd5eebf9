#!/usr/bin/env bash
# Memory-error checks of fastnn's compiled kernels: AddressSanitizer + UBSan, then valgrind.
#
# Usage:
#   tools/sanitize.sh [asan|valgrind|all]        (default: all)
#
# Environment:
#   PYTHON           interpreter with fastnn's build and test dependencies (default /work/venv/bin/python,
#                    else python3). Its own fastnn install is neither rebuilt nor touched.
#   SAN_DIR          scratch directory for the sanitized copy of the tree (default /tmp/fastnn-sanitize)
#   SAN_TESTS        test files run under ASan (default: kernels, model API, sparse inputs, saving,
#                    losses, normalization layers, optimizers)
#   SAN_PYTEST_ARGS  extra pytest arguments (e.g. "-k dense")
#   SAN_REUSE=1      keep the sanitized extensions already built in $SAN_DIR (refresh only the
#                    Python files and tests from the tree): for re-running tests after Python-only
#                    changes; rebuild (the default) after any change under src_c/
#
# What it does:
#   asan      copies the source tree to $SAN_DIR/src (no build products), builds the extensions
#             in place there with -fsanitize=address,undefined (FASTNN_DEBUG-free: the -O3 build
#             that ships, plus -g -fno-omit-frame-pointer), and runs the test subset with that copy
#             first on PYTHONPATH. CPython itself is not instrumented, so the gcc libasan is
#             LD_PRELOADed; PYTHONMALLOC=malloc sends Python's small objects through the
#             instrumented malloc too; detect_leaks=0 because CPython does not free everything at
#             exit. UBSan reports are made fatal (halt_on_error) so that they fail the run.
#   valgrind  runs tools/sanitize_train.py (a short fit/evaluate/predict/save/load over dense,
#             sparse, batch-norm and dropout models) under memcheck with the normal build.
#             Leaks are not errors (--errors-for-leak-kinds=none); errors whose stack holds no
#             fastnn frame (CPython's, numpy's and OpenBLAS's own start-up noise) are counted
#             apart and listed, so the figure that matters is "errors in fastnn frames".
#
# Exit status: non-zero when a sanitizer reported an error in fastnn or a test failed.
# Runtime measured on 2 cores shared with a load average of ~14: ASan build 18 min (11
# modules at -O3 with instrumentation), the 1962 tests 4.6 min, valgrind 1 min. Too slow for
# every CI run: run it nightly, before a release, or after changing src_c/.
# Reading the valgrind figure: a run that only imports numpy, scipy and fastnn already gives
# ~60 "uninitialised value" contexts, all in CPython's own frames (Py_INCREF/Py_TYPE in the
# eval loop, int.from_bytes during imports); such contexts are listed as "other" and do not
# fail the run.
set -euo pipefail

MODE="${1:-all}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-/work/venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
SAN_DIR="${SAN_DIR:-/tmp/fastnn-sanitize}"
SAN_TESTS="${SAN_TESTS:-tests/test_kernels.py tests/test_model_api.py tests/test_sparse_inputs.py \
tests/test_saving.py tests/test_losses.py tests/test_norm_layers.py tests/test_optimizers.py}"
status=0

run_asan() {
    local libasan
    libasan="$(gcc -print-file-name=libasan.so)"
    if [ ! -e "$libasan" ]; then
        echo "asan: gcc's libasan.so not found; install libasan (e.g. apt-get install libasan8)" >&2
        return 2
    fi
    local t0=$SECONDS
    if [ "${SAN_REUSE:-0}" = 1 ] && ls "$SAN_DIR"/src/fastnn/_core/*.so > /dev/null 2>&1; then
        echo "== asan: reusing the sanitized extensions in $SAN_DIR/src (Python files refreshed)"
        tar -C "$HERE" --exclude=.git --exclude=build --exclude='*.so' --exclude=src_c \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache -cf - . \
            | tar -C "$SAN_DIR/src" -xf -
    else
        echo "== asan: copying $HERE to $SAN_DIR/src"
        rm -rf "$SAN_DIR/src"
        mkdir -p "$SAN_DIR/src"
        # Sources only: stale .so or generated .c files would hide the sanitized build.
        tar -C "$HERE" --exclude=.git --exclude=build --exclude='*.so' --exclude='src_c/*.c' \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache -cf - . \
            | tar -C "$SAN_DIR/src" -xf -
        echo "== asan: building with -fsanitize=address,undefined"
        (cd "$SAN_DIR/src" &&
            CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g" \
            LDFLAGS="-fsanitize=address,undefined" \
            "$PYTHON" setup.py build_ext --inplace -q > "$SAN_DIR/build.log" 2>&1) || {
            tail -30 "$SAN_DIR/build.log" >&2
            return 2
        }
        echo "   built in $((SECONDS - t0)) s (log: $SAN_DIR/build.log)"
    fi
    # The copy, not the editable install, must be imported.
    local where
    where="$(cd "$SAN_DIR/src" && PYTHONPATH="$SAN_DIR/src" LD_PRELOAD="$libasan" \
        ASAN_OPTIONS=detect_leaks=0 "$PYTHON" -c 'import fastnn._core.dense as d; print(d.__file__)')"
    case "$where" in
        "$SAN_DIR/src/"*) echo "   importing $where" ;;
        *) echo "asan: imported $where, not the sanitized copy" >&2; return 2 ;;
    esac
    # Canaries: the extensions are instrumented (linked to libasan), and the preloaded
    # runtime does report an overflow (an 8-byte numpy buffer read 64 bytes far).
    if ! ldd "$where" | grep -q libasan; then
        echo "asan: $where is not linked to libasan: CFLAGS did not reach the build" >&2
        return 2
    fi
    local canary
    canary="$(cd "$SAN_DIR/src" && PYTHONPATH="$SAN_DIR/src" LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0 \
        "$PYTHON" -c 'import ctypes, numpy as np; a = np.zeros(8, np.uint8); ctypes.string_at(a.ctypes.data, 64)' \
        2>&1 || true)"  # the canary is meant to fail
    if grep -q heap-buffer-overflow <<< "$canary"; then
        echo "   canary: ASan reports a deliberate heap-buffer-overflow (the runtime is live)"
    else
        echo "asan: the deliberate overflow went unreported: is libasan preloaded?" >&2
        return 2
    fi
    echo "== asan: running $SAN_TESTS"
    rm -f "$SAN_DIR"/asan.* "$SAN_DIR"/ubsan.*
    t0=$SECONDS
    local rc=0
    # shellcheck disable=SC2086  # SAN_TESTS / SAN_PYTEST_ARGS are word lists
    (cd "$SAN_DIR/src" &&
        PYTHONPATH="$SAN_DIR/src" LD_PRELOAD="$libasan" PYTHONMALLOC=malloc \
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86:log_path=$SAN_DIR/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$SAN_DIR/ubsan" \
        "$PYTHON" -m pytest $SAN_TESTS -q -p no:cacheprovider -x ${SAN_PYTEST_ARGS:-} \
        > "$SAN_DIR/pytest.log" 2>&1) || rc=$?
    tail -5 "$SAN_DIR/pytest.log"
    echo "   tests ran in $((SECONDS - t0)) s, exit $rc (log: $SAN_DIR/pytest.log)"
    local reports
    reports="$(ls "$SAN_DIR"/asan.* "$SAN_DIR"/ubsan.* 2>/dev/null || true)"
    if [ -n "$reports" ]; then
        echo "asan/ubsan reports:" >&2
        for f in $reports; do echo "--- $f" >&2; head -40 "$f" >&2; done
        return 1
    fi
    echo "   sanitizer reports: 0"
    return "$rc"
}

run_valgrind() {
    if ! command -v valgrind > /dev/null; then
        echo "valgrind: not installed (apt-get install valgrind)" >&2
        return 2
    fi
    mkdir -p "$SAN_DIR"
    echo "== valgrind: memcheck on tools/sanitize_train.py (normal build)"
    local t0=$SECONDS log="$SAN_DIR/valgrind.log"
    # One OpenMP/BLAS thread: valgrind serializes threads anyway, and fewer threads keep
    # the run short and the reports readable.
    (cd "$HERE" && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONMALLOC=malloc \
        valgrind --tool=memcheck --leak-check=no --errors-for-leak-kinds=none --track-origins=no \
        --num-callers=30 --log-file="$log" "$PYTHON" tools/sanitize_train.py) || {
        echo "valgrind: the script failed (log: $log)" >&2
        return 1
    }
    echo "   ran in $((SECONDS - t0)) s (log: $log)"
    "$PYTHON" "$HERE/tools/sanitize_valgrind_filter.py" "$log"
}

case "$MODE" in
    asan) run_asan || status=$? ;;
    valgrind) run_valgrind || status=$? ;;
    all)
        run_asan || status=$?
        run_valgrind || status=$(( status ? status : $? ))
        ;;
    *) echo "usage: $0 [asan|valgrind|all]" >&2; exit 2 ;;
esac
exit "$status"
