"""Run every benchmark in sequence, each in a fresh interpreter, and summarize their goals.

Each benchmark writes its own JSON (`<out-dir>/<name>.json`); this script adds `<out-dir>/run_all.json`
with the exit code, wall time and goal checks of each. A fresh process per benchmark keeps process-wide
state (the malloc tuning of `overhead.py`, torch's thread pool, imported modules) from leaking between
them. `--quick` runs the smoke versions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, console, machine_info, parser_for, print_table, write_result

NAME = "run_all"
HERE = Path(__file__).resolve().parent

# name -> extra arguments for the quick version (preprocessing.py has no --quick of its own)
BENCHMARKS: dict[str, list[str]] = {
    "accuracy": ["--quick"],
    "overhead": ["--quick"],
    "cross_site": ["--quick"],
    "sender_shift": ["--quick"],
    "personalization": ["--quick"],
    "startup": ["--quick"],
    "encoder_probe": ["--quick"],
    "preprocessing": ["--sites", "2", "--pages", "16"],
    "secagg": ["--quick"],
    "dp_utility": ["--quick"],
    "deployment": ["--quick"],
    "compression": ["--quick"],
    "robustness": ["--quick"],
}


def run_one(name: str, quick: bool, out_dir: Path) -> dict[str, Any]:
    out = out_dir / f"{name}.json"
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out), *(BENCHMARKS[name] if quick else [])]
    console.rule(f"{name}: {' '.join(cmd[1:])}")
    start = time.perf_counter()
    code = subprocess.run(cmd, check=False).returncode
    seconds = time.perf_counter() - start
    goals: dict[str, Any] = {}
    if out.is_file():
        goals = _goals(json.loads(out.read_text(encoding="utf-8")))
    return {"exit_code": code, "seconds": seconds, "result": str(out), "goals": goals}


def _goals(result: dict[str, Any]) -> dict[str, Any]:
    """Goal checks as {name: met}; accuracy's are per case."""
    if result.get("cases") and "dataset" in result["cases"][0] and "goals" in result["cases"][0]:
        return {
            f"{c['dataset']}/{c['model']}/{c['variant']}: {k}": g["met"]
            for c in result["cases"]
            for k, g in c["goals"].items()
        }
    goals = result.get("goals", {})
    return {k: bool(g.get("met")) for k, g in goals.items() if isinstance(g, dict)}


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "run every benchmark in sequence")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="folder for every result JSON")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), default=None, help="run just these")
    args = parser.parse_args(argv)
    if args.out == RESULTS_DIR / f"{NAME}.json":
        args.out = args.out_dir / f"{NAME}.json"
    machine = machine_info()
    start = time.perf_counter()
    runs = {name: run_one(name, args.quick, args.out_dir) for name in (args.only or BENCHMARKS)}
    rows = []
    for name, run in runs.items():
        met = sum(run["goals"].values())
        rows.append((name, run["exit_code"], run["seconds"], f"{met}/{len(run['goals'])}"))
    print_table("benchmarks", ("benchmark", "exit code", "seconds", "goals met"), rows)
    write_result(args.out, NAME, args, machine, {"runs": runs, "seconds": time.perf_counter() - start})
    return 0 if all(r["exit_code"] in (0, 1) for r in runs.values()) else 2


if __name__ == "__main__":
    raise SystemExit(main())
