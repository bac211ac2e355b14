"""``carepath validate``: run the pattern experiments and say, pattern by pattern, whether the
model reproduces the evidence (``docs/validation.md``).

``model.cli`` calls :func:`register`. Exit status: 0 every check passed; 1 a check failed
(the table says which); 2 bad input (one line ``carepath: error: ...``); 130 interrupted.
"""

from __future__ import annotations

import sys
import time

from model.cli import int_at_least

__all__ = ["cmd_validate", "register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="check the model against the seed papers' patterns (and published "
                         "figures); see docs/validation.md",
        description="Run the pattern experiments (experiments/patterns/p*.toml) with common "
                    "random numbers and decide each expectation from the paired contrast's "
                    "95% CI. Prints the table, writes figures, exits 1 if a check fails.")
    p.add_argument("--quick", action="store_true",
                   help="the CI form: 12 replications of 2 years instead of 30 of 3 years "
                        "(about a minute on 2 cores)")
    p.add_argument("--out", metavar="DIR", default="results/validation",
                   help="output directory: experiment runs, validation.csv/.md and figures/ "
                        "(default results/validation)")
    p.add_argument("--workers", type=int_at_least("--workers", 1), default=None,
                   help="worker processes (default: every CPU; 1 runs in this process)")
    p.add_argument("--patterns", metavar="LIST", default=None,
                   help="only these patterns, e.g. 1,3,7 (default: all seven)")
    p.add_argument("--calibration", action="store_true",
                   help="also set the default scenario beside the published figures "
                        "(informational: misses are reported, not failed)")
    p.add_argument("--trap", action="store_true",
                   help="also run the defensive power trap experiment (informational)")
    p.set_defaults(func=cmd_validate)


def _progress(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def cmd_validate(args) -> int:
    from . import validation as V  # pandas, scipy: loaded for this command only

    patterns = None
    if args.patterns:
        keys = [k.strip() for k in args.patterns.split(",") if k.strip()]
        if not keys:
            raise V.ValidationError(f"--patterns: got {args.patterns!r}; allowed: pattern "
                                    "numbers 1-7, comma-separated")
        patterns = [V.pattern_by_key(k).number for k in keys]
    t0 = time.perf_counter()
    mode = "quick" if args.quick else "full"
    n_pat = len(patterns) if patterns else len(V.PATTERNS)
    print(f"carepath validate ({mode}): {n_pat} pattern experiment(s) -> {args.out}",
          file=sys.stderr)
    res = V.run_validation(quick=args.quick, out=args.out, workers=args.workers,
                           patterns=patterns, progress=_progress)
    print(V.format_table(res.table))
    gate = res.table["gate"]
    n_ok = int(res.table.loc[gate, "passed"].sum())
    extra = int((~gate).sum())
    print(f"\n{n_ok}/{int(gate.sum())} deciding checks passed"
          + (f" (and {extra} reported, not deciding)" if extra else "")
          + f" in {res.seconds:.0f} s ({mode}: see {args.out}/validation.md and "
          f"{args.out}/figures/).")
    if args.calibration:
        sizes = V.CALIBRATION_QUICK if args.quick else V.CALIBRATION_FULL
        cal = V.run_calibration(out=args.out, workers=args.workers,
                                replications=sizes["default"],
                                effect_replications=sizes["effects"])
        print("\nCalibration (default scenario; informational):")
        print(V.format_calibration(cal.levels, cal.effects))
        V.calibration_figure(cal.levels, cal.effects, res.out / "figures" / "calibration.png")
    if args.trap:
        design = V.TRAP_QUICK if args.quick else V.TRAP
        trap = V.run_power_trap(design, workers=args.workers, out=args.out)
        print(f"\nDefensive power trap ({design.replications} paired replications; "
              "shocked - control):")
        print(V.format_trap(trap.effects))
        V.trap_figure(trap, res.out / "figures" / "power_trap.png")
        V.trap_effects_figure(trap, res.out / "figures" / "power_trap_effects.png")
    print(f"total {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if not res.passed:
        bad = ", ".join(str(p) for p in res.failed_patterns())
        print(f"FAILED: pattern(s) {bad}", file=sys.stderr)
        return 1
    return 0
