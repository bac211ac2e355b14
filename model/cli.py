"""The ``carepath`` command line.

    carepath run [--scenario NAME] [--set name=value ...] [--steps N] [--seed S] [--out DIR]
    carepath scenarios
    carepath params [--group G] [--levers]
    carepath viz [--scenario NAME] [--port N] [--host H]
    carepath sweep | resume | status | report ...   (experiments; see docs/experiments.md)
    carepath validate [--quick]                      (patterns and calibration; docs/validation.md)

Bad input prints one line, ``carepath: error: ...``, and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from pathlib import Path

from .params import GROUPS, SCHEMA, CarePathError, ParameterError, coerce_value
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, check_scenario

log = logging.getLogger("carepath")

#: Optional command groups contributed by other packages: module with ``register(subparsers)``.
PLUGIN_MODULES = ("experiments.cli", "experiments.validation_cli")


def _parse_sets(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(item, item, "name=value (e.g. --set caseload_cap=40)",
                                 "--set")
        name, _, text = item.partition("=")
        name = name.strip()
        out[name] = coerce_value(name, text, source=f"--set {item}")
    return out


def int_at_least(flag: str, low: int):
    """argparse type: an integer >= ``low``, with an error naming the flag and the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: got {text!r}; allowed: an integer")
        if value < low:
            raise argparse.ArgumentTypeError(f"{flag}: got {value}; allowed: an integer >= {low}")
        return value

    return parse


def _fmt(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 10:
        return f"{int(v)}"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def format_summary(summary: dict[str, float]) -> str:
    """The summary as grouped lines of key, value and a short label (``model.outputs``)."""
    from .outputs import SUMMARY_GROUPS, summary_label

    width = max(len(k) for k in summary)
    grouped = [(title, [k for k, _ in keys if k in summary]) for title, keys in SUMMARY_GROUPS]
    placed = {k for _, keys in grouped for k in keys}
    grouped.append(("Other", [k for k in summary if k not in placed]))
    lines = []
    for title, keys in grouped:
        if keys:
            lines += [f"\n{title}"] + [f"  {k:<{width}}  {_fmt(summary[k]):>9}  "
                                       f"{summary_label(k)}".rstrip() for k in keys]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from .plots import save_run_figure
    from .run import simulate

    check_scenario(args.scenario, "--scenario")
    overrides = _parse_sets(args.set)
    if args.window is None:
        args.window = min(52, args.steps)
    if args.window > args.steps:
        raise ParameterError("window", args.window, f"an integer <= --steps ({args.steps})",
                             "--window")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    from .run import warm_up

    if not args.quiet:
        print("loading the model's compiled kernels (the first run after installing compiles "
              "them: about 20 s)", file=sys.stderr, flush=True)
    warm_up()  # so that the progress bar's rate and ETA measure weeks, not compilation
    bar = tqdm(total=args.steps, desc=f"{args.scenario} (seed {args.seed})", unit="week",
               file=sys.stderr, disable=args.quiet, mininterval=0.2)

    def progress(done: int, total: int) -> None:
        bar.update(1)

    try:
        result = simulate(args.scenario, overrides, steps=args.steps, seed=args.seed,
                          window=args.window, timeseries_every=1, event_log=args.events,
                          progress=progress)
    finally:
        bar.close()
    ts = result.timeseries.set_index("step")
    if args.format == "parquet":
        ts_path = out / "timeseries.parquet"
        ts.to_parquet(ts_path)
    else:
        ts_path = out / "timeseries.csv"
        ts.to_csv(ts_path)
    (out / "summary.json").write_text(json.dumps(
        {"scenario": result.scenario, "seed": result.seed, "steps": result.steps,
         "window": args.window, "overrides": overrides, "summary": result.summary,
         "params": result.params}, indent=2, default=str) + "\n")
    if result.events is not None:
        result.events.to_csv(out / "events.csv", index=False)
    fig_path = save_run_figure(ts, out / "run.png",
                               title=f"{SCENARIOS[args.scenario].title} — seed {args.seed}")
    print(f"Summary of the last {args.window} weeks ({args.scenario}, seed {args.seed}, "
          f"{args.steps} weeks; each key is defined in docs/ODD.md, section 7.13):")
    print(format_summary(result.summary))
    print(f"\nWrote {ts_path}, {out / 'summary.json'}, {fig_path}"
          + (f", {out / 'events.csv'}" if result.events is not None else ""))
    return 0


# ----------------------------------------------------------------------------- listings
def cmd_scenarios(args) -> int:
    for s in SCENARIOS.values():
        mark = " (default)" if s.name == DEFAULT_SCENARIO else ""
        print(f"{s.name}{mark}: {s.title}")
        print(f"    {s.description}")
        for k, v in s.overrides.items():
            print(f"    {k} = {v!r}  (default {SCHEMA[k].default!r})")
    return 0


def cmd_params(args) -> int:
    if args.group and args.group not in GROUPS:
        raise ParameterError("group", args.group, "one of " + ", ".join(GROUPS), "--group")
    for g, title in GROUPS.items():
        if args.group and g != args.group:
            continue
        rows = [p for p in SCHEMA.values() if p.group == g and (p.lever or not args.levers)]
        if not rows:
            continue
        print(f"# {title}")
        for p in rows:
            lever = " [lever]" if p.lever else ""
            print(f"  {p.name} = {p.default!r}  ({p.allowed()}; {p.unit or '-'}){lever}")
            print(f"      {p.meaning}  Source: {p.source or '-'}")
    return 0


def cmd_viz(args) -> int:
    from .viz_server import serve  # standard library only; it checks scenario, port and solara

    return serve(args.scenario, args.port, args.host)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carepath",
        description="Agent-based model of power, trust and involvement in mental-health care "
                    "pathways (docs/ODD.md).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run one simulation and write its outputs")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO,
                   help=f"named scenario (default {DEFAULT_SCENARIO}; see `carepath scenarios`)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter (repeatable; see `carepath params`)")
    p.add_argument("--steps", type=int_at_least("--steps", 1), default=156,
                   help="weeks to simulate (default 156 = 3 years)")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=1, help="random seed")
    p.add_argument("--window", type=int_at_least("--window", 1), default=None,
                   help="summary window in weeks (default 52, or --steps if shorter)")
    p.add_argument("--out", default="results/run", help="output folder (default results/run)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="time-series file format (default csv)")
    p.add_argument("--events", action="store_true", help="also write the per-decision log")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("scenarios", help="list the named scenarios")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("params", help="list the parameters (schema)")
    p.add_argument("--group", help="only one group: " + ", ".join(GROUPS))
    p.add_argument("--levers", action="store_true", help="only the policy levers")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("viz", help="serve the browser view (SolaraViz) on 127.0.0.1")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO,
                   help=f"scenario shown first (default {DEFAULT_SCENARIO}; the page can switch)")
    p.add_argument("--port", type=int_at_least("--port", 1), default=8765,
                   help="port to serve on (default 8765)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 to share on a network)")
    p.set_defaults(func=cmd_viz)

    for name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that command group is not installed
            raise
        module.register(sub)
    return parser


def dispatch(args: argparse.Namespace, prefix: str = "carepath: ") -> int:
    """Run a parsed command: set up logging, turn domain errors into one line and exit 2."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CarePathError as exc:
        print(f"{prefix}error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
