"""Named scenarios: parameter overrides defined once, shared by the CLI, browser and experiments.

A scenario is a set of overrides on the schema defaults (``model.params.SCHEMA``). The default
scenario, ``england_cmht``, is the schema defaults themselves, so it overrides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .params import ParameterError, did_you_mean, validate

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario", "check_scenario", "resolve_params"]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


_SCENARIOS = [
    Scenario(
        "england_cmht",
        "England-like community mental health team (default)",
        "16 care coordinators with caseloads capped at 32, a standing waiting list, scarce "
        "therapy, housing and psychosocial places, legal compulsion available at high risk, "
        "little advocacy or advance-statement use. Calibrated to English figures where they "
        "exist (docs/validation.md).",
        {},
    ),
    Scenario(
        "high_caseload",
        "High caseload / austerity",
        "Fewer clinicians for the same referrals (12 instead of 16, caseload cap 45), fewer "
        "contact hours and scarce places cut by a third.",
        {
            "n_clinicians": 12,
            "caseload_cap": 45,
            "contact_hours_per_week": 16.0,
            "therapy_places_per_100": 5.0,
            "housing_places_per_100": 4.0,
            "psychosocial_places_per_100": 6.0,
        },
    ),
    Scenario(
        "partnership_reform",
        "Partnership reform",
        "The default service plus shared-decision-making training, reflective supervision, "
        "peer advocates, organisational support with protected time, and a mandate to involve "
        "service users (S1, S3, S5).",
        {
            "sdm_training": 0.8,
            "reflective_supervision": 0.8,
            "peer_advocate_coverage": 0.6,
            "org_support": 0.8,
            "involvement_mandate": 0.5,
        },
    ),
    Scenario(
        "coercive_climate",
        "Coercive climate",
        "Compulsion used at lower risk, more defensive clinicians more ready to threaten and to "
        "use informal leverage, and no peer advocates or advance statements. As in the default "
        "service, informal leverage is not limited and care is not trauma-informed.",
        {
            "compulsion_risk_threshold": 0.5,
            "defensiveness_mean": 0.65,
            "propensity_threaten": -1.2,
            "propensity_leverage": -0.6,
            "peer_advocate_coverage": 0.0,
            "advance_statement_coverage": 0.0,
        },
    ),
    Scenario(
        "norway_outpatient",
        "Norwegian outpatient clinic with care-pathway time targets",
        "A DPS outpatient clinic after the 2019 care pathways (S4): larger caseloads of less "
        "acute patients, time targets and standardised packages, a participation goal, welfare "
        "resources (housing, money) outside the clinic's control, compulsion rarely at stake.",
        {
            "caseload_cap": 45,
            "contact_hours_per_week": 20.0,
            "referrals_per_week": 9.0,
            "intake_per_clinician_week": 0.6,
            "pathway_time_targets": 0.8,
            "involvement_mandate": 0.6,
            "housing_dependency": 0.05,
            "money_dependency": 0.03,
            "need_acuity_hours": 0.8,
            "compulsion_risk_threshold": 0.85,
        },
    ),
    Scenario(
        "whole_provider",
        "Whole provider (10x the default service)",
        "The default service scaled ten times: 160 clinicians and ten times the referrals. "
        "Used for the scaling benchmark; behaviour per patient matches the default.",
        {"n_clinicians": 160, "referrals_per_week": 120.0},
    ),
]

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}
DEFAULT_SCENARIO = "england_cmht"

# Every scenario's overrides must be valid: fail at import, not in a user's run.
for _s in _SCENARIOS:
    validate(_s.overrides, source=f"scenario '{_s.name}'", complete=True)


def check_scenario(name: str, source: str | None = None) -> str:
    """``name`` if it names a scenario; otherwise a ParameterError naming the choices and
    ``source`` (where the name came from)."""
    if name not in SCENARIOS:
        raise ParameterError("scenario", name,
                             "one of " + ", ".join(SCENARIOS) + did_you_mean(name, SCENARIOS),
                             source)
    return name


def resolve_params(scenario: str | None = None, overrides: Mapping[str, Any] | None = None,
                   source: str | None = None) -> dict[str, Any]:
    """Full, validated parameter dict: schema defaults < scenario overrides < ``overrides``."""
    name = check_scenario(scenario or DEFAULT_SCENARIO, source)
    merged = dict(SCENARIOS[name].overrides)
    merged.update(validate(overrides or {}, source=source))
    return validate(merged, source=source, complete=True)
