"""Figures of one run's time series (used by ``carepath run`` and the notebooks)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

from .outputs import (LADDER_COLOURS, LADDER_LABELS, PRESSURE_COLOURS,  # noqa: E402
                      PRESSURE_LABELS, stacked_share)
from .outputs import trailing_mean as _smooth  # noqa: E402


def _stack_shares(ts, prefix: str) -> list:
    """The five shares ``prefix0`` ... ``prefix4``, smoothed for a stacked chart."""
    return [stacked_share(ts[f"{prefix}{k}"]) for k in range(5)]


def run_figure(ts, title: str = ""):
    """A 3x2 panel of the run: involvement ladder, pressure levels, trust & coercion, waiting
    list, clinician stress & burnout, clinician- vs patient-rated involvement.

    ``ts`` is the per-week DataFrame of ``CarePathwayModel.timeseries()`` (index = week).
    Shares are 4-week trailing means (single weeks hold few decisions;
    :func:`model.outputs.trailing_mean`).
    """
    ts = ts.iloc[1:] if len(ts) > 1 else ts
    x = ts.index.to_numpy()
    fig, axes = plt.subplots(3, 2, figsize=(12, 10), constrained_layout=True)
    ax = axes[0, 0]
    ax.stackplot(x, *_stack_shares(ts, "involvement_share_"),
                 labels=LADDER_LABELS, colors=LADDER_COLOURS)
    ax.set(title="Involvement ladder (share of contested decisions)", ylim=(0, 1),
           ylabel="share")
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    ax = axes[0, 1]
    ax.stackplot(x, *_stack_shares(ts, "pressure_share_"),
                 labels=PRESSURE_LABELS, colors=PRESSURE_COLOURS, edgecolor="#999999",
                 linewidth=0.3)
    ax.set(title="Pressure level (share of contested decisions)", ylim=(0, 1), ylabel="share")
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    ax = axes[1, 0]
    ax.plot(x, ts["trust_mean"], label="trust, patient in clinician")
    ax.plot(x, ts["trust_cp_mean"], label="trust, clinician in patient")
    ax.plot(x, ts["perceived_coercion_mean"], label="perceived coercion")
    ax.plot(x, ts["internal_locus_mean"], label="internal locus of control", linestyle="--")
    ax.set(title="Trust, coercion and locus (0-1)", ylim=(0, 1))
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    ax.plot(x, ts["waiting_list"], label="waiting list")
    ax.plot(x, ts["in_care"], label="in care")
    ax.plot(x, ts["admitted"], label="in hospital")
    ax.set(title="Pathway (people)", ylabel="people")
    ax.legend(fontsize=7)
    ax = axes[2, 0]
    ax.plot(x, ts["stress_mean"], label="clinician stress (mean)")
    ax.plot(x, ts["burnout_share"], label="share burnt out")
    ax.plot(x, ts["defensiveness_mean"], label="defensiveness (mean)")
    ax.plot(x, ts["demand_ratio_mean"] / 2, label="demand/capacity ÷ 2", linestyle=":")
    ax.set(title="Clinicians", ylim=(0, 1), xlabel="week")
    ax.legend(fontsize=7)
    ax = axes[2, 1]
    ax.plot(x, _smooth(ts["clinician_rated_involvement"]), label="clinician-rated")
    ax.plot(x, _smooth(ts["involvement_mean"]), label="enacted")
    ax.plot(x, _smooth(ts["patient_rated_involvement"]), label="patient-rated")
    ax.set(title="Involvement as rated (0-4, 4-week mean)", ylim=(0, 4), xlabel="week")
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def save_run_figure(ts, path: str | Path, title: str = "") -> Path:
    path = Path(path)
    fig = run_figure(ts, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
