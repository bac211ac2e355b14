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


def test_beta_shape_has_the_mean_and_concentration_and_keeps_the_mean_inside():
    # mean 0.3, concentration 10 -> Beta(3, 7); the mean is held inside [0.001, 0.999]
    assert sm.beta_shape(0.3, 10.0) == pytest.approx((3.0, 7.0))
    assert sm.beta_shape(0.0, 6.0) == pytest.approx((0.006, 5.994))
    assert sm.beta_shape(1.0, 6.0) == pytest.approx((5.994, 0.006))


def test_acuity_baseline_falls_with_recovery():
    # baseline 0.5: no recovery -> 0.5; full recovery -> 0.5 * 0.7 = 0.35
    assert sm.acuity_baseline(0.5, 0.0) == 0.5
    assert sm.acuity_baseline(0.5, 1.0) == pytest.approx(0.35)
    assert sm.acuity_baseline(0.8, 0.5) == pytest.approx(0.8 * 0.85)


def test_contact_need_rises_with_acuity():
    # 0.3 h base + 1.0 h per unit of acuity
    assert sm.contact_need(0.0, 0.3, 1.0) == pytest.approx(0.3)
    assert sm.contact_need(0.6, 0.3, 1.0) == pytest.approx(0.9)
    assert sm.contact_need(0.5, 0.2, 0.4) == pytest.approx(0.4)


def test_risk_scales_acuity_by_trait():
    # acuity 0.5, trait 0 -> 0.5 * 0.4 = 0.2; trait 1 -> 0.5 * 1.6 = 0.8; capped at 1
    assert sm.risk_from_acuity(0.5, 0.0) == pytest.approx(0.2)
    assert sm.risk_from_acuity(0.5, 1.0) == pytest.approx(0.8)
    assert sm.risk_from_acuity(1.0, 1.0) == 1.0


def test_post_discharge_hazard_halves_every_13_weeks_and_ends_after_104():
    assert sm.post_discharge_hazard(0, 0.03) == pytest.approx(0.03)
    assert sm.post_discharge_hazard(13, 0.03) == pytest.approx(0.015)
    assert sm.post_discharge_hazard(103, 0.03) == pytest.approx(0.03 * 0.5 ** (103 / 13))
    assert sm.post_discharge_hazard(104, 0.03) == 0.0
    assert sm.post_discharge_hazard(10**6, 0.03) == 0.0  # never in hospital
    assert sm.post_discharge_hazard(0, 0.0) == 0.0


def test_crisis_hazard_grows_with_acuity_and_non_adherence():
    assert sm.crisis_hazard(0.5, True, 0.01) == pytest.approx(0.01)
    assert sm.crisis_hazard(0.5, False, 0.01) == pytest.approx(0.015)
    assert sm.crisis_hazard(0.9, True, 0.01) == pytest.approx(0.01 * math.exp(1.2))


def test_available_hours_and_demand_ratio():
    # 18 h, 15 % admin, full time targets (+10 %), no protected time -> 18 * 0.75 = 13.5
    assert sm.available_hours(18.0, 0.15, 1.0, 0.0) == pytest.approx(13.5)
    assert sm.available_hours(18.0, 0.15, 0.0, 1.0) == pytest.approx(18 * 0.95)
    assert sm.demand_ratio(27.0, 13.5) == pytest.approx(2.0)
    assert sm.time_share(2.0) == 0.5 and sm.time_share(0.5) == 1.0


def test_contact_probability_rations_time_and_moving_towards_softens():
    # need 0.8 h; ratio 2 -> half the time each: 0.4; 'toward' 0.5 gives back 0.5*0.5 -> 0.6
    assert sm.contact_probability(0.8, 1.0, 0.0) == pytest.approx(0.8)
    assert sm.contact_probability(0.8, 2.0, 0.0) == pytest.approx(0.4)
    assert sm.contact_probability(0.8, 2.0, 0.5) == pytest.approx(0.6)


def test_routinizing_and_gatekeeping_rise_with_demand():
    ratios = [0.8, 1.0, 1.5, 2.0]
    r = [sm.routinizing_probability(x, 0.0, 0.5, 0.5) for x in ratios]
    g = [sm.gatekeeping_probability(x, 0.5, 0.0) for x in ratios]
    assert np.all(np.diff(r) > 0) and np.all(np.diff(g) > 0)
    # at ratio 1, identity .5, skill .5: sigmoid(-1.5 + 0.4 - 0.5) = sigmoid(-1.6)
    assert r[1] == pytest.approx(1 / (1 + math.exp(1.6)))


def _avail(**kw):
    base = dict(decision=Decision.MEDICATION, trust_cp=0.6, deal_trust_threshold=0.45,
                has_resource=True, leverage_allowed=True, risk=0.3, compulsion_available=True,
                compulsion_risk_threshold=0.7)
    base.update(kw)
    return sm.mode_availability(*base.values())


def test_deals_need_trust_above_threshold():
    assert _avail()[Mode.DEAL]
    assert not _avail(trust_cp=0.44)[Mode.DEAL]
    assert not _avail(has_resource=False)[Mode.DEAL]
    assert not _avail(leverage_allowed=False)[Mode.DEAL]
    assert not _avail(decision=Decision.ADMISSION)[Mode.DEAL]


def test_compulsion_needs_regime_and_risk():
    assert not _avail()[Mode.COMPEL]
    assert _avail(risk=0.7)[Mode.COMPEL]
    assert not _avail(risk=0.9, compulsion_available=False)[Mode.COMPEL]
    assert not _avail(risk=0.9, decision=Decision.SERVICE)[Mode.COMPEL]
    # a threat of compulsion is credible 0.2 below the threshold, without any resource
    assert _avail(risk=0.55, has_resource=False)[Mode.THREATEN]
    assert not _avail(risk=0.45, has_resource=False)[Mode.THREATEN]
    assert not _avail(risk=0.9, decision=Decision.DISCHARGE)[Mode.THREATEN]
    assert _avail()[Mode.SHARE] and _avail()[Mode.PERSUADE]


def test_choose_mode_respects_availability_and_utilities():
    rng = np.random.default_rng(1)
    u = (0.0, 0.0, 0.0, 0.0, 5.0, 0.0)
    ok = (True, True, True, True, False, True)
    m = np.array([sm.choose_influence_mode(u, ok, 1.0, rng) for _ in range(2000)])
    assert not np.any(m == Mode.THREATEN)
    # softmax over 5 equal options -> each about 1/5
    assert abs(np.mean(m == Mode.SHARE) - 0.2) < 0.04
    ok = (True,) * 6
    m = np.array([sm.choose_influence_mode(u, ok, 0.05, rng) for _ in range(2000)])  # greedy
    assert np.mean(m == Mode.THREATEN) > 0.99


def test_patient_response_is_a_softmax_over_utilities():
    rng = np.random.default_rng(2)
    r = np.array([sm.patient_response((math.log(3.0), 0.0, 0.0, -50.0), rng)
                  for _ in range(5000)])
    # weights 3 : 1 : 1 : ~0 -> accept with probability 0.6
    assert abs(np.mean(r == Response.ACCEPT) - 0.6) < 0.03
    assert not np.any(r == Response.DISENGAGE)


def test_stress_and_defensiveness_push_away_from_sharing():
    def u(stress, defensiveness):
        return sm.mode_utilities(np.zeros(6), 1.0, 0.5, 0.0, 0.0, 0.3, stress, defensiveness,
                                 0.5, 0.2, 0.0, 0.0, 0.5, 0.5, 0.3, 0.0, 0.0, 0.0)
    low, high = u(0.2, 0.2), u(0.8, 0.8)
    assert low[Mode.SHARE] - high[Mode.SHARE] == pytest.approx(1.5 * 0.6 + 1.2 * 0.6)
    assert high[Mode.THREATEN] - low[Mode.THREATEN] == pytest.approx(1.2 * 0.6 + 1.2 * 0.6)


def test_leverage_bias_raises_only_offers_and_threats():
    args = (np.zeros(6), 1.0, 0.5, 0.0, 0.0, 0.3, 0.4, 0.3, 0.5, 0.2, 0.0, 0.0, 0.5, 0.5, 0.3,
            0.6, 0.0)
    without, with_bias = sm.mode_utilities(*args, 0.0), sm.mode_utilities(*args, 2.0)
    diff = np.subtract(with_bias, without)
    expected = np.zeros(6)
    expected[[Mode.DEAL, Mode.THREATEN]] = 2.0
    assert diff == pytest.approx(expected)


def test_trust_update_is_asymmetric():
    up = sm.update_trust(0.5, 1.0, 0.1, 2.5)
    down = sm.update_trust(0.5, -1.0, 0.1, 2.5)
    assert up == pytest.approx(0.55)  # 0.5 + 0.1 * 1 * 0.5
    assert down == pytest.approx(0.375)  # 0.5 - 0.1 * 2.5 * 0.5
    assert 0.5 - down == pytest.approx(2.5 * (up - 0.5))


def test_starting_clinician_trust_falls_with_reluctance():
    # 0.6 - 0.3 * reluctance (+ the spread at referral), within [0, 1]
    assert sm.starting_trust_cp(0.0, 0.0) == pytest.approx(0.6)
    assert sm.starting_trust_cp(1.0, 0.0) == pytest.approx(0.3)
    assert sm.starting_trust_cp(0.5, 0.1) == pytest.approx(0.55)
    assert sm.starting_trust_cp(0.0, 0.5) == 1.0 and sm.starting_trust_cp(1.0, -0.5) == 0.0


def test_voice_and_tic_buffer_trust_losses():
    assert sm.trust_loss_buffer(1.0, 0.0) == pytest.approx(0.6)
    assert sm.trust_loss_buffer(0.0, 1.0) == pytest.approx(0.7)
    assert sm.trust_loss_buffer(0.0, 0.0) == 1.0


def test_perceived_coercion_driven_by_threats_not_persuasion():
    fp = [sm.felt_pressure(p, 0.0, 0.0, 0.0, 0.0) for p in range(5)]
    assert fp == pytest.approx(list(sm.COERCION_INPUT))
    assert fp[0] < 0.05 and fp[3] >= 5 * fp[1]
    # an offer feels more coercive to someone who depends on the resource
    dep = sm.felt_pressure(2, 1.0, 0.0, 0.0, 0.0) - sm.felt_pressure(2, 0.0, 0.0, 0.0, 0.0)
    assert dep == pytest.approx(sm.OFFER_DEPENDENCY_COERCION)


def test_coercion_is_an_exponential_memory_of_felt_pressure():
    # memory 0.2: 0.5 -> 0.8 * 0.5 + 0.2 * 1.0 = 0.6 after a detention; 0.4 after no pressure
    assert sm.update_coercion(0.5, 1.0, 0.2) == pytest.approx(0.6)
    assert sm.update_coercion(0.5, 0.0, 0.2) == pytest.approx(0.4)
    assert sm.update_coercion(0.5, 0.25, 1.0) == 0.25  # no memory: the last decision only
    assert sm.update_coercion(0.5, 0.25, 0.0) == 0.5  # full memory: unchanged


def test_admission_is_indicated_within_the_margin_of_the_legal_threshold():
    assert sm.VOLUNTARY_ADMISSION_MARGIN == 0.2
    assert sm.admission_indicated(0.55, 0.7)  # 0.2 below the threshold
    assert sm.admission_indicated(0.9, 0.7)
    assert not sm.admission_indicated(0.45, 0.7)
    assert not sm.admission_indicated(0.75, 1.0)


def test_involvement_ladder():
    cases = [  # mode, full share, prefers active -> level (all accepted, capable)
        (Mode.SHARE, True, False, 3), (Mode.SHARE, False, False, 2), (Mode.SHARE, True, True, 4),
        (Mode.PERSUADE, True, False, 1), (Mode.DEAL, True, False, 3),
        (Mode.COMPEL, True, False, 0), (Mode.THREATEN, True, False, 0)]
    for mode, full, active, level in cases:
        assert sm.involvement_level(mode, Response.ACCEPT, False, full, active, True) == level
    # a negotiation the clinician accommodates is shared; refused persuasion is consulted
    assert sm.involvement_level(Mode.PERSUADE, Response.NEGOTIATE, True, True, False, True) == 3
    assert sm.involvement_level(Mode.PERSUADE, Response.REFUSE, False, True, False, True) == 2


def test_enacted_role_mapping():
    assert [sm.enacted_role(x) for x in range(5)] == [
        Role.NONE, Role.PASSIVE, Role.COLLABORATIVE, Role.COLLABORATIVE, Role.ACTIVE]


def test_clinician_rates_higher_than_patient():
    cr = [sm.clinician_rated_involvement(lv, 0.6, 0.0, 0.0, mode)
          for lv, mode in ((1, Mode.PERSUADE), (2, Mode.SHARE), (0, Mode.COMPEL))]
    assert cr == pytest.approx([1 + 0.12, 2 + 0.12, 0])  # bias 0.2 x identity 0.6 (ODD 7.7)
    # a mandate adds, insight removes, and the bias never goes below 0
    assert sm.clinician_rated_involvement(2, 0.6, 0.5, 0.0, Mode.SHARE) == pytest.approx(2.42)
    assert sm.clinician_rated_involvement(2, 0.6, 0.0, 1.0, Mode.SHARE) == pytest.approx(2.0)
    pr = [sm.patient_rated_involvement(lv, fp) for lv, fp in ((1, 0.0), (2, 0.2), (0, 1.0))]
    assert pr == pytest.approx([1.0, 1.7, 0.0])


def test_awareness_without_reflection_raises_defensiveness_first():
    d = i = d2 = i2 = 0.0
    trace_alone, trace_reflect = [], []
    for _ in range(150):
        d, i = sm.awareness_step(d, i, 1.0, 0.0)
        d2, i2 = sm.awareness_step(d2, i2, 1.0, 1.0)
        trace_alone.append(sm.defensiveness_state(0.4, d, i, 0.4))
        trace_reflect.append(sm.defensiveness_state(0.4, d2, i2, 0.4))
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


def test_deal_honour_by_the_service_needs_the_resource_and_falls_with_demand():
    assert sm.deal_honour_probability_service(1.0, 0.0, True) == pytest.approx(0.95)
    assert sm.deal_honour_probability_service(2.0, 1.0, True) == pytest.approx(0.35)
    assert sm.deal_honour_probability_service(1.0, 0.0, False) == 0.0


def test_experience_passed_on_is_trust_less_half_the_coercion():
    assert sm.experience(0.8, 0.0) == 0.8
    assert sm.experience(0.8, 0.4) == pytest.approx(0.6)
    assert sm.experience(0.2, 1.0) == pytest.approx(-0.3)


def test_gumbel_draws_have_the_gumbel_mean():
    rng = np.random.default_rng(3)
    g = [sm.gumbel(rng) for _ in range(20000)]
    assert abs(np.mean(g) - 0.5772) < 0.03  # Euler-Mascheroni constant


# ----------------------------------------------------------------------------- compiled cache
def test_compiled_cache_follows_every_source_the_kernels_use(tmp_path):
    """An edit to a rule must recompile the kernels that inline it (numba's own cache only
    watches each function's own file, so an edited rule used to run the old kernel)."""
    import ast
    import shutil

    import model.kernels as kn
    from model import compiled

    # every model module the compiled code imports from is hashed
    for name in compiled.SOURCES:
        tree = ast.parse((compiled.HERE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert f"{node.module}.py" in compiled.SOURCES, (name, node.module)
    # an edit to any of them changes the cache directory
    for name in compiled.SOURCES:
        shutil.copy(compiled.HERE / name, tmp_path / name)
    before = compiled.source_hash(tmp_path)
    assert before == compiled.source_hash()
    for name in compiled.SOURCES:
        text = (tmp_path / name).read_text()
        (tmp_path / name).write_text(text + "\n# edited\n")
        assert compiled.source_hash(tmp_path) != before, name
        (tmp_path / name).write_text(text)
    assert compiled.CACHE_DIR.endswith(before)
    # and every compiled kernel and rule is cached there
    dispatchers = [f for mod in (kn, sm) for f in vars(mod).values()
                   if getattr(f, "_cache", None) is not None and hasattr(f, "py_func")]
    assert len(dispatchers) > 30
    for f in dispatchers:
        assert f._cache._cache_path.startswith(compiled.CACHE_DIR), f.py_func.__name__
