"""The care-pathway model: ``CarePathwayModel``, one step = one week.

The weekly schedule is written once, in :func:`model.kernels.week` (called by
:meth:`CarePathwayModel.step`), in the order of the ODD's process overview (docs/ODD.md,
section 3): one compiled kernel per stage, named as the ODD's submodel, applying the scalar rules
of :mod:`model.submodels`.

State lives in numpy arrays (:mod:`model.population`); ``Patient`` and ``Clinician`` Mesa agents
are views onto those arrays, so analysts and the browser view get the one-object-per-agent
interface while the weekly rules run as compiled loops.
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

from . import kernels as kn
from . import submodels as sm
from .agents import Clinician, Patient
from .kernels import COUNT_KEYS, EVENT_COLUMNS, OUTPUT_KEYS, RATE_KEYS
from .params import SCHEMA, ParameterError, validate
from .population import NEVER, ClinicianArrays, PatientArrays
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, resolve_params
from .submodels import LEVERAGE_TYPES, Decision, Mode, Response, Status

__all__ = ["CarePathScenario", "CarePathwayModel", "SUMMARY_KEYS", "STEP_KEYS"]

#: Share of initial patients with a previous admission (readmission accounting).
INITIAL_PRIOR_ADMISSION = 0.3

#: All parameters as one numpy record, the form the compiled kernels read them in
#: (``P.trust_gain``); a one-element array of it crosses into compiled code at no cost.
PARAMS_DTYPE = np.dtype([(k, {"float": "f8", "int": "i8", "bool": "?"}[SCHEMA[k].kind])
                         for k in SCHEMA])


class RunParams(dict):
    """The resolved parameters of a run (``model.p``). Changing a value mid-run (a policy
    shock, as the power-trap experiment does) takes effect from the next step: the model
    rebuilds the compiled kernels' copy when ``version`` has moved."""

    version = 0

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.version += 1

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self.version += 1


def kernel_params(params: dict[str, Any]) -> np.ndarray:
    """The parameter dict as a one-element :data:`PARAMS_DTYPE` record array (a record array so
    that ``P.name`` also works when the kernels run as plain Python, ``NUMBA_DISABLE_JIT=1``)."""
    return np.rec.array([tuple(params[k] for k in SCHEMA)], dtype=PARAMS_DTYPE)


class CarePathScenario(MesaScenario):
    """Mesa ``Scenario`` carrying the resolved parameters of one run (Mesa 4 vocabulary).

    Its attributes are the full parameter dict plus ``name`` (the named scenario it came from).
    The browser view builds one of these on reset; ``CarePathwayModel`` accepts it as
    ``scenario``.

    It remembers which parameters were *given* (as keyword arguments or set as attributes
    before the run), as opposed to filled in from the class defaults (the schema defaults).
    Only given parameters override the named scenario, so ``CarePathScenario(name=
    "coercive_climate", compulsion_risk_threshold=<schema default>)`` does set the threshold
    back to the default, while ``CarePathScenario(name="coercive_climate")`` keeps the
    scenario's own value.
    """

    __slots__ = ("_given",)

    def __init__(self, *, rng=None, **kwargs):
        object.__setattr__(self, "_given", set())
        super().__init__(rng=rng, **kwargs)
        self._given.update(k for k in kwargs if k in SCHEMA)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name in SCHEMA:
            self._given.add(name)

    def given(self) -> dict[str, Any]:
        """The parameters set explicitly (not left at the class defaults)."""
        return {k: getattr(self, k) for k in SCHEMA if k in self._given}


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
    *(f"leverage_prevalence_{t}" for t in LEVERAGE_TYPES), "leverage_prevalence_ever",
    *(f"leverage_prevalence_ever_{t}" for t in LEVERAGE_TYPES),
    "leverage_ever_substance_misuse", "leverage_ever_no_substance_misuse",
    "compulsory_admissions_per_100", "voluntary_admissions_per_100", "readmissions_per_100",
    "readmission_12m_after_compulsory", "cto_per_100", "disengagement_rate",
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


#: Column of each output in the model's weekly history (``OUTPUT_KEYS`` order).
_COL = {k: j for j, k in enumerate(OUTPUT_KEYS)}
#: Initial rows of the weekly history (doubled when a run goes longer).
_HISTORY_WEEKS = 256
#: Outputs that are whole numbers (stored as int in ``week_stats`` and the DataCollector).
_INT_KEYS = frozenset({"week", "waiting_list", "in_care", "admitted"})


class WeeklyCollector(mesa.DataCollector):
    """Mesa's DataCollector, fed from the model's compiled weekly outputs.

    It has a model reporter for each of ``STEP_KEYS`` (so ``model_vars``,
    ``get_model_vars_dataframe()``, ``mesa.batch_run`` and SolaraViz plots work as with any
    DataCollector), but :meth:`collect` copies this week's row of the model's history instead of
    calling fifty reporters: the values are computed once, in :func:`model.kernels.outputs`."""

    def __init__(self):
        super().__init__(model_reporters={k: functools.partial(_week_stat, k) for k in STEP_KEYS})
        self._columns = [(self.model_vars[k], _COL[k], k in _INT_KEYS) for k in STEP_KEYS]

    def collect(self, model: CarePathwayModel) -> None:
        if hasattr(self, "_collection_steps"):
            self._collection_steps.append(model.time)
        row = model._history[model.week].tolist()
        for values, j, whole in self._columns:
            values.append(int(row[j]) if whole else row[j])


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
        self.p: RunParams = RunParams(params)
        self._sync_params()
        self.week = 0
        self._init_clinicians()
        self.patients = PatientArrays(self._expected_patients())
        self._patient_agents: list[Patient] = []
        self._edge_u = np.zeros(1024, dtype=np.int64)
        self._edge_v = np.zeros(1024, dtype=np.int64)
        self._n_edges = 0
        self._network_cache = None
        self._init_patients()
        self._events: list[dict[str, np.ndarray]] = []
        #: One row of outputs per week (OUTPUT_KEYS columns; row = week, 0 = the start).
        self._history = np.empty((_HISTORY_WEEKS, len(OUTPUT_KEYS)))
        self._week_stats: tuple[int, dict[str, float]] | None = None
        self._wk = np.zeros(len(COUNT_KEYS))
        pa, cl = self.patients, self.clinicians
        self._history[0] = kn.outputs(0, self._wk, pa.F, pa.I, pa.n, cl.caseload,
                                      cl.demand_ratio, cl.stress, cl.burnout, cl.defensiveness,
                                      self.p["burnout_threshold"])
        self.datacollector = WeeklyCollector()
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _resolve(scenario, overrides) -> tuple[str, dict[str, Any]]:
        if isinstance(scenario, MesaScenario):
            # Only parameters the scenario object was *given* override the named scenario:
            # a CarePathScenario knows them; for any other Scenario, every schema parameter it
            # holds other than its class's own defaults counts as given.
            if isinstance(scenario, CarePathScenario):
                given = scenario.given()
            else:
                defaults = type(scenario)._scenario_defaults
                given = {k: v for k, v in scenario if k in SCHEMA
                         and not (k in defaults and v is defaults[k])}
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
        """``size`` draws of Beta(mean, concentration) (:func:`model.submodels.beta_shape`)."""
        return self.rng.beta(*sm.beta_shape(float(mean), float(concentration)), size)

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
        # colleague_ties = 0 (or 1, rounded down) means no ties: no team norms.
        k = min(p["colleague_ties"], n - 1)
        k -= k % 2
        if n > 2 and k >= 2:
            g = nx.watts_strogatz_graph(n, k, 0.1, seed=int(self.rng.integers(2**31)))
        elif n == 2 and p["colleague_ties"] >= 1:
            g = nx.complete_graph(n)  # a team of two: the one possible tie
        else:
            g = nx.empty_graph(n)
        self.colleague_network = g
        adj = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr", dtype=float)
        deg = np.asarray(adj.sum(axis=1)).ravel()
        w = sparse.csr_array(sparse.diags(np.where(deg > 0, 1 / np.maximum(deg, 1), 0)) @ adj)
        self._peers = (w.indptr.astype(np.int64), w.indices.astype(np.int64),
                       w.data.astype(float))
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
        kn.set_dyad_trusts(pa.F, pa.I, pa.memory_clinician, pa.memory_trust, idx)
        n_wait = int(round(p["initial_waiting_per_clinician"] * p["n_clinicians"]))
        w = self._new_patients(n_wait, Status.WAITING, referral_boost=kn.REFERRAL_ACUITY_BOOST)
        pa.referred_week[w] = -self.rng.integers(0, 12, n_wait)
        self.clinicians.caseload[:] = np.bincount(pa.clinician[idx], minlength=p["n_clinicians"])

    def _new_patients(self, count: int, status: Status, referral_boost: float) -> np.ndarray:
        """Create ``count`` patients (state, agents, network ties); returns their indices.
        (Used at set-up; weekly referrals are drawn inside :func:`model.kernels.week`.)"""
        pa = self.patients
        idx = pa.add(count)
        if count == 0:
            return idx
        kn.new_patients(self.rng, self._kp[0], pa.F, pa.I, pa.B, int(idx[0]), count,
                        int(status), float(referral_boost), self.week)
        src, dst = kn.draw_ties(self.rng, int(idx[0]), count, float(self.p["mean_social_ties"]))
        self._add_ties(src, dst)
        return idx

    def _add_ties(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Social ties of new patients (``src`` -> ``dst``).

        Each newcomer links to Poisson(mean_social_ties / 2) distinct earlier patients, chosen
        uniformly (mean degree ~ ``mean_social_ties``; :func:`model.kernels.draw_ties`). Edges
        live in growable arrays; :attr:`patient_network` builds the networkx view on demand."""
        n, m = self._n_edges, len(src)
        if n + m > len(self._edge_u):
            size = max(2 * len(self._edge_u), n + m)
            self._edge_u = np.resize(self._edge_u, size)
            self._edge_v = np.resize(self._edge_v, size)
        self._edge_u[n:n + m] = src
        self._edge_v[n:n + m] = dst
        self._n_edges = n + m

    # ------------------------------------------------------------------ Mesa agents
    @property
    def patient_agents(self) -> list[Patient]:
        """One ``Patient`` agent per patient ever referred, in index order.

        Agents are views onto the arrays and the weekly rules never use them, so they are made
        when first asked for (here, or through ``model.agents``); a batch run that never looks
        at them does not pay for them. Unique ids are as if each had been made on referral."""
        self._make_patient_agents()
        return self._patient_agents

    def _make_patient_agents(self) -> None:
        agents = self.__dict__.get("_patient_agents")  # absent while Mesa's __init__ runs
        if agents is not None and len(agents) < self.patients.n:
            agents.extend(Patient(self, i) for i in range(len(agents), self.patients.n))

    @property
    def agents(self):
        """All Mesa agents (clinicians and every patient ever referred); see Mesa's
        ``Model.agents``."""
        self._make_patient_agents()
        return super().agents

    @property
    def agents_by_type(self):
        self._make_patient_agents()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        return list(self.agents_by_type)

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
    def patient_ties(self) -> np.ndarray:
        """Patients' social ties as an (n_ties, 2) array of patient indices (no networkx)."""
        return np.column_stack(self._edge_arrays)

    @property
    def _edge_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._edge_u[: self._n_edges], self._edge_v[: self._n_edges]

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        """One week, in the order of the ODD's process overview (section 3).

        This week's referrals are created here (state, Mesa agents, network ties); the rest of
        the week runs as one compiled call, :func:`model.kernels.week`, whose body lists the
        submodels in schedule order: intake, illness, coping, encounters, crisis pathway,
        deals, patient updates, transitions, clinicians, social network."""
        p, pa, cl = self.p, self.patients, self.clinicians
        if p.version != self._kp_version:
            self._sync_params()
        self.week += 1
        self._wk[:] = 0.0  # this week's counts
        cl.authority_uses[:] = 0.0
        cl.conflicts[:] = 0.0
        new = pa.add(int(self.rng.poisson(p["referrals_per_week"])))
        src, dst, events, out = kn.week(
            self.rng, self._kp, pa.F, pa.I, pa.B, pa.memory_clinician, pa.memory_trust,
            pa.last_leverage_week, self._wk, pa.n, self.week, len(new), cl.caseload, cl.stress,
            cl.burnout, cl.defensiveness, cl.defensiveness_trait, cl.discomfort, cl.insight,
            cl.identity, cl.identity_base, cl.skill, cl.skill_base, cl.vulnerability,
            cl.method, cl.propensity, self._propensity_initial, cl.reward_baseline,
            cl.demand_ratio, cl.available_hours, cl.authority_uses, cl.conflicts,
            *self._peers, *self._edge_arrays, self._place_capacity, *self._weekly_inputs)
        self._add_ties(src, dst)
        if p["event_log"]:
            self._events.append({"step": np.full(events.shape[1], self.week),
                                 **dict(zip(EVENT_COLUMNS, events))})
        if self.week >= len(self._history):  # rows past the old end are written before read
            self._history = np.resize(self._history, (2 * len(self._history), len(OUTPUT_KEYS)))
        self._history[self.week] = out
        self.datacollector.collect(self)

    def _sync_params(self) -> None:
        """Derive what the compiled week reads from ``self.p``: the parameter record, the
        capacity of scarce places (2.5), intake slots per week (7.1; time targets push
        throughput), contact hours per clinician (7.3), and the weekly hazard of a change of
        clinician (7.10; continuity of care is a yearly probability of keeping the same
        clinician). Called at set-up and whenever ``self.p`` changed since."""
        p = self.p
        self._kp = kernel_params(p)
        self._kp_version = p.version
        capacity_base = p["n_clinicians"] * p["caseload_cap"] / 100.0
        self._place_capacity = np.array([p["therapy_places_per_100"],
                                         p["psychosocial_places_per_100"],
                                         p["housing_places_per_100"]]) * capacity_base
        slots = (p["intake_per_clinician_week"] * p["n_clinicians"]
                 * (1.0 + 0.3 * p["pathway_time_targets"]))
        hours = sm.available_hours(p["contact_hours_per_week"], p["admin_share"],
                                   p["pathway_time_targets"], p["org_support"])
        cont = p["continuity_of_care"]
        move_hazard = 0.0 if cont >= 1.0 else -math.log(max(cont, 1e-6)) / 52.0
        self._weekly_inputs = (float(slots), float(hours), float(move_hazard))

    # ------------------------------------------------------------------ 7.13 outputs
    @property
    def week_stats(self) -> dict[str, float]:
        """This week's outputs by name (OUTPUT_KEYS: counts, states, rates; ODD 7.13)."""
        if self._week_stats is None or self._week_stats[0] != self.week:
            row = self._history[self.week].tolist()
            self._week_stats = (self.week, {k: int(v) if k in _INT_KEYS else v
                                            for k, v in zip(OUTPUT_KEYS, row)})
        return self._week_stats[1]

    def _last_weeks(self, w: int) -> np.ndarray:
        """The rows of the history of the last ``w`` weeks."""
        return self._history[self.week - w + 1: self.week + 1]

    def summary(self, window: int = 52) -> dict[str, float]:
        """Flat dict of outcomes over the last ``window`` weeks (ODD 7.13 defines each key).

        Shares are pooled over all decisions in the window (not averages of weekly shares);
        rates per 100 are per 100 patients in care per year; states are means of weekly means.
        Keys with nothing to measure (e.g. no decisions) are NaN.
        """
        if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 1:
            raise ParameterError("window", window, "an integer >= 1 (weeks)", "summary()")
        w = min(int(window), self.week) if self.week > 0 else 1
        rows = self._last_weeks(w)
        counts = rows[:, _COL[COUNT_KEYS[0]]:_COL[COUNT_KEYS[-1]] + 1].sum(axis=0)
        tot = dict(zip(COUNT_KEYS, counts.tolist()))
        states = {k: rows[:, _COL[k]] for k in _STATE_KEYS}
        dec = tot["decisions"]
        out: dict[str, float] = dict(zip(RATE_KEYS, kn.decision_rates(counts).tolist()))
        for k in _STATE_KEYS[:-2]:
            out[k] = _nanmean(states[k])
        out["involvement_low_locus_mean"] = kn.share(tot["low_locus_level_sum"],
                                                   tot["low_locus_decisions"])
        out["deals_offered"] = tot["deals_offered"]
        out["deals_lapsed"] = tot["deals_lapsed"]
        out["deal_acceptance_rate"] = kn.share(tot["deals_made"], tot["deals_offered"])
        out["deals_honoured_share"] = kn.share(tot["deals_honoured"],
                                             tot["deals_honoured"] + tot["deals_broken"])
        out.update(self._leverage_prevalence(w))
        care_years = float(np.mean(states["in_care"])) * w / 52.0
        per100 = (lambda x: 100.0 * x / care_years) if care_years > 0 else (lambda x: math.nan)
        out["compulsory_admissions_per_100"] = per100(tot["compulsory_admissions"])
        out["voluntary_admissions_per_100"] = per100(tot["voluntary_admissions"])
        out["readmissions_per_100"] = per100(tot["readmissions"])
        # Flow estimate of P(readmitted within 52 weeks | discharged from a compulsory stay):
        # readmissions within 52 weeks of such a discharge over such discharges, both counted
        # in the window (exact when the flows are steady; ODD 7.13).
        out["readmission_12m_after_compulsory"] = kn.share(tot["readmissions_12m"],
                                                           tot["compulsory_discharges"])
        out["cto_per_100"] = per100(tot["cto_started"])
        out["threats_per_100"] = per100(tot["threats"])
        out["disengagement_rate"] = per100(tot["disengagements"]) / 100.0
        out["waiting_weeks_mean"] = kn.share(tot["wait_weeks"], tot["care_starts"])
        out["waiting_list_mean"] = float(np.mean(states["waiting_list"]))
        out["deals_made"] = tot["deals_made"]
        out["deals_honoured"] = tot["deals_honoured"]
        out["deals_broken"] = tot["deals_broken"]
        out["deals_broken_by_service"] = tot["deals_broken_by_service"]
        out["reciprocity_share"] = kn.share(tot["deals_made"], dec)
        out["involvement_rating_gap"] = (out["clinician_rated_involvement"]
                                         - out["patient_rated_involvement"])
        out["decisions"] = dec
        out["patients_in_care_mean"] = float(np.mean(states["in_care"]))
        return {k: float(out[k]) for k in SUMMARY_KEYS}

    def _leverage_prevalence(self, w: int) -> dict[str, float]:
        """Share of patients in care during the window who met >= 1 offer or threat in it
        (Burns et al. 2011; Monahan et al. 2005), overall and by type; and the share of the
        same people who met one at any time since the run began (``leverage_prevalence_ever``,
        the run-long analogue of a lifetime figure), also by type, and separately among those
        who misuse substances and those who do not (Burns et al. 2011: 63% vs 30-33%)."""
        pa = self.patients
        start = self.week - w + 1
        cohort = pa.view("last_in_care_week") >= start
        weeks = pa.last_leverage_week[: pa.n][cohort]
        lev = weeks >= start
        ever = weeks > NEVER
        met = ever.any(axis=1)  # met leverage of any type since the run began
        misuse = pa.view("substance_misuse")[cohort]
        n = int(cohort.sum())
        out = {"leverage_prevalence": kn.share(lev.any(axis=1).sum(), n),
               "leverage_prevalence_ever": kn.share(met.sum(), n),
               "leverage_ever_substance_misuse": kn.share(met[misuse].sum(), int(misuse.sum())),
               "leverage_ever_no_substance_misuse": kn.share(met[~misuse].sum(),
                                                             int((~misuse).sum()))}
        for k, t in enumerate(LEVERAGE_TYPES):
            out[f"leverage_prevalence_{t}"] = kn.share(lev[:, k].sum(), n)
            out[f"leverage_prevalence_ever_{t}"] = kn.share(ever[:, k].sum(), n)
        return out

    # ------------------------------------------------------------------ conveniences
    def event_log(self):
        """The per-decision event log as a tidy pandas DataFrame (needs ``event_log=True``)."""
        import pandas as pd

        if not self.p["event_log"]:
            raise ParameterError("event_log", False, "true to keep a per-decision log",
                                 "CarePathwayModel(event_log=...)")
        cols = ("step", *EVENT_COLUMNS)
        if not self._events:
            return pd.DataFrame({k: pd.Series(dtype="int64") for k in cols})
        df = pd.DataFrame({k: np.concatenate([e[k] for e in self._events]) for k in cols})
        for k in cols:  # the kernel returns one float table; give each column its type
            if k in _EVENT_BOOL:
                df[k] = df[k].astype(bool)
            elif k not in _EVENT_FLOAT:
                df[k] = df[k].astype("int64")
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


_EVENT_FLOAT = ("felt_pressure", "trust_pc_after", "trust_cp_after")
_EVENT_BOOL = ("accommodated", "routinized", "rationed", "escalated",
               "advance_statement_honoured")
#: Weekly patient and clinician states kept for :meth:`CarePathwayModel.summary`.
_STATE_KEYS = ("trust_mean", "trust_cp_mean", "perceived_coercion_mean", "stress_mean",
               "burnout_share", "defensiveness_mean", "recovery_mean", "internal_locus_mean",
               "internal_locus_low_mean", "felt_safety_mean", "in_care", "waiting_list")


def _nanmean(x) -> float:
    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if len(a) else math.nan
