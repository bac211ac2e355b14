"""Submodels, named as in docs/ODD.md section 7.

Each function is a pure rule over scalars (one patient, decision or clinician), small enough to
check by hand, and compiled with numba (:func:`rule`) so that the weekly kernels
(:mod:`model.kernels`) call it inside their loops at C speed; from Python it is an ordinary
function of numbers. The model's weekly schedule (``CarePathwayModel.step``) runs the kernels in
the order of the ODD's process overview.

Weights that are structural (how strongly a state variable enters a rule) are named constants
here, each documented in the ODD; user-facing parameters live in ``model.params.SCHEMA``.
"""

from __future__ import annotations

import math
from collections import namedtuple
from enum import IntEnum

import numpy as np

from .compiled import njit_cached

# ----------------------------------------------------------------------------- enumerations


class Status(IntEnum):
    """Where a patient is in the care pathway."""

    WAITING = 0
    IN_CARE = 1
    ADMITTED = 2
    DISCHARGED = 3
    DISENGAGED = 4


class Mode(IntEnum):
    """Clinician influence modes, ordered along the pressure spectrum (Szmukler & Appelbaum)."""

    SHARE = 0
    PERSUADE = 1
    LEVERAGE = 2  # interpersonal leverage
    DEAL = 3  # offer: resource conditional on adherence
    THREATEN = 4
    COMPEL = 5


class Response(IntEnum):
    ACCEPT = 0
    NEGOTIATE = 1
    REFUSE = 2
    DISENGAGE = 3


class Decision(IntEnum):
    MEDICATION = 0  # the treatment plan
    SERVICE = 1  # psychological therapy or a psychosocial programme (scarce)
    HOUSING = 2  # housing support (scarce, service-controlled)
    ADMISSION = 3
    DISCHARGE = 4


class Role(IntEnum):
    """Control Preferences Scale roles (preferred or enacted)."""

    NONE = -1  # enacted only: overridden / excluded
    PASSIVE = 0
    COLLABORATIVE = 1
    ACTIVE = 2


LEVERAGE_TYPES = ("housing", "money", "services", "compulsion")
N_MODES = len(Mode)

#: Pressure level 0-4 of each mode (brief: persuasion, interpersonal leverage, offer, threat,
#: compulsion). Sharing a decision exerts no more pressure than persuasion.
PRESSURE = np.array([0, 0, 1, 2, 3, 4], dtype=np.int8)

#: Authority modes: the ones that relieve clinician stress in the short run (S1).
AUTHORITY = np.array([False, False, True, False, True, True])

#: Compile a scalar rule with numba (cached on disk; the first run of a fresh checkout, or after an
#: edit to the model's compiled source, compiles; later runs load the cache).
rule = njit_cached


# ----------------------------------------------------------------------------- weights


def weights(name: str, **values: float):
    """A named, immutable set of weights (a namedtuple: numba reads it as constants)."""
    return namedtuple(name, list(values))(**values)


# Clinician's utility of each mode (ODD 7.5, table "mode utility weights").
W_SHARE = weights("W_SHARE", time=1.5, skill=1.5, mandate=1.0, org=0.8, capacity=0.8, stress=1.5,
                  defensive=1.2, identity=0.8, risk=1.0, advocate=0.5, active=0.5)
W_PERSUADE = weights("W_PERSUADE", identity=0.5, risk=0.3)
W_LEVERAGE = weights("W_LEVERAGE", trust_pc=1.0, reluctance=0.6, stress=0.5)
W_DEAL = weights("W_DEAL", reluctance=1.5, dependency=1.0)
W_THREATEN = weights("W_THREATEN", stress=1.2, defensive=1.2, risk=1.5, reluctance=1.0,
                     trust_cp=1.0, tic=1.0)
W_COMPEL = weights("W_COMPEL", risk=2.5, defensive=0.8, tic=0.8)
#: Risk margin below the compulsion threshold at which a threat of compulsion becomes possible.
THREAT_OF_COMPULSION_MARGIN = 0.2

# Patient's utility of each response (ODD 7.6).
V_ACCEPT = weights("V_ACCEPT", base=0.5, trust=2.0, reluctance=1.5, passive=0.8, active=0.5,
                   dependency=1.0)
V_NEGOTIATE = weights("V_NEGOTIATE", base=-0.5, active=0.8, collaborative=0.4, advocate=0.8,
                      locus=0.8, safety=0.5, acuity=1.0)
V_REFUSE = weights("V_REFUSE", base=-0.5, reluctance=2.0, trust=1.0)
V_DISENGAGE = weights("V_DISENGAGE", base=-3.0, coercion=2.5, reluctance=1.0, trust=1.5)
#: Mode-specific shifts of the response utilities, rows = Mode, columns = Response.
RESPONSE_MODE_SHIFT = np.array([
    # accept negotiate refuse disengage
    [0.8, 1.0, -0.5, -1.0],  # share
    [0.0, 0.2, 0.0, 0.0],  # persuade
    [0.5, -0.3, 0.0, 0.2],  # interpersonal leverage
    [1.0, 0.5, -0.3, 0.0],  # deal
    [0.8, -0.5, 0.0, 1.2],  # threaten
    [0.0, -1.0, 0.0, 1.0],  # compel (outcome is forced whatever the response)
])

#: Involvement level 0-4 by (mode, response) for an accommodated / not accommodated negotiation
#: and for accept and refuse (ODD 7.7). Disengagement is rated as a refusal.
LEVEL_ACCEPT = np.array([3, 1, 1, 3, 0, 0], dtype=np.int8)
LEVEL_REFUSE = np.array([3, 2, 1, 1, 0, 0], dtype=np.int8)
LEVEL_NEGOTIATE_YES = np.array([3, 3, 2, 3, 1, 0], dtype=np.int8)
LEVEL_NEGOTIATE_NO = np.array([2, 2, 1, 2, 0, 0], dtype=np.int8)

#: Effect of a decision on the patient's trust in the clinician, by mode (ODD 7.8).
TRUST_EFFECT_PC = np.array([1.0, 0.3, -0.2, 0.3, -1.2, -1.5])
#: Effect on the clinician's trust in the patient, by response.
TRUST_EFFECT_CP = np.array([0.5, 0.2, -0.5, -1.0])
#: Pressure experienced (0-1 input to perceived coercion) by pressure level (ODD 7.9).
COERCION_INPUT = np.array([0.03, 0.15, 0.15, 0.75, 1.0])
#: Extra coercion an offer carries per unit of dependency ("offers feel coercive").
OFFER_DEPENDENCY_COERCION = 0.5


@rule
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@rule
def clip(x, lo, hi):
    return min(max(x, lo), hi)


@rule
def gumbel(rng):
    """A standard Gumbel draw (numba's Generator has no ``gumbel``): -log(-log U)."""
    return -math.log(rng.standard_exponential())


@rule
def beta_shape(mean, concentration):
    """Shape parameters (a, b) of Beta(mean, concentration), the draw with that mean and
    concentration: (mean·κ, (1 − mean)·κ), the mean kept inside [0.001, 0.999] (ODD 2.2)."""
    m = clip(mean, 1e-3, 1 - 1e-3)
    return m * concentration, (1 - m) * concentration


# ----------------------------------------------------------------------------- 7.1 referrals


@rule
def stochastic_round(x, rng):
    """Round a non-negative real to an integer whose expectation is ``x``."""
    base = math.floor(x)
    return int(base) + int(rng.random() < (x - base))


# ----------------------------------------------------------------------------- 7.2 illness


@rule
def acuity_baseline(acuity_base, recovery):
    """The acuity a patient's illness reverts to: their own baseline, lowered by recovery
    (ODD 7.2); also what "stable" is judged against for discharge (ODD 7.4)."""
    return acuity_base * (1.0 - 0.3 * recovery)


@rule
def risk_from_acuity(acuity, risk_trait):
    """Risk to self or others: acuity scaled by a personal risk trait (0.4x to 1.6x)."""
    return clip(acuity * (0.4 + 1.2 * risk_trait), 0.0, 1.0)


@rule
def crisis_hazard(acuity, adherent, crisis_rate):
    """Weekly crisis probability: grows exponentially with acuity, 1.5x when not adherent."""
    return clip(crisis_rate * math.exp(3.0 * (acuity - 0.5)) * (1.0 + 0.5 * (not adherent)),
                0.0, 1.0)


#: Half-life (weeks) of the excess crisis hazard after leaving hospital (an assumption; ODD 7.2).
POST_DISCHARGE_HALF_LIFE = 13.0


@rule
def post_discharge_hazard(weeks_since, post_discharge_crisis):
    """Extra weekly crisis hazard ``weeks_since`` weeks after a hospital stay ended (ODD 7.2):
    ``post_discharge_crisis``, halving every ``POST_DISCHARGE_HALF_LIFE`` weeks, none after
    eight half-lives (104 weeks) or for someone never in hospital."""
    if post_discharge_crisis > 0.0 and weeks_since < 8 * POST_DISCHARGE_HALF_LIFE:
        return post_discharge_crisis * 0.5 ** (weeks_since / POST_DISCHARGE_HALF_LIFE)
    return 0.0


# ----------------------------------------------------------------------------- 7.3 coping


@rule
def contact_need(acuity, need_base_hours, need_acuity_hours):
    """Weekly contact hours a patient in care needs: a base, and more the more acute (ODD 7.3)."""
    return need_base_hours + need_acuity_hours * acuity


@rule
def demand_ratio(need_hours, available_hours):
    """Demand/capacity ratio D of a clinician: hours needed over hours available."""
    return need_hours / max(available_hours, 1e-9)


@rule
def available_hours(contact_hours, admin_share, pathway_time_targets, org_support):
    """Weekly hours for contact after documentation; pathways add it, protected time returns it."""
    share = clip(admin_share + 0.10 * pathway_time_targets - 0.10 * org_support, 0.0, 0.95)
    return contact_hours * (1.0 - share)


@rule
def toward_patients(stress, defensiveness):
    """'Moving towards' coping (bending rules, extra time): strongest in calm, open clinicians."""
    return 0.25 * (1.0 - stress) * (1.0 - defensiveness)


@rule
def time_share(ratio):
    """Share of the needed time each patient gets: 1 / D, at most 1."""
    return min(1.0, 1.0 / max(ratio, 1e-9))


@rule
def contact_probability(need, ratio, toward):
    """Probability a patient is seen this week: needed hours scaled by the time each gets."""
    ts = time_share(ratio)
    return clip(need * (ts + toward * (1.0 - ts)), 0.0, 1.0)


@rule
def routinizing_probability(ratio, pathway_time_targets, identity, skill):
    """Probability that a clinician offers only their own method (S4)."""
    return sigmoid(-1.5 + 2.0 * (ratio - 1.0) + 1.5 * pathway_time_targets + 0.8 * identity
                   - 1.0 * skill)


@rule
def gatekeeping_probability(ratio, identity, org_support):
    """Probability a fitting scarce service is not mentioned (rationing by gatekeeping, S4)."""
    return sigmoid(-2.0 + 2.5 * (ratio - 1.0) + 1.0 * identity - 1.0 * org_support)


# ----------------------------------------------------------------------------- 7.5 mode choice


@rule
def mode_utilities(propensity, time_share, skill, mandate, org_support, acuity, stress,
                   defensiveness, identity, risk, advocate, prefers_active, trust_pc, trust_cp,
                   reluctance, dependency, trauma_informed, leverage_bias):
    """Utility of each influence mode (SHARE ... COMPEL) for one decision, before availability
    (ODD 7.5). ``propensity`` is the clinician's row of six learned propensities;
    ``leverage_bias`` is added to the offer and the threat (``kernels.leverage_bias``: the
    substance-misuse and leverage-history terms, so that leverage clusters in a persistent
    subgroup and recurs in the same people over time)."""
    w = W_SHARE
    share = (w.time * time_share + w.skill * skill + w.mandate * mandate * (1.0 - defensiveness)
             + w.org * org_support + w.capacity * (1.0 - acuity) - w.stress * stress
             - w.defensive * defensiveness - w.identity * identity - w.risk * risk
             + w.advocate * advocate + w.active * prefers_active)
    persuade = W_PERSUADE.identity * identity + W_PERSUADE.risk * risk
    w2 = W_LEVERAGE
    leverage = w2.trust_pc * trust_pc + w2.reluctance * reluctance + w2.stress * stress
    deal = W_DEAL.reluctance * reluctance + W_DEAL.dependency * dependency + leverage_bias
    w3 = W_THREATEN
    threaten = (w3.stress * stress + w3.defensive * defensiveness + w3.risk * risk
                + w3.reluctance * reluctance - w3.trust_cp * trust_cp - w3.tic * trauma_informed
                + leverage_bias)
    w4 = W_COMPEL
    compel = w4.risk * risk + w4.defensive * defensiveness - w4.tic * trauma_informed
    return (propensity[0] + share, propensity[1] + persuade, propensity[2] + leverage,
            propensity[3] + deal, propensity[4] + threaten, propensity[5] + compel)


@rule
def mode_availability(decision, trust_cp, deal_trust_threshold, has_resource, leverage_allowed,
                      risk, compulsion_available, compulsion_risk_threshold):
    """Which modes (SHARE ... COMPEL) are open for one decision (ODD 7.5).

    A deal needs clinician trust at or above the threshold (S2), a resource the patient depends
    on, and no policy limit in the way. A threat needs a resource (policy permitting) or a
    risk close enough to the compulsion threshold for compulsion to be credible. Compulsion needs
    the legal regime, risk at or above the threshold, and an admission or treatment decision.
    """
    resource_lever = has_resource and leverage_allowed
    deal = (resource_lever and trust_cp >= deal_trust_threshold
            and decision != Decision.ADMISSION and decision != Decision.DISCHARGE)
    credible_compulsion = compulsion_available and (
        risk >= compulsion_risk_threshold - THREAT_OF_COMPULSION_MARGIN)
    threaten = (resource_lever or credible_compulsion) and decision != Decision.DISCHARGE
    compel = (compulsion_available and risk >= compulsion_risk_threshold
              and (decision == Decision.ADMISSION or decision == Decision.MEDICATION))
    return (True, True, True, deal, threaten, compel)


@rule
def choose_influence_mode(utilities, available, temperature, rng):
    """Sample one mode from a softmax over the available modes (Gumbel-max trick)."""
    best, best_score = 0, -math.inf
    for k in range(N_MODES):
        g = gumbel(rng)
        if available[k]:
            score = utilities[k] / temperature + g
            if score > best_score:
                best, best_score = k, score
    return best


# ----------------------------------------------------------------------------- 7.6 response


@rule
def response_utilities(mode, trust_pc, reluctance, role, dependency, advocate, locus, safety,
                       acuity, coercion):
    """Utility of accept / negotiate / refuse / disengage for one decision (ODD 7.6)."""
    passive = 1.0 if role == Role.PASSIVE else 0.0
    active = 1.0 if role == Role.ACTIVE else 0.0
    collab = 1.0 if role == Role.COLLABORATIVE else 0.0
    offer_or_threat = 1.0 if (mode == Mode.DEAL or mode == Mode.THREATEN) else 0.0
    shift = RESPONSE_MODE_SHIFT[mode]
    a = V_ACCEPT
    accept = (a.base + a.trust * trust_pc - a.reluctance * reluctance + a.passive * passive
              - a.active * active + a.dependency * dependency * offer_or_threat)
    b = V_NEGOTIATE
    negotiate = (b.base + b.active * active + b.collaborative * collab
                 + b.advocate * advocate * 2.0 * (1.0 - locus) + b.locus * locus
                 + b.safety * safety - b.acuity * acuity)
    refuse = V_REFUSE.base + V_REFUSE.reluctance * reluctance - V_REFUSE.trust * trust_pc
    d = V_DISENGAGE
    disengage = d.base + d.coercion * coercion + d.reluctance * reluctance - d.trust * trust_pc
    return (accept + shift[0], negotiate + shift[1], refuse + shift[2], disengage + shift[3])


@rule
def patient_response(utilities, rng):
    """Sample a response from a softmax over the four utilities (Gumbel-max)."""
    best, best_score = 0, -math.inf
    for k in range(4):
        score = utilities[k] + gumbel(rng)
        if score > best_score:
            best, best_score = k, score
    return best


@rule
def accommodation_probability(skill, time_share, defensiveness, advocate):
    """Probability the clinician accommodates a patient who negotiates."""
    return sigmoid(-0.5 + 2.0 * skill + 1.0 * time_share - 1.5 * defensiveness + 0.8 * advocate)


@rule
def deal_honour_probability_patient(trust_pc, acuity, reluctance):
    return sigmoid(1.0 + 2.0 * trust_pc - 1.5 * acuity - 1.0 * reluctance)


@rule
def deal_honour_probability_service(ratio, clinician_changed, resource_available):
    if not resource_available:
        return 0.0
    return clip(0.95 - 0.3 * max(0.0, ratio - 1.0) - 0.3 * clinician_changed, 0.0, 1.0)


# ----------------------------------------------------------------------------- 7.7 outcomes


@rule
def involvement_level(mode, response, accommodated, full_share, prefers_active, capable):
    """Involvement ladder 0-4 of one decision (ODD 7.7).

    0 overridden/excluded, 1 informed, 2 consulted, 3 shared (incl. a deal agreed),
    4 patient-led. A share counts as shared only when time allowed and more than one option was
    on the table (``full_share``); otherwise the patient was at best consulted. A full share with
    a capable patient who wants the active role is patient-led.
    """
    if response == Response.ACCEPT:
        level = LEVEL_ACCEPT[mode]
    elif response == Response.NEGOTIATE:
        level = LEVEL_NEGOTIATE_YES[mode] if accommodated else LEVEL_NEGOTIATE_NO[mode]
    else:
        level = LEVEL_REFUSE[mode]
    level = int(level)
    if mode == Mode.SHARE:
        agreed = response == Response.ACCEPT or (response == Response.NEGOTIATE and accommodated)
        if not full_share:
            level = min(level, 2)
        elif prefers_active and capable and agreed:
            level = 4
    return level


@rule
def enacted_role(level):
    """Enacted CPS role of a decision: 0 -> none, 1 -> passive, 2-3 -> collaborative,
    4 -> active."""
    if level <= 0:
        return Role.NONE
    if level == 1:
        return Role.PASSIVE
    if level <= 3:
        return Role.COLLABORATIVE
    return Role.ACTIVE


@rule
def clinician_rated_involvement(level, identity, mandate, insight, mode):
    """What the clinician would report: the enacted level plus a self-rating bias (S4).

    The bias grows with expert identity and with an involvement target to report against, and
    shrinks with the insight that reflective practice builds. Compulsion is rated as it is.
    """
    if mode == Mode.COMPEL:
        return float(level)
    bias = clip(0.2 * identity + 0.6 * mandate - 0.8 * insight, 0.0, 2.0)
    return min(4.0, level + bias)


@rule
def patient_rated_involvement(level, felt_pressure):
    """What the patient would report: the enacted level less the pressure they felt."""
    return clip(level - 1.5 * felt_pressure, 0.0, 4.0)


# ----------------------------------------------------------------------------- 7.8 trust


@rule
def update_trust(trust, effect, gain, loss_ratio):
    """Asymmetric trust update: gains saturate toward 1, losses are ``loss_ratio`` times larger."""
    if effect >= 0:
        return clip(trust + gain * effect * (1.0 - trust), 0.0, 1.0)
    return clip(trust + gain * loss_ratio * effect * trust, 0.0, 1.0)


@rule
def trust_loss_buffer(voice, trauma_informed):
    """Share of a trust loss that still lands: less when the patient had voice, or under TIC."""
    return (1.0 - 0.4 * voice) * (1.0 - 0.3 * trauma_informed)


@rule
def starting_trust_cp(reluctance, noise):
    """A clinician's trust in a patient they meet for the first time: lower the more reluctant
    the patient (ODD 2.4). ``noise`` spreads it at referral (ODD 2.2); 0 when a dyad starts."""
    return clip(0.6 - 0.3 * reluctance + noise, 0.0, 1.0)


# ----------------------------------------------------------------------------- 7.9 coercion


@rule
def felt_pressure(pressure, dependency, trauma, trauma_informed, voice):
    """Pressure experienced in a decision (0-1): input to perceived coercion (Lidz et al. 1998).

    Threats and force weigh most; persuasion barely. An offer weighs more for a patient who
    depends on the resource; trauma history amplifies, trauma-informed care and voice soften.
    """
    x = COERCION_INPUT[pressure] + OFFER_DEPENDENCY_COERCION * dependency * (pressure == 2)
    x = x * (1.0 + 0.5 * trauma) * (1.0 - 0.3 * trauma_informed) * (1.0 - 0.25 * voice)
    return clip(x, 0.0, 1.0)


@rule
def update_coercion(coercion, felt, memory):
    """Perceived coercion as an exponential memory of the pressure felt (ODD 7.9): a decision
    with felt pressure ``felt`` moves it by the share ``memory`` (``coercion_memory``); a
    detention by the crisis team counts as ``felt`` = 1 (ODD 7.10)."""
    return (1.0 - memory) * coercion + memory * felt


# ----------------------------------------------------------------------------- 7.10 admission

#: Risk margin below the compulsion threshold from which the crisis team offers a voluntary
#: admission (ODD 7.10).
VOLUNTARY_ADMISSION_MARGIN = 0.2


@rule
def admission_indicated(risk, compulsion_risk_threshold):
    """Whether risk is high enough for a (voluntary) admission by the crisis team: within
    ``VOLUNTARY_ADMISSION_MARGIN`` of the legal threshold (ODD 7.10)."""
    return risk >= compulsion_risk_threshold - VOLUNTARY_ADMISSION_MARGIN


# ----------------------------------------------------------------------------- 7.11 clinicians


@rule
def stress_target(ratio, conflict_rate, org_support, reflective):
    """Load-driven stress target of a clinician (S1, S3, S4)."""
    return clip(0.10 + 0.35 * ratio + 1.5 * conflict_rate - 0.10 * org_support
                - 0.10 * reflective, 0.0, 1.0)


@rule
def awareness_step(discomfort, insight, awareness_input, reflective):
    """One week of the awareness J-curve (S1); returns (discomfort, insight).

    Awareness-raising (mandate, training, pathway goals) builds discomfort; discomfort is worked
    through into insight slowly alone and fast with reflective supervision. Defensiveness rises
    with discomfort and falls with insight, so awareness without reflective space raises it
    first and lowers it only slowly.
    """
    new_disc = (discomfort + 0.05 * awareness_input * (1.0 - discomfort)
                - (0.01 + 0.08 * reflective) * discomfort)
    new_ins = (insight + (0.01 + 0.08 * reflective) * discomfort * (1.0 - insight)
               - 0.002 * insight)
    return clip(new_disc, 0.0, 1.0), clip(new_ins, 0.0, 1.0)


@rule
def defensiveness_state(trait, discomfort, insight, stress):
    return clip(trait + 0.4 * discomfort - 0.5 * insight + 0.3 * (stress - 0.4), 0.0, 1.0)


@rule
def decision_reward(accepted, refused, disengaged, authority, stress, level, reflective):
    """Reward a clinician draws from one decision (ODD 7.11, learning).

    Adherence won pays; refusal and disengagement cost; authority pays in stress relief, more
    when stressed (S1); reflective supervision makes involvement itself count as success.
    """
    return (1.0 * accepted - 0.8 * refused - 1.5 * disengaged + 0.6 * stress * authority
            + 0.6 * reflective * level / 4.0)


# ----------------------------------------------------------------------------- 7.12 network


@rule
def experience(trust_pc, coercion):
    """The experience of the service a patient passes on to their ties: trust in their
    clinician, less half their perceived coercion (ODD 7.12)."""
    return trust_pc - 0.5 * coercion
