"""The user guide (docs/): every example prints what its page shows, and the
Sphinx build has no warnings.

Examples. Each ``docs/examples/<page>.py`` runs in a fresh interpreter and its
stdout is compared with ``docs/examples/<page>.out``, the output the page
includes. The comparison is exact; only if it is not, numbers may differ by at
most 2 units of their last printed digit (the examples print rounded values at
one thread, but another CPU or BLAS build can round a last digit the other way);
all other text, and every integer, must match exactly. An example whose
docstring is followed by ``# requires: <module>, ...`` is skipped, with the
reason printed, when a module is missing. Each example must stay under 10 s of
CPU time (measured on the child process, so a busy machine does not fail it).

Build. ``python -m sphinx -W --keep-going -b html docs <tmp>``: warnings are
errors. Skipped (reason printed) only when sphinx is not importable.

Regenerate an expected output after a deliberate change with
``python docs/examples/<page>.py > docs/examples/<page>.out`` and read the diff.
"""
from __future__ import annotations

import importlib.util
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
CPU_SECONDS_MAX = 10.0
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _requirements(script: Path) -> list[str]:
    match = re.search(r"^# requires: (.+)$", script.read_text(), re.M)
    return [m.strip() for m in match.group(1).split(",")] if match else []


def _last_digit_unit(token: str) -> float | None:
    """The value of one unit in the last printed digit of a decimal, None for an integer."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa:
        return None if not exponent else 10.0 ** int(exponent)
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def outputs_match(got: str, expected: str) -> tuple[bool, str]:
    """Exact match, or equal text with numbers within 2 units of their last digit."""
    if got == expected:
        return True, ""
    got_lines, exp_lines = got.splitlines(), expected.splitlines()
    if len(got_lines) != len(exp_lines):
        return False, f"{len(got_lines)} lines printed, {len(exp_lines)} expected"
    for i, (g, e) in enumerate(zip(got_lines, exp_lines), 1):
        if _NUMBER.split(g) != _NUMBER.split(e):
            return False, f"line {i}: text differs:\n  got      {g!r}\n  expected {e!r}"
        for tg, te in zip(_NUMBER.findall(g), _NUMBER.findall(e)):
            unit = _last_digit_unit(te)
            if unit is None or _last_digit_unit(tg) is None:
                ok = tg == te
            else:
                ok = abs(float(tg) - float(te)) <= 2 * unit * (1 + 1e-9)
            if not ok:
                return False, f"line {i}: {tg} where {te} was expected:\n  got      {g!r}\n  expected {e!r}"
    return True, ""


def test_outputs_match_rules():
    # The comparison itself must be able to fail.
    assert outputs_match("loss 0.123\n", "loss 0.123\n")[0]
    assert outputs_match("loss 0.124\n", "loss 0.123\n")[0]          # 1 unit of the last digit
    assert not outputs_match("loss 0.126\n", "loss 0.123\n")[0]      # 3 units
    assert not outputs_match("steps 17\n", "steps 16\n")[0]          # integers exactly
    assert not outputs_match("loss: 0.123\n", "loss 0.123\n")[0]     # text exactly
    assert not outputs_match("a\n", "a\nb\n")[0]
    assert outputs_match("[ 0.9463 -1.0134]\n", "[ 0.9462 -1.0135]\n")[0]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_prints_its_expected_output(script: Path, tmp_path: Path):
    missing = [m for m in _requirements(script) if importlib.util.find_spec(m) is None]
    if missing:
        print(f"skipping {script.name}: needs {', '.join(missing)}")
        pytest.skip(f"{script.name} needs {', '.join(missing)}")
    expected_file = script.with_suffix(".out")
    assert expected_file.exists(), f"{script.name} has no expected output {expected_file.name}"
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Run from an empty folder so that an example cannot depend on (or litter) the tree.
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stderr}"
    ok, why = outputs_match(proc.stdout, expected_file.read_text())
    assert ok, f"{script.name}: output differs from {expected_file.name}: {why}"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < CPU_SECONDS_MAX, f"{script.name} took {cpu:.1f} s of CPU time (limit {CPU_SECONDS_MAX} s)"


def test_every_example_is_on_a_page():
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.rst"))
    for script in SCRIPTS:
        assert f"examples/{script.name}" in pages, f"no page includes {script.name}"
        assert f"examples/{script.stem}.out" in pages, f"no page shows the output of {script.name}"
    assert SCRIPTS, "no examples found"


@pytest.mark.slow  # ~10 s on a quiet machine: the whole guide and API reference
def test_docs_build_without_warnings(tmp_path: Path):
    if importlib.util.find_spec("sphinx") is None:
        print("skipping the docs build: sphinx is not installed (pip install '.[docs]')")
        pytest.skip("sphinx is not installed")
    # cwd: ``python -m`` puts the working directory first on sys.path; from the repository
    # root that would document the source tree instead of the installed fastnn.
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(tmp_path / "html")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"sphinx build failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "html" / "index.html").exists()
