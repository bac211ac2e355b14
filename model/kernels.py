"""The weekly submodels as compiled loops (numba), one kernel per stage of the ODD schedule.

Each kernel is the body of one stage of :meth:`model.model.CarePathwayModel.step` (ODD section 3,
submodels in section 7): it loops over patients (columns of the state arrays ``F``, ``I``, ``B``
of :class:`model.population.PatientArrays`) or decisions and applies the scalar rules of
:mod:`model.submodels`. The model object gathers the arrays and parameters, calls the kernel and
keeps the Python-side bookkeeping (agents, network, outputs). All randomness comes from the
model's numpy ``Generator``, passed in as ``rng``; compiled code advances the same generator.

Weekly counts are added into ``wk``, a float vector indexed by the ``K_*`` constants (names in
``COUNT_KEYS``).

Why compiled loops: at the default size (~600 patients in the service) a vectorised numpy week
costs ~400 small array operations whose Python overhead dominates; the loops cost a few hundred
microseconds per week in all (docs/ODD.md, implementation notes; ``benchmarks/bench_model.py``).
"""

from __future__ import annotations

import math

import numpy as np

from .compiled import njit_cached
from .population import DYAD_MEMORY, NEVER, ROW
from .submodels import (AUTHORITY, PRESSURE, TRUST_EFFECT_CP, TRUST_EFFECT_PC, Decision, Mode,
                        Response, Role, Status, accommodation_probability, acuity_baseline,
                        admission_indicated, awareness_step, beta_shape, choose_influence_mode,
                        clinician_rated_involvement, clip, contact_need, contact_probability,
                        crisis_hazard, deal_honour_probability_patient,
                        deal_honour_probability_service, decision_reward, defensiveness_state,
                        demand_ratio, enacted_role, experience, felt_pressure,
                        gatekeeping_probability, involvement_level, mode_availability,
                        mode_utilities, patient_response, patient_rated_involvement,
                        post_discharge_hazard, response_utilities, risk_from_acuity,
                        routinizing_probability, starting_trust_cp, stochastic_round,
                        stress_target, time_share, toward_patients, trust_loss_buffer,
                        update_coercion, update_trust)

kernel = njit_cached  # every kernel: compiled, cached by the model's source (model/compiled.py)

# ----------------------------------------------------------------------------- constants
# Scarce-service place types held in ``place_type``.
PLACE_THERAPY, PLACE_PSYCHOSOCIAL, PLACE_HOUSING = 0, 1, 2
PLACE_WEEKS = np.array([16, 20, 26])  # length of a therapy course / programme / housing support
# Leverage type codes (index into submodels.LEVERAGE_TYPES).
LEV_HOUSING, LEV_MONEY, LEV_SERVICES, LEV_COMPULSION = 0, 1, 2, 3
#: Hospital stays of compulsory admissions are this much longer than voluntary ones.
COMPULSORY_STAY_FACTOR = 1.5
#: Length of a community treatment order started by compelled medication (weeks).
CTO_WEEKS = 26
#: Acuity added at referral: people are referred when unwell (new referrals and the initial
#: waiting list; not the initial caseload; ODD 2.2, 5, 7.1).
REFERRAL_ACUITY_BOOST = 0.15
#: Weekly chance that a relapsed (acuity >= 0.7) discharged or disengaged patient is re-referred.
REREFERRAL_RATE = 0.15
#: Weekly chance that someone who left care leaves the catchment for good (mean two years).
CATCHMENT_EXIT_RATE = 1.0 / 104.0
#: Weekly chance that a person on the waiting list withdraws.
WAITING_WITHDRAWAL = 0.01
#: Propensities stay within +-PROPENSITY_BOUND and drift back toward their initial values at
#: this weekly rate without reinforcement (bounded learning with forgetting).
PROPENSITY_BOUND = 5.0  # the schema's range of initial propensities
PROPENSITY_FORGETTING = 0.01
#: Baseline locus of control below which a patient counts as "low locus" (pattern 7 outputs).
LOW_LOCUS = 0.4
#: Chance that a crisis-team assessment meeting the legal criteria ends in detention.
CRISIS_TEAM_COMPULSION = 0.4
#: Chance that an honoured advance statement (crisis plan) is followed, times
#: ``advance_statement_quality`` (in encounters, ODD 7.5, and by the crisis team, ODD 7.10).
#: Calibrated on two trial effects at once: compulsory admissions RR 0.77 at the default
#: quality and honour rate (de Jong et al. 2016) and RR 0.48 at quality and honour 0.9
#: (Henderson et al. 2004); 0.6 gives 0.77 and 0.50 (docs/validation.md, What was tuned).
PLAN_FOLLOWED_RATE = 0.6
#: Share of agreed admissions that still go ahead when a crisis plan was followed; the rest are
#: treated at home, as the plan says (ODD 7.8).
PLAN_ADMISSION_SHARE = 0.5
#: Follow-up after discharge from a compulsory stay for ``readmissions_12m`` (weeks).
READMISSION_FOLLOW_UP = 52

#: Weekly counts (``wk``), in order; ``K_<NAME>`` is the index of each.
COUNT_KEYS = ("decisions", "concordant", "options", "routinized", "rationed",
              "scarce_decisions", "authority", "clinician_rated", "patient_rated",
              "contacts_needed", "contacts_made", "deals_made", "deals_honoured", "deals_broken",
              "deals_broken_by_service", "threats", "compulsory_admissions",
              "voluntary_admissions", "readmissions", "cto_started", "disengagements",
              "discharges", "leverage_events", "referrals", "withdrawals", "crises",
              "clinician_changes", "deals_lapsed", "low_locus_decisions", "low_locus_level_sum",
              "deals_offered", "level_0", "level_1", "level_2", "level_3", "level_4",
              "pressure_0", "pressure_1", "pressure_2", "pressure_3", "pressure_4",
              "care_starts", "wait_weeks", "compulsory_discharges", "readmissions_12m")
(K_DECISIONS, K_CONCORDANT, K_OPTIONS, K_ROUTINIZED, K_RATIONED, K_SCARCE, K_AUTHORITY,
 K_CLINICIAN_RATED, K_PATIENT_RATED, K_CONTACTS_NEEDED, K_CONTACTS_MADE, K_DEALS_MADE,
 K_DEALS_HONOURED, K_DEALS_BROKEN, K_DEALS_BROKEN_BY_SERVICE, K_THREATS, K_COMPULSORY,
 K_VOLUNTARY, K_READMISSIONS, K_CTO, K_DISENGAGEMENTS, K_DISCHARGES, K_LEVERAGE_EVENTS,
 K_REFERRALS, K_WITHDRAWALS, K_CRISES, K_CLINICIAN_CHANGES, K_DEALS_LAPSED, K_LOW_LOCUS,
 K_LOW_LOCUS_LEVEL, K_DEALS_OFFERED, K_LEVEL, _L1, _L2, _L3, _L4, K_PRESSURE, _P1, _P2, _P3,
 _P4, K_CARE_STARTS, K_WAIT_WEEKS, K_COMPULSORY_DISCHARGES, K_READMISSIONS_12M) = \
    range(len(COUNT_KEYS))

# Codes of the enumerations as plain ints (compiled code compares and stores ints).
WAITING, IN_CARE, ADMITTED, DISCHARGED, DISENGAGED = (int(x) for x in Status)
SHARE, PERSUADE, LEVERAGE, DEAL, THREATEN, COMPEL = (int(x) for x in Mode)
ACCEPT, NEGOTIATE, REFUSE, DISENGAGE = (int(x) for x in Response)
MEDICATION, SERVICE, HOUSING, ADMISSION, DISCHARGE = (int(x) for x in Decision)
PASSIVE, COLLABORATIVE, ACTIVE = int(Role.PASSIVE), int(Role.COLLABORATIVE), int(Role.ACTIVE)

# ----------------------------------------------------------------------------- state rows
# rows of F
ACUITY = ROW["acuity"]
ACUITY_BASE = ROW["acuity_base"]
RISK_TRAIT = ROW["risk_trait"]
RISK = ROW["risk"]
RELUCTANCE = ROW["reluctance"]
RELUCTANCE_BASE = ROW["reluctance_base"]
TRAUMA = ROW["trauma"]
FELT_SAFETY = ROW["felt_safety"]
LOCUS = ROW["locus"]
LOCUS_BASE = ROW["locus_base"]
COERCION = ROW["coercion"]
RECOVERY = ROW["recovery"]
SERVICE_TRUST = ROW["service_trust"]
TRUST_PC = ROW["trust_pc"]
TRUST_CP = ROW["trust_cp"]
INVOLVEMENT_EMA = ROW["involvement_ema"]
# rows of I
STATUS = ROW["status"]
CLINICIAN = ROW["clinician"]
LAST_CLINICIAN = ROW["last_clinician"]
ROLE = ROW["role"]
REFERRED_WEEK = ROW["referred_week"]
CARE_START_WEEK = ROW["care_start_week"]
LAST_IN_CARE_WEEK = ROW["last_in_care_week"]
ADMIT_WEEKS_LEFT = ROW["admit_weeks_left"]
CTO_WEEKS_LEFT = ROW["cto_weeks_left"]
ADMISSIONS = ROW["admissions"]
DEAL_DUE = ROW["deal_due"]
DEAL_TYPE = ROW["deal_type"]
DEAL_CLINICIAN = ROW["deal_clinician"]
PLACE_TYPE = ROW["place_type"]
PLACE_WEEKS_LEFT = ROW["place_weeks_left"]
WEEKS_IN_CARE = ROW["weeks_in_care"]
LEFT_HOSPITAL_WEEK = ROW["left_hospital_week"]
# rows of B
DEP_HOUSING = ROW["dep_housing"]
DEP_MONEY = ROW["dep_money"]
SUBSTANCE_MISUSE = ROW["substance_misuse"]
ADVOCATE = ROW["advocate"]
ADVANCE_STATEMENT = ROW["advance_statement"]
ADHERENT = ROW["adherent"]
URGENT = ROW["urgent"]
COMPULSORY = ROW["compulsory"]
CRISIS = ROW["crisis"]
PRIOR_ADMISSION = ROW["prior_admission"]
EVER_DETAINED = ROW["ever_detained"]
AFTER_COMPULSORY_STAY = ROW["after_compulsory_stay"]
IN_CATCHMENT = ROW["in_catchment"]
DECIDED = ROW["decided"]


# ----------------------------------------------------------------------------- dyads
@kernel
def first_meeting_trust(F, i, noise):
    """Trust of patient ``i`` and a clinician meeting for the first time (ODD 2.4): the patient
    brings their trust in services; the clinician's trust is :func:`starting_trust_cp`."""
    F[TRUST_PC, i] = F[SERVICE_TRUST, i]
    F[TRUST_CP, i] = starting_trust_cp(F[RELUCTANCE, i], noise)


@kernel
def set_dyad_trust(F, mem_c, mem_t, i, c):
    """Start (or resume, if they met before) the dyad of patient ``i`` with clinician ``c``."""
    for k in range(DYAD_MEMORY):
        if mem_c[i, k] == c:
            F[TRUST_PC, i] = mem_t[i, k, 0]
            F[TRUST_CP, i] = mem_t[i, k, 1]
            return
    first_meeting_trust(F, i, 0.0)


@kernel
def set_dyad_trusts(F, I, mem_c, mem_t, idx):
    """:func:`set_dyad_trust` for each patient in ``idx`` with their current clinician."""
    for i in idx:
        set_dyad_trust(F, mem_c, mem_t, i, I[CLINICIAN, i])


@kernel
def end_dyad(F, I, mem_c, mem_t, i):
    """Remember the trust of patient ``i``'s current dyad (most recent first; the oldest of
    ``DYAD_MEMORY`` memories is forgotten)."""
    c = I[CLINICIAN, i]
    if c < 0:
        return
    last = DYAD_MEMORY - 1
    for k in range(DYAD_MEMORY):
        if mem_c[i, k] == c:
            last = k
            break
    for k in range(last, 0, -1):
        mem_c[i, k] = mem_c[i, k - 1]
        mem_t[i, k, 0] = mem_t[i, k - 1, 0]
        mem_t[i, k, 1] = mem_t[i, k - 1, 1]
    mem_c[i, 0] = c
    mem_t[i, 0, 0] = F[TRUST_PC, i]
    mem_t[i, 0, 1] = F[TRUST_CP, i]


@kernel
def change_clinician(F, I, mem_c, mem_t, caseload, i, c):
    """Patient ``i`` moves to clinician ``c``'s caseload: the dyad with the current clinician,
    if any, is remembered (:func:`end_dyad`) and the one with ``c`` starts or resumes
    (:func:`set_dyad_trust`; ODD 2.4, 7.1, 7.10)."""
    old = I[CLINICIAN, i]
    end_dyad(F, I, mem_c, mem_t, i)
    if old >= 0:
        caseload[old] -= 1
    caseload[c] += 1
    I[CLINICIAN, i] = c
    set_dyad_trust(F, mem_c, mem_t, i, c)


@kernel
def start_care(F, I, B, mem_c, mem_t, caseload, i, c, week):
    """Patient ``i``, from the waiting list, starts a care episode with clinician ``c`` (7.1)."""
    change_clinician(F, I, mem_c, mem_t, caseload, i, c)
    I[STATUS, i] = IN_CARE
    I[CARE_START_WEEK, i] = week
    I[WEEKS_IN_CARE, i] = 0
    B[URGENT, i] = False


@kernel
def urgent_referral(I, B, i, week):
    """Patient ``i`` goes (back) on the waiting list, referred this week and flagged urgent:
    re-referral after a relapse (7.1), the crisis team (7.10), the end of a hospital stay
    without a care coordinator (7.10)."""
    I[STATUS, i] = WAITING
    I[REFERRED_WEEK, i] = week
    B[URGENT, i] = True


@kernel
def clear_deal(I, i):
    """Patient ``i``'s pending deal is settled: resolved when due (7.8) or lapsed when they
    leave care (:func:`leave_care`)."""
    I[DEAL_DUE, i] = -1
    I[DEAL_TYPE, i] = -1
    I[DEAL_CLINICIAN, i] = -1


@kernel
def leave_care(F, I, mem_c, mem_t, caseload, wk, i, status):
    """Patient ``i`` leaves the caseload, ``status`` DISCHARGED or DISENGAGED (counted in
    ``discharges`` or ``disengagements``); place, CTO and a pending deal lapse."""
    end_dyad(F, I, mem_c, mem_t, i)
    c = I[CLINICIAN, i]
    if c >= 0:
        caseload[c] -= 1
    I[STATUS, i] = status
    I[LAST_CLINICIAN, i] = c
    I[CLINICIAN, i] = -1
    I[PLACE_TYPE, i] = -1
    I[PLACE_WEEKS_LEFT, i] = 0
    I[CTO_WEEKS_LEFT, i] = 0
    if I[DEAL_DUE, i] >= 0:
        wk[K_DEALS_LAPSED] += 1
        clear_deal(I, i)
    if status == DISCHARGED:
        wk[K_DISCHARGES] += 1
    else:
        wk[K_DISENGAGEMENTS] += 1


@kernel
def admit(rng, I, B, wk, i, compulsory, admission_weeks, week):
    """Hospital admission of patient ``i`` (compulsory or voluntary); none if already in.

    An admission within 52 weeks of the discharge from a compulsory stay counts in
    ``readmissions_12m`` (the OCTET outcome) and ends that discharge's follow-up."""
    if I[STATUS, i] == ADMITTED:
        return
    if B[AFTER_COMPULSORY_STAY, i] and week - I[LEFT_HOSPITAL_WEEK, i] <= READMISSION_FOLLOW_UP:
        wk[K_READMISSIONS_12M] += 1
    B[AFTER_COMPULSORY_STAY, i] = False
    weeks = admission_weeks * (COMPULSORY_STAY_FACTOR if compulsory else 1.0)
    I[STATUS, i] = ADMITTED
    B[COMPULSORY, i] = compulsory
    if compulsory:
        B[EVER_DETAINED, i] = True
        wk[K_COMPULSORY] += 1
    else:
        wk[K_VOLUNTARY] += 1
    # +1: the weekly countdown also runs in the week of admission.
    I[ADMIT_WEEKS_LEFT, i] = max(1, rng.poisson(weeks)) + 1
    if I[ADMISSIONS, i] > 0 or B[PRIOR_ADMISSION, i]:
        wk[K_READMISSIONS] += 1
    I[ADMISSIONS, i] += 1


@kernel
def pick_clinician(rng, caseload, low, high, exclude):
    """A clinician drawn uniformly among those (other than ``exclude``) whose caseload is in
    [low, high]; -1 if there is none."""
    count = 0
    for c in range(len(caseload)):
        count += low <= caseload[c] <= high and c != exclude
    if count == 0:
        return -1
    pick = rng.integers(0, count)
    for c in range(len(caseload)):
        if low <= caseload[c] <= high and c != exclude:
            if pick == 0:
                return c
            pick -= 1
    return -1


@kernel
def free_places(I, n, capacity):
    """Places of each type (therapy, psychosocial, housing) not held this week."""
    free = np.floor(capacity)
    for i in range(n):
        t = I[PLACE_TYPE, i]
        if t >= 0:
            free[t] -= 1
    return free


# ----------------------------------------------------------------------------- 7.1 referrals
@kernel
def new_patients(rng, P, F, I, B, start, count, status, referral_boost, week):
    """Draw the attributes of patients ``start .. start+count-1`` at referral (ODD 5, 7.1)."""
    rel_a, rel_b = beta_shape(P.reluctance_mean, 6.0)
    share_passive, share_active = P.share_prefer_passive, P.share_prefer_active
    for i in range(start, start + count):
        I[STATUS, i] = status
        F[ACUITY_BASE, i] = rng.beta(2.0, 3.0)
        F[ACUITY, i] = clip(F[ACUITY_BASE, i] + referral_boost + 0.05 * rng.standard_normal(),
                            0.0, 1.0)
        F[RISK_TRAIT, i] = rng.random()
        F[RISK, i] = risk_from_acuity(F[ACUITY, i], F[RISK_TRAIT, i])
        F[RELUCTANCE_BASE, i] = rng.beta(rel_a, rel_b)
        F[RELUCTANCE, i] = F[RELUCTANCE_BASE, i]
        u = rng.random()
        I[ROLE, i] = (PASSIVE if u < share_passive else
                      ACTIVE if u < share_passive + share_active else COLLABORATIVE)
        B[DEP_HOUSING, i] = rng.random() < P.housing_dependency
        B[DEP_MONEY, i] = rng.random() < P.money_dependency
        F[TRAUMA, i] = rng.uniform(0.5, 1.0) if rng.random() < P.trauma_prevalence else 0.0
        F[FELT_SAFETY, i] = clip(0.65 - 0.25 * F[TRAUMA, i], 0.0, 1.0)
        F[LOCUS_BASE, i] = rng.beta(5.0, 5.0)
        F[LOCUS, i] = F[LOCUS_BASE, i]
        F[RECOVERY, i] = rng.beta(4.0, 6.0)
        F[SERVICE_TRUST, i] = clip(rng.beta(6.0, 5.0) - 0.1 * F[TRAUMA, i], 0.0, 1.0)
        first_meeting_trust(F, i, 0.05 * rng.standard_normal())
        B[ADVOCATE, i] = rng.random() < P.peer_advocate_coverage
        B[ADVANCE_STATEMENT, i] = rng.random() < P.advance_statement_coverage
        I[REFERRED_WEEK, i] = week
        B[URGENT, i] = F[ACUITY, i] >= 0.7
        B[SUBSTANCE_MISUSE, i] = rng.random() < P.substance_misuse_prevalence


@kernel
def draw_ties(rng, start, count, mean_ties):
    """Social ties of newcomers ``start .. start+count-1``: each links to Poisson(mean/2)
    distinct earlier patients chosen uniformly. Returns (src, dst)."""
    total = 0
    k = np.empty(count, np.int64)
    for j in range(count):
        k[j] = min(rng.poisson(mean_ties / 2.0), start + j)  # patient 0 has nobody to link to
        total += k[j]
    src = np.empty(total, np.int64)
    dst = np.empty(total, np.int64)
    m = 0
    for j in range(count):
        s = start + j
        first = m
        for _ in range(k[j]):
            d = int(rng.random() * s)
            dup = False
            for q in range(first, m):
                if dst[q] == d:
                    dup = True
                    break
            if not dup:  # a tie drawn twice is one tie
                src[m] = s
                dst[m] = d
                m += 1
    return src[:m], dst[:m]


@kernel
def referrals_and_intake(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n, week, slots_mean):
    """Re-referral of relapsed former patients, catchment exit, waiting-list withdrawal and
    capacity-limited intake, urgent first then by referral date (ODD 7.1). Care starts and
    the waits they end are counted in ``wk``."""
    n_wait = 0
    for i in range(n):
        s = I[STATUS, i]
        if (s == DISCHARGED or s == DISENGAGED) and B[IN_CATCHMENT, i]:
            # People who left care leave the service's sight at a constant rate; only those
            # still in the catchment come back, through re-referral when they relapse.
            if rng.random() < CATCHMENT_EXIT_RATE:
                B[IN_CATCHMENT, i] = False
            elif F[ACUITY, i] >= 0.7 and rng.random() < REREFERRAL_RATE:
                urgent_referral(I, B, i, week)
                s = WAITING
        if s == WAITING:
            # Some people on the waiting list give up.
            if rng.random() < WAITING_WITHDRAWAL:
                I[STATUS, i] = DISENGAGED
                wk[K_WITHDRAWALS] += 1
            else:
                n_wait += 1
    slots = stochastic_round(slots_mean, rng)
    if slots == 0 or n_wait == 0:
        return
    waiting = np.empty(n_wait, np.int64)
    key = np.empty(n_wait, np.int64)
    m = 0
    for i in range(n):
        if I[STATUS, i] == WAITING:
            waiting[m] = i
            # urgent first, then by referral week, then by index (stable sort)
            key[m] = (0 if B[URGENT, i] else 1) * 10**8 + I[REFERRED_WEEK, i]
            m += 1
    order = np.argsort(key, kind="mergesort")
    n_clin = len(caseload)
    for o in order[:slots]:
        i = waiting[o]
        low = P.caseload_cap
        for c in range(n_clin):
            low = min(low, caseload[c])
        if low >= P.caseload_cap:
            break  # no room anywhere
        prev = I[LAST_CLINICIAN, i]
        if prev >= 0 and caseload[prev] < P.caseload_cap:
            c = prev
        else:  # one of the clinicians with the smallest caseload
            c = pick_clinician(rng, caseload, low, low, -1)
        start_care(F, I, B, mem_c, mem_t, caseload, i, c, week)
        wk[K_CARE_STARTS] += 1  # and the wait it ended (7.13)
        wk[K_WAIT_WEEKS] += week - I[REFERRED_WEEK, i]


# ----------------------------------------------------------------------------- 7.2 illness
@kernel
def illness_dynamics(rng, P, F, I, B, wk, n, week):
    """Acuity reverts to the personal baseline, treatment pulls it down, crises strike (7.2);
    the crisis hazard is raised in the months after leaving hospital.

    People who have left the catchment are no longer simulated: they never return."""
    for i in range(n):
        if not B[IN_CATCHMENT, i]:
            B[CRISIS, i] = False
            continue
        s = I[STATUS, i]
        in_care = s == IN_CARE
        admitted = s == ADMITTED
        place = I[PLACE_TYPE, i]
        base = acuity_baseline(F[ACUITY_BASE, i], F[RECOVERY, i])
        a = F[ACUITY, i]
        a += P.acuity_reversion * (base - a) + P.acuity_noise * rng.standard_normal()
        if in_care and B[ADHERENT, i]:
            a -= P.treatment_effect
        if place == PLACE_THERAPY or place == PLACE_PSYCHOSOCIAL:
            a -= P.therapy_effect
        if admitted:
            a -= 0.05
        a = clip(a, 0.0, 1.0)
        crisis = False
        if not admitted:
            hazard = min(1.0, crisis_hazard(a, B[ADHERENT, i] or not in_care, P.crisis_rate)
                         + post_discharge_hazard(week - I[LEFT_HOSPITAL_WEEK, i],
                                                 P.post_discharge_crisis))
            if rng.random() < hazard:
                crisis = True
                a = max(a, rng.uniform(0.75, 0.95))
                wk[K_CRISES] += 1
        B[CRISIS, i] = crisis
        F[ACUITY, i] = a
        F[RISK, i] = risk_from_acuity(a, F[RISK_TRAIT, i])


# ----------------------------------------------------------------------------- 7.3 coping
@kernel
def cope_with_demand(rng, P, F, I, B, wk, n, caseload, stress, burnout, defensiveness,
                     available, ratio, hours):
    """Clinicians spread their weekly hours over the caseload; demand above capacity is met by
    rationing contacts (7.3, S4). Returns the patients seen this week."""
    n_clin = len(caseload)
    need_c = np.zeros(n_clin)
    # ``caseload`` is kept exact where patients join or leave one (change_clinician,
    # leave_care). A patient in hospital stays on their coordinator's caseload (CPA), but the
    # ward, not the coordinator, meets their weekly need.
    for i in range(n):
        if I[STATUS, i] == IN_CARE:
            need_c[I[CLINICIAN, i]] += contact_need(F[ACUITY, i], P.need_base_hours,
                                                    P.need_acuity_hours)
    for c in range(n_clin):
        available[c] = hours * (1.0 - 0.2 * burnout[c])
        ratio[c] = demand_ratio(need_c[c], available[c])
    seen = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if I[STATUS, i] == IN_CARE:
            c = I[CLINICIAN, i]
            need = contact_need(F[ACUITY, i], P.need_base_hours, P.need_acuity_hours)
            wk[K_CONTACTS_NEEDED] += min(need, 1.0)
            if B[CRISIS, i]:
                prob = 1.0
            else:
                prob = contact_probability(need, ratio[c],
                                           toward_patients(stress[c], defensiveness[c]))
            if rng.random() < prob:
                seen[m] = i
                m += 1
    wk[K_CONTACTS_MADE] += m
    return seen[:m]


# ----------------------------------------------------------------------------- 7.4-7.9 encounters
#: Columns of the per-decision event table returned by :func:`encounters` (ODD 7.13).
EVENT_COLUMNS = ("patient", "clinician", "decision", "mode", "response", "accommodated",
                 "options", "routinized", "rationed", "level", "pressure", "felt_pressure",
                 "escalated", "advance_statement_honoured", "leverage_type", "trust_pc_after",
                 "trust_cp_after")


@kernel
def decision_type(rng, F, I, B, i, ratio, service_weeks):
    """Which decision is contested (7.4): crisis -> admission; long, stable episodes ->
    discharge; otherwise medication, a scarce service, or housing for those who need it."""
    u = rng.random()
    d = MEDICATION if u < 0.5 else SERVICE if u < 0.8 else HOUSING
    if d == HOUSING and not B[DEP_HOUSING, i]:
        d = SERVICE
    # Full caseloads push discharge: the acuity bar for "ready" rises with demand (S4).
    # "Stable" is judged absolutely or against the person's own baseline (chronic illness does
    # not block discharge forever); long episodes step down.
    own_base = acuity_baseline(F[ACUITY_BASE, i], F[RECOVERY, i])
    weeks = I[WEEKS_IN_CARE, i]
    bar = (max(0.45, own_base + 0.05) + 0.1 * clip(ratio - 1.0, 0.0, 1.0)
           + 0.1 * min(1.0, weeks / 104.0))
    if weeks >= service_weeks and F[ACUITY, i] < bar and rng.random() < 0.6:
        d = DISCHARGE
    if B[CRISIS, i]:
        d = ADMISSION
    return d


@kernel
def leverage_bias(P, substance_misuse, last_leverage):
    """What is added to the utility of an offer and of a threat for one patient (ODD 7.5):
    ``substance_leverage_bias`` if they misuse substances (leverage clusters in a persistent
    subgroup) plus ``leverage_history_bias`` if they have met leverage of any type before
    (``last_leverage`` is their row of the week each type was last met; a lever once used
    stays on the table, so leverage recurs in the same people over time)."""
    bias = P.substance_leverage_bias if substance_misuse else 0.0
    for week_met in last_leverage:
        if week_met > NEVER:
            return bias + P.leverage_history_bias
    return bias


@kernel
def encounters(rng, P, F, I, B, mem_c, mem_t, last_lev, wk, n_patients, seen, week, caseload,
               ratio, identity, skill, method, propensity, stress, defensiveness, insight,
               reward_baseline, authority_uses, conflicts, place_capacity):
    """Contested decisions in this week's contacts: decision type, coping inside the encounter
    (routinizing, gatekeeping), the clinician's influence mode, the patient's response, the
    involvement reached, trust, perceived coercion, the decision's outcome, and the clinician's
    learning (ODD 7.4-7.9, 7.11). Returns the per-decision event table (EVENT_COLUMNS rows)."""
    n_seen = len(seen)
    ev = np.empty((len(EVENT_COLUMNS), n_seen if P.event_log else 0))  # filled only if kept
    rewards = np.empty(n_seen)
    who = np.empty(n_seen, np.int64)
    modes = np.empty(n_seen, np.int64)
    place_free = free_places(I, n_patients, place_capacity)  # at the start of the encounters
    free = place_free.copy()  # places still free as this week's offers are taken up
    tic = P.trauma_informed_care
    n = 0
    for i in seen:
        a, rel = F[ACUITY, i], F[RELUCTANCE, i]
        if not (B[CRISIS, i] or rng.random() < clip(P.contested_base + 0.25 * a + 0.25 * rel,
                                                      0.0, 1.0)):
            continue
        c = I[CLINICIAN, i]
        risk = F[RISK, i]
        advocate = 1.0 if B[ADVOCATE, i] else 0.0
        role = I[ROLE, i]
        decision = decision_type(rng, F, I, B, i, ratio[c], P.service_weeks)
        # 7.3 Coping inside the encounter: routinizing and gatekeeping scarce services.
        ts = time_share(ratio[c])
        routinized = rng.random() < routinizing_probability(
            ratio[c], P.pathway_time_targets, identity[c], skill[c])
        scarce = decision == SERVICE or decision == HOUSING
        if decision == HOUSING:
            wanted = PLACE_HOUSING
        else:
            wanted = PLACE_THERAPY if method[c] == 1 else PLACE_PSYCHOSOCIAL
            if decision == SERVICE and place_free[wanted] <= 0:
                wanted = 1 - wanted  # the other service type if one is full
        gatekept = rng.random() < gatekeeping_probability(ratio[c], identity[c], P.org_support)
        offered = scarce and place_free[wanted] > 0 and not gatekept and not routinized
        rationed = scarce and not offered
        if routinized:
            options = 1
        elif scarce:
            options = 2 + int(offered)
        else:
            options = 2 + int(ts >= 0.75)
        full_share = options >= 2 and ts >= 0.5
        # Resources the service controls (what makes a deal or a threat possible, S2).
        if B[DEP_HOUSING, i]:
            lev_type = LEV_HOUSING
        elif B[DEP_MONEY, i]:
            lev_type = LEV_MONEY
        elif offered and decision == SERVICE:
            lev_type = LEV_SERVICES
        else:
            lev_type = -1
        dependency = clip(0.6 * B[DEP_HOUSING, i] + 0.4 * B[DEP_MONEY, i]
                          + 0.3 * (lev_type == LEV_SERVICES), 0.0, 1.0)
        leverage_allowed = rng.random() >= P.leverage_limit
        # 7.5 Advance statements in crisis decisions (S3): honoured plans steer the decision.
        adm = decision == ADMISSION
        as_honoured = (adm and B[ADVANCE_STATEMENT, i]
                       and rng.random() < P.advance_statement_honour_rate)
        plan_followed = (as_honoured
                         and rng.random() < PLAN_FOLLOWED_RATE * P.advance_statement_quality)
        # 7.5 The clinician's choice of influence mode.
        u = mode_utilities(propensity[c], ts, skill[c], P.involvement_mandate, P.org_support, a,
                           stress[c], defensiveness[c], identity[c], risk, advocate,
                           1.0 if role == ACTIVE else 0.0, F[TRUST_PC, i],
                           F[TRUST_CP, i], rel, dependency, tic,
                           leverage_bias(P, B[SUBSTANCE_MISUSE, i], last_lev[i]))
        ok = mode_availability(decision, F[TRUST_CP, i], P.deal_trust_threshold,
                               lev_type >= 0, leverage_allowed, risk, P.compulsion_available,
                               P.compulsion_risk_threshold)
        if plan_followed:
            ok = (True, False, False, False, False, False)
        elif decision == MEDICATION and not (B[EVER_DETAINED, i] and P.cto_available):
            # Community compulsion (a CTO) is open only to patients detained before (MHA 2007),
            # and only where CTOs are used at all (cto_available).
            ok = (ok[0], ok[1], ok[2], ok[3], ok[4], False)
        mode = choose_influence_mode(u, ok, P.mode_temperature, rng)
        # 7.6 The patient's response.
        v = response_utilities(mode, F[TRUST_PC, i], rel, role, dependency, advocate,
                               F[LOCUS, i], F[FELT_SAFETY, i], a, F[COERCION, i])
        response = patient_response(v, rng)
        if plan_followed:
            response = ACCEPT
        # A refused threat of compulsion is carried out when the legal criteria are met.
        escalated = (mode == THREATEN and response >= REFUSE and adm
                     and P.compulsion_available and risk >= P.compulsion_risk_threshold)
        if escalated:
            mode = COMPEL
        compelled = mode == COMPEL
        # Compelled patients, and patients on a community treatment order, cannot walk away.
        if response == DISENGAGE and (compelled or I[CTO_WEEKS_LEFT, i] > 0):
            response = REFUSE
        accommodated = response == NEGOTIATE and rng.random() < (
            accommodation_probability(skill[c], ts, defensiveness[c], advocate))
        # 7.7 Involvement, role concordance and ratings.
        level = involvement_level(mode, response, accommodated, full_share,
                                  role == ACTIVE, a < 0.7)
        if plan_followed and not compelled:
            level = 4
        pressure = PRESSURE[mode]
        voice = 1.0 if level >= 2 else 0.0
        fp = felt_pressure(pressure, dependency, F[TRAUMA, i], tic, voice)
        wk[K_DECISIONS] += 1
        wk[K_LEVEL + level] += 1
        wk[K_PRESSURE + pressure] += 1
        wk[K_CONCORDANT] += enacted_role(level) == role
        wk[K_OPTIONS] += options
        wk[K_ROUTINIZED] += routinized
        wk[K_RATIONED] += rationed
        wk[K_SCARCE] += scarce
        wk[K_AUTHORITY] += AUTHORITY[mode]
        wk[K_CLINICIAN_RATED] += clinician_rated_involvement(level, identity[c],
                                                             P.involvement_mandate,
                                                             insight[c], mode)
        wk[K_PATIENT_RATED] += patient_rated_involvement(level, fp)
        if F[LOCUS_BASE, i] < LOW_LOCUS:
            wk[K_LOW_LOCUS] += 1
            wk[K_LOW_LOCUS_LEVEL] += level
        wk[K_DEALS_OFFERED] += mode == DEAL
        # 7.8 Trust, both directions (asymmetric; voice and TIC buffer losses).
        eff = TRUST_EFFECT_PC[mode] + 0.5 * accommodated + 0.3 * (level == 4)
        if eff < 0:
            eff *= trust_loss_buffer(voice, tic)
        F[TRUST_PC, i] = update_trust(F[TRUST_PC, i], eff, P.trust_gain, P.trust_loss_ratio)
        F[TRUST_CP, i] = update_trust(F[TRUST_CP, i], TRUST_EFFECT_CP[response], P.trust_gain,
                                      P.trust_loss_ratio)
        # 7.9 Perceived coercion (Lidz et al. 1998) and the involvement experienced.
        F[COERCION, i] = update_coercion(F[COERCION, i], fp, P.coercion_memory)
        F[INVOLVEMENT_EMA, i] = 0.7 * F[INVOLVEMENT_EMA, i] + 0.3 * level
        B[DECIDED, i] = True
        # Leverage met (offers and threats, by type; Burns et al. 2011, Monahan et al. 2005).
        ltype = -1
        if mode == DEAL:
            ltype = lev_type
        elif mode == THREATEN:
            ltype = LEV_COMPULSION if (lev_type < 0 or adm or not leverage_allowed) else lev_type
        elif escalated:
            ltype = LEV_COMPULSION
        if ltype >= 0:
            last_lev[i, ltype] = week
            wk[K_LEVERAGE_EVENTS] += 1
        wk[K_THREATS] += (mode == THREATEN) + escalated
        # 7.8 Outcomes of the decision (after the updates, so a dyad that ends here
        # remembers this encounter).
        accepted = response == ACCEPT or accommodated
        decision_outcome(rng, P, F, I, B, mem_c, mem_t, caseload, wk, free, i, c, decision,
                         mode, response, accepted, offered, wanted, lev_type, plan_followed,
                         week)
        # 7.11 Clinician side: authority used, conflict met, reward learned (after the week).
        authority = AUTHORITY[mode]
        authority_uses[c] += authority
        conflicts[c] += response >= REFUSE or (response == NEGOTIATE
                                                        and not accommodated)
        rewards[n] = decision_reward(accepted, response == REFUSE,
                                     response == DISENGAGE, authority, stress[c],
                                     level, P.reflective_supervision)
        who[n] = c
        modes[n] = mode
        if P.event_log:
            # columns in the order of EVENT_COLUMNS
            ev[0, n] = i
            ev[1, n] = c
            ev[2, n] = decision
            ev[3, n] = mode
            ev[4, n] = response
            ev[5, n] = accommodated
            ev[6, n] = options
            ev[7, n] = routinized
            ev[8, n] = rationed
            ev[9, n] = level
            ev[10, n] = pressure
            ev[11, n] = fp
            ev[12, n] = escalated
            ev[13, n] = as_honoured
            ev[14, n] = ltype
            ev[15, n] = F[TRUST_PC, i]
            ev[16, n] = F[TRUST_CP, i]
        n += 1
    learn(P, propensity, reward_baseline, who[:n], modes[:n], rewards[:n])
    return ev[:, :n]


@kernel
def decision_outcome(rng, P, F, I, B, mem_c, mem_t, caseload, wk, free, i, c, decision, mode,
                     response, accepted, offered, wanted, lev_type, plan_followed, week):
    """What one decision changes in the pathway (7.8)."""
    compelled = mode == COMPEL
    if decision == MEDICATION:
        # Treatment plan: adherence follows acceptance; compelled medication starts a CTO.
        if accepted:
            B[ADHERENT, i] = True
        elif response == REFUSE and not compelled:
            B[ADHERENT, i] = False
        if compelled and B[EVER_DETAINED, i]:
            I[CTO_WEEKS_LEFT, i] = CTO_WEEKS
            B[ADHERENT, i] = True
            wk[K_CTO] += 1
    if mode == DEAL and accepted:
        # Deals: resource conditional on adherence, due in deal_weeks.
        I[DEAL_DUE, i] = week + P.deal_weeks
        I[DEAL_TYPE, i] = lev_type
        I[DEAL_CLINICIAN, i] = c
        B[ADHERENT, i] = True
        wk[K_DEALS_MADE] += 1
    if offered and accepted and not compelled and free[wanted] > 0 and I[PLACE_TYPE, i] < 0:
        # Scarce services and housing support: accepted offers take a place.
        I[PLACE_TYPE, i] = wanted
        I[PLACE_WEEKS_LEFT, i] = PLACE_WEEKS[wanted]
        free[wanted] -= 1
    if decision == ADMISSION:
        # Compulsory, voluntary, or home treatment. Every admission decision is a crisis
        # (decision_type), so an agreed one is indicated; a followed crisis plan treats some
        # at home instead.
        if compelled:
            admit(rng, I, B, wk, i, True, P.admission_weeks, week)
        elif accepted and (not plan_followed or rng.random() < PLAN_ADMISSION_SHARE):
            admit(rng, I, B, wk, i, False, P.admission_weeks, week)
    if decision == DISCHARGE and accepted:
        leave_care(F, I, mem_c, mem_t, caseload, wk, i, DISCHARGED)
    if (response == DISENGAGE and not compelled
            and I[STATUS, i] == IN_CARE):
        leave_care(F, I, mem_c, mem_t, caseload, wk, i, DISENGAGED)


@kernel
def learn(P, propensity, reward_baseline, who, modes, rewards):
    """Propensities follow experienced reward relative to each clinician's running baseline,
    all decisions of the week against the baseline at its start (7.11)."""
    base = reward_baseline.copy()
    for k in range(len(who)):
        c = who[k]
        delta = rewards[k] - base[c]
        propensity[c, modes[k]] += P.learning_rate * delta
        reward_baseline[c] += 0.05 * delta
    for c in range(propensity.shape[0]):
        for k in range(propensity.shape[1]):
            propensity[c, k] = clip(propensity[c, k], -PROPENSITY_BOUND, PROPENSITY_BOUND)


# ----------------------------------------------------------------------------- 7.10 crisis pathway
@kernel
def crisis_pathway(rng, P, F, I, B, wk, n, week):
    """People in crisis outside care meet the crisis team: admission (compulsory when risk
    meets the legal threshold and no honoured crisis plan averts it) or urgent referral."""
    thr = P.compulsion_risk_threshold
    for i in range(n):
        s = I[STATUS, i]
        if not B[CRISIS, i] or s == IN_CARE or s == ADMITTED \
                or not B[IN_CATCHMENT, i]:
            continue
        risk = F[RISK, i]
        plan = B[ADVANCE_STATEMENT, i] and rng.random() < (
            P.advance_statement_honour_rate * PLAN_FOLLOWED_RATE * P.advance_statement_quality)
        if (P.compulsion_available and risk >= thr and not plan
                and rng.random() < CRISIS_TEAM_COMPULSION):
            F[COERCION, i] = update_coercion(F[COERCION, i], 1.0, P.coercion_memory)
            F[TRUST_PC, i] *= 0.8
            F[SERVICE_TRUST, i] *= 0.9
            admit(rng, I, B, wk, i, True, P.admission_weeks, week)
        elif admission_indicated(risk, thr) and rng.random() < 0.5:
            admit(rng, I, B, wk, i, False, P.admission_weeks, week)
        elif s != WAITING:
            urgent_referral(I, B, i, week)
        B[URGENT, i] = True  # everyone the crisis team met: admitted, re-referred or waiting


# ----------------------------------------------------------------------------- 7.8 deals
@kernel
def resolve_deals(rng, P, F, I, B, wk, n, week, ratio, place_capacity):
    """Deals falling due are honoured or broken by either side (7.8, S2). (Deals of people
    who left care lapsed when they left.)"""
    free = free_places(I, n, place_capacity)
    service_free = free[PLACE_THERAPY] + free[PLACE_PSYCHOSOCIAL] > 0
    gain, loss = P.trust_gain, P.trust_loss_ratio
    for i in range(n):
        if I[DEAL_DUE, i] != week:
            continue
        by_patient = rng.random() < deal_honour_probability_patient(
            F[TRUST_PC, i], F[ACUITY, i], F[RELUCTANCE, i])
        c = I[CLINICIAN, i]
        r = ratio[c] if c >= 0 else 1.0
        changed = 1.0 if c != I[DEAL_CLINICIAN, i] else 0.0
        # A services deal can be kept if the patient holds a place or one is free.
        resource_ok = (I[DEAL_TYPE, i] != LEV_SERVICES or I[PLACE_TYPE, i] >= 0
                       or service_free)
        by_service = rng.random() < deal_honour_probability_service(r, changed, resource_ok)
        if by_patient and by_service:
            F[TRUST_PC, i] = update_trust(F[TRUST_PC, i], 1.0, gain, loss)
            F[TRUST_CP, i] = update_trust(F[TRUST_CP, i], 0.8, gain, loss)
            wk[K_DEALS_HONOURED] += 1
        else:
            wk[K_DEALS_BROKEN] += 1
            if not by_service:
                F[TRUST_PC, i] = update_trust(F[TRUST_PC, i], -2.0, gain, loss)
                F[SERVICE_TRUST, i] = clip(F[SERVICE_TRUST, i] - 0.05, 0.0, 1.0)
                wk[K_DEALS_BROKEN_BY_SERVICE] += 1
            else:
                F[TRUST_CP, i] = update_trust(F[TRUST_CP, i], -1.0, gain, loss)
                B[ADHERENT, i] = False
        clear_deal(I, i)


# ----------------------------------------------------------------------------- 7.9 patients
@kernel
def update_patients(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n):
    """Weekly drift of trust, coercion, felt safety, locus, recovery, reluctance; and the
    disengagement hazard (7.9)."""
    tic = P.trauma_informed_care
    for i in range(n):
        s = I[STATUS, i]
        in_care = s == IN_CARE
        trust = F[TRUST_PC, i]
        if in_care:
            trust += P.trust_decay * (F[SERVICE_TRUST, i] - trust)
            F[TRUST_PC, i] = trust
            F[SERVICE_TRUST, i] += 0.02 * (trust - F[SERVICE_TRUST, i])
        coercion = F[COERCION, i]
        if not B[DECIDED, i]:
            coercion *= 0.98
            F[COERCION, i] = coercion
        B[DECIDED, i] = False
        trauma, acuity = F[TRAUMA, i], F[ACUITY, i]
        fs_target = (0.7 - 0.5 * coercion * (1 + 0.5 * trauma) * (1 - 0.5 * tic)
                     + 0.15 * (trust - 0.5) - 0.2 * acuity
                     + 0.1 * (I[PLACE_TYPE, i] == PLACE_HOUSING) + 0.1 * tic * trauma)
        fs = F[FELT_SAFETY, i] + 0.1 * (clip(fs_target, 0.0, 1.0) - F[FELT_SAFETY, i])
        F[FELT_SAFETY, i] = fs
        inv = F[INVOLVEMENT_EMA, i]
        locus = F[LOCUS, i]
        if s <= ADMITTED:
            lb = F[LOCUS_BASE, i]
            locus_target = (lb + 0.15 * (inv - 2.0) / 2.0 - 0.3 * coercion
                            + 0.4 * B[ADVOCATE, i] * (1.0 - lb) * (lb < 0.6))
            locus += 0.05 * (clip(locus_target, 0.0, 1.0) - locus)
            F[LOCUS, i] = locus
        rec_target = (0.25 + 0.25 * (trust - 0.5) + 0.2 * (inv / 4.0) + 0.2 * locus
                      + 0.1 * (I[PLACE_TYPE, i] >= 0) - 0.35 * acuity - 0.15 * coercion
                      + 0.1 * fs)
        F[RECOVERY, i] += 0.03 * (clip(rec_target, 0.0, 1.0) - F[RECOVERY, i])
        rel = F[RELUCTANCE, i]
        rel += 0.05 * (clip(F[RELUCTANCE_BASE, i] + 0.3 * coercion - 0.15 * (trust - 0.5),
                            0.0, 1.0) - rel)
        F[RELUCTANCE, i] = rel
        if in_care and I[CTO_WEEKS_LEFT, i] <= 0:
            hazard = P.disengage_rate * math.exp(2.0 * coercion + 1.5 * (rel - 0.3)
                                                 - 2.0 * (trust - 0.5))
            if rng.random() < hazard:
                leave_care(F, I, mem_c, mem_t, caseload, wk, i, DISENGAGED)


# ----------------------------------------------------------------------------- 7.10 transitions
@kernel
def pathway_transitions(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n, week, move_hazard):
    """Hospital stays end, orders and places run out, clinicians change (7.10)."""
    for i in range(n):
        s = I[STATUS, i]
        was_admitted = s == ADMITTED
        if was_admitted:
            I[ADMIT_WEEKS_LEFT, i] -= 1
            if I[ADMIT_WEEKS_LEFT, i] <= 0:
                I[LEFT_HOSPITAL_WEEK, i] = week
                if B[COMPULSORY, i]:
                    wk[K_COMPULSORY_DISCHARGES] += 1
                    B[AFTER_COMPULSORY_STAY, i] = True
                if I[CLINICIAN, i] >= 0:
                    s = IN_CARE
                    I[STATUS, i] = s
                    B[URGENT, i] = True
                else:  # admitted by the crisis team from outside care
                    s = WAITING
                    urgent_referral(I, B, i, week)
                B[COMPULSORY, i] = False
                F[ACUITY, i] = min(F[ACUITY, i], 0.6)
        if I[CTO_WEEKS_LEFT, i] > 0:
            I[CTO_WEEKS_LEFT, i] -= 1
        if I[PLACE_TYPE, i] >= 0:
            I[PLACE_WEEKS_LEFT, i] -= 1
            if I[PLACE_WEEKS_LEFT, i] <= 0:
                I[PLACE_TYPE, i] = -1
        in_care = s == IN_CARE
        if in_care:
            I[WEEKS_IN_CARE, i] += 1
        if in_care or was_admitted:
            I[LAST_IN_CARE_WEEK, i] = week
        # Continuity of care: a yearly probability of keeping the same clinician.
        if in_care and move_hazard > 0 and rng.random() < move_hazard:
            new = pick_clinician(rng, caseload, 0, P.caseload_cap - 1, I[CLINICIAN, i])
            if new < 0:
                continue  # nobody else has room
            change_clinician(F, I, mem_c, mem_t, caseload, i, new)
            wk[K_CLINICIAN_CHANGES] += 1


# ----------------------------------------------------------------------------- 7.11 clinicians
@kernel
def update_clinicians(P, stress, burnout, discomfort, insight, defensiveness,
                      defensiveness_trait, identity, identity_base, skill, skill_base,
                      vulnerability, ratio, caseload, authority_uses, conflicts, propensity,
                      propensity_initial, peer_ptr, peer_idx, peer_w):
    """Stress (with short-run relief from authority), burnout, the awareness J-curve, identity,
    skill, and team norms spreading over the colleague network (7.11, S1, S3)."""
    awareness = (0.5 * P.involvement_mandate + 0.3 * P.sdm_training
                 + 0.2 * P.pathway_time_targets)
    n_clin, n_modes = propensity.shape
    for c in range(n_clin):
        conflict_rate = conflicts[c] / max(caseload[c], 1)
        target = clip(stress_target(ratio[c], conflict_rate, P.org_support,
                                    P.reflective_supervision) + vulnerability[c], 0.0, 1.0)
        stress[c] = clip(stress[c] + P.stress_rate * (target - stress[c])
                         - P.authority_relief * min(authority_uses[c], 3.0), 0.0, 1.0)
        burnout[c] = clip(burnout[c] + P.burnout_rate * (stress[c] - burnout[c]), 0.0, 1.0)
        discomfort[c], insight[c] = awareness_step(discomfort[c], insight[c], awareness,
                                                   P.reflective_supervision)
        defensiveness[c] = defensiveness_state(defensiveness_trait[c], discomfort[c],
                                               insight[c], stress[c])
        id_target = clip(identity_base[c] - 0.2 * insight[c] - 0.1 * P.sdm_training, 0.0, 1.0)
        identity[c] += 0.005 * (id_target - identity[c])
        skill_target = clip(skill_base[c] + 0.4 * P.sdm_training * (0.6 + 0.4 * P.org_support),
                            0.0, 1.0)
        skill[c] += 0.03 * (skill_target - skill[c])
        # Habits fade slowly without reinforcement (bounded learning, ODD 7.11).
        for k in range(n_modes):
            propensity[c, k] += PROPENSITY_FORGETTING * (propensity_initial[c, k]
                                                         - propensity[c, k])
    if P.norm_diffusion > 0:
        # Team norms: each clinician moves toward the mean propensities of their colleagues
        # (row-normalised weights, CSR), all at once.
        peer = np.zeros((n_clin, n_modes))
        for c in range(n_clin):
            for q in range(peer_ptr[c], peer_ptr[c + 1]):
                for k in range(n_modes):
                    peer[c, k] += peer_w[q] * propensity[peer_idx[q], k]
        for c in range(n_clin):
            if peer_ptr[c + 1] > peer_ptr[c]:
                for k in range(n_modes):
                    propensity[c, k] += P.norm_diffusion * (peer[c, k] - propensity[c, k])


# ----------------------------------------------------------------------------- 7.12 network
@kernel
def spread_experiences(P, F, I, n, edge_u, edge_v, new_u, new_v):
    """Patients' trust in services drifts toward what their ties experienced (7.12, S5).
    Ties are the earlier ones (``edge_u``, ``edge_v``) and this week's (``new_u``, ``new_v``)."""
    if P.network_influence == 0:
        return
    tot = np.zeros(n)
    cnt = np.zeros(n)
    _pool_experiences(F, I, edge_u, edge_v, tot, cnt)
    _pool_experiences(F, I, new_u, new_v, tot, cnt)
    for i in range(n):
        if cnt[i] > 0:
            F[SERVICE_TRUST, i] += P.network_influence * (clip(tot[i] / cnt[i], 0.0, 1.0)
                                                           - F[SERVICE_TRUST, i])


@kernel
def _pool_experiences(F, I, edge_u, edge_v, tot, cnt):
    for e in range(len(edge_u)):
        u, v = edge_u[e], edge_v[e]
        # Only people who have had care have an experience to pass on.
        if I[LAST_IN_CARE_WEEK, v] > NEVER:
            tot[u] += experience(F[TRUST_PC, v], F[COERCION, v])
            cnt[u] += 1
        if I[LAST_IN_CARE_WEEK, u] > NEVER:
            tot[v] += experience(F[TRUST_PC, u], F[COERCION, u])
            cnt[v] += 1


# ----------------------------------------------------------------------------- the week
@kernel
def week(rng, params, F, I, B, mem_c, mem_t, last_lev, wk, n, week, new, caseload, stress,
         burnout, defensiveness, defensiveness_trait, discomfort, insight, identity,
         identity_base, skill, skill_base, vulnerability, method, propensity, propensity_initial,
         reward_baseline, ratio, available, authority_uses, conflicts, peer_ptr, peer_idx,
         peer_w, edge_u, edge_v, place_capacity, slots, hours, move_hazard):
    """One week of the ODD schedule (section 3): 7.1 referrals and intake, 7.2 illness,
    7.3 coping, 7.4-7.9 encounters, 7.10 crisis pathway, 7.8 deals, 7.9 patient updates,
    7.10 transitions, 7.11 clinicians, 7.12 social network.

    ``params`` is the one-element parameter record array; the ``new`` newest of the ``n``
    patients are this week's referrals (rows already added). Returns (their social ties as
    (src, dst), the per-decision event table, this week's outputs in ``OUTPUT_KEYS`` order)."""
    P = params[0]
    new_patients(rng, P, F, I, B, n - new, new, WAITING, REFERRAL_ACUITY_BOOST, week)
    wk[K_REFERRALS] += new
    new_u, new_v = draw_ties(rng, n - new, new, P.mean_social_ties)
    referrals_and_intake(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n, week, slots)
    illness_dynamics(rng, P, F, I, B, wk, n, week)
    seen = cope_with_demand(rng, P, F, I, B, wk, n, caseload, stress, burnout, defensiveness,
                            available, ratio, hours)
    events = encounters(rng, P, F, I, B, mem_c, mem_t, last_lev, wk, n, seen, week, caseload,
                        ratio, identity, skill, method, propensity, stress, defensiveness,
                        insight, reward_baseline, authority_uses, conflicts, place_capacity)
    crisis_pathway(rng, P, F, I, B, wk, n, week)
    resolve_deals(rng, P, F, I, B, wk, n, week, ratio, place_capacity)
    update_patients(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n)
    pathway_transitions(rng, P, F, I, B, mem_c, mem_t, caseload, wk, n, week, move_hazard)
    update_clinicians(P, stress, burnout, discomfort, insight, defensiveness,
                      defensiveness_trait, identity, identity_base, skill, skill_base,
                      vulnerability, ratio, caseload, authority_uses, conflicts, propensity,
                      propensity_initial, peer_ptr, peer_idx, peer_w)
    spread_experiences(P, F, I, n, edge_u, edge_v, new_u, new_v)
    out = outputs(week, wk, F, I, n, caseload, ratio, stress, burnout, defensiveness,
                  P.burnout_threshold)
    return new_u, new_v, events, out


# ----------------------------------------------------------------------------- 7.13 outputs
#: Patient-state outputs of :func:`state_means`, in order.
STATE_MEANS = ("waiting_list", "in_care", "admitted", "trust_mean", "trust_cp_mean",
               "perceived_coercion_mean", "felt_safety_mean", "internal_locus_mean",
               "internal_locus_low_mean", "recovery_mean")


@kernel
def state_means(F, I, n):
    """Counts by pathway status and mean patient states (STATE_MEANS): trust over patients in
    care; coercion, felt safety, locus and recovery over patients in care or in hospital."""
    waiting = in_care = admitted = low = 0
    trust = trust_cp = coercion = safety = locus = locus_low = recovery = 0.0
    for i in range(n):
        s = I[STATUS, i]
        if s == WAITING:
            waiting += 1
            continue
        if s == IN_CARE:
            in_care += 1
            trust += F[TRUST_PC, i]
            trust_cp += F[TRUST_CP, i]
        elif s == ADMITTED:
            admitted += 1
        else:
            continue
        coercion += F[COERCION, i]
        safety += F[FELT_SAFETY, i]
        locus += F[LOCUS, i]
        recovery += F[RECOVERY, i]
        if F[LOCUS_BASE, i] < LOW_LOCUS:
            low += 1
            locus_low += F[LOCUS, i]
    served = in_care + admitted
    nan = math.nan
    return np.array([
        waiting, in_care, admitted,
        trust / in_care if in_care else nan, trust_cp / in_care if in_care else nan,
        coercion / served if served else nan, safety / served if served else nan,
        locus / served if served else nan, locus_low / low if low else nan,
        recovery / served if served else nan])


#: Clinician-state outputs of :func:`outputs`, in order.
CLINICIAN_MEANS = ("caseload_mean", "demand_ratio_mean", "stress_mean", "burnout_share",
                   "defensiveness_mean")
#: Shares and means over a set of contested decisions (:func:`decision_rates`), in order.
RATE_KEYS = ("involvement_mean", *(f"involvement_share_{k}" for k in range(5)),
             *(f"pressure_share_{k}" for k in range(5)), "role_concordance",
             "clinician_rated_involvement", "patient_rated_involvement", "options_offered_mean",
             "rationing_rate", "routinizing_rate", "authority_share", "contact_shortfall")
#: One week's outputs as :func:`outputs` returns them (a row of the model's history): the
#: week, the weekly counts, patient and clinician states, and the decision rates.
OUTPUT_KEYS = ("week", *COUNT_KEYS, *STATE_MEANS, *CLINICIAN_MEANS, *RATE_KEYS)
_N_COUNTS, _N_STATES, _N_CLIN = len(COUNT_KEYS), len(STATE_MEANS), len(CLINICIAN_MEANS)


@kernel
def share(num, den):
    """``num / den``, or NaN when there is nothing to share over (``den`` <= 0)."""
    return num / den if den > 0 else math.nan


@kernel
def decision_rates(c):
    """Shares and means (RATE_KEYS) over a set of contested decisions, from their pooled
    counts ``c`` (COUNT_KEYS order). The same rule serves one week and a summary window."""
    dec = c[K_DECISIONS]
    out = np.empty(len(RATE_KEYS))
    level_sum = 0.0
    for k in range(5):
        level_sum += k * c[K_LEVEL + k]
        out[1 + k] = share(c[K_LEVEL + k], dec)
        out[6 + k] = share(c[K_PRESSURE + k], dec)
    out[0] = share(level_sum, dec)
    out[11] = share(c[K_CONCORDANT], dec)
    out[12] = share(c[K_CLINICIAN_RATED], dec)
    out[13] = share(c[K_PATIENT_RATED], dec)
    out[14] = share(c[K_OPTIONS], dec)
    out[15] = share(c[K_RATIONED], c[K_SCARCE])
    out[16] = share(c[K_ROUTINIZED], dec)
    out[17] = share(c[K_AUTHORITY], dec)
    # share of needed contacts not made (0 when crises pushed contacts above the need)
    needed = c[K_CONTACTS_NEEDED]
    out[18] = max(0.0, 1.0 - c[K_CONTACTS_MADE] / needed) if needed > 0 else math.nan
    return out


@kernel
def outputs(week, wk, F, I, n, caseload, ratio, stress, burnout, defensiveness,
            burnout_threshold):
    """One week's outputs (OUTPUT_KEYS): the week, its counts ``wk``, the states of the ``n``
    patients (:func:`state_means`), clinician means and the decision rates of the week
    (ODD 7.13). The same call records week 0, at set-up."""
    out = np.empty(len(OUTPUT_KEYS))
    out[0] = week
    out[1:1 + _N_COUNTS] = wk
    j = 1 + _N_COUNTS
    out[j:j + _N_STATES] = state_means(F, I, n)
    j += _N_STATES
    n_clin = len(caseload)
    burnt = 0
    for c in range(n_clin):
        if burnout[c] > burnout_threshold:
            burnt += 1
    out[j] = caseload.sum() / n_clin
    out[j + 1] = ratio.sum() / n_clin
    out[j + 2] = stress.sum() / n_clin
    out[j + 3] = burnt / n_clin
    out[j + 4] = defensiveness.sum() / n_clin
    out[j + _N_CLIN:] = decision_rates(wk)
    return out
