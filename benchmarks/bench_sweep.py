"""Sweep engine benchmark (issue 3): prints figures and ratios, never asserts timings.

1. Throughput of a sweep of short runs of the real model with 1 and 2 worker processes
   (target: 2 workers >= 1.8x the throughput of 1).
2. The same grid, replications and steps through ``mesa.batch_run`` (1 and 2 processes)
   (target: the sweep engine >= 2x faster).
3. Peak memory (max RSS) of a 10,000-run sweep vs a 100-run sweep with a fast stand-in run
   function (target: ratio <= 1.2, i.e. results are streamed, not held).

Every measurement runs in its own subprocess (``batch_run`` sets the global start method, and
max RSS is per process).

    python benchmarks/bench_sweep.py            # about 3 minutes on 2 cores
    python benchmarks/bench_sweep.py --quick    # smaller, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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
    import pyarrow.parquet as pq

    import experiments as E

    import model.model  # noqa: F401 - Mesa, numba and the model loaded before the clock starts,
    # as in measure_batch_run (the package ``model`` alone loads them lazily)

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.toml"
        spec.write_text(_grid_spec(steps, reps, run_fn, caps, second))
        marks: list[tuple[float, int]] = []  # (time, runs finished) after each finished chunk

        def progress(p) -> None:
            if p.new:  # the first event (nothing finished yet) is not a chunk
                marks.append((time.perf_counter(), p.done))

        t0 = time.perf_counter()
        res = E.run_experiment(spec, Path(tmp) / "out", executor=executor, workers=workers,
                               progress=progress)
        wall = time.perf_counter() - t0
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before reading results
        durations = pq.read_table(Path(tmp) / "out" / "runs.parquet",
                                  columns=["duration_s"]).column("duration_s").to_numpy()
    # Steady state: runs finished after the first chunk over the time since it finished
    # (excludes starting the pool and workers, and the final merge of the result tables).
    (t_a, n_a), (t_b, n_b) = marks[0], marks[-1]
    steady = (n_b - n_a) / (t_b - t_a) if t_b > t_a else float("nan")
    return {"runs": res.done, "failed": res.failed, "seconds": wall, "steady_runs_s": steady,
            "first_result_s": t_a - t0, "mean_run_ms": 1e3 * float(durations.mean()),
            "maxrss_kb": maxrss,
            "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def _spin(n: int) -> float:
    t = time.perf_counter()
    s = 0
    for i in range(n):
        s += i * i % 7
    return time.perf_counter() - t


_CRUNCH = None


def _crunch_timed(reps: int) -> float:
    """A compiled numeric loop over 1.6 MB of floats (about a run's working set)."""
    global _CRUNCH
    import numpy as np

    if _CRUNCH is None:  # compile once per process (the warm-up call below does it)
        import numba

        @numba.njit
        def crunch(a, reps):
            s = 0.0
            for _ in range(reps):
                for i in range(a.shape[0]):
                    x = a[i]
                    s += x * x * 0.5 + (x if x > 0.3 else -x)
                    a[i] = x * 0.999 + 0.001
            return s

        crunch(np.zeros(4), 1)
        _CRUNCH = crunch
    a = np.random.default_rng(0).random(200_000)
    t = time.perf_counter()
    _CRUNCH(a, reps)
    return time.perf_counter() - t


def measure_ceiling() -> dict:
    """What 2 processes give on this machine for work that shares nothing: a pure-Python loop
    and a compiled numeric loop, each once alone and then twice at the same time (throughput
    ratio, median of 3; 2.0 = two full cores)."""
    import multiprocessing

    out = {}
    # no threads in this process, so fork is safe; each worker compiles the loop when it starts
    with multiprocessing.get_context("fork").Pool(2, initializer=_crunch_timed,
                                                  initargs=(1,)) as pool:
        for name, fn, n in (("python", _spin, 4_000_000), ("compiled", _crunch_timed, 1500)):
            ratios = []
            for _ in range(3):
                one = pool.map(fn, [n])[0]
                t = time.perf_counter()
                pool.map(fn, [n, n], chunksize=1)
                ratios.append(2 * one / (time.perf_counter() - t))
            out[name] = statistics.median(ratios)
    return out


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
    ap.add_argument("--rounds", type=int, default=0,
                    help="repeat the speed measurements this many times (default 3; 1 with "
                         "--quick) and report medians: shared machines are noisy")
    ap.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        kind, kw = args.measure[0], json.loads(args.measure[1])
        fn = {"batch_run": measure_batch_run, "ceiling": measure_ceiling}.get(kind, measure_sweep)
        result = fn(**kw)
        print(json.dumps(result))
        return

    steps, reps = (26, 10) if args.quick else (156, 50)
    rounds = args.rounds or (1 if args.quick else 3)
    n_runs = len(CAPS) * reps
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"\n1-2. real model, grid caseload_cap={CAPS} x {reps} replications = {n_runs} runs "
          f"of {steps} weeks; {rounds} round(s), the configurations interleaved in each; "
          "medians (wall time includes starting the workers)")
    real = dict(steps=steps, reps=reps, run_fn="model.run:simulate", caps=CAPS, second=0)
    configs = {
        "sweep, sequential": ("sweep", dict(executor="sequential", workers=1, **real)),
        "sweep, process pool, 1 worker": ("sweep", dict(executor="process", workers=1, **real)),
        "sweep, process pool, 2 workers": ("sweep", dict(executor="process", workers=2, **real)),
        "mesa.batch_run, 1 process": ("batch_run", dict(processes=1, steps=steps, reps=reps)),
        "mesa.batch_run, 2 processes": ("batch_run", dict(processes=2, steps=steps, reps=reps)),
        "machine ceiling": ("ceiling", {}),
    }
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (kind, kw) in configs.items():
            results[name].append(_sub(kind, **kw))

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def per_round(values) -> str:
        return "rounds: " + ", ".join(f"{v:.2f}" for v in values)

    for name in list(configs)[:-1]:
        rs = results[name]
        wall = med(name, "seconds")
        extra = (f"; steady state {med(name, 'steady_runs_s'):6.2f} runs/s, first result after "
                 f"{med(name, 'first_result_s'):.2f} s, a run takes {med(name, 'mean_run_ms'):.1f}"
                 " ms" if "steady_runs_s" in rs[0] else "")
        print(f"  {name:34s} {wall:7.2f} s  {rs[0]['runs'] / wall:7.2f} runs/s "
              f"({rs[0]['runs']} runs{extra})")
    one, two = results["sweep, process pool, 1 worker"], results["sweep, process pool, 2 workers"]
    scale = [b["steady_runs_s"] / a["steady_runs_s"] for a, b in zip(one, two)]
    ceiling = [r["python"] for r in results["machine ceiling"]]
    ceiling_c = [r["compiled"] for r in results["machine ceiling"]]
    print(f"  throughput 2 workers / 1 worker, steady state: {statistics.median(scale):.2f}x  "
          f"(target >= 1.8; {per_round(scale)})")
    print(f"  throughput 2 workers / 1 worker, wall time incl. start-up: "
          f"{statistics.median(a['seconds'] / b['seconds'] for a, b in zip(one, two)):.2f}x")
    print("  machine ceiling, 2 processes / 1 on work sharing nothing:")
    print(f"    pure-Python loop        {statistics.median(ceiling):.2f}x  ({per_round(ceiling)})")
    print(f"    compiled numeric loop   {statistics.median(ceiling_c):.2f}x  "
          f"({per_round(ceiling_c)}; the model is compiled code)")
    run_ms = [med(f"sweep, process pool, {k}", "mean_run_ms") for k in ("1 worker", "2 workers")]
    print(f"  a run's own time, 2 workers / 1 worker: {run_ms[1] / run_ms[0]:.2f}x"
          "  (> 1: two runs at once slow each other down)")
    sweep2 = [r["seconds"] for r in two]
    for label, name in (("best mesa.batch_run", None), ("batch_run, 2 procs",
                        "mesa.batch_run, 2 processes"), ("batch_run, 1 proc",
                        "mesa.batch_run, 1 process")):
        if name is None:
            br = [min(a["seconds"], b["seconds"]) for a, b in zip(
                results["mesa.batch_run, 1 process"], results["mesa.batch_run, 2 processes"])]
        else:
            br = [r["seconds"] for r in results[name]]
        ratios = [b / s for b, s in zip(br, sweep2)]
        target = "  (target >= 2)" if name is None else ""
        print(f"  sweep (2 workers) vs {label + ':':22s} {statistics.median(ratios):.2f}x faster"
              f"{target}; {per_round(ratios)}")

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
