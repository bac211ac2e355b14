"""Batch experiments from the command line: sweep / resume / status / report, and interruption
(a real SIGKILL and a Ctrl-C of a sweep subprocess) followed by ``resume``."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import experiments as E
from experiments import cli

REPO = Path(__file__).resolve().parent.parent

SPEC = """
[experiment]
name = "cli_grid"
run_fn = "experiments.testing:fake_simulate"
steps = 10
seed = 5

[factors]
caseload_cap = [20, 32, 45]
sdm_training = [0.0, 0.8]

[replications]
n = 3

[comparisons]
baseline = { caseload_cap = 32, sdm_training = 0.0 }
"""

# 10 points x 40 replications of a ~20 ms run: several seconds, long enough to interrupt
SLOW = """
[experiment]
name = "slow"
run_fn = "experiments.testing:slow_simulate"
steps = 10
seed = 77

[factors]
caseload_cap = [20, 24, 28, 32, 36, 40, 44, 48, 52, 56]

[replications]
n = 40
"""


def _env(tmp_path, pythonpath: Path = REPO):
    """The environment of a subprocess that imports carepath from ``pythonpath``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    return env


def run_cli(args, tmp_path, module="experiments", timeout=180):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=timeout)


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.drop(columns=["duration_s"]).sort_values("run_id").reset_index(drop=True)


def test_register_adds_subcommands_to_any_parser():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    cli.register(sub)
    a = parser.parse_args(["sweep", "f.toml", "--workers", "2", "--executor", "dask",
                           "--scheduler", "tcp://h:8786", "--out", "d", "--chunk-size", "4"])
    assert (a.func, a.file, a.workers, a.executor, a.scheduler, a.out, a.chunk_size) == (
        cli.cmd_sweep, "f.toml", 2, "dask", "tcp://h:8786", "d", 4)
    a = parser.parse_args(["resume", "d", "--executor", "sequential"])
    assert a.func is cli.cmd_resume and a.directory == "d" and a.executor == "sequential"
    assert parser.parse_args(["status", "d"]).func is cli.cmd_status
    assert parser.parse_args(["report", "d"]).func is cli.cmd_report
    with pytest.raises(SystemExit):
        parser.parse_args(["sweep", "f.toml", "--workers", "0"])


def test_cli_end_to_end_in_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.toml").write_text(SPEC)
    assert cli.main(["sweep", "grid.toml", "--executor", "sequential"]) == 0
    out = capsys.readouterr()
    assert "18 of 18 runs finished" in out.out and "results/cli_grid" in out.out
    assert "18/18" in out.err  # the progress bar
    assert cli.main(["status", "results/cli_grid"]) == 0
    out = capsys.readouterr().out
    assert "18 planned: 18 done, 0 failed, 0 pending" in out and "finished" in out
    assert cli.main(["report", "results/cli_grid"]) == 0
    assert (tmp_path / "results/cli_grid/report/report.md").is_file()
    # the same directory again: refused with a pointer to resume, exit 2, one line
    assert cli.main(["sweep", "grid.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "carepath resume" in err and "\n" not in err
    assert cli.main(["resume", "results/cli_grid"]) == 0
    assert "18 of 18 runs finished (0 this session)" in capsys.readouterr().out


def test_cli_failures_exit_nonzero_with_count(tmp_path, capsys):
    (tmp_path / "f.toml").write_text(SPEC.replace("fake_simulate", "failing_simulate")
                                     .replace("[20, 32, 45]", "[32, 60]"))
    code = cli.main(["sweep", str(tmp_path / "f.toml"), "--out", str(tmp_path / "o"),
                     "--executor", "process", "--workers", "2"])
    assert code == 1
    err = capsys.readouterr().err
    assert "6 run(s) failed" in err and "injected failure" in err


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(SPEC.replace("caseload_cap = [20, 32, 45]",
                                                    "caseload_cap = [20, 320]"))
    assert cli.main(["sweep", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "key 'factors.caseload_cap[1]'" in err and "got 320" in err and "[5, 150]" in err
    assert cli.main(["status", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    (tmp_path / "ok.toml").write_text(SPEC)
    assert cli.main(["sweep", str(tmp_path / "ok.toml"), "--executor", "process",
                     "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs --executor dask" in capsys.readouterr().err


def test_carepath_cli_runs_the_experiment_commands(tmp_path):
    """Through the project's main CLI (``carepath`` = ``python -m model.cli``)."""
    (tmp_path / "grid.toml").write_text(SPEC)
    r = run_cli(["sweep", "grid.toml", "--out", "out", "--workers", "2", "--report"], tmp_path,
                module="model.cli")
    assert r.returncode == 0, r.stderr
    assert "18 of 18 runs finished" in r.stdout and "report:" in r.stdout
    r = run_cli(["status", "out"], tmp_path, module="model.cli")
    assert r.returncode == 0 and "18 done" in r.stdout
    r = run_cli(["sweep", "missing.toml"], tmp_path, module="model.cli")
    assert r.returncode == 2 and "error:" in r.stderr and "not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_report_reproduce_command_repeats_a_sweep_with_a_random_seed(tmp_path, capsys,
                                                                      monkeypatch):
    """A file without a seed, run with --run-fn: the report's 'Reproduce' command (pinned
    root seed, same run function, stored copy of the file) gives the same runs table."""
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.toml").write_text(SPEC.replace("seed = 5\n", "").replace(
        'run_fn = "experiments.testing:fake_simulate"\n', ""))
    assert cli.main(["sweep", "g.toml", "--out", "first", "--executor", "sequential",
                     "--run-fn", "experiments.testing:fake_simulate", "--report"]) == 0
    manifest = E.Store.open("first").read_manifest()
    report = (tmp_path / "first/report/report.md").read_text()
    block = report.split("## Reproduce", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    argv = shlex.split(block)
    assert argv[:2] == ["carepath", "sweep"] and "--seed" in argv and "--run-fn" in argv
    seed = int(argv[argv.index("--seed") + 1])
    assert seed == manifest["root_seed"] and manifest["seed_source"] == "generated"
    assert "drawn at random" in report
    (tmp_path / "g.toml").unlink()  # the command must not need the original file
    capsys.readouterr()
    assert cli.main(argv[1:] + ["--executor", "sequential"]) == 0
    again = Path(argv[argv.index("--out") + 1])
    first, second = E.load("first")["runs"], E.load(again)["runs"]
    assert len(first) == 18
    pd.testing.assert_frame_equal(comparable(first), comparable(second))
    # a different --seed changes every run's seed
    assert cli.main(["sweep", str(tmp_path / "first/experiment.toml"), "--seed", str(seed + 1),
                     "--out", "third", "--executor", "sequential",
                     "--run-fn", "experiments.testing:fake_simulate"]) == 0
    assert not set(E.load("third")["runs"]["seed"]) & set(first["seed"])


def _start(tmp_path, args):
    return subprocess.Popen([sys.executable, "-m", "experiments", *map(str, args)],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_parts(out: Path, proc, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((out / "parts").glob("runs-*.parquet")) if (out / "parts").is_dir() else []:
            return
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("no results were written")


def _kill_group(proc) -> None:
    """Remove any worker our killed sweep left behind (only processes this test started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slowref")
    (tmp / "slow.toml").write_text(SLOW.replace("slow_simulate", "fake_simulate"))
    E.run_experiment(tmp / "slow.toml", tmp / "ref", executor="sequential")
    return E.load(tmp / "ref")["runs"]


def test_resume_after_sigkill_equals_uninterrupted_sweep(tmp_path, slow_reference):
    (tmp_path / "slow.toml").write_text(SLOW)
    out = tmp_path / "out"
    proc = _start(tmp_path, ["sweep", "slow.toml", "--out", out, "--executor", "process",
                             "--workers", "2"])
    try:
        _wait_for_parts(out, proc)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)  # the sweep process itself, with no warning
        proc.wait(timeout=30)
    finally:
        _kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "runs.parquet").exists()  # it really did not finish
    st = E.status(out)
    assert 0 < st["done"] < 400 and st["pending"] == 400 - st["done"]
    assert E.load(out)["manifest"]["state"] == "running"  # as the killed process left it

    r = run_cli(["resume", out, "--workers", "2"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"({400 - st['done']} this session)" in r.stdout
    runs = E.load(out)["runs"]
    assert len(runs) == 400 and runs["run_id"].is_unique
    pd.testing.assert_frame_equal(comparable(runs), comparable(slow_reference))
    m = E.load(out)["manifest"]
    assert m["state"] == "finished" and len(m["sessions"]) == 2


def test_ctrl_c_then_resume(tmp_path, slow_reference):
    (tmp_path / "slow.toml").write_text(SLOW)
    out = tmp_path / "out"
    proc = _start(tmp_path, ["sweep", "slow.toml", "--out", out, "--executor", "sequential"])
    try:
        _wait_for_parts(out, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=30)
    finally:
        _kill_group(proc)
    assert proc.returncode == 130, err
    assert "carepath resume" in err and "Traceback" not in err
    assert E.load(out)["manifest"]["state"] == "interrupted"
    done = E.status(out)["done"]
    res = E.resume(out, executor="sequential")
    assert res.ran == 400 - done
    pd.testing.assert_frame_equal(comparable(E.load(out)["runs"]), comparable(slow_reference))
