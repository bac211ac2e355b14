"""Statistics of an experiment: per-point means with 95% CIs, paired contrasts against a
baseline with the Vargha-Delaney A effect size, and sensitivity indices (Morris, Sobol').

All functions take pandas tables (as returned by :func:`experiments.load`) so they can be used
from notebooks; :func:`analyse` bundles them for one experiment directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from model.params import SCHEMA

from .errors import ExperimentError
from .runner import open_experiment, sweep_status
from .spec import ExperimentSpec
from .worker import ID_COLUMNS

__all__ = [
    "Analysis",
    "DEFAULT_REPORT_METRICS",
    "a_magnitude",
    "analyse",
    "contrasts",
    "metric_columns",
    "point_summary",
    "sensitivity",
    "vargha_delaney",
]


#: metrics featured in reports when the experiment file names none (those present are used)
DEFAULT_REPORT_METRICS = ("involvement_mean", "role_concordance", "trust_mean",
                          "perceived_coercion_mean", "leverage_prevalence", "rationing_rate",
                          "compulsory_admissions_per_100", "burnout_share")

#: a sensitivity analysis is flagged when replication noise is more than this share of the
#: variance of the point means it is computed on
NOISE_WARNING_SHARE = 0.10


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """Summary-metric columns of a runs table (everything that is not an id or a parameter)."""
    cols = set(runs.columns)
    params = {c for c in cols if c.startswith("param_") and c[6:] in SCHEMA}
    params |= {c for c in cols if c in SCHEMA and f"param_{c}" not in cols}
    return [c for c in runs.columns if c not in ID_COLUMNS and c not in params
            and pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])]


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def _ci(values: np.ndarray) -> tuple[int, float, float, float, float]:
    """n, mean, sd, ci_low, ci_high (95%, Student t) of finite values."""
    v = values[np.isfinite(values)]
    n = len(v)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(v.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    hw = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - hw, mean + hw


def point_summary(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95% CI of each metric at each design point (successful runs only).

    Long format: ``point_id, point, metric, n, mean, sd, ci_low, ci_high, half_width``, plus the
    number of failed runs at the point.
    """
    metrics = metrics or metric_columns(runs)
    ok = _ok(runs)
    failed = runs[runs["status"] != "ok"].groupby("point_id").size()
    rows = []
    for (pid, label), g in ok.groupby(["point_id", "point"], sort=True):
        for m in metrics:
            n, mean, sd, lo, hi = _ci(g[m].to_numpy(dtype=float))
            rows.append({"point_id": pid, "point": label, "metric": m, "n": n, "mean": mean,
                         "sd": sd, "ci_low": lo, "ci_high": hi,
                         "half_width": (hi - lo) / 2 if n > 1 else math.nan,
                         "failed": int(failed.get(pid, 0))})
    return pd.DataFrame(rows, columns=["point_id", "point", "metric", "n", "mean", "sd",
                                       "ci_low", "ci_high", "half_width", "failed"])


def vargha_delaney(x, y) -> float:
    """Vargha-Delaney A: probability that a value from ``x`` exceeds one from ``y`` (ties 1/2)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return math.nan
    ranks = stats.rankdata(np.concatenate([x, y]))
    r1 = ranks[:m].sum()
    return float((r1 / m - (m + 1) / 2) / n)


def a_magnitude(a: float) -> str:
    """Vargha & Delaney (2000) label: negligible, small (>=.56), medium (>=.64), large (>=.71)
    (symmetric below 0.5)."""
    if not math.isfinite(a):
        return "n/a"
    d = round(abs(a - 0.5), 9)  # 0.71 - 0.5 is 0.2099999... in binary
    if d >= 0.21:
        return "large"
    if d >= 0.14:
        return "medium"
    if d >= 0.06:
        return "small"
    return "negligible"


def contrasts(runs: pd.DataFrame, baseline_id: int, metrics: list[str] | None = None
              ) -> pd.DataFrame:
    """Paired contrasts of every point against the baseline point.

    Replication *i* uses the same seed at every point (common random numbers), so differences
    are paired by replication: mean difference with a 95% t CI over pairs where both runs
    succeeded. The Vargha-Delaney A compares the two samples (point vs baseline).
    """
    metrics = metrics or metric_columns(runs)
    ok = _ok(runs)
    base = ok[ok["point_id"] == baseline_id].set_index("replication")
    if base.empty:
        raise ExperimentError(f"the baseline point {baseline_id} has no successful runs")
    rows = []
    for (pid, label), g in ok.groupby(["point_id", "point"], sort=True):
        if pid == baseline_id:
            continue
        g = g.set_index("replication")
        common = g.index.intersection(base.index)
        for m in metrics:
            d = (g.loc[common, m] - base.loc[common, m]).to_numpy(dtype=float)
            n, mean, sd, lo, hi = _ci(d)
            a = vargha_delaney(g[m], base[m])
            rows.append({"point_id": pid, "point": label, "metric": m, "n_pairs": n,
                         "baseline_mean": float(base[m].mean()), "mean": float(g[m].mean()),
                         "diff": mean, "ci_low": lo, "ci_high": hi,
                         "significant": bool(n > 1 and (lo > 0 or hi < 0)),
                         "A": a, "magnitude": a_magnitude(a)})
    return pd.DataFrame(rows, columns=["point_id", "point", "metric", "n_pairs",
                                       "baseline_mean", "mean", "diff", "ci_low", "ci_high",
                                       "significant", "A", "magnitude"])


def _noise_share(ok: pd.DataFrame, metric: str) -> float:
    """Share of the variance of point means that replication noise accounts for."""
    g = ok.groupby("point_id")[metric]
    means = g.mean()
    n = g.count()
    var = g.var(ddof=1)
    if (n < 2).all() or len(means) < 2:
        return math.nan
    se2 = (var / n).mean()
    total = means.var(ddof=1)
    if not total > 0:
        return math.inf
    return float(se2 / total)


def sensitivity(runs: pd.DataFrame, points: pd.DataFrame, spec: ExperimentSpec,
                metrics: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices on replication means, with 95% CIs, and warnings.

    Morris: ``mu_star`` (with CI), ``mu``, ``sigma``, in units of the metric per full range of
    the factor. Sobol': first-order ``S1`` and total ``ST`` with CIs. LHS: Spearman rank
    correlation of point means with each factor (Fisher-z CIs).
    """
    metrics = metrics or metric_columns(runs)
    warnings: list[str] = []
    names = list(spec.factors)
    ok = _ok(runs)
    means = ok.groupby("point_id")[metrics].mean().reindex(points["point_id"])
    reps = ok.groupby("point_id").size().reindex(points["point_id"]).fillna(0)
    if (reps < 2).any():
        warnings.append("some design points have fewer than two successful replications: the "
                        "noise in the indices cannot be assessed there")
    rows = []
    unit = points[[f"u:{n}" for n in names]].to_numpy(dtype=float) \
        if all(f"u:{n}" in points for n in names) else None
    for m in metrics:
        y = means[m].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            warnings.append(f"{m}: skipped, {int((~np.isfinite(y)).sum())} design point(s) have "
                            "no successful run")
            continue
        share = _noise_share(ok, m)
        if math.isfinite(share) and share > NOISE_WARNING_SHARE:
            warnings.append(f"{m}: replication noise is {share:.0%} of the variance of the point "
                            "means; the indices are unreliable - add replications")
        elif share == math.inf:
            warnings.append(f"{m}: the point means do not vary; no sensitivity to report")
            continue
        if spec.design in ("morris", "sobol"):
            from .design import salib_problem

            problem = salib_problem(names)
            if spec.design == "morris":
                from SALib.analyze import morris

                res = morris.analyze(problem, unit, y, conf_level=0.95, num_levels=spec.levels,
                                     seed=0)
                for i, n in enumerate(names):
                    rows.append({"metric": m, "factor": n, "mu_star": res["mu_star"][i],
                                 "mu_star_conf": res["mu_star_conf"][i], "mu": res["mu"][i],
                                 "sigma": res["sigma"][i], "noise_share": share})
            else:
                from SALib.analyze import sobol

                res = sobol.analyze(problem, y, calc_second_order=spec.second_order,
                                    conf_level=0.95, seed=0)
                for i, n in enumerate(names):
                    rows.append({"metric": m, "factor": n, "S1": res["S1"][i],
                                 "S1_conf": res["S1_conf"][i], "ST": res["ST"][i],
                                 "ST_conf": res["ST_conf"][i], "noise_share": share})
        else:  # lhs (or any design with factor columns): rank correlations
            for n in names:
                x = points[n].astype(float).to_numpy()
                rho = stats.spearmanr(x, y).statistic if np.ptp(x) > 0 else math.nan
                k = len(y)
                if k > 3 and math.isfinite(rho) and abs(rho) < 1:
                    z, se = math.atanh(rho), 1.0 / math.sqrt(k - 3)
                    lo, hi = math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)
                else:
                    lo = hi = math.nan
                rows.append({"metric": m, "factor": n, "spearman": rho, "ci_low": lo,
                             "ci_high": hi, "noise_share": share})
    return pd.DataFrame(rows), warnings


@dataclass
class Analysis:
    """Everything the report shows, as tables."""

    spec: ExperimentSpec
    manifest: dict[str, Any]
    runs: pd.DataFrame
    points: pd.DataFrame
    metrics: list[str]  # featured metrics
    summary: pd.DataFrame  # point_summary over all metrics
    contrasts: pd.DataFrame | None
    baseline_id: int | None
    sensitivity: pd.DataFrame | None
    warnings: list[str] = field(default_factory=list)
    timeseries: pd.DataFrame | None = None
    status: dict[str, Any] = field(default_factory=dict)  # runner.sweep_status: counts, state


def featured_metrics(spec: ExperimentSpec, available: list[str]) -> list[str]:
    if spec.report_metrics:
        return [m for m in spec.report_metrics if m in available]
    chosen = [m for m in DEFAULT_REPORT_METRICS if m in available]
    return chosen or available[:8]


def run_warnings(st: dict[str, Any], n_failed: int) -> list[str]:
    """What a report says first (and ``carepath report`` on stderr) about the runs behind it:
    a sweep with pending runs (``st`` from :func:`experiments.runner.sweep_status`) and failed
    runs."""
    out = []
    counts = (f"{st['done']} of {st['planned']} planned runs done, {st['pending']} pending"
              + (" (adaptive replications: more may be planned)" if st["adaptive"] else ""))
    if st["state"] == "running":  # also with none pending: the last runs may be on their way
        out.append(f"the sweep is still running ({st['state_note']}): {counts}; the numbers "
                   "in this report are from the runs finished so far. Write the report again "
                   f"when it has finished (`carepath status {st['directory']}` says when).")
    elif st["pending"]:
        out.append(f"the sweep is incomplete: {counts}; the numbers in this report are from "
                   f"the finished runs only. Finish it with `carepath resume {st['directory']}`"
                   ", then write the report again."
                   + (f" (It is {st['state_note']}.)" if st["state"] == "unknown" else ""))
    if n_failed:
        out.append(f"{n_failed} run(s) failed; the numbers in this report are from the "
                   "successful runs only (errors and tracebacks: runs table, status = 'failed').")
    return out


def code_warnings(manifest: dict[str, Any]) -> list[str]:
    """A warning when the sweep's sessions ran different code (a resume with
    ``--allow-code-change``; :func:`experiments.runner.check_resumed_code`)."""
    first = (manifest.get("code") or {}).get("digest")
    sessions = manifest.get("sessions", [])
    # sessions that ran runs (``ran`` is written when a session ends; a killed one may have)
    # and the code they ran with
    ran_with = {i + 1: s["code_digest"] for i, s in enumerate(sessions)
                if s.get("code_digest") and (s.get("ran") or not s.get("finished_at"))}
    changed = [i for i, digest in ran_with.items() if digest != first]
    if not first or not changed:
        return []
    return [f"the runs of this sweep come from {len({first, *ran_with.values()})} versions of the "
            f"code: session(s) {', '.join(map(str, changed))} of {len(sessions)} ran runs with "
            "changed code (resumed with --allow-code-change; manifest.json, sessions, "
            "code_change says what changed). Differences between points may be differences "
            "between versions."]


def analyse(directory: str | Path, metrics: list[str] | None = None) -> Analysis:
    """Load an experiment directory and compute every statistic of its report."""
    store, spec, design = open_experiment(directory)
    st = sweep_status(store, spec, design)
    runs, points = store.runs(), store.points()  # the tables of experiments.load, store open
    available = metric_columns(runs)
    metrics = metrics or featured_metrics(spec, available)
    n_failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    manifest = store.read_manifest()
    warnings = run_warnings(st, n_failed) + code_warnings(manifest)
    summary = point_summary(runs, available) if len(runs) else point_summary(
        pd.DataFrame(columns=["point_id", "point", "status"]), [])
    con = None
    if design.baseline_id is not None and len(runs):
        cmetrics = spec.comparison_metrics or metrics
        try:
            con = contrasts(runs, design.baseline_id, cmetrics)
        except ExperimentError as exc:
            warnings.append(f"no contrasts: {exc}")
    sens = None
    if spec.design in ("morris", "sobol", "lhs") and len(runs):
        sens, w = sensitivity(runs, points, spec, metrics)
        warnings.extend(w)
    return Analysis(spec, manifest, runs, points, metrics, summary, con,
                    design.baseline_id, sens, warnings, store.timeseries(), st)
