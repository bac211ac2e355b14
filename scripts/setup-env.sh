#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install carepath into it, editable.
#
#   scripts/setup-env.sh [EXTRAS]      EXTRAS: comma-separated extras from pyproject.toml
#                                      (default: viz; e.g. all, "viz,test", none)
#   scripts/setup-env.sh --print-python
#                                      only find the interpreter and print its path
#
# Mesa 3.5 needs Python >= 3.12. Candidates, each checked by actually running it:
#   $CAREPATH_PYTHON (if set), then python3.13, python3.12, python3 on PATH, then every
#   $(pyenv root)/versions/*/bin/python (newest first), /usr/local/bin/python3.1[2-9],
#   /usr/bin/python3.1[2-9].
# CAREPATH_PYTHON_CANDIDATES (colon-separated) replaces that default list (used by the tests).
# CAREPATH_VENV overrides the venv location (default: <repo>/.venv).
# CAREPATH_FORCE_INSTALL=1 reinstalls even when the install stamp is fresh.
#
# Idempotent: once an install of EXTRAS (or of "all") has succeeded and pyproject.toml has not
# changed since, a second run only checks the venv's interpreter and returns.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CAREPATH_VENV:-$ROOT/.venv}
MIN_MAJOR=3
MIN_MINOR=12

say() { printf 'setup-env: %s\n' "$*" >&2; }

# Prints "MAJOR MINOR BASE_EXECUTABLE" for a working interpreter; non-zero if it does not run.
# BASE_EXECUTABLE is the real interpreter behind a venv or a pyenv shim.
PROBE='import sys; print(sys.version_info[0], sys.version_info[1], getattr(sys, "_base_executable", "") or sys.executable)'

run_limited() {  # run a command with a time limit when `timeout` exists (a hung shim never blocks us)
    if command -v timeout >/dev/null 2>&1; then timeout 60 "$@"; else "$@"; fi
}

candidates() {
    if [[ -n "${CAREPATH_PYTHON_CANDIDATES+set}" ]]; then
        local IFS=':'
        local c
        for c in $CAREPATH_PYTHON_CANDIDATES; do
            if [[ -n "$c" ]]; then printf '%s\n' "$c"; fi
        done
        return 0
    fi
    printf '%s\n' python3.13 python3.12 python3
    local proot=""
    if command -v pyenv >/dev/null 2>&1; then proot=$(pyenv root 2>/dev/null || true); fi
    [[ -n "$proot" ]] || proot=${PYENV_ROOT:-$HOME/.pyenv}
    if [[ -d "$proot/versions" ]]; then
        local p
        for p in "$proot"/versions/*/bin/python; do
            if [[ -x "$p" ]]; then printf '%s\n' "$p"; fi
        done | sort -V -r
    fi
    local g
    for g in /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
        if [[ -x "$g" ]]; then printf '%s\n' "$g"; fi
    done
    return 0
}

# find_python: prints the chosen interpreter's path on stdout, or prints one line on stderr and
# returns 1. Rejections of an explicitly requested CAREPATH_PYTHON are reported as warnings.
find_python() {
    local tried=() novenv="" novenv_ver="" cand out major minor exe
    local list=()
    if [[ -n "${CAREPATH_PYTHON:-}" ]]; then list+=("$CAREPATH_PYTHON"); fi
    while IFS= read -r cand; do list+=("$cand"); done < <(candidates)

    for cand in "${list[@]}"; do
        if [[ "$cand" != */* ]] && ! command -v "$cand" >/dev/null 2>&1; then
            tried+=("$cand (not on PATH)")
            continue
        fi
        if ! out=$(run_limited "$cand" -c "$PROBE" 2>/dev/null); then
            tried+=("$cand (does not run)")
            [[ "$cand" == "${CAREPATH_PYTHON:-}" ]] && say "warning: CAREPATH_PYTHON=$cand does not run; trying others"
            continue
        fi
        read -r major minor exe <<<"$out" || true
        if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]]; then
            tried+=("$cand (unexpected answer)")
            continue
        fi
        if (( major < MIN_MAJOR || (major == MIN_MAJOR && minor < MIN_MINOR) )); then
            tried+=("$cand ($major.$minor)")
            [[ "$cand" == "${CAREPATH_PYTHON:-}" ]] && say "warning: CAREPATH_PYTHON=$cand is Python $major.$minor (< $MIN_MAJOR.$MIN_MINOR); trying others"
            continue
        fi
        # Debian splits venv/ensurepip into python3.X-venv; prefer an interpreter that has them.
        if ! run_limited "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            tried+=("$cand ($major.$minor, no venv/ensurepip)")
            if [[ -z "$novenv" ]]; then novenv="$cand (Python $major.$minor)"; novenv_ver="$major.$minor"; fi
            continue
        fi
        [[ -n "$exe" ]] || exe=$cand
        printf '%s\n' "$exe"
        return 0
    done

    local t tried_text=""
    for t in "${tried[@]}"; do tried_text+="${tried_text:+; }$t"; done
    if [[ -n "$novenv" ]]; then
        say "ERROR: $novenv lacks the venv/ensurepip modules; install them (Debian: apt-get install python$novenv_ver-venv) or set CAREPATH_PYTHON=/path/to/python3.12+ that has them. Tried: ${tried_text:-nothing}"
    else
        say "ERROR: no Python >= $MIN_MAJOR.$MIN_MINOR found (Mesa 3.5 needs it); install one (pyenv install 3.12, or on Debian 13+ apt-get install python3.13 python3.13-venv) or set CAREPATH_PYTHON=/path/to/python3.12+. Tried: ${tried_text:-nothing}"
    fi
    return 1
}

venv_ok() {  # the venv exists, its python runs, is new enough and has pip
    [[ -x "$VENV/bin/python" ]] || return 1
    run_limited "$VENV/bin/python" -c "import sys, pip; sys.exit(0 if sys.version_info >= ($MIN_MAJOR, $MIN_MINOR) else 1)" \
        >/dev/null 2>&1
}

if [[ "${1:-}" == "--print-python" ]]; then
    find_python
    exit $?
fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

EXTRAS=${1-viz}
EXTRAS=${EXTRAS// /}
case "$EXTRAS" in
    ""|none) SPEC="."; STAMP_NAME="base" ;;
    *)       SPEC=".[$EXTRAS]"; STAMP_NAME=${EXTRAS//,/+} ;;
esac
STAMP="$VENV/.carepath-installed-$STAMP_NAME"
STAMP_ALL="$VENV/.carepath-installed-all"

# 1. The venv: reuse it when healthy, else (re)create it.
if ! venv_ok; then
    if [[ -e "$VENV" ]]; then
        say "$VENV is broken or its Python is older than $MIN_MAJOR.$MIN_MINOR; recreating it"
        rm -rf "$VENV"
    fi
    PY=$(find_python) || exit 1
    say "creating $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    if ! venv_log=$("$PY" -m venv "$VENV" 2>&1); then
        rm -rf "$VENV"
        printf '%s\n' "$venv_log" >&2
        if grep -qi 'ensurepip' <<<"$venv_log"; then
            v=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            say "ERROR: $PY cannot create a venv (ensurepip missing); Debian: apt-get install python$v-venv, or set CAREPATH_PYTHON to another Python >= $MIN_MAJOR.$MIN_MINOR"
        else
            say "ERROR: '$PY -m venv $VENV' failed (output above)"
        fi
        exit 1
    fi
fi

# 2. The install, skipped when a stamp newer than pyproject.toml says it is already done.
installed() { "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("carepath")' >/dev/null 2>&1; }
if [[ "${CAREPATH_FORCE_INSTALL:-0}" != "1" ]] && installed; then
    for s in "$STAMP" "$STAMP_ALL"; do
        if [[ -f "$s" && "$s" -nt "$ROOT/pyproject.toml" ]]; then
            say "up to date: carepath[$EXTRAS] in $VENV ($("$VENV/bin/python" -V 2>&1)); CAREPATH_FORCE_INSTALL=1 reinstalls"
            exit 0
        fi
    done
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
say "upgrading pip in $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
say "installing -e '$SPEC' into $VENV"
(cd "$ROOT" && "$VENV/bin/python" -m pip install -e "$SPEC")
touch "$STAMP"
say "done: $VENV/bin/python ($("$VENV/bin/python" -V 2>&1)); console script: $VENV/bin/carepath"
