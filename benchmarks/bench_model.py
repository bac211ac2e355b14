"""Speed of the model core against Mesa's BoltzmannWealth example, measured in the same run.

    python benchmarks/bench_model.py [--repeats 3]

Prints µs per patient-week for the default scenario (patients in the service: waiting, in care
or in hospital; 156 weeks), µs per agent-step of Mesa's BoltzmannWealth (500 agents), their
ratio (target: the model costs at most 1/5 of a Boltzmann agent-step per patient-week), and the
scaling to the 10x `whole_provider` scenario (target: per-patient-week cost no worse than at
1x, i.e. linear or better). Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

from model import CarePathwayModel


def time_model(scenario: str, steps: int, seed: int) -> tuple[float, float]:
    """Returns (seconds including construction, patient-weeks)."""
    t0 = time.perf_counter()
    m = CarePathwayModel(scenario, rng=seed)
    for _ in range(steps):
        m.step()
    t2 = time.perf_counter()
    ts = m.timeseries().iloc[1:]
    patient_weeks = float((ts["waiting_list"] + ts["in_care"] + ts["admitted"]).sum())
    return t2 - t0, patient_weeks


def time_boltzmann(n: int, steps: int, seed: int) -> float:
    t0 = time.perf_counter()
    m = BoltzmannWealth(BoltzmannScenario(n=n, width=30, height=30, rng=seed))
    for _ in range(steps):
        m.step()
    return (time.perf_counter() - t0) / (n * steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=156)
    args = ap.parse_args()
    time_model("england_cmht", 5, 0)  # warm up imports and caches
    time_boltzmann(100, 5, 0)
    rows = {}
    for scen in ("england_cmht", "whole_provider"):
        per_pw, sizes = [], []
        for r in range(args.repeats):
            secs, pw = time_model(scen, args.steps, r)
            per_pw.append(secs / pw * 1e6)
            sizes.append(pw / args.steps)
        rows[scen] = (statistics.median(per_pw), statistics.mean(sizes))
    boltz = statistics.median(time_boltzmann(500, args.steps, r) * 1e6 for r in range(args.repeats))
    base, big = rows["england_cmht"], rows["whole_provider"]
    print(f"default scenario: {base[0]:.3f} µs per patient-week "
          f"({base[1]:.0f} patients in the service on average, {args.steps} weeks)")
    print(f"Mesa BoltzmannWealth (500 agents): {boltz:.3f} µs per agent-step")
    print(f"ratio model / Boltzmann: {base[0] / boltz:.3f}  (target <= 0.200)")
    print(f"whole_provider (10x): {big[0]:.3f} µs per patient-week "
          f"({big[1]:.0f} patients); per-patient cost ratio 10x/1x: {big[0] / base[0]:.3f} "
          "(target <= 1.0: linear or better)")


if __name__ == "__main__":
    main()
