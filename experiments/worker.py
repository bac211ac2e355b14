"""The worker side of a sweep: what runs inside a worker process.

Kept small on purpose: a worker imports this module, the model and nothing of the analysis,
storage or plotting code, so starting a worker is cheap.
"""

from __future__ import annotations

import importlib
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from model.scenarios import resolve_params

from .errors import ExperimentError
from .provenance import check_code, code_fingerprint

__all__ = ["RunConfiguration", "RunSettings", "execute_run", "failed_record", "init_worker",
           "resolve_run_fn", "run_chunk"]


@dataclass(frozen=True)
class RunConfiguration:
    """One run: a design point, a replication and its seed."""

    run_id: str
    point_id: int
    point: str
    scenario: str
    replication: int
    seed: int
    overrides: dict[str, Any]


@dataclass(frozen=True)
class RunSettings:
    """What every run of an experiment shares (sent once per chunk)."""

    run_fn: str
    steps: int
    window: int
    timeseries_every: int
    metrics: tuple[str, ...] | None
    #: parameters whose name is also a summary metric: stored as ``param_<name>``
    renamed_params: frozenset[str] = frozenset()
    #: the sweep's code fingerprint (:func:`provenance.code_fingerprint`); a worker whose own
    #: differs refuses the chunk (``None``: not checked)
    code: dict[str, Any] | None = field(default=None, compare=False)


# ----------------------------------------------------------------------------- worker side

_FN_CACHE: dict[str, Callable] = {}


def resolve_run_fn(path: str) -> Callable:
    """Import ``"package.module:function"`` once per process."""
    fn = _FN_CACHE.get(path)
    if fn is None:
        module_name, _, attr = path.partition(":")
        try:
            module = importlib.import_module(module_name)
            fn = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise ExperimentError(f"cannot import the run function ({exc})", key="run_fn",
                                  value=path, allowed="an importable 'package.module:function'"
                                  ) from None
        _FN_CACHE[path] = fn
    return fn


def init_worker(run_fn: str, strict: bool = False) -> dict[str, Any]:
    """Worker initialiser: import the model once, when the worker starts; returns the code
    fingerprint of this worker (:func:`provenance.code_fingerprint`). ``strict`` (a Dask
    worker, whose environment may differ from the sweep's): a run function that cannot be
    imported raises; else the first run records the error."""
    try:
        resolve_run_fn(run_fn)
    except ExperimentError:
        if strict:
            raise
    return code_fingerprint(run_fn or None)


#: Fixed columns of the runs table, before the parameters and the metrics (:func:`_record`).
ID_COLUMNS = ("run_id", "point_id", "point", "scenario", "replication", "seed", "status",
              "error", "traceback", "duration_s")


def _record(cfg: RunConfiguration, status: str, error: str | None, tb: str | None,
            duration: float) -> dict[str, Any]:
    """The :data:`ID_COLUMNS` of a run's record (the rest are parameters and metrics)."""
    return dict(zip(ID_COLUMNS, (cfg.run_id, cfg.point_id, cfg.point, cfg.scenario,
                                 cfg.replication, cfg.seed, status, error, tb, duration)))


def failed_record(cfg: RunConfiguration, exc: BaseException, tb: str) -> dict[str, Any]:
    """The record of a run that raised ``exc`` (traceback text ``tb``; no duration)."""
    return _record(cfg, "failed", f"{type(exc).__name__}: {exc}", tb, math.nan)


def execute_run(settings: RunSettings, cfg: RunConfiguration) -> tuple[dict[str, Any], Any]:
    """Run one configuration; never raises for a failing run (the failure is returned as data)."""
    record = _record(cfg, "ok", None, None, 0.0)
    ts = None
    t0 = time.perf_counter()
    try:
        params = resolve_params(cfg.scenario, cfg.overrides)
        record.update({(f"param_{k}" if k in settings.renamed_params else k): v
                       for k, v in params.items()})
        fn = resolve_run_fn(settings.run_fn)
        result = fn(cfg.scenario, dict(cfg.overrides), steps=settings.steps, seed=cfg.seed,
                    window=settings.window, timeseries_every=settings.timeseries_every)
        summary = result["summary"] if isinstance(result, dict) else result.summary
        keys = settings.metrics if settings.metrics is not None else list(summary)
        missing = [k for k in keys if k not in summary]
        if missing:
            raise KeyError(f"the run function's summary lacks metric(s) {', '.join(missing)}")
        for k in keys:
            col = k if k not in record else f"summary_{k}"
            value = summary[k]
            record[col] = float(value) if value is not None else math.nan
        if settings.timeseries_every:
            ts = result.get("timeseries") if isinstance(result, dict) else getattr(
                result, "timeseries", None)
            if ts is not None:
                ts = ts.copy()
                ts.insert(0, "replication", cfg.replication)
                ts.insert(0, "point_id", cfg.point_id)
                ts.insert(0, "run_id", cfg.run_id)
    except Exception as exc:  # noqa: BLE001 - a failing run is data, the sweep goes on
        record.update(failed_record(cfg, exc, traceback.format_exc()))
        ts = None
    record["duration_s"] = time.perf_counter() - t0
    return record, ts


def run_chunk(settings: RunSettings, configs: list[RunConfiguration]) -> list[tuple[dict, Any]]:
    """Run a chunk of configurations in one task (so tiny runs don't drown in overhead).

    Refuses the whole chunk (:class:`ExperimentError`, which stops the sweep) when this
    process's code is not the sweep's (:func:`provenance.check_code`): a Dask worker with
    another checkout or other package versions would give other numbers from the same seeds."""
    check_code(settings.code, settings.run_fn)
    return [execute_run(settings, cfg) for cfg in configs]
