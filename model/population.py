"""Array-backed state of patients and clinicians (the hot state; agents are views onto it).

Patients live in three growable 2-D arrays, one per dtype (``F`` floats, ``I`` integers, ``B``
booleans), one row per state variable and one column per patient ever referred. The weekly
rules (:mod:`model.kernels`, compiled with numba) loop over columns; everyone else reads a state
variable by name: ``patients.acuity`` is a view of row ``F[ACUITY]`` (all capacity),
``patients.view("acuity")`` its live part. ``Patient`` and ``Clinician`` Mesa agents
(``model.agents``) read and write through the same views. See docs/ODD.md, "Implementation
notes".
"""

from __future__ import annotations

import numpy as np

#: A week that never happened ("never in care", "no leverage met", ...).
NEVER = -10**6

#: Patient state variables: name -> (kind, fill value for new rows). kind: "f" float64,
#: "i" int32, "b" bool. Documented in ODD section 2.
PATIENT_COLUMNS: dict[str, tuple[str, float]] = {
    "status": ("i", 0),
    "clinician": ("i", -1),
    "last_clinician": ("i", -1),
    "acuity": ("f", 0.0),
    "acuity_base": ("f", 0.0),
    "risk_trait": ("f", 0.0),
    "risk": ("f", 0.0),
    "reluctance": ("f", 0.0),
    "reluctance_base": ("f", 0.0),
    "role": ("i", 1),
    "dep_housing": ("b", False),
    "dep_money": ("b", False),
    "substance_misuse": ("b", False),  # problem drug or harmful alcohol use (fixed at referral)
    "trauma": ("f", 0.0),
    "felt_safety": ("f", 0.6),
    "locus": ("f", 0.5),
    "locus_base": ("f", 0.5),
    "coercion": ("f", 0.0),
    "recovery": ("f", 0.4),
    "service_trust": ("f", 0.5),
    "trust_pc": ("f", 0.5),
    "trust_cp": ("f", 0.5),
    "advocate": ("b", False),
    "advance_statement": ("b", False),
    "adherent": ("b", True),
    "referred_week": ("i", 0),
    "care_start_week": ("i", -1),
    "last_in_care_week": ("i", NEVER),
    "urgent": ("b", False),
    "admit_weeks_left": ("i", 0),
    "compulsory": ("b", False),
    "cto_weeks_left": ("i", 0),
    "admissions": ("i", 0),
    "deal_due": ("i", -1),
    "deal_type": ("i", -1),
    "deal_clinician": ("i", -1),
    "place_type": ("i", -1),
    "place_weeks_left": ("i", 0),
    "crisis": ("b", False),
    "weeks_in_care": ("i", 0),
    "left_hospital_week": ("i", NEVER),  # the week the last hospital stay ended
    "involvement_ema": ("f", 2.0),
    "prior_admission": ("b", False),
    "ever_detained": ("b", False),
    "after_compulsory_stay": ("b", False),  # last stay compulsory, no admission since
    "in_catchment": ("b", True),
    "decided": ("b", False),  # met a contested decision this week
}
LEVERAGE_COLUMNS = 4  # last week leverage of each type was met (housing, money, services, compulsion)
#: Dyads a patient remembers (clinician, trust both ways) for when they meet again; the oldest
#: memory is overwritten when a fifth clinician is met (ODD 7.10, continuity of care).
DYAD_MEMORY = 4
_KINDS = {"f": np.float64, "i": np.int32, "b": np.bool_}
#: State variables of each kind, in row order (kind "f" lives in array ``F``, and so on).
_NAMES = {kind: [n for n, (kd, _) in PATIENT_COLUMNS.items() if kd == kind] for kind in _KINDS}
#: Row of each state variable within its kind's array (e.g. ``ROW["acuity"]`` in ``F``).
ROW: dict[str, int] = {name: r for names in _NAMES.values() for r, name in enumerate(names)}
#: Per-patient arrays beside the state variables: (name, trailing shape, fill, dtype).
_EXTRA = (("last_leverage_week", (LEVERAGE_COLUMNS,), NEVER, np.int32),
          ("memory_clinician", (DYAD_MEMORY,), -1, np.int32),
          ("memory_trust", (DYAD_MEMORY, 2), 0.0, np.float64))


class PatientArrays:
    """Growable struct-of-arrays of patient state; ``n`` columns are live (index = patient)."""

    def __init__(self, capacity: int):
        capacity = max(16, int(capacity))
        self.n = 0
        for kind in _KINDS:
            setattr(self, kind.upper(), self._blank(kind, capacity))
        for attr, shape, fill, dtype in _EXTRA:
            setattr(self, attr, np.full((capacity, *shape), fill, dtype=dtype))

    @staticmethod
    def _blank(kind: str, capacity: int) -> np.ndarray:
        names = _NAMES[kind]
        arr = np.empty((len(names), capacity), dtype=_KINDS[kind])
        for r, name in enumerate(names):
            arr[r] = PATIENT_COLUMNS[name][1]
        return arr

    @property
    def capacity(self) -> int:
        return self.F.shape[1]

    def add(self, count: int) -> np.ndarray:
        """Append ``count`` patients at their fill values; returns their indices."""
        if self.n + count > self.capacity:
            self._grow(max(self.capacity * 2, self.n + count))
        idx = np.arange(self.n, self.n + count)
        self.n += count
        return idx

    def _grow(self, new_capacity: int) -> None:
        old = self.capacity
        for kind in _KINDS:
            new = self._blank(kind, new_capacity)
            new[:, :old] = getattr(self, kind.upper())
            setattr(self, kind.upper(), new)
        for attr, shape, fill, dtype in _EXTRA:
            new = np.full((new_capacity, *shape), fill, dtype=dtype)
            new[:old] = getattr(self, attr)
            setattr(self, attr, new)

    def __getattr__(self, name: str) -> np.ndarray:
        # Only reached for names that are not ordinary attributes: the state variables.
        kind = PATIENT_COLUMNS.get(name, (None,))[0]
        if kind is None:
            raise AttributeError(name)
        return self.__dict__[kind.upper()][ROW[name]]

    def view(self, name: str) -> np.ndarray:
        """The live part of a state variable (a writable view)."""
        return getattr(self, name)[: self.n]


#: Clinician state variables (float unless listed in ``CLINICIAN_INT``).
CLINICIAN_COLUMNS = ("caseload", "stress", "burnout", "defensiveness_trait", "defensiveness",
                     "discomfort", "insight", "identity", "identity_base", "skill", "skill_base",
                     "vulnerability", "method", "reward_baseline", "demand_ratio",
                     "available_hours", "authority_uses", "conflicts")
CLINICIAN_INT = ("caseload", "method")


class ClinicianArrays:
    """Fixed-size columns of clinician state (``vulnerability``: personal offset of the stress
    target; ``authority_uses``/``conflicts``: this week's counts)."""

    def __init__(self, count: int, n_modes: int):
        self.n = count
        for name in CLINICIAN_COLUMNS:
            setattr(self, name, np.zeros(count, np.int32 if name in CLINICIAN_INT else float))
        self.demand_ratio[:] = 1.0
        self.propensity = np.zeros((count, n_modes))
