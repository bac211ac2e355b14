"""How outputs are shown to people: short labels of the summary keys in groups, the names and
colours of the involvement ladder and the pressure levels, and the smoothing of weekly shares.

One place for all views (``carepath run``'s printout and figure, the browser view, the
experiment report), so that the same ladder looks and reads the same everywhere. Each key's
full definition (scale, computation, evidence) is in docs/ODD.md, section 7.13. Every key of
``SUMMARY_KEYS`` is in exactly one group (tested).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LADDER_COLOURS", "LADDER_LABELS", "PRESSURE_COLOURS", "PRESSURE_LABELS",
           "SMOOTH_WEEKS", "SUMMARY_GROUPS", "stacked_share", "summary_label",
           "trailing_mean"]

#: Involvement ladder levels 0-4 (``involvement_share_0`` ... ``_4``; ODD 7.7).
LADDER_LABELS = ("0 overridden", "1 informed", "2 consulted", "3 shared", "4 patient-led")
#: ColorBrewer RdBu: red (overridden) to blue (patient-led); safe for colour-blind viewers.
LADDER_COLOURS = ("#b2182b", "#ef8a62", "#fddbc7", "#67a9cf", "#2166ac")
#: Pressure levels 0-4 (``pressure_share_0`` ... ``_4``; Szmukler & Appelbaum 2008).
#: (Two lines for level 1, so that the legend fits beside the browser's charts.)
PRESSURE_LABELS = ("0 none / persuasion", "1 interpersonal\n   leverage", "2 offer / deal",
                   "3 threat", "4 compulsion")
PRESSURE_COLOURS = ("#e0e0e0", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000")

#: Weekly shares are noisy (a few dozen decisions a week): figures show 4-week means.
SMOOTH_WEEKS = 4


def trailing_mean(x, weeks: int = SMOOTH_WEEKS) -> np.ndarray:
    """Mean of each week and the ``weeks - 1`` before it (fewer at the start), skipping weeks
    with nothing to measure (NaN: e.g. no decisions); NaN where all of them are."""
    a = np.asarray(x, dtype=float)
    ok = ~np.isnan(a)
    total = np.concatenate([[0.0], np.cumsum(np.where(ok, a, 0.0))])
    count = np.concatenate([[0], np.cumsum(ok)])
    n = np.arange(1, len(a) + 1)
    lo = np.maximum(0, n - weeks)
    m = count[n] - count[lo]
    return np.where(m > 0, (total[n] - total[lo]) / np.maximum(m, 1), np.nan)


def stacked_share(x, weeks: int = SMOOTH_WEEKS) -> np.ndarray:
    """:func:`trailing_mean` for a stacked chart of shares: weeks with nothing to show are 0."""
    return np.nan_to_num(trailing_mean(x, weeks))


#: (group title, ((key, label), ...)) in reading order.
SUMMARY_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Involvement in decisions", (
        ("involvement_mean", "mean ladder level, 0 overridden .. 4 patient-led"),
        ("involvement_share_0", "share of decisions: 0 overridden"),
        ("involvement_share_1", "share of decisions: 1 informed"),
        ("involvement_share_2", "share of decisions: 2 consulted"),
        ("involvement_share_3", "share of decisions: 3 shared"),
        ("involvement_share_4", "share of decisions: 4 patient-led"),
        ("role_concordance", "share where the role taken was the role preferred"),
        ("clinician_rated_involvement", "clinicians' rating, 0-4"),
        ("patient_rated_involvement", "patients' rating, 0-4"),
        ("involvement_rating_gap", "clinician minus patient rating"),
        ("internal_locus_low_mean", "locus of control of low-locus patients, 0-1"),
        ("involvement_low_locus_mean", "mean ladder level with low-locus patients"),
        ("decisions", "contested decisions in the window"),
    )),
    ("Pressure and leverage", (
        ("pressure_share_0", "share of decisions: 0 no pressure / persuasion"),
        ("pressure_share_1", "share of decisions: 1 interpersonal leverage"),
        ("pressure_share_2", "share of decisions: 2 offer / deal"),
        ("pressure_share_3", "share of decisions: 3 threat"),
        ("pressure_share_4", "share of decisions: 4 compulsion"),
        ("authority_share", "share of decisions in an authority mode"),
        ("threats_per_100", "threats per 100 patient-years in care"),
        ("leverage_prevalence", "share of patients who met an offer or threat in the window"),
        ("leverage_prevalence_housing", "... with housing as the lever"),
        ("leverage_prevalence_money", "... with money as the lever"),
        ("leverage_prevalence_services", "... with services as the lever"),
        ("leverage_prevalence_compulsion", "... with compulsion as the lever"),
        ("leverage_prevalence_ever", "share who met one at any time since the run began"),
        ("leverage_prevalence_ever_housing", "... with housing as the lever"),
        ("leverage_prevalence_ever_money", "... with money as the lever"),
        ("leverage_prevalence_ever_services", "... with services as the lever"),
        ("leverage_prevalence_ever_compulsion", "... with compulsion as the lever"),
        ("leverage_ever_substance_misuse", "share of those who misuse substances who met one "
                                           "at any time since the run began"),
        ("leverage_ever_no_substance_misuse", "... of those who do not misuse substances"),
        ("perceived_coercion_mean", "patients' perceived coercion, 0-1"),
    )),
    ("Reciprocal deals", (
        ("deals_offered", "decisions where a deal was proposed"),
        ("deals_made", "deals agreed"),
        ("deal_acceptance_rate", "deals agreed / deals proposed"),
        ("deals_honoured", "deals due and honoured by both sides"),
        ("deals_broken", "deals due and broken by either side"),
        ("deals_broken_by_service", "... of which the service broke its side"),
        ("deals_honoured_share", "honoured / (honoured + broken)"),
        ("deals_lapsed", "deals lapsed because the patient left care"),
        ("reciprocity_share", "share of decisions settled by a deal"),
    )),
    ("Trust and wellbeing", (
        ("trust_mean", "patients' trust in clinicians, 0-1"),
        ("trust_cp_mean", "clinicians' trust in patients, 0-1"),
        ("felt_safety_mean", "patients' felt safety, 0-1"),
        ("internal_locus_mean", "patients' internal locus of control, 0-1"),
        ("recovery_mean", "patients' recovery index, 0-1"),
    )),
    ("Hospital, compulsion and leaving care", (
        ("compulsory_admissions_per_100", "compulsory admissions per 100 patient-years in care"),
        ("voluntary_admissions_per_100", "voluntary admissions per 100 patient-years in care"),
        ("readmissions_per_100", "readmissions per 100 patient-years in care"),
        ("readmission_12m_after_compulsory", "share readmitted within 12 months of a "
                                             "compulsory stay"),
        ("cto_per_100", "community treatment orders started per 100 patient-years"),
        ("disengagement_rate", "disengagements per patient-year in care"),
    )),
    ("Resources and access", (
        ("rationing_rate", "share of service and housing decisions with no place offered"),
        ("routinizing_rate", "share of decisions with a single option"),
        ("options_offered_mean", "options on the table per decision, 1-3"),
        ("contact_shortfall", "share of needed contacts not made"),
        ("waiting_weeks_mean", "weeks from referral to start of care"),
        ("waiting_list_mean", "people waiting (weekly mean)"),
        ("patients_in_care_mean", "people in care (weekly mean)"),
    )),
    ("Clinicians", (
        ("stress_mean", "stress, 0-1"),
        ("burnout_share", "share above the burnout threshold"),
        ("defensiveness_mean", "defensiveness, 0-1"),
    )),
)

_LABELS = {k: label for _, keys in SUMMARY_GROUPS for k, label in keys}


def summary_label(key: str) -> str:
    """A few words saying what the summary key ``key`` measures ('' if it has none)."""
    return _LABELS.get(key, "")
