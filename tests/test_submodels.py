"""Hand-computed checks of the submodel rules (docs/ODD.md, section 7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model import submodels as sm
from model.submodels import Decision, Mode, Response, Role


def test_stochastic_round_has_the_right_mean():
    rng = np.random.default_rng(0)
    draws = [sm.stochastic_round(2.3, rng) for _ in range(20000)]
    assert set(draws) == {2, 3}
    assert abs(np.mean(draws) - 2.3) < 0.02


def test_risk_scales_acuity_by_trait():
    # acuity 0.5, trait 0 -> 0.5 * 0.4 = 0.2; trait 1 -> 0.5 * 1.6 = 0.8; capped at 1
    assert sm.risk_from_acuity(np.array([0.5, 0.5, 1.0]), np.array([0.0, 1.0, 1.0])) == \
        pytest.approx([0.2, 0.8, 1.0])


def test_crisis_hazard_grows_with_acuity_and_non_adherence():
    h = sm.crisis_hazard(np.array([0.5, 0.5, 0.9]), np.array([True, False, True]), 0.01)
    assert h == pytest.approx([0.01, 0.015, 0.01 * math.exp(1.2)])


def test_available_hours_and_demand_ratio():
    # 18 h, 15 % admin, full time targets (+10 %), no protected time -> 18 * 0.75 = 13.5
    assert sm.available_hours(18.0, 0.15, 1.0, 0.0) == pytest.approx(13.5)
    assert sm.available_hours(18.0, 0.15, 0.0, 1.0) == pytest.approx(18 * 0.95)
    assert sm.demand_ratio(np.array([27.0]), np.array([13.5])) == pytest.approx([2.0])


def test_contact_probability_rations_time_and_moving_towards_softens():
    # need 0.8 h; ratio 2 -> half the time each: 0.4; 'toward' 0.5 gives back 0.5*0.5 -> 0.6
    p = sm.contact_probability(np.array([0.8, 0.8, 0.8]), np.array([1.0, 2.0, 2.0]),
                               np.array([0.0, 0.0, 0.5]))
    assert p == pytest.approx([0.8, 0.4, 0.6])


def test_routinizing_and_gatekeeping_rise_with_demand():
    r = sm.routinizing_probability(np.array([0.8, 1.0, 1.5, 2.0]), 0.0, 0.5, 0.5)
    g = sm.gatekeeping_probability(np.array([0.8, 1.0, 1.5, 2.0]), 0.5, 0.0)
    assert np.all(np.diff(r) > 0) and np.all(np.diff(g) > 0)
    # at ratio 1, identity .5, skill .5: sigmoid(-1.5 + 0.4 - 0.5) = sigmoid(-1.6)
    assert r[1] == pytest.approx(1 / (1 + math.exp(1.6)))


def _avail(**kw):
    base = dict(decision=np.array([Decision.MEDICATION]), trust_cp=np.array([0.6]),
                deal_trust_threshold=0.45, has_resource=np.array([True]),
                leverage_allowed=np.array([True]), risk=np.array([0.3]),
                compulsion_available=True, compulsion_risk_threshold=0.7)
    base.update(kw)
    return sm.mode_availability(**base)[0]


def test_deals_need_trust_above_threshold():
    assert _avail()[Mode.DEAL]
    assert not _avail(trust_cp=np.array([0.44]))[Mode.DEAL]
    assert not _avail(has_resource=np.array([False]))[Mode.DEAL]
    assert not _avail(leverage_allowed=np.array([False]))[Mode.DEAL]


def test_compulsion_needs_regime_and_risk():
    assert not _avail()[Mode.COMPEL]
    assert _avail(risk=np.array([0.7]))[Mode.COMPEL]
    assert not _avail(risk=np.array([0.9]), compulsion_available=False)[Mode.COMPEL]
    # a threat of compulsion is credible 0.2 below the threshold, without any resource
    assert _avail(risk=np.array([0.55]), has_resource=np.array([False]))[Mode.THREATEN]
    assert not _avail(risk=np.array([0.45]), has_resource=np.array([False]))[Mode.THREATEN]
    assert _avail()[Mode.SHARE] and _avail()[Mode.PERSUADE]


def test_choose_mode_respects_availability_and_utilities():
    rng = np.random.default_rng(1)
    u = np.tile([0.0, 0.0, 0.0, 0.0, 5.0, 0.0], (2000, 1))
    ok = np.ones_like(u, dtype=bool)
    ok[:, Mode.THREATEN] = False
    m = sm.choose_influence_mode(u, ok, 1.0, rng)
    assert not np.any(m == Mode.THREATEN)
    # softmax over 5 equal options -> each about 1/5
    assert abs(np.mean(m == Mode.SHARE) - 0.2) < 0.04
    ok[:] = True
    m = sm.choose_influence_mode(u, ok, 0.05, rng)  # near-greedy
    assert np.mean(m == Mode.THREATEN) > 0.99


def test_stress_and_defensiveness_push_away_from_sharing():
    kw = dict(propensity=np.zeros((2, 6)), time_share=np.array([1.0, 1.0]),
              skill=np.array([0.5, 0.5]), mandate=0.0, org_support=0.0,
              acuity=np.array([0.3, 0.3]), defensiveness=np.array([0.2, 0.8]),
              identity=np.array([0.5, 0.5]), risk=np.array([0.2, 0.2]),
              advocate=np.zeros(2), prefers_active=np.zeros(2), trust_pc=np.full(2, 0.5),
              trust_cp=np.full(2, 0.5), reluctance=np.full(2, 0.3), dependency=np.zeros(2),
              trauma_informed=0.0)
    u = sm.mode_utilities(stress=np.array([0.2, 0.8]), **kw)
    assert u[0, Mode.SHARE] - u[1, Mode.SHARE] == pytest.approx(1.5 * 0.6 + 1.2 * 0.6)
    assert u[1, Mode.THREATEN] - u[0, Mode.THREATEN] == pytest.approx(1.2 * 0.6 + 1.2 * 0.6)


def test_trust_update_is_asymmetric():
    up = sm.update_trust(np.array([0.5]), np.array([1.0]), 0.1, 2.5)
    down = sm.update_trust(np.array([0.5]), np.array([-1.0]), 0.1, 2.5)
    assert up == pytest.approx([0.55])  # 0.5 + 0.1 * 1 * 0.5
    assert down == pytest.approx([0.375])  # 0.5 - 0.1 * 2.5 * 0.5
    assert 0.5 - down[0] == pytest.approx(2.5 * (up[0] - 0.5))


def test_voice_and_tic_buffer_trust_losses():
    assert sm.trust_loss_buffer(1.0, 0.0) == pytest.approx(0.6)
    assert sm.trust_loss_buffer(0.0, 1.0) == pytest.approx(0.7)
    assert sm.trust_loss_buffer(0.0, 0.0) == 1.0


def test_perceived_coercion_driven_by_threats_not_persuasion():
    p = np.array([0, 1, 2, 3, 4])
    fp = sm.felt_pressure(p, np.zeros(5), np.zeros(5), 0.0, np.zeros(5))
    assert fp == pytest.approx(sm.COERCION_INPUT)
    assert fp[0] < 0.05 and fp[3] >= 5 * fp[1]
    # an offer feels more coercive to someone who depends on the resource
    dep = sm.felt_pressure(np.array([2, 2]), np.array([0.0, 1.0]), np.zeros(2), 0.0, np.zeros(2))
    assert dep[1] - dep[0] == pytest.approx(sm.OFFER_DEPENDENCY_COERCION)


def test_involvement_ladder():
    mode = np.array([Mode.SHARE, Mode.SHARE, Mode.SHARE, Mode.PERSUADE, Mode.DEAL, Mode.COMPEL,
                     Mode.THREATEN])
    resp = np.array([Response.ACCEPT] * 7)
    full = np.array([True, False, True, True, True, True, True])
    active = np.array([False, False, True, False, False, False, False])
    lv = sm.involvement_level(mode, resp, np.zeros(7, bool), full, active, np.ones(7, bool))
    assert list(lv) == [3, 2, 4, 1, 3, 0, 0]


def test_enacted_role_mapping():
    assert list(sm.enacted_role(np.array([0, 1, 2, 3, 4]))) == [
        Role.NONE, Role.PASSIVE, Role.COLLABORATIVE, Role.COLLABORATIVE, Role.ACTIVE]


def test_clinician_rates_higher_than_patient():
    lv = np.array([1, 2, 0])
    cr = sm.clinician_rated_involvement(lv, np.full(3, 0.6), 0.0, np.zeros(3),
                                        np.array([Mode.PERSUADE, Mode.SHARE, Mode.COMPEL]))
    assert cr == pytest.approx([1 + 0.78, 2 + 0.78, 0])
    pr = sm.patient_rated_involvement(lv, np.array([0.0, 0.2, 1.0]))
    assert pr == pytest.approx([1.0, 1.7, 0.0])


def test_awareness_without_reflection_raises_defensiveness_first():
    d = i = np.zeros(1)
    trace_alone, trace_reflect = [], []
    d2 = i2 = np.zeros(1)
    for _ in range(150):
        d, i = sm.awareness_step(d, i, 1.0, 0.0)
        d2, i2 = sm.awareness_step(d2, i2, 1.0, 1.0)
        trace_alone.append(sm.defensiveness_state(0.4, d, i, 0.4)[0])
        trace_reflect.append(sm.defensiveness_state(0.4, d2, i2, 0.4)[0])
    assert max(trace_alone[:20]) > 0.4  # J-curve: up first
    assert trace_reflect[-1] < trace_alone[-1]  # reflective space brings it down
    assert trace_reflect[-1] < 0.4


def test_reflective_supervision_rewards_involvement():
    r0 = sm.decision_reward(True, False, False, False, 0.5, 4, 0.0)
    r1 = sm.decision_reward(True, False, False, False, 0.5, 4, 1.0)
    assert r1 - r0 == pytest.approx(0.6)  # 0.6 * reflective * level / 4
    # authority relieves stress more when stressed (S1)
    a = sm.decision_reward(True, False, False, True, 0.9, 0, 0.0)
    b = sm.decision_reward(True, False, False, True, 0.1, 0, 0.0)
    assert a > b
