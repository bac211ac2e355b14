"""Array-backed state of patients and clinicians (the hot state; agents are views onto it).

Patients live in growable numpy columns, one row per patient ever referred, so that every weekly
rule is a vectorised operation. ``Patient`` and ``Clinician`` Mesa agents (``model.agents``)
read and write these rows through properties. See docs/ODD.md, "Implementation notes".
"""

from __future__ import annotations

import numpy as np

#: Patient state columns: name -> (dtype, fill value for new rows). Documented in ODD section 2.
PATIENT_COLUMNS: dict[str, tuple[str, float]] = {
    "status": ("i1", 0),
    "clinician": ("i4", -1),
    "last_clinician": ("i4", -1),
    "acuity": ("f8", 0.0),
    "acuity_base": ("f8", 0.0),
    "risk_trait": ("f8", 0.0),
    "risk": ("f8", 0.0),
    "reluctance": ("f8", 0.0),
    "reluctance_base": ("f8", 0.0),
    "role": ("i1", 1),
    "dep_housing": ("?", False),
    "dep_money": ("?", False),
    "trauma": ("f8", 0.0),
    "felt_safety": ("f8", 0.6),
    "locus": ("f8", 0.5),
    "locus_base": ("f8", 0.5),
    "coercion": ("f8", 0.0),
    "recovery": ("f8", 0.4),
    "service_trust": ("f8", 0.5),
    "trust_pc": ("f8", 0.5),
    "trust_cp": ("f8", 0.5),
    "advocate": ("?", False),
    "advance_statement": ("?", False),
    "adherent": ("?", True),
    "referred_week": ("i4", 0),
    "care_start_week": ("i4", -1),
    "last_in_care_week": ("i4", -10**6),
    "urgent": ("?", False),
    "admit_weeks_left": ("i4", 0),
    "compulsory": ("?", False),
    "cto_weeks_left": ("i4", 0),
    "admissions": ("i4", 0),
    "deal_due": ("i4", -1),
    "deal_type": ("i1", -1),
    "deal_clinician": ("i4", -1),
    "place_type": ("i1", -1),
    "place_weeks_left": ("i4", 0),
    "crisis": ("?", False),
    "weeks_in_care": ("i4", 0),
    "involvement_ema": ("f8", 2.0),
    "prior_admission": ("?", False),
    "ever_detained": ("?", False),
    "in_catchment": ("?", True),
}
LEVERAGE_COLUMNS = 4  # last week leverage of each type was met (housing, money, services, compulsion)


class PatientArrays:
    """Growable columns of patient state; ``n`` rows are live (row index = patient index)."""

    def __init__(self, capacity: int):
        capacity = max(16, int(capacity))
        self.n = 0
        for name, (dtype, fill) in PATIENT_COLUMNS.items():
            setattr(self, name, np.full(capacity, fill, dtype=dtype))
        self.last_leverage_week = np.full((capacity, LEVERAGE_COLUMNS), -10**6, dtype="i4")

    @property
    def capacity(self) -> int:
        return len(self.status)

    def add(self, count: int) -> np.ndarray:
        """Append ``count`` rows at their fill values; returns their indices."""
        if self.n + count > self.capacity:
            self._grow(max(self.capacity * 2, self.n + count))
        idx = np.arange(self.n, self.n + count)
        self.n += count
        return idx

    def _grow(self, new_capacity: int) -> None:
        for name, (dtype, fill) in PATIENT_COLUMNS.items():
            old = getattr(self, name)
            new = np.full(new_capacity, fill, dtype=dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        old = self.last_leverage_week
        new = np.full((new_capacity, LEVERAGE_COLUMNS), -10**6, dtype="i4")
        new[: len(old)] = old
        self.last_leverage_week = new

    def view(self, name: str) -> np.ndarray:
        """The live part of a column."""
        return getattr(self, name)[: self.n]


class ClinicianArrays:
    """Fixed-size columns of clinician state."""

    def __init__(self, count: int, n_modes: int):
        self.n = count
        z = lambda: np.zeros(count)  # noqa: E731
        self.caseload = np.zeros(count, dtype="i4")
        self.stress = z()
        self.burnout = z()
        self.defensiveness_trait = z()
        self.defensiveness = z()
        self.discomfort = z()
        self.insight = z()
        self.identity = z()
        self.identity_base = z()
        self.skill = z()
        self.skill_base = z()
        self.vulnerability = z()  # personal offset of the stress target (resilience)
        self.method = np.zeros(count, dtype="i1")
        self.propensity = np.zeros((count, n_modes))
        self.reward_baseline = z()
        self.demand_ratio = np.ones(count)
        self.available_hours = z()
