"""carepath: an agent-based model of power, trust and involvement in mental-health care pathways.

Public API::

    from model import CarePathwayModel, SCENARIOS, SCHEMA, simulate
    m = CarePathwayModel("england_cmht", rng=42)
    for _ in range(156):
        m.step()
    m.summary()          # flat dict over the last 52 weeks (keys: SUMMARY_KEYS)
    m.timeseries()       # per-week outputs (Mesa DataCollector)

See docs/ODD.md for the model description and docs/parameters.md for every parameter.
"""

from __future__ import annotations

import importlib

from .params import GROUPS, SCHEMA, CarePathError, Param, ParameterError, defaults, validate
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, resolve_params

__version__ = "0.1.0"

# The model itself (Mesa, numba, networkx: about 0.8 s to import) is loaded when first used, so
# that the command line's listings, --help and input errors, and ``python -m model.docgen``,
# start at once.
_LAZY = {
    "STEP_KEYS": "model", "SUMMARY_KEYS": "model", "CarePathScenario": "model",
    "CarePathwayModel": "model", "RunResult": "run", "simulate": "run",
    "Decision": "submodels", "Mode": "submodels", "Response": "submodels", "Role": "submodels",
    "Status": "submodels",
}

__all__ = [
    "DEFAULT_SCENARIO", "GROUPS", "SCENARIOS", "SCHEMA", "STEP_KEYS", "SUMMARY_KEYS",
    "CarePathError", "CarePathScenario", "CarePathwayModel", "Decision", "Mode", "Param",
    "ParameterError", "Response", "Role", "Status",
    "RunResult", "Scenario", "defaults", "resolve_params", "simulate", "validate",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
