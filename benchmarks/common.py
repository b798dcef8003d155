"""What every benchmark script shares: the command line skeleton, machine information, goal checks,
result JSON and rich tables.

Benchmarks measure and write JSON; they never assert timings (tests do not either). Each result file
records the machine it ran on (cores, load average before and after, library versions), because a figure
measured on a busy 2-core machine is not the figure of an idle 16-core one.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from fedward.config import FederationConfig

__all__ = [
    "RESULTS_DIR",
    "console",
    "document_entries",
    "federation_config",
    "goal",
    "goals_table",
    "limited_threads",
    "machine_info",
    "parser_for",
    "print_table",
    "spread",
    "time_calls",
    "write_documents",
    "write_result",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent

console = Console() if sys.stdout.isatty() else Console(width=160)  # logs keep whole rows


def parser_for(name: str, description: str) -> argparse.ArgumentParser:
    """The options every benchmark has: `--quick` (a small smoke version) and `--out` (the JSON file)."""
    parser = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=description)
    parser.add_argument("--quick", action="store_true", help="small smoke version (seconds, not minutes)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / f"{name}.json", help="result JSON (default: %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for torch and BLAS (default 1; 0 keeps the libraries' defaults). Small models train "
        "faster on one, and on a shared machine more threads than free cores slow torch and BLAS many times",
    )
    return parser


@contextlib.contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Apply `--threads` to torch and to the BLAS/OpenMP pools (threadpoolctl), restoring them afterwards."""
    if threads <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not a fedward dependency (scikit-learn brings it); torch's limit still applies
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(threads)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Where and when a figure was measured; call at the start of a run (load average before)."""
    import numpy
    import torch

    import fedward

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "load_average": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "thread_pools": _thread_pools(),
        "fedward": fedward.__version__,
        "git_commit": _git_commit(),
    }


def _thread_pools() -> list[str]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [f"{p['internal_api']} {p['num_threads']} ({Path(p['filepath']).name})" for p in threadpool_info()]


def write_result(
    out: Path, name: str, args: argparse.Namespace, machine: Mapping[str, Any], body: Mapping[str, Any]
) -> Path:
    """Write `{benchmark, args, machine, seconds, ...body}` as JSON; the load average after is added."""
    report = {
        "benchmark": name,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {**machine, "load_average_after": list(os.getloadavg())},
        **body,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(report), indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")
    return out


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def goal(description: str, value: float | None, target: float, op: str, unit: str = "") -> dict[str, Any]:
    """A goal check as data: `value op target` (op is '<=', '>=', '<' or '>')."""
    checks: dict[str, Callable[[float, float], bool]] = {
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
    }
    met = value is not None and math.isfinite(value) and checks[op](value, target)
    return {"goal": description, "value": value, "target": f"{op} {target:g}{unit}", "met": bool(met)}


def spread(values: Iterable[float]) -> dict[str, float]:
    """Mean, standard deviation, min, max, median and p90 of a sample (std is 0 for one value)."""
    v = sorted(values)
    if not v:
        return {"n": 0}
    return {
        "n": len(v),
        "mean": statistics.fmean(v),
        "std": statistics.stdev(v) if len(v) > 1 else 0.0,
        "min": v[0],
        "max": v[-1],
        "median": statistics.median(v),
        "p90": _percentile(v, 90),
    }


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of `fn`, `repeats` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], caption: str | None = None
) -> None:
    """A rich table; the first column is left-aligned, the others right-aligned; floats get 3 decimals."""
    table = Table(title=title, caption=caption)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "[green]met[/]" if value else "[red]not met[/]"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def goals_table(title: str, goals: Mapping[str, Mapping[str, Any]]) -> None:
    rows = []
    for key, g in goals.items():
        value = g["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else value
        rows.append((key, g["goal"], shown, g["target"], g["met"]))
    print_table(title, ("goal", "what", "value", "target", "status"), rows)


def write_documents(out: Path, sites: int, pages: int, seed: int, workers: int) -> list[dict[str, str]]:
    """Synthetic hospitals of scanned pages in `out`; their `[[sites]]` entries (name, train, test)."""
    from fedward.documents.synth import generate_federation

    summaries = generate_federation(out, sites, pages, seed, workers=workers)
    return [{"name": s.name, "train": f"{s.name}/train", "test": f"{s.name}/test"} for s in summaries]


def document_entries(data: Path) -> list[dict[str, str]]:
    """`[[sites]]` entries of an already generated federation folder (one sub-folder per hospital)."""
    names = sorted(p.name for p in data.iterdir() if (p / "train" / "labels.csv").is_file())
    if not names:
        raise SystemExit(f"{data}: no hospital folders with train/labels.csv")
    return [{"name": n, "train": f"{n}/train", "test": f"{n}/test"} for n in names]


def federation_config(
    data: Path, tables: Mapping[str, Mapping[str, Any]], entries: Sequence[Mapping[str, str]]
) -> FederationConfig:
    """The config a `federation.toml` in `data` with these tables would hold, through `parse_config`."""
    from fedward.config import parse_config

    raw: dict[str, Any] = {k: dict(v) for k, v in tables.items()}
    raw["sites"] = [dict(e) for e in entries]
    return parse_config(raw, source=data / "federation.toml")
