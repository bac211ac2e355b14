"""Batch experiments (issue 3): experiment files, designs, seeds, executors, store, analysis.

Most tests use the fast stand-in run functions of ``experiments.testing``; a few run the real
model with a handful of weeks.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments as E
from experiments.analysis import a_magnitude, contrasts, point_summary, vargha_delaney
from experiments.errors import ExperimentError
from experiments.store import Store
from model.params import SCHEMA, CarePathError

FAKE = "experiments.testing:fake_simulate"
FAILING = "experiments.testing:failing_simulate"


def spec_file(tmp_path, body: str, name: str = "exp.toml", run_fn: str | None = FAKE):
    head = f'[experiment]\nrun_fn = "{run_fn}"\n' if run_fn and "[experiment]" not in body else ""
    path = tmp_path / name
    path.write_text(head + textwrap.dedent(body))
    return path


GRID = """
[experiment]
name = "grid"
run_fn = "experiments.testing:fake_simulate"
steps = 10
seed = 123

[fixed]
referrals_per_week = 5.0

[factors]
caseload_cap = [20, 32, 45]
sdm_training = { low = 0.0, high = 1.0, num = 3 }

[replications]
n = 4

[outputs]
timeseries_every = 5

[comparisons]
baseline = { caseload_cap = 32, sdm_training = 0.0 }
"""


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """A runs table without the columns that legitimately differ between executions."""
    return runs.drop(columns=["duration_s"]).sort_values("run_id").reset_index(drop=True)


# ----------------------------------------------------------------------------- validation

BAD_FILES = [
    # (body, key in message, words in message)
    ("[experimnt]\nname='x'\n", "experimnt", ["did you mean", "[experiment]"]),
    ("[experiment]\nstep = 10\n", "experiment.step", ["did you mean 'steps'"]),
    ("[experiment]\nsteps = 0\n", "experiment.steps", ["got 0", "integer in [1,"]),
    ("[experiment]\nsteps = 'ten'\n", "experiment.steps", ["got 'ten'"]),
    ("[experiment]\nscenario = 'england'\n", "experiment.scenario", ["england_cmht"]),
    ("[experiment]\nwindow = 500\nsteps = 100\n", "experiment.window", ["got 500"]),
    ("[fixed]\ncaseload_cap = 500\n", "fixed.caseload_cap", ["got 500", "int in [5, 150]"]),
    ("[fixed]\ncaseload = 20\n", "fixed.caseload", ["did you mean", "caseload_cap"]),
    ("[fixed]\ncompulsion_available = 1\n", "fixed.compulsion_available", ["true or false"]),
    ("[factors]\nsdm_trainin = [0.1]\n", "factors.sdm_trainin", ["did you mean", "sdm_training"]),
    ("[factors]\nsdm_training = [0.1, 2.0]\n", "factors.sdm_training[1]", ["got 2.0",
                                                                          "float in [0, 1]"]),
    ("[factors]\nsdm_training = {low = 0.0, high = 1.0}\n", "factors.sdm_training",
     ["grid needs values"]),
    ("[factors]\nsdm_training = {low = 0.5, high = 0.1, num = 3}\n", "factors.sdm_training.high",
     ["greater than low"]),
    ("[factors]\nsdm_training = {low = 0.0, hi = 1.0, num = 3}\n", "factors.sdm_training.hi",
     ["did you mean 'high'"]),
    ("[fixed]\nsdm_training = 0.5\n[factors]\nsdm_training = [0.1, 0.2]\n",
     "factors.sdm_training", ["both fixed and a factor"]),
    ("[design]\ntype = 'sobol'\nsamples = 10\n[factors]\nsdm_training = 'full'\n"
     "org_support = 'full'\n", "design.samples", ["power of 2"]),
    ("[design]\ntype = 'lhs'\n[factors]\nsdm_training = 'full'\n", "design.samples",
     ["needs 'samples'"]),
    ("[design]\ntype = 'latin'\n", "design.type", ["one of grid, points, lhs, sobol, morris"]),
    ("[replications]\nn = 5\nmetric = 'involvement_mean'\nhalf_width = 0.1\n", "replications.n",
     ["either 'n' or an adaptive rule"]),
    ("[replications]\nmetric = 'involvment_mean'\nhalf_width = 0.1\n", "replications.metric",
     ["did you mean 'involvement_mean'"]),
    ("[replications]\nmetric = 'involvement_mean'\nhalf_width = -1.0\n",
     "replications.half_width", ["a number > 0"]),
    ("[replications]\nmin = 3\n", "replications.min", ["need 'metric'"]),
    ("[outputs]\nmetrics = ['trust', 'involvement_mean']\n", "outputs.metrics[0]",
     ["trust_mean"]),
    ("[[points]]\nname = 'a'\nset = { sdm_training = 3.0 }\n", "points[0].set.sdm_training",
     ["got 3.0"]),
    ("[[points]]\nname = 'a'\n[[points]]\nname = 'a'\n", "points[1].name", ["not used"]),
    ("[design]\ntype = 'grid'\n[[points]]\nname = 'a'\n", "design.type", ["points"]),
    ("[experiment]\nname = 'x'\n[execution]\nexecutor = 'threads'\n", "execution.executor",
     ["sequential, process, dask"]),
    ("[experiment\nname = 'x'\n", None, ["not valid TOML"]),
]


@pytest.mark.parametrize("body,key,words", BAD_FILES)
def test_bad_experiment_files_name_file_key_value_and_allowed(tmp_path, body, key, words):
    path = spec_file(tmp_path, body, run_fn=None)
    with pytest.raises(ExperimentError) as info:
        E.load_spec(path)
    msg = str(info.value)
    assert str(path) in msg
    if key:
        assert f"key '{key}'" in msg
    for w in words:
        assert w in msg, msg
    assert isinstance(info.value, CarePathError)
    assert "\n" not in msg


def test_bad_baseline_and_invalid_point_are_caught_before_running(tmp_path):
    path = spec_file(tmp_path, GRID.replace("sdm_training = 0.0 }", "sdm_training = 0.3 }"),
                     run_fn=None)
    with pytest.raises(ExperimentError, match="comparisons.baseline.*match 0 design points"):
        E.run_experiment(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a cross-parameter constraint (passive + active shares <= 1) broken at one grid point
    path = spec_file(tmp_path, """
        [factors]
        share_prefer_active = [0.2, 0.9]
        """, "cross.toml")
    with pytest.raises(ExperimentError, match="share_prefer_active=0.9.*share_prefer_passive"):
        E.run_experiment(path, tmp_path / "out2")


BASELINE_GRID = """
[factors]
sdm_training = { low = 0.0, high = 0.8, num = 4 }
caseload_cap = [20, 32]
[comparisons]
baseline = { sdm_training = VALUE, caseload_cap = CAP }
"""


@pytest.mark.parametrize("given", ["0.267", "0.2667", "0.266667", "0.266666666667", "0.2661"])
def test_baseline_value_matches_a_grid_value_within_a_thousandth_of_the_range(tmp_path, given):
    """0.8 / 3 as a point label shows it (0.266667) or rounded picks that grid point."""
    spec = E.load_spec(spec_file(tmp_path, BASELINE_GRID.replace("VALUE", given)
                                 .replace("CAP", "32")))
    d = E.build_design(spec.with_seed(1))
    assert d.points[d.baseline_id].label == "sdm_training=0.266667, caseload_cap=32"


def _baseline_error(tmp_path, body: str) -> str:
    with pytest.raises(ExperimentError) as info:
        E.build_design(E.load_spec(spec_file(tmp_path, body)).with_seed(1))
    assert "key 'comparisons.baseline'" in str(info.value)
    return str(info.value)


def test_baseline_values_that_match_no_point_or_two_are_refused(tmp_path):
    # outside the tolerance (0.0008 here): the error lists the factor's values
    msg = _baseline_error(tmp_path, BASELINE_GRID.replace("VALUE", "0.2655").replace("CAP", "32"))
    assert "match 0 design points" in msg
    assert msg.endswith("allowed: sdm_training one of 0, 0.266667, 0.533333, 0.8")
    # integer factors match exactly
    msg = _baseline_error(tmp_path, BASELINE_GRID.replace("VALUE", "0.8").replace("CAP", "33"))
    assert msg.endswith("allowed: caseload_cap one of 20, 32")
    # a factor left out: more than one point
    msg = _baseline_error(tmp_path, BASELINE_GRID.replace("VALUE", "0.8")
                          .replace(", caseload_cap = CAP", ""))
    assert "match 2 design points" in msg and "missing: caseload_cap" in msg
    # a grid finer than the tolerance: two values within 1/1000 of the range is an error ...
    fine = ("[factors]\nsdm_training = { low = 0.0, high = 0.8, num = 1601 }\n"
            "[comparisons]\nbaseline = { sdm_training = VALUE }\n")
    msg = _baseline_error(tmp_path, fine.replace("VALUE", "0.40002"))
    assert "ambiguous" in msg and "sdm_training = 0.40002 is within 0.0008" in msg
    assert "0.3995, 0.4, 0.4005" in msg
    # ... but a value equal to a design value picks it
    d = E.build_design(E.load_spec(spec_file(tmp_path, fine.replace("VALUE", "0.4"))).with_seed(1))
    assert d.points[d.baseline_id].values == {"sdm_training": 0.4}


def test_missing_file_and_unimportable_run_fn(tmp_path):
    with pytest.raises(ExperimentError, match="not found"):
        E.load_spec(tmp_path / "nope.toml")
    path = spec_file(tmp_path, "[experiment]\nrun_fn = 'nosuch.module:run'\n", run_fn=None)
    with pytest.raises(ExperimentError, match="cannot import the run function"):
        E.run_experiment(path, tmp_path / "out")


def test_shipped_experiment_files_are_valid():
    from pathlib import Path

    root = Path(E.__file__).parent
    levers = {n for n, p in SCHEMA.items() if p.lever}
    specs = {}
    for name in ("caseload_sweep", "policy_levers", "morris_levers"):
        spec = E.load_spec(root / f"{name}.toml")
        design = E.build_design(spec)
        assert len(E.plan_runs(spec, design)) <= 1000  # laptop-sized
        specs[name] = (spec, design)
        # the documented way to try a file quickly accepts every shipped file
        E.parse_spec(spec.text, spec.source, name, run_fn="experiments.testing:fake_simulate")
    assert set(specs["morris_levers"][0].factors) == levers
    varied = {k for p in specs["policy_levers"][1].points for k in p.values}
    assert varied >= levers
    assert specs["policy_levers"][1].baseline_id is not None


def test_shipped_experiment_files_state_their_real_size():
    """The run counts in the files' comments, and the sizes in docs/experiments.md, are the
    ones the spec loader plans."""
    import re

    root = Path(E.__file__).parent
    docs = (root.parent / "docs" / "experiments.md").read_text()
    for name in ("caseload_sweep", "policy_levers", "morris_levers"):
        spec = E.load_spec(root / f"{name}.toml")
        design = E.build_design(spec)
        runs = len(E.plan_runs(spec, design))
        comments = "\n".join(line for line in spec.text.splitlines()
                              if line.lstrip().startswith("#"))
        # "60 runs", "= 570 runs"; not the upper end of a range such as "~360-600 runs"
        stated = {int(n) for n in re.findall(r"(?<![-~\d])(\d+) runs\b", comments)}
        assert stated == {runs}, (name, stated, runs)
        row = next(line for line in docs.splitlines() if f"`experiments/{name}.toml`" in line)
        if spec.design == "morris":
            per = len(spec.factors) + 1
            assert f"({len(spec.factors)} + 1) points" in comments and f"x {per} points" in comments
            assert f"{spec.samples} trajectories × {per} points × {spec.replications} " in row
        else:
            assert f"{len(design)} points × {spec.replications} replications" in row


def test_docs_say_how_to_install_duckdb_and_salib_where_first_needed():
    """Neither comes with `make demo`; the docs say so where a reader first needs them."""
    docs = (Path(E.__file__).parent.parent / "docs" / "experiments.md").read_text()
    sql = docs.index("```sql")  # the first DuckDB query
    before = docs[docs.rindex("\n\n", 0, sql - 2):sql]  # the paragraph above it
    assert "`make demo`" in before and "make setup" in before and "pip install duckdb" in before
    table = docs.index("`experiments/morris_levers.toml`")  # the first Morris design
    note = docs[table:docs.index("\n\n", docs.index("\n\n", table) + 2)]
    assert "SALib" in note and "`make demo`" in note and "[sensitivity]" in note


# ----------------------------------------------------------------------------- designs


def test_grid_points_order_labels_and_types(tmp_path):
    spec = E.load_spec(spec_file(tmp_path, GRID, run_fn=None))
    d = E.build_design(spec)
    assert len(d) == 9
    assert [p.values for p in d.points[:4]] == [
        {"caseload_cap": 20, "sdm_training": 0.0}, {"caseload_cap": 20, "sdm_training": 0.5},
        {"caseload_cap": 20, "sdm_training": 1.0}, {"caseload_cap": 32, "sdm_training": 0.0}]
    assert d.points[4].label == "caseload_cap=32, sdm_training=0.5"
    assert all(p.overrides["referrals_per_week"] == 5.0 for p in d.points)
    assert all(isinstance(p.values["caseload_cap"], int) for p in d.points)
    assert d.baseline_id == 3


def test_grid_step_and_scenarios_cross(tmp_path):
    spec = E.load_spec(spec_file(tmp_path, """
        [design]
        scenarios = ["england_cmht", "high_caseload"]
        [factors]
        n_clinicians = { low = 8, high = 16, step = 4 }
        [comparisons]
        baseline = "england_cmht: n_clinicians=16"
        """))
    d = E.build_design(spec.with_seed(1))
    assert [p.label for p in d.points] == [
        "england_cmht: n_clinicians=8", "england_cmht: n_clinicians=12",
        "england_cmht: n_clinicians=16", "high_caseload: n_clinicians=8",
        "high_caseload: n_clinicians=12", "high_caseload: n_clinicians=16"]
    assert [p.scenario for p in d.points][-1] == "high_caseload"
    assert d.baseline_id == 2


def test_points_design_with_scenarios_and_named_points(tmp_path):
    spec = E.load_spec(spec_file(tmp_path, """
        [design]
        scenarios = ["england_cmht", "partnership_reform"]
        [[points]]
        name = "training"
        set = { sdm_training = 0.8 }
        [[points]]
        name = "reform + staff"
        scenario = "partnership_reform"
        set = { n_clinicians = 20, compulsion_available = false }
        [comparisons]
        baseline = "england_cmht"
        """))
    assert spec.design == "points"
    d = E.build_design(spec.with_seed(1))
    assert [p.label for p in d.points] == ["england_cmht", "partnership_reform", "training",
                                           "reform + staff"]
    assert d.points[3].scenario == "partnership_reform"
    assert d.points[3].overrides == {"n_clinicians": 20, "compulsion_available": False}
    assert d.baseline_id == 0


@pytest.mark.parametrize("design,samples,expected", [("lhs", 20, 20), ("morris", 5, 5 * 4),
                                                      ("sobol", 8, 8 * (3 + 2))])
def test_sampling_designs_sizes_ranges_and_determinism(tmp_path, design, samples, expected):
    spec = E.load_spec(spec_file(tmp_path, f"""
        [design]
        type = "{design}"
        samples = {samples}
        [factors]
        caseload_cap = {{ low = 20, high = 50 }}
        sdm_training = "full"
        compulsion_available = "full"
        """))
    d1 = E.build_design(spec.with_seed(5))
    d2 = E.build_design(spec.with_seed(5))
    d3 = E.build_design(spec.with_seed(6))
    assert len(d1) == expected
    vals = pd.DataFrame([p.values for p in d1.points])
    assert vals["caseload_cap"].between(20, 50).all()
    assert all(isinstance(v, int) for v in vals["caseload_cap"])
    assert vals["sdm_training"].between(0, 1).all()
    assert set(vals["compulsion_available"]) <= {True, False}
    assert [p.values for p in d1.points] == [p.values for p in d2.points]
    assert [p.values for p in d1.points] != [p.values for p in d3.points]
    if design == "lhs":  # one point per stratum in every dimension
        u = np.array([p.unit for p in d1.points])
        for j in range(u.shape[1]):
            assert sorted(np.floor(u[:, j] * samples).astype(int)) == list(range(samples))


def test_levers_shorthand_adds_every_lever(tmp_path):
    spec = E.load_spec(spec_file(tmp_path, """
        [design]
        type = "morris"
        samples = 2
        levers = true
        [factors]
        n_clinicians = { low = 10, high = 20 }
        """))
    assert set(spec.factors) == {n for n, p in SCHEMA.items() if p.lever}
    assert spec.factors["n_clinicians"].high == 20
    assert spec.factors["caseload_cap"].high == SCHEMA["caseload_cap"].high


# ----------------------------------------------------------------------------- seeds


def test_replication_seed_is_the_spawned_child_and_fits_int64():
    for root in (0, 42, 2**100 + 7):
        children = np.random.SeedSequence(root).spawn(5)
        for i, child in enumerate(children):
            hi, lo = child.generate_state(2, dtype=np.uint32)
            expected = (int(hi) & 0x7FFFFFFF) << 32 | int(lo)
            assert E.replication_seed(root, i) == expected < 2**63


@pytest.fixture(scope="module")
def grid_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    path = spec_file(tmp, GRID, run_fn=None)
    res = E.run_experiment(path, tmp / "seq", executor="sequential")
    return path, res, E.load(tmp / "seq")


def test_common_random_numbers(grid_reference):
    _, res, tables = grid_reference
    runs = tables["runs"]
    assert res.done == res.planned == 36 and res.failed == 0
    per_rep = runs.groupby("replication")["seed"].nunique()
    assert (per_rep == 1).all()  # same seed at every design point
    assert runs.groupby("replication")["seed"].first().is_unique  # distinct across replications
    assert list(runs.groupby("replication")["seed"].first()) == [
        E.replication_seed(123, i) for i in range(4)]
    assert tables["manifest"]["root_seed"] == 123


def test_runs_table_contents(grid_reference):
    _, _, tables = grid_reference
    runs = tables["runs"]
    assert runs["run_id"].is_unique
    assert set(SCHEMA) <= set(runs.columns)  # every parameter, resolved
    assert (runs["referrals_per_week"] == 5.0).all()
    from experiments.testing import SUMMARY_KEYS

    assert set(SUMMARY_KEYS) <= set(runs.columns)
    assert (runs["status"] == "ok").all() and runs["error"].isna().all()
    ts = tables["timeseries"]
    assert len(ts) == 36 * 2 and set(ts["step"]) == {5, 10}
    pts = tables["points"]
    assert list(pts["point_id"]) == list(range(9))


# ----------------------------------------------------------------------------- executors


@pytest.mark.parametrize("executor,workers", [("process", 1), ("process", 2), ("dask", 2)])
def test_same_table_whatever_the_executor(tmp_path, grid_reference, executor, workers):
    path, _, ref = grid_reference
    E.run_experiment(path, tmp_path / "out", executor=executor, workers=workers, chunk_size=3)
    got = E.load(tmp_path / "out")
    pd.testing.assert_frame_equal(comparable(got["runs"]), comparable(ref["runs"]))
    pd.testing.assert_frame_equal(got["timeseries"], ref["timeseries"])


def test_failure_isolation(tmp_path):
    path = spec_file(tmp_path, GRID.replace(FAKE, FAILING).replace("caseload_cap = [20, 32, 45]",
                                                                   "caseload_cap = [32, 60]"),
                     run_fn=None)
    res = E.run_experiment(path, tmp_path / "out", executor="process", workers=2)
    runs = E.load(tmp_path / "out")["runs"]
    assert res.planned == res.done == 24
    assert res.failed == 12 and len(res.failures) == 5
    bad = runs[runs["status"] == "failed"]
    assert (bad["caseload_cap"] == 60).all() and len(bad) == 12
    assert bad["error"].str.contains("injected failure").all()
    assert bad["traceback"].str.contains("RuntimeError").all()
    assert bad["seed"].notna().all() and bad["involvement_mean"].isna().all()
    assert (runs[runs["status"] == "ok"]["caseload_cap"] == 32).all()
    a = E.analyse(tmp_path / "out")
    assert any("12 run(s) failed" in w for w in a.warnings)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_a_bad_worker_count_or_chunk_size_is_refused_not_taken_as_the_default(tmp_path, workers):
    """``workers=0`` once meant "one per core" and ``chunk_size=0`` "automatic", silently
    (``0 or default``); the Python API now refuses them like the CLI does, before any run."""
    from experiments import validation as V

    path = spec_file(tmp_path, GRID, run_fn=None)
    with pytest.raises(E.ExperimentError, match=r"key 'workers': got .*allowed: an integer >= 1"):
        E.run_experiment(path, tmp_path / "out", executor="process", workers=workers)
    with pytest.raises(E.ExperimentError, match=r"key 'chunk_size': got .*allowed: an integer"):
        E.run_experiment(path, tmp_path / "out2", executor="sequential", chunk_size=workers)
    assert not list(tmp_path.rglob("*.parquet"))  # no run started
    with pytest.raises(E.ExperimentError, match="key 'workers'"):
        V.run_power_trap(V.TRAP_QUICK, workers=workers)


def test_a_lost_chunk_is_recorded_and_the_sweep_goes_on(tmp_path):
    """A chunk whose results cannot be sent back from the worker is lost as a whole (a
    task-level failure, not a failing run): its runs are recorded as failed, without a duration,
    and the automatic chunk size (which averages the durations) must survive the missing ones."""
    unsendable = "experiments.testing:unsendable_simulate"
    path = spec_file(tmp_path, GRID.replace(FAKE, unsendable).replace(
        "caseload_cap = [20, 32, 45]", "caseload_cap = [60, 32]"), run_fn=None)
    # one worker and automatic chunks: the first chunk to finish is the lost one (point 0)
    res = E.run_experiment(path, tmp_path / "out", executor="process", workers=1)
    runs = E.load(tmp_path / "out")["runs"]
    assert res.planned == res.done == len(runs) == 24 and runs["run_id"].is_unique
    bad = runs[runs["status"] == "failed"]
    assert len(bad) == res.failed and (runs[runs["caseload_cap"] == 60]["status"] == "failed").all()
    # the chunk-mates of an unsendable run are lost with it, and say so
    assert bad["error"].str.startswith("lost with its chunk of").all()
    assert bad["duration_s"].isna().all() and bad["seed"].notna().all()
    ok = runs[runs["status"] == "ok"]
    assert len(ok) > 0 and (ok["caseload_cap"] == 32).all() and (ok["duration_s"] > 0).all()


def test_script_without_main_guard_gets_told_how_to_fix_it(tmp_path):
    """A sweep started from top-level script code breaks the worker pool (workers import the
    script again); the error says so instead of only pointing to `carepath resume`."""
    import subprocess
    import sys

    spec = spec_file(tmp_path, GRID, run_fn=None)
    script = tmp_path / "noguard.py"
    script.write_text("from experiments import run_experiment\n"
                      f"run_experiment({str(spec)!r}, {str(tmp_path / 'out')!r}, workers=2)\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=Path(E.__file__).resolve().parents[1])
    assert res.returncode != 0
    assert 'if __name__ == "__main__":' in res.stderr, res.stderr[-2000:]


# ----------------------------------------------------------------------------- store


def test_a_failed_run_first_in_a_batch_does_not_drop_the_metrics_of_the_others(tmp_path):
    """Regression: a batch was written with the schema of its first record, so a failed run
    (no metric columns) arriving first lost the metrics of the finished runs after it."""
    store = Store(tmp_path / "s")
    store.parts.mkdir(parents=True)
    failed = {"run_id": "p0-r0", "point_id": 0, "replication": 0, "status": "failed",
              "error": "RuntimeError: x", "seed": 1}
    ok = {"run_id": "p0-r1", "point_id": 0, "replication": 1, "status": "ok", "seed": 2,
          "error": None, "involvement_mean": 2.5}
    store.write_part([failed, ok], [])
    runs = store.runs().set_index("run_id")
    assert runs.loc["p0-r1", "involvement_mean"] == 2.5
    assert math.isnan(runs.loc["p0-r0", "involvement_mean"])


def test_resume_of_finished_sweep_runs_nothing(grid_reference, tmp_path):
    path, _, ref = grid_reference
    E.run_experiment(path, tmp_path / "out", executor="sequential")
    res = E.resume(tmp_path / "out", executor="sequential")
    assert res.ran == 0 and res.done == 36
    pd.testing.assert_frame_equal(comparable(E.load(tmp_path / "out")["runs"]),
                                  comparable(ref["runs"]))


def test_resume_after_partial_store_and_leftovers(grid_reference, tmp_path):
    """Simulate a kill: keep some parts, drop the merged file, leave a half-written temp file."""
    path, _, ref = grid_reference
    out = tmp_path / "out"
    E.run_experiment(path, out, executor="sequential", flush_rows=5, flush_seconds=1e9)
    store = Store(out)
    runs = pq_read(out / "runs.parquet")
    (out / "runs.parquet").unlink()
    (out / "timeseries.parquet").unlink()
    # the first 13 runs survived, in two parts (as if the sweep died after two flushes)
    store.write_part(runs.iloc[:10].to_dict("records"), [])
    store.write_part(runs.iloc[10:13].to_dict("records"), [])
    (out / "parts" / ".runs-000003.parquet.x.tmp").write_bytes(b"PAR1 half a file")
    st = E.status(out)
    assert (st["done"], st["pending"]) == (13, 23)
    res = E.resume(out, executor="process", workers=2)
    assert res.ran == 23
    got = E.load(out)
    pd.testing.assert_frame_equal(comparable(got["runs"]), comparable(ref["runs"]))
    assert not list((out / "parts").iterdir())


def pq_read(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()


def test_newest_row_wins_and_retry_failed(tmp_path):
    path = spec_file(tmp_path, GRID.replace(FAKE, FAILING).replace("caseload_cap = [20, 32, 45]",
                                                                   "caseload_cap = [32, 60]"),
                     run_fn=None)
    out = tmp_path / "out"
    E.run_experiment(path, out, executor="sequential")
    # retrying still fails (deterministic failure): no duplicates, same count
    res = E.resume(out, executor="sequential", retry_failed=True)
    assert res.ran == 12 and res.failed == 12
    runs = E.load(out)["runs"]
    assert len(runs) == 24 and runs["run_id"].is_unique


def test_load_sees_unmerged_parts_and_interrupted_merge(grid_reference, tmp_path):
    path, _, ref = grid_reference
    out = tmp_path / "out"
    E.run_experiment(path, out, executor="sequential")
    runs = pq_read(out / "runs.parquet")
    # an interrupted merge: merged file in place, a part still lying around
    Store(out).write_part(runs.iloc[:7].to_dict("records"), [])
    got = E.load(out)["runs"]
    assert len(got) == 36 and got["run_id"].is_unique
    pd.testing.assert_frame_equal(comparable(got), comparable(ref["runs"]))


def test_existing_directory_is_not_overwritten(grid_reference, tmp_path):
    path, _, _ = grid_reference
    E.run_experiment(path, tmp_path / "out", executor="sequential")
    with pytest.raises(ExperimentError, match="already holds an experiment.*resume"):
        E.run_experiment(path, tmp_path / "out", executor="sequential")
    E.run_experiment(path, tmp_path / "out", executor="sequential", overwrite=True)


def test_changed_spec_copy_is_refused(grid_reference, tmp_path):
    path, _, _ = grid_reference
    E.run_experiment(path, tmp_path / "out", executor="sequential")
    (tmp_path / "out" / "experiment.toml").write_text(GRID.replace("n = 4", "n = 5"))
    with pytest.raises(ExperimentError, match="changed after the sweep started"):
        E.resume(tmp_path / "out")


def test_manifest(grid_reference):
    _, _, tables = grid_reference
    m = tables["manifest"]
    assert m["state"] == "finished" and m["counts"] == {"done": 36, "failed": 0, "pending": 0}
    assert m["design"]["points"] == 9 and m["planned_runs"] == 36
    assert {"python", "numpy", "pandas", "pyarrow"} <= set(m["versions"])
    assert m["started_at"] and m["finished_at"] and m["sessions"][0]["executor"] == "sequential"
    assert m["run_fn"] == FAKE


def test_duckdb_can_query_the_store(grid_reference):
    duckdb = pytest.importorskip("duckdb")
    _, res, tables = grid_reference
    q = (f"SELECT caseload_cap, avg(involvement_mean) AS m, count(*) AS n "
         f"FROM '{res.directory}/runs.parquet' WHERE status = 'ok' GROUP BY 1 ORDER BY 1")
    df = duckdb.sql(q).df()
    expected = tables["runs"].groupby("caseload_cap")["involvement_mean"].mean()
    assert list(df["n"]) == [12, 12, 12]
    np.testing.assert_allclose(df["m"], expected.to_numpy())


def test_random_seed_is_recorded_when_the_file_has_none(tmp_path):
    path = spec_file(tmp_path, "[factors]\nsdm_training = [0.0, 0.5]\n[replications]\nn = 2\n")
    E.run_experiment(path, tmp_path / "out", executor="sequential")
    m = E.load(tmp_path / "out")["manifest"]
    assert m["seed_source"] == "generated" and m["root_seed"] > 0
    assert E.status(tmp_path / "out")["pending"] == 0
    runs = E.load(tmp_path / "out")["runs"]
    assert set(runs["seed"]) == {E.replication_seed(m["root_seed"], i) for i in range(2)}


# ----------------------------------------------------------------------------- adaptive


ADAPTIVE = """
[experiment]
run_fn = "experiments.testing:fake_simulate"
steps = 10
seed = 99
[factors]
sdm_training = [0.0, 1.0]
caseload_cap = [20, 60]
[replications]
metric = "burnout_share"
half_width = 0.035
min = 3
max = 12
batch = 2
"""


def test_adaptive_replications(tmp_path):
    path = spec_file(tmp_path, ADAPTIVE, run_fn=None)
    res = E.run_experiment(path, tmp_path / "a", executor="sequential")
    runs = E.load(tmp_path / "a")["runs"]
    reps = runs.groupby("point_id")["replication"].agg(["count", "max"])
    assert (reps["count"] == reps["max"] + 1).all()  # replications 0..n-1, no gaps
    assert reps["count"].between(3, 12).all()
    assert res.planned == len(runs)
    from experiments.runner import half_width

    for pid, g in runs.groupby("point_id"):
        n = len(g)
        hw = half_width(list(g["burnout_share"]))
        assert hw <= 0.035 or n == 12
        if n > 3:  # one batch fewer was not enough
            assert half_width(list(g.sort_values("replication")
                                   ["burnout_share"][: n - 2])) > 0.035
    assert reps["count"].nunique() > 1  # points differ in how many they needed
    # the same plan with two worker processes
    E.run_experiment(path, tmp_path / "b", executor="process", workers=2, chunk_size=1)
    pd.testing.assert_frame_equal(comparable(E.load(tmp_path / "b")["runs"]), comparable(runs))


# ----------------------------------------------------------------------------- statistics


def test_vargha_delaney_and_labels():
    assert vargha_delaney([3, 4, 5], [0, 1, 2]) == 1.0
    assert vargha_delaney([0, 1, 2], [3, 4, 5]) == 0.0
    assert vargha_delaney([1, 2, 3], [1, 2, 3]) == 0.5
    # by hand: 1 ties 1 (0.5); 3 beats 2 and 1 (2); 2 beats 1 and ties 2 (1.5) -> 4 of 9 pairs
    assert math.isclose(vargha_delaney([1, 3, 2], [2, 1, 5]), 4 / 9)
    x, y = [1.0, 3.0, 4.0], [2.0, 3.0, 0.0]
    wins = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    assert math.isclose(vargha_delaney(x, y), wins / 9)
    assert [a_magnitude(a) for a in (0.5, 0.55, 0.56, 0.64, 0.71, 0.29, 0.36, 0.44)] == [
        "negligible", "negligible", "small", "medium", "large", "large", "medium", "small"]


def test_point_summary_and_paired_contrasts_by_hand():
    rows = []
    base = [1.0, 2.0, 3.0, 4.0]
    treat = [1.5, 2.9, 3.2, 4.8]
    for pid, vals in ((0, base), (1, treat)):
        for r, v in enumerate(vals):
            rows.append({"run_id": f"p{pid}r{r}", "point_id": pid, "point": f"pt{pid}",
                         "replication": r, "status": "ok", "y": v})
    rows.append({"run_id": "p1r4", "point_id": 1, "point": "pt1", "replication": 4,
                 "status": "failed", "y": np.nan})
    runs = pd.DataFrame(rows)
    s = point_summary(runs, ["y"]).set_index("point_id")
    from scipy import stats

    ci = stats.t.interval(0.95, 3, loc=np.mean(treat), scale=stats.sem(treat))
    assert s.loc[1, "n"] == 4 and s.loc[1, "failed"] == 1
    assert math.isclose(s.loc[1, "ci_low"], ci[0]) and math.isclose(s.loc[1, "ci_high"], ci[1])
    c = contrasts(runs, 0, ["y"]).iloc[0]
    d = np.array(treat) - np.array(base)
    ci = stats.t.interval(0.95, 3, loc=d.mean(), scale=stats.sem(d))
    assert c["n_pairs"] == 4 and math.isclose(c["diff"], d.mean())
    assert math.isclose(c["ci_low"], ci[0]) and math.isclose(c["ci_high"], ci[1])
    assert c["significant"]
    assert math.isclose(c["A"], vargha_delaney(treat, base))


MORRIS = """
[experiment]
run_fn = "experiments.testing:fake_simulate"
steps = 5
seed = 3
[design]
type = "morris"
samples = 8
levels = 4
[factors]
sdm_training = "full"
reflective_supervision = "full"
continuity_of_care = "full"
[replications]
n = 3
[report]
metrics = ["involvement_mean", "trust_mean"]
"""


def test_morris_indices_rank_the_factors_and_warn_on_noise(tmp_path):
    path = spec_file(tmp_path, MORRIS, run_fn=None)
    E.run_experiment(path, tmp_path / "m", executor="sequential")
    a = E.analyse(tmp_path / "m")
    s = a.sensitivity.set_index(["metric", "factor"])
    inv = s.loc["involvement_mean"]
    # the stand-in's involvement responds 0.5 + 0.12 (via stress) to SDM, nothing to continuity
    assert inv.loc["sdm_training", "mu_star"] > inv.loc["reflective_supervision", "mu_star"] > \
        inv.loc["continuity_of_care", "mu_star"]
    assert inv.loc["continuity_of_care", "mu_star"] < 0.2
    assert (inv["mu_star_conf"] >= 0).all()
    # weak effects under noisy runs: the report must say the indices are unreliable
    path2 = spec_file(tmp_path, MORRIS.replace('sdm_training = "full"', 'admin_share = "full"'),
                      "noise.toml", run_fn=None)
    E.run_experiment(path2, tmp_path / "n", executor="sequential")
    a2 = E.analyse(tmp_path / "n")
    assert any("unreliable" in w for w in a2.warnings)


def test_sobol_indices(tmp_path):
    path = spec_file(tmp_path, MORRIS.replace('type = "morris"', 'type = "sobol"')
                     .replace("samples = 8", "samples = 32").replace("levels = 4", ""),
                     run_fn=None)
    E.run_experiment(path, tmp_path / "s", executor="process", workers=2)
    a = E.analyse(tmp_path / "s")
    s = a.sensitivity.set_index(["metric", "factor"]).loc["involvement_mean"]
    assert s.loc["sdm_training", "ST"] > s.loc["continuity_of_care", "ST"]
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(s.columns)


# ----------------------------------------------------------------------------- report


def test_number_format_one_rule_for_a_metric():
    from experiments.report import fmt, number_format

    # the walkthrough's bounds and difference of one metric: one number of decimals, no 1e-05
    xs = [0.000189, 0.003, -0.000312, 0.003, 3.01e-05]
    f = number_format(xs, half_widths=[0.0014, 0.0017])
    assert [f(x) for x in xs] == ["0.00019", "0.00300", "-0.00031", "0.00300", "0.00003"]
    # three significant figures of the largest value; more when the CIs need them
    assert number_format([523.4, 511.2], [12.0])(523.4) == "523"
    assert number_format([2.134, 2.05, 2.22], [0.085])(2.134) == "2.134"
    f = number_format([2.0, 2.004, 0.004, 0.002, 0.006], [0.002])  # a narrow paired difference
    assert [f(0.004), f(0.002)] == ["0.0040", "0.0020"]
    # a very narrow CI adds two decimals at most; a zero width in rounding noise none
    assert number_format([0.5975, 2.1339], [1e-5])(0.5975) == "0.5975"
    assert number_format([0.5975, 2.1339], [1e-15])(0.5975) == "0.60"
    # magnitudes no fixed number of decimals can show; zero, missing, and no "-0.00"
    assert number_format([1e-7, 3e-7])(1e-7) == "1.00e-07"
    assert number_format([0.0, 0.0])(0.0) == "0"
    f = number_format([1.5, -0.0001])
    assert (f(1.5), f(-0.0001), f(float("nan")), f(None)) == ("1.50", "0.00", "n/a", "n/a")
    assert fmt(0.123456, 2) == "0.12"


def _md_rows(text: str, heading: str) -> list[list[str]]:
    """Cells of the first Markdown table after ``heading`` (a line of the report)."""
    lines = text.split(heading + "\n", 1)[1].split("\n")
    rows = []
    for line in lines[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows[2:]  # no header, no separator


def _decimals(cell: str) -> set[int]:
    import re

    nums = re.findall(r"-?\d+(?:\.(\d+))?(e[-+]\d+)?", cell)
    assert nums and not any(e for _, e in nums), cell
    return {len(d) for d, _ in nums}


def test_report_files_and_numbers(grid_reference, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    from experiments.report import contrast_formats, fmt, number_format

    _, res, tables = grid_reference
    path = E.write_report(res.directory)
    out = path.parent
    text = path.read_text()
    for name in ("metric_vs_caseload_cap.png", "heatmap_caseload_cap_sdm_training.png",
                 "involvement_ladder.png", "contrasts_forest.png", "points.png",
                 "timeseries.png", "summary.csv", "contrasts.csv"):
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({name})" in text
    # numbers in the report come from the tables
    runs = tables["runs"]
    g = runs[runs["point_id"] == 4]["involvement_mean"]
    table = point_summary(runs, ["involvement_mean"])
    summ = table.set_index("point_id").loc[4]
    assert math.isclose(summ["mean"], g.mean())
    f = number_format(table[["mean", "ci_low", "ci_high"]].to_numpy().ravel(),
                      table["half_width"])
    assert f"| 4 | caseload_cap=32, sdm_training=0.5 | {f(summ['mean'])} | " \
           f"[{f(summ['ci_low'])}, {f(summ['ci_high'])}] | 4 |" in text
    con = pd.read_csv(out / "contrasts.csv")
    row = con[(con["point_id"] == 8) & (con["metric"] == "trust_mean")].iloc[0]
    f = contrast_formats(con)["trust_mean"]
    assert f"| {f(row['diff'])} | [{f(row['ci_low'])}, {f(row['ci_high'])}] | " \
           f"{fmt(row['A'], 2)} | {row['magnitude']} |" in text
    assert "Root seed | `123`" in text
    assert "(baseline)" in text
    # one number of decimals per metric and table: per-point means and bounds ...
    for metric in ("involvement_mean", "trust_mean", "burnout_share"):
        cells = [r[2] + " " + r[3] for r in _md_rows(text, f"### {metric}")]
        assert len(set().union(*map(_decimals, cells))) == 1, (metric, cells)
    # ... and baseline, point mean, difference and bounds of the contrasts
    by_metric: dict[str, set[int]] = {}
    for r in _md_rows(text, "### All contrasts"):
        by_metric.setdefault(r[1], set()).update(*map(_decimals, r[2:6]))
    assert len(by_metric) >= 3 and all(len(d) == 1 for d in by_metric.values()), by_metric
    # a finished sweep: no warnings, state finished
    assert "## Warnings" not in text and "| State | finished |" in text


RANKED = """
[experiment]
run_fn = "experiments.testing:fake_simulate"
steps = 10
seed = 8
[factors]
caseload_cap = [20, 32, 45]
sdm_training = { low = 0.0, high = 1.0, num = 5 }
[replications]
n = 3
[comparisons]
baseline = { caseload_cap = 32, sdm_training = 0.5 }
metrics = ["involvement_mean", "burnout_share", "trust_mean"]
[report]
metrics = ["burnout_share", "involvement_mean"]
"""


def test_report_ranks_the_points_by_their_difference_from_the_baseline(tmp_path, monkeypatch):
    """Before the full contrasts table: per headline metric ([report] metrics), the 10 points
    with the largest paired difference, with CI, A and whether the CI excludes 0, taken from
    the contrasts table."""
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    from experiments.report import RANK_TOP, contrast_formats, fmt

    E.run_experiment(spec_file(tmp_path, RANKED, run_fn=None), tmp_path / "r",
                     executor="sequential")
    text = E.write_report(tmp_path / "r").read_text()
    con = pd.read_csv(tmp_path / "r" / "report" / "contrasts.csv")
    assert con["point_id"].nunique() == 14 > RANK_TOP
    formats = contrast_formats(con)
    section = text.split("## Contrasts against the baseline", 1)[1]
    assert section.index("### Largest differences: burnout_share") < \
        section.index("### Largest differences: involvement_mean") < \
        section.index("### All contrasts")
    assert "### Largest differences: trust_mean" not in text  # contrasted, not a headline
    for metric in ("burnout_share", "involvement_mean"):
        c = con[con["metric"] == metric]
        expected = c.reindex(c["diff"].abs().sort_values(ascending=False, kind="stable").index)
        expected = expected.head(RANK_TOP)
        f = formats[metric]
        rows = _md_rows(section, f"### Largest differences: {metric}")
        assert rows == [[str(i), r.point, f(r.diff), f"[{f(r.ci_low)}, {f(r.ci_high)}]",
                         fmt(r.A, 2), r.magnitude, "yes" if r.significant else "no"]
                        for i, r in enumerate(expected.itertuples(), 1)]
        sizes = [abs(float(r[2])) for r in rows]
        assert sizes == sorted(sizes, reverse=True)
        assert f"{int(c['significant'].sum())} of 14 point(s) differ clearly" in section


# ----------------------------------------------------------------------------- real model


def test_real_model_tiny_sweep(tmp_path):
    from model import SUMMARY_KEYS

    path = spec_file(tmp_path, """
        [experiment]
        steps = 6
        window = 3
        seed = 11
        [fixed]
        n_clinicians = 3
        caseload_cap = 10
        [factors]
        defensiveness_mean = [0.2, 0.7]
        [replications]
        n = 2
        [outputs]
        timeseries_every = 3
        """, run_fn=None)
    res = E.run_experiment(path, tmp_path / "out", executor="sequential")
    assert res.failed == 0 and res.done == 4
    t = E.load(tmp_path / "out")
    runs = t["runs"]
    assert set(SUMMARY_KEYS) <= set(runs.columns)
    # a parameter that shares its name with a summary metric is stored as param_<name>
    assert set(runs["param_defensiveness_mean"]) == {0.2, 0.7}
    from experiments.analysis import metric_columns

    assert "defensiveness_mean" in metric_columns(runs)
    assert "param_defensiveness_mean" not in metric_columns(runs)
    assert len(t["timeseries"]) > 0
    # the report's time-series figure shows outputs, the report's metrics first, never the week
    from experiments.report import timeseries_columns

    cols = timeseries_columns(t["timeseries"], ["trust_mean", "rationing_rate", "no_such"])
    assert cols[:2] == ["trust_mean", "rationing_rate"] and len(cols) == 6
    assert not {"week", "step", "run_id", "point_id", "replication"} & set(cols)
    # the same runs again are identical (model determinism through the engine)
    from model import simulate

    r = simulate(None, {"n_clinicians": 3, "caseload_cap": 10, "defensiveness_mean": 0.7},
                 steps=6, window=3, seed=int(runs.loc[3, "seed"]))
    assert math.isclose(r.summary["involvement_mean"], runs.loc[3, "involvement_mean"],
                        rel_tol=0, abs_tol=0) or (math.isnan(r.summary["involvement_mean"])
                                                  and math.isnan(runs.loc[3, "involvement_mean"]))


def test_heatmap_colour_bars_sit_beside_panels_of_equal_width(grid_reference, tmp_path,
                                                             monkeypatch):
    """Each heat map's colour bar sits just right of its own panel, and the panels are equal
    in width (colour bars placed by the layout engine left wide gaps and uneven panels)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    from experiments import report

    _, res, _ = grid_reference
    kept = {}

    def keep(fig, path, *args, **kwargs):
        fig.set_layout_engine("constrained")
        fig.canvas.draw()
        kept["fig"] = fig
        return path

    monkeypatch.setattr(report, "save_figure", keep)
    a = E.analyse(res.directory)
    report.fig_heatmap(a, "caseload_cap", "sdm_training", tmp_path)
    fig = kept["fig"]
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == len(a.metrics) >= 2
    widths = [ax.get_position().width for ax in panels]
    assert max(widths) - min(widths) < 0.01 * max(widths), widths
    for ax in panels:
        bar = ax.get_images()[0].colorbar.ax.get_position()
        box = ax.get_position()
        assert 0 <= bar.x0 - box.x1 < 0.03, (bar.x0, box.x1)  # figure fraction
