"""Mesa agents: ``Patient`` (service user) and ``Clinician``.

Each agent is a view onto one row of the model's state arrays (``model.patients`` /
``model.clinicians``): reading ``patient.trust_pc`` reads the array, setting it writes the array.
The weekly rules run as compiled loops over the arrays (``model.kernels``; docs/ODD.md,
implementation notes); the agents give Mesa, the browser view and analysts the familiar
one-object-per-agent interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from .population import PATIENT_COLUMNS
from .submodels import LEVERAGE_TYPES, Mode, Role, Status

if TYPE_CHECKING:
    from .model import CarePathwayModel


def _column_property(store: str, column: str, convert):
    def fget(self):
        return convert(getattr(getattr(self.model, store), column)[self.idx])

    def fset(self, value):
        getattr(getattr(self.model, store), column)[self.idx] = value

    return property(fget, fset, doc=f"View of model.{store}.{column}[idx].")


def _convert(dtype: str):
    return {"f": float, "b": bool}.get(dtype, int)


class Patient(mesa.Agent):
    """A service user. State lives in ``model.patients``; see PATIENT_COLUMNS for the fields."""

    def __init__(self, model: CarePathwayModel, idx: int):
        super().__init__(model)
        self.idx = idx

    @property
    def pathway_status(self) -> Status:
        return Status(self.status)

    @property
    def preferred_role(self) -> Role:
        return Role(self.role)

    @property
    def clinician_agent(self) -> Clinician | None:
        c = self.clinician
        return None if c < 0 else self.model.clinician_agents[c]

    @property
    def leverage_met(self) -> dict[str, int]:
        """Week in which each leverage type was last met (very negative: never)."""
        row = self.model.patients.last_leverage_week[self.idx]
        return {t: int(w) for t, w in zip(LEVERAGE_TYPES, row)}

    def __repr__(self) -> str:
        return f"Patient(idx={self.idx}, status={self.pathway_status.name})"


for _name, (_dtype, _fill) in PATIENT_COLUMNS.items():
    setattr(Patient, _name, _column_property("patients", _name, _convert(_dtype)))


class Clinician(mesa.Agent):
    """A clinician (care coordinator). State lives in ``model.clinicians``."""

    _FIELDS = {
        "caseload": int, "stress": float, "burnout": float, "defensiveness_trait": float,
        "defensiveness": float, "discomfort": float, "insight": float, "identity": float,
        "skill": float, "method": int, "demand_ratio": float, "available_hours": float,
    }

    def __init__(self, model: CarePathwayModel, idx: int):
        super().__init__(model)
        self.idx = idx

    @property
    def propensities(self) -> dict[str, float]:
        row = self.model.clinicians.propensity[self.idx]
        return {m.name.lower(): float(row[m]) for m in Mode}

    @property
    def burnt_out(self) -> bool:
        return self.burnout > self.model.p["burnout_threshold"]

    def __repr__(self) -> str:
        return f"Clinician(idx={self.idx}, caseload={self.caseload})"


for _name, _conv in Clinician._FIELDS.items():
    setattr(Clinician, _name, _column_property("clinicians", _name, _conv))
