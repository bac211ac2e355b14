"""Figures (PNG) and a Markdown report for an experiment directory.

``write_report(DIR)`` writes ``DIR/report/report.md`` plus figures and the statistics as CSV
(``summary.csv``, ``contrasts.csv``, ``sensitivity.csv``). Numbers in the report come from the
same tables; :func:`number_format` picks one number of decimals per metric and table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.outputs import LADDER_COLOURS, LADDER_LABELS
from model.params import format_value

from .analysis import Analysis, analyse
from .figures import pyplot, save_figure

__all__ = ["fmt", "number_format", "write_report"]

MAX_TABLE_POINTS = 60  # rows of per-point tables shown in the Markdown
MAX_BAR_POINTS = 40  # points in the involvement ladder / point plots
LADDER = [f"involvement_share_{i}" for i in range(5)]


def fmt(x: Any, decimals: int | None = 3, signed: bool = False) -> str:
    """How the report prints a number: fixed ``decimals`` (no scientific notation; ``None``:
    three significant figures in scientific notation, for magnitudes that fixed decimals cannot
    show), with a sign if ``signed``. Missing and non-finite values print as n/a."""
    if x is None:
        return "n/a"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(x):
        return "n/a"
    sign = "+" if signed else ""
    text = f"{x:{sign}.2e}" if decimals is None else f"{x:{sign}.{decimals}f}"
    if float(text) == 0 and text[0] in "+-":  # no "-0.00"; a signed zero is "+0.00"
        text = sign + text[1:]
    return text


#: Most decimals a table shows; a metric whose largest value would need more to show three
#: significant figures is written in scientific notation (1.23e-07).
MAX_DECIMALS = 6


def number_format(values, half_widths=()) -> Callable[[Any], str]:
    """One formatter for numbers shown together in a table, such as one metric's means, CI
    bounds and differences: the same number of decimals for all of them.

    Enough decimals for three significant figures of the largest absolute value, and for two of
    the median CI half-width (``half_widths``), so that a narrow interval of a difference is not
    rounded away; but at most two more than the first needs (a CI of practically zero width,
    such as that of a difference common random numbers make exact, shows as [x, x]), and at
    most :data:`MAX_DECIMALS`.
    """
    def needed(x: float, figures: int) -> int:
        return figures - 1 - math.floor(math.log10(x))

    v = np.abs(np.asarray(list(values), dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return lambda x: fmt(x, 0)
    hw = np.asarray(list(half_widths), dtype=float)
    hw = hw[np.isfinite(hw) & (hw > 1e-9 * v.max())]  # not rounding noise of a zero width
    scale = max(needed(float(v.max()), 3), 0)
    if scale > MAX_DECIMALS:
        return lambda x: fmt(x, None)
    decimals = scale
    if len(hw):
        decimals = max(scale, min(needed(float(np.median(hw)), 2), scale + 2))
    decimals = min(decimals, MAX_DECIMALS)
    return lambda x: fmt(x, decimals)


_SEED_SOURCE = {"file": "from the experiment file", "argument": "given with --seed",
                "generated": "drawn at random when the sweep started"}


def reproduce_command(manifest: dict[str, Any], directory: Path) -> str:
    """The ``carepath sweep`` command that repeats the sweep recorded in ``manifest``: the
    stored copy of the experiment file, its root seed pinned (it may have been drawn at
    random) and the run function it used."""
    import shlex

    from .spec import load_spec
    from .store import SPEC_COPY

    copy = directory / SPEC_COPY
    parts = ["carepath", "sweep", str(copy), "--seed", str(manifest["root_seed"])]
    if manifest.get("run_fn") and manifest["run_fn"] != load_spec(copy).run_fn:
        parts += ["--run-fn", manifest["run_fn"]]
    parts += ["--out", str(directory.with_name(directory.name + "-again"))]
    return " ".join(shlex.quote(p) for p in parts)


def _code_version(manifest: dict[str, Any]) -> tuple[str, str]:
    """The code a sweep ran, as recorded in its manifest: (git commit, package versions)."""
    git = manifest.get("git") or {}
    commit = (f"git commit `{git['commit'][:12]}`" + (" with uncommitted changes" if
              git.get("dirty") else "")) if git.get("commit") else "no git commit was recorded"
    if (manifest.get("code") or {}).get("digest"):
        commit += f"; code fingerprint `{manifest['code']['digest']}`"
    versions = ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())
    return commit, versions


def _ci(lo, hi, f: Callable[[Any], str]) -> str:
    return f"[{f(lo)}, {f(hi)}]"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:60]


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


# ----------------------------------------------------------------------------- figures


def _grid_layout(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _marginal(runs: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean and 95% CI of ``metric`` grouped by ``by`` (pooled over other factors)."""
    from .analysis import _ci as ci

    rows = []
    for key, g in runs.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        n, mean, sd, lo, hi = ci(g[metric].to_numpy(dtype=float))
        rows.append(dict(zip(by, key)) | {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n})
    return pd.DataFrame(rows)


def fig_metric_vs_factor(a: Analysis, factor: str, hue: str | None, out: Path) -> Path:
    plt = pyplot()
    ok = a.runs[a.runs["status"] == "ok"]
    r, c = _grid_layout(len(a.metrics))
    fig, axes = plt.subplots(r, c, figsize=(4.2 * c, 3.2 * r), squeeze=False)
    for ax, m in zip(axes.flat, a.metrics):
        groups = [(None, ok)] if hue is None else list(ok.groupby(hue, sort=True))
        for hv, g in groups:
            s = _marginal(g, [factor], m).sort_values(factor)
            x = s[factor].astype(float)
            label = None if hue is None else f"{hue}={format_value(hv)}"
            ax.plot(x, s["mean"], marker="o", label=label)
            ax.fill_between(x, s["ci_low"], s["ci_high"], alpha=0.25)
        ax.set_xlabel(factor)
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
        if hue is not None:
            ax.legend(fontsize=7)
    return save_figure(fig, out / f"metric_vs_{_slug(factor)}.png",
                       f"Metrics against {factor} (mean, 95% CI band)", axes, len(a.metrics))


def fig_heatmap(a: Analysis, f1: str, f2: str, out: Path) -> Path:
    plt = pyplot()
    ok = a.runs[a.runs["status"] == "ok"]
    r, c = _grid_layout(len(a.metrics))
    fig, axes = plt.subplots(r, c, figsize=(4.4 * c, 3.6 * r), squeeze=False)
    for ax, m in zip(axes.flat, a.metrics):
        table = ok.pivot_table(index=f2, columns=f1, values=m, aggfunc="mean").sort_index()
        im = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(table.columns)), [format_value(v) for v in table.columns],
                      fontsize=7, rotation=45)
        ax.set_yticks(range(len(table.index)), [format_value(v) for v in table.index], fontsize=7)
        ax.set_xlabel(f1)
        ax.set_ylabel(f2)
        ax.set_title(m, fontsize=9)
        # a bar just right of its own panel (fig.colorbar(ax=...) under the constrained
        # layout left wide gaps and panels of different widths)
        fig.colorbar(im, cax=ax.inset_axes([1.03, 0.0, 0.05, 1.0]))
    return save_figure(fig, out / f"heatmap_{_slug(f1)}_{_slug(f2)}.png",
                       f"Mean of each metric over {f1} x {f2}", axes, len(a.metrics))


def fig_ladder(a: Analysis, out: Path) -> Path | None:
    if not all(c in a.runs for c in LADDER):
        return None
    plt = pyplot()
    ok = a.runs[a.runs["status"] == "ok"]
    means = ok.groupby(["point_id", "point"], sort=True)[LADDER].mean().reset_index()
    means = means.head(MAX_BAR_POINTS)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(means) + 1.6))
    left = np.zeros(len(means))
    y = np.arange(len(means))
    for col, label, colour in zip(LADDER, LADDER_LABELS, LADDER_COLOURS):
        vals = means[col].to_numpy(dtype=float)
        ax.barh(y, vals, left=left, color=colour, label=label)
        left += vals
    ax.set_yticks(y, means["point"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of decisions")
    ax.set_xlim(0, max(1.0, float(left.max()) if len(left) else 1.0))
    fig.legend(fontsize=7, ncol=5, loc="outside lower center")  # below, laid out with the rest
    ax.set_title("Involvement ladder per design point (mean shares)")
    return save_figure(fig, out / "involvement_ladder.png")


def fig_points(a: Analysis, out: Path) -> Path:
    """Mean and 95% CI of each featured metric at each point (dot-and-whisker)."""
    plt = pyplot()
    s = a.summary[a.summary["metric"].isin(a.metrics)]
    ids = sorted(s["point_id"].unique())[:MAX_BAR_POINTS]
    s = s[s["point_id"].isin(ids)]
    r, c = _grid_layout(len(a.metrics))
    fig, axes = plt.subplots(r, c, figsize=(4.6 * c, 0.28 * len(ids) * r + 1.6 * r),
                             squeeze=False)
    for ax, m in zip(axes.flat, a.metrics):
        d = s[s["metric"] == m].sort_values("point_id")
        y = np.arange(len(d))
        err = np.vstack([d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]])
        ax.errorbar(d["mean"], y, xerr=np.nan_to_num(err), fmt="o", ms=4, capsize=2)
        if a.baseline_id is not None:
            b = d[d["point_id"] == a.baseline_id]["mean"]
            if len(b):
                ax.axvline(float(b.iloc[0]), color="grey", ls="--", lw=0.8)
        ax.set_yticks(y, d["point"], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(m, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, out / "points.png", "Mean and 95% CI per design point", axes,
                       len(a.metrics))


def fig_forest(a: Analysis, out: Path) -> Path | None:
    if a.contrasts is None or a.contrasts.empty:
        return None
    plt = pyplot()
    metrics = list(dict.fromkeys(a.contrasts["metric"]))
    con = a.contrasts[a.contrasts["point_id"].isin(
        sorted(a.contrasts["point_id"].unique())[:MAX_BAR_POINTS])]
    n_pts = con["point_id"].nunique()
    r, c = _grid_layout(len(metrics))
    # one set of point labels per row of panels (every panel lists the same points in order)
    fig, axes = plt.subplots(r, c, figsize=(3.4 * c + 2.4, 0.3 * n_pts * r + 1.6 * r),
                             squeeze=False, sharey=True)
    for ax, m in zip(axes.flat, metrics):
        d = con[con["metric"] == m].sort_values("point_id")
        y = np.arange(len(d))
        colours = ["tab:red" if s else "tab:blue" for s in d["significant"]]
        ax.hlines(y, d["ci_low"].fillna(d["diff"]), d["ci_high"].fillna(d["diff"]),
                  colors=colours)
        ax.scatter(d["diff"], y, c=colours, s=14, zorder=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, d["point"], fontsize=7)
        ax.set_title(m, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[0, 0].invert_yaxis()  # shared: once for all panels
    return save_figure(fig, out / "contrasts_forest.png",
                       "Difference from the baseline, paired by replication (95% CI; red: the "
                       "CI excludes 0)", axes, len(metrics))


def fig_sensitivity(a: Analysis, out: Path) -> Path | None:
    s = a.sensitivity
    if s is None or s.empty:
        return None
    plt = pyplot()
    metrics = list(dict.fromkeys(s["metric"]))
    r, c = _grid_layout(len(metrics))
    n_f = s["factor"].nunique()
    fig, axes = plt.subplots(r, c, figsize=(4.6 * c, 0.3 * n_f * r + 1.6 * r), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        d = s[s["metric"] == m]
        y = np.arange(len(d))
        if "mu_star" in d:
            d = d.sort_values("mu_star", ascending=False)
            ax.barh(y, d["mu_star"], xerr=d["mu_star_conf"], color="tab:blue", capsize=2)
            ax.set_xlabel("Morris mu* (per full factor range)")
        elif "ST" in d:
            d = d.sort_values("ST", ascending=False)
            ax.barh(y - 0.2, d["S1"], height=0.4, xerr=d["S1_conf"], label="S1", capsize=2)
            ax.barh(y + 0.2, d["ST"], height=0.4, xerr=d["ST_conf"], label="ST", capsize=2)
            ax.legend(fontsize=7)
            ax.set_xlabel("Sobol' index")
        else:
            d = d.sort_values("spearman", key=np.abs, ascending=False)
            err = np.vstack([d["spearman"] - d["ci_low"], d["ci_high"] - d["spearman"]])
            ax.barh(y, d["spearman"], xerr=np.nan_to_num(err), capsize=2)
            ax.set_xlabel("Spearman rank correlation")
        ax.set_yticks(y, d["factor"], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(m, fontsize=9)
    return save_figure(fig, out / "sensitivity.png",
                       "Sensitivity (95% CI), on replication means", axes, len(metrics))


#: Columns of the time-series table that are not outputs.
_TS_NOT_METRICS = ("run_id", "point_id", "replication", "step", "week", "Step")
#: Weekly outputs plotted when the report's metrics are not in the time series.
_TS_FALLBACK = ("involvement_mean", "authority_share", "trust_mean", "waiting_list",
                "caseload_mean", "stress_mean")
_TS_MAX_POINTS = 10


def timeseries_columns(ts: pd.DataFrame, metrics: list[str], limit: int = 6) -> list[str]:
    """The outputs the time-series figure shows: the report's own metrics where the series has
    them, then the usual weekly outputs (never ids, the step or the week)."""
    numeric = [c for c in ts.columns if c not in _TS_NOT_METRICS
               and pd.api.types.is_numeric_dtype(ts[c])]
    cols = [c for c in (*metrics, *_TS_FALLBACK) if c in numeric]
    return list(dict.fromkeys(cols))[:limit] or numeric[:limit]


def fig_timeseries(a: Analysis, out: Path) -> Path | None:
    ts = a.timeseries
    if ts is None or ts.empty:
        return None
    plt = pyplot()
    cols = timeseries_columns(ts, a.metrics)
    if not cols:
        return None
    labels = a.points.set_index("point_id")["point"]
    all_ids = sorted(ts["point_id"].unique())
    ids = all_ids[:_TS_MAX_POINTS]
    r, c = _grid_layout(len(cols))
    fig, axes = plt.subplots(r, c, figsize=(4.4 * c, 3.2 * r), squeeze=False)
    for ax, col in zip(axes.flat, cols):
        for pid in ids:
            g = ts[ts["point_id"] == pid].groupby("step")[col].mean()
            ax.plot(g.index, g.to_numpy(), label=str(labels.get(pid, pid)), lw=1)
        ax.set_xlabel("week")
        ax.set_title(col, fontsize=9)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    title = "Time series (mean over replications)"
    if len(all_ids) > len(ids):
        title += f": the first {len(ids)} of {len(all_ids)} design points"
    return save_figure(fig, out / "timeseries.png", title, axes, len(cols))


def _numeric_factors(a: Analysis) -> list[str]:
    from .runner import param_column

    out = []
    for n in a.spec.factors:
        col = param_column(a.runs.columns, n)
        if col in a.runs and a.runs[col].nunique() > 1:
            out.append(col)
    return out


# ----------------------------------------------------------------------------- report

#: Points listed per headline metric in the ranking of the contrasts.
RANK_TOP = 10


def _per_metric(table: pd.DataFrame, columns: list[str], half_widths: list[str] | None = None
                ) -> dict[str, Callable[[Any], str]]:
    """A :func:`number_format` per metric of a long table, over ``columns`` of its rows; the CI
    half-widths are the ``half_widths`` columns, or else half of ``ci_high - ci_low``."""
    if half_widths is None:
        table = table.assign(_half_width=(table["ci_high"] - table["ci_low"]) / 2)
        half_widths = ["_half_width"]
    return {m: number_format(g[columns].to_numpy().ravel(), g[half_widths].to_numpy().ravel())
            for m, g in table.groupby("metric", sort=False)}


def contrast_formats(con: pd.DataFrame) -> dict[str, Callable[[Any], str]]:
    """The number format of each metric's contrasts: baseline and point means, difference and
    its CI (the ranking and the full table use the same)."""
    return _per_metric(con, ["baseline_mean", "mean", "diff", "ci_low", "ci_high"])


def _ranking(a: Analysis, formats: dict[str, Callable[[Any], str]]) -> list[str]:
    """Per headline metric, the points ordered by the size of their difference from the
    baseline (from the contrasts table of the analysis)."""
    con = a.contrasts
    headline = [m for m in a.metrics if m in formats] or list(formats)
    lines = []
    for m in headline:
        d = con[con["metric"] == m].sort_values("diff", key=lambda x: x.abs(), ascending=False,
                                                na_position="last", kind="stable")
        top, f = d.head(RANK_TOP), formats[m]
        clear = int(d["significant"].sum())
        rows = [[i, r.point, f(r.diff), _ci(r.ci_low, r.ci_high, f), fmt(r.A, 2), r.magnitude,
                 "yes" if r.significant else "no"] for i, r in enumerate(top.itertuples(), 1)]
        lines += [f"### Largest differences: {m}", "",
                  f"{clear} of {len(d)} point(s) differ clearly from the baseline (the 95% CI "
                  "of the difference excludes 0). "
                  + (f"The {len(top)} largest differences by size:" if len(d) > len(top)
                     else "All points, largest difference first:"), "",
                  _md_table(["rank", "point", "difference", "95% CI", "A", "effect", "clear"],
                            rows), ""]
    return lines


def write_report(directory: str | Path, metrics: list[str] | None = None,
                 analysis: Analysis | None = None) -> Path:
    """Analyse ``directory`` (unless ``analysis`` of it is given) and write
    ``report/report.md`` with figures; returns its path."""
    a = analysis if analysis is not None else analyse(directory, metrics)
    out = Path(directory) / "report"
    out.mkdir(exist_ok=True)
    figures: list[tuple[str, Path]] = []
    ok_runs = int((a.runs["status"] == "ok").sum()) if len(a.runs) else 0

    if ok_runs:
        factors = _numeric_factors(a)
        if a.spec.design == "grid" and factors:
            hue = factors[1] if len(factors) > 1 and a.runs[factors[1]].nunique() <= 6 else None
            figures.append((f"Metrics against {factors[0]}",
                            fig_metric_vs_factor(a, factors[0], hue, out)))
            for f in factors[1:3]:
                figures.append((f"Metrics against {f}", fig_metric_vs_factor(a, f, None, out)))
            if len(factors) >= 2:
                figures.append((f"Heat map over {factors[0]} x {factors[1]}",
                                fig_heatmap(a, factors[0], factors[1], out)))
        if a.spec.design in ("grid", "points") and a.points["point_id"].nunique() > 1:
            figures.append(("Mean and 95% CI per design point", fig_points(a, out)))
        optional = [("Contrasts against the baseline (forest plot)", fig_forest),
                    ("Sensitivity indices", fig_sensitivity), ("Time series", fig_timeseries)]
        if a.spec.design in ("grid", "points"):
            optional.insert(0, ("Involvement ladder", fig_ladder))
        for title, make in optional:  # each returns None when it has nothing to show
            p = make(a, out)
            if p:
                figures.append((title, p))

    a.summary.to_csv(out / "summary.csv", index=False)
    if a.contrasts is not None:
        a.contrasts.to_csv(out / "contrasts.csv", index=False)
    if a.sensitivity is not None:
        a.sensitivity.to_csv(out / "sensitivity.csv", index=False)

    text = _markdown(a, Path(directory), figures)
    path = out / "report.md"
    from .store import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def _markdown(a: Analysis, directory: Path, figures: list[tuple[str, Path]]) -> str:
    m, spec = a.manifest, a.spec
    runs = a.runs
    n_failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    st = a.status
    lines = [f"# Experiment report: {spec.name}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    if a.warnings:  # first: they say how far the numbers below can be trusted
        lines += ["## Warnings", ""] + [f"- {w}" for w in a.warnings] + [""]
    reps = (f"adaptive: until the 95% CI half-width of {spec.adaptive.metric} is at most "
            f"{spec.adaptive.half_width:g}{' of the mean' if spec.adaptive.relative else ''} "
            f"({spec.adaptive.min} to {spec.adaptive.max}, in batches of {spec.adaptive.batch})"
            if spec.adaptive else str(spec.replications))
    commit, versions = _code_version(m)
    lines += [
        "## What was run", "",
        _md_table(["", ""], [
            ["Directory", f"`{directory}`"],
            ["Experiment file", f"`{m.get('experiment_file')}` (copy: `experiment.toml`)"],
            ["State", st["state"] + (f" ({st['state_note']})" if st["state_note"] else "")],
            ["Runs", f"{st['ok']} succeeded, {st['failed']} failed, {st['pending']} pending "
                     f"(of {st['planned']} planned)"],
            ["Design", f"{spec.design}, {len(a.points)} point(s)"],
            ["Base scenario", spec.scenario],
            ["Replications", reps],
            ["Steps / measurement window", f"{spec.steps} weeks / last {spec.window} weeks"],
            ["Root seed", f"`{m.get('root_seed')}` ({m.get('seed_source', 'file')}); "
                          "replication i uses the same seed at every point"],
            ["Run function", f"`{spec.run_fn}`"],
            ["Started / finished", f"{m.get('started_at')} / {m.get('finished_at')}"],
            ["Code", commit],
            ["Versions", versions],
        ]), ""]
    if spec.fixed:
        lines += ["Fixed overrides: " + ", ".join(f"`{k} = {format_value(v)}`"
                                                  for k, v in spec.fixed.items()), ""]
    if spec.factors:
        lines += ["Factors: " + "; ".join(f"`{k}`: {f.describe()}"
                                          for k, f in spec.factors.items()), ""]

    # results per point
    lines += ["## Results per design point", "",
              "Mean over successful replications with its 95% confidence interval (Student t); "
              "n is the number of successful runs.", ""]
    s = a.summary[a.summary["metric"].isin(a.metrics)]
    ids = sorted(s["point_id"].unique()) if len(s) else []
    shown = ids[:MAX_TABLE_POINTS]
    for metric in a.metrics:
        d = s[(s["metric"] == metric) & s["point_id"].isin(shown)].sort_values("point_id")
        f = number_format(d[["mean", "ci_low", "ci_high"]].to_numpy().ravel(), d["half_width"])
        rows = [[r.point_id, r.point + (" (baseline)" if r.point_id == a.baseline_id else ""),
                 f(r.mean), _ci(r.ci_low, r.ci_high, f), r.n]
                for r in d.itertuples()]
        lines += [f"### {metric}", "", _md_table(["id", "point", "mean", "95% CI", "n"], rows),
                  ""]
    if len(ids) > len(shown):
        lines += [f"(First {len(shown)} of {len(ids)} points; all are in `report/summary.csv`.)",
                  ""]

    if a.contrasts is not None and not a.contrasts.empty:
        base = a.points.set_index("point_id")["point"].get(a.baseline_id, a.baseline_id)
        lines += ["## Contrasts against the baseline", "",
                  f"Baseline: **{base}**. Differences are paired by replication (common random "
                  "numbers: replication i has the same seed at every point); 95% CI of the mean "
                  "difference. A is the Vargha-Delaney effect size: the probability that a run "
                  "at the point has a higher value than a run at the baseline (0.5 = no "
                  "difference; small >= 0.56, medium >= 0.64, large >= 0.71, symmetric below "
                  "0.5).", ""]
        formats = contrast_formats(a.contrasts)
        lines += _ranking(a, formats)
        lines += ["### All contrasts", ""]
        c = a.contrasts[a.contrasts["point_id"].isin(shown)]
        rows = [[r.point, r.metric, formats[r.metric](r.baseline_mean),
                 formats[r.metric](r.mean), formats[r.metric](r.diff),
                 _ci(r.ci_low, r.ci_high, formats[r.metric]), fmt(r.A, 2), r.magnitude,
                 r.n_pairs]
                for r in c.assign(_o=c["metric"].map({m: i for i, m in enumerate(
                    dict.fromkeys([*a.metrics, *c["metric"]]))})).sort_values(
                    ["_o", "point_id"]).itertuples()]
        lines += [_md_table(["point", "metric", "baseline", "point mean", "difference",
                             "95% CI", "A", "effect", "pairs"], rows), ""]
        if len(c) < len(a.contrasts):
            lines += [f"(Points of the first {len(shown)}; all are in `report/contrasts.csv`.)",
                      ""]

    if a.sensitivity is not None and not a.sensitivity.empty:
        sens = a.sensitivity
        lines += ["## Sensitivity", ""]
        if "mu_star" in sens:
            lines += ["Morris elementary effects on replication means: mu* (mean absolute effect "
                      "of moving a factor across its whole range) with its 95% bootstrap CI; "
                      "sigma measures interactions and non-linearity.", ""]
            f = _per_metric(sens, ["mu_star", "mu_star_conf", "mu", "sigma"], ["mu_star_conf"])
            rows = [[r.metric, r.factor, f[r.metric](r.mu_star), f[r.metric](r.mu_star_conf),
                     f[r.metric](r.mu), f[r.metric](r.sigma)]
                    for r in sens.sort_values(["metric", "mu_star"],
                                              ascending=[True, False]).itertuples()]
            lines += [_md_table(["metric", "factor", "mu*", "± (95%)", "mu", "sigma"], rows), ""]
        elif "ST" in sens:
            lines += ["Sobol' indices on replication means: first-order S1 and total ST with "
                      "95% bootstrap CIs.", ""]
            f = _per_metric(sens, ["S1", "S1_conf", "ST", "ST_conf"], ["S1_conf", "ST_conf"])
            rows = [[r.metric, r.factor, f[r.metric](r.S1), f[r.metric](r.S1_conf),
                     f[r.metric](r.ST), f[r.metric](r.ST_conf)]
                    for r in sens.sort_values(["metric", "ST"],
                                              ascending=[True, False]).itertuples()]
            lines += [_md_table(["metric", "factor", "S1", "± (95%)", "ST", "± (95%)"], rows),
                      ""]
        else:
            lines += ["Spearman rank correlation of point means with each factor (95% CI, "
                      "Fisher z).", ""]
            f = _per_metric(sens, ["spearman", "ci_low", "ci_high"])
            rows = [[r.metric, r.factor, f[r.metric](r.spearman),
                     _ci(r.ci_low, r.ci_high, f[r.metric])] for r in sens.itertuples()]
            lines += [_md_table(["metric", "factor", "rho", "95% CI"], rows), ""]
        noise = sens.groupby("metric")["noise_share"].first()
        lines += ["Replication noise as a share of the variance of the point means: "
                  + ", ".join(f"{k} {fmt(100 * v, 1)}%" if math.isfinite(v) else f"{k} n/a"
                              for k, v in noise.items()) + ".", ""]

    if figures:
        lines += ["## Figures", ""]
        for title, path in figures:
            lines += [f"### {title}", "", f"![{title}]({path.name})", ""]

    if n_failed:
        f = runs[runs["status"] != "ok"].head(20)
        lines += ["## Failed runs", "",
                  f"{n_failed} run(s) failed. Their parameters, seeds and tracebacks are in the "
                  "runs table (`status = 'failed'`).", "",
                  _md_table(["run", "point", "seed", "error"],
                            [[r.run_id, r.point, r.seed, r.error] for r in f.itertuples()]), ""]

    lines += ["## Design points", ""]
    pts = a.points.head(MAX_TABLE_POINTS)
    cols = [c for c in pts.columns if not c.startswith("u:") and c != "point_id"]
    lines += [_md_table(["id"] + cols, [[r["point_id"]] + [format_value(r[c]) for c in cols]
                                        for _, r in pts.iterrows()]), ""]
    lines += ["## Reproduce", "",
              "The same runs, seeds and results again, into a new directory, from the copy of "
              "the experiment file kept with the results:", "",
              "```sh", reproduce_command(m, directory), "```", "",
              f"Identical numbers need the same code: {commit}"
              + (f" ({versions})." if versions else "."), "",
              f"The root seed ({m.get('root_seed')}, "
              f"{_SEED_SOURCE.get(m.get('seed_source'), 'recorded')}) is in `manifest.json`; "
              "each run's seed is in the runs table. "
              "Tables: `runs.parquet` (one row per run: parameters, seed, status, metrics), "
              "`points.parquet`, and the CSVs in this folder.", ""]
    return "\n".join(lines)
