"""Command line for experiments: ``carepath sweep | resume | status | report``.

``model.cli`` calls :func:`register` to add these subcommands to ``carepath``; ``python -m
experiments`` runs them on their own. Library code does not print; these handlers do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.cli import int_at_least

from .errors import ExperimentError
from .spec import EXECUTORS

__all__ = ["build_parser", "main", "register"]


def _add_execution_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int_at_least("--workers", 1), default=None,
                   help="worker processes (default: the file's [execution] workers, else every "
                        "CPU); with --executor dask and no --scheduler, the local cluster's size")
    p.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="sequential, process (a local process pool; the default) or dask")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786, or the file written by "
                        "dask scheduler --scheduler-file (implies --executor dask); without it "
                        "dask starts a local cluster")
    p.add_argument("--chunk-size", type=int_at_least("--chunk-size", 1), default=None,
                   help="runs per task (default: automatic, about half a second of work)")


def register(subparsers) -> None:
    """Add the experiment subcommands to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "sweep", help="run a batch experiment from a TOML file (see docs/experiments.md)",
        description="Run an experiment file: design points x replications, in parallel, "
                    "results streamed into an output directory. Kill it at any time and "
                    "continue with `carepath resume DIR`.")
    p.add_argument("file", metavar="FILE", help="experiment file (TOML)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: results/<experiment name>)")
    _add_execution_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing experiment in DIR")
    p.add_argument("--report", action="store_true", help="write the report when done")
    p.add_argument("--run-fn", default=None, metavar="MODULE:FUNCTION",
                   help="run function instead of the file's (e.g. experiments.testing:"
                        "fake_simulate to try a file quickly)")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=None,
                   help="root seed instead of the file's experiment.seed (the report's "
                        "'Reproduce' section gives the one a sweep used)")
    p.set_defaults(func=cmd_sweep)

    p = subparsers.add_parser("resume", help="continue an interrupted sweep, skipping "
                                             "finished runs")
    p.add_argument("directory", metavar="DIR")
    _add_execution_args(p)
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--allow-code-change", action="store_true",
                   help="resume even though the code that decides a run (model, worker, design, "
                        "spec, runner, run function) or the result packages changed since the "
                        "sweep started (refused otherwise: the table would mix two versions; "
                        "recorded in the manifest, the report warns; each later resume needs it "
                        "again)")
    p.add_argument("--report", action="store_true", help="write the report when done")
    p.set_defaults(func=cmd_resume)

    p = subparsers.add_parser("status", help="done / failed / pending runs of a sweep")
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser("report", help="write figures and a Markdown report into "
                                             "DIR/report")
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(func=cmd_report)


class _Bar:
    """A tqdm progress bar on stderr with an ETA; its total grows with adaptive replications."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar = None

    def __call__(self, ev) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=ev.total, initial=ev.done, desc=self.desc, unit="run",
                            file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                            smoothing=0.1)
        if ev.total != self.bar.total:
            self.bar.total = ev.total
            self.bar.refresh()
        if ev.new:
            self.bar.update(ev.new)
        self.bar.set_postfix_str(f"failed={ev.failed}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _execution(args) -> dict:
    executor = args.executor
    if args.scheduler and executor not in (None, "dask"):
        raise ExperimentError("--scheduler needs --executor dask", key="--executor",
                              value=executor, allowed="dask")
    if args.scheduler:
        executor = "dask"
    return {"executor": executor, "workers": args.workers, "scheduler": args.scheduler,
            "chunk_size": args.chunk_size}


def _finish(result, directory: Path, want_report: bool) -> int:
    print(f"{result.done} of {result.planned} runs finished ({result.ran} this session) in "
          f"{result.seconds:.1f} s; results in {directory}")
    code = 0
    if result.failed:
        print(f"{result.failed} run(s) failed; their errors and tracebacks are in the runs table "
              f"(status = 'failed'). First: {result.failures[0] if result.failures else ''}",
              file=sys.stderr)
        code = 1
    if want_report:
        _write_report(directory)
    else:
        print(f"next: carepath report {directory}")
    return code


def _run(fn, directory: Path, desc: str, want_report: bool, **kwargs) -> int:
    bar = _Bar(desc)
    try:
        result = fn(progress=bar, **kwargs)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted; finished runs are saved. Continue with: carepath resume "
              f"{directory}", file=sys.stderr)
        return 130
    finally:
        bar.close()
    return _finish(result, directory, want_report)


def cmd_sweep(args) -> int:
    from .runner import run_experiment
    from .spec import load_spec

    spec = load_spec(args.file)
    out = Path(args.out) if args.out else Path("results") / spec.name
    return _run(lambda **kw: run_experiment(spec, out, overwrite=args.overwrite,
                                            run_fn=args.run_fn, seed=args.seed, **kw),
                out, spec.name, args.report, **_execution(args))


def cmd_resume(args) -> int:
    from .runner import resume

    out = Path(args.directory)
    return _run(lambda **kw: resume(out, retry_failed=args.retry_failed,
                                    allow_code_change=args.allow_code_change, **kw), out,
                out.name, args.report, **_execution(args))


def cmd_status(args) -> int:
    from .runner import status

    s = status(args.directory)
    print(f"experiment  {s['name']}  ({s['directory']})")
    print(f"state       {s['state']}" + (f" ({s['state_note']})" if s["state_note"] else ""))
    print(f"runs        {s['planned']} planned: {s['ok']} done, {s['failed']} failed, "
          f"{s['pending']} pending" + ("  (adaptive: more may be planned)" if s["adaptive"]
                                       and s["pending"] else ""))
    print(f"started     {s['started_at']}")
    print(f"finished    {s['finished_at'] or '-'}")
    return 0


def _write_report(directory) -> None:
    """Write the report; its warnings (incomplete sweep, failed runs, unreliable indices) go to
    stderr too, so they are seen without opening it."""
    from .analysis import analyse
    from .report import write_report

    a = analyse(directory)
    path = write_report(directory, analysis=a)
    for w in a.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"report: {path}")


def cmd_report(args) -> int:
    _write_report(args.directory)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments",
                                     description="carepath batch experiments")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from model.cli import dispatch

    return dispatch(build_parser().parse_args(argv), prefix="")
