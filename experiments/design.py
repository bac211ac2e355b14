"""Design points and seeds.

A design point is a scenario plus parameter overrides (``[fixed]`` and the point's factor values).
Each point is validated with :func:`model.scenarios.resolve_params` before anything runs, so
cross-parameter constraints are caught with the point's label.

Seeds follow common random numbers: one root :class:`numpy.random.SeedSequence`; replication
*i* gets the seed of the root's *i*-th child at every design point.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.params import CarePathError, format_value
from model.scenarios import resolve_params

from .errors import ExperimentError
from .spec import MATCH_TOLERANCE, ExperimentSpec

__all__ = [
    "Design",
    "DesignPoint",
    "build_design",
    "replication_seed",
    "salib_problem",
]

#: spawn key of the child SeedSequence that drives design sampling (LHS, Sobol', Morris);
#: far away from the replication keys 0, 1, 2, ...
DESIGN_SPAWN_KEY = 2**32 - 1


def replication_seed(root: int, replication: int) -> int:
    """The integer seed of replication ``replication`` (the same at every design point).

    Equal to ``SeedSequence(root).spawn(n)[replication]`` turned into one int of 63 bits (so it
    fits a signed 64-bit column).
    """
    child = np.random.SeedSequence(root, spawn_key=(replication,))
    hi, lo = child.generate_state(2, dtype=np.uint32)
    return (int(hi) & 0x7FFFFFFF) << 32 | int(lo)


def _design_rng_seed(root: int) -> int:
    return int(np.random.SeedSequence(root, spawn_key=(DESIGN_SPAWN_KEY,))
               .generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class DesignPoint:
    point_id: int
    label: str
    scenario: str
    overrides: dict[str, Any]  # [fixed] + this point's values: what the run function gets
    values: dict[str, Any] = field(default_factory=dict)  # factor (or point) values only
    unit: tuple[float, ...] | None = None  # coordinates in [0, 1]^D (sampling designs)


@dataclass
class Design:
    spec: ExperimentSpec
    points: list[DesignPoint]
    factor_names: list[str]
    baseline_id: int | None = None

    def __len__(self) -> int:
        return len(self.points)

    def points_frame(self):
        """The design as a table: point id, label, scenario, factor values, unit coordinates."""
        import pandas as pd

        rows = []
        for p in self.points:
            row: dict[str, Any] = {"point_id": p.point_id, "point": p.label,
                                   "scenario": p.scenario}
            row.update(p.values)
            if p.unit is not None:
                row.update({f"u:{n}": u for n, u in zip(self.factor_names, p.unit)})
            rows.append(row)
        return pd.DataFrame(rows)


def salib_problem(factor_names: list[str]) -> dict[str, Any]:
    """The SALib problem over the unit cube (factors are mapped from [0, 1] to their ranges)."""
    return {"num_vars": len(factor_names), "names": list(factor_names),
            "bounds": [[0.0, 1.0]] * len(factor_names)}


def _import_salib(what: str):
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise ExperimentError(f"the {what} design needs SALib, which is not installed",
                              allowed="make setup, or "
                                      ".venv/bin/pip install -e '.[sensitivity]' (SALib)"
                              ) from None


def _unit_sample(spec: ExperimentSpec, names: list[str], root: int) -> np.ndarray:
    d, n = len(names), spec.samples
    seed = _design_rng_seed(root)
    if spec.design == "lhs":
        from scipy.stats import qmc

        try:
            sampler = qmc.LatinHypercube(d=d, rng=np.random.default_rng(seed))
        except TypeError:  # scipy < 1.15
            sampler = qmc.LatinHypercube(d=d, seed=np.random.default_rng(seed))
        return sampler.random(n)
    problem = salib_problem(names)
    if spec.design == "sobol":
        _import_salib("sobol")
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=spec.second_order, scramble=True,
                            seed=seed)
    _import_salib("morris")
    from SALib.sample import morris

    return morris.sample(problem, n, num_levels=spec.levels, seed=seed)


def build_design(spec: ExperimentSpec) -> Design:
    """All design points of ``spec``, each validated against the schema (needs ``spec.seed``)."""
    if spec.seed is None:
        raise ExperimentError("the root seed must be set before building a sampling design",
                              key="experiment.seed", file=spec.source)
    names = list(spec.factors)
    raw: list[tuple[str, str, dict[str, Any], tuple[float, ...] | None]] = []
    unit_matrix = None

    if spec.design == "grid":
        scenarios = spec.scenarios or [spec.scenario]
        axes = [spec.factors[n].grid_values() for n in names]
        for scen in scenarios:
            for combo in itertools.product(*axes):
                values = dict(zip(names, combo))
                label = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
                if spec.scenarios:
                    label = f"{scen}: {label}" if label else scen
                raw.append((label or scen, scen, values, None))
    elif spec.design == "points":
        for scen in spec.scenarios:
            raw.append((scen, scen, {}, None))
        for p in spec.points:
            raw.append((p.name, p.scenario or spec.scenario, dict(p.overrides), None))
    else:
        unit_matrix = _unit_sample(spec, names, spec.seed)
        scenarios = spec.scenarios or [spec.scenario]
        width = max(4, len(str(len(unit_matrix) - 1)))
        for scen in scenarios:
            for i, u in enumerate(unit_matrix):
                values = {n: spec.factors[n].from_unit(x) for n, x in zip(names, u)}
                label = f"{spec.design}-{i:0{width}d}"
                if spec.scenarios:
                    label = f"{scen}: {label}"
                raw.append((label, scen, values, tuple(float(x) for x in u)))

    points = []
    for pid, (label, scen, values, unit) in enumerate(raw):
        overrides = dict(spec.fixed)
        overrides.update(values)
        try:
            resolve_params(scen, overrides, source=f"{spec.source}, design point '{label}'")
        except CarePathError as exc:
            raise ExperimentError(f"design point '{label}' is not a valid parameter set: {exc}",
                                  file=spec.source) from None
        points.append(DesignPoint(pid, label, scen, overrides, values, unit))

    design = Design(spec, points, names)
    design.baseline_id = _find_baseline(spec, points)
    return design


def _find_baseline(spec: ExperimentSpec, points: list[DesignPoint]) -> int | None:
    b = spec.baseline
    if b is None:
        return None
    if isinstance(b, str):
        for p in points:
            if p.label == b:
                return p.point_id
        matches = [p for p in points if p.scenario == b and not p.values]
        if len(matches) == 1:
            return matches[0].point_id
        shown = [p.label for p in points[:12]]
        raise ExperimentError("the baseline is not a design point", file=spec.source,
                              key="comparisons.baseline", value=b,
                              allowed="a point label: " + ", ".join(shown)
                              + (", ..." if len(points) > 12 else ""))
    candidates = [p for p in points if not spec.scenarios or p.scenario == spec.scenario]

    def fail(n: int, allowed: str) -> ExperimentError:
        return ExperimentError(f"the baseline values match {n} design points, need exactly 1",
                               file=spec.source, key="comparisons.baseline", value=b,
                               allowed=allowed)

    unmatched, ambiguous, picked = [], [], {}
    for k, v in b.items():
        factor = spec.factors[k]
        values = list(dict.fromkeys(p.values[k] for p in candidates if k in p.values))
        hits = factor.matching(v, values)
        if not hits:
            unmatched.append(f"{k} one of " + ", ".join(format_value(x) for x in values[:12])
                             + (", ..." if len(values) > 12 else ""))
        elif len(hits) > 1:
            ambiguous.append(f"{k} = {format_value(v)} is within {factor.tolerance:g} "
                             f"({MATCH_TOLERANCE:g} x its range) of "
                             + ", ".join(format_value(x) for x in hits))
        else:
            picked[k] = hits[0]
    if unmatched:
        raise fail(0, "; ".join(unmatched))
    if ambiguous:
        raise ExperimentError(
            "the baseline values are ambiguous: " + "; ".join(ambiguous),
            file=spec.source, key="comparisons.baseline", value=b,
            allowed="a value close to one design value only")
    matches = [p for p in candidates
               if all(k in p.values and p.values[k] == x for k, x in picked.items())]
    if len(matches) != 1:
        missing = [k for k in spec.factors if k not in b]
        raise fail(len(matches), "a value for every factor, missing: " + ", ".join(missing)
                   if missing and matches else "values of every factor that pick one design "
                   "point")
    return matches[0].point_id
