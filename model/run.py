"""Run one simulation and return its results: the function experiments, the CLI and notebooks share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .params import ParameterError

__all__ = ["RunResult", "simulate", "warm_up"]


@dataclass
class RunResult:
    """Outputs of one run: the summary dict, the per-step table (optional) and provenance."""

    summary: dict[str, float]
    params: dict[str, Any]
    seed: int | None
    steps: int
    scenario: str
    timeseries: Any = None  # pandas.DataFrame or None
    events: Any = None  # pandas.DataFrame or None (event_log=True)


def _check_int(name: str, value: Any, low: int, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(name, value, f"an integer >= {low}", source)
    return value


def simulate(scenario: str | None = None, overrides: Mapping[str, Any] | None = None, *,
             steps: int = 156, seed: int | None = None, window: int = 52,
             timeseries_every: int = 0, event_log: bool = False,
             progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Build a model from a named scenario plus overrides, run ``steps`` weeks, summarise.

    ``timeseries_every=k`` keeps every k-th week's outputs (0: none). ``progress(done, total)``
    is called after each week (the CLI draws its progress bar with it).
    """
    from .model import CarePathwayModel

    _check_int("steps", steps, 1, "simulate(steps=...)")
    _check_int("window", window, 1, "simulate(window=...)")
    _check_int("timeseries_every", timeseries_every, 0, "simulate(timeseries_every=...)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ParameterError("seed", seed, "a non-negative integer or None", "simulate(seed=...)")
    kw = dict(overrides or {})
    if event_log:
        kw["event_log"] = True
    model = CarePathwayModel(scenario, rng=seed, **kw)
    for t in range(steps):
        model.step()
        if progress is not None:
            progress(t + 1, steps)
    ts = None
    if timeseries_every:
        df = model.timeseries()
        ts = df.iloc[::timeseries_every].reset_index()
    events = model.event_log() if model.p["event_log"] else None
    return RunResult(summary=model.summary(window), params=dict(model.p), seed=seed, steps=steps,
                     scenario=model.scenario_name, timeseries=ts, events=events)


def warm_up() -> None:
    """Load (or, on a fresh checkout, compile) the model's compiled kernels by running a tiny
    model for two weeks. Process pools call it once before forking workers."""
    from .model import CarePathwayModel

    m = CarePathwayModel(n_clinicians=2, caseload_cap=5, referrals_per_week=2.0, rng=0)
    m.step()
    m.step()
