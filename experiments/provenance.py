"""Which code a sweep runs: package versions, the git commit, and a fingerprint of the source.

A sweep's numbers depend on the model's source and on a few packages (numpy's random streams,
numba's compiled arithmetic, Mesa, networkx, scipy). Two machines with different copies of either
give different runs from the same seeds, silently. So a sweep records a *code fingerprint* in its
manifest (:func:`code_fingerprint`), and

- every worker compares its own with the sweep's before it runs a task (:func:`check_code`): a
  Dask worker on another machine with an older checkout or other package versions stops the
  sweep with the files and versions that differ, instead of mixing its runs into the table;
- ``resume`` refuses a directory whose recorded fingerprint differs from the code installed
  now, unless told to go on (``--allow-code-change``, recorded in the manifest);
- a sweep is refused from a process whose files changed on disk after it loaded them
  (:func:`check_loaded_code`).

The fingerprint covers the files that decide a run or which runs are planned: every module of
the ``model`` package except the browser view, plotting, command-line and doc modules
(:data:`NOT_RUN`), :data:`EXPERIMENT_SOURCES`, and the run function's own module when it lives
elsewhere. Editing the report code, the docs or a notebook does not change it. The project's
files are hashed when this module is first imported, which is the code as the process loaded it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from .errors import ExperimentError

__all__ = ["RESULT_PACKAGES", "SAME_CODE", "check_code", "check_loaded_code", "code_difference",
           "code_fingerprint", "code_on_disk", "git_info", "versions"]

ROOT = Path(__file__).resolve().parent.parent
#: Modules of ``model`` that no run executes (browser view, plots, command line, doc generator).
NOT_RUN = frozenset({"app.py", "viz_server.py", "plots.py", "cli.py", "docgen.py"})
#: Modules of ``experiments`` that decide a run's record, its seed or which runs are planned.
EXPERIMENT_SOURCES = ("worker.py", "design.py", "spec.py", "runner.py")
#: Packages whose versions decide a run's numbers.
RESULT_PACKAGES = ("numpy", "scipy", "numba", "llvmlite", "mesa", "networkx")
#: What to do about a worker with other code (said by every refusal of one).
SAME_CODE = ("the same checkout and package versions on every worker (install carepath from "
             "the sweep's commit on each machine: pip install -e . in a clone of it)")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a sweep uses (recorded in the manifest)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("carepath", *RESULT_PACKAGES, "pandas", "pyarrow", "SALib", "dask",
                 "distributed"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def git_info() -> dict[str, Any] | None:
    """The checkout's commit and whether it has uncommitted changes (None outside git)."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], check=True,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _hashes(paths) -> dict[str, str]:
    return {label: hashlib.sha256(path.read_bytes()).hexdigest()[:16] for label, path in paths}


def _project_files() -> list[tuple[str, Path]]:
    files = sorted(p for p in (ROOT / "model").glob("*.py") if p.name not in NOT_RUN)
    files += [ROOT / "experiments" / name for name in EXPERIMENT_SOURCES]
    return [(p.relative_to(ROOT).as_posix(), p) for p in files]


def _run_module_file(run_fn: str | None) -> list[tuple[str, Path]]:
    """The run function's module, when it is not one of :func:`_project_files`; labelled by
    its module name, so the same module at another path on another machine matches."""
    module = (run_fn or "").partition(":")[0]
    if not module:
        return []
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError, AttributeError):
        return []
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    path = Path(spec.origin).resolve()
    if path in {p.resolve() for _, p in _project_files()}:
        return []
    return [(f"run_fn module {module}", path)]


def _packages() -> dict[str, str]:
    from importlib import metadata

    pkgs = {"python": ".".join(platform.python_version_tuple()[:2])}
    for dist in RESULT_PACKAGES:
        try:
            pkgs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pkgs[dist] = "not installed"
    return pkgs


def _fingerprint(files: dict[str, str], pkgs: dict[str, str]) -> dict[str, Any]:
    blob = json.dumps({"files": files, "packages": pkgs}, sort_keys=True).encode()
    return {"digest": hashlib.sha256(blob).hexdigest()[:16], "files": files, "packages": pkgs}


#: The project files' hashes and the result packages, taken when this module is first imported
#: (a process pool's fork server imports it before forking its workers).
_LOADED = (_hashes(_project_files()), _packages())


@functools.lru_cache(maxsize=8)
def code_fingerprint(run_fn: str | None = None) -> dict[str, Any]:
    """The fingerprint of the code a run executes, as this process loaded it: a digest, each
    file's hash and the result packages' versions (:data:`_LOADED`; the run function's own
    module is hashed at first use). Cached: every task compares it, so treat it as read-only."""
    files, pkgs = _LOADED
    return _fingerprint(files | _hashes(_run_module_file(run_fn)), dict(pkgs))


def code_on_disk(run_fn: str | None = None) -> dict[str, Any]:
    """The fingerprint of the files as they are now (:func:`code_fingerprint` without the
    cache)."""
    return _fingerprint(_hashes(_project_files() + _run_module_file(run_fn)), _packages())


def check_loaded_code(run_fn: str | None) -> None:
    """Refuse to start a sweep from a process whose code is older than its files (they were
    edited after it loaded them): the manifest would record one version and new worker
    processes could run another."""
    diff = code_difference(code_fingerprint(run_fn), code_on_disk(run_fn), ("loaded", "on disk"))
    if diff:
        raise ExperimentError(
            f"the code's files changed after this process loaded them ({diff}); a sweep from it "
            "would record one version of the model and could run another",
            allowed="restart the Python process (in a notebook: restart the kernel), then run "
                    "the sweep again")


def code_difference(expected: dict[str, Any], got: dict[str, Any],
                    names: tuple[str, str] = ("sweep", "here")) -> str:
    """What differs between two fingerprints, in words ('' when they match); ``names`` say
    whose each one is."""
    if expected.get("digest") == got.get("digest"):
        return ""
    a, b = names
    parts = []
    ef, gf = expected.get("files", {}), got.get("files", {})
    changed = sorted(k for k in ef.keys() & gf.keys() if ef[k] != gf[k])
    if changed:
        parts.append("files differ: " + ", ".join(changed))
    if only := sorted(ef.keys() - gf.keys()):
        parts.append(f"files only {a}: " + ", ".join(only))
    if only := sorted(gf.keys() - ef.keys()):
        parts.append(f"files only {b}: " + ", ".join(only))
    ep, gp = expected.get("packages", {}), got.get("packages", {})
    pk = [f"{k} {ep.get(k, 'absent')} ({a}) vs {gp.get(k, 'absent')} ({b})"
          for k in sorted(ep.keys() | gp.keys()) if ep.get(k) != gp.get(k)]
    if pk:
        parts.append("package versions differ: " + ", ".join(pk))
    return "; ".join(parts) or "the fingerprints differ"


def check_code(expected: dict[str, Any] | None, run_fn: str | None) -> None:
    """Raise :class:`ExperimentError` if this process's code is not the sweep's (``expected``:
    the manifest's fingerprint; ``None`` skips the check)."""
    if not expected:
        return
    diff = code_difference(expected, code_fingerprint(run_fn))
    if diff:
        raise ExperimentError(
            f"the worker on {socket.gethostname()} (process {os.getpid()}) runs other code than "
            f"the sweep ({diff}); its runs would not be comparable, so none were run",
            allowed=SAME_CODE + "; finished runs are saved: fix the worker, then carepath "
                                "resume DIR")

