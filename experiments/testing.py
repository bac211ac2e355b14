"""Fast stand-in run functions for tests, benchmarks and trying out experiment files.

They have the signature of :func:`model.run.simulate` and return an object with ``summary``,
``timeseries``, ``params`` and ``seed``. Their outputs depend deterministically on the
parameters and the seed (a smooth response plus seeded noise), so determinism, CRN and the
statistics can be checked without running the agent-based model. Select one in an experiment file
with ``run_fn = "experiments.testing:fake_simulate"``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.outputs import SUMMARY_GROUPS
from model.scenarios import resolve_params

__all__ = ["SUMMARY_KEYS", "FakeResult", "failing_simulate", "fake_simulate", "slow_simulate",
           "unsendable_simulate"]

#: The keys with a response of their own (below); every other key of the model's summary
#: (``model.SUMMARY_KEYS``) gets a generic one, so that any experiment file runs with a stand-in.
_SHAPED_KEYS = (
    ["involvement_mean"]
    + [f"involvement_share_{i}" for i in range(5)]
    + [f"pressure_share_{i}" for i in range(5)]
    + ["role_concordance", "trust_mean", "perceived_coercion_mean", "leverage_prevalence",
       "compulsory_admissions_per_100", "rationing_rate", "stress_mean", "burnout_share"]
)
_OTHER_KEYS = tuple(k for _, keys in SUMMARY_GROUPS for k, _ in keys if k not in _SHAPED_KEYS)
SUMMARY_KEYS = (*_SHAPED_KEYS, *_OTHER_KEYS)
#: Scale of each generic key's 0-1 response: x100 for counts and rates per 100.
_OTHER_SCALE = np.array([
    100.0 if any(c in k for c in ("decisions", "deals_", "_per_100", "patients_in_care_mean",
                                  "waiting_")) and not k.endswith(("_share", "_rate")) else 1.0
    for k in _OTHER_KEYS])


@dataclass
class FakeResult:
    summary: dict[str, float]
    timeseries: Any
    params: dict[str, Any]
    seed: int


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def fake_simulate(scenario: str | None = None, overrides: dict | None = None, *,
                  steps: int = 156, seed: int | None = None, window: int = 52,
                  timeseries_every: int = 0) -> FakeResult:
    """A toy response surface with the model's summary keys (not a model of anything)."""
    p = resolve_params(scenario, overrides)
    rng = np.random.default_rng(seed)
    load = p["caseload_cap"] / 32.0 * 16.0 / max(p["n_clinicians"], 1)
    support = (0.5 * p["sdm_training"] + 0.4 * p["reflective_supervision"]
               + 0.3 * p["peer_advocate_coverage"] + 0.2 * p["org_support"]
               + 0.2 * p["trauma_informed_care"] + 0.2 * p["leverage_limit"])
    noise = rng.normal(0.0, 0.05, size=8)
    stress = min(max(0.35 * load - 0.2 * p["reflective_supervision"] + noise[0], 0.0), 1.0)
    inv = 2.0 + 1.2 * support - 0.6 * (load - 1.0) - 0.4 * stress + 4 * noise[1]
    inv = min(max(inv, 0.0), 4.0)
    # involvement ladder shares from a discretised normal around inv
    weights = np.exp(-0.5 * ((np.arange(5) - inv) / 1.0) ** 2)
    inv_shares = weights / weights.sum()
    pressure = np.exp(-0.5 * ((np.arange(5) - (1.5 - support + 0.5 * stress)) / 1.0) ** 2)
    pressure_shares = pressure / pressure.sum()
    summary = {"involvement_mean": float(inv)}
    summary |= {f"involvement_share_{i}": float(s) for i, s in enumerate(inv_shares)}
    summary |= {f"pressure_share_{i}": float(s) for i, s in enumerate(pressure_shares)}
    summary |= {
        "role_concordance": _sigmoid(0.8 * (inv - 2.0) + noise[2] * 4),
        "trust_mean": _sigmoid(support - stress + noise[3] * 4),
        "perceived_coercion_mean": _sigmoid(-1.0 - support + stress + noise[4] * 4),
        "leverage_prevalence": _sigmoid(-1.2 - 2 * p["leverage_limit"] + stress + noise[5] * 4),
        "compulsory_admissions_per_100": max(0.0, 3.0 + 2 * stress - support + 10 * noise[6])
        * (1.0 if p["compulsion_available"] else 0.1),
        "rationing_rate": min(max(0.2 * load + noise[7], 0.0), 1.0),
        "stress_mean": stress,
        "burnout_share": _sigmoid(6 * (stress - p["burnout_threshold"])),
    }
    # every other key: a 0-1 response to support and stress with its own noise (x100 for counts)
    other = rng.normal(0.0, 0.2, size=len(_OTHER_KEYS))
    values = _OTHER_SCALE / (1.0 + np.exp(-(support - stress + other)))
    summary.update(zip(_OTHER_KEYS, values.tolist()))
    ts = None
    if timeseries_every:
        import pandas as pd

        recorded = np.arange(timeseries_every, steps + 1, timeseries_every)
        ts = pd.DataFrame({"step": recorded,
                           "involvement_mean": inv * (1 - np.exp(-recorded / 20.0)),
                           "stress_mean": stress * (1 - np.exp(-recorded / 30.0))})
    return FakeResult(summary, ts, p, int(seed) if seed is not None else 0)


def failing_simulate(scenario=None, overrides=None, **kwargs) -> FakeResult:
    """Like :func:`fake_simulate` but raises for every point with ``caseload_cap > 50``."""
    p = resolve_params(scenario, overrides)
    if p["caseload_cap"] > 50:
        raise RuntimeError(f"injected failure: caseload_cap={p['caseload_cap']} is over 50")
    return fake_simulate(scenario, overrides, **kwargs)


def unsendable_simulate(scenario=None, overrides=None, **kwargs) -> FakeResult:
    """Like :func:`fake_simulate`, but for ``caseload_cap > 50`` the run succeeds and its time
    series cannot be pickled: a process pool loses the whole chunk (a task-level failure, not a
    failing run)."""
    p = resolve_params(scenario, overrides)
    result = fake_simulate(scenario, overrides, **kwargs)
    if p["caseload_cap"] > 50 and result.timeseries is not None:
        result.timeseries["unsendable"] = [lambda: None] * len(result.timeseries)
    return result


def slow_simulate(scenario=None, overrides=None, **kwargs) -> FakeResult:
    """Like :func:`fake_simulate` but takes about 20 ms (for interruption tests)."""
    time.sleep(0.02)
    return fake_simulate(scenario, overrides, **kwargs)
