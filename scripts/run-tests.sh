#!/usr/bin/env bash
# Run pytest from the repository root with the venv's Python, passing every argument through.
# pytest's exit code 5 ("no tests were collected") is turned into a failure: a test run that
# ran nothing must never look green.
#   scripts/run-tests.sh [PYTEST ARGS...]
# CAREPATH_TEST_PYTHON overrides the interpreter (default: <repo>/.venv/bin/python).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${CAREPATH_TEST_PYTHON:-$ROOT/.venv/bin/python}
if [[ ! -x "$PY" ]]; then
    echo "run-tests: $PY not found; run 'bash scripts/setup-env.sh all' (or 'make setup') first" >&2
    exit 2
fi

cd "$ROOT" || exit 2
"$PY" -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
    echo "run-tests: FAILED: pytest collected no tests (exit code 5); treating that as a failure" >&2
    exit 1
fi
exit $rc
