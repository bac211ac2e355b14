"""Short labels of the summary keys, in groups, for people reading a run's summary.

Each key's full definition (scale, computation, evidence) is in docs/ODD.md, section 7.13; this
table only says in a few words what a number is, so that ``carepath run`` can print a summary a
newcomer can read. Every key of ``SUMMARY_KEYS`` is in exactly one group (tested).
"""

from __future__ import annotations

__all__ = ["SUMMARY_GROUPS", "summary_label"]

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
        ("rationing_rate", "share of requests for scarce places not met"),
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
