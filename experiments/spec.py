"""Experiment files: parse a TOML experiment definition and validate it before anything runs.

Every parameter name, value and range is checked against the model's parameter schema
(:data:`model.params.SCHEMA`); scenario names against :data:`model.scenarios.SCENARIOS`. A wrong
key, value or range raises :class:`~experiments.errors.ExperimentError` naming the file, the key,
the value given and what is allowed. Unknown keys are rejected with a did-you-mean hint.

The keys are documented in ``docs/experiments.md``; :data:`SECTIONS` lists them.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.params import SCHEMA, ParameterError, did_you_mean, format_value
from model.scenarios import DEFAULT_SCENARIO, SCENARIOS

from .errors import ExperimentError

__all__ = [
    "DESIGNS",
    "EXECUTORS",
    "SECTIONS",
    "Adaptive",
    "ExperimentSpec",
    "Factor",
    "PointSpec",
    "load_spec",
    "parse_spec",
]

DEFAULT_RUN_FN = "model.run:simulate"
DESIGNS = ("grid", "points", "lhs", "sobol", "morris")
EXECUTORS = ("sequential", "process", "dask")

#: Allowed keys per section (top-level tables of the TOML file).
SECTIONS: dict[str, tuple[str, ...]] = {
    "experiment": ("name", "description", "scenario", "steps", "window", "seed", "run_fn"),
    "fixed": (),  # any schema parameter
    "factors": (),  # any schema parameter
    "design": ("type", "samples", "levels", "second_order", "scenarios", "levers"),
    "points": ("name", "scenario", "set"),
    "replications": ("n", "metric", "half_width", "relative", "min", "max", "batch"),
    "outputs": ("metrics", "timeseries_every"),
    "comparisons": ("baseline", "metrics"),
    "execution": ("executor", "workers", "chunk_size", "scheduler"),
    "report": ("metrics",),
}
FACTOR_KEYS = ("low", "high", "num", "step")
#: A number given for a float factor (a baseline value) matches a design value within this share
#: of the factor's range, so a value as shown in a point label (0.266667) or rounded (0.267)
#: picks the grid value 0.8/3. Integer and true/false factors match exactly.
MATCH_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class Factor:
    """One varied parameter: a list of values, or a range ``[low, high]``."""

    name: str
    values: tuple[Any, ...] | None = None  # a list of values
    low: float | None = None  # a range
    high: float | None = None
    num: int | None = None  # grid points over the range
    step: float | None = None  # or grid spacing over the range

    @property
    def kind(self) -> str:
        return SCHEMA[self.name].kind

    def grid_values(self) -> list[Any]:
        """The values a full-factorial grid uses for this factor."""
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.num is not None:
            raw = np.linspace(self.low, self.high, self.num)
        else:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            raw = self.low + self.step * np.arange(count)
        out: list[Any] = []
        for v in raw:
            value = self._typed(float(v))
            if value not in out:
                out.append(value)
        return out

    def from_unit(self, u: float) -> Any:
        """Map a coordinate in [0, 1] (from a sampling design) to a parameter value."""
        u = min(max(float(u), 0.0), 1.0)
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.kind == "bool":
            return u >= 0.5
        return self._typed(self.low + u * (self.high - self.low))

    @property
    def tolerance(self) -> float:
        """How far a given value may be from a design value and still match it (see
        :data:`MATCH_TOLERANCE`); 0 for integer and true/false factors."""
        if self.kind != "float":
            return 0.0
        if self.values is not None:
            span = max(self.values) - min(self.values)
        else:
            span = self.high - self.low
        return MATCH_TOLERANCE * float(span)

    def matching(self, given: Any, values: list[Any]) -> list[Any]:
        """The design values of this factor that ``given`` (e.g. a baseline value from the
        file) names: the equal one if there is one, else those within :attr:`tolerance`."""
        exact = [v for v in values if v == given]
        if exact or self.kind != "float":
            return exact
        return [v for v in values if abs(float(given) - float(v)) <= self.tolerance]

    def _typed(self, x: float) -> Any:
        if self.kind == "int":
            return int(round(x))
        if self.kind == "bool":
            return bool(x >= 0.5)
        return round(x, 12)

    def describe(self) -> str:
        if self.values is not None:
            return ", ".join(format_value(v) for v in self.values)
        extra = f", {self.num} values" if self.num else (f", step {self.step:g}" if self.step
                                                        else "")
        return f"{self.low:g} to {self.high:g}{extra}"


@dataclass(frozen=True)
class PointSpec:
    """An explicitly named design point: a scenario plus overrides."""

    name: str
    scenario: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Adaptive:
    """Add replications until the 95% CI half-width of ``metric`` is at most ``half_width``."""

    metric: str
    half_width: float
    relative: bool = False  # half_width as a share of |mean|
    min: int = 5
    max: int = 50
    batch: int = 5


@dataclass
class ExperimentSpec:
    """A validated experiment definition."""

    name: str
    path: str | None
    text: str
    description: str = ""
    scenario: str = DEFAULT_SCENARIO
    steps: int = 156
    window: int = 52
    seed: int | None = None
    run_fn: str = DEFAULT_RUN_FN
    fixed: dict[str, Any] = field(default_factory=dict)
    factors: dict[str, Factor] = field(default_factory=dict)
    design: str = "grid"
    samples: int | None = None
    levels: int = 4
    second_order: bool = False
    scenarios: list[str] = field(default_factory=list)
    points: list[PointSpec] = field(default_factory=list)
    replications: int = 10
    adaptive: Adaptive | None = None
    metrics: list[str] | None = None
    timeseries_every: int = 0
    baseline: str | dict[str, Any] | None = None
    comparison_metrics: list[str] | None = None
    executor: str = "process"
    workers: int | None = None
    chunk_size: int | None = None  # None = automatic
    scheduler: str | None = None
    report_metrics: list[str] | None = None

    @property
    def source(self) -> str:
        return self.path or "<experiment>"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def with_seed(self, seed: int) -> ExperimentSpec:
        """A copy with the root seed filled in (when the file gave none)."""
        import dataclasses

        return dataclasses.replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary for the manifest."""
        return {
            "name": self.name,
            "description": self.description,
            "file": self.path,
            "digest": self.digest,
            "scenario": self.scenario,
            "steps": self.steps,
            "window": self.window,
            "seed": self.seed,
            "run_fn": self.run_fn,
            "fixed": self.fixed,
            "factors": {k: f.describe() for k, f in self.factors.items()},
            "design": self.design,
            "samples": self.samples,
            "levels": self.levels if self.design == "morris" else None,
            "second_order": self.second_order if self.design == "sobol" else None,
            "scenarios": self.scenarios,
            "points": [p.name for p in self.points],
            "replications": None if self.adaptive else self.replications,
            "adaptive": None if self.adaptive is None else vars(self.adaptive) | {},
            "metrics": self.metrics,
            "timeseries_every": self.timeseries_every,
            "baseline": self.baseline,
        }


# ----------------------------------------------------------------------------- parsing helpers


class _Reader:
    """Reads one table of the file, checking types and rejecting unknown keys."""

    def __init__(self, data: Any, prefix: str, file: str, allowed: tuple[str, ...]):
        if not isinstance(data, dict):
            raise ExperimentError("must be a table", file=file, key=prefix, value=data,
                                  allowed=f"a [{prefix}] table")
        self.data = dict(data)
        self.prefix = prefix
        self.file = file
        self.allowed = allowed
        for key in self.data:
            if key not in allowed:
                raise ExperimentError(
                    f"unknown key in [{prefix}]" + did_you_mean(key, allowed),
                    file=file, key=self.key(key),
                    allowed=", ".join(allowed) if allowed else "no keys")

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.data

    def err(self, name: str, value: Any, allowed: str, message: str | None = None):
        return ExperimentError(message, file=self.file, key=self.key(name), value=value,
                               allowed=allowed)

    def str(self, name: str, default: Any = None, choices: tuple[str, ...] | None = None):
        if name not in self.data:
            return default
        v = self.data[name]
        if not isinstance(v, str):
            raise self.err(name, v, "a string" if choices is None else
                           "one of " + ", ".join(choices))
        if choices is not None and v not in choices:
            raise self.err(name, v, "one of " + ", ".join(choices), did_you_mean(v, choices)
                           .lstrip("; ") or None)
        return v

    def int(self, name: str, default: Any = None, low: int | None = None,
            high: int | None = None):
        if name not in self.data:
            return default
        v = self.data[name]
        allowed = _int_allowed(low, high)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(name, v, allowed)
        if (low is not None and v < low) or (high is not None and v > high):
            raise self.err(name, v, allowed)
        return v

    def float(self, name: str, default: Any = None, low: float | None = None,
              positive: bool = False):
        if name not in self.data:
            return default
        v = self.data[name]
        allowed = "a number > 0" if positive else (f"a number >= {low:g}" if low is not None
                                                  else "a number")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise self.err(name, v, allowed)
        if (positive and v <= 0) or (low is not None and v < low):
            raise self.err(name, v, allowed)
        return float(v)

    def bool(self, name: str, default: Any = None):
        if name not in self.data:
            return default
        v = self.data[name]
        if not isinstance(v, bool):
            raise self.err(name, v, "true or false")
        return v

    def str_list(self, name: str, default: Any = None, choices=None, what="a string"):
        if name not in self.data:
            return default
        v = self.data[name]
        if not isinstance(v, list) or not v:
            raise self.err(name, v, f"a non-empty list of {what}s")
        for i, item in enumerate(v):
            if not isinstance(item, str):
                raise ExperimentError(file=self.file, key=f"{self.key(name)}[{i}]", value=item,
                                      allowed=what)
            if choices is not None and item not in choices:
                raise ExperimentError(
                    did_you_mean(item, choices).lstrip("; ") or None, file=self.file,
                    key=f"{self.key(name)}[{i}]", value=item,
                    allowed="one of " + ", ".join(choices))
        if len(set(v)) != len(v):
            raise self.err(name, v, f"a list of distinct {what}s")
        return list(v)


def _int_allowed(low, high) -> str:
    if low is not None and high is not None:
        return f"an integer in [{low}, {high}]"
    if low is not None:
        return f"an integer >= {low}"
    return "an integer"


def _param_unknown(name: str) -> str:
    return "a parameter name from the schema (see `carepath params`)" + did_you_mean(
        name, SCHEMA)


def _check_param(file: str, key: str, name: str, value: Any) -> Any:
    """Validate one parameter value against the schema, re-raising with file and key."""
    if name not in SCHEMA:
        raise ExperimentError("unknown parameter", file=file, key=key, allowed=_param_unknown(name))
    try:
        return SCHEMA[name].check(value, source=f"{file}, key '{key}'")
    except ParameterError:
        raise ExperimentError(file=file, key=key, value=value,
                              allowed=SCHEMA[name].allowed()) from None


def _check_overrides(file: str, prefix: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ExperimentError(file=file, key=prefix, value=data,
                              allowed="a table of parameter = value")
    return {name: _check_param(file, f"{prefix}.{name}", name, v) for name, v in data.items()}


def _parse_factor(file: str, name: str, raw: Any) -> Factor:
    key = f"factors.{name}"
    if name not in SCHEMA:
        raise ExperimentError("unknown parameter", file=file, key=key, allowed=_param_unknown(name))
    p = SCHEMA[name]
    if raw == "full":
        if p.kind == "bool":
            return Factor(name, values=(False, True))
        return Factor(name, low=p.low, high=p.high)
    if isinstance(raw, list):
        if not raw:
            raise ExperimentError(file=file, key=key, value=raw,
                                  allowed="a non-empty list of values")
        values = tuple(_check_param(file, f"{key}[{i}]", name, v) for i, v in enumerate(raw))
        if len(set(values)) != len(values):
            raise ExperimentError("values repeat", file=file, key=key, value=raw,
                                  allowed="distinct values")
        return Factor(name, values=values)
    if isinstance(raw, dict):
        r = _Reader(raw, key, file, FACTOR_KEYS)
        if p.kind == "bool":
            raise ExperimentError(file=file, key=key, value=raw,
                                  allowed="a list such as [false, true], or \"full\", for a "
                                          "true/false parameter")
        for k in ("low", "high"):
            if not r.has(k):
                raise ExperimentError(f"a range needs '{k}'", file=file, key=f"{key}.{k}",
                                      allowed=p.allowed())
        low = _check_param(file, f"{key}.low", name, raw["low"])
        high = _check_param(file, f"{key}.high", name, raw["high"])
        if not low < high:
            raise ExperimentError(file=file, key=f"{key}.high", value=high,
                                  allowed=f"greater than low ({low:g})")
        num = r.int("num", None, low=2, high=10_000)
        step = r.float("step", None, positive=True)
        if num is not None and step is not None:
            raise ExperimentError("give either 'num' or 'step', not both", file=file, key=key,
                                  value=raw)
        return Factor(name, low=float(low), high=float(high), num=num, step=step)
    raise ExperimentError(file=file, key=key, value=raw,
                          allowed='a list of values, a range {low = .., high = .., num = ..}, '
                                  'or "full" (the schema range)')


def known_metrics(run_fn: str) -> list[str] | None:
    """The summary metric names the run function reports, if it declares them.

    Looks for ``SUMMARY_KEYS`` in the run function's module, then in its top-level package.
    Returns ``None`` when the names cannot be known before running.
    """
    module_name = run_fn.partition(":")[0]
    for name in (module_name, module_name.split(".")[0]):
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - unknown until run time; checked by the runner
            continue
        keys = getattr(mod, "SUMMARY_KEYS", None)
        if keys is None and callable(getattr(mod, "summary_keys", None)):
            try:
                keys = mod.summary_keys()
            except Exception:  # noqa: BLE001
                keys = None
        if keys:
            return list(keys)
    return None


# ----------------------------------------------------------------------------- main entry


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError("experiment file not found", file=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"cannot read experiment file ({exc.__class__.__name__})",
                              file=str(path)) from None
    return parse_spec(text, str(path), default_name=path.stem)


def parse_spec(text: str, file: str = "<experiment>", default_name: str = "experiment",
               run_fn: str | None = None) -> ExperimentSpec:
    """Parse and validate the TOML text of an experiment file.

    ``run_fn`` (``"module:function"``) overrides the file's ``experiment.run_fn``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"not valid TOML ({exc})", file=file) from None

    for section in data:
        if section not in SECTIONS:
            raise ExperimentError(
                "unknown section" + did_you_mean(section, SECTIONS), file=file, key=section,
                allowed="sections " + ", ".join(f"[{s}]" for s in SECTIONS))

    spec = ExperimentSpec(name=default_name, path=file, text=text)

    # [experiment]
    ex = _Reader(data.get("experiment", {}), "experiment", file, SECTIONS["experiment"])
    spec.name = ex.str("name", default_name)
    if not spec.name or any(c in spec.name for c in "/\\\0"):
        raise ex.err("name", spec.name, "a non-empty name without slashes")
    spec.description = ex.str("description", "")
    spec.scenario = ex.str("scenario", DEFAULT_SCENARIO, tuple(SCENARIOS))
    spec.steps = ex.int("steps", 156, low=1, high=100_000)
    spec.window = ex.int("window", min(52, spec.steps), low=1, high=spec.steps)
    spec.seed = ex.int("seed", None, low=0, high=2**128 - 1)
    spec.run_fn = run_fn or ex.str("run_fn", DEFAULT_RUN_FN)
    if spec.run_fn.count(":") != 1 or not all(spec.run_fn.split(":")):
        raise ex.err("run_fn", spec.run_fn, "'package.module:function'")

    # [fixed]
    spec.fixed = _check_overrides(file, "fixed", data.get("fixed", {}))

    # [factors]
    raw_factors = data.get("factors", {})
    if not isinstance(raw_factors, dict):
        raise ExperimentError(file=file, key="factors", value=raw_factors,
                              allowed="a table of parameter = values")
    spec.factors = {n: _parse_factor(file, n, v) for n, v in raw_factors.items()}
    for n in spec.factors:
        if n in spec.fixed:
            raise ExperimentError("a parameter cannot be both fixed and a factor", file=file,
                                  key=f"factors.{n}", allowed="remove it from [fixed] or [factors]")

    # [design]
    de = _Reader(data.get("design", {}), "design", file, SECTIONS["design"])
    default_design = "points" if ("points" in data or (de.has("scenarios") and not spec.factors)) \
        else "grid"
    spec.design = de.str("type", default_design, DESIGNS)
    spec.scenarios = de.str_list("scenarios", [], tuple(SCENARIOS), "scenario name")
    if de.bool("levers", False):
        for name, p in SCHEMA.items():
            if p.lever and name not in spec.factors and name not in spec.fixed:
                spec.factors[name] = _parse_factor(file, name, "full")
    spec.samples = de.int("samples", None, low=1, high=10_000_000)
    spec.levels = de.int("levels", 4, low=2, high=100)
    spec.second_order = de.bool("second_order", False)
    _check_design(spec, de, data, file)

    # [[points]]
    if "points" in data:
        raw_points = data["points"]
        if not isinstance(raw_points, list) or not raw_points:
            raise ExperimentError(file=file, key="points", value=raw_points,
                                  allowed="one or more [[points]] tables")
        if spec.design != "points":
            raise ExperimentError("[[points]] need type = \"points\"", file=file,
                                  key="design.type", value=spec.design, allowed='"points"')
        names: set[str] = set(spec.scenarios)
        for i, raw in enumerate(raw_points):
            pr = _Reader(raw, f"points[{i}]", file, SECTIONS["points"])
            pname = pr.str("name")
            if not pname:
                raise ExperimentError("each point needs a name", file=file,
                                      key=f"points[{i}].name", allowed="a non-empty string")
            if pname in names:
                raise pr.err("name", pname, "a name not used by another point or scenario")
            names.add(pname)
            pscen = pr.str("scenario", None, tuple(SCENARIOS))
            overrides = _check_overrides(file, f"points[{i}].set", raw.get("set", {}))
            spec.points.append(PointSpec(pname, pscen, overrides))

    # [replications]
    re_ = _Reader(data.get("replications", {}), "replications", file, SECTIONS["replications"])
    metric_names = known_metrics(spec.run_fn)
    if re_.has("metric"):
        if re_.has("n"):
            raise ExperimentError("give either 'n' or an adaptive rule ('metric', 'half_width', "
                                  "'min', 'max'), not both", file=file, key="replications.n")
        metric = re_.str("metric")
        if metric_names is not None and metric not in metric_names:
            raise re_.err("metric", metric, "a summary metric: " + ", ".join(metric_names),
                          did_you_mean(metric, metric_names).lstrip("; ") or None)
        if not re_.has("half_width"):
            raise ExperimentError("an adaptive rule needs 'half_width'", file=file,
                                  key="replications.half_width", allowed="a number > 0")
        lo = re_.int("min", 5, low=2, high=100_000)
        hi = re_.int("max", max(50, lo), low=lo, high=100_000)
        spec.adaptive = Adaptive(metric=metric, half_width=re_.float("half_width", positive=True),
                                 relative=re_.bool("relative", False), min=lo, max=hi,
                                 batch=re_.int("batch", lo, low=1, high=100_000))
        spec.replications = hi
    else:
        for k in ("half_width", "relative", "min", "max", "batch"):
            if re_.has(k):
                raise ExperimentError("adaptive replication keys need 'metric'", file=file,
                                      key=f"replications.{k}",
                                      allowed="'n' alone, or 'metric' with 'half_width'")
        spec.replications = re_.int("n", 10, low=1, high=1_000_000)

    # [outputs]
    ou = _Reader(data.get("outputs", {}), "outputs", file, SECTIONS["outputs"])
    spec.metrics = ou.str_list("metrics", None, metric_names, "metric name")
    spec.timeseries_every = ou.int("timeseries_every", 0, low=0, high=spec.steps)
    kept = spec.metrics if spec.metrics is not None else metric_names
    if spec.adaptive and spec.metrics is not None and spec.adaptive.metric not in spec.metrics:
        raise ExperimentError("the adaptive metric must be kept", file=file,
                              key="replications.metric", value=spec.adaptive.metric,
                              allowed="one of outputs.metrics: " + ", ".join(spec.metrics))

    # [comparisons]
    co = _Reader(data.get("comparisons", {}), "comparisons", file, SECTIONS["comparisons"])
    if co.has("baseline"):
        b = co.data["baseline"]
        if isinstance(b, str):
            spec.baseline = b
        elif isinstance(b, dict):
            spec.baseline = _check_overrides(file, "comparisons.baseline", b)
            for n in spec.baseline:
                if n not in spec.factors:
                    raise ExperimentError("a baseline given as values must name factors",
                                          file=file, key=f"comparisons.baseline.{n}",
                                          allowed="factors: " + ", ".join(spec.factors))
        else:
            raise co.err("baseline", b, "a point or scenario name, or a table of factor values")
    spec.comparison_metrics = co.str_list("metrics", None, kept, "metric name")

    # [execution]
    exe = _Reader(data.get("execution", {}), "execution", file, SECTIONS["execution"])
    spec.executor = exe.str("executor", "process", EXECUTORS)
    spec.workers = exe.int("workers", None, low=1, high=4096)
    spec.scheduler = exe.str("scheduler", None)
    if exe.has("chunk_size") and exe.data["chunk_size"] != "auto":
        spec.chunk_size = exe.int("chunk_size", None, low=1, high=1_000_000)

    # [report]
    rp = _Reader(data.get("report", {}), "report", file, SECTIONS["report"])
    spec.report_metrics = rp.str_list("metrics", None, kept, "metric name")
    return spec


def _check_design(spec: ExperimentSpec, de: _Reader, data: dict, file: str) -> None:
    d = spec.design
    if d == "grid":
        for f in spec.factors.values():
            if f.values is None and f.num is None and f.step is None:
                raise ExperimentError("a grid needs values: give a list, or 'num' or 'step' "
                                      "with the range", file=file, key=f"factors.{f.name}",
                                      value=f.describe(), allowed="[v1, v2, ...] or "
                                      "{low = .., high = .., num = ..}")
        n = math.prod(len(f.grid_values()) for f in spec.factors.values()) if spec.factors else 1
        if n * max(1, len(spec.scenarios)) > 1_000_000:
            raise ExperimentError("the grid is too large", file=file, key="factors", value=n,
                                  allowed="at most 1,000,000 points; use an lhs design")
        if de.has("samples"):
            raise ExperimentError("'samples' is not used by a grid", file=file,
                                  key="design.samples", allowed="type lhs, sobol or morris")
    elif d == "points":
        if spec.factors:
            raise ExperimentError("a points design has no [factors]; give each point's values "
                                  "in [[points]] set = {...}", file=file, key="factors",
                                  allowed='type = "grid" to vary factors')
        if "points" not in data and not spec.scenarios:
            raise ExperimentError("a points design needs [[points]] or design.scenarios",
                                  file=file, key="design.type", value=d)
    else:  # sampling designs
        if not spec.factors:
            raise ExperimentError(f"a {d} design needs [factors] (or levers = true)", file=file,
                                  key="factors", allowed="one or more parameters with ranges")
        if spec.samples is None:
            what = {"lhs": "number of points", "sobol": "base sample size N (a power of 2)",
                    "morris": "number of trajectories"}[d]
            raise ExperimentError(f"a {d} design needs 'samples' ({what})", file=file,
                                  key="design.samples", allowed="an integer >= 1")
        if d == "sobol" and spec.samples & (spec.samples - 1):
            raise ExperimentError(file=file, key="design.samples", value=spec.samples,
                                  allowed="a power of 2 for a Sobol' design (e.g. 64, 128, 256)")
        if d in ("sobol", "morris") and spec.scenarios:
            raise ExperimentError(f"a {d} design analyses one scenario; set experiment.scenario",
                                  file=file, key="design.scenarios", value=spec.scenarios)
        if d in ("sobol", "morris") and len(spec.factors) < 2:
            raise ExperimentError(f"a {d} design needs at least two factors", file=file,
                                  key="factors", value=list(spec.factors))
