"""Benchmark: how long the command takes before it does any work (issue 15, "start fast").

Each case runs in a fresh interpreter, alternating with the others so machine noise falls on all alike:
`python -c pass` (the interpreter alone), `import fedward.cli.app`, `fedward --help`, `fedward ledger
--help`, and `import torch` (what every command used to pay). Reports the median wall time of each and
the goal: `fedward --help` at most 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import goal, goals_table, machine_info, parser_for, print_table, spread, write_result

NAME = "startup"
HELP_GOAL_S = 0.5


def cases() -> dict[str, list[str]]:
    fedward = shutil.which("fedward") or str(Path(sys.executable).with_name("fedward"))
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import fedward.cli.app": [sys.executable, "-c", "import fedward.cli.app"],
        "fedward --help": [fedward, "--help"],
        "fedward ledger --help": [fedward, "ledger", "--help"],
        "import torch": [sys.executable, "-c", "import torch"],
    }


def run(args: argparse.Namespace) -> int:
    machine = machine_info()
    began = time.perf_counter()
    commands = cases()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print_table(
        "startup (median wall seconds)", ["case", "median s"], [[n, f"{m:.3f}"] for n, m in medians.items()]
    )
    goals = {"help": goal("`fedward --help` wall time", medians["fedward --help"], HELP_GOAL_S, "<=", "s")}
    goals_table("startup goals", goals)
    body = {
        "cases": {n: spread(t) for n, t in times.items()},
        "median_s": medians,
        "goals": goals,
        "seconds": time.perf_counter() - began,
    }
    write_result(args.out, NAME, args, machine, body)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, __doc__ or "")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each case (default 9, quick 3)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 9)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
