"""Batch experiments for carepath: sweeps with replications, parallel and distributed,
resumable, with statistics and plots.

Typical use::

    from experiments import run_experiment, load, analyse, write_report
    res = run_experiment("experiments/caseload_sweep.toml", "results/caseload")
    tables = load("results/caseload")          # runs, points, timeseries, manifest
    stats = analyse("results/caseload")        # per-point CIs, contrasts, sensitivity
    write_report("results/caseload")           # figures + report.md in results/caseload/report

The command line (``carepath sweep|resume|status|report``) wraps the same functions.
See ``docs/experiments.md``. Names are imported lazily, so that worker processes (which import
``experiments.worker``) do not pay for the analysis and plotting modules.
"""

from __future__ import annotations

import importlib

from .errors import ExperimentError

_LAZY = {
    "ExperimentSpec": "spec", "load_spec": "spec", "parse_spec": "spec",
    "Design": "design", "DesignPoint": "design", "build_design": "design",
    "replication_seed": "design",
    "Store": "store", "load": "store",
    "RunConfiguration": "worker",
    "SweepResult": "runner", "make_executor": "runner", "plan_runs": "runner",
    "resume": "runner", "run_experiment": "runner", "status": "runner",
    "Analysis": "analysis", "analyse": "analysis",
    "write_report": "report",
}

__all__ = ["ExperimentError", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
