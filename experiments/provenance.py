"""Which code a sweep runs: package versions, the git commit, and a fingerprint of the source.

A sweep's numbers depend on the model's source and on a few packages (numpy's random streams,
numba's compiled arithmetic, Mesa, networkx, scipy). Two machines with different copies of either
give different runs from the same seeds, silently. So a sweep records a *code fingerprint* in its
manifest (:func:`code_fingerprint`), and

- every worker compares its own with the sweep's before it runs a task (:func:`check_code`): a
  Dask worker on another machine with an older checkout or other package versions stops the
  sweep with the files and versions that differ, instead of mixing its runs into the table;
- ``resume`` refuses a directory whose recorded fingerprint differs from the code installed
  now, unless told to go on (``--allow-code-change``, recorded in the manifest).

The fingerprint covers the files a run executes: every module of the ``model`` package except
the browser view, plotting and command-line modules (:data:`NOT_RUN`), the worker and design
modules of ``experiments``, and the run function's own module when it lives elsewhere. Editing
the report code, the docs or a notebook does not change it.
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

__all__ = ["RESULT_PACKAGES", "check_code", "code_difference", "code_fingerprint", "git_info",
           "versions"]

ROOT = Path(__file__).resolve().parent.parent
#: Modules of ``model`` that no run executes (browser view, plots, command line, doc generator).
NOT_RUN = frozenset({"app.py", "viz_server.py", "plots.py", "cli.py", "docgen.py"})
#: Modules of ``experiments`` that decide a run's record or its seed.
EXPERIMENT_SOURCES = ("worker.py", "design.py")
#: Packages whose versions decide a run's numbers.
RESULT_PACKAGES = ("numpy", "scipy", "numba", "llvmlite", "mesa", "networkx")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a sweep uses (recorded in the manifest)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("carepath", "mesa", "numpy", "numba", "llvmlite", "pandas", "pyarrow", "scipy",
                 "SALib", "dask", "distributed", "networkx"):
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


def _run_sources(run_fn: str | None) -> list[Path]:
    files = sorted(p for p in (ROOT / "model").glob("*.py") if p.name not in NOT_RUN)
    files += [ROOT / "experiments" / name for name in EXPERIMENT_SOURCES]
    module = (run_fn or "").partition(":")[0]
    if module and not module.startswith(("model.", "experiments.worker", "experiments.design")):
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(module)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                files.append(Path(spec.origin).resolve())
    return files


def _label(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


@functools.lru_cache(maxsize=8)
def code_fingerprint(run_fn: str | None = None) -> dict[str, Any]:
    """The fingerprint of the code a run executes: a digest, each file's hash and the result
    packages' versions. Computed once per process (from the files as they are then), so a
    worker reports the code it loaded, not a later edit."""
    from importlib import metadata

    files = {}
    for path in _run_sources(run_fn):
        files[_label(path)] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    pkgs = {"python": ".".join(platform.python_version_tuple()[:2])}
    for dist in RESULT_PACKAGES:
        try:
            pkgs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pkgs[dist] = "not installed"
    blob = json.dumps({"files": files, "packages": pkgs}, sort_keys=True).encode()
    return {"digest": hashlib.sha256(blob).hexdigest()[:16], "files": files, "packages": pkgs}


def code_difference(expected: dict[str, Any], got: dict[str, Any]) -> str:
    """What differs between two fingerprints, in words ('' when they match)."""
    if expected.get("digest") == got.get("digest"):
        return ""
    parts = []
    ef, gf = expected.get("files", {}), got.get("files", {})
    changed = sorted(k for k in ef.keys() & gf.keys() if ef[k] != gf[k])
    if changed:
        parts.append("files differ: " + ", ".join(changed))
    if only := sorted(ef.keys() - gf.keys()):
        parts.append("files only in the sweep's code: " + ", ".join(only))
    if only := sorted(gf.keys() - ef.keys()):
        parts.append("files only here: " + ", ".join(only))
    ep, gp = expected.get("packages", {}), got.get("packages", {})
    pk = [f"{k} {ep.get(k, 'absent')} (sweep) vs {gp.get(k, 'absent')} (here)"
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
            allowed="the same checkout and package versions on every worker (install carepath "
                    "from the same commit, e.g. pip install -e . in a copy of the sweep's "
                    "checkout); finished runs are saved: fix the worker, then carepath resume DIR")
