"""The browser view for teaching (Mesa SolaraViz): ``solara run model/app.py`` or ``carepath viz``.

Two views, chosen with the tabs in the title bar:

* **One service** - a scenario selector, the policy levers (controls generated from
  :data:`model.params.SCHEMA`: labels, defaults and ranges come from there), a seed box, Mesa's
  Reset / Play / Step controls, and the main area: the care network (clinicians and the patients on
  their caseloads), a plain-language "this week" panel citing the seed papers (S1-S5), and charts
  over time (involvement ladder, pressure levels, trust and perceived coercion, waiting list,
  clinician stress and burnout).
* **Side by side** - two scenarios started from the same seed (so the same patients and
  clinicians), stepped together, with their key charts drawn on shared axes and a running tally.

The page is assembled from SolaraViz's own parts (``ModelController`` for Reset/Play/Step,
``UserInputs`` for the controls, ``ShowSteps`` for the "Time:" counter) rather than the
``SolaraViz`` wrapper, because the wrapper puts every control into one ungrouped card, cannot show
a scenario's own values in the controls when the scenario changes, and lays each chart into a
half-width draggable cell. Reset works as in SolaraViz: Mesa rebuilds the model from the controls,
passing the levers in a :class:`~model.CarePathScenario` (``_build_model_init_kwargs``);
:class:`ClassroomModel` turns that back into "named scenario + the levers as set".

All plots use matplotlib (the Altair/Vega files do not match solara's offline assets). Each
browser tab gets its own models (created when the page mounts), so students on their own laptops
do not step each other's simulation.

The initial scenario comes from the ``CAREPATH_SCENARIO`` environment variable (``carepath viz
--scenario``), default ``england_cmht``.
"""

from __future__ import annotations

import io
import math
import os
import sys
from pathlib import Path

# ``solara run model/app.py`` runs this file as a script and puts its folder (``model/``) first on
# sys.path, where ``model/model.py`` would shadow the ``model`` package. Put the repository root
# there instead, so ``import model`` is the package whether or not it is installed.
_HERE = Path(__file__).resolve().parent
if __name__ != "model.app":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    if str(_HERE.parent) not in sys.path:
        sys.path.insert(0, str(_HERE.parent))

import markdown  # noqa: E402
import numpy as np  # noqa: E402
import reacton.ipywidgets as rw  # noqa: E402
import solara  # noqa: E402
import solara.lab  # noqa: E402
from matplotlib import rc_context  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mesa.experimental.scenarios import Scenario as MesaScenario  # noqa: E402
from mesa.visualization.solara_viz import ModelController, ShowSteps, UserInputs  # noqa: E402
from mesa.visualization.utils import force_update, update_counter  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from model import (  # noqa: E402
    DEFAULT_SCENARIO,
    GROUPS,
    SCENARIOS,
    SCHEMA,
    CarePathwayModel,
    ParameterError,
    resolve_params,
)
from model.outputs import (LADDER_COLOURS, LADDER_LABELS, PRESSURE_COLOURS,  # noqa: E402
                           PRESSURE_LABELS, SMOOTH_WEEKS, stacked_share)
from model.population import NEVER  # noqa: E402
from model.scenarios import check_scenario  # noqa: E402
from model.submodels import Role, Status  # noqa: E402

__all__ = [
    "CHART_KINDS", "ClassroomModel", "LEVERS", "NetworkChart", "Page", "TimeChart",
    "coerce_seed", "control_specs", "initial_scenario", "levers_text", "page", "week_text",
]

#: The levers a teacher moves: every schema parameter marked ``lever``, in schema order.
LEVERS = [p for p in SCHEMA.values() if p.lever]
LEVER_NAMES = tuple(p.name for p in LEVERS)
DEFAULT_SEED = "42"
COMPARE_DEFAULT_RIGHT = "partnership_reform"
TITLES = {name: s.title for name, s in SCENARIOS.items()}
NAME_OF_TITLE = {s.title: name for name, s in SCENARIOS.items()}

#: Short citations of the seed papers (full references: docs/ODD.md, section 12).
PAPERS = {
    "S1": "Moore & Zeeman 2023, resistances to service-user involvement (Health)",
    "S2": "Rugkåsa et al. 2014, trust, deals and authority (Community Ment Health J)",
    "S3": "Boerkoel & Brommels 2022, user-provider partnerships (BMC Psychiatry)",
    "S4": "Tørseth, user participation and care pathways in Norwegian outpatient clinics",
    "S5": "Nakanishi et al. 2021, system-level barriers to recovery (BJPsych Open)",
}

ROLE_MARKERS = {Role.PASSIVE: ("v", "prefers passive role"),
                Role.COLLABORATIVE: ("o", "prefers collaborative role"),
                Role.ACTIVE: ("^", "prefers active role")}
#: Patients who left care this many weeks ago or less are still drawn (grey crosses).
RECENT_WEEKS = 8

#: Readable from the back of a room: large type, thick lines, modest resolution (fast to send).
MPL_STYLE = {
    "font.size": 13, "axes.titlesize": 15, "axes.titleweight": "bold", "axes.labelsize": 13,
    "legend.fontsize": 11, "xtick.labelsize": 12, "ytick.labelsize": 12, "lines.linewidth": 2.5,
    "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 72,
}
CSS = """
.carepath-fig .widget-image, .carepath-fig img { width: 100%; height: auto; }
.carepath-week { font-size: 17px; line-height: 1.45; }
.carepath-week h3 { font-size: 22px; margin-bottom: 6px; }
.carepath-note { font-size: 14px; color: #555; }
.carepath-prose strong { font-weight: 700; }
.carepath-prose ul { padding-left: 20px; }
.carepath-prose table { border-collapse: collapse; width: 100%; }
.carepath-prose th, .carepath-prose td { border-bottom: 1px solid #ddd; padding: 4px 8px; }
.carepath-prose td:not(:first-child), .carepath-prose th:not(:first-child) { text-align: right; }
.v-card__title { word-break: normal; }
"""


# ----------------------------------------------------------------------------- input handling
def initial_scenario() -> str:
    """The scenario the page opens with: ``$CAREPATH_SCENARIO`` or the default."""
    return check_scenario(os.environ.get("CAREPATH_SCENARIO") or DEFAULT_SCENARIO,
                          "environment variable CAREPATH_SCENARIO")


def coerce_seed(value) -> int | None:
    """A seed as typed into the browser (text) -> int; empty -> None (a fresh random run).

    Raises :class:`ParameterError` naming the seed box for anything else."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return value
    if isinstance(value, bool):
        raise ParameterError("seed", value, "a whole number >= 0", "seed box in the browser view")
    if isinstance(value, (int, np.integer)):
        seed = int(value)
    else:
        text = str(value).strip()
        if text == "":
            return None
        try:
            seed = int(text)
        except ValueError:
            raise ParameterError("seed", value, "a whole number >= 0, or empty for a random run",
                                 "seed box in the browser view") from None
    if seed < 0:
        raise ParameterError("seed", value, "a whole number >= 0", "seed box in the browser view")
    return seed


class ClassroomModel(CarePathwayModel):
    """:class:`~model.CarePathwayModel` as the browser view builds it.

    * ``rng`` may be the text typed in the seed box (coerced by :func:`coerce_seed`).
    * On Reset, Mesa passes the controls' values inside a :class:`~model.CarePathScenario`
      whose ``name`` is the chosen scenario. Every lever control is always sent, so all of them
      count as given and are applied as set - including a value that happens to equal the schema
      default (e.g. 16 clinicians in ``high_caseload``); see ``CarePathScenario``.
    """

    def __init__(self, scenario: str | MesaScenario | None = None, *, rng=None, **overrides):
        rng = coerce_seed(rng)
        if isinstance(scenario, MesaScenario) and rng is None:
            rng = coerce_seed(scenario.rng)
        super().__init__(scenario, rng=rng, **overrides)
        #: The seed this run started from (None: random).
        self.seed = rng


def make_model(scenario: str, seed_text: str) -> ClassroomModel:
    return ClassroomModel(scenario, rng=seed_text)


def scenario_levers(scenario: str) -> dict:
    """The lever values of a named scenario (schema defaults + its overrides)."""
    values = resolve_params(scenario)
    return {k: values[k] for k in LEVER_NAMES}


def _step_size(p) -> float | int:
    if p.kind == "int":
        return 1
    span = p.high - p.low  # about a hundred steps: 0.01 on a 0-1 scale, 1 on 0-100
    return 10.0 ** round(math.log10(span / 100.0)) if span > 0 else 0.01


def _slider_high(p, value):
    """Slider maximum: the schema's upper bound, except for head counts whose bound is far above
    any class demonstration (clinicians: 1-1000): there the slider stops at 4x the default (or
    the current value, if larger), else 12 cannot be told from 16 by hand."""
    if p.kind == "int" and p.high > 10 * p.default:
        return int(min(p.high, max(4 * p.default, value)))
    return p.high


def control_specs(values: dict) -> dict[str, dict]:
    """Mesa ``UserInputs`` specs for the levers, grouped by schema group: {group: {name: spec}}.

    Labels, defaults, ranges and types come from :data:`SCHEMA`; ``values`` gives the values the
    controls show (the current scenario's)."""
    groups: dict[str, dict] = {}
    for p in LEVERS:
        value = values[p.name]
        # A slider's label shows its value (solara shows it only while the slider is dragged).
        label = f"{p.display_label}: {value:g}"
        # Plain dicts rather than mesa Slider objects: dicts compare by value, so the controls
        # re-render only when something in them changed.
        if p.kind == "bool":
            spec = {"type": "Checkbox", "value": bool(value), "label": p.display_label}
        elif p.kind == "int":
            spec = {"type": "SliderInt", "value": int(value), "label": label,
                    "min": int(p.low), "max": _slider_high(p, value), "step": 1}
        else:
            spec = {"type": "SliderFloat", "value": float(value), "label": label,
                    "min": float(p.low), "max": float(p.high), "step": _step_size(p)}
        groups.setdefault(p.group, {})[p.name] = spec
    return groups


def initial_params(scenario: str, seed_text: str = DEFAULT_SEED) -> dict:
    """Model parameters as Mesa's ModelController hands them to the model on Reset."""
    return {"name": scenario, "rng": seed_text, **scenario_levers(scenario)}


# ----------------------------------------------------------------------------- drawing
# Speed (the issue asks for a step, rendered, well under half a second): each chart keeps one
# matplotlib Figure with its own Agg canvas. The static part (axes, ticks, titles, legend,
# colour bar) is drawn once and cached as a bitmap ("blitting"); each week only the data artists
# are drawn over it and the bitmap is encoded as PNG. The static part is redrawn only when it
# changes: the time axis grows to 13, 26, 52 weeks and then a year at a time, and counts'
# y-axes in steps of a "nice" number, so that happens rarely. Measured here: ~65 ms per chart
# when built anew, ~25 ms when updated in place, 3-5 ms blitted (the network: ~35 ms).
def _encode(canvas, compress: int = 1) -> bytes:
    w, h = canvas.get_width_height(physical=True)
    img = PILImage.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", compress_level=compress)
    return buf.getvalue()


def _series(model, key) -> np.ndarray:
    return np.asarray(model.datacollector.model_vars[key], dtype=float)


def _weeks(model) -> np.ndarray:
    return np.asarray(model.datacollector.model_vars["week"], dtype=float)


def _nice_ceiling(x: float) -> float:
    """Smallest of 5, 10, 20, 50, 100, 200, ... at or above ``x``."""
    top = 5.0
    while top < x:
        top *= 2.5 if str(int(top))[0] == "2" else 2.0
    return top


class _Blitted:
    """A figure whose static background is cached; subclasses mark data artists animated."""

    def _start(self, figsize):
        self.fig = Figure(figsize=figsize)
        self.canvas = FigureCanvasAgg(self.fig)
        self._background = None
        self._static_key = None

    def _animated(self):
        raise NotImplementedError

    def _render(self, static_key) -> bytes:
        if static_key != self._static_key or self._background is None:
            self.canvas.draw()  # animated artists are left out of a full draw
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._static_key = static_key
        else:
            self.canvas.restore_region(self._background)
        renderer = self.canvas.get_renderer()
        for artist in self._animated():
            if artist.get_visible():
                artist.draw(renderer)
        return _encode(self.canvas)


class _Stack:
    """Stacked shares (0-1) of ``prefix0`` ... ``prefix4`` over the weeks (trailing
    :data:`SMOOTH_WEEKS`-week means), updated in place."""

    ylim = (0, 1)

    def __init__(self, ax, prefix, labels, colours):
        self.prefix = prefix
        self.artists = [ax.fill_between([0, 1], [0, 0], [0, 0], color=c, label=lab, lw=0,
                                        animated=True)
                        for lab, c in zip(labels, colours)]

    def update(self, model) -> float:
        w = _weeks(model)[1:]
        bottom = np.zeros(len(w))
        for k, poly in enumerate(self.artists):
            top = bottom + stacked_share(_series(model, f"{self.prefix}{k}")[1:])
            verts = (np.concatenate([np.column_stack([w, top]),
                                     np.column_stack([w[::-1], bottom[::-1]])])
                     if len(w) else np.zeros((0, 2)))
            poly.set_verts([verts])
            bottom = top
        return 1.0


class _Lines:
    """Some time series as lines, updated in place."""

    def __init__(self, ax, series, ylim=None):
        self.keys = [s[0] for s in series]
        self.artists = [ax.plot([], [], label=label, color=colour, ls=style, animated=True)[0]
                        for _key, label, colour, style in series]
        self.ylim = ylim

    def update(self, model) -> float:
        w = _weeks(model)
        top = 0.0
        for key, line in zip(self.keys, self.artists):
            y = _series(model, key)
            line.set_data(w, y)
            if np.isfinite(y).any():
                top = max(top, float(np.nanmax(y)))
        return top


#: The charts over time: key -> (title, artist factory).
CHART_KINDS = {
    "involvement": (f"Involvement ladder (share of decisions, {SMOOTH_WEEKS}-week mean)",
                    lambda ax: _Stack(ax, "involvement_share_", LADDER_LABELS, LADDER_COLOURS)),
    "pressure": (f"Pressure used (share of decisions, {SMOOTH_WEEKS}-week mean)",
                 lambda ax: _Stack(ax, "pressure_share_", PRESSURE_LABELS, PRESSURE_COLOURS)),
    "trust": ("Trust and perceived coercion",
              lambda ax: _Lines(ax, [("trust_mean", "patients' trust", "#1b7837", "-"),
                                     ("trust_cp_mean", "clinicians' trust", "#4a7fb5", "--"),
                                     ("perceived_coercion_mean", "perceived coercion",
                                      "#b2182b", "-")], (0, 1))),
    "waiting": ("Waiting list and hospital",
                lambda ax: _Lines(ax, [("waiting_list", "waiting list", "#8c510a", "-"),
                                       ("admitted", "in hospital", "#542788", "--")])),
    "stress": ("Clinician stress and burnout",
               lambda ax: _Lines(ax, [("stress_mean", "mean stress", "#6a51a3", "-"),
                                      ("burnout_share", "share burnt out", "#252525", "--")],
                                 (0, 1))),
}
CHARTS = tuple(CHART_KINDS)


def axis_weeks(week: int) -> int:
    """Right end of the time axis: 13, 26 or 52 weeks, then whole years; it changes rarely, so
    the chart's static part is redrawn rarely."""
    for end in (13, 26, 52):
        if week <= end:
            return end
    return 52 * math.ceil(week / 52)


class TimeChart(_Blitted):
    """One chart over time for one model (``kind`` in :data:`CHART_KINDS`), or for two models
    side by side on shared axes (``pair=True``, the side-by-side view)."""

    def __init__(self, kind: str, pair: bool = False):
        title, factory = CHART_KINDS[kind]
        self.kind, self.pair, self.title = kind, pair, title
        with rc_context(MPL_STYLE):
            self._start((12.5, 3.9) if pair else (6.4, 4.0))
            axes = self.fig.subplots(1, 2 if pair else 1, sharey=True, squeeze=False)[0]
            self.axes = list(axes)
            self.parts = [factory(ax) for ax in self.axes]
            for ax in self.axes:
                ax.set_xlabel("week")
                ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
                ax.yaxis.set_major_locator(MaxNLocator(5))
            self.fig.suptitle(title, fontsize=15, fontweight="bold")
            if pair:
                self.fig.subplots_adjust(left=0.06, right=0.83, top=0.78, bottom=0.16, wspace=0.08)
            else:
                self.fig.subplots_adjust(left=0.12, right=0.64, top=0.86, bottom=0.16)
            handles, labels = self.axes[-1].get_legend_handles_labels()
            if isinstance(self.parts[0], _Stack):
                handles, labels = handles[::-1], labels[::-1]
            self.axes[-1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
                                 frameon=False)

    def _animated(self):
        return [a for part in self.parts for a in part.artists]

    def png(self, *models) -> bytes:
        """Update to the models' current histories and return the chart as PNG bytes."""
        with rc_context(MPL_STYLE):
            top = max(part.update(m) for part, m in zip(self.parts, models))
            week = max(m.week for m in models)
            xmax = axis_weeks(week)
            ylim = self.parts[0].ylim or (0, _nice_ceiling(1.1 * top))
            titles = tuple(TITLES.get(m.scenario_name, m.scenario_name) for m in models)
            key = (xmax, ylim, titles if self.pair else None)
            if key != self._static_key:
                for ax, t in zip(self.axes, titles):
                    ax.set_xlim(0, xmax)
                    ax.set_ylim(*ylim)
                    if self.pair:
                        ax.set_title(t, fontsize=13, fontweight="normal")
            return self._render(key)


def network_positions(model):
    """Cheap, stable positions: clinicians on a circle, each patient in a small disc around
    their clinician at a place fixed by the patient's index (golden-angle spiral), patients who
    left care recently on an outer ring (near their last clinician). No layout algorithm runs.

    Returns (clinician_xy, patient_idx, patient_xy, recent_idx, recent_xy, disc_radius)."""
    pa = model.patients
    n_c = len(model.clinician_agents)
    status = pa.view("status")
    clin = pa.view("clinician")
    theta = np.pi / 2 - 2 * np.pi * np.arange(n_c) / max(n_c, 1)
    cxy = np.column_stack([np.cos(theta), np.sin(theta)])
    r_disc = min(0.45, 0.9 * np.pi / max(n_c, 1))
    in_service = ((status == Status.IN_CARE) | (status == Status.ADMITTED)) & (clin >= 0)
    idx = np.flatnonzero(in_service)
    u = (idx * 0.6180339887498949) % 1.0
    rad = r_disc * (0.3 + 0.7 * np.sqrt(u))
    ang = idx * 2.399963229728653
    pxy = cxy[clin[idx]] + np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])
    left = (status == Status.DISENGAGED) | (status == Status.DISCHARGED)
    last_week = pa.view("last_in_care_week")
    recent = np.flatnonzero(left & (last_week >= model.week - RECENT_WEEKS) & (last_week > NEVER))
    outer = 1.0 + r_disc + 0.12
    jitter = (((recent * 0.6180339887498949) % 1.0) - 0.5) * (2 * np.pi / max(n_c, 1)) * 0.8
    last = pa.view("last_clinician")[recent]
    a = np.where(last >= 0, theta[last], recent * 2.399963229728653) + jitter
    rxy = np.column_stack([outer * np.cos(a), outer * np.sin(a)])
    return cxy, idx, pxy, recent, rxy, r_disc


class NetworkChart(_Blitted):
    """The care network, updated in place each week.

    Clinicians: squares on a circle, numbered (integer node labels), shade = stress. Patients in
    care or in hospital around their clinician: colour = trust in their clinician, marker =
    preferred role, thick black ring = under compulsion (detained, or on a community treatment
    order). Grey lines: caseload links; blue lines: patients' social ties. Grey crosses:
    disengaged in the last weeks; grey dots: discharged in the last weeks."""

    def __init__(self, size=(9.6, 7.0)):
        with rc_context(MPL_STYLE):
            self._start(size)
            ax = self.ax = self.fig.add_axes([0.0, 0.0, 0.7, 0.93])
            ax.set_aspect("equal")
            ax.axis("off")
            self.links = ax.add_collection(LineCollection(
                [], colors="#bbbbbb", linewidths=0.5, alpha=0.6, zorder=1, animated=True))
            self.ties = ax.add_collection(LineCollection(
                [], colors="#4a7fb5", linewidths=0.5, alpha=0.18, zorder=2, animated=True))
            empty = np.zeros((0, 2))
            self.patients = {
                r: ax.scatter(empty[:, 0], empty[:, 1], c=[], cmap="RdYlGn", vmin=0, vmax=1,
                              marker=marker, s=46, zorder=3, animated=True)
                for r, (marker, _) in ROLE_MARKERS.items()}
            self.disengaged = ax.scatter(empty[:, 0], empty[:, 1], marker="x", s=40,
                                         c="#555555", linewidths=1.6, zorder=3, animated=True)
            self.discharged = ax.scatter(empty[:, 0], empty[:, 1], marker=".", s=30,
                                         c="#999999", zorder=3, animated=True)
            self.clinicians = ax.scatter(empty[:, 0], empty[:, 1], marker="s", c=[],
                                         cmap="Purples", vmin=0, vmax=1, edgecolors="black",
                                         linewidths=1.2, zorder=4, animated=True)
            self.title = ax.set_title("", animated=True)
            self.labels: list = []
            cax = self.fig.add_axes([0.75, 0.06, 0.03, 0.42])
            cb = self.fig.colorbar(self.patients[Role.COLLABORATIVE], cax=cax)
            cb.set_label("patient's trust in clinician")
            handles = [Line2D([], [], marker=m, ls="", color="#777777", label=lab, markersize=8)
                       for m, lab in ROLE_MARKERS.values()]
            handles += [
                Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=2.2,
                       markersize=9, label="under compulsion"),
                Line2D([], [], marker="x", ls="", color="#555555", mew=1.6, markersize=8,
                       label=f"disengaged (last {RECENT_WEEKS} wk)"),
                Line2D([], [], marker="s", ls="", mfc="#9e9ac8", mec="black", markersize=10,
                       label="clinician (shade = stress)"),
                Line2D([], [], color="#4a7fb5", alpha=0.6, label="patients' social ties"),
            ]
            self.fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.7, 0.97),
                            fontsize=11, frameon=False)

    def _animated(self):
        return [self.links, self.ties, *self.patients.values(), self.disengaged,
                self.discharged, self.clinicians, *self.labels, self.title]

    def png(self, model) -> bytes:
        with rc_context(MPL_STYLE):
            lim = self.update(model)
            return self._render(lim)

    def update(self, model) -> float:
        """Move the artists to the model's current state; returns the axis half-width."""
        ax, pa = self.ax, model.patients
        cxy, idx, pxy, recent, rxy, r_disc = network_positions(model)
        pos = np.full((pa.n, 2), np.nan)
        pos[idx] = pxy
        pos[recent] = rxy
        clin = pa.view("clinician")[idx]
        self.links.set_segments(np.stack([pxy, cxy[clin]], axis=1))
        e = model.patient_ties
        e = e[~np.isnan(pos[e[:, 0], 0]) & ~np.isnan(pos[e[:, 1], 0])]
        self.ties.set_segments(np.stack([pos[e[:, 0]], pos[e[:, 1]]], axis=1))
        trust = pa.view("trust_pc")[idx]
        role = pa.view("role")[idx]
        status = pa.view("status")[idx]
        compelled = ((status == Status.ADMITTED) & pa.view("compulsory")[idx]) | (
            pa.view("cto_weeks_left")[idx] > 0)
        for r, sc in self.patients.items():
            m = role == r
            sc.set_offsets(pxy[m])
            sc.set_array(trust[m])
            sc.set_edgecolors(np.where(compelled[m], "black", "none"))
            sc.set_linewidths(np.where(compelled[m], 2.2, 0.0))
        dis = pa.view("status")[recent] == Status.DISENGAGED
        self.disengaged.set_offsets(rxy[dis])
        self.discharged.set_offsets(rxy[~dis])
        stress = np.asarray(model.clinicians.stress, dtype=float)
        many = len(cxy) > 40
        self.clinicians.set_offsets(cxy)
        self.clinicians.set_array(stress)
        self.clinicians.set_sizes([60 if many else 320])
        if many or len(self.labels) != len(cxy):  # numbered labels, made again only when the
            for t in self.labels:                  # number of clinicians changes
                t.remove()
            self.labels = [] if many else [
                ax.text(0.0, 0.0, str(k), ha="center", va="center", fontsize=9, zorder=5,
                        animated=True) for k in range(len(cxy))]
        for t, (x, y), st in zip(self.labels, cxy, stress):
            t.set_position((x, y))
            t.set_color("white" if st > 0.55 else "black")
        lim = round(1.0 + r_disc + 0.25, 6)
        if ax.get_xlim() != (-lim, lim):
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        # The same counts as the text panel: the disc also holds inpatients with a coordinator.
        everyone = pa.view("status")
        in_care = int((everyone == Status.IN_CARE).sum())
        in_hosp = int((everyone == Status.ADMITTED).sum())
        self.title.set_text(f"Week {model.week}: {in_care} in care, {in_hosp} in hospital")
        return lim


# ----------------------------------------------------------------------------- plain language
def _fmt_share(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def week_text(model) -> str:
    """Markdown: what happened this week, in plain words, citing the seed papers."""
    s = model.week_stats
    inv3 = s["involvement_share_3"] + s["involvement_share_4"] if s["decisions"] else math.nan
    pres = 1 - s["pressure_share_0"] if s["decisions"] else math.nan
    seed = "random" if model.seed is None else model.seed
    lines = [
        f"### Week {model.week} - {TITLES.get(model.scenario_name, model.scenario_name)}",
        f"**{int(s['in_care'])}** in care, **{int(s['waiting_list'])}** waiting, "
        f"**{int(s['admitted'])}** in hospital. Seed {seed}.",
        "",
    ]
    if model.week == 0:
        lines.append("Press **Step** to run a week, or **▶** to keep going.")
    else:
        lines += [
            f"- **{int(s['decisions'])} contested care decisions** this week. "
            f"{_fmt_share(inv3)} were shared or patient-led; "
            f"{_fmt_share(s['involvement_share_0'])} overrode the patient (S3, S4).",
            f"- **Pressure**: {_fmt_share(pres)} of decisions used leverage, an offer, a threat "
            "or compulsion (S2).",
            f"- **Deals**: {int(s['deals_made'])} made, {int(s['deals_honoured'])} honoured, "
            f"{int(s['deals_broken'])} broken. A deal needs trust, and a broken one costs it (S2).",
            f"- **Threats**: {int(s['threats'])}. Asserting authority can get a decision through "
            "but strains the relationship (S2).",
            f"- **Compulsory admissions**: {int(s['compulsory_admissions'])} "
            f"(voluntary: {int(s['voluntary_admissions'])}). Coercion weighs most on people with "
            "trauma (S5).",
            f"- **Rationing**: {_fmt_share(s['rationing_rate'])} of decisions about therapy, "
            "psychosocial or housing places ended with no place offered - coping in a service "
            "gap (S4).",
            f"- **Clinicians**: mean stress {_fmt(s['stress_mean'])}, "
            f"{_fmt_share(s['burnout_share'])} burnt out. Power can shield staff from stress "
            "(S1).",
            f"- **Patients**: trust {_fmt(s['trust_mean'])}, perceived coercion "
            f"{_fmt(s['perceived_coercion_mean'])}; {int(s['disengagements'])} walked away.",
        ]
    return "\n".join(lines)


def levers_text(model) -> str:
    """Markdown: the levers of this run that differ from the schema default, and their meaning."""
    changed = [p for p in LEVERS if model.p[p.name] != p.default]
    lines = ["#### What the levers in this run mean", ""]
    if not changed:
        lines.append("All levers are at the England-like default.")
    for p in changed:
        value = model.p[p.name]
        shown = ("yes" if value else "no") if p.kind == "bool" else f"{value:g}"
        lines.append(f"- **{p.display_label} = {shown}** ({p.unit or 'on/off'}): {p.meaning} "
                     f"*Source: {p.source or '-'}.*")
    lines += ["", "Seed papers: " + "; ".join(f"**{k}** {v}" for k, v in PAPERS.items()) + "."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- components
def prose_html(md_text: str) -> str:
    """Markdown -> HTML. (solara.Markdown fetches KaTeX from a CDN for maths; with no internet
    that is a failed request and a console error, so the app renders its own text this way.)"""
    return markdown.markdown(md_text, extensions=["tables"])


@solara.component
def Prose(md_text: str, style: dict | None = None):
    """Plain-language text written by this module (never user input), as HTML."""
    css = "; ".join(f"{k}: {v}" for k, v in (style or {}).items())
    html = solara.use_memo(lambda: prose_html(md_text), [md_text])  # converted when it changes
    return solara.HTML(tag="div", unsafe_innerHTML=html, style=css,
                       classes=["carepath-prose"])


@solara.component
def Png(png: bytes, classes=("carepath-fig",)):
    return solara.Div(classes=list(classes), children=[rw.Image(value=png, format="png")])


@solara.component
def ModelChart(model, kind: str, active: bool = True):
    """One chart of one model (``kind``: "network" or a key of :data:`CHART_KINDS`); redrawn
    when the model steps (Mesa's update counter) or is replaced (Reset), unless the view is
    hidden (``active=False``): then it keeps its last picture until shown again."""
    update_counter.get()
    chart = solara.use_memo(lambda: NetworkChart() if kind == "network" else TimeChart(kind),
                            [kind])
    png = solara.use_memo(lambda: chart.png(model),
                          dependencies=[chart, model, model.steps if active else "hidden"])
    return Png(png)


@solara.component
def PairChart(left, right, kind: str, week: int):
    """One chart of two models on shared axes (side-by-side view)."""
    chart = solara.use_memo(lambda: TimeChart(kind, pair=True), [kind])
    png = solara.use_memo(lambda: chart.png(left, right),
                          dependencies=[chart, left, right, week])
    return Png(png)


@solara.component
def WeekPanel(model, active: bool = True):
    """This week in words; like the charts, not redrawn while its view is hidden."""
    update_counter.get()
    week, levers = solara.use_memo(lambda: (week_text(model), levers_text(model)),
                                   dependencies=[model, model.steps if active else "hidden"])
    with solara.Div(classes=["carepath-week"]) as main:
        Prose(week)
        Prose(levers)
    return main


@solara.component
def ServiceDashboard(model, active: bool = True):
    """Main area of the one-service view (its charts follow the model on their own).

    Rows: the network | this week in words; involvement ladder | pressure; trust and coercion |
    waiting list; stress and burnout | how to read the views."""
    with solara.Column(gap="8px") as main:
        with solara.Columns([7, 5]):
            with solara.Card(margin=0):
                ModelChart(model, "network", active)
            with solara.Card(margin=0):
                WeekPanel(model, active)
        for row in (("involvement", "pressure"), ("trust", "waiting")):
            with solara.Columns([1, 1]):
                for kind in row:
                    with solara.Card(margin=0):
                        ModelChart(model, kind, active)
        with solara.Columns([1, 1]):
            with solara.Card(margin=0):
                ModelChart(model, "stress", active)
            with solara.Card("Reading the views", margin=0):
                Prose(READING, style={"font-size": "15px"})
    return main


READING = (
    "**Network**: squares are clinicians (numbered; darker = more stressed), the marks around "
    "each are the patients on their caseload, coloured by their trust in that clinician (red low, "
    "green high); triangles down/circles/triangles up = patients who prefer a passive, "
    "collaborative or active role in decisions; a thick black ring = under compulsion (detained "
    "or on a community treatment order); grey crosses outside = walked away recently; blue lines "
    "= friendships between patients, through which experiences of the service spread (S5). "
    "**Involvement ladder**: overridden, informed, consulted, shared (including agreed deals), "
    "patient-led (including honoured advance statements) (S3, S4). **Pressure**: the "
    "clinician's means of influence, from persuasion through leverage, offers and threats to "
    "compulsion (S2). Trust, coercion and stress are means on a 0-1 scale. Definitions: "
    "docs/ODD.md, section 7.13.")


@solara.component
def SeedBox(seed_text: solara.Reactive[str], on_seed=None, label="Random seed"):
    """Seed as text: a whole number repeats a run exactly; empty gives a random run."""
    draft, set_draft = solara.use_state(seed_text.value)
    error = None
    try:
        coerce_seed(draft)
    except ParameterError:
        error = "not a whole number >= 0; still using " + (seed_text.value or "a random seed")

    def accept(text):
        set_draft(text)
        try:
            coerce_seed(text)
        except ParameterError:
            return
        seed_text.value = text
        if on_seed:
            on_seed(text)

    solara.InputText(label, value=draft, on_value=accept, error=error or False,
                     message="same seed, same patients; empty = random",
                     continuous_update=True)


def _display(visible: bool) -> dict:
    """Style that hides an element while keeping it (and its state) mounted."""
    return {} if visible else {"display": "none"}


@solara.component
def SingleView(model: solara.Reactive, params: solara.Reactive[dict], visible: bool = True):
    """One service: scenario, controls and Mesa's Reset/Play/Step on the left, views on the
    right. Hidden, not removed, while the side-by-side tab is shown: Mesa's ModelController
    must stay mounted, or a running ▶ loop would be orphaned."""
    play_interval = solara.use_reactive(250)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    seed = solara.use_reactive(params.value["rng"])

    def choose_scenario(title):
        name = NAME_OF_TITLE[title]
        new = initial_params(name, params.value["rng"])
        params.value = new
        model.value = make_model(name, new["rng"])
        force_update()

    def on_seed(text):
        params.value = {**params.value, "rng": text}

    def on_change(name, value):
        params.value = {**params.value, name: value}

    name = params.value["name"]
    m = model.value
    pending = [p.display_label for p in LEVERS if params.value[p.name] != m.p[p.name]]
    if name != m.scenario_name:
        pending.insert(0, "scenario")
    if str(coerce_seed(params.value["rng"])) != str(m.seed):
        pending.append("seed")

    with solara.Sidebar(), solara.Div(style=_display(visible)):
        with solara.Card("Scenario"):
            solara.Select("Scenario", values=list(NAME_OF_TITLE), value=TITLES[name],
                          on_value=choose_scenario)
            Prose(SCENARIOS[name].description, style={"font-size": "14px"})
        with solara.Card("Run"):
            ModelController(model, model_parameters=params, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
            ShowSteps(model.value)
            solara.SliderInt(f"Play speed: {play_interval.value} ms per week",
                             value=play_interval, min=50, max=1000, step=50)
            SeedBox(seed, on_seed=on_seed)
            if pending:
                solara.Warning("Changed: " + ", ".join(pending) + ". Press Reset to apply.",
                               dense=True)
            else:
                solara.Text("Controls take effect when you press Reset.",
                            classes=["carepath-note"])
        for group, specs in control_specs(params.value).items():
            with solara.Card(GROUPS.get(group, group)):
                UserInputs(specs, on_change=on_change)
    with solara.Div(style=_display(visible)):
        ServiceDashboard(model.value, visible)


def make_pair(left: str, right: str, seed_text: str):
    return make_model(left, seed_text), make_model(right, seed_text)


def _short(name: str) -> str:
    """A scenario's title without its parenthesis (for narrow table headers)."""
    return TITLES.get(name, name).split(" (")[0]


def tally_rows(left, right) -> str:
    """Markdown table: totals so far in both runs and the difference (right - left). With the
    same seed, differences come from the scenarios' levers and resources."""
    def total(m, key):
        return float(np.nansum(_series(m, key)[1:]))

    def recent(m, key, weeks=8):
        x = _series(m, key)[1:][-weeks:]
        x = x[~np.isnan(x)]
        return float(x.mean()) if len(x) else math.nan

    def now(m, key):
        return float(_series(m, key)[-1])

    rows = [
        ("Deals made", "deals_made", total, "{:.0f}"),
        ("Deals broken", "deals_broken", total, "{:.0f}"),
        ("Threats", "threats", total, "{:.0f}"),
        ("Compulsory admissions", "compulsory_admissions", total, "{:.0f}"),
        ("Walked away (disengaged)", "disengagements", total, "{:.0f}"),
        ("Involvement, level 0-4 *", "involvement_mean", recent, "{:.2f}"),
        ("Trust in clinician *", "trust_mean", recent, "{:.2f}"),
        ("Perceived coercion *", "perceived_coercion_mean", recent, "{:.2f}"),
        ("Clinician stress *", "stress_mean", recent, "{:.2f}"),
        ("Waiting list now", "waiting_list", now, "{:.0f}"),
    ]
    out = [f"| Week {left.week} | {_short(left.scenario_name)} | {_short(right.scenario_name)} "
           "| right - left |", "|---|---:|---:|---:|"]
    for label, key, fn, fmt in rows:
        a, b = fn(left, key), fn(right, key)
        cells = ["n/a" if math.isnan(x) else fmt.format(x) for x in (a, b)]
        diff = "n/a" if math.isnan(a) or math.isnan(b) else ("{:+" + fmt[2:]).format(b - a)
        out.append(f"| {label} | {cells[0]} | {cells[1]} | {diff} |")
    out += ["", "Counts are totals since week 0; * = mean of the last 8 weeks."]
    return "\n".join(out)


@solara.component
def CompareView(pair: solara.Reactive, compare: solara.Reactive[dict], visible: bool = True):
    """Two scenarios, same seed, stepping together; key charts on shared axes. Mounted the
    first time its tab is chosen, then hidden rather than removed."""
    tick = solara.use_reactive(0)  # its own counter: the one-service run does not redraw it
    tick.get()  # subscribe: Step both / +10 weeks bump it
    left, right = pair.value
    seed = solara.use_reactive(compare.value["seed"])

    def rebuild(**change):
        cfg = {**compare.value, **change}
        compare.value = cfg
        pair.value = make_pair(cfg["left"], cfg["right"], cfg["seed"])

    def step(n):
        def run():
            for _ in range(n):
                left.step()
                right.step()
            tick.value += 1
        return run

    with solara.Sidebar(), solara.Div(style=_display(visible)):
        with solara.Card("Side by side"):
            Prose("Two scenarios start from the **same seed**: the same patients and clinicians, "
                  "the same luck. Differences come from the policy.",
                  style={"font-size": "15px"})
            solara.Select("Left scenario", values=list(NAME_OF_TITLE),
                          value=TITLES[compare.value["left"]],
                          on_value=lambda t: rebuild(left=NAME_OF_TITLE[t]))
            solara.Select("Right scenario", values=list(NAME_OF_TITLE),
                          value=TITLES[compare.value["right"]],
                          on_value=lambda t: rebuild(right=NAME_OF_TITLE[t]))
            SeedBox(seed, on_seed=lambda text: rebuild(seed=text), label="Seed (both runs)")
            with solara.Row(justify="space-between"):
                solara.Button("Reset both", color="primary", on_click=lambda: rebuild())
                solara.Button("Step both", color="primary", on_click=step(1))
                solara.Button("+10 weeks", color="primary", on_click=step(10))
            solara.Text(f"Week: {left.week}")
    # A Div, not a Column, hides: vuetify's d-flex class (Column) wins over display: none.
    with solara.Div(style=_display(visible)), solara.Column(gap="8px"):
        with solara.Columns([1, 1]):
            with solara.Column(gap="8px"):
                for side, m in (("Left", left), ("Right", right)):
                    with solara.Card(f"{side}: {TITLES[m.scenario_name]}", margin=0):
                        Prose(SCENARIOS[m.scenario_name].description,
                              style={"font-size": "15px"})
            with solara.Card("Totals so far", margin=0):
                Prose(tally_rows(left, right), style={"font-size": "16px"})
        for kind in CHARTS:
            with solara.Card(margin=0):
                PairChart(left, right, kind, left.week)


@solara.component
def Page():
    """The whole app: tabs "One service" and "Side by side" in the title bar."""
    start = solara.use_memo(initial_scenario, [])
    first = solara.use_memo(lambda: make_model(start, DEFAULT_SEED), [])
    model = solara.use_reactive(first)
    params = solara.use_reactive(solara.use_memo(lambda: initial_params(start), []))
    right0 = start if start != DEFAULT_SCENARIO else COMPARE_DEFAULT_RIGHT
    compare = solara.use_reactive(solara.use_memo(
        lambda: {"left": DEFAULT_SCENARIO, "right": right0, "seed": DEFAULT_SEED}, []))
    # Both side-by-side models are built now (a few ms) and kept, whichever tab is shown.
    pair = solara.use_reactive(solara.use_memo(
        lambda: make_pair(DEFAULT_SCENARIO, right0, DEFAULT_SEED), []))
    view = solara.use_reactive(0)
    compare_opened = solara.use_reactive(False)

    def choose_view(index):
        view.value = index
        if index == 1:
            compare_opened.value = True

    # A Div, not the default Column: the invisible elements below would each add a gap.
    with solara.Div() as main:
        solara.Style(CSS)
        solara.Title("carepath")
        with solara.AppBarTitle():
            solara.Text("carepath: power, trust and involvement in a mental-health service")
        with solara.AppBar():
            with solara.lab.Tabs(value=view.value, on_value=choose_view, align="center"):
                solara.lab.Tab("One service")
                solara.lab.Tab("Side by side")
        SingleView(model, params, visible=view.value == 0)
        if compare_opened.value:
            CompareView(pair, compare, visible=view.value == 1)
    return main


#: Module-level element for ``solara run`` and for notebooks (``from model.app import page``).
page = Page()
