"""The model as a whole: determinism, invariants, outputs, agents, baseline regression."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mesa.experimental.scenarios import Scenario as MesaScenario

from model import (SCHEMA, STEP_KEYS, SUMMARY_KEYS, CarePathScenario, CarePathwayModel,
                   ParameterError, simulate)
from model import kernels
from model.submodels import Status

from .conftest import SMALL

ROOT = Path(__file__).resolve().parents[1]

BASELINE = Path(__file__).parent / "baseline" / "england_cmht_seed7.json"


def run(steps=30, seed=3, scenario=None, **kw):
    m = CarePathwayModel(scenario, rng=seed, **kw)
    for _ in range(steps):
        m.step()
    return m


def test_same_seed_same_output_different_seed_different():
    a, b, c = run(seed=5, **SMALL), run(seed=5, **SMALL), run(seed=6, **SMALL)
    ta, tb, tc = a.timeseries(), b.timeseries(), c.timeseries()
    assert ta.equals(tb)
    assert a.summary(20) == pytest.approx(b.summary(20), nan_ok=True)
    assert not ta.equals(tc)


def test_summary_has_the_shared_vocabulary():
    s = run(**SMALL).summary(20)
    required = {"involvement_mean", "role_concordance", "trust_mean", "perceived_coercion_mean",
                "leverage_prevalence", "leverage_prevalence_housing",
                "compulsory_admissions_per_100", "readmissions_per_100", "disengagement_rate",
                "rationing_rate", "routinizing_rate", "options_offered_mean",
                "waiting_weeks_mean", "deals_made", "deals_honoured", "deals_broken",
                "clinician_rated_involvement", "patient_rated_involvement", "stress_mean",
                "burnout_share", "recovery_mean", "internal_locus_mean", "felt_safety_mean",
                *(f"involvement_share_{i}" for i in range(5)),
                *(f"pressure_share_{i}" for i in range(5))}
    assert required <= set(s) and list(s) == list(SUMMARY_KEYS)
    assert sum(s[f"involvement_share_{i}"] for i in range(5)) == pytest.approx(1.0)
    assert sum(s[f"pressure_share_{i}"] for i in range(5)) == pytest.approx(1.0)
    assert all(isinstance(v, float) for v in s.values())


def test_datacollector_has_every_step_key_and_one_row_per_week():
    m = run(steps=12, **SMALL)
    df = m.timeseries()
    assert list(df.columns) == list(STEP_KEYS)
    assert len(df) == 13 and df["week"].tolist() == list(range(13))


def test_summary_window_validation():
    m = run(steps=5, **SMALL)
    with pytest.raises(ParameterError, match="window"):
        m.summary(0)


def _check_invariants(m: CarePathwayModel) -> None:
    pa, cl, p = m.patients, m.clinicians, m.p
    status = pa.view("status")
    assert np.all((status >= 0) & (status <= 4))
    # every patient row is accounted for exactly once (conservation)
    assert np.bincount(status, minlength=5).sum() == pa.n == len(m.patient_agents)
    in_care = status == Status.IN_CARE
    c = pa.view("clinician")
    assert np.all(c[in_care] >= 0) and np.all(c[in_care] < p["n_clinicians"])
    # only patients in care or in hospital have a care coordinator
    assert np.all(c[(status == Status.WAITING) | (status == Status.DISCHARGED)
                    | (status == Status.DISENGAGED)] == -1)
    # caseloads (patients in care or in hospital per coordinator) are never negative
    assert np.all(cl.caseload >= 0)
    for name in ("acuity", "risk", "trust_pc", "trust_cp", "coercion", "felt_safety", "locus",
                 "recovery", "reluctance", "service_trust"):
        x = pa.view(name)
        assert np.all((x >= 0) & (x <= 1)) and not np.isnan(x).any(), name
    for name in ("stress", "burnout", "defensiveness", "skill", "identity"):
        x = getattr(cl, name)
        assert np.all((x >= 0) & (x <= 1)), name
    assert np.all(np.isfinite(cl.propensity))
    # scarce places are never over-allocated
    assert np.all(kernels.free_places(pa.I, pa.n, m._place_capacity) >= -1e-9)
    s = m.summary(10)
    for k, v in s.items():
        if k.endswith("_share") or k.startswith(("involvement_share", "pressure_share")) \
                or k in ("role_concordance", "rationing_rate", "routinizing_rate",
                         "leverage_prevalence"):
            assert math.isnan(v) or 0.0 <= v <= 1.0 + 1e-9, (k, v)
        if not math.isnan(v):
            assert v >= -1e-9 or k == "involvement_rating_gap", (k, v)


def _lever_strategy():
    levers = [p for p in SCHEMA.values() if p.lever and p.kind == "float"]
    return st.fixed_dictionaries({p.name: st.floats(p.low, p.high) for p in levers})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(levers=_lever_strategy(),
       n_clinicians=st.integers(1, 5), caseload_cap=st.integers(5, 20),
       referrals=st.floats(0.0, 6.0), compulsion=st.booleans(),
       passive=st.floats(0, 0.5), active=st.floats(0, 0.5),
       trust_gain=st.floats(0, 1), crisis=st.floats(0, 0.2), seed=st.integers(0, 2**31))
def test_invariants_hold_for_random_parameter_sets(levers, n_clinicians, caseload_cap,
                                                   referrals, compulsion, passive, active,
                                                   trust_gain, crisis, seed):
    levers.pop("n_clinicians", None)
    levers.pop("caseload_cap", None)
    m = CarePathwayModel(rng=seed, n_clinicians=n_clinicians, caseload_cap=caseload_cap,
                         referrals_per_week=referrals, compulsion_available=compulsion,
                         share_prefer_passive=passive, share_prefer_active=active,
                         trust_gain=trust_gain, crisis_rate=crisis, **levers)
    for _ in range(12):
        m.step()
    _check_invariants(m)


def test_agents_are_views_onto_the_arrays():
    m = run(steps=3, **SMALL)
    p = m.patient_agents[0]
    assert p.trust_pc == m.patients.trust_pc[0]
    p.trust_pc = 0.123
    assert m.patients.trust_pc[0] == 0.123
    c = m.clinician_agents[1]
    assert c.caseload == m.clinicians.caseload[1]
    assert set(c.propensities) == {"share", "persuade", "leverage", "deal", "threaten", "compel"}
    assert len(m.agents) == len(m.patient_agents) + len(m.clinician_agents)
    assert m.patient_network.number_of_nodes() == m.patients.n


def test_patient_agents_are_made_when_asked_for_with_ids_as_if_made_on_referral():
    m = run(steps=6, **SMALL)
    assert len(m._patient_agents) == 0  # nobody asked yet: no agents made
    n_clin = m.clinicians.n
    # Mesa's registry is complete when read through the model, before patient_agents is used
    assert len(m.agents) == n_clin + m.patients.n
    assert len(m.agents_by_type[type(m.patient_agents[0])]) == m.patients.n
    ids = [a.unique_id for a in m.patient_agents]
    assert ids == list(range(n_clin + 1, n_clin + 1 + m.patients.n))
    assert [a.idx for a in m.patient_agents] == list(range(m.patients.n))
    m.step()  # newcomers get agents too, next in line
    assert [a.unique_id for a in m.patient_agents][-1] == n_clin + m.patients.n
    assert len(m.agents) == n_clin + m.patients.n


def test_weekly_outputs_feed_week_stats_datacollector_and_summary_alike():
    m = run(steps=20, **SMALL)
    df = m.timeseries()
    last = df.iloc[-1]
    for k in STEP_KEYS:
        assert last[k] == pytest.approx(m.week_stats[k], nan_ok=True), k
    assert df["in_care"].dtype.kind == "i" and df["week"].tolist() == list(range(21))
    # a one-week summary pools exactly the last week's counts
    s = m.summary(1)
    for k in ("involvement_mean", "role_concordance", "rationing_rate", "trust_mean",
              "stress_mean", "burnout_share"):
        assert s[k] == pytest.approx(m.week_stats[k], nan_ok=True), k


def test_waiting_weeks_mean_is_the_mean_wait_of_care_starts_in_the_window():
    """Independent check of the pooled waiting time: follow who starts care each week."""
    m = CarePathwayModel(rng=4, **SMALL)
    waits = []
    for _ in range(30):
        m.step()
        pa = m.patients  # intake is the only way into care; it stamps care_start_week
        started = np.flatnonzero(pa.view("care_start_week") == m.week)
        waits.extend((m.week - pa.referred_week[started]).tolist())
    assert waits, "no care starts in 30 weeks: the check would be empty"
    assert m.summary(30)["waiting_weeks_mean"] == pytest.approx(np.mean(waits))


def test_readmission_12m_after_compulsory_follows_discharges_week_by_week():
    """Independent check of the OCTET-style key: watch status, the compulsory flag and the
    admission count from outside, week by week, and count discharges from compulsory stays and
    admissions within 52 weeks of one (the first only)."""
    m = CarePathwayModel("coercive_climate", rng=2, **{**SMALL, "crisis_rate": 0.03})
    pa, admitted = m.patients, int(Status.ADMITTED)
    discharged_at: dict[int, int] = {}
    discharges = readmitted = 0
    prev = [pa.view(k).copy() for k in ("admissions", "status", "compulsory")]
    for _ in range(120):
        m.step()
        adm, status, compulsory = (pa.view(k).copy() for k in ("admissions", "status",
                                                                "compulsory"))
        k = len(prev[0])
        for i in np.flatnonzero(np.concatenate([adm[:k] > prev[0], adm[k:] > 0])).tolist():
            if i in discharged_at and m.week - discharged_at.pop(i) <= 52:
                readmitted += 1
        for i in np.flatnonzero((prev[1] == admitted) & prev[2]
                                & (status[:k] != admitted)).tolist():
            discharges += 1
            discharged_at[i] = m.week
        prev = [adm, status, compulsory]
    assert discharges > 20 and readmitted > 5, "too few events: the check would be weak"
    s = m.summary(m.week)
    assert s["readmission_12m_after_compulsory"] == pytest.approx(readmitted / discharges)


def test_leverage_prevalence_ever_counts_leverage_since_the_run_began():
    """Independent check: record who met leverage each week (``last_leverage_week`` = this
    week), then take the people in care during the window."""
    from model.submodels import LEVERAGE_TYPES

    m = CarePathwayModel(rng=5, **SMALL)
    ever: set[int] = set()
    ever_by_type: dict[str, set[int]] = {t: set() for t in LEVERAGE_TYPES}
    for _ in range(60):
        m.step()
        lev = m.patients.last_leverage_week[: m.patients.n]
        ever.update(np.flatnonzero((lev == m.week).any(axis=1)).tolist())
        for k, t in enumerate(LEVERAGE_TYPES):
            ever_by_type[t].update(np.flatnonzero(lev[:, k] == m.week).tolist())
    window = 20
    cohort = np.flatnonzero(m.patients.view("last_in_care_week") >= m.week - window + 1)
    expected = sum(int(i) in ever for i in cohort) / len(cohort)
    s = m.summary(window)
    assert 0 < s["leverage_prevalence"] < s["leverage_prevalence_ever"] < 1
    assert s["leverage_prevalence_ever"] == pytest.approx(expected)
    for t in LEVERAGE_TYPES:
        assert s[f"leverage_prevalence_ever_{t}"] == pytest.approx(
            sum(int(i) in ever_by_type[t] for i in cohort) / len(cohort)), t
        assert s[f"leverage_prevalence_{t}"] <= s[f"leverage_prevalence_ever_{t}"]
    assert s["leverage_prevalence_ever_housing"] > 0
    sm = m.patients.view("substance_misuse")[cohort]
    for key, group in (("leverage_ever_substance_misuse", cohort[sm]),
                       ("leverage_ever_no_substance_misuse", cohort[~sm])):
        assert len(group) > 10
        assert s[key] == pytest.approx(sum(int(i) in ever for i in group) / len(group)), key


def test_substance_misuse_is_drawn_at_its_prevalence_and_concentrates_leverage():
    """Patients who misuse substances are drawn at ``substance_misuse_prevalence`` and keep the
    trait; ``substance_leverage_bias`` makes offers and threats cluster in them (Burns et al.
    2011), and without it they meet leverage about as often as the rest."""
    def small(seed, **kw):
        m = CarePathwayModel(rng=seed, **SMALL, **kw)
        first = None
        for _ in range(80):
            m.step()
            if first is None:
                first = m.patients.view("substance_misuse").copy()
        assert np.array_equal(m.patients.view("substance_misuse")[: len(first)], first)
        return m

    for prevalence in (0.0, 1.0):
        m = small(1, substance_misuse_prevalence=prevalence)
        assert m.patients.view("substance_misuse").mean() == prevalence
    m = small(2)
    assert m.patients.view("substance_misuse").mean() == pytest.approx(
        SCHEMA["substance_misuse_prevalence"].default, abs=0.06)

    def ratio(**kw):  # default-sized service (about 500 patients), 2 years, 4 seeds
        s = [run(104, seed, **kw).summary(52) for seed in range(4)]
        return (np.mean([x["leverage_ever_substance_misuse"] for x in s])
                / np.mean([x["leverage_ever_no_substance_misuse"] for x in s]))

    assert ratio() > 1.5
    assert 0.75 < ratio(substance_leverage_bias=0.0) < 1.33


def test_leverage_bias_adds_the_subgroup_and_the_history_terms():
    """What is added to an offer's and a threat's utility: ``substance_leverage_bias`` for a
    patient who misuses substances, plus ``leverage_history_bias`` once they have met leverage
    of any type (exact)."""
    from model.model import kernel_params
    from model.population import NEVER

    P = kernel_params({**{k: SCHEMA[k].default for k in SCHEMA}, "substance_leverage_bias": 1.5,
                       "leverage_history_bias": 2.25})[0]
    never = np.full(4, NEVER, dtype=np.int32)
    assert kernels.leverage_bias(P, False, never) == 0.0
    assert kernels.leverage_bias(P, True, never) == 1.5
    for k in range(4):  # housing, money, services, compulsion: any type counts
        once = never.copy()
        once[k] = 17  # met leverage of type k in week 17
        assert kernels.leverage_bias(P, False, once) == 2.25, k
        assert kernels.leverage_bias(P, True, once) == 3.75, k
    assert kernels.leverage_bias(P, True, np.array([3, 9, 17, 40], dtype=np.int32)) == 3.75


def test_leverage_history_bias_makes_leverage_recur_in_the_same_people():
    """With ``leverage_history_bias`` a patient who met leverage in year 1 is much more likely
    than one who did not to meet it again in year 2 (concentration in time), and the run-long
    prevalence grows less beyond the one-year figure; without it the recurrence is weaker."""
    from model.population import NEVER

    def recurrence(**kw):  # default-sized service (about 500 patients), 4 seeds
        again, growth = [], []
        for seed in range(4):
            m = run(52, seed, **kw)
            met_y1 = (m.patients.last_leverage_week[: m.patients.n] > NEVER).any(axis=1)
            for _ in range(52):
                m.step()
            n1 = len(met_y1)
            weeks = m.patients.last_leverage_week[:n1]
            in_y2 = m.patients.view("last_in_care_week")[:n1] >= m.week - 51
            met_y2 = weeks.max(axis=1) >= m.week - 51
            again.append(met_y2[met_y1 & in_y2].mean())  # met again, among year-1 leverage
            s = m.summary(52)
            growth.append(s["leverage_prevalence_ever"] / s["leverage_prevalence"])
        return np.mean(again), np.mean(growth)

    # met again in year 2: 0.55-0.67 per seed with the default bias, 0.35-0.41 without it
    with_history, growth_with = recurrence()
    without, growth_without = recurrence(leverage_history_bias=0.0)
    assert with_history > 0.5 > without, (with_history, without)
    assert growth_with < growth_without, (growth_with, growth_without)


def test_mesa_batch_run_reads_the_weekly_outputs():
    import mesa

    small = {**SMALL, "caseload_cap": 20}
    rows = mesa.batch_run(CarePathwayModel, parameters={k: [v] for k, v in small.items()},
                          rng=[3], max_steps=5, number_processes=1,
                          data_collection_period=1, display_progress=False)
    assert [r["Step"] for r in rows] == list(range(6))
    m = run(steps=5, seed=3, **small)
    for k in ("decisions", "involvement_mean", "in_care", "trust_mean"):
        assert rows[-1][k] == pytest.approx(m.week_stats[k], nan_ok=True), k


def test_accepts_a_mesa_scenario_object_as_solaraviz_passes():
    sc = CarePathScenario(rng=11, name="high_caseload", sdm_training=0.5)
    m = CarePathwayModel(scenario=sc)
    assert m.scenario_name == "high_caseload"
    assert m.p["sdm_training"] == 0.5
    assert m.p["caseload_cap"] == 45  # from the named scenario
    assert m.scenario.rng == 11


def test_scenario_object_value_equal_to_the_schema_default_still_overrides():
    """ODD 11.2 I19: a parameter *given* to the scenario object overrides the named scenario
    even when it equals the schema default; one left at the class default does not."""
    default = SCHEMA["compulsion_risk_threshold"].default
    named = CarePathwayModel("coercive_climate").p["compulsion_risk_threshold"]
    assert named != default  # the premise: the named scenario changes it
    kept = CarePathwayModel(CarePathScenario(rng=1, name="coercive_climate"))
    assert kept.p["compulsion_risk_threshold"] == named
    by_kwarg = CarePathScenario(rng=1, name="coercive_climate", compulsion_risk_threshold=default)
    assert CarePathwayModel(by_kwarg).p["compulsion_risk_threshold"] == default
    by_attr = CarePathScenario(rng=1, name="coercive_climate")
    by_attr.compulsion_risk_threshold = default
    assert CarePathwayModel(by_attr).p["compulsion_risk_threshold"] == default
    again = pickle.loads(pickle.dumps(by_kwarg))  # survives the trip to a worker process
    assert CarePathwayModel(again).p["compulsion_risk_threshold"] == default
    plain = MesaScenario(rng=1, name="coercive_climate", compulsion_risk_threshold=default)
    assert CarePathwayModel(plain).p["compulsion_risk_threshold"] == default


def test_event_log_is_a_tidy_table_consistent_with_the_step_counts():
    m = run(steps=15, event_log=True, **SMALL)
    ev = m.event_log()
    assert len(ev) == m.timeseries()["decisions"].sum()
    assert set(ev["mode"].cat.categories) >= {"share", "compel"}
    assert ev["level"].between(0, 4).all()
    dm = ev.groupby("step").size()
    assert (m.timeseries().loc[dm.index, "decisions"] == dm).all()
    with pytest.raises(ParameterError):
        run(steps=1, **SMALL).event_log()


def test_simulate_returns_summary_and_timeseries():
    r = simulate("england_cmht", dict(SMALL), steps=10, seed=2, window=5, timeseries_every=2)
    assert set(r.summary) == set(SUMMARY_KEYS)
    assert r.timeseries["step"].tolist() == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ParameterError, match="steps"):
        simulate(steps=0)
    with pytest.raises(ParameterError, match="seed"):
        simulate(steps=1, seed=-4)


def test_whole_provider_scale_runs():
    m = run(steps=2, scenario="whole_provider")
    assert m.clinicians.n == 160 and m.patients.n > 4000


def test_fixed_seed_baseline_regression():
    """A fixed-seed run of the default scenario matches the stored baseline.

    When a change is *meant* to alter model behaviour, regenerate with
    ``python -m tests.make_baseline`` and say why in the commit message.
    """
    expected = json.loads(BASELINE.read_text())
    m = run(steps=expected["steps"], seed=expected["seed"])
    got = m.summary(expected["window"])
    for k, v in expected["summary"].items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12, nan_ok=True), k


def test_compiled_kernels_match_the_same_code_run_as_python():
    """The weekly kernels compiled by numba and the same source run by the Python interpreter
    (NUMBA_DISABLE_JIT=1) give identical results: no numba-specific semantics (integer
    overflow, casting, a different random stream) change the model."""
    code = ("import json; from model.run import simulate; "
            "r = simulate('england_cmht', {'n_clinicians': 4, 'event_log': True}, steps=40, "
            "seed=11, window=20); print(json.dumps(r.summary))")
    outs = []
    for flag in ("0", "1"):
        env = {**os.environ, "NUMBA_DISABLE_JIT": flag}
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=ROOT, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    compiled, python = outs
    assert compiled["decisions"] > 0
    assert compiled.keys() == python.keys()
    for k in compiled:
        assert compiled[k] == python[k] or (math.isnan(compiled[k]) and math.isnan(python[k])), k


def test_changing_a_parameter_mid_run_takes_effect_from_the_next_step():
    """Policy shocks (the power-trap experiment, notebook 04) set ``model.p[...]`` mid-run; the
    compiled week must see the new value."""
    runs = []
    for raise_cap in (False, True):
        m = CarePathwayModel("coercive_climate", rng=3)
        for _ in range(30):
            m.step()
        before = m.timeseries()["compulsory_admissions"].sum()
        m.p["compulsion_available"] = False
        if raise_cap:
            m.p.update(caseload_cap=60)
        for _ in range(40):
            m.step()
        after = m.timeseries()["compulsory_admissions"].iloc[31:]
        assert before > 0 and after.sum() == 0
        runs.append(m)
    # the raised cap let intake fill caseloads beyond what the scenario's cap allows
    cap = runs[0].p["caseload_cap"]
    assert runs[0].clinicians.caseload.max() <= cap
    assert (runs[1].clinicians.caseload > cap).sum() >= 4


def test_caseload_counts_patients_in_hospital_and_never_exceeds_the_cap():
    """The care coordinator keeps a patient in hospital (CPA; ODD I11): at the end of every
    week each clinician's caseload is the number of patients in care *or in hospital* who have
    them as coordinator, and intake never fills a caseload that an inpatient returns to above
    the cap. (When inpatients were left out, intake filled their places: in weeks 53-156 of
    this run, 2.2 clinicians on average, up to 6, were above the cap in 91% of weeks.)"""
    m = CarePathwayModel(rng=4)
    cap, n_clin = m.p["caseload_cap"], m.p["n_clinicians"]
    admitted_with_coordinator = 0
    for _ in range(156):
        m.step()
        status, clin = m.patients.view("status"), m.patients.view("clinician")
        held = clin >= 0
        assert np.all((status[held] == Status.IN_CARE) | (status[held] == Status.ADMITTED))
        np.testing.assert_array_equal(m.clinicians.caseload,
                                      np.bincount(clin[held], minlength=n_clin))
        assert m.clinicians.caseload.max() <= cap
        admitted_with_coordinator += int(((status == Status.ADMITTED) & held).sum())
    assert admitted_with_coordinator > 100  # the check met inpatients (about 3 a week)


def test_colleague_ties_zero_means_no_team_network_and_no_norm_diffusion():
    """``colleague_ties`` is the ring degree (rounded down to even, at most n - 1); 0 or 1 means
    no ties. (It once fell back to a complete graph, the most diffusion instead of none.)"""
    degrees = {}
    for ties in (0, 1, 2, 4, 50):
        g = CarePathwayModel(rng=1, n_clinicians=16, colleague_ties=ties).colleague_network
        degrees[ties] = sum(d for _, d in g.degree()) / 16
    assert degrees == {0: 0.0, 1: 0.0, 2: 2.0, 4: 4.0, 50: 14.0}
    assert CarePathwayModel(rng=1, n_clinicians=2, colleague_ties=1).colleague_network \
        .number_of_edges() == 1
    # without ties, norm diffusion leaves propensities where learning and forgetting put them
    runs = [CarePathwayModel(rng=2, colleague_ties=0, norm_diffusion=d) for d in (0.0, 0.5)]
    for m in runs:
        for _ in range(20):
            m.step()
    np.testing.assert_array_equal(runs[0].clinicians.propensity, runs[1].clinicians.propensity)


def test_cto_available_switches_off_community_treatment_orders_only():
    """OCTET's contrast: no CTOs, detention still used. Same seeds, so the arms are paired;
    three seeds pooled, because CTO starts vary a lot between runs (8-29 in two years for
    seeds 12-22, one for seed 11)."""
    seeds = (11, 12, 13)
    runs = {(flag, seed): CarePathwayModel(rng=seed, cto_available=flag)
            for flag in (True, False) for seed in seeds}
    for m in runs.values():
        for _ in range(104):
            m.step()

    def total(flag, key):
        return sum(runs[flag, seed].timeseries()[key].sum() for seed in seeds)

    assert total(True, "cto_started") > 10  # the default does use CTOs
    assert total(False, "cto_started") == 0
    assert total(False, "compulsory_admissions") > 15  # detention is still available
    for seed in seeds:
        assert (runs[False, seed].patients.view("cto_weeks_left") == 0).all()
