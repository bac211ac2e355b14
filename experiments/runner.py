"""Running an experiment: run configurations, executors, streaming results into the store.

Vocabulary follows Mesa 4's experiment API: a :class:`RunConfiguration` is one run (design
point x replication, with its seed); :func:`run_experiment` hands them to an executor (anything
with the :class:`concurrent.futures.Executor` interface) and streams results into a
:class:`~experiments.store.Store`. Failures are data: a run that raises is recorded with its
parameters, seed and traceback, and the sweep goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import logging
import math
import multiprocessing
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .design import Design, build_design, replication_seed
from .errors import ExperimentError
from .provenance import (SAME_CODE, check_loaded_code, code_difference, code_fingerprint,
                         git_info, versions)
from .spec import EXECUTORS, ExperimentSpec, load_spec, parse_spec
from .store import Store, now_iso, recorded_process, sweep_lock_held
from .worker import (RunConfiguration, RunSettings, failed_record, init_worker, resolve_run_fn,
                     run_chunk)

log = logging.getLogger(__name__)

__all__ = [
    "ProgressEvent",
    "RunConfiguration",
    "SequentialExecutor",
    "SweepResult",
    "make_executor",
    "plan_runs",
    "resume",
    "run_experiment",
    "status",
    "sweep_state",
    "sweep_status",
]


#: Added when the pool breaks before any run finished: the usual cause is a script without the
#: ``__main__`` guard (worker processes import the main module; Python docs, multiprocessing,
#: "Safe importing of main module").
_MAIN_GUARD_HINT = (
    " No run had finished: if you started the sweep from a Python script, put the call under "
    "`if __name__ == \"__main__\":` (worker processes import the script again), or use "
    "workers=1.")


def run_id_for(point_id: int, replication: int) -> str:
    return f"p{point_id:05d}-r{replication:04d}"


def run_settings(spec: ExperimentSpec, code: dict[str, Any] | None = None) -> RunSettings:
    """What every run shares; ``code``: the fingerprint every worker must have."""
    from model.params import SCHEMA

    from .spec import known_metrics

    names = set(spec.metrics or known_metrics(spec.run_fn) or ())
    return RunSettings(spec.run_fn, spec.steps, spec.window, spec.timeseries_every,
                       tuple(spec.metrics) if spec.metrics is not None else None,
                       frozenset(names & set(SCHEMA)), code)


def param_column(columns, name: str) -> str:
    """The runs-table column of parameter ``name`` (``param_<name>`` if a metric has its name)."""
    return f"param_{name}" if f"param_{name}" in columns else name


# ----------------------------------------------------------------------------- executors


class SequentialExecutor(cf.Executor):
    """Runs each task in the calling process when it is submitted."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fut.set_exception(exc)
        return fut


@contextlib.contextmanager
def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None,
                  run_fn: str | None = None) -> Iterator[tuple[cf.Executor, int]]:
    """An executor of the given kind and the number of workers it runs on.

    ``process`` uses an explicit multiprocessing context (:func:`_mp_context`; never the global
    start method), and each worker imports the run function once at start. ``dask`` connects to
    ``scheduler`` or starts a local cluster of ``workers`` single-threaded processes. ``workers``
    ``None`` means one per available core.
    """
    check_executor(kind, workers)
    if kind == "sequential":
        yield SequentialExecutor(), 1
        return
    if kind == "process":
        n = workers or default_workers()
        ex = cf.ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(run_fn),
                                    initializer=init_worker, initargs=(run_fn or "",))
        try:
            yield ex, n
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        return
    # dask
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExperimentError("the dask executor needs dask.distributed, which is not installed",
                              key="--executor", value="dask",
                              allowed="make setup, or .venv/bin/pip install -e '.[dask]' "
                                      "(dask[distributed])"
                              ) from None
    cluster = None
    try:
        if scheduler:
            # an address, or the JSON file `dask scheduler --scheduler-file` writes (as on
            # clusters whose job scripts share the address through a file)
            file = Path(scheduler).expanduser()
            where = {"scheduler_file": str(file)} if file.is_file() else {"address": scheduler}
            try:
                client = Client(**where, timeout="20s")
            except (OSError, TimeoutError, ValueError, KeyError) as exc:
                raise ExperimentError(f"cannot reach the Dask scheduler ({exc})",
                                      key="--scheduler", value=scheduler,
                                      allowed="a running scheduler's address, e.g. "
                                              "tcp://host:8786, or its --scheduler-file"
                                      ) from None
        else:
            cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                                   processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
        try:
            if run_fn:
                _check_cluster_code(_worker_fingerprints(client, run_fn), run_fn)
            n = max(1, sum(w.get("nthreads", 1) for w in
                           client.scheduler_info().get("workers", {}).values()))
            yield client.get_executor(pure=False), n
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _worker_fingerprints(client, run_fn: str) -> dict[str, dict]:
    """Each Dask worker imports the run function and reports its code fingerprint. A worker
    without carepath (or a broken environment) fails here, before any run, with one line."""
    try:
        return client.run(init_worker, run_fn, True)
    except Exception as exc:  # noqa: BLE001 - whatever the worker raised, said in one line
        raise ExperimentError(
            f"a Dask worker could not load the sweep's code ({type(exc).__name__}: {exc})",
            key="--scheduler",
            allowed=SAME_CODE) from None


def _check_cluster_code(worker_code: dict[str, dict], run_fn: str) -> None:
    """Refuse a Dask cluster any of whose workers runs other code than this process (each
    worker checks again before every task, which covers workers that join later)."""
    here = code_fingerprint(run_fn)
    bad = {addr: code_difference(here, fp, ("in this process", "on the worker"))
           for addr, fp in worker_code.items()}
    bad = {addr: diff for addr, diff in bad.items() if diff}
    if bad:
        first, diff = next(iter(sorted(bad.items())))
        raise ExperimentError(
            f"{len(bad)} of {len(worker_code)} Dask worker(s) run other code than this process "
            f"(first: {first}: {diff}); their runs would not be comparable, so none were run",
            key="--scheduler",
            allowed=SAME_CODE)


def check_count(key: str, value: Any, none_means: str) -> None:
    """Refuse a count (workers, chunk size) that is not ``None`` or an integer >= 1 (``0`` once
    fell through ``value or default`` to the default, silently)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ExperimentError(key=key, value=value,
                              allowed=f"an integer >= 1, or None for {none_means}")


def check_executor(kind: str, workers: int | None) -> None:
    """Refuse an unknown executor kind or a bad worker count."""
    if kind not in EXECUTORS:
        raise ExperimentError(key="--executor", value=kind,
                              allowed="one of " + ", ".join(EXECUTORS))
    check_count("workers", workers, "one per available core")


def _execution(spec: ExperimentSpec, executor: str | None, workers: int | None,
               scheduler: str | None, chunk_size: int | None) -> dict[str, Any]:
    """How to run: the arguments, else the file's ``[execution]`` table; checked before the
    output directory is created or touched."""
    ex = {"executor": executor or spec.executor, "scheduler": scheduler or spec.scheduler,
          "workers": spec.workers if workers is None else workers,
          "chunk_size": spec.chunk_size if chunk_size is None else chunk_size}
    check_executor(ex["executor"], ex["workers"])
    check_count("chunk_size", ex["chunk_size"], "automatic chunks")
    return ex


def _mp_context(run_fn: str | None):
    """An explicit multiprocessing context (the global start method is never touched).

    ``forkserver`` where the platform has it: workers are forked from a server process that has
    already imported the worker module and the run function's module and loaded the model's
    compiled kernels (:mod:`experiments._preload`), so each worker starts in milliseconds and the
    model is imported and loaded once. Elsewhere ``spawn``.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        preload = ["experiments._preload"]  # the worker, the model and its compiled kernels
        if run_fn:
            preload.append(run_fn.partition(":")[0])
        ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------- planning


def t_quantile(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def half_width(values: list[float]) -> float:
    """95% CI half-width of the mean (Student t); infinite with fewer than two values."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    n = len(vals)
    if n < 2:
        return math.inf
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    return t_quantile(n) * sd / math.sqrt(n)


def _required_reps(spec: ExperimentSpec, values: dict[int, float]) -> int:
    """How many replications a point needs, given its finished ones (adaptive rule).

    The rule looks at replications 0..n-1 only once all of them are finished, so the outcome
    does not depend on the order in which runs finish (or on interruptions).
    """
    a = spec.adaptive
    assert a is not None
    n = a.min
    while True:
        if any(r not in values for r in range(n)) or n >= a.max:
            return n
        vals = [values[r] for r in range(n)]
        hw = half_width(vals)
        target = a.half_width
        if a.relative:
            ok = [v for v in vals if not math.isnan(v)]
            target *= abs(sum(ok) / len(ok)) if ok else math.inf
        if hw <= target:
            return n
        n = min(n + a.batch, a.max)


def plan_runs(spec: ExperimentSpec, design: Design,
              adaptive_values: dict[int, dict[int, float]] | None = None) -> list[tuple[int, int]]:
    """(point id, replication) of every run currently required, replication-major."""
    if spec.adaptive is None:
        reps = [spec.replications] * len(design)
    else:
        adaptive_values = adaptive_values or {}
        reps = [_required_reps(spec, adaptive_values.get(p.point_id, {}))
                for p in design.points]
    out = []
    for r in range(max(reps, default=0)):
        out.extend((p.point_id, r) for p, n in zip(design.points, reps) if r < n)
    return out


def configuration(design: Design, point_id: int, replication: int) -> RunConfiguration:
    p = design.points[point_id]
    return RunConfiguration(run_id_for(point_id, replication), point_id, p.label, p.scenario,
                            replication, replication_seed(design.spec.seed, replication),
                            p.overrides)


# ----------------------------------------------------------------------------- results


@dataclass
class ProgressEvent:
    """Passed to the ``progress`` callback after each finished chunk."""

    done: int  # runs finished (ok or failed), including earlier sessions
    failed: int
    total: int  # runs currently planned (grows with adaptive replications)
    new: int  # runs finished by this chunk


@dataclass
class SweepResult:
    directory: Path
    planned: int
    done: int
    failed: int
    ran: int  # runs executed in this session
    seconds: float
    failures: list[str] = field(default_factory=list)  # first few "run_id: error" lines

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.done == self.planned


def _load_any_spec(spec: ExperimentSpec | str | Path, run_fn: str | None) -> ExperimentSpec:
    if isinstance(spec, ExperimentSpec):
        if run_fn:
            return parse_spec(spec.text, spec.source, spec.name, run_fn=run_fn)
        return spec
    s = load_spec(spec)
    return parse_spec(s.text, s.source, s.name, run_fn=run_fn) if run_fn else s


def run_experiment(spec: ExperimentSpec | str | Path, out: str | Path, *,
                   executor: str | None = None, workers: int | None = None,
                   scheduler: str | None = None, chunk_size: int | None = None,
                   run_fn: str | None = None, seed: int | None = None,
                   overwrite: bool = False,
                   progress: Callable[[ProgressEvent], None] | None = None,
                   flush_seconds: float = 2.0, flush_rows: int = 500) -> SweepResult:
    """Validate, plan and run an experiment into the directory ``out``.

    Arguments given here override the file's ``[execution]`` table; ``run_fn``
    (``"module:function"``) overrides ``experiment.run_fn`` and ``seed`` the root seed
    (``experiment.seed``; without either, a random root seed is drawn and recorded).
    """
    spec = _load_any_spec(spec, run_fn)
    seed_source = "file"
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**128:
            raise ExperimentError("bad root seed", key="seed", value=seed,
                                  allowed="an integer in [0, 2**128)",
                                  file="run_experiment(seed=...)")
        spec = spec.with_seed(seed)
        seed_source = "argument"
    elif spec.seed is None:
        import numpy as np

        spec = spec.with_seed(int(np.random.SeedSequence().entropy))
        seed_source = "generated"
    resolve_run_fn(spec.run_fn)  # fail now, not once per run
    check_loaded_code(spec.run_fn)
    execution = _execution(spec, executor, workers, scheduler, chunk_size)
    design = build_design(spec)  # validates every point before anything runs
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "experiment_file": spec.path,
        "experiment_digest": spec.digest,
        "root_seed": spec.seed,
        "seed_source": seed_source,
        "run_fn": spec.run_fn,
        "spec": spec.to_dict(),
        "design": {"type": spec.design, "points": len(design), "factors": design.factor_names,
                   "baseline_point_id": design.baseline_id},
        "planned_runs": len(plan_runs(spec, design)),
        "created_at": now_iso(),
        "started_at": None,
        "finished_at": None,
        "state": "created",
        "counts": {"done": 0, "failed": 0, "pending": None},
        "sessions": [],
        "versions": versions(),
        "git": git_info(),
        "code": code_fingerprint(spec.run_fn),
        "host": platform.node(),
    }
    # the root seed is recorded in the manifest: resume reuses it, never draws a new one
    store = Store.create(out, manifest, spec.text, design.points_frame(), overwrite=overwrite)
    with store.session_lock():
        return _drive(store, spec, design, **execution, progress=progress,
                      flush_seconds=flush_seconds, flush_rows=flush_rows)


def open_experiment(directory: str | Path) -> tuple[Store, ExperimentSpec, Design]:
    """The store, spec (with its recorded root seed and run function) and design of DIR."""
    store = Store.open(directory)
    m = store.read_manifest()
    spec = parse_spec(store.spec_path.read_text(encoding="utf-8"), str(store.spec_path),
                      m.get("name", "experiment"), run_fn=m.get("run_fn"))
    spec = spec.with_seed(int(m["root_seed"]))
    if spec.digest != m.get("experiment_digest"):
        raise ExperimentError("experiment.toml was changed after the sweep started",
                              file=str(store.spec_path),
                              allowed="the file as recorded in manifest.json (start a new sweep "
                                      "for a changed experiment)")
    return store, spec, build_design(spec)


def resume(directory: str | Path, *, executor: str | None = None, workers: int | None = None,
           scheduler: str | None = None, chunk_size: int | None = None,
           retry_failed: bool = False, allow_code_change: bool = False,
           progress: Callable[[ProgressEvent], None] | None = None,
           flush_seconds: float = 2.0, flush_rows: int = 500) -> SweepResult:
    """Continue an interrupted sweep in ``directory``, skipping finished runs.

    Refused while the sweep still runs (its process holds the directory's lock,
    :meth:`Store.session_lock`): two processes writing the same runs would duplicate them.
    Refused, too, when the code that runs (:func:`provenance.code_fingerprint`) is not the code
    the sweep started with: its table would mix two versions of the model. ``allow_code_change``
    goes on anyway; the session records the new fingerprint and the report warns."""
    store, spec, design = open_experiment(directory)
    resolve_run_fn(spec.run_fn)
    check_loaded_code(spec.run_fn)
    execution = _execution(spec, executor, workers, scheduler, chunk_size)
    with store.session_lock():  # a running sweep is refused first, whatever its code
        code_change = check_resumed_code(store, spec.run_fn, allow_code_change)
        state, note = sweep_state(store.read_manifest(), store.root, locked_here=True)
        if state == "unknown":
            log.warning("resuming %s: %s", store.root, note)
        store.clean_temporaries()
        return _drive(store, spec, design, **execution, progress=progress,
                      retry_failed=retry_failed, code_change=code_change,
                      flush_seconds=flush_seconds, flush_rows=flush_rows)


def check_resumed_code(store: Store, run_fn: str, allow_code_change: bool) -> str:
    """Refuse to resume with other code than the sweep started with (see :func:`resume`);
    with ``allow_code_change``, return what differs ('' when nothing does)."""
    recorded = store.read_manifest().get("code")
    if not recorded:  # a sweep from before fingerprints were recorded
        log.warning("%s records no code fingerprint; cannot check that resuming runs the same "
                    "code", store.root)
        return ""
    diff = code_difference(recorded, code_fingerprint(run_fn), ("when it started", "now"))
    if diff and allow_code_change:
        log.warning("resuming %s with changed code (%s)", store.root, diff)
    elif diff:
        raise ExperimentError(
            f"the code changed since this sweep started ({diff}); finishing it would mix runs "
            "of two versions of the model in one table", file=str(store.manifest_path),
            allowed="the code the sweep started with (its git commit is in manifest.json); a "
                    "new sweep (carepath sweep FILE --out NEW_DIR); or --allow-code-change to "
                    "go on anyway (recorded; the report then warns; every later resume needs "
                    "it too)")
    return diff


def _finished_state(store: Store, spec: ExperimentSpec, retry_failed: bool = False):
    """(finished (point, rep) -> status, adaptive values per point) from the store."""
    cols = ["point_id", "replication", "status"]
    metric = spec.adaptive.metric if spec.adaptive else None
    if metric:
        cols.append(metric)
    df = store.read_columns(cols)
    finished: dict[tuple[int, int], str] = {}
    values: dict[int, dict[int, float]] = {}
    for row in df.itertuples(index=False):
        if retry_failed and row.status != "ok":
            continue
        key = (int(row.point_id), int(row.replication))
        finished[key] = row.status
        if metric:
            v = getattr(row, metric) if row.status == "ok" else math.nan
            values.setdefault(key[0], {})[key[1]] = float(v) if v is not None else math.nan
    return finished, values


def sweep_state(manifest: dict[str, Any], directory: str | Path,
                locked_here: bool = False) -> tuple[str, str]:
    """The state of a sweep as it is now, and a note saying why and what to do.

    The manifest says ``running`` from the start of a session until it ends, also when the
    process was killed (SIGKILL, power loss) and could not say otherwise. So for ``running``
    the sweep's lock is tried (:func:`store.sweep_lock_held`): held means ``running``; free
    means ``interrupted``, except for a sweep recorded on another host (file locks may not
    reach across hosts) or on a system without file locks, which is ``unknown``.
    ``locked_here``: the caller holds the lock itself (a resume about to start).
    """
    state = manifest.get("state") or "unknown"
    resume_hint = f"carepath resume {directory}"
    if state == "interrupted":
        return state, resume_hint
    if state != "running":
        return state, ""
    who, here = recorded_process(manifest)
    held = False if locked_here else sweep_lock_held(directory)
    if held:
        return "running", who
    if held is None:
        return "unknown", (f"recorded as running by {who}, which cannot be checked here (no "
                           f"file locks); if it was stopped: {resume_hint}")
    if not here:
        return "unknown", (f"recorded as running by {who}; its lock is free as seen from "
                           f"{platform.node()}, but locks may not reach across hosts; if it "
                           f"was stopped: {resume_hint}")
    pid = manifest["sessions"][-1].get("pid")
    return "interrupted", f"the sweep process {pid} is no longer running; {resume_hint}"


def sweep_status(store: Store, spec: ExperimentSpec, design: Design) -> dict[str, Any]:
    """Counts of done / failed / pending runs and the state (:func:`sweep_state`)."""
    finished, values = _finished_state(store, spec)
    planned = plan_runs(spec, design, values)
    done, failed = _counts(planned, finished)
    m = store.read_manifest()
    state, note = sweep_state(m, store.root)
    return {"directory": str(store.root), "name": spec.name, "state": state,
            "state_note": note, "recorded_state": m.get("state"),
            "planned": len(planned), "done": done, "ok": done - failed, "failed": failed,
            "pending": len(planned) - done, "adaptive": spec.adaptive is not None,
            "started_at": m.get("started_at"), "finished_at": m.get("finished_at")}


def status(directory: str | Path) -> dict[str, Any]:
    """Counts of done / failed / pending runs and the state of the sweep in ``directory``:
    ``running``, ``interrupted``, ``finished`` or ``unknown`` (see :func:`sweep_state`)."""
    return sweep_status(*open_experiment(directory))


def _counts(planned: list[tuple[int, int]], finished: dict[tuple[int, int], str]
            ) -> tuple[int, int]:
    """Runs of ``planned`` that finished, and of those the failed ones."""
    done = failed = 0
    for k in planned:
        st = finished.get(k)
        if st is not None:
            done += 1
            failed += st == "failed"
    return done, failed


def _drive(store: Store, spec: ExperimentSpec, design: Design, *, executor: str,
           workers: int | None, scheduler: str | None, chunk_size: int | None,
           progress: Callable[[ProgressEvent], None] | None, retry_failed: bool = False,
           code_change: str = "", flush_seconds: float = 2.0, flush_rows: int = 500) -> SweepResult:
    # executor ... chunk_size: merged with the file's [execution] table by _execution
    code = code_fingerprint(spec.run_fn)  # this process's code: what every worker must run
    settings = run_settings(spec, code)
    t_start = time.perf_counter()
    finished, values = _finished_state(store, spec, retry_failed)
    session = {"started_at": now_iso(), "finished_at": None, "executor": executor,
               "workers": workers, "scheduler": scheduler, "host": platform.node(),
               "pid": os.getpid(), "code_digest": code["digest"], "ran": 0}
    if code_change:  # resumed with --allow-code-change: what changed since the sweep began
        session["code_change"] = code_change
    m = store.read_manifest()
    m["sessions"].append(session)
    m["state"] = "running"
    m["started_at"] = m.get("started_at") or session["started_at"]
    m["finished_at"] = None
    store.write_manifest(m)

    failures: list[str] = []
    ran = 0
    buffer: list[dict] = []
    ts_buffer: list[Any] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        store.write_part(buffer, ts_buffer)  # copies them into Arrow / pandas
        buffer.clear()
        ts_buffer.clear()
        last_flush = time.monotonic()

    planned = plan_runs(spec, design, values)
    state = "interrupted"
    try:
        with make_executor(executor, workers, scheduler, spec.run_fn) as (ex, n_workers):
            while True:
                pending = [k for k in planned if k not in finished]
                if not pending:
                    break
                # counted once per pass; the sink adds each run as it arrives
                sink = _Sink(finished, values, spec, buffer, ts_buffer, failures,
                             *_counts(planned, finished))
                if progress:
                    progress(ProgressEvent(sink.done, sink.failed, len(planned), 0))
                ran += _execute(ex, n_workers, design, settings, pending, chunk_size,
                                sink=sink,
                                maybe_flush=lambda: (flush() if len(buffer) >= flush_rows or (
                                    buffer and time.monotonic() - last_flush >= flush_seconds)
                                    else None),
                                report=lambda new: progress and progress(ProgressEvent(
                                    sink.done, sink.failed, len(planned), new)))
                flush()
                planned = plan_runs(spec, design, values)
        state = "finished"
    except BaseException:
        flush()
        raise
    finally:
        done, failed = _counts(planned, finished)
        session["finished_at"] = now_iso()
        session["ran"] = ran
        m = store.read_manifest()
        m["sessions"][-1] = session
        m["state"] = state
        if state == "finished":
            m["finished_at"] = session["finished_at"]
        m["counts"] = {"done": done, "failed": failed, "pending": len(planned) - done}
        store.write_manifest(m)
    store.consolidate()
    if not failures and failed:
        df = store.read_columns(["status", "error"])
        failures = [f"{r.run_id}: {r.error}" for r in df.itertuples() if r.status == "failed"][:5]
    return SweepResult(store.root, len(planned), done, failed, ran,
                       time.perf_counter() - t_start, failures[:5])


class _Sink:
    """Receives finished runs: buffers records, tracks finished runs and adaptive values, and
    keeps the done / failed counts of the planned runs (every run it gets was pending)."""

    def __init__(self, finished, values, spec, buffer, ts_buffer, failures, done, failed):
        self.finished = finished
        self.values = values
        self.metric = spec.adaptive.metric if spec.adaptive else None
        self.buffer = buffer
        self.ts_buffer = ts_buffer
        self.failures = failures
        self.done, self.failed = done, failed

    def __call__(self, record: dict, ts: Any) -> None:
        self.buffer.append(record)
        if ts is not None:
            self.ts_buffer.append(ts)
        key = (record["point_id"], record["replication"])
        self.finished[key] = record["status"]
        self.done += 1
        self.failed += record["status"] == "failed"
        if record["status"] != "ok" and len(self.failures) < 5:
            self.failures.append(f"{record['run_id']}: {record['error']}")
        if self.metric:
            v = record.get(self.metric, math.nan) if record["status"] == "ok" else math.nan
            self.values.setdefault(key[0], {})[key[1]] = v


def _execute(ex: cf.Executor, n_workers: int, design: Design, settings: RunSettings,
             pending: list[tuple[int, int]], chunk_size: int | None, sink: _Sink,
             maybe_flush, report) -> int:
    """Submit ``pending`` in chunks, at most a few chunks per worker in flight."""
    todo = iter(pending)
    remaining = len(pending)
    in_flight: dict[cf.Future, list[RunConfiguration]] = {}
    # a few chunks per worker keep the workers busy; the sequential executor has run a chunk
    # by the time it is submitted, so one at a time (more would only hold finished results)
    max_in_flight = 1 if isinstance(ex, SequentialExecutor) else max(2, 3 * n_workers)
    mean_duration: float | None = None  # per run, exponentially averaged
    target_seconds = 0.5  # aim for chunks of about this long (automatic chunk size)
    ran = 0

    def next_size() -> int:
        if chunk_size:
            return chunk_size
        if mean_duration is None:
            return 1
        size = int(target_seconds / max(mean_duration, 1e-6))
        fair = math.ceil(remaining / (2 * n_workers)) if remaining else 1
        return max(1, min(size, fair, 1000))

    def submit_next() -> bool:
        nonlocal remaining
        size = next_size()
        keys = list(itertools.islice(todo, size))
        if not keys:
            return False
        remaining -= len(keys)
        chunk = [configuration(design, pid, rep) for pid, rep in keys]
        in_flight[ex.submit(run_chunk, settings, chunk)] = chunk
        return True

    for _ in range(max_in_flight):
        if not submit_next():
            break
    while in_flight:
        done_futs, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
        for fut in done_futs:
            chunk = in_flight.pop(fut)
            try:
                results = fut.result()
            except cf.process.BrokenProcessPool as exc:
                raise ExperimentError(
                    f"a worker process died ({exc}); finished runs are saved: continue with "
                    "`carepath resume DIR`." + (_MAIN_GUARD_HINT if mean_duration is None
                                                else "")) from None
            except ExperimentError:
                raise
            except Exception as exc:  # noqa: BLE001 - the task itself failed (not a run)
                tb = traceback.format_exc()
                results = [(failed_record(cfg, exc, tb), None) for cfg in chunk]
                for record, _ in results:  # the run may have been fine: say what failed
                    record["error"] = (f"lost with its chunk of {len(chunk)} run(s) (the task "
                                       f"failed, e.g. its results could not be sent back): "
                                       f"{record['error']}")
            for record, ts in results:
                sink(record, ts)
                d = record.get("duration_s")
                d = 0.0 if d is None or math.isnan(d) else d  # a lost chunk's runs: NaN
                mean_duration = d if mean_duration is None else 0.8 * mean_duration + 0.2 * d
            ran += len(results)
            maybe_flush()
            report(len(results))
            submit_next()
    return ran
