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

from .model import STEP_KEYS, SUMMARY_KEYS, CarePathScenario, CarePathwayModel
from .params import GROUPS, SCHEMA, CarePathError, Param, ParameterError, defaults, validate
from .run import RunResult, simulate
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, resolve_params
from .submodels import Decision, Mode, Response, Role, Status

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SCENARIO", "GROUPS", "SCENARIOS", "SCHEMA", "STEP_KEYS", "SUMMARY_KEYS",
    "CarePathError", "CarePathScenario", "CarePathwayModel", "Decision", "Mode", "Param",
    "ParameterError", "Response", "Role", "Status",
    "RunResult", "Scenario", "defaults", "resolve_params", "simulate", "validate",
]
