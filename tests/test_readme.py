"""The README's commands work as written (the demo command end to end)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    assert "make demo" in README and "make test" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_demo_command_works_end_to_end():
    r = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = REPO / "results" / "demo"
    assert (out / "run.png").stat().st_size > 20_000
    assert (out / "summary.json").exists() and (out / "timeseries.csv").exists()
    assert "involvement_mean" in r.stdout


def test_every_carepath_command_in_the_readme_parses():
    from model.cli import build_parser

    parser = build_parser()
    commands = re.findall(r"^\s*(?:\$ )?carepath ([^\n#]+)", README, flags=re.M)
    assert commands, "README shows carepath commands"
    for cmd in commands:
        argv = cmd.split()
        if "--help" in argv or "-h" in argv:
            continue
        parser.parse_args(argv)  # raises SystemExit on a command the CLI does not accept
