"""The carepath command line, end to end (subprocesses, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent


def carepath(*args, cwd=None, timeout=300):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "model.cli", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_run_writes_timeseries_summary_and_figure(tmp_path):
    out = tmp_path / "r"
    r = carepath("run", "--scenario", "high_caseload", "--set", "sdm_training=0.5",
                 "--steps", "30", "--seed", "4", "--window", "10", "--out", str(out), "--events")
    assert r.returncode == 0, r.stderr
    assert "involvement_mean" in r.stdout and "Summary of the last 10 weeks" in r.stdout
    ts = pd.read_csv(out / "timeseries.csv")
    assert len(ts) == 31 and "involvement_share_3" in ts.columns
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["sdm_training"] == 0.5
    assert summary["params"]["caseload_cap"] == 45
    assert summary["seed"] == 4
    png = (out / "run.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    ev = pd.read_csv(out / "events.csv")
    assert len(ev) == ts["decisions"].sum()
    # the printed summary is the summary that was written
    line = next(l for l in r.stdout.splitlines() if l.strip().startswith("deals_made"))
    assert float(line.split()[1]) == summary["summary"]["deals_made"]
    assert line.endswith("deals agreed")  # with its label, under its group
    assert "\nReciprocal deals\n" in r.stdout


def test_every_summary_key_has_one_group_and_a_label():
    from model import SUMMARY_KEYS
    from model.outputs import SUMMARY_GROUPS, summary_label

    grouped = [k for _, keys in SUMMARY_GROUPS for k, _ in keys]
    assert sorted(grouped) == sorted(SUMMARY_KEYS)  # each once, none unknown
    assert all(summary_label(k) for k in SUMMARY_KEYS)


def test_run_is_reproducible_and_parquet_works(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        r = carepath("run", "--steps", "12", "--seed", "9", "--out", str(out), "--quiet",
                     "--format", "parquet", "--set", "n_clinicians=4")
        assert r.returncode == 0, r.stderr
    assert pd.read_parquet(a / "timeseries.parquet").equals(pd.read_parquet(b / "timeseries.parquet"))


@pytest.mark.parametrize("args,fragment", [
    (["run", "--set", "caseload_cap=999"], "allowed: int in [5, 150]"),
    (["run", "--set", "caseload_capp=30"], "did you mean 'caseload_cap'"),
    (["run", "--set", "caseload_cap"], "name=value"),
    (["run", "--set", "compulsion_available=perhaps"], "true or false"),
    (["run", "--scenario", "atlantis"], "one of england_cmht"),
    (["run", "--steps", "0"], "--steps"),
    (["run", "--seed", "x"], "--seed"),
    (["run", "--steps", "10", "--window", "20"], "window"),
    (["params", "--group", "nope"], "one of service"),
    (["viz", "--scenario", "atlantis"], "one of england_cmht"),
    (["viz", "--scenario", "englnd"], "did you mean 'england_cmht'?"),
    (["run", "--scenario", "England_CMHT"], "did you mean 'england_cmht'?"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, fragment, tmp_path):
    r = carepath(*args, "--out", str(tmp_path)) if args[0] == "run" else carepath(*args)
    assert r.returncode == 2
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr
    assert len([l for l in r.stderr.splitlines() if "error" in l]) == 1


def test_listings():
    r = carepath("scenarios")
    assert r.returncode == 0 and "partnership_reform" in r.stdout and "(default)" in r.stdout
    r = carepath("params", "--levers")
    assert r.returncode == 0 and "sdm_training" in r.stdout and "[lever]" in r.stdout
    assert "crisis_rate" not in r.stdout


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "carepath"
    assert exe.exists(), "pip install -e . should create the carepath console script"
    r = subprocess.run([str(exe), "scenarios"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
