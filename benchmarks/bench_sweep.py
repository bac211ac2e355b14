"""Sweep engine benchmark (issue 3): prints figures and ratios, never asserts timings.

1. Throughput of a sweep of short runs of the real model with 1 and 2 worker processes
   (target: 2 workers >= 1.8x the throughput of 1).
2. The same grid, replications and steps through ``mesa.batch_run`` (1 and 2 processes)
   (target: the sweep engine >= 2x faster).
3. Peak memory (max RSS) of a 10,000-run sweep vs a 100-run sweep with a fast stand-in run
   function (target: ratio <= 1.2, i.e. results are streamed, not held).

Every measurement runs in its own subprocess (``batch_run`` sets the global start method, and
max RSS is per process).

    python benchmarks/bench_sweep.py            # about 2 minutes on 2 cores
    python benchmarks/bench_sweep.py --quick    # smaller, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAPS = [24, 32, 40, 48]


def _grid_spec(steps: int, reps: int, run_fn: str, caps=CAPS, second: int = 0) -> str:
    extra = ""
    if second:
        extra = f"sdm_training = {{ low = 0.0, high = 1.0, num = {second} }}\n"
    return f"""
[experiment]
name = "bench"
run_fn = "{run_fn}"
steps = {steps}
window = {min(52, steps)}
seed = 2024

[factors]
caseload_cap = {caps}
{extra}
[replications]
n = {reps}
"""


def measure_sweep(executor: str, workers: int, steps: int, reps: int, run_fn: str,
                  caps, second: int) -> dict:
    import experiments as E

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.toml"
        spec.write_text(_grid_spec(steps, reps, run_fn, caps, second))
        marks: list[tuple[float, int]] = []  # (time, runs finished) after each chunk

        def progress(p) -> None:
            marks.append((time.perf_counter(), p.done))

        t0 = time.perf_counter()
        res = E.run_experiment(spec, Path(tmp) / "out", executor=executor, workers=workers,
                               progress=progress)
        wall = time.perf_counter() - t0
    # Steady state: runs finished after the first chunk over the time since it finished
    # (excludes starting the pool and workers, and the final merge of the result tables).
    (t_a, n_a), (t_b, n_b) = marks[0], marks[-1]
    steady = (n_b - n_a) / (t_b - t_a) if t_b > t_a else float("nan")
    return {"runs": res.done, "failed": res.failed, "seconds": wall, "steady_runs_s": steady,
            "first_result_s": t_a - t0,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def measure_batch_run(processes: int, steps: int, reps: int) -> dict:
    import mesa

    from experiments.design import replication_seed
    from model import CarePathwayModel

    seeds = [replication_seed(2024, i) for i in range(reps)]
    t0 = time.perf_counter()
    out = mesa.batch_run(CarePathwayModel, parameters={"caseload_cap": CAPS},
                         number_processes=processes, rng=seeds, max_steps=steps,
                         data_collection_period=-1, display_progress=False)
    wall = time.perf_counter() - t0
    return {"runs": len({(r["caseload_cap"], r["RunId"]) for r in out}), "seconds": wall}


def _sub(kind: str, **kw) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, __file__, "--measure", kind, json.dumps(kw)],
                       capture_output=True, text=True, env=env, cwd=REPO)
    if r.returncode != 0:
        raise SystemExit(f"measurement {kind} {kw} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    ap.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        kind, kw = args.measure[0], json.loads(args.measure[1])
        result = measure_batch_run(**kw) if kind == "batch_run" else measure_sweep(**kw)
        print(json.dumps(result))
        return

    steps, reps = (26, 10) if args.quick else (156, 50)
    n_runs = len(CAPS) * reps
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"\n1-2. real model, grid caseload_cap={CAPS} x {reps} replications = {n_runs} runs "
          f"of {steps} weeks (wall time includes starting the workers)")
    real = dict(steps=steps, reps=reps, run_fn="model.run:simulate", caps=CAPS, second=0)
    one = _sub("sweep", executor="process", workers=1, **real)
    two = _sub("sweep", executor="process", workers=2, **real)
    seq = _sub("sweep", executor="sequential", workers=1, **real)
    br1 = _sub("batch_run", processes=1, steps=steps, reps=reps)
    br2 = _sub("batch_run", processes=2, steps=steps, reps=reps)
    for name, r in (("sweep, sequential", seq), ("sweep, process pool, 1 worker", one),
                    ("sweep, process pool, 2 workers", two),
                    ("mesa.batch_run, 1 process", br1), ("mesa.batch_run, 2 processes", br2)):
        extra = (f"; steady state {r['steady_runs_s']:6.2f} runs/s, first result after "
                 f"{r['first_result_s']:.2f} s" if "steady_runs_s" in r else "")
        print(f"  {name:34s} {r['seconds']:7.2f} s  {r['runs'] / r['seconds']:7.2f} runs/s "
              f"({r['runs']} runs{extra})")
    print(f"  throughput 2 workers / 1 worker, steady state: "
          f"{two['steady_runs_s'] / one['steady_runs_s']:.2f}x  (target >= 1.8)")
    print(f"  throughput 2 workers / 1 worker, wall time incl. start-up: "
          f"{one['seconds'] / two['seconds']:.2f}x")
    best_br = min(br1["seconds"], br2["seconds"])
    print(f"  sweep (2 workers) vs best mesa.batch_run:  {best_br / two['seconds']:.2f}x faster"
          "  (target >= 2)")
    print(f"  sweep (2 workers) vs batch_run, 2 procs:   {br2['seconds'] / two['seconds']:.2f}x")
    print(f"  sweep (2 workers) vs batch_run, 1 proc:    {br1['seconds'] / two['seconds']:.2f}x")

    big_reps = 10 if args.quick else 100
    print("\n3. peak memory, stand-in run function (experiments.testing:fake_simulate), "
          "sequential executor, 100 design points")
    fake = dict(run_fn="experiments.testing:fake_simulate", steps=10,
                caps=[20, 25, 30, 35, 40, 45, 50, 55, 60, 65], second=10)
    small = _sub("sweep", executor="sequential", workers=1, reps=1, **fake)
    big = _sub("sweep", executor="sequential", workers=1, reps=big_reps, **fake)
    for r in (small, big):
        print(f"  {r['runs']:6d} runs: max RSS {r['maxrss_kb'] / 1024:7.1f} MiB  "
              f"({r['seconds']:.1f} s, {r['runs'] / r['seconds']:.0f} runs/s)")
    print(f"  peak memory {big['runs']} runs / {small['runs']} runs: "
          f"{big['maxrss_kb'] / small['maxrss_kb']:.2f}x  (target <= 1.2)")
    bigp = _sub("sweep", executor="process", workers=2, reps=big_reps, **fake)
    print(f"  {bigp['runs']} runs with 2 worker processes: main process max RSS "
          f"{bigp['maxrss_kb'] / 1024:.1f} MiB, largest worker "
          f"{bigp['children_maxrss_kb'] / 1024:.1f} MiB ({bigp['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
