"""Tests of the set-up and test-runner scripts (scripts/setup-env.sh, scripts/run-tests.sh).

The interpreter finder is exercised with fake "pythons": small shell scripts that answer the
finder's probe the way a real interpreter of some version would, or fail the way a pyenv shim
for an unselected version does. No venv is created and nothing is installed.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_ENV = ROOT / "scripts" / "setup-env.sh"
RUN_TESTS = ROOT / "scripts" / "run-tests.sh"


def _fake_python(folder: Path, name: str, *, version: tuple[int, int] | None, ensurepip: bool = True,
                 exe: str | None = None) -> Path:
    """Write an executable that behaves like `python -c ...` for the finder's checks.

    version=None makes it fail like a pyenv shim whose version is not selected (exit 127).
    """
    path = folder / name
    if version is None:
        body = 'echo "pyenv: $(basename "$0"): command not found" >&2\nexit 127\n'
    else:
        major, minor = version
        body = textwrap.dedent(
            f"""\
            case "$*" in
              *ensurepip*) {"exit 0" if ensurepip else 'echo "No module named ensurepip" >&2; exit 1'} ;;
            esac
            echo "{major} {minor} {exe or path}"
            """
        )
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _finder(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CAREPATH_PYTHON", "CAREPATH_PYTHON_CANDIDATES")}
    env.update(env_extra)
    return subprocess.run(
        ["bash", str(SETUP_ENV), "--print-python"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_finder_skips_too_old_and_broken_pythons_and_takes_the_first_working_one(tmp_path):
    old = _fake_python(tmp_path, "python3.11", version=(3, 11))
    old_39 = _fake_python(tmp_path, "python3.9", version=(3, 9))  # "3.9" > "3.12" as text: must compare numbers
    shim = _fake_python(tmp_path, "python3.12-shim", version=None)
    good = _fake_python(tmp_path, "python3.12", version=(3, 12), exe="/opt/fake/bin/python3.12")
    later = _fake_python(tmp_path, "python3.13", version=(3, 13), exe="/opt/fake/bin/python3.13")

    result = _finder({
        "CAREPATH_PYTHON": str(old),
        "CAREPATH_PYTHON_CANDIDATES": ":".join(
            [str(shim), str(old_39), str(tmp_path / "missing-python"), str(good), str(later)]),
    })

    assert result.returncode == 0, result.stderr
    # The path printed is the interpreter's own answer (its real executable), the first that works.
    assert result.stdout.strip() == "/opt/fake/bin/python3.12"
    # An explicitly requested CAREPATH_PYTHON that is too old is reported, not silently ignored.
    assert "CAREPATH_PYTHON" in result.stderr and "3.11" in result.stderr


def test_finder_accepts_a_real_interpreter(tmp_path):
    old = _fake_python(tmp_path, "python3.11", version=(3, 11))
    result = _finder({"CAREPATH_PYTHON_CANDIDATES": f"{old}:{sys.executable}"})
    assert result.returncode == 0, result.stderr
    expected = getattr(sys, "_base_executable", "") or sys.executable
    assert os.path.realpath(result.stdout.strip()) == os.path.realpath(expected)


def test_finder_fails_with_one_clear_line_when_no_python_is_new_enough(tmp_path):
    old = _fake_python(tmp_path, "python3.11", version=(3, 11))
    shim = _fake_python(tmp_path, "python3.12", version=None)

    result = _finder({"CAREPATH_PYTHON_CANDIDATES": f"{old}:{shim}"})

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert ">= 3.12" in lines[0] and "CAREPATH_PYTHON" in lines[0]
    assert f"{old} (3.11)" in lines[0]


def test_finder_names_the_missing_venv_package(tmp_path):
    no_venv = _fake_python(tmp_path, "python3.12", version=(3, 12), ensurepip=False)

    result = _finder({"CAREPATH_PYTHON_CANDIDATES": str(no_venv)})

    assert result.returncode == 1
    assert result.stdout == ""
    assert "python3.12-venv" in result.stderr


def _run_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CAREPATH_"))}
    env["CAREPATH_TEST_PYTHON"] = sys.executable
    return subprocess.run(
        ["bash", str(RUN_TESTS), str(folder), "-p", "no:cacheprovider", "-q"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_run_tests_turns_no_tests_collected_into_a_failure(tmp_path):
    result = _run_tests(tmp_path)  # an empty folder: pytest itself would exit 5
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no tests" in result.stderr


def test_run_tests_passes_a_green_run_through(tmp_path):
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    result = _run_tests(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
