"""The browser view without a browser: the component tree rendered with ``solara.render``, the
controls derived from the schema, seeds typed as text, Mesa's Reset path, the charts and the
server launcher. The real-browser test is tests/test_browser.py."""

from __future__ import annotations

import socket
import statistics
import time

import numpy as np
import pytest

pytest.importorskip("solara", reason="the browser view needs the 'viz' extra")

import ipyvuetify as vw  # noqa: E402
import ipywidgets  # noqa: E402
import solara  # noqa: E402
from mesa.visualization.solara_viz import _build_model_init_kwargs  # noqa: E402

from model import SCENARIOS, SCHEMA, CarePathError, CarePathwayModel, ParameterError  # noqa: E402
from model import app  # noqa: E402
from model import viz_server  # noqa: E402
from model.submodels import Status  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def render_page():
    """The app inside solara's AppLayout (as `solara run` serves it; the sidebar needs it)."""
    box, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    return rc


def button(rc, label):
    return rc.find(vw.Btn, children=[label]).widget


def texts(rc) -> str:
    """All text in the rendered widget tree (plain strings and HTML), for loose assertions."""
    parts, seen = [], set()

    def walk(obj):
        if isinstance(obj, str):
            parts.append(obj)
        elif isinstance(obj, (list, tuple)):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            walk(list(obj.values()))
        elif isinstance(obj, ipywidgets.Widget) and id(obj) not in seen:
            seen.add(id(obj))
            if getattr(obj, "unsafe_innerHTML", None):
                parts.append(obj.unsafe_innerHTML)
            walk(getattr(obj, "children", []))
            walk(getattr(obj, "v_slots", []))

    walk(rc.container)
    return "\n".join(parts)


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def slider(rc, label_start):
    matches = [w for w in rc.find(vw.Slider).widgets if str(w.label).startswith(label_start)]
    assert len(matches) == 1, [w.label for w in rc.find(vw.Slider).widgets]
    return matches[0]


# ----------------------------------------------------------------------------- the page
def test_page_renders_steps_and_redraws():
    rc = render_page()
    assert "Time: 0.0" in texts(rc)
    before = images(rc)
    assert len(before) == 6 and all(b.startswith(PNG) for b in before)  # network + 5 charts
    for _ in range(3):
        button(rc, "Step").click()
    t = texts(rc)
    assert "Time: 3.0" in t
    assert f"Week 3 - {SCENARIOS['england_cmht'].title}" in t  # the plain-language panel
    after = images(rc)
    assert all(a != b for a, b in zip(after, before)), "every chart should redraw on Step"


def test_step_plus_render_time_of_the_default_scenario():
    """One Step of the default scenario and the redraw of every view, measured in-process (the
    browser test measures the same in Chromium). Printed, not asserted: CI does not gate on
    time."""
    rc = render_page()
    step = button(rc, "Step")
    for _ in range(3):
        step.click()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        step.click()
        times.append(time.perf_counter() - t0)
    print(f"\nstep + render in-process (default scenario): median "
          f"{1000 * statistics.median(times):.0f} ms over {len(times)} steps")
    assert "Time: 10.0" in texts(rc)


def test_a_lever_moved_then_reset_reaches_the_model():
    rc = render_page()
    s = slider(rc, "SDM training")
    assert s.v_model == 0.0 and (s.min, s.max) == (SCHEMA["sdm_training"].low,
                                                    SCHEMA["sdm_training"].high)
    s.v_model = 0.5
    assert "Changed: SDM training" in texts(rc)
    assert slider(rc, "SDM training").label == "SDM training: 0.5"
    button(rc, "Reset").click()
    t = texts(rc)
    assert "Changed:" not in t
    assert "SDM training = 0.5" in t  # "what the levers mean" lists the changed lever


def test_choosing_a_scenario_starts_it_and_shows_its_values():
    rc = render_page()
    button(rc, "Step").click()
    select = [w for w in rc.find(vw.Select).widgets if w.label == "Scenario"][0]
    select.v_model = SCENARIOS["high_caseload"].title
    t = texts(rc)
    assert "Time: 0.0" in t and f"Week 0 - {SCENARIOS['high_caseload'].title}" in t
    hc = app.scenario_levers("high_caseload")
    assert hc["caseload_cap"] != SCHEMA["caseload_cap"].default
    assert slider(rc, "Caseload cap").v_model == hc["caseload_cap"]  # the scenario's value
    assert slider(rc, "Clinicians").v_model == hc["n_clinicians"]
    # Reset keeps the scenario, with the controls as they are.
    default = SCHEMA["n_clinicians"].default
    assert hc["n_clinicians"] != default
    slider(rc, "Clinicians").v_model = default  # equals the schema default: must still apply
    assert "Changed: Clinicians" in texts(rc)
    button(rc, "Reset").click()
    t = texts(rc)
    assert f"Week 0 - {SCENARIOS['high_caseload'].title}" in t
    assert "Changed:" not in t  # the model now runs with what the controls show
    assert slider(rc, "Clinicians").v_model == default


def test_seed_box_takes_text_and_refuses_nonsense():
    rc = render_page()
    box = [w for w in rc.find(vw.TextField).widgets if w.label == "Random seed"][0]
    box.v_model = "abc"
    assert box.error_messages or box.error, "a bad seed is flagged next to the box"
    box.v_model = "7"
    button(rc, "Reset").click()
    assert "Seed 7." in texts(rc)


def test_side_by_side_steps_both_runs_together():
    rc = render_page()
    button(rc, "Step").click()
    one_service = set(images(rc))
    tabs = rc.find(vw.Tabs).widget
    tabs.v_model = 1
    t = texts(rc)
    assert "Week: 0" in t and SCENARIOS["partnership_reform"].title in t
    everything = set(images(rc))
    assert one_service <= everything  # the hidden one-service views stay as they were
    pairs_before = everything - one_service
    assert len(pairs_before) == 5 and all(b.startswith(PNG) for b in pairs_before)
    button(rc, "Step both").click()
    button(rc, "+10 weeks").click()
    t = texts(rc)
    assert "Week: 11" in t
    assert "right - left" in t
    pairs_after = set(images(rc)) - one_service
    assert len(pairs_after) == 5 and not pairs_after & pairs_before
    # Back to one service: its run is where it was, and it was not redrawn meanwhile.
    tabs.v_model = 0
    assert "Time: 1.0" in texts(rc)
    assert one_service <= set(images(rc))


# ----------------------------------------------------------------------------- controls
def test_controls_are_the_schema_levers_with_their_ranges():
    values = app.scenario_levers("england_cmht")
    specs = app.control_specs(values)
    flat = {k: v for group in specs.values() for k, v in group.items()}
    assert list(flat) == [p.name for p in SCHEMA.values() if p.lever]
    for name, spec in flat.items():
        p = SCHEMA[name]
        assert spec["value"] == p.default
        assert spec["label"].startswith(p.display_label)
        if p.kind == "bool":
            assert spec["type"] == "Checkbox"
            continue
        assert spec["type"] == ("SliderInt" if p.kind == "int" else "SliderFloat")
        assert spec["min"] == p.low
        assert p.default <= spec["max"] <= p.high
    # Only huge head-count ranges are shortened (1-1000 clinicians), and never below the value.
    assert flat["caseload_cap"]["max"] == SCHEMA["caseload_cap"].high
    assert flat["n_clinicians"]["max"] == 4 * SCHEMA["n_clinicians"].default
    big = app.control_specs(app.scenario_levers("whole_provider"))
    assert big["service"]["n_clinicians"]["max"] >= 160
    assert set(specs) <= set(app.GROUPS)


def test_coerce_seed():
    assert app.coerce_seed("7") == 7
    assert app.coerce_seed(" 12 ") == 12
    assert app.coerce_seed(3) == 3
    assert app.coerce_seed("") is None and app.coerce_seed(None) is None
    for bad in ("abc", "1.5", "-1", True):
        with pytest.raises(ParameterError, match="seed"):
            app.coerce_seed(bad)


def test_reset_path_as_mesa_builds_it():
    """Mesa's ModelController.do_reset rebuilds the model with _build_model_init_kwargs; the
    levers travel in a CarePathScenario, the seed as text."""
    m = app.make_model("high_caseload", "5")
    params = app.initial_params("high_caseload", "11")
    default = SCHEMA["n_clinicians"].default
    assert SCENARIOS["high_caseload"].overrides["n_clinicians"] != default
    params["n_clinicians"] = default  # the schema default, set on purpose in this scenario
    params["sdm_training"] = 0.3
    kwargs = _build_model_init_kwargs(m, params, add_scenario_when_empty=True,
                                      require_model_accepts_scenario=True)
    new = type(m)(**kwargs)
    assert isinstance(new, app.ClassroomModel)
    assert new.scenario_name == "high_caseload"
    assert new.p["n_clinicians"] == default
    assert new.p["sdm_training"] == 0.3
    for name, value in SCENARIOS["high_caseload"].overrides.items():
        if name not in ("n_clinicians", "sdm_training"):
            assert new.p[name] == value  # the rest of the scenario, levers or not
    assert new.seed == 11


def test_classroom_model_matches_the_plain_model_for_the_same_seed():
    a = app.make_model("england_cmht", "3")
    b = CarePathwayModel("england_cmht", rng=3)
    for _ in range(4):
        a.step()
        b.step()
    assert a.week_stats == pytest.approx(b.week_stats, nan_ok=True)


def test_initial_scenario_from_the_environment(monkeypatch):
    monkeypatch.delenv("CAREPATH_SCENARIO", raising=False)
    assert app.initial_scenario() == "england_cmht"
    monkeypatch.setenv("CAREPATH_SCENARIO", "coercive_climate")
    assert app.initial_scenario() == "coercive_climate"
    monkeypatch.setenv("CAREPATH_SCENARIO", "atlantis")
    with pytest.raises(ParameterError, match="CAREPATH_SCENARIO"):
        app.initial_scenario()


# ----------------------------------------------------------------------------- views
def test_network_positions_are_cheap_and_put_patients_by_their_clinician():
    m = app.make_model("england_cmht", "2")
    for _ in range(12):
        m.step()
    cxy, idx, pxy, recent, rxy, r_disc = app.network_positions(m)
    assert np.allclose(np.hypot(cxy[:, 0], cxy[:, 1]), 1.0)
    status = m.patients.view("status")
    # everyone in care, and inpatients who have a care coordinator (the crisis team admits
    # people without one), sits by their clinician
    has_c = m.patients.view("clinician") >= 0
    in_care = np.flatnonzero(((status == Status.IN_CARE) | (status == Status.ADMITTED)) & has_c)
    assert set(idx.tolist()) == set(in_care.tolist())
    assert np.all(has_c[status == Status.IN_CARE])
    clin = m.patients.view("clinician")[idx]
    assert (np.hypot(*(pxy - cxy[clin]).T) <= r_disc + 1e-9).all()
    assert len(recent) > 0 and (np.hypot(rxy[:, 0], rxy[:, 1]) > 1 + r_disc).all()
    again = app.network_positions(m)
    assert np.array_equal(again[2], pxy)  # stable: no random layout


def test_charts_redraw_in_place_and_the_network_marks_compulsion():
    m = app.make_model("coercive_climate", "4")
    net, chart = app.NetworkChart(), app.TimeChart("trust")
    first = net.png(m), chart.png(m)
    labels = list(net.labels)
    for _ in range(10):
        m.step()
    second = net.png(m), chart.png(m)
    # the title counts people in care and in hospital as the text panel does (inpatients are
    # drawn by their coordinator but not counted as in care)
    s = m.week_stats
    assert s["admitted"] > 0
    assert net.title.get_text() == (f"Week 10: {int(s['in_care'])} in care, "
                                    f"{int(s['admitted'])} in hospital")
    assert f"**{int(s['in_care'])}** in care" in app.week_text(m)
    # clinicians keep their numbered labels (made once), coloured by this week's stress
    stress = np.asarray(m.clinicians.stress, dtype=float)
    assert net.labels == labels and [t.get_text() for t in labels] == [
        str(k) for k in range(len(stress))]
    assert [t.get_color() for t in labels] == ["white" if x > 0.55 else "black" for x in stress]
    assert {t.get_position() for t in labels} == {tuple(xy) for xy in app.network_positions(m)[0]}
    assert all(x.startswith(PNG) for x in first + second)
    assert first[0] != second[0] and first[1] != second[1]
    compelled = sum(int((np.asarray(sc.get_linewidths()) > 0).sum())
                    for sc in net.patients.values())
    pa = m.patients
    expected = int((((pa.view("status") == Status.ADMITTED) & pa.view("compulsory"))
                    | (pa.view("cto_weeks_left") > 0))[pa.view("clinician") >= 0].sum())
    assert compelled == expected
    pair = app.TimeChart("involvement", pair=True)
    other = app.make_model("partnership_reform", "4")
    assert pair.png(m, other).startswith(PNG)


def test_plain_language_panel_cites_the_seed_papers():
    m = app.make_model("partnership_reform", "1")
    for _ in range(3):
        m.step()
    text = app.week_text(m) + app.levers_text(m)
    for key in ("S1", "S2", "S3", "S4", "S5"):
        assert key in text
    s = m.week_stats
    assert f"{int(s['deals_made'])} made" in text
    assert f"**Threats**: {int(s['threats'])}" in text
    sdm = SCENARIOS["partnership_reform"].overrides["sdm_training"]
    assert f"SDM training = {sdm:g}" in text  # a lever the scenario sets, with its meaning
    assert SCHEMA["sdm_training"].meaning in text


# ----------------------------------------------------------------------------- launcher
def test_solara_command_serves_offline_on_the_given_address():
    cmd = viz_server.solara_command("127.0.0.1", 8123)
    assert cmd[cmd.index("run") + 1] == str(viz_server.APP)
    assert cmd[-7:] == ["--host", "127.0.0.1", "--port", "8123", "--production", "--no-open",
                        "--no-check-version"]
    assert viz_server.url_for("0.0.0.0", 80) == "http://127.0.0.1:80/"


def test_launcher_refuses_a_bad_scenario_and_a_busy_port():
    with pytest.raises(ParameterError, match="scenario"):
        viz_server.start("atlantis", viz_server.free_port())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(CarePathError, match="--port"):
            viz_server.start("england_cmht", port)
