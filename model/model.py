"""The care-pathway model: ``CarePathwayModel``, one step = one week.

The weekly schedule is written once, in :meth:`CarePathwayModel.step`, in the order of the
ODD's process overview (docs/ODD.md, section 3). Each stage is a method named as the ODD's
submodel; the rules themselves are the pure functions of :mod:`model.submodels`.

State lives in numpy arrays (:mod:`model.population`); ``Patient`` and ``Clinician`` Mesa agents
are views onto rows of those arrays, so analysts and the browser view get the one-object-per-agent
interface while the weekly rules stay vectorised.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import mesa
import networkx as nx
import numpy as np
from mesa.experimental.scenarios import Scenario as MesaScenario
from scipy import sparse

from . import submodels as sm
from .agents import Clinician, Patient
from .params import SCHEMA, ParameterError, validate
from .population import ClinicianArrays, PatientArrays
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, resolve_params
from .submodels import LEVERAGE_TYPES, Decision, Mode, Response, Role, Status

__all__ = ["CarePathScenario", "CarePathwayModel", "SUMMARY_KEYS", "STEP_KEYS"]

# Scarce-service place types held in ``patients.place_type``.
PLACE_THERAPY, PLACE_PSYCHOSOCIAL, PLACE_HOUSING = 0, 1, 2
PLACE_WEEKS = np.array([16, 20, 26])  # length of a therapy course / programme / housing support
# Leverage type codes (index into LEVERAGE_TYPES).
LEV_HOUSING, LEV_MONEY, LEV_SERVICES, LEV_COMPULSION = range(4)
#: Hospital stays of compulsory admissions are this much longer than voluntary ones.
COMPULSORY_STAY_FACTOR = 1.5
#: Length of a community treatment order started by compelled medication (weeks).
CTO_WEEKS = 26
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
#: Share of initial patients with a previous admission (readmission accounting).
INITIAL_PRIOR_ADMISSION = 0.3


class CarePathScenario(MesaScenario):
    """Mesa ``Scenario`` carrying the resolved parameters of one run (Mesa 4 vocabulary).

    Its attributes are the full parameter dict plus ``name`` (the named scenario it came from).
    The browser view builds one of these on reset; ``CarePathwayModel`` accepts it as
    ``scenario``.
    """


# Class-level defaults so Mesa's SolaraViz can build a scenario from the schema.
for _name, _param in SCHEMA.items():
    setattr(CarePathScenario, _name, _param.default)
    CarePathScenario.__annotations__[_name] = type(_param.default)
CarePathScenario.name = DEFAULT_SCENARIO
CarePathScenario.__annotations__["name"] = str
CarePathScenario.__init_subclass__()  # collect the defaults set above


# ----------------------------------------------------------------------------- reporters
#: Per-step outputs (DataCollector model reporters). Meaning and scale: docs/ODD.md, 7.13.
STEP_KEYS: tuple[str, ...] = (
    "week", "waiting_list", "in_care", "admitted", "caseload_mean", "demand_ratio_mean",
    "decisions", "involvement_mean", *(f"involvement_share_{i}" for i in range(5)),
    *(f"pressure_share_{i}" for i in range(5)), "role_concordance",
    "clinician_rated_involvement", "patient_rated_involvement", "options_offered_mean",
    "rationing_rate", "routinizing_rate", "contact_shortfall", "trust_mean", "trust_cp_mean",
    "perceived_coercion_mean", "felt_safety_mean", "internal_locus_mean", "recovery_mean",
    "deals_made", "deals_honoured", "deals_broken", "deals_broken_by_service", "threats",
    "compulsory_admissions", "voluntary_admissions", "readmissions", "cto_started",
    "disengagements", "discharges", "leverage_events", "stress_mean", "burnout_share",
    "defensiveness_mean", "authority_share",
)

#: Keys of :meth:`CarePathwayModel.summary`: the shared output vocabulary (ODD 7.13).
SUMMARY_KEYS: tuple[str, ...] = (
    "involvement_mean", *(f"involvement_share_{i}" for i in range(5)),
    *(f"pressure_share_{i}" for i in range(5)), "role_concordance", "trust_mean",
    "trust_cp_mean", "perceived_coercion_mean", "leverage_prevalence",
    *(f"leverage_prevalence_{t}" for t in LEVERAGE_TYPES), "compulsory_admissions_per_100",
    "voluntary_admissions_per_100", "readmissions_per_100", "cto_per_100", "disengagement_rate",
    "rationing_rate", "routinizing_rate", "contact_shortfall", "options_offered_mean",
    "waiting_weeks_mean", "waiting_list_mean", "deals_made", "deals_honoured", "deals_broken",
    "deals_broken_by_service", "reciprocity_share", "authority_share", "threats_per_100",
    "clinician_rated_involvement", "patient_rated_involvement", "involvement_rating_gap",
    "stress_mean", "burnout_share", "defensiveness_mean", "recovery_mean",
    "internal_locus_mean", "felt_safety_mean", "decisions", "patients_in_care_mean",
    "internal_locus_low_mean", "involvement_low_locus_mean", "deals_offered",
    "deal_acceptance_rate", "deals_honoured_share", "deals_lapsed",
)


def _week_stat(key: str, model: CarePathwayModel) -> float:
    """DataCollector reporter: the current week's value of ``key`` (module level: picklable)."""
    return model.week_stats[key]


def _share(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


# ----------------------------------------------------------------------------- model


class CarePathwayModel(mesa.Model):
    """Clinicians and service users negotiating care decisions, week by week.

    Parameters
    ----------
    scenario:
        Name of a named scenario (``model.SCENARIOS``; default ``england_cmht``), or a Mesa
        ``Scenario`` (e.g. a :class:`CarePathScenario`, as the browser view passes) whose
        attributes are parameters.
    rng:
        Seed or generator; all randomness flows from it (Mesa ``Model(rng=...)``).
    **overrides:
        Parameter values on top of the scenario, validated against ``model.params.SCHEMA``.
    """

    def __init__(self, scenario: str | MesaScenario | None = None, *, rng=None,
                 **overrides: Any):
        name, params = self._resolve(scenario, overrides)
        if isinstance(scenario, MesaScenario):
            rng = scenario.rng if rng is None else rng
        super().__init__(scenario=CarePathScenario(rng=rng, name=name, **params))
        self.scenario_name = name
        self.p: dict[str, Any] = params
        self.week = 0
        self._init_clinicians()
        self.patients = PatientArrays(self._expected_patients())
        self.patient_agents: list[Patient] = []
        self._edge_u = np.zeros(1024, dtype=np.int64)
        self._edge_v = np.zeros(1024, dtype=np.int64)
        self._n_edges = 0
        self._network_cache = None
        self._dyad_memory: dict[tuple[int, int], tuple[float, float]] = {}
        self._init_patients()
        self._events: list[dict[str, np.ndarray]] = []
        self._history: dict[str, list[float]] = {k: [] for k in _HISTORY_KEYS}
        self._waits: list[tuple[int, np.ndarray]] = []
        self.week_stats: dict[str, float] = {}
        self._reset_week()
        self._record()
        self.datacollector = mesa.DataCollector(
            model_reporters={k: functools.partial(_week_stat, k) for k in STEP_KEYS})
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _resolve(scenario, overrides) -> tuple[str, dict[str, Any]]:
        if isinstance(scenario, MesaScenario):
            # Class defaults of CarePathScenario are the schema defaults: only values that
            # differ from them override the named scenario (so a browser control left at its
            # default does not undo the scenario).
            given = {k: v for k, v in scenario
                     if k in SCHEMA and not (type(v) is type(SCHEMA[k].default)
                                             and v == SCHEMA[k].default)}
            name = getattr(scenario, "name", DEFAULT_SCENARIO) or DEFAULT_SCENARIO
            source = "scenario object"
            params = resolve_params(name, {**given, **validate(overrides, source="keyword "
                                                                "arguments")}, source)
            return name, params
        if scenario is not None and not isinstance(scenario, str):
            raise ParameterError("scenario", scenario,
                                 "a scenario name (" + ", ".join(SCENARIOS) + ") or a Scenario",
                                 "CarePathwayModel(scenario=...)")
        name = scenario or DEFAULT_SCENARIO
        return name, resolve_params(name, overrides, source="CarePathwayModel keyword arguments")

    def _expected_patients(self) -> int:
        p = self.p
        return int(p["n_clinicians"] * p["caseload_cap"] * 1.2 + p["referrals_per_week"] * 200
                   + 64)

    def _beta(self, mean: float, concentration: float, size: int) -> np.ndarray:
        """Beta draws with a given mean (clipped to the open interval)."""
        m = min(max(mean, 1e-3), 1 - 1e-3)
        return self.rng.beta(m * concentration, (1 - m) * concentration, size)

    def _init_clinicians(self) -> None:
        p, n = self.p, self.p["n_clinicians"]
        c = self.clinicians = ClinicianArrays(n, sm.N_MODES)
        c.defensiveness_trait[:] = self._beta(p["defensiveness_mean"], 10, n)
        c.defensiveness[:] = c.defensiveness_trait
        c.identity_base[:] = self._beta(p["expert_identity_mean"], 10, n)
        c.identity[:] = c.identity_base
        c.skill_base[:] = self._beta(p["sdm_skill_mean"], 10, n)
        c.skill[:] = c.skill_base
        c.vulnerability[:] = 0.12 * self.rng.standard_normal(n)
        c.stress[:] = np.clip(0.3 + 0.1 * self.rng.standard_normal(n), 0, 1)
        c.burnout[:] = c.stress * 0.8
        c.method[:] = self.rng.integers(0, 3, n)
        base = np.array([p["propensity_share"], p["propensity_persuade"],
                         p["propensity_leverage"], p["propensity_deal"],
                         p["propensity_threaten"], p["propensity_compel"]])
        c.propensity[:] = base + 0.3 * self.rng.standard_normal((n, sm.N_MODES))
        self._propensity_initial = c.propensity.copy()
        # Team network (Watts-Strogatz small world); row-normalised for norm diffusion.
        k = min(p["colleague_ties"], n - 1)
        k -= k % 2
        if n > 2 and k >= 2:
            g = nx.watts_strogatz_graph(n, k, 0.1, seed=int(self.rng.integers(2**31)))
        else:
            g = nx.complete_graph(n) if n > 1 else nx.empty_graph(n)
        self.colleague_network = g
        adj = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr", dtype=float)
        deg = np.asarray(adj.sum(axis=1)).ravel()
        self._colleague_weights = sparse.diags(np.where(deg > 0, 1 / np.maximum(deg, 1), 0)) @ adj
        self._has_colleagues = deg > 0
        self.clinician_agents = [Clinician(self, i) for i in range(n)]

    def _init_patients(self) -> None:
        p = self.p
        n_care = int(round(p["initial_fill"] * p["caseload_cap"] * p["n_clinicians"]))
        idx = self._new_patients(n_care, Status.IN_CARE, referral_boost=0.0)
        pa = self.patients
        pa.clinician[idx] = np.arange(n_care) % p["n_clinicians"]
        pa.care_start_week[idx] = -self.rng.integers(0, 2 * p["service_weeks"] + 1, n_care)
        pa.weeks_in_care[idx] = -pa.care_start_week[idx]
        pa.referred_week[idx] = pa.care_start_week[idx] - 8
        pa.prior_admission[idx] = self.rng.random(n_care) < INITIAL_PRIOR_ADMISSION
        pa.ever_detained[idx] = pa.prior_admission[idx] & (self.rng.random(n_care) < 0.5)
        pa.last_in_care_week[idx] = 0
        for i in idx:
            self._set_dyad_trust(int(i), int(pa.clinician[i]))
        n_wait = int(round(p["initial_waiting_per_clinician"] * p["n_clinicians"]))
        w = self._new_patients(n_wait, Status.WAITING, referral_boost=0.15)
        pa.referred_week[w] = -self.rng.integers(0, 12, n_wait)
        self.clinicians.caseload[:] = np.bincount(pa.clinician[idx], minlength=p["n_clinicians"])

    def _new_patients(self, count: int, status: Status, referral_boost: float) -> np.ndarray:
        """Create ``count`` patients (rows, agents, network nodes); returns their indices."""
        p, rng, pa = self.p, self.rng, self.patients
        idx = pa.add(count)
        if count == 0:
            return idx
        pa.status[idx] = status
        pa.acuity_base[idx] = rng.beta(2.0, 3.0, count)
        pa.acuity[idx] = np.clip(pa.acuity_base[idx] + referral_boost
                                 + 0.05 * rng.standard_normal(count), 0, 1)
        pa.risk_trait[idx] = rng.random(count)
        pa.risk[idx] = sm.risk_from_acuity(pa.acuity[idx], pa.risk_trait[idx])
        pa.reluctance_base[idx] = self._beta(p["reluctance_mean"], 6, count)
        pa.reluctance[idx] = pa.reluctance_base[idx]
        u = rng.random(count)
        pa.role[idx] = np.where(u < p["share_prefer_passive"], Role.PASSIVE,
                                np.where(u < p["share_prefer_passive"] + p["share_prefer_active"],
                                         Role.ACTIVE, Role.COLLABORATIVE))
        pa.dep_housing[idx] = rng.random(count) < p["housing_dependency"]
        pa.dep_money[idx] = rng.random(count) < p["money_dependency"]
        pa.trauma[idx] = (rng.random(count) < p["trauma_prevalence"]) * rng.uniform(0.5, 1.0,
                                                                                     count)
        pa.felt_safety[idx] = np.clip(0.65 - 0.25 * pa.trauma[idx], 0, 1)
        pa.locus_base[idx] = rng.beta(5.0, 5.0, count)
        pa.locus[idx] = pa.locus_base[idx]
        pa.recovery[idx] = rng.beta(4.0, 6.0, count)
        pa.service_trust[idx] = np.clip(rng.beta(6.0, 5.0, count) - 0.1 * pa.trauma[idx], 0, 1)
        pa.trust_pc[idx] = pa.service_trust[idx]
        pa.trust_cp[idx] = np.clip(0.6 - 0.3 * pa.reluctance[idx]
                                   + 0.05 * rng.standard_normal(count), 0, 1)
        pa.advocate[idx] = rng.random(count) < p["peer_advocate_coverage"]
        pa.advance_statement[idx] = rng.random(count) < p["advance_statement_coverage"]
        pa.referred_week[idx] = self.week
        pa.urgent[idx] = pa.acuity[idx] >= 0.7
        self.patient_agents.extend(Patient(self, int(i)) for i in idx)
        self._connect_new_patients(idx)
        return idx

    def _connect_new_patients(self, idx: np.ndarray) -> None:
        """Each newcomer links to Poisson(mean_social_ties / 2) earlier patients, chosen
        uniformly (mean degree ~ ``mean_social_ties``). Edges live in growable arrays;
        :attr:`patient_network` builds the networkx view on demand."""
        k = self.rng.poisson(self.p["mean_social_ties"] / 2.0, len(idx))
        k = np.minimum(k, idx)  # patient 0 has nobody to link to
        total = int(k.sum())
        if total == 0:
            return
        src = np.repeat(idx, k)
        dst = (self.rng.random(total) * src).astype(np.int64)  # uniform over earlier patients
        keep = np.ones(total, dtype=bool)
        pairs = src * (idx[-1] + 1) + dst
        _, first = np.unique(pairs, return_index=True)
        keep[:] = False
        keep[first] = True  # drop duplicate ties drawn twice
        src, dst = src[keep], dst[keep]
        n, m = self._n_edges, len(src)
        if n + m > len(self._edge_u):
            size = max(2 * len(self._edge_u), n + m)
            self._edge_u = np.resize(self._edge_u, size)
            self._edge_v = np.resize(self._edge_v, size)
        self._edge_u[n:n + m] = src
        self._edge_v[n:n + m] = dst
        self._n_edges = n + m

    @property
    def patient_network(self) -> nx.Graph:
        """Patients' social ties as a networkx Graph (integer node = patient index).

        Built from the edge arrays when asked (cached until the network grows)."""
        key = (self.patients.n, self._n_edges)
        if self._network_cache is None or self._network_cache[0] != key:
            g = nx.Graph()
            g.add_nodes_from(range(self.patients.n))
            u, v = self._edge_arrays
            g.add_edges_from(zip(u.tolist(), v.tolist()))
            self._network_cache = (key, g)
        return self._network_cache[1]

    @property
    def _edge_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._edge_u[: self._n_edges], self._edge_v[: self._n_edges]

    # ------------------------------------------------------------------ dyads
    def _set_dyad_trust(self, i: int, c: int) -> None:
        """Start (or resume, if they met before) the dyad of patient ``i`` with clinician ``c``."""
        pa = self.patients
        remembered = self._dyad_memory.get((i, c))
        if remembered is not None:
            pa.trust_pc[i], pa.trust_cp[i] = remembered
        else:
            pa.trust_pc[i] = pa.service_trust[i]
            pa.trust_cp[i] = min(1.0, max(0.0, 0.6 - 0.3 * pa.reluctance[i]))

    def _end_dyad(self, i: int) -> None:
        pa = self.patients
        c = int(pa.clinician[i])
        if c >= 0:
            self._dyad_memory[(i, c)] = (float(pa.trust_pc[i]), float(pa.trust_cp[i]))

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        """One week, in the order of the ODD's process overview (section 3)."""
        self.week += 1
        self._reset_week()
        self.referrals_and_intake()
        self.illness_dynamics()
        self.cope_with_demand()
        self.encounters()
        self.crisis_pathway()
        self.resolve_deals()
        self.update_patients()
        self.pathway_transitions()
        self.update_clinicians()
        self.spread_experiences()
        self._record()
        self.datacollector.collect(self)

    def _reset_week(self) -> None:
        c = self.p["n_clinicians"]
        self._wk = {k: 0.0 for k in _COUNT_KEYS}
        self._wk_level = np.zeros(5)
        self._wk_pressure = np.zeros(5)
        self._authority_uses = np.zeros(c)
        self._conflicts = np.zeros(c)
        self._decided = np.zeros(self.patients.n, dtype=bool)

    # ------------------------------------------------------------------ 7.1 referrals & intake
    def referrals_and_intake(self) -> None:
        """New referrals join the waiting list; capacity-limited intake, urgent first (7.1)."""
        p, rng, pa = self.p, self.rng, self.patients
        new = self._new_patients(int(rng.poisson(p["referrals_per_week"])), Status.WAITING, 0.15)
        self._wk["referrals"] += len(new)
        self._decided = np.concatenate([self._decided, np.zeros(len(new), dtype=bool)])
        status = pa.view("status")
        # Relapsed people who left care come back through referral.
        out = (status == Status.DISCHARGED) | (status == Status.DISENGAGED)
        # People who left care leave the service's sight (move, primary care only, die) at a
        # constant rate; only those still in the catchment come back (ODD 7.1).
        catch = pa.view("in_catchment")
        catch[out & (rng.random(pa.n) < CATCHMENT_EXIT_RATE)] = False
        back = np.flatnonzero(out & catch & (pa.view("acuity") >= 0.7)
                              & (rng.random(pa.n) < REREFERRAL_RATE))
        status[back] = Status.WAITING
        pa.referred_week[back] = self.week
        pa.urgent[back] = True
        # Some people on the waiting list give up.
        waiting = np.flatnonzero(status == Status.WAITING)
        gone = waiting[rng.random(len(waiting)) < WAITING_WITHDRAWAL]
        status[gone] = Status.DISENGAGED
        self._wk["withdrawals"] += len(gone)
        # Intake slots (time targets push throughput).
        slots = sm.stochastic_round(
            p["intake_per_clinician_week"] * p["n_clinicians"]
            * (1.0 + 0.3 * p["pathway_time_targets"]), rng)
        waiting = np.flatnonzero(status == Status.WAITING)
        if slots == 0 or len(waiting) == 0:
            return
        order = np.lexsort((pa.referred_week[waiting], ~pa.urgent[waiting]))
        caseload = self.clinicians.caseload
        cap = p["caseload_cap"]
        started = []
        for i in waiting[order][:slots]:
            room = caseload < cap
            if not room.any():
                break
            prev = int(pa.last_clinician[i])
            if prev >= 0 and room[prev]:
                c = prev
            else:
                free = np.flatnonzero(caseload == caseload[room].min())
                c = int(free[rng.integers(len(free))])
            self._start_care(int(i), c)
            started.append(int(i))
        if started:
            s = np.array(started)
            self._waits.append((self.week, self.week - pa.referred_week[s]))

    def _start_care(self, i: int, c: int) -> None:
        pa = self.patients
        if pa.clinician[i] != c:
            self._end_dyad(i)
            self._set_dyad_trust(i, c)
        pa.status[i] = Status.IN_CARE
        pa.clinician[i] = c
        pa.care_start_week[i] = self.week
        pa.weeks_in_care[i] = 0
        pa.urgent[i] = False
        self.clinicians.caseload[c] += 1

    # ------------------------------------------------------------------ 7.2 illness
    def illness_dynamics(self) -> None:
        """Acuity reverts to the personal baseline, treatment pulls it down, crises strike (7.2)."""
        p, rng, pa = self.p, self.rng, self.patients
        n = pa.n
        a = pa.view("acuity")
        status = pa.view("status")
        in_care = status == Status.IN_CARE
        base = pa.view("acuity_base") * (1.0 - 0.3 * pa.view("recovery"))
        treated = in_care & pa.view("adherent")
        place = pa.view("place_type")
        therapy = (place == PLACE_THERAPY) | (place == PLACE_PSYCHOSOCIAL)
        admitted = status == Status.ADMITTED
        a += (p["acuity_reversion"] * (base - a) + p["acuity_noise"] * rng.standard_normal(n)
              - p["treatment_effect"] * treated - p["therapy_effect"] * therapy - 0.05 * admitted)
        np.clip(a, 0.0, 1.0, out=a)
        hazard = sm.crisis_hazard(a, pa.view("adherent") | ~in_care, p["crisis_rate"])
        crisis = ~admitted & (rng.random(n) < hazard)
        a[crisis] = np.maximum(a[crisis], rng.uniform(0.75, 0.95, int(crisis.sum())))
        pa.view("crisis")[:] = crisis
        pa.view("risk")[:] = sm.risk_from_acuity(a, pa.view("risk_trait"))
        self._wk["crises"] += int(crisis.sum())

    # ------------------------------------------------------------------ 7.3 coping
    def cope_with_demand(self) -> None:
        """Clinicians spread their weekly hours over the caseload; demand above capacity is met by
        rationing contacts and, later in the encounter, routinizing and gatekeeping (7.3, S4)."""
        p, pa, cl = self.p, self.patients, self.clinicians
        status = pa.view("status")
        in_care = np.flatnonzero(status == Status.IN_CARE)
        c_of = pa.clinician[in_care]
        need = p["need_base_hours"] + p["need_acuity_hours"] * pa.acuity[in_care]
        hours = sm.available_hours(p["contact_hours_per_week"], p["admin_share"],
                                   p["pathway_time_targets"], p["org_support"])
        cl.available_hours[:] = hours * (1.0 - 0.2 * cl.burnout)
        need_c = np.bincount(c_of, weights=need, minlength=cl.n)
        cl.demand_ratio[:] = sm.demand_ratio(need_c, cl.available_hours)
        cl.caseload[:] = np.bincount(c_of, minlength=cl.n)
        ratio = cl.demand_ratio[c_of]
        toward = sm.toward_patients(cl.stress, cl.defensiveness)[c_of]
        prob = sm.contact_probability(need, ratio, toward)
        prob = np.where(pa.crisis[in_care], 1.0, prob)
        seen = self.rng.random(len(in_care)) < prob
        self._seen = in_care[seen]
        self._wk["contacts_needed"] += float(np.minimum(need, 1.0).sum())
        self._wk["contacts_made"] += float(seen.sum())

    # ------------------------------------------------------------------ 7.4-7.9 encounters
    def encounters(self) -> None:
        """Contested decisions in this week's contacts: mode choice, response, outcome (7.4-7.9)."""
        p, rng, pa, cl = self.p, self.rng, self.patients, self.clinicians
        seen = self._seen
        if len(seen) == 0:
            return
        acuity, reluct = pa.acuity[seen], pa.reluctance[seen]
        crisis = pa.crisis[seen]
        contested = crisis | (rng.random(len(seen)) < np.clip(
            p["contested_base"] + 0.25 * acuity + 0.25 * reluct, 0, 1))
        i = seen[contested]
        if len(i) == 0:
            return
        n = len(i)
        c = pa.clinician[i]
        a, risk, rel = pa.acuity[i], pa.risk[i], pa.reluctance[i]
        # 7.4 Which decision is at stake.
        decision = self._decision_types(i)
        # 7.3 Coping inside the encounter: routinizing and gatekeeping scarce services.
        ratio = cl.demand_ratio[c]
        time_share = np.minimum(1.0, 1.0 / np.maximum(ratio, 1e-9))
        routinized = rng.random(n) < sm.routinizing_probability(
            ratio, p["pathway_time_targets"], cl.identity[c], cl.skill[c])
        scarce = (decision == Decision.SERVICE) | (decision == Decision.HOUSING)
        place_free = self._free_places()
        wanted_place = np.where(decision == Decision.HOUSING, PLACE_HOUSING,
                                np.where(cl.method[c] == 1, PLACE_THERAPY, PLACE_PSYCHOSOCIAL))
        wanted_place = np.where((decision == Decision.SERVICE)
                                & (place_free[wanted_place] <= 0), 1 - wanted_place % 2,
                                wanted_place)  # the other service type if one is full
        exists = place_free[wanted_place] > 0
        gatekept = rng.random(n) < sm.gatekeeping_probability(ratio, cl.identity[c],
                                                              p["org_support"])
        offered = scarce & exists & ~gatekept & ~routinized
        rationed = scarce & ~offered
        options = np.where(routinized, 1,
                           np.where(scarce, 2 + offered,
                                    2 + (time_share >= 0.75)))
        full_share = (options >= 2) & (time_share >= 0.5)
        # Resources the service controls (what makes a deal or a threat possible, S2).
        lev_type = np.where(pa.dep_housing[i], LEV_HOUSING,
                            np.where(pa.dep_money[i], LEV_MONEY,
                                     np.where(offered & (decision == Decision.SERVICE),
                                              LEV_SERVICES, -1)))
        has_resource = lev_type >= 0
        dependency = np.clip(0.6 * pa.dep_housing[i] + 0.4 * pa.dep_money[i]
                             + 0.3 * (lev_type == LEV_SERVICES), 0, 1)
        leverage_allowed = rng.random(n) >= p["leverage_limit"]
        # 7.5 Advance statements in crisis decisions (S3): honoured plans steer the decision.
        adm = decision == Decision.ADMISSION
        as_honoured = adm & pa.advance_statement[i] & (
            rng.random(n) < p["advance_statement_honour_rate"])
        plan_followed = as_honoured & (rng.random(n) < 0.8 * p["advance_statement_quality"])
        # 7.5 The clinician's choice of influence mode.
        u = sm.mode_utilities(
            propensity=cl.propensity[c], time_share=time_share, skill=cl.skill[c],
            mandate=p["involvement_mandate"], org_support=p["org_support"], acuity=a,
            stress=cl.stress[c], defensiveness=cl.defensiveness[c], identity=cl.identity[c],
            risk=risk, advocate=pa.advocate[i].astype(float),
            prefers_active=(pa.role[i] == Role.ACTIVE).astype(float), trust_pc=pa.trust_pc[i],
            trust_cp=pa.trust_cp[i], reluctance=rel, dependency=dependency,
            trauma_informed=p["trauma_informed_care"])
        avail = sm.mode_availability(
            decision=decision, trust_cp=pa.trust_cp[i],
            deal_trust_threshold=p["deal_trust_threshold"], has_resource=has_resource,
            leverage_allowed=leverage_allowed, risk=risk,
            compulsion_available=p["compulsion_available"],
            compulsion_risk_threshold=p["compulsion_risk_threshold"])
        # Community compulsion (a CTO) is open only to patients detained before (MHA 2007).
        avail[(decision == Decision.MEDICATION) & ~pa.ever_detained[i], Mode.COMPEL] = False
        avail[plan_followed, :] = False
        avail[plan_followed, Mode.SHARE] = True
        mode = sm.choose_influence_mode(u, avail, p["mode_temperature"], rng)
        # 7.6 The patient's response.
        v = sm.response_utilities(
            mode=mode, trust_pc=pa.trust_pc[i], reluctance=rel, role=pa.role[i],
            dependency=dependency, advocate=pa.advocate[i].astype(float), locus=pa.locus[i],
            safety=pa.felt_safety[i], acuity=a, coercion=pa.coercion[i])
        response = sm.patient_response(v, rng)
        response[plan_followed] = Response.ACCEPT
        # A refused threat of compulsion is carried out when the legal criteria are met.
        escalated = ((mode == Mode.THREATEN) & (response >= Response.REFUSE) & adm
                     & p["compulsion_available"] & (risk >= p["compulsion_risk_threshold"]))
        mode = np.where(escalated, Mode.COMPEL, mode).astype(np.int8)
        compelled = mode == Mode.COMPEL
        # Compelled patients, and patients on a community treatment order, cannot walk away.
        bound = compelled | (pa.cto_weeks_left[i] > 0)
        response = np.where(bound & (response == Response.DISENGAGE), Response.REFUSE,
                            response).astype(np.int8)
        accommodated = (response == Response.NEGOTIATE) & (rng.random(n) < sm.accommodation_probability(
            cl.skill[c], time_share, cl.defensiveness[c], pa.advocate[i].astype(float)))
        # 7.7 Involvement, role concordance and ratings.
        capable = a < 0.7
        level = sm.involvement_level(mode, response, accommodated, full_share,
                                     pa.role[i] == Role.ACTIVE, capable)
        level = np.where(plan_followed & ~compelled, 4, level).astype(np.int8)
        pressure = sm.PRESSURE[mode]
        voice = (level >= 2).astype(float)
        fp = sm.felt_pressure(pressure, dependency, pa.trauma[i], p["trauma_informed_care"], voice)
        concordant = sm.enacted_role(level) == pa.role[i]
        self._tally_decisions(level, pressure, concordant, options, routinized, rationed, scarce,
                              fp, mode, c)
        low_locus = pa.locus_base[i] < LOW_LOCUS
        self._wk["low_locus_decisions"] += int(low_locus.sum())
        self._wk["low_locus_level_sum"] += float(level[low_locus].sum())
        self._wk["deals_offered"] += int((mode == Mode.DEAL).sum())
        # 7.8 Trust, both directions (asymmetric; voice and TIC buffer losses).
        eff = sm.TRUST_EFFECT_PC[mode] + 0.5 * accommodated + 0.3 * (level == 4)
        eff = np.where(eff < 0, eff * sm.trust_loss_buffer(voice, p["trauma_informed_care"]), eff)
        pa.trust_pc[i] = sm.update_trust(pa.trust_pc[i], eff, p["trust_gain"],
                                         p["trust_loss_ratio"])
        pa.trust_cp[i] = sm.update_trust(pa.trust_cp[i], sm.TRUST_EFFECT_CP[response],
                                         p["trust_gain"], p["trust_loss_ratio"])
        # 7.9 Perceived coercion (Lidz et al. 1998) and the involvement experienced.
        m = p["coercion_memory"]
        pa.coercion[i] = (1 - m) * pa.coercion[i] + m * fp
        pa.involvement_ema[i] = 0.7 * pa.involvement_ema[i] + 0.3 * level
        self._decided[i] = True
        # 7.8 Outcomes of the decision (after the updates, so a dyad that ends here
        # remembers this encounter).
        accepted = (response == Response.ACCEPT) | accommodated
        self._decision_outcomes(i, c, decision, mode, response, accepted, compelled, offered,
                                wanted_place, place_free, lev_type, plan_followed, risk)
        # Leverage met (offers and threats, by type; Burns et al. 2011, Monahan et al. 2005).
        lever = (mode == Mode.DEAL) | (mode == Mode.THREATEN) | escalated
        ltype = np.where((mode == Mode.THREATEN) & ((lev_type < 0) | adm | ~leverage_allowed),
                         LEV_COMPULSION,
                         lev_type)
        ltype = np.where(escalated, LEV_COMPULSION, ltype)
        hit = lever & (ltype >= 0)
        pa.last_leverage_week[i[hit], ltype[hit]] = self.week
        self._wk["leverage_events"] += int(hit.sum())
        self._wk["threats"] += int((mode == Mode.THREATEN).sum() + escalated.sum())
        # 7.11 Clinician side: authority used, conflict met, reward learned.
        authority = sm.AUTHORITY[mode]
        np.add.at(self._authority_uses, c, authority)
        conflict = (response >= Response.REFUSE) | ((response == Response.NEGOTIATE)
                                                    & ~accommodated)
        np.add.at(self._conflicts, c, conflict)
        reward = sm.decision_reward(accepted, response == Response.REFUSE,
                                    response == Response.DISENGAGE, authority, cl.stress[c],
                                    level, p["reflective_supervision"])
        self._learn(c, mode, reward)
        if p["event_log"]:
            self._events.append(dict(
                step=np.full(n, self.week), patient=i, clinician=c, decision=decision,
                mode=mode, response=response, accommodated=accommodated, options=options,
                routinized=routinized, rationed=rationed, level=level, pressure=pressure,
                felt_pressure=fp, escalated=escalated, advance_statement_honoured=as_honoured,
                leverage_type=np.where(hit, ltype, -1), trust_pc_after=pa.trust_pc[i].copy(),
                trust_cp_after=pa.trust_cp[i].copy()))

    def _decision_types(self, i: np.ndarray) -> np.ndarray:
        """Which decision is contested (7.4): crisis -> admission; long, stable episodes ->
        discharge; otherwise medication, a scarce service, or housing for those who need it."""
        p, pa = self.p, self.patients
        u = self.rng.random(len(i))
        d = np.where(u < 0.5, Decision.MEDICATION, np.where(u < 0.8, Decision.SERVICE,
                                                              Decision.HOUSING))
        d = np.where((d == Decision.HOUSING) & ~pa.dep_housing[i], Decision.SERVICE, d)
        # Full caseloads push discharge: the acuity bar for "ready" rises with demand (S4).
        ratio = self.clinicians.demand_ratio[pa.clinician[i]]
        # "Stable" is judged absolutely or against the person's own baseline (chronic
        # illness does not block discharge forever).
        own_base = pa.acuity_base[i] * (1.0 - 0.3 * pa.recovery[i])
        bar = (np.maximum(0.45, own_base + 0.05) + 0.1 * np.clip(ratio - 1.0, 0.0, 1.0)
               + 0.1 * np.minimum(1.0, pa.weeks_in_care[i] / 104.0))  # long episodes step down
        ready = (pa.weeks_in_care[i] >= p["service_weeks"]) & (pa.acuity[i] < bar)
        d = np.where(ready & (self.rng.random(len(i)) < 0.6), Decision.DISCHARGE, d)
        d = np.where(pa.crisis[i], Decision.ADMISSION, d)
        return d.astype(np.int8)

    def _free_places(self) -> np.ndarray:
        p, pa = self.p, self.patients
        capacity_base = p["n_clinicians"] * p["caseload_cap"] / 100.0
        cap = np.array([p["therapy_places_per_100"], p["psychosocial_places_per_100"],
                        p["housing_places_per_100"]]) * capacity_base
        held = np.bincount(pa.view("place_type")[pa.view("place_type") >= 0], minlength=3)[:3]
        return np.floor(cap) - held

    def _tally_decisions(self, level, pressure, concordant, options, routinized, rationed,
                         scarce, fp, mode, c) -> None:
        wk, cl = self._wk, self.clinicians
        self._wk_level += np.bincount(level, minlength=5)[:5]
        self._wk_pressure += np.bincount(pressure, minlength=5)[:5]
        wk["decisions"] += len(level)
        wk["concordant"] += int(concordant.sum())
        wk["options"] += float(options.sum())
        wk["routinized"] += int(routinized.sum())
        wk["rationed"] += int(rationed.sum())
        wk["scarce_decisions"] += int(scarce.sum())
        wk["authority"] += int(sm.AUTHORITY[mode].sum())
        wk["clinician_rated"] += float(sm.clinician_rated_involvement(
            level, cl.identity[c], self.p["involvement_mandate"], cl.insight[c], mode).sum())
        wk["patient_rated"] += float(sm.patient_rated_involvement(level, fp).sum())

    def _decision_outcomes(self, i, c, decision, mode, response, accepted, compelled, offered,
                           wanted_place, place_free, lev_type, plan_followed, risk) -> None:
        """What each decision changes in the pathway (7.8)."""
        p, pa, wk, rng = self.p, self.patients, self._wk, self.rng
        med = decision == Decision.MEDICATION
        # Treatment plan: adherence follows acceptance; compelled medication starts a CTO.
        cto = med & compelled & pa.ever_detained[i]
        pa.adherent[i[med & accepted]] = True
        pa.adherent[i[med & (response == Response.REFUSE) & ~compelled]] = False
        pa.cto_weeks_left[i[cto]] = CTO_WEEKS
        pa.adherent[i[cto]] = True
        wk["cto_started"] += int(cto.sum())
        # Deals: resource conditional on adherence, due in deal_weeks.
        deal = (mode == Mode.DEAL) & accepted
        j = i[deal]
        pa.deal_due[j] = self.week + p["deal_weeks"]
        pa.deal_type[j] = lev_type[deal]
        pa.deal_clinician[j] = c[deal]
        pa.adherent[j] = True
        wk["deals_made"] += len(j)
        # Scarce services and housing support: accepted offers take a place.
        take = offered & accepted & ~compelled
        free = place_free.copy()  # from the start of the encounters; no place taken since
        for k in np.flatnonzero(take):
            t = int(wanted_place[k])
            if free[t] > 0 and pa.place_type[i[k]] < 0:
                pa.place_type[i[k]] = t
                pa.place_weeks_left[i[k]] = PLACE_WEEKS[t]
                free[t] -= 1
        # Admission decisions: compulsory, voluntary, or home treatment.
        adm = decision == Decision.ADMISSION
        comp = adm & compelled
        vol = adm & ~compelled & accepted & (
            pa.crisis[i] | (risk >= p["compulsion_risk_threshold"] - 0.2))
        for j, compulsory in ((i[comp], True), (i[vol & ~plan_followed], False),
                              (i[vol & plan_followed & (rng.random(len(i)) < 0.5)], False)):
            self._admit(j, compulsory)
        # Discharge decisions agreed.
        dis = (decision == Decision.DISCHARGE) & accepted
        self._leave_care(i[dis], Status.DISCHARGED)
        wk["discharges"] += int(dis.sum())
        # Walking away.
        gone = (response == Response.DISENGAGE) & ~compelled & (pa.status[i] == Status.IN_CARE)
        self._leave_care(i[gone], Status.DISENGAGED)
        wk["disengagements"] += int(gone.sum())

    def _admit(self, j: np.ndarray, compulsory: bool) -> None:
        if len(j) == 0:
            return
        p, pa, wk = self.p, self.patients, self._wk
        j = j[pa.status[j] != Status.ADMITTED]
        weeks = p["admission_weeks"] * (COMPULSORY_STAY_FACTOR if compulsory else 1.0)
        pa.status[j] = Status.ADMITTED
        pa.compulsory[j] = compulsory
        if compulsory:
            pa.ever_detained[j] = True
        # +1: the weekly countdown also runs in the week of admission.
        pa.admit_weeks_left[j] = np.maximum(1, self.rng.poisson(weeks, len(j))) + 1
        readmit = (pa.admissions[j] > 0) | pa.prior_admission[j]
        pa.admissions[j] += 1
        wk["compulsory_admissions" if compulsory else "voluntary_admissions"] += len(j)
        wk["readmissions"] += int(readmit.sum())

    def _leave_care(self, j: np.ndarray, status: Status) -> None:
        """Patients leave the caseload (discharge or disengagement); places and deals lapse."""
        if len(j) == 0:
            return
        pa = self.patients
        for i in j:
            self._end_dyad(int(i))
        self.clinicians.caseload[:] -= np.bincount(pa.clinician[j][pa.clinician[j] >= 0],
                                                   minlength=self.clinicians.n)
        pa.status[j] = status
        pa.last_clinician[j] = pa.clinician[j]
        pa.clinician[j] = -1
        pa.place_type[j] = -1
        pa.place_weeks_left[j] = 0
        pa.cto_weeks_left[j] = 0
        pending = j[pa.deal_due[j] >= 0]
        self._wk["deals_lapsed"] += len(pending)
        pa.deal_due[pending] = -1
        pa.deal_type[pending] = -1
        pa.deal_clinician[pending] = -1

    def _learn(self, c, mode, reward) -> None:
        """Propensities follow experienced reward relative to a running baseline (7.11)."""
        cl, lr = self.clinicians, self.p["learning_rate"]
        delta = reward - cl.reward_baseline[c]
        np.add.at(cl.propensity, (c, mode), lr * delta)
        np.add.at(cl.reward_baseline, c, 0.05 * delta)
        np.clip(cl.propensity, -PROPENSITY_BOUND, PROPENSITY_BOUND, out=cl.propensity)

    # ------------------------------------------------------------------ 7.10 crisis pathway
    def crisis_pathway(self) -> None:
        """People in crisis outside care meet the crisis team: admission (compulsory when risk
        meets the legal threshold and no honoured crisis plan averts it) or urgent referral."""
        p, pa, rng = self.p, self.patients, self.rng
        status = pa.view("status")
        j = np.flatnonzero(pa.view("crisis") & (status != Status.IN_CARE)
                           & (status != Status.ADMITTED) & pa.view("in_catchment"))
        if len(j) == 0:
            return
        risk = pa.risk[j]
        plan = pa.advance_statement[j] & (rng.random(len(j)) < p["advance_statement_honour_rate"]
                                          * 0.8 * p["advance_statement_quality"])
        compel = (p["compulsion_available"] & (risk >= p["compulsion_risk_threshold"]) & ~plan
                  & (rng.random(len(j)) < CRISIS_TEAM_COMPULSION))
        voluntary = ~compel & (risk >= p["compulsion_risk_threshold"] - 0.2) & (
            rng.random(len(j)) < 0.5)
        pa.coercion[j[compel]] = ((1 - p["coercion_memory"]) * pa.coercion[j[compel]]
                                  + p["coercion_memory"])
        pa.trust_pc[j[compel]] *= 0.8
        pa.service_trust[j[compel]] *= 0.9
        self._admit(j[compel], True)
        self._admit(j[voluntary], False)
        rest = j[~compel & ~voluntary & (status[j] != Status.WAITING)]
        status[rest] = Status.WAITING
        pa.referred_week[rest] = self.week
        pa.urgent[j] = True

    # ------------------------------------------------------------------ 7.8 deals
    def resolve_deals(self) -> None:
        """Deals falling due are honoured or broken by either side (7.8, S2)."""
        p, pa, cl, wk, rng = self.p, self.patients, self.clinicians, self._wk, self.rng
        j = np.flatnonzero(pa.view("deal_due") == self.week)
        if len(j) == 0:
            return
        active = np.ones(len(j), dtype=bool)  # deals of people who left care lapsed already
        by_patient = active & (rng.random(len(j)) < sm.deal_honour_probability_patient(
            pa.trust_pc[j], pa.acuity[j], pa.reluctance[j]))
        c = pa.clinician[j]
        ratio = np.where(c >= 0, cl.demand_ratio[np.maximum(c, 0)], 1.0)
        changed = (c != pa.deal_clinician[j]).astype(float)
        # A services deal can be kept if the patient holds a place or one is free.
        free = self._free_places()
        resource_ok = ((pa.deal_type[j] != LEV_SERVICES) | (pa.place_type[j] >= 0)
                       | (free[PLACE_THERAPY] + free[PLACE_PSYCHOSOCIAL] > 0))
        by_service = rng.random(len(j)) < sm.deal_honour_probability_service(ratio, changed,
                                                                             resource_ok)
        honoured = by_patient & by_service
        service_broke = ~by_service & active
        patient_broke = by_service & ~by_patient
        gt, lr = p["trust_gain"], p["trust_loss_ratio"]
        pa.trust_pc[j] = sm.update_trust(pa.trust_pc[j], np.where(honoured, 1.0, np.where(
            service_broke, -2.0, 0.0)), gt, lr)
        pa.trust_cp[j] = sm.update_trust(pa.trust_cp[j], np.where(honoured, 0.8, np.where(
            patient_broke, -1.0, 0.0)), gt, lr)
        pa.service_trust[j[service_broke]] = np.clip(pa.service_trust[j[service_broke]] - 0.05,
                                                     0, 1)
        pa.adherent[j[patient_broke]] = False
        wk["deals_honoured"] += int(honoured.sum())
        wk["deals_broken"] += int((~honoured).sum())
        wk["deals_broken_by_service"] += int(service_broke.sum())
        pa.deal_due[j] = -1
        pa.deal_type[j] = -1
        pa.deal_clinician[j] = -1

    # ------------------------------------------------------------------ 7.9 weekly patient updates
    def update_patients(self) -> None:
        """Weekly drift of trust, coercion, felt safety, locus, recovery, reluctance; and the
        disengagement hazard (7.9)."""
        p, pa, rng = self.p, self.patients, self.rng
        n = pa.n
        status = pa.view("status")
        in_care = status == Status.IN_CARE
        tic = p["trauma_informed_care"]
        trust, st = pa.view("trust_pc"), pa.view("service_trust")
        trust += p["trust_decay"] * (st - trust) * in_care
        st += 0.02 * (trust - st) * in_care
        coercion = pa.view("coercion")
        coercion *= np.where(self._decided[:n], 1.0, 0.98)
        trauma = pa.view("trauma")
        housed = pa.view("place_type") == PLACE_HOUSING
        fs = pa.view("felt_safety")
        fs_target = (0.7 - 0.5 * coercion * (1 + 0.5 * trauma) * (1 - 0.5 * tic)
                     + 0.15 * (trust - 0.5) - 0.2 * pa.view("acuity") + 0.1 * housed
                     + 0.1 * tic * trauma)
        fs += 0.1 * (np.clip(fs_target, 0, 1) - fs)
        inv = pa.view("involvement_ema")
        locus, lb = pa.view("locus"), pa.view("locus_base")
        adv = pa.view("advocate")
        locus_target = (lb + 0.15 * (inv - 2.0) / 2.0 - 0.3 * coercion
                        + 0.4 * adv * (1.0 - lb) * (lb < 0.6))
        locus += 0.05 * (np.clip(locus_target, 0, 1) - locus) * (status <= Status.ADMITTED)
        place = pa.view("place_type") >= 0
        rec = pa.view("recovery")
        rec_target = (0.25 + 0.25 * (trust - 0.5) + 0.2 * (inv / 4.0) + 0.2 * locus
                      + 0.1 * place - 0.35 * pa.view("acuity") - 0.15 * coercion
                      + 0.1 * fs)
        rec += 0.03 * (np.clip(rec_target, 0, 1) - rec)
        rel, rb = pa.view("reluctance"), pa.view("reluctance_base")
        rel += 0.05 * (np.clip(rb + 0.3 * coercion - 0.15 * (trust - 0.5), 0, 1) - rel)
        hazard = p["disengage_rate"] * np.exp(2.0 * coercion + 1.5 * (rel - 0.3)
                                              - 2.0 * (trust - 0.5))
        free = in_care & (pa.view("cto_weeks_left") <= 0)
        gone = np.flatnonzero(free & (rng.random(n) < hazard))
        self._leave_care(gone, Status.DISENGAGED)
        self._wk["disengagements"] += len(gone)

    # ------------------------------------------------------------------ 7.10 transitions
    def pathway_transitions(self) -> None:
        """Hospital stays end, orders and places run out, clinicians change (7.10)."""
        p, pa, rng = self.p, self.patients, self.rng
        status = pa.view("status")
        adm = status == Status.ADMITTED
        left = pa.view("admit_weeks_left")
        left[adm] -= 1
        out = np.flatnonzero(adm & (left <= 0))
        if len(out):
            has_c = pa.clinician[out] >= 0
            status[out[has_c]] = Status.IN_CARE
            status[out[~has_c]] = Status.WAITING
            pa.referred_week[out[~has_c]] = self.week
            pa.urgent[out] = True
            pa.compulsory[out] = False
            pa.acuity[out] = np.minimum(pa.acuity[out], 0.6)
        cto = pa.view("cto_weeks_left")
        cto[cto > 0] -= 1
        pw = pa.view("place_weeks_left")
        held = pa.view("place_type") >= 0
        pw[held] -= 1
        pa.view("place_type")[held & (pw <= 0)] = -1
        in_care = status == Status.IN_CARE
        pa.view("weeks_in_care")[in_care] += 1
        pa.view("last_in_care_week")[in_care | adm] = self.week
        # Continuity of care: a yearly probability of keeping the same clinician.
        cont = p["continuity_of_care"]
        hazard = 0.0 if cont >= 1.0 else -math.log(max(cont, 1e-6)) / 52.0
        if hazard > 0:
            move = np.flatnonzero(in_care & (rng.random(pa.n) < hazard))
            cl = self.clinicians
            for i in move:
                old = int(pa.clinician[i])
                room = np.flatnonzero(cl.caseload < p["caseload_cap"])
                room = room[room != old]
                if len(room) == 0:
                    continue
                new = int(room[rng.integers(len(room))])
                self._end_dyad(int(i))
                cl.caseload[old] -= 1
                cl.caseload[new] += 1
                pa.clinician[i] = new
                self._set_dyad_trust(int(i), new)
                self._wk["clinician_changes"] += 1

    # ------------------------------------------------------------------ 7.11 clinicians
    def update_clinicians(self) -> None:
        """Stress (with short-run relief from authority), burnout, the awareness J-curve,
        identity, skill, and team norms (7.11, S1, S3)."""
        p, cl = self.p, self.clinicians
        conflict_rate = self._conflicts / np.maximum(cl.caseload, 1)
        target = np.clip(sm.stress_target(cl.demand_ratio, conflict_rate, p["org_support"],
                                          p["reflective_supervision"]) + cl.vulnerability, 0, 1)
        cl.stress += p["stress_rate"] * (target - cl.stress) \
            - p["authority_relief"] * np.minimum(self._authority_uses, 3.0)
        np.clip(cl.stress, 0, 1, out=cl.stress)
        cl.burnout += p["burnout_rate"] * (cl.stress - cl.burnout)
        np.clip(cl.burnout, 0, 1, out=cl.burnout)
        awareness = (0.5 * p["involvement_mandate"] + 0.3 * p["sdm_training"]
                     + 0.2 * p["pathway_time_targets"])
        cl.discomfort[:], cl.insight[:] = sm.awareness_step(
            cl.discomfort, cl.insight, awareness, p["reflective_supervision"])
        cl.defensiveness[:] = sm.defensiveness_state(cl.defensiveness_trait, cl.discomfort,
                                                     cl.insight, cl.stress)
        id_target = np.clip(cl.identity_base - 0.2 * cl.insight - 0.1 * p["sdm_training"], 0, 1)
        cl.identity += 0.005 * (id_target - cl.identity)
        skill_target = np.clip(cl.skill_base + 0.4 * p["sdm_training"]
                               * (0.6 + 0.4 * p["org_support"]), 0, 1)
        cl.skill += 0.03 * (skill_target - cl.skill)
        # Habits fade slowly without reinforcement (bounded learning, ODD 7.11).
        cl.propensity += PROPENSITY_FORGETTING * (self._propensity_initial - cl.propensity)
        if p["norm_diffusion"] > 0 and self._has_colleagues.any():
            peer = self._colleague_weights @ cl.propensity
            cl.propensity[self._has_colleagues] += p["norm_diffusion"] * (
                peer[self._has_colleagues] - cl.propensity[self._has_colleagues])

    # ------------------------------------------------------------------ 7.12 social network
    def spread_experiences(self) -> None:
        """Patients' trust in services drifts toward what their ties experienced (7.12, S5)."""
        u, v = self._edge_arrays
        rate = self.p["network_influence"]
        if len(u) == 0 or rate == 0:
            return
        pa = self.patients
        n = pa.n
        seen_care = pa.view("last_in_care_week") > -10**5  # people who have had care
        exp = pa.view("trust_pc") - 0.5 * pa.view("coercion")
        w_uv = seen_care[v].astype(float)
        w_vu = seen_care[u].astype(float)
        tot = (np.bincount(u, weights=exp[v] * w_uv, minlength=n)
               + np.bincount(v, weights=exp[u] * w_vu, minlength=n))
        cnt = np.bincount(u, weights=w_uv, minlength=n) + np.bincount(v, weights=w_vu,
                                                                      minlength=n)
        has = cnt > 0
        st = pa.view("service_trust")
        st[has] += rate * (np.clip(tot[has] / cnt[has], 0, 1) - st[has])

    # ------------------------------------------------------------------ 7.13 outputs
    def _record(self) -> None:
        """Per-step outputs (week_stats) and the history used by :meth:`summary`."""
        pa, cl, wk = self.patients, self.clinicians, self._wk
        status = pa.view("status")
        in_care = status == Status.IN_CARE
        in_service = in_care | (status == Status.ADMITTED)
        n_dec = wk["decisions"]
        levels = self._wk_level
        s: dict[str, float] = {
            "week": self.week,
            "waiting_list": int((status == Status.WAITING).sum()),
            "in_care": int(in_care.sum()),
            "admitted": int((status == Status.ADMITTED).sum()),
            "caseload_mean": float(cl.caseload.mean()),
            "demand_ratio_mean": float(cl.demand_ratio.mean()),
            "decisions": n_dec,
        }
        s.update(_decision_rates(wk, levels, self._wk_pressure))
        s["trust_mean"] = _mean(pa.view("trust_pc")[in_care])
        s["trust_cp_mean"] = _mean(pa.view("trust_cp")[in_care])
        s["perceived_coercion_mean"] = _mean(pa.view("coercion")[in_service])
        s["felt_safety_mean"] = _mean(pa.view("felt_safety")[in_service])
        s["internal_locus_mean"] = _mean(pa.view("locus")[in_service])
        s["internal_locus_low_mean"] = _mean(
            pa.view("locus")[in_service & (pa.view("locus_base") < LOW_LOCUS)])
        s["recovery_mean"] = _mean(pa.view("recovery")[in_service])
        for k in ("deals_made", "deals_honoured", "deals_broken", "deals_broken_by_service",
                  "threats", "compulsory_admissions", "voluntary_admissions", "readmissions",
                  "cto_started", "disengagements", "discharges", "leverage_events"):
            s[k] = wk[k]
        s["stress_mean"] = float(cl.stress.mean())
        s["burnout_share"] = float((cl.burnout > self.p["burnout_threshold"]).mean())
        s["defensiveness_mean"] = float(cl.defensiveness.mean())
        self.week_stats = s
        h = self._history
        for k in _STATE_KEYS:
            h[k].append(s[k])
        for k in _COUNT_KEYS:
            h[k].append(wk[k])
        for k in range(5):
            h[f"level_{k}"].append(levels[k])
            h[f"pressure_{k}"].append(self._wk_pressure[k])
        h["in_care"].append(s["in_care"])
        h["waiting_list"].append(s["waiting_list"])

    def summary(self, window: int = 52) -> dict[str, float]:
        """Flat dict of outcomes over the last ``window`` weeks (ODD 7.13 defines each key).

        Shares are pooled over all decisions in the window (not averages of weekly shares);
        rates per 100 are per 100 patients in care per year; states are means of weekly means.
        Keys with nothing to measure (e.g. no decisions) are NaN.
        """
        if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 1:
            raise ParameterError("window", window, "an integer >= 1 (weeks)", "summary()")
        h = self._history
        w = min(int(window), max(1, len(h["decisions"]) - 1)) if self.week > 0 else 1
        sl = slice(-w, None)
        tot = {k: float(np.sum(h[k][sl])) for k in _COUNT_KEYS}
        dec = tot["decisions"]
        levels = np.array([np.sum(h[f"level_{k}"][sl]) for k in range(5)])
        pressures = np.array([np.sum(h[f"pressure_{k}"][sl]) for k in range(5)])
        out = _decision_rates(tot, levels, pressures)
        for k in ("trust_mean", "trust_cp_mean", "perceived_coercion_mean", "stress_mean",
                  "burnout_share", "defensiveness_mean", "recovery_mean", "internal_locus_mean",
                  "internal_locus_low_mean", "felt_safety_mean"):
            out[k] = _nanmean(h[k][sl])
        out["involvement_low_locus_mean"] = _share(tot["low_locus_level_sum"],
                                                   tot["low_locus_decisions"])
        out["deals_offered"] = tot["deals_offered"]
        out["deals_lapsed"] = tot["deals_lapsed"]
        out["deal_acceptance_rate"] = _share(tot["deals_made"], tot["deals_offered"])
        out["deals_honoured_share"] = _share(tot["deals_honoured"],
                                             tot["deals_honoured"] + tot["deals_broken"])
        out.update(self._leverage_prevalence(w))
        care_years = float(np.mean(h["in_care"][sl])) * w / 52.0
        per100 = (lambda x: 100.0 * x / care_years) if care_years > 0 else (lambda x: math.nan)
        out["compulsory_admissions_per_100"] = per100(tot["compulsory_admissions"])
        out["voluntary_admissions_per_100"] = per100(tot["voluntary_admissions"])
        out["readmissions_per_100"] = per100(tot["readmissions"])
        out["cto_per_100"] = per100(tot["cto_started"])
        out["threats_per_100"] = per100(tot["threats"])
        out["disengagement_rate"] = per100(tot["disengagements"]) / 100.0
        waits = [wt for week, wt in self._waits if week > self.week - w]
        out["waiting_weeks_mean"] = float(np.mean(np.concatenate(waits))) if waits else math.nan
        out["waiting_list_mean"] = float(np.mean(h["waiting_list"][sl]))
        out["deals_made"] = tot["deals_made"]
        out["deals_honoured"] = tot["deals_honoured"]
        out["deals_broken"] = tot["deals_broken"]
        out["deals_broken_by_service"] = tot["deals_broken_by_service"]
        out["reciprocity_share"] = _share(tot["deals_made"], dec)
        out["involvement_rating_gap"] = (out["clinician_rated_involvement"]
                                         - out["patient_rated_involvement"])
        out["decisions"] = dec
        out["patients_in_care_mean"] = float(np.mean(h["in_care"][sl]))
        return {k: float(out[k]) for k in SUMMARY_KEYS}

    def _leverage_prevalence(self, w: int) -> dict[str, float]:
        """Share of patients in care during the window who met >= 1 offer or threat in it
        (Burns et al. 2011; Monahan et al. 2005), overall and by type."""
        pa = self.patients
        start = self.week - w + 1
        cohort = pa.view("last_in_care_week") >= start
        lev = pa.last_leverage_week[: pa.n][cohort] >= start
        n = int(cohort.sum())
        out = {"leverage_prevalence": _share(lev.any(axis=1).sum(), n)}
        for k, t in enumerate(LEVERAGE_TYPES):
            out[f"leverage_prevalence_{t}"] = _share(lev[:, k].sum(), n)
        return out

    # ------------------------------------------------------------------ conveniences
    def event_log(self):
        """The per-decision event log as a tidy pandas DataFrame (needs ``event_log=True``)."""
        import pandas as pd

        if not self.p["event_log"]:
            raise ParameterError("event_log", False, "true to keep a per-decision log",
                                 "CarePathwayModel(event_log=...)")
        cols = _EVENT_COLUMNS
        if not self._events:
            return pd.DataFrame({k: pd.Series(dtype="int64") for k in cols})
        df = pd.DataFrame({k: np.concatenate([e[k] for e in self._events]) for k in cols})
        for k, enum in (("decision", Decision), ("mode", Mode), ("response", Response)):
            df[k] = pd.Categorical.from_codes(df[k], [e.name.lower() for e in enum])
        lt = df["leverage_type"].to_numpy()
        df["leverage_type"] = pd.Categorical.from_codes(
            np.where(lt < 0, -1, lt), list(LEVERAGE_TYPES))
        return df

    def timeseries(self):
        """Per-step outputs as a DataFrame indexed by step (from Mesa's DataCollector)."""
        df = self.datacollector.get_model_vars_dataframe()
        df.index.name = "step"
        return df


_EVENT_COLUMNS = ("step", "patient", "clinician", "decision", "mode", "response", "accommodated",
                  "options", "routinized", "rationed", "level", "pressure", "felt_pressure",
                  "escalated", "advance_statement_honoured", "leverage_type", "trust_pc_after",
                  "trust_cp_after")
_COUNT_KEYS = ("decisions", "concordant", "options", "routinized", "rationed",
               "scarce_decisions", "authority", "clinician_rated",
               "patient_rated", "contacts_needed", "contacts_made", "deals_made",
               "deals_honoured", "deals_broken", "deals_broken_by_service", "threats",
               "compulsory_admissions", "voluntary_admissions", "readmissions", "cto_started",
               "disengagements", "discharges", "leverage_events", "referrals", "withdrawals",
               "crises", "clinician_changes", "deals_lapsed", "low_locus_decisions", "low_locus_level_sum",
               "deals_offered")
_STATE_KEYS = ("trust_mean", "trust_cp_mean", "perceived_coercion_mean", "stress_mean",
               "burnout_share", "defensiveness_mean", "recovery_mean", "internal_locus_mean",
               "internal_locus_low_mean", "felt_safety_mean")
_HISTORY_KEYS = (*_STATE_KEYS, *_COUNT_KEYS, *(f"level_{k}" for k in range(5)),
                 *(f"pressure_{k}" for k in range(5)), "in_care", "waiting_list")


def _decision_rates(counts: dict[str, float], levels: np.ndarray,
                    pressures: np.ndarray) -> dict[str, float]:
    """Shares and means over a set of contested decisions, from their pooled counts.

    The same rule serves one week (``week_stats``) and a window (``summary``)."""
    dec = counts["decisions"]
    out = {"involvement_mean": _share(float(levels @ np.arange(5)), dec)}
    for k in range(5):
        out[f"involvement_share_{k}"] = _share(levels[k], dec)
        out[f"pressure_share_{k}"] = _share(pressures[k], dec)
    out["role_concordance"] = _share(counts["concordant"], dec)
    out["clinician_rated_involvement"] = _share(counts["clinician_rated"], dec)
    out["patient_rated_involvement"] = _share(counts["patient_rated"], dec)
    out["options_offered_mean"] = _share(counts["options"], dec)
    out["rationing_rate"] = _share(counts["rationed"], counts["scarce_decisions"])
    out["routinizing_rate"] = _share(counts["routinized"], dec)
    out["authority_share"] = _share(counts["authority"], dec)
    out["contact_shortfall"] = _shortfall(counts["contacts_made"], counts["contacts_needed"])
    return out


def _shortfall(made: float, needed: float) -> float:
    """Share of needed contacts not made (0 when crises pushed contacts above the need)."""
    return max(0.0, 1.0 - made / needed) if needed > 0 else math.nan


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else math.nan


def _nanmean(x) -> float:
    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if len(a) else math.nan
