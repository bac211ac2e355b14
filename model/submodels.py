"""Submodels, named as in docs/ODD.md section 7.

Each function is a pure, vectorised rule over numpy arrays (one element per patient, decision
or clinician), small enough to check by hand. The model's weekly schedule
(``CarePathwayModel.step``) calls them in the order of the ODD's process overview.

Weights that are structural (how strongly a state variable enters a rule) are named constants
here, each documented in the ODD; user-facing parameters live in ``model.params.SCHEMA``.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

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

# ----------------------------------------------------------------------------- weights
# Clinician's utility of each mode (ODD 7.5, table "mode utility weights").
W_SHARE = dict(time=1.5, skill=1.5, mandate=1.0, org=0.8, capacity=0.8, stress=1.5,
               defensive=1.2, identity=0.8, risk=1.0, advocate=0.5, active=0.5)
W_PERSUADE = dict(identity=0.5, risk=0.3)
W_LEVERAGE = dict(trust_pc=1.0, reluctance=0.6, stress=0.5)
W_DEAL = dict(reluctance=1.5, dependency=1.0)
W_THREATEN = dict(stress=1.2, defensive=1.2, risk=1.5, reluctance=1.0, trust_cp=1.0, tic=1.0)
W_COMPEL = dict(risk=2.5, defensive=0.8, tic=0.8)
#: Risk margin below the compulsion threshold at which a threat of compulsion becomes possible.
THREAT_OF_COMPULSION_MARGIN = 0.2

# Patient's utility of each response (ODD 7.6).
V_ACCEPT = dict(base=0.5, trust=2.0, reluctance=1.5, passive=0.8, active=0.5, dependency=1.0)
V_NEGOTIATE = dict(base=-0.5, active=0.8, collaborative=0.4, advocate=0.8, locus=0.8,
                   safety=0.5, acuity=1.0)
V_REFUSE = dict(base=-0.5, reluctance=2.0, trust=1.0)
V_DISENGAGE = dict(base=-3.0, coercion=2.5, reluctance=1.0, trust=1.5)
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


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- 7.1 referrals


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """Round a non-negative real to an integer whose expectation is ``x``."""
    base = int(np.floor(x))
    return base + int(rng.random() < (x - base))


# ----------------------------------------------------------------------------- 7.2 illness


def risk_from_acuity(acuity, risk_trait):
    """Risk to self or others: acuity scaled by a personal risk trait (0.4x to 1.6x)."""
    return np.clip(acuity * (0.4 + 1.2 * risk_trait), 0.0, 1.0)


def crisis_hazard(acuity, adherent, crisis_rate):
    """Weekly crisis probability: grows exponentially with acuity, 1.5x when not adherent."""
    return np.clip(crisis_rate * np.exp(3.0 * (acuity - 0.5)) * (1.0 + 0.5 * ~adherent), 0, 1)


# ----------------------------------------------------------------------------- 7.3 coping


def demand_ratio(need_by_clinician, available_hours):
    """Demand/capacity ratio D of each clinician: hours needed over hours available."""
    return need_by_clinician / np.maximum(available_hours, 1e-9)


def available_hours(contact_hours, admin_share, pathway_time_targets, org_support):
    """Weekly hours for contact after documentation; pathways add it, protected time returns it."""
    share = np.clip(admin_share + 0.10 * pathway_time_targets - 0.10 * org_support, 0.0, 0.95)
    return contact_hours * (1.0 - share)


def toward_patients(stress, defensiveness):
    """'Moving towards' coping (bending rules, extra time): strongest in calm, open clinicians."""
    return 0.25 * (1.0 - stress) * (1.0 - defensiveness)


def contact_probability(need, ratio, toward):
    """Probability a patient is seen this week: needed hours scaled by the time each gets."""
    time_share = np.minimum(1.0, 1.0 / np.maximum(ratio, 1e-9))
    extra = toward * (1.0 - time_share)
    return np.clip(need * (time_share + extra), 0.0, 1.0)


def routinizing_probability(ratio, pathway_time_targets, identity, skill):
    """Probability that a clinician offers only their own method (S4)."""
    return sigmoid(-1.5 + 2.0 * (ratio - 1.0) + 1.5 * pathway_time_targets + 0.8 * identity
                   - 1.0 * skill)


def gatekeeping_probability(ratio, identity, org_support):
    """Probability a fitting scarce service is not mentioned (rationing by gatekeeping, S4)."""
    return sigmoid(-2.0 + 2.5 * (ratio - 1.0) + 1.0 * identity - 1.0 * org_support)


# ----------------------------------------------------------------------------- 7.5 mode choice


def mode_utilities(*, propensity, time_share, skill, mandate, org_support, acuity, stress,
                   defensiveness, identity, risk, advocate, prefers_active, trust_pc, trust_cp,
                   reluctance, dependency, trauma_informed):
    """Utility of each influence mode for each decision (rows) before availability (ODD 7.5).

    All arguments are arrays of one value per decision except the scalars ``org_support`` and
    ``trauma_informed``; ``propensity`` is (n, 6).
    """
    u = propensity.astype(float, copy=True)
    w = W_SHARE
    u[:, Mode.SHARE] += (w["time"] * time_share + w["skill"] * skill
                         + w["mandate"] * mandate * (1.0 - defensiveness)
                         + w["org"] * org_support + w["capacity"] * (1.0 - acuity)
                         - w["stress"] * stress - w["defensive"] * defensiveness
                         - w["identity"] * identity - w["risk"] * risk
                         + w["advocate"] * advocate + w["active"] * prefers_active)
    u[:, Mode.PERSUADE] += W_PERSUADE["identity"] * identity + W_PERSUADE["risk"] * risk
    w = W_LEVERAGE
    u[:, Mode.LEVERAGE] += (w["trust_pc"] * trust_pc + w["reluctance"] * reluctance
                            + w["stress"] * stress)
    u[:, Mode.DEAL] += W_DEAL["reluctance"] * reluctance + W_DEAL["dependency"] * dependency
    w = W_THREATEN
    u[:, Mode.THREATEN] += (w["stress"] * stress + w["defensive"] * defensiveness
                            + w["risk"] * risk + w["reluctance"] * reluctance
                            - w["trust_cp"] * trust_cp - w["tic"] * trauma_informed)
    w = W_COMPEL
    u[:, Mode.COMPEL] += (w["risk"] * risk + w["defensive"] * defensiveness
                          - w["tic"] * trauma_informed)
    return u


def mode_availability(*, decision, trust_cp, deal_trust_threshold, has_resource,
                      leverage_allowed, risk, compulsion_available, compulsion_risk_threshold):
    """Boolean (n, 6): which modes are open for each decision (ODD 7.5).

    A deal needs clinician trust at or above the threshold (S2), a resource the patient depends
    on, and no policy limit in the way. A threat needs a resource (policy permitting) or a
    risk close enough to the compulsion threshold for compulsion to be credible. Compulsion needs
    the legal regime, risk at or above the threshold, and an admission or treatment decision.
    """
    n = len(decision)
    ok = np.ones((n, N_MODES), dtype=bool)
    resource_lever = has_resource & leverage_allowed
    ok[:, Mode.DEAL] = (resource_lever & (trust_cp >= deal_trust_threshold)
                        & (decision != Decision.ADMISSION) & (decision != Decision.DISCHARGE))
    credible_compulsion = compulsion_available & (
        risk >= compulsion_risk_threshold - THREAT_OF_COMPULSION_MARGIN)
    ok[:, Mode.THREATEN] = (resource_lever & (decision != Decision.DISCHARGE)) | (
        credible_compulsion & (decision != Decision.DISCHARGE))
    ok[:, Mode.COMPEL] = (compulsion_available & (risk >= compulsion_risk_threshold)
                          & ((decision == Decision.ADMISSION) | (decision == Decision.MEDICATION)))
    return ok


def choose_influence_mode(utilities, available, temperature, rng):
    """Sample one mode per decision from a softmax over available modes (Gumbel-max trick)."""
    g = rng.gumbel(size=utilities.shape)
    scored = np.where(available, utilities / temperature + g, -np.inf)
    return np.argmax(scored, axis=1).astype(np.int8)


# ----------------------------------------------------------------------------- 7.6 response


def response_utilities(*, mode, trust_pc, reluctance, role, dependency, advocate, locus, safety,
                       acuity, coercion):
    """Utility of accept / negotiate / refuse / disengage for each decision (ODD 7.6)."""
    n = len(mode)
    v = np.empty((n, 4))
    passive = role == Role.PASSIVE
    active = role == Role.ACTIVE
    collab = role == Role.COLLABORATIVE
    offer_or_threat = (mode == Mode.DEAL) | (mode == Mode.THREATEN)
    a = V_ACCEPT
    v[:, Response.ACCEPT] = (a["base"] + a["trust"] * trust_pc - a["reluctance"] * reluctance
                             + a["passive"] * passive - a["active"] * active
                             + a["dependency"] * dependency * offer_or_threat)
    a = V_NEGOTIATE
    v[:, Response.NEGOTIATE] = (a["base"] + a["active"] * active + a["collaborative"] * collab
                                + a["advocate"] * advocate * 2.0 * (1.0 - locus)
                                + a["locus"] * locus
                                + a["safety"] * safety - a["acuity"] * acuity)
    a = V_REFUSE
    v[:, Response.REFUSE] = a["base"] + a["reluctance"] * reluctance - a["trust"] * trust_pc
    a = V_DISENGAGE
    v[:, Response.DISENGAGE] = (a["base"] + a["coercion"] * coercion
                                + a["reluctance"] * reluctance - a["trust"] * trust_pc)
    return v + RESPONSE_MODE_SHIFT[mode]


def patient_response(utilities, rng):
    g = rng.gumbel(size=utilities.shape)
    return np.argmax(utilities + g, axis=1).astype(np.int8)


def accommodation_probability(skill, time_share, defensiveness, advocate):
    """Probability the clinician accommodates a patient who negotiates."""
    return sigmoid(-0.5 + 2.0 * skill + 1.0 * time_share - 1.5 * defensiveness + 0.8 * advocate)


def deal_honour_probability_patient(trust_pc, acuity, reluctance):
    return sigmoid(1.0 + 2.0 * trust_pc - 1.5 * acuity - 1.0 * reluctance)


def deal_honour_probability_service(ratio, clinician_changed, resource_available):
    p = 0.95 - 0.3 * np.maximum(0.0, ratio - 1.0) - 0.3 * clinician_changed
    return np.where(resource_available, np.clip(p, 0.0, 1.0), 0.0)


# ----------------------------------------------------------------------------- 7.7 outcomes


def involvement_level(mode, response, accommodated, full_share, prefers_active, capable):
    """Involvement ladder 0-4 of each decision (ODD 7.7).

    0 overridden/excluded, 1 informed, 2 consulted, 3 shared (incl. a deal agreed),
    4 patient-led. A share counts as shared only when time allowed and more than one option was
    on the table (``full_share``); otherwise the patient was at best consulted. A full share with
    a capable patient who wants the active role is patient-led.
    """
    level = np.where(response == Response.ACCEPT, LEVEL_ACCEPT[mode],
                     np.where(response == Response.NEGOTIATE,
                              np.where(accommodated, LEVEL_NEGOTIATE_YES[mode],
                                       LEVEL_NEGOTIATE_NO[mode]),
                              LEVEL_REFUSE[mode]))
    share = mode == Mode.SHARE
    level = np.where(share & ~full_share, np.minimum(level, 2), level)
    agreed = (response == Response.ACCEPT) | ((response == Response.NEGOTIATE) & accommodated)
    level = np.where(share & full_share & prefers_active & capable & agreed, 4, level)
    return level.astype(np.int8)


def enacted_role(level):
    """Enacted CPS role of a decision: 0 -> none, 1 -> passive, 2-3 -> collaborative, 4 -> active."""
    return np.select([level <= 0, level == 1, level <= 3], [Role.NONE, Role.PASSIVE,
                                                             Role.COLLABORATIVE], Role.ACTIVE)


def clinician_rated_involvement(level, identity, mandate, insight, mode):
    """What the clinician would report: the enacted level plus a self-rating bias (S4).

    The bias grows with expert identity and with an involvement target to report against, and
    shrinks with the insight that reflective practice builds. Compulsion is rated as it is.
    """
    bias = np.clip(0.3 + 0.8 * identity + 0.6 * mandate - 0.8 * insight, 0.0, 2.0)
    rated = np.minimum(4.0, level + bias)
    return np.where(mode == Mode.COMPEL, level, rated)


def patient_rated_involvement(level, felt_pressure):
    """What the patient would report: the enacted level less the pressure they felt."""
    return np.clip(level - 1.5 * felt_pressure, 0.0, 4.0)


# ----------------------------------------------------------------------------- 7.8 trust


def update_trust(trust, effect, gain, loss_ratio):
    """Asymmetric trust update: gains saturate toward 1, losses are ``loss_ratio`` times larger."""
    up = trust + gain * effect * (1.0 - trust)
    down = trust + gain * loss_ratio * effect * trust
    return np.clip(np.where(effect >= 0, up, down), 0.0, 1.0)


def trust_loss_buffer(voice, trauma_informed):
    """Share of a trust loss that still lands: less when the patient had voice, or under TIC."""
    return (1.0 - 0.4 * voice) * (1.0 - 0.3 * trauma_informed)


# ----------------------------------------------------------------------------- 7.9 coercion


def felt_pressure(pressure, dependency, trauma, trauma_informed, voice):
    """Pressure experienced in a decision (0-1): input to perceived coercion (Lidz et al. 1998).

    Threats and force weigh most; persuasion barely. An offer weighs more for a patient who
    depends on the resource; trauma history amplifies, trauma-informed care and voice soften.
    """
    x = COERCION_INPUT[pressure] + OFFER_DEPENDENCY_COERCION * dependency * (pressure == 2)
    x = x * (1.0 + 0.5 * trauma) * (1.0 - 0.3 * trauma_informed) * (1.0 - 0.25 * voice)
    return np.clip(x, 0.0, 1.0)


# ----------------------------------------------------------------------------- 7.11 clinicians


def stress_target(ratio, conflict_rate, org_support, reflective):
    """Load-driven stress target of each clinician (S1, S3, S4)."""
    return np.clip(0.10 + 0.35 * ratio + 1.5 * conflict_rate - 0.10 * org_support
                   - 0.10 * reflective, 0.0, 1.0)


def awareness_step(discomfort, insight, awareness_input, reflective):
    """One week of the awareness J-curve (S1).

    Awareness-raising (mandate, training, pathway goals) builds discomfort; discomfort is worked
    through into insight slowly alone and fast with reflective supervision. Defensiveness rises
    with discomfort and falls with insight, so awareness without reflective space raises it
    first and lowers it only slowly.
    """
    new_disc = discomfort + 0.05 * awareness_input * (1.0 - discomfort) \
        - (0.01 + 0.08 * reflective) * discomfort
    new_ins = insight + (0.01 + 0.08 * reflective) * discomfort * (1.0 - insight) - 0.002 * insight
    return np.clip(new_disc, 0, 1), np.clip(new_ins, 0, 1)


def defensiveness_state(trait, discomfort, insight, stress):
    return np.clip(trait + 0.4 * discomfort - 0.5 * insight + 0.3 * (stress - 0.4), 0.0, 1.0)


def decision_reward(accepted, refused, disengaged, authority, stress, level, reflective):
    """Reward a clinician draws from one decision (ODD 7.11, learning).

    Adherence won pays; refusal and disengagement cost; authority pays in stress relief, more
    when stressed (S1); reflective supervision makes involvement itself count as success.
    """
    return (1.0 * accepted - 0.8 * refused - 1.5 * disengaged + 0.6 * stress * authority
            + 0.6 * reflective * level / 4.0)
