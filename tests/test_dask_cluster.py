"""Sweeps on a real Dask cluster: a scheduler and workers started as separate processes (as a
researcher starts them on a cluster, here on 127.0.0.1), the sweep run from the command line
with ``--scheduler``. Checks: the runs table equals the local one; a worker killed mid-sweep
loses no run; a worker with other code is refused before it runs anything; resume refuses
changed code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import experiments as E
from experiments.errors import ExperimentError
from experiments.provenance import code_fingerprint

# 10 points x 40 replications of a ~20 ms run: long enough to kill a worker half-way
from .test_experiments_cli import SLOW, _env, comparable

REPO = Path(__file__).resolve().parent.parent

# the real model, a small service for a few weeks: what a cluster sweep runs, only smaller
REAL = """
[experiment]
name = "cluster"
steps = 8
window = 4
seed = 31

[fixed]
n_clinicians = 4
caseload_cap = 12
referrals_per_week = 2.0

[factors]
sdm_training = [0.0, 0.9]
peer_advocate_coverage = [0.0, 0.8]

[replications]
n = 3

[outputs]
timeseries_every = 4
"""


def checkout_copy(dest: Path) -> Path:
    """A copy of the checkout's code (as on another machine), without compiled caches."""
    for pkg in ("model", "experiments"):
        shutil.copytree(REPO / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


class Cluster:
    """A Dask scheduler and ``n`` single-threaded workers, each its own process group."""

    def __init__(self, tmp: Path, n: int = 2, worker_code: Path = REPO):
        from distributed import Client

        self.procs: list[subprocess.Popen] = []
        self.client = None
        try:
            self.file = tmp / "scheduler.json"
            # the idle timeout ends a scheduler that a crashed test left behind
            self._start(tmp, ["scheduler", "--host", "127.0.0.1", "--port", "0",
                              "--no-dashboard", "--idle-timeout", "600",
                              "--scheduler-file", self.file], REPO)
            deadline = time.monotonic() + 60
            while not self.file.exists():
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    pytest.fail("the Dask scheduler did not start")
                time.sleep(0.1)
            for i in range(n):
                self._start(tmp, ["worker", "--scheduler-file", self.file, "--nthreads", "1",
                                  "--no-dashboard", "--name", f"w{i}", "--death-timeout", "60"],
                            worker_code)
            self.address = json.loads(self.file.read_text())["address"]
            self.client = Client(self.address, timeout="30s")
            self.client.wait_for_workers(n, timeout=120)
        except BaseException:
            self.close()
            raise

    def _start(self, tmp: Path, args, code: Path) -> None:
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", *map(str, args)], cwd=code, env=_env(tmp, code),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.close()


def sweep_cli(args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments", *map(str, args)], cwd=cwd,
                            env=_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    """The output of a sweep subprocess; killed if it outlives ``timeout``."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_sweep_on_a_running_cluster_equals_the_local_sweep(tmp_path, cluster):
    (tmp_path / "real.toml").write_text(REAL)
    E.run_experiment(tmp_path / "real.toml", tmp_path / "local", executor="sequential")
    proc = sweep_cli(["sweep", "real.toml", "--scheduler", cluster.address, "--out", "dask"],
                     tmp_path)
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert "12 of 12 runs finished" in out
    got, ref = E.load(tmp_path / "dask"), E.load(tmp_path / "local")
    pd.testing.assert_frame_equal(comparable(got["runs"]), comparable(ref["runs"]))
    pd.testing.assert_frame_equal(got["timeseries"], ref["timeseries"])
    session = got["manifest"]["sessions"][-1]
    assert (session["executor"], session["scheduler"]) == ("dask", cluster.address)
    assert session["code_digest"] == got["manifest"]["code"]["digest"]


def test_a_worker_killed_mid_sweep_loses_no_run(tmp_path, cluster):
    (tmp_path / "slow.toml").write_text(SLOW)
    E.run_experiment(tmp_path / "slow.toml", tmp_path / "ref", executor="sequential",
                     run_fn="experiments.testing:fake_simulate")
    # --scheduler as the file the scheduler wrote (how job scripts on clusters share it)
    proc = sweep_cli(["sweep", "slow.toml", "--scheduler", cluster.file, "--out", "out",
                      "--chunk-size", "5"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        pids = cluster.worker_pids()
        while True:  # until both workers hold tasks: then one dies with work in hand
            busy = {a: len(t) for a, t in cluster.client.processing().items() if t}
            if len(busy) == 2:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the workers never got tasks"
            time.sleep(0.02)
        victim = sorted(busy)[0]
        os.kill(pids[victim], signal.SIGKILL)  # the worker process, not its nanny
        assert proc.poll() is None  # the sweep had work left when the worker died
        out, err = finish(proc)
    finally:
        finish(proc, 0.1) if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert "400 of 400 runs finished" in out
    runs = E.load(tmp_path / "out")["runs"]
    assert runs["run_id"].is_unique and (runs["status"] == "ok").all()
    ref = E.load(tmp_path / "ref")["runs"]
    pd.testing.assert_frame_equal(comparable(runs), comparable(ref))
    # the nanny restarted the killed worker: the cluster still has two, one of them new
    cluster.client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in cluster.worker_pids().values()


def test_a_worker_with_other_code_is_refused_before_any_run(tmp_path):
    """A worker started from a copy of the checkout with one edited model file (as on a
    machine whose copy was not updated): the sweep stops at once, naming the file."""
    copy = checkout_copy(tmp_path / "other-checkout")
    with open(copy / "model" / "scenarios.py", "a") as fh:
        fh.write("\n# edited on this machine only\n")
    c = Cluster(tmp_path, n=1, worker_code=copy)
    try:
        (tmp_path / "real.toml").write_text(REAL)
        proc = sweep_cli(["sweep", "real.toml", "--scheduler", c.address, "--out", "out"],
                         tmp_path)
        out, err = finish(proc)
    finally:
        c.close()
    assert proc.returncode == 2, (out, err)
    assert "1 of 1 Dask worker(s) run other code than this process" in err
    assert "files differ: model/scenarios.py" in err and "Traceback" not in err
    assert E.status(tmp_path / "out")["done"] == 0


def test_a_chunk_sent_to_a_worker_with_other_code_is_refused():
    """The check every task makes (it covers workers that join a cluster after the start)."""
    from experiments.worker import RunConfiguration, RunSettings, run_chunk

    fn = "experiments.testing:fake_simulate"
    theirs = json.loads(json.dumps(code_fingerprint(fn)))
    theirs["files"]["model/kernels.py"] = "0" * 16
    theirs["packages"]["numpy"] = "1.0"
    theirs["digest"] = "different"
    cfg = RunConfiguration("p00000-r0000", 0, "p", "england_cmht", 0, 1, {})
    with pytest.raises(ExperimentError) as exc:
        run_chunk(RunSettings(fn, 5, 5, 0, None, code=theirs), [cfg])
    msg = str(exc.value)
    assert "runs other code than the sweep" in msg and "files differ: model/kernels.py" in msg
    assert "numpy 1.0 (sweep) vs" in msg
    ok = run_chunk(RunSettings(fn, 5, 5, 0, None, code=code_fingerprint(fn)), [cfg])
    assert ok[0][0]["status"] == "ok"


FAILING = """
[experiment]
name = "failing"
run_fn = "experiments.testing:failing_simulate"
steps = 5
seed = 3

[factors]
caseload_cap = [32, 60]

[replications]
n = 2
"""


def test_resume_refuses_changed_code_unless_allowed(tmp_path, capsys):
    (tmp_path / "failing.toml").write_text(FAILING)  # caseload 60 fails: 2 runs to retry
    out = tmp_path / "out"
    E.run_experiment(tmp_path / "failing.toml", out, executor="sequential")
    # the manifest as a sweep started by another version of the model would have left it
    m = json.loads((out / "manifest.json").read_text())
    m["code"]["files"]["model/submodels.py"] = "0" * 16
    m["code"]["digest"] = m["sessions"][0]["code_digest"] = "0123456789abcdef"
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ExperimentError, match=r"the code changed since this sweep started "
                                              r"\(files differ: model/submodels.py\)"):
        E.resume(out, executor="sequential")
    from experiments import cli

    assert cli.main(["resume", str(out), "--retry-failed"]) == 2
    assert "--allow-code-change" in capsys.readouterr().err
    assert E.analyse(out).warnings == ["2 run(s) failed; the numbers in this report are from "
                                       "the successful runs only (errors and tracebacks: runs "
                                       "table, status = 'failed')."]
    # a session that runs nothing with the new code does not make two versions
    assert cli.main(["resume", str(out), "--allow-code-change"]) == 1  # 2 failed runs remain
    assert not any("versions of the code" in w for w in E.analyse(out).warnings)
    # the failed runs run again (and fail again) with the new code: now there are two
    assert cli.main(["resume", str(out), "--retry-failed", "--allow-code-change"]) == 1
    m = E.load(out)["manifest"]
    assert m["sessions"][-1]["code_digest"] == code_fingerprint(m["run_fn"])["digest"]
    assert m["sessions"][-1]["code_change"] == "files differ: model/submodels.py"
    warnings = E.analyse(out).warnings
    assert any("come from 2 versions of the code" in w and "session(s) 3 of 3" in w
               for w in warnings), warnings


def test_a_worker_that_cannot_load_the_code_is_one_line():
    """A worker started in an environment without carepath: unpickling the start-up task fails
    there with ModuleNotFoundError, which the sweep turns into one line naming the cause."""
    from experiments.runner import _worker_fingerprints

    class NoCarepathClient:
        def run(self, fn, *args):  # what distributed raises for a worker without carepath
            raise Exception("ModuleNotFoundError(\"No module named 'experiments'\")")

    with pytest.raises(ExperimentError, match=r"key '--scheduler': a Dask worker could not load "
                                              r"the sweep's code \(Exception: ModuleNotFound"
                                              r"Error\(\"No module named 'experiments'\"\)\)"
                                              r".*same checkout and package versions"):
        _worker_fingerprints(NoCarepathClient(), "model.run:simulate")


def test_the_fingerprint_covers_every_model_module_a_run_imports():
    """A run in a fresh process imports model modules; each must be in the fingerprint (or an
    edit to it would pass the cluster and resume checks unseen), and the browser, plotting and
    command-line modules, which no run imports, must not be."""
    code = ("import sys, json; from experiments.worker import execute_run, RunSettings, "
            "RunConfiguration; r, _ = execute_run(RunSettings('model.run:simulate', 2, 2, 0, "
            "None), RunConfiguration('x', 0, 'p', 'england_cmht', 0, 1, {})); "
            "assert r['status'] == 'ok', r['error']; "
            "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() "
            "if n == 'model' or n.startswith('model.'))))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(REPO), text=True,
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    imported = {Path(f).resolve().relative_to(REPO).as_posix()
                for f in json.loads(r.stdout.splitlines()[-1])}
    files = set(code_fingerprint("model.run:simulate")["files"])
    assert imported - files == set()
    assert {"model/kernels.py", "model/submodels.py", "experiments/worker.py",
            "experiments/design.py"} <= files
    assert not {"model/app.py", "model/plots.py", "model/cli.py"} & files


def test_a_process_whose_files_changed_after_it_loaded_them_is_refused(tmp_path):
    """As in a notebook: the code is loaded, then a model file is edited on disk, then a sweep
    starts. New worker processes would import the edited file while the manifest recorded the
    loaded one, so the sweep is refused with 'restart'."""
    copy = checkout_copy(tmp_path / "checkout")
    (tmp_path / "s.toml").write_text(SLOW.replace("n = 40", "n = 1"))
    code = ("import experiments as E, sys; from experiments.errors import ExperimentError\n"
            "E.run_experiment(sys.argv[1], sys.argv[2] + '/a', executor='sequential')\n"
            "open('model/scenarios.py', 'a').write('# edited\\n')\n"
            "try:\n"
            "    E.run_experiment(sys.argv[1], sys.argv[2] + '/b', executor='process')\n"
            "except ExperimentError as exc:\n"
            "    print(exc)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.toml"), str(tmp_path)],
                       cwd=copy, env=_env(tmp_path, copy), text=True, capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert ("the code's files changed after this process loaded them (files differ: "
            "model/scenarios.py)") in r.stdout
    assert "restart the Python process" in r.stdout
    assert not (tmp_path / "b").exists()  # refused before the directory was made
