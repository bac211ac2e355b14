"""The parameter schema, scenarios and their error messages."""

from __future__ import annotations


import pytest

from model import SCENARIOS, SCHEMA, CarePathwayModel, ParameterError, resolve_params
from model.docgen import DOC_PATH, render
from model.params import coerce_value, defaults, validate

BRIEF_LEVERS = {  # the 12 levers of the brief, by the parameter that implements each
    "caseload_cap", "sdm_training", "peer_advocate_coverage", "advance_statement_quality",
    "trauma_informed_care", "pathway_time_targets", "reflective_supervision", "org_support",
    "leverage_limit", "psychosocial_places_per_100", "continuity_of_care",
    "compulsion_risk_threshold",
}


def test_every_default_is_inside_its_own_range():
    for p in SCHEMA.values():
        assert p.check(p.default) == p.default, p.name
        if p.kind != "bool":
            assert p.low <= p.default <= p.high, p.name
            assert p.meaning and p.unit is not None, p.name


def test_all_brief_levers_are_declared_levers():
    levers = {p.name for p in SCHEMA.values() if p.lever}
    assert BRIEF_LEVERS <= levers
    for name in ("advance_statement_coverage", "advance_statement_honour_rate",
                 "compulsion_available", "n_clinicians"):
        assert SCHEMA[name].lever


def test_unknown_name_suggests_the_right_one():
    with pytest.raises(ParameterError) as e:
        validate({"caseload_capp": 30}, source="test.toml")
    msg = str(e.value)
    assert "caseload_capp" in msg and "caseload_cap" in msg and "test.toml" in msg
    assert msg.startswith("unknown parameter")


@pytest.mark.parametrize("name,value,fragment", [
    ("caseload_cap", 999, "int in [5, 150]"),
    ("caseload_cap", 3.5, "int in [5, 150]"),
    ("sdm_training", -0.1, "float in [0, 1]"),
    ("sdm_training", float("nan"), "float in [0, 1]"),
    ("sdm_training", "high", "float in [0, 1]"),
    ("compulsion_available", 1, "true or false"),
    ("caseload_cap", True, "int in [5, 150]"),
])
def test_bad_values_name_value_and_range(name, value, fragment):
    with pytest.raises(ParameterError) as e:
        CarePathwayModel(rng=1, **{name: value})
    msg = str(e.value)
    assert name in msg and fragment in msg and "CarePathwayModel" in msg


def test_inconsistent_combination_is_refused():
    with pytest.raises(ParameterError, match="share_prefer_passive"):
        validate({"share_prefer_passive": 0.7, "share_prefer_active": 0.5}, complete=True)


def test_integral_float_is_accepted_for_int_and_converted():
    assert validate({"caseload_cap": 30.0})["caseload_cap"] == 30
    assert isinstance(validate({"caseload_cap": 30.0})["caseload_cap"], int)


@pytest.mark.parametrize("text,expected", [("40", 40), ("40.0", 40)])
def test_coerce_int_text(text, expected):
    assert coerce_value("caseload_cap", text) == expected


@pytest.mark.parametrize("text,expected", [("true", True), ("no", False), ("1", True)])
def test_coerce_bool_text(text, expected):
    assert coerce_value("compulsion_available", text) is expected


def test_coerce_bad_text():
    with pytest.raises(ParameterError, match="true or false"):
        coerce_value("compulsion_available", "maybe", source="--set")
    with pytest.raises(ParameterError, match="int in"):
        coerce_value("caseload_cap", "forty")


def test_scenarios_resolve_and_override_order():
    assert resolve_params() == defaults()
    hc = resolve_params("high_caseload")
    assert hc["caseload_cap"] == SCENARIOS["high_caseload"].overrides["caseload_cap"]
    assert resolve_params("high_caseload", {"caseload_cap": 20})["caseload_cap"] == 20
    with pytest.raises(ParameterError, match="one of england_cmht"):
        resolve_params("atlantis")


def test_required_scenarios_exist():
    assert {"england_cmht", "high_caseload", "partnership_reform", "coercive_climate",
            "norway_outpatient"} <= set(SCENARIOS)


def test_parameter_reference_is_not_stale():
    assert DOC_PATH.read_text() == render(), "run `python -m model.docgen`"


def test_docgen_check_flags_staleness(tmp_path, monkeypatch):
    import model.docgen as dg

    stale = tmp_path / "parameters.md"
    stale.write_text("old")
    monkeypatch.setattr(dg, "DOC_PATH", stale)
    assert dg.main(["--check"]) == 1
    assert dg.main([]) == 0
    assert dg.main(["--check"]) == 0


def test_did_you_mean_is_one_hint_for_every_bad_name():
    from model.params import did_you_mean

    assert did_you_mean("caseload_capp", SCHEMA) == "; did you mean 'caseload_cap'?"
    assert did_you_mean("Default", ["England CMHT", "default"]) == "; did you mean 'default'?"
    assert did_you_mean("SDM", ["sdm"]) == "; did you mean 'sdm'?"
    assert did_you_mean("zzzz", SCHEMA) == ""
