"""A sweep that did not finish: ``carepath status`` tells a killed sweep (its process is gone)
from a running one, and says "unknown" for a sweep on another host; ``carepath report`` warns at
the top of report.md and on stderr that the numbers are from the finished runs only."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import experiments as E
from experiments import cli
from experiments.store import Store

from .test_experiments_cli import SLOW, _kill_group, _start, _wait_for_parts

GRID = """
[experiment]
run_fn = "experiments.testing:fake_simulate"
steps = 5
seed = 3
[factors]
caseload_cap = [20, 32]
[replications]
n = 2
[comparisons]
baseline = { caseload_cap = 20 }
"""


@pytest.fixture
def finished(tmp_path) -> Path:
    (tmp_path / "g.toml").write_text(GRID)
    E.run_experiment(tmp_path / "g.toml", tmp_path / "out", executor="sequential")
    return tmp_path / "out"


def _recorded_running(out: Path, **session) -> None:
    """Make the manifest say what a sweep process killed mid-run leaves: state running."""
    store = Store.open(out)
    m = store.read_manifest()
    m["state"] = "running"
    m["sessions"][-1].update(session)
    store.write_manifest(m)


def _exited_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_sweep_recorded_as_running_is_checked_against_its_lock(finished, capsys):
    """"Running" means a process holds the directory's sweep lock, not that some process has
    the recorded id (containers and reboots reuse ids: PID 1 may be the resume itself)."""
    out = finished
    here = platform.node()
    store = E.Store.open(out)
    assert store.read_manifest()["sessions"][-1]["pid"] == os.getpid()
    _recorded_running(out, host=here, pid=12345)
    with store.session_lock():  # as the sweep process holds it, for its whole session
        st = E.status(out)
        assert (st["state"], st["recorded_state"]) == ("running", "running")
        assert st["state_note"] == "process 12345 on this host"
        # a second sweep, resume or overwrite of the same directory is refused meanwhile
        with pytest.raises(E.ExperimentError, match="still running"):
            E.resume(out)
        with pytest.raises(E.ExperimentError, match="still running"):
            E.run_experiment(out / "experiment.toml", out, overwrite=True)

    # lock free: the process is gone, whatever process now has its id (here: this one)
    _recorded_running(out, host=here, pid=os.getpid())
    st = E.status(out)
    assert st["state"] == "interrupted"
    assert st["state_note"] == (f"the sweep process {os.getpid()} is no longer running; "
                                f"carepath resume {out}")
    assert cli.main(["status", str(out)]) == 0
    assert (f"state       interrupted (the sweep process {os.getpid()} is no longer running; "
            f"carepath resume {out})") in capsys.readouterr().out

    # another host: its lock may not be visible from here, so never called interrupted
    _recorded_running(out, host="elsewhere.example", pid=7)
    st = E.status(out)
    assert st["state"] == "unknown" and "on host elsewhere.example" in st["state_note"]
    # ... and resuming it warns but goes on
    res = E.resume(out, executor="sequential")
    assert res.failed == 0 and E.status(out)["state"] == "finished"


def test_sigkilled_sweep_is_interrupted_and_its_report_says_incomplete(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    (tmp_path / "slow.toml").write_text(SLOW)
    out = tmp_path / "out"
    proc = _start(tmp_path, ["sweep", "slow.toml", "--out", out, "--executor", "sequential"])
    try:
        _wait_for_parts(out, proc)
        st = E.status(out)
        assert st["state"] == "running" and st["state_note"] == f"process {proc.pid} on this host"
        # a report of a sweep still running says so (and not to resume it)
        assert cli.main(["report", str(out)]) == 0
        err = capsys.readouterr().err
        assert "warning: the sweep is still running" in err and "resume" not in err
        # resuming a sweep whose process still runs would write its runs twice: refused
        assert cli.main(["resume", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"is still running (process {proc.pid} on this host)" in err
        assert proc.poll() is None  # and the sweep itself goes on
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_group(proc)
    assert E.load(out)["manifest"]["state"] == "running"  # as the killed process left it
    st = E.status(out)
    assert st["state"] == "interrupted" and f"process {proc.pid} is no longer" in st["state_note"]
    done, pending = st["done"], st["pending"]
    assert 0 < done < 400 and pending == 400 - done

    assert cli.main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    warning = (f"the sweep is incomplete: {done} of 400 planned runs done, {pending} pending; "
               "the numbers in this report are from the finished runs only. Finish it with "
               f"`carepath resume {out}`")
    assert f"warning: {warning}" in captured.err
    text = (out / "report" / "report.md").read_text()
    assert text.index("## Warnings") < text.index("## What was run")
    assert f"- {warning}" in text
    assert (f"| State | interrupted (the sweep process {proc.pid} is no longer running; "
            f"carepath resume {out}) |") in text
    assert f"| Runs | {done} succeeded, 0 failed, {pending} pending (of 400 planned) |" in text


def test_failed_runs_are_warned_about_the_same_way(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    (tmp_path / "f.toml").write_text(GRID.replace("fake_simulate", "failing_simulate")
                                     .replace("[20, 32]", "[20, 60]"))
    E.run_experiment(tmp_path / "f.toml", tmp_path / "out", executor="sequential")
    assert cli.main(["report", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 run(s) failed; the numbers in this report are from the successful runs " \
           "only" in err and "incomplete" not in err
    text = (tmp_path / "out" / "report" / "report.md").read_text()
    assert text.index("## Warnings") < text.index("## What was run")
    assert "- 2 run(s) failed; the numbers in this report" in text


def test_a_report_of_a_running_sweep_warns_even_with_nothing_pending():
    """Between the last runs' flush and the manifest's "finished" (or between adaptive batches)
    nothing is pending, but the sweep still runs: the report says so."""
    from experiments.analysis import run_warnings

    st = {"state": "running", "state_note": "process 9 on this host", "done": 4, "planned": 4,
          "pending": 0, "adaptive": True, "directory": "out"}
    [warning] = run_warnings(st, 0)
    assert warning.startswith("the sweep is still running (process 9 on this host): 4 of 4")
    assert run_warnings({**st, "state": "finished"}, 0) == []
