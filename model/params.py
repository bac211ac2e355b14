"""The parameter schema: the one place where every default, range, unit and source lives.

Everything else derives from :data:`SCHEMA`: the model constructor validates against it, the
CLI's ``--set`` and ``carepath params`` read it, the browser controls are generated from it,
experiment files are checked against it, and ``docs/parameters.md`` is generated from it
(``python -m model.docgen``).

Source keys (``S1`` … ``S5``) refer to the seed papers (see ``docs/ODD.md``, section 7);
other sources are given in full in the ODD's reference list.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CarePathError",
    "GROUPS",
    "SCHEMA",
    "Param",
    "ParameterError",
    "coerce_value",
    "defaults",
    "validate",
]


class CarePathError(Exception):
    """Base class of every domain error (bad input, bad experiment file, …).

    The CLI prints these as one line and exits non-zero; anything else is a bug.
    """


class ParameterError(CarePathError, ValueError):
    """Bad model input: names the parameter, the value given, what is allowed and where from."""

    def __init__(self, name: str, value: Any, allowed: str, source: str | None = None,
                 unknown: bool = False):
        self.name = name
        self.value = value
        self.allowed = allowed
        self.source = source
        where = f" (from {source})" if source else ""
        if unknown:
            msg = f"unknown parameter '{name}'{where}; allowed: {allowed}"
        else:
            msg = f"parameter '{name}'{where}: got {value!r}; allowed: {allowed}"
        super().__init__(msg)


def format_value(v: Any) -> str:
    """A parameter value as text: booleans as true/false (TOML), floats in ``:g`` form."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Param:
    """One declared model parameter."""

    name: str
    kind: str  # "float" | "int" | "bool"
    default: Any
    low: float | None = None
    high: float | None = None
    unit: str = ""
    meaning: str = ""
    source: str = ""
    group: str = "service"
    lever: bool = False  # a policy lever (brief, "Policy levers")
    label: str = ""  # short plain-language label for controls

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        return f"{self.kind} in [{self.low:g}, {self.high:g}]"

    def check(self, value: Any, source: str | None = None) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParameterError."""
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ParameterError(self.name, value, self.allowed(), source)
        if isinstance(value, bool):  # bool is an int subclass: refuse it for numbers
            raise ParameterError(self.name, value, self.allowed(), source)
        if self.kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, numbers.Integral):
                raise ParameterError(self.name, value, self.allowed(), source)
            value = int(value)
        else:
            if not isinstance(value, numbers.Real):
                raise ParameterError(self.name, value, self.allowed(), source)
            value = float(value)
            if math.isnan(value):
                raise ParameterError(self.name, value, self.allowed(), source)
        if not (self.low <= value <= self.high):
            raise ParameterError(self.name, value, self.allowed(), source)
        return value

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")


GROUPS: dict[str, str] = {
    "service": "Service structure and resources",
    "levers": "Policy levers",
    "patients": "Patient population",
    "clinicians": "Clinician population",
    "illness": "Illness, risk and crisis",
    "encounter": "Encounter: influence modes and responses",
    "updates": "Updates: trust, coercion, recovery, stress, learning",
}


def _p(name, kind, default, low=None, high=None, unit="", meaning="", source="", group="service",
       lever=False, label=""):
    return Param(name, kind, default, low, high, unit, meaning, source, group, lever, label)


_PARAMS: list[Param] = [
    # ------------------------------------------------------------------ service structure
    _p("n_clinicians", "int", 16, 1, 1000, "clinicians",
       "Care coordinators in the service (staffing).",
       "Brief (CMHT of 5-30 clinicians); S4", "service", True, "Clinicians (staffing)"),
    _p("caseload_cap", "int", 32, 5, 150, "patients per clinician",
       "Maximum caseload per clinician; intake stops for a clinician at the cap.",
       "S4; England care-coordinator caseloads (docs/calibration-sources.md)", "service", True,
       "Caseload cap"),
    _p("referrals_per_week", "float", 12.0, 0.0, 1000.0, "referrals / week",
       "New referrals reaching the service's waiting list each week (Poisson mean).",
       "calibrated (docs/validation.md): a CMHT at capacity with a standing waiting list; mean "
       "wait 6-16 weeks (Rethink 2018; CQC 2023)", "service",
       False, "Referrals per week"),
    _p("intake_per_clinician_week", "float", 1.0, 0.0, 5.0, "assessments / clinician / week",
       "Assessment slots per clinician per week; new patients start care only through them.",
       "Assumption; S4 (capacity-limited intake)", "service", False, "Intake slots"),
    _p("contact_hours_per_week", "float", 18.0, 2.0, 37.5, "hours / clinician / week",
       "Direct-contact hours in a clinician's weekly time budget.",
       "Assumption (about half of a 37.5 h week in direct contact); S4", "service", False,
       "Contact hours"),
    _p("admin_share", "float", 0.15, 0.0, 0.8, "share of contact hours",
       "Share of contact hours lost to documentation and meetings.",
       "Assumption; S4 (care-pathway documentation)", "service", False, "Admin share"),
    _p("need_base_hours", "float", 0.3, 0.0, 5.0, "hours / patient / week",
       "Contact a patient needs each week regardless of acuity.",
       "Assumption (fortnightly to monthly visits when stable)", "service"),
    _p("need_acuity_hours", "float", 1.1, 0.0, 10.0, "hours / patient / week per unit acuity",
       "Extra contact needed per unit of acuity.", "Assumption", "service"),
    _p("therapy_places_per_100", "float", 8.0, 0.0, 100.0, "places / 100 caseload places",
       "Psychological-therapy places (scarce service).", "S4 (service gap); assumption",
       "service", False, "Therapy places"),
    _p("housing_places_per_100", "float", 6.0, 0.0, 100.0, "places / 100 caseload places",
       "Housing-support places (scarce, service-controlled resource).", "S2; assumption",
       "service", False, "Housing places"),
    _p("service_weeks", "int", 20, 1, 104, "weeks",
       "Minimum weeks in care before a discharge can be proposed (patients must also be "
       "stable). Also spreads the initial caseload's weeks in care over 0 to 2 x service_weeks.",
       "Assumption (an episode of at least a few months)", "service"),
    # ------------------------------------------------------------------ policy levers
    _p("sdm_training", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Shared-decision-making training: raises clinicians' SDM skill over months, lowers the "
       "target of their expert identity by 0.1, and raises awareness (see the J-curve).",
       "S3 (open communication); Hamann et al. 2006", "levers", True, "SDM training"),
    _p("peer_advocate_coverage", "float", 0.05, 0.0, 1.0, "share of patients",
       "Share of patients with a peer or independent advocate, drawn once at referral (the "
       "initial population included) and never changed; a change during a run reaches only new "
       "referrals.",
       "S5 (lack of advocacy support); Lloyd-Evans et al. 2014", "levers", True,
       "Peer advocates"),
    _p("advance_statement_coverage", "float", 0.05, 0.0, 1.0, "share of patients",
       "Share of patients with an advance statement / joint crisis plan, drawn once at referral "
       "(the initial population included) and never changed; a change during a run reaches "
       "only new referrals.",
       "S3 (formal agreements, 'contracts'); Henderson et al. 2004", "levers", True,
       "Advance statements"),
    _p("advance_statement_quality", "float", 0.6, 0.0, 1.0, "0-1",
       "How specific and usable advance statements are (scales their effect in a crisis).",
       "S3; Thornicroft et al. 2013 (implementation quality)", "levers", True,
       "Advance statement quality"),
    _p("advance_statement_honour_rate", "float", 0.6, 0.0, 1.0, "probability",
       "Probability an advance statement is consulted and honoured in a crisis decision.",
       "S3; Thornicroft et al. 2013", "levers", True, "Advance statements honoured"),
    _p("trauma_informed_care", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Trauma-informed care: softens the harm of pressure on felt safety and coercion, buffers "
       "trust losses, raises the felt-safety target of people with a trauma history (+0.1 x "
       "intensity x trauma), and lowers clinicians' use of threats and compulsion.", "S5",
       "levers", True, "Trauma-informed care"),
    _p("pathway_time_targets", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Care-pathway time targets and standardisation: more intake, more documentation, more "
       "routinizing, plus a participation goal (ambiguous effect).", "S4", "levers", True,
       "Pathway time targets"),
    _p("involvement_mandate", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Top-down mandate to involve service users (a target, without resources).", "S4; S3",
       "levers", True, "Involvement mandate"),
    _p("reflective_supervision", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Reflective practice/supervision: turns the discomfort of awareness into insight, "
       "lowers defensiveness and stress, and rewards involvement in learning.", "S1", "levers",
       True, "Reflective supervision"),
    _p("org_support", "float", 0.0, 0.0, 1.0, "intensity 0-1",
       "Organisational top-down support and protected time for partnership work.", "S3",
       "levers", True, "Organisational support"),
    _p("leverage_limit", "float", 0.0, 0.0, 1.0, "probability",
       "Limits on informal leverage: probability that an offer or threat using housing, money "
       "or services is ruled out by policy.", "S2", "levers", True, "Limit on leverage"),
    _p("psychosocial_places_per_100", "float", 10.0, 0.0, 100.0, "places / 100 caseload places",
       "Capacity of psychosocial programmes (a scarce service; also supports recovery).",
       "S5; S4", "levers", True, "Psychosocial places"),
    _p("continuity_of_care", "float", 0.8, 0.05, 1.0, "probability per year",
       "Probability a patient keeps the same clinician over a year (1 = no reallocation).",
       "S2 (relationships take time); assumption", "levers", True, "Continuity of care"),
    _p("compulsion_available", "bool", True, meaning=
       "Legal compulsion (detention; community treatment orders) is available to clinicians.",
       source="S2; Mental Health Act 1983 (England)", group="levers", lever=True,
       label="Compulsion available"),
    _p("cto_available", "bool", True, meaning=
       "Community treatment orders can be used (for patients detained before). False keeps "
       "detention available: the contrast of the OCTET trial (CTO vs Section 17 leave).",
       source="Mental Health Act 2007 (England); Burns et al. 2013 (OCTET)", group="levers",
       lever=True, label="CTOs available"),
    _p("compulsion_risk_threshold", "float", 0.7, 0.0, 1.0, "risk 0-1",
       "Risk at or above which legal compulsion may be used.", "S2; Mental Health Act criteria",
       "levers", True, "Compulsion risk threshold"),
    # ------------------------------------------------------------------ patients
    _p("initial_fill", "float", 0.95, 0.0, 1.5, "share of total caseload capacity",
       "Patients in care at week 0, as a share of n_clinicians x caseload_cap (initialisation).",
       "Assumption (a service near capacity)", "patients"),
    _p("initial_waiting_per_clinician", "float", 4.0, 0.0, 50.0, "patients / clinician",
       "Patients on the waiting list at week 0.",
       "Assumption (a standing list at start; docs/validation.md)", "patients"),
    _p("share_prefer_passive", "float", 0.30, 0.0, 1.0, "share",
       "Share of patients who prefer a passive decision role (Control Preferences Scale).",
       "De las Cuevas et al. 2014 (35%); Michaelis et al. 2017 (24%); "
       "docs/calibration-sources.md", "patients"),
    _p("share_prefer_active", "float", 0.15, 0.0, 1.0, "share",
       "Share who prefer an active role; the rest prefer a collaborative role.",
       "De las Cuevas et al. 2014 (2%); Michaelis et al. 2017 (19%); docs/validation.md",
       "patients"),
    _p("housing_dependency", "float", 0.38, 0.0, 1.0, "share",
       "Share of patients whose housing depends on the service (supported housing, tenancy "
       "support) - what makes a housing deal or threat possible.", "S2; Burns et al. 2011",
       "patients"),
    _p("money_dependency", "float", 0.25, 0.0, 1.0, "share",
       "Share of patients whose money is service-managed (appointeeship, benefits help).",
       "S2; Burns et al. 2011", "patients"),
    _p("substance_misuse_prevalence", "float", 0.44, 0.0, 1.0, "share",
       "Share of patients with past-year problem drug use or harmful alcohol use (fixed at "
       "referral); offers and threats cluster in this group (substance_leverage_bias).",
       "Weaver et al. 2003 (COSMIC: 44% of CMHT patients, 95% CI 38-50%)", "patients"),
    _p("trauma_prevalence", "float", 0.5, 0.0, 1.0, "share",
       "Share of patients with a trauma history (high coercion sensitivity).",
       "S5; trauma exposure in severe mental illness (ODD)", "patients"),
    _p("reluctance_mean", "float", 0.3, 0.01, 0.99, "0-1",
       "Mean reluctance to receive services at referral (insight, stigma, past coercion).",
       "S2 (reluctant patients)", "patients"),
    _p("mean_social_ties", "float", 3.0, 0.0, 20.0, "ties / patient",
       "Mean number of ties to other patients in the patient social network.",
       "Assumption; S5 (connectedness)", "patients"),
    # ------------------------------------------------------------------ clinicians
    _p("defensiveness_mean", "float", 0.4, 0.0, 1.0, "0-1",
       "Mean trait defensiveness of clinicians (psychological defences against stress).", "S1",
       "clinicians", False, "Defensiveness"),
    _p("expert_identity_mean", "float", 0.6, 0.0, 1.0, "0-1",
       "Mean strength of professional ('expert') identity.", "S3", "clinicians"),
    _p("sdm_skill_mean", "float", 0.4, 0.0, 1.0, "0-1",
       "Mean communication / shared-decision-making skill before training.", "S3", "clinicians"),
    _p("colleague_ties", "int", 4, 0, 50, "ties / clinician",
       "Ties per clinician in the team: the Watts-Strogatz ring degree, at most n_clinicians - 1 and "
       "rounded down to an even number; 0 or 1 means no ties (no team norms), except in a team "
       "of two, which has its one tie.", "Assumption",
       "clinicians"),
    _p("propensity_share", "float", 0.95, -5.0, 5.0, "log-weight",
       "Initial propensity to share decisions (relative to persuasion).",
       "S3; calibrated (docs/validation.md: CQC 2023 shared decisions)",
       "clinicians"),
    _p("propensity_persuade", "float", 0.0, -5.0, 5.0, "log-weight",
       "Initial propensity to persuade (reference mode).", "Szmukler & Appelbaum 2008",
       "clinicians"),
    _p("propensity_leverage", "float", -1.8, -5.0, 5.0, "log-weight",
       "Initial propensity to use interpersonal leverage.", "Szmukler & Appelbaum 2008",
       "clinicians"),
    _p("propensity_deal", "float", -2.1, -5.0, 5.0, "log-weight",
       "Initial propensity to offer a deal (resource conditional on adherence).",
       "S2; calibrated (docs/validation.md: leverage prevalence, Burns et al. 2011)",
       "clinicians"),
    _p("propensity_threaten", "float", -4.8, -5.0, 5.0, "log-weight",
       "Initial propensity to threaten (withdrawal of a resource, or compulsion).",
       "S2; calibrated (docs/validation.md: leverage prevalence, Burns et al. 2011)",
       "clinicians"),
    _p("substance_leverage_bias", "float", 1.8, 0.0, 5.0, "log-weight",
       "Added to the utility of an offer and of a threat when the patient misuses substances: "
       "leverage concentrates in a persistent subgroup.",
       "Burns et al. 2011 (leverage 63% lifetime in a substance-misuse sample vs 30-33% in "
       "psychosis); calibrated (docs/validation.md)", "clinicians"),
    _p("leverage_history_bias", "float", 2.0, 0.0, 5.0, "log-weight",
       "Added to the utility of an offer and of a threat when the patient has met leverage "
       "before (any type, at any time since the run began, in any episode of care): a lever "
       "once used stays on the table, so leverage recurs in the same people over time.",
       "Monahan et al. 2005 (leverage concentrated in patients with repeated admissions and "
       "intensive service use); calibrated (docs/validation.md)", "clinicians"),
    _p("propensity_compel", "float", -0.5, -5.0, 5.0, "log-weight",
       "Initial propensity to compel when compulsion is legally open.", "S2", "clinicians"),
    # ------------------------------------------------------------------ illness
    _p("acuity_reversion", "float", 0.08, 0.0, 1.0, "per week",
       "Rate at which acuity returns to the patient's baseline.", "Assumption", "illness"),
    _p("acuity_noise", "float", 0.05, 0.0, 0.5, "sd per week",
       "Weekly random variation in acuity.", "Assumption", "illness"),
    _p("treatment_effect", "float", 0.012, 0.0, 0.2, "acuity / week",
       "Weekly fall in acuity for a patient in care and adherent to the agreed plan.",
       "Assumption", "illness"),
    _p("therapy_effect", "float", 0.01, 0.0, 0.2, "acuity / week",
       "Extra weekly fall in acuity while in therapy or a psychosocial programme.", "S5; S4",
       "illness"),
    _p("crisis_rate", "float", 0.0008, 0.0, 0.2, "per week",
       "Weekly crisis hazard at mid acuity (grows with acuity).",
       "calibrated (docs/validation.md: compulsory admissions, NHS England MHA statistics)",
       "illness"),
    _p("post_discharge_crisis", "float", 0.03, 0.0, 0.5, "per week",
       "Extra weekly crisis hazard just after leaving hospital; it halves every 13 weeks "
       "(0 = no post-discharge risk).",
       "calibrated (docs/validation.md: readmission within 12 months of discharge from a "
       "compulsory stay, 36% in both OCTET arms, Burns et al. 2013)", "illness"),
    _p("admission_weeks", "float", 6.0, 1.0, 52.0, "weeks",
       "Mean length of a voluntary hospital stay; compulsory stays are 1.5 times longer "
       "(COMPULSORY_STAY_FACTOR). Each stay is max(1, Poisson(mean)) weeks.",
       "NHS England mental health bed-days (about 30-45 days); assumption", "illness"),
    # ------------------------------------------------------------------ encounter
    _p("contested_base", "float", 0.12, 0.0, 1.0, "probability per contact",
       "Probability that a contact carries a contested decision, at zero acuity and reluctance.",
       "Assumption; S2", "encounter"),
    _p("deal_trust_threshold", "float", 0.45, 0.0, 1.0, "trust 0-1",
       "Clinician-to-patient trust below which no deal is offered.", "S2 (trust gates deals)",
       "encounter", False, "Trust needed for a deal"),
    _p("deal_weeks", "int", 8, 1, 52, "weeks",
       "Weeks until a deal falls due (honoured or broken).", "S2; assumption", "encounter"),
    _p("mode_temperature", "float", 1.0, 0.05, 10.0, "",
       "Noise in the clinician's choice of influence mode (softmax temperature).", "Assumption",
       "encounter"),
    # ------------------------------------------------------------------ updates
    _p("trust_gain", "float", 0.08, 0.0, 1.0, "per event",
       "Step size of trust updates after an experience; losses use it times trust_loss_ratio.",
       "S2; assumption", "updates"),
    _p("trust_loss_ratio", "float", 2.5, 1.0, 10.0, "x",
       "Losses of trust are this many times larger than gains (asymmetry).",
       "Slovic 1993 (trust asymmetry); S2", "updates"),
    _p("trust_decay", "float", 0.01, 0.0, 0.5, "per week",
       "Weekly drift of dyadic trust back to the patient's trust in services.", "Assumption",
       "updates"),
    _p("coercion_memory", "float", 0.3, 0.01, 1.0, "weight",
       "Weight of a new pressure experience in perceived coercion (exponential average).",
       "Lidz et al. 1998; assumption", "updates"),
    _p("stress_rate", "float", 0.1, 0.0, 1.0, "per week",
       "Rate at which clinician stress moves towards its load-driven target.", "S1; assumption",
       "updates"),
    _p("authority_relief", "float", 0.01, 0.0, 0.5, "stress per use",
       "Short-run stress relief per use of authority (threat, compulsion, interpersonal "
       "leverage), for at most 3 uses a week.", "S1", "updates"),
    _p("burnout_rate", "float", 0.02, 0.0, 1.0, "per week",
       "Rate at which burnout follows sustained stress.", "Maslach; assumption", "updates"),
    _p("burnout_threshold", "float", 0.57, 0.0, 1.0, "burnout 0-1",
       "Burnout index above which a clinician counts as burnt out.",
       "calibrated: docs/validation.md (emotional exhaustion prevalence, O'Connor et al. 2018)",
       "updates"),
    _p("learning_rate", "float", 0.05, 0.0, 1.0, "per decision",
       "How fast clinicians' mode propensities follow experienced reward.", "S1; assumption",
       "updates"),
    _p("norm_diffusion", "float", 0.02, 0.0, 1.0, "per week",
       "How fast propensities move toward colleagues' (team norms).", "Assumption", "updates"),
    _p("network_influence", "float", 0.05, 0.0, 1.0, "per week",
       "How fast patients' trust in services follows what their ties experience.", "S5; assumption",
       "updates"),
    _p("disengage_rate", "float", 0.001, 0.0, 0.2, "per week",
       "Baseline weekly hazard of dropping out of care (before trust, coercion, reluctance).",
       "calibrated (docs/validation.md: O'Brien et al. 2009, 5-20% a year)", "updates"),
    # ------------------------------------------------------------------ outputs
    _p("event_log", "bool", False, meaning="Keep a per-decision event log (off for sweeps).",
       source="", group="service"),
]

SCHEMA: dict[str, Param] = {p.name: p for p in _PARAMS}
assert len(SCHEMA) == len(_PARAMS), "duplicate parameter name in schema"


def defaults() -> dict[str, Any]:
    """A fresh dict of every parameter at its schema default."""
    return {name: p.default for name, p in SCHEMA.items()}


def coerce_value(name: str, text: str, source: str | None = None) -> Any:
    """Parse a text value (CLI ``--set``, a browser text box) into the parameter's type."""
    if name not in SCHEMA:
        raise ParameterError(name, text, _unknown_hint(name), source, unknown=True)
    p = SCHEMA[name]
    raw = text.strip()
    if p.kind == "bool":
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ParameterError(name, text, p.allowed(), source)
    try:
        value: Any = float(raw) if p.kind == "float" else _parse_int(raw)
    except ValueError:
        raise ParameterError(name, text, p.allowed(), source) from None
    return p.check(value, source)


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        f = float(raw)
        if f.is_integer():
            return int(f)
        raise


def did_you_mean(word: Any, choices) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names in ``choices`` closest to ``word`` (case
    ignored), or ``""``: the one hint every bad-name error of carepath gives."""
    import difflib

    names = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(names), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(names[c]) for c in close)}?" if close else ""


def _unknown_hint(name: str) -> str:
    return "a parameter name from the schema (see `carepath params`)" + did_you_mean(name, SCHEMA)


def validate(values: Mapping[str, Any], source: str | None = None,
             complete: bool = False) -> dict[str, Any]:
    """Check names, types and ranges of ``values`` and cross-parameter consistency.

    Returns a new dict with converted values. With ``complete=True`` the result holds every
    parameter (defaults filled in) and the cross-parameter checks are run.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in SCHEMA:
            raise ParameterError(name, value, _unknown_hint(name), source, unknown=True)
        out[name] = SCHEMA[name].check(value, source)
    if complete:
        full = defaults()
        full.update(out)
        _check_consistency(full, source)
        return full
    return out


def _check_consistency(p: Mapping[str, Any], source: str | None) -> None:
    shares = p["share_prefer_passive"] + p["share_prefer_active"]
    if shares > 1.0 + 1e-12:
        raise ParameterError(
            "share_prefer_active", p["share_prefer_active"],
            f"share_prefer_passive + share_prefer_active <= 1 (passive is "
            f"{p['share_prefer_passive']:g})", source)
    if p["intake_per_clinician_week"] <= 0 and p["referrals_per_week"] > 0 \
            and p["initial_fill"] == 0:
        raise ParameterError(
            "intake_per_clinician_week", p["intake_per_clinician_week"],
            "> 0 when referrals arrive and nobody starts in care (no one could ever be seen)",
            source)
