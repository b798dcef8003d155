"""Benchmark: the framework's own cost per round, and FedAvg aggregation against plain numpy.

1. Rounds: 10 sites and a ~1M-parameter `mlp` in one process (`run_federation` over
   `InMemoryTransport`, real `Site` objects), with local training made tiny (a few synthetic samples from
   a seeded numpy generator, one batch), so the round is almost all framework. Per round it reads the
   `RoundRecord`: wall time, local training (`train_seconds`), evaluation (`eval_seconds`) and the rest
   (`overhead_seconds`). Goal: median overhead <= 20 ms per round. For reference (not measured here):
   Flower's simulation engine needs about 200 ms per round on a comparable 10-site task on this machine.
2. Breakdown: the primitives one round is made of, timed directly on the same model (serialize the
   global model, parse it at a site, load it into torch, export it, serialize the reply, parse and check
   it at the coordinator, fold it into the mean, finish the aggregate), and the estimate they add up to.
3. Aggregation: `WeightedMean` over 10 updates of ~1M float32 against the fastest plain numpy weighted sum
   over the same updates pre-stacked (`w @ U / sum(w)`), median of several repeats; goal: ratio <= 2.
   Peak memory of each: tracemalloc (numpy's allocations) and, in a fresh subprocess, the growth of
   `ru_maxrss`; both in units of one update.

The process tunes glibc malloc for large messages as the CLI does (`fedward.core.allocator`); the round
measurement is repeated without that tuning in a subprocess, to show what it is worth.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common import (
    console,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    spread,
    time_calls,
    write_result,
)
from fedward.aggregation import WeightedMean, build_strategy
from fedward.coordinator import FederationPlan, RoundRecord, run_federation
from fedward.core.allocator import tune_for_large_messages
from fedward.core.arrays import Arrays, arrays_from_bytes, arrays_to_bytes, check_finite, num_parameters
from fedward.core.messages import Reply, Task
from fedward.models import ModelSpec, build_model, load_arrays, model_arrays
from fedward.settings import TrainSettings
from fedward.site import LocalData, Site
from fedward.transport import InMemoryTransport

NAME = "overhead"
SITES = 10
FEATURES = 64
CLASSES = 2
HIDDEN = (1024, 896)  # 64*1024+1024 + 1024*896+896 + 896*2+2 = 986,754 parameters
OVERHEAD_GOAL_MS = 20.0
AGGREGATION_RATIO_GOAL = 2.0
FLOWER_REFERENCE_MS = 200.0
ROUND_PARTS = {
    "seconds": "round (wall)",
    "train_seconds": "local training",
    "eval_seconds": "evaluation",
    "overhead_seconds": "overhead (the rest)",
}
TRAIN = TrainSettings(epochs=1, batch_size=8, lr=0.01, momentum=0.0)


# ---------------------------------------------------------------------------------------------- rounds


class TimedSite:
    """A site handler that records how long each task took at the site (the transport sees no difference)."""

    def __init__(self, site: Site, log: dict[tuple[int, str], float]) -> None:
        self._site, self._log = site, log

    @property
    def name(self) -> str:
        return self._site.name

    def handle(self, task: Task) -> Reply:
        start = time.perf_counter()
        reply = self._site.handle(task)
        key = (task.round, task.kind.value)
        self._log[key] = self._log.get(key, 0.0) + time.perf_counter() - start
        return reply


def synthetic_sites(sites: int, samples: int, seed: int) -> list[Site]:
    """Tiny, seeded tabular sites: the training in a round is one batch, so the round is the framework."""
    rng = np.random.default_rng(seed)
    features = tuple(f"f{i}" for i in range(FEATURES))
    out = []
    for i in range(sites):
        x, xt = (rng.normal(size=(samples, FEATURES)).astype(np.float32) for _ in range(2))
        y, yt = (tuple(str(v) for v in rng.integers(0, CLASSES, samples)) for _ in range(2))
        out.append(Site(f"site_{i:02d}", LocalData(x, y, xt, yt, features)))
    return out


def run_rounds(rounds: int, samples: int, hidden: tuple[int, ...], warmup: int) -> dict[str, Any]:
    """Run the federation and summarize its measured rounds (after `warmup`)."""
    log: dict[tuple[int, str], float] = {}
    handlers = [TimedSite(site, log) for site in synthetic_sites(SITES, samples, seed=0)]
    transport = InMemoryTransport(handlers)
    plan = FederationPlan("overhead", "mlp", warmup + rounds, 0, TRAIN, hidden=hidden)
    strategy = build_strategy("fedavg", mu=0.0, server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3)
    try:
        result = run_federation(transport, plan, strategy)
    finally:
        transport.close()
    return round_stats(result.rounds[warmup:], log, warmup)


def round_stats(
    measured: list[RoundRecord], site_log: dict[tuple[int, str], float], warmup: int
) -> dict[str, Any]:
    """Milliseconds per round: the RoundRecord's parts, and the overhead split into the sites' framework work
    (time in `Site.handle` for fit tasks outside `train`) and the coordinator's (the rest: building tasks,
    the transport's hand-off, parsing, checking and folding replies, the strategy)."""
    per_round = []
    for r in measured:
        row = {k: getattr(r, k) * 1000 for k in ROUND_PARTS}
        row["site_fit_framework"] = (site_log.get((r.round, "fit"), 0.0) - r.train_seconds) * 1000
        row["coordinator"] = row["overhead_seconds"] - row["site_fit_framework"]
        per_round.append(row)
    keys = [*ROUND_PARTS, "site_fit_framework", "coordinator"]
    return {
        "rounds_measured": len(measured),
        "warmup_rounds": warmup,
        "ms": {k: spread(row[k] for row in per_round) for k in keys},
        "per_round_ms": per_round,
    }


# ---------------------------------------------------------------------------------------------- breakdown


def breakdown(hidden: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """Median milliseconds per round of each step a fit round is made of.

    Each step is timed over all 10 sites, each with its own model and payloads as in a real round, so the
    memory traffic (10 x 4 MB per step, more than the CPU caches hold) is that of a round too.
    """
    spec = ModelSpec("mlp", FEATURES, CLASSES, hidden)
    models = [build_model(spec, seed=i) for i in range(SITES)]
    params = model_arrays(models[0])
    payload = arrays_to_bytes(params)
    views = [model_arrays(m, copy=False) for m in models]
    replies = [arrays_to_bytes(v) for v in views]
    parsed = [arrays_from_bytes(r, copy=False) for r in replies]
    strategy = build_strategy("fedavg", mu=0.0, server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3)

    def fold_all() -> WeightedMean:
        mean = WeightedMean()
        for update in parsed:
            mean.add(update, 8.0)
        return mean

    full = fold_all()

    def parse_and_check(reply: bytes) -> None:
        update = arrays_from_bytes(reply, copy=False)
        if update.keys() != params.keys() or any(update[k].shape != params[k].shape for k in params):
            raise AssertionError("layout")
        check_finite(update)

    def each(fn: Callable[[int], object]) -> Callable[[], None]:
        def run() -> None:
            for i in range(SITES):
                fn(i)

        return run

    steps: dict[str, tuple[str, Callable[[], object]]] = {
        "serialize_global": ("coordinator", lambda: arrays_to_bytes(params)),
        "site_parse_task": ("site", each(lambda i: arrays_from_bytes(payload, copy=False))),
        "site_load_into_torch": ("site", each(lambda i: load_arrays(models[i], parsed[i]))),
        "site_export_from_torch": ("site", each(lambda i: check_finite(model_arrays(models[i], copy=False)))),
        "site_serialize_reply": ("site", each(lambda i: arrays_to_bytes(views[i]))),
        "coordinator_parse_reply": ("coordinator", each(lambda i: parse_and_check(replies[i]))),
        "coordinator_fold_replies": ("coordinator", fold_all),
        "coordinator_mean_and_strategy": ("coordinator", lambda: strategy.aggregate(params, full.mean())),
    }
    rows = {}
    for name, (where, fn) in steps.items():
        ms = statistics.median(time_calls(fn, repeats, warmup=2)) * 1000
        rows[name] = {"where": where, "ms_per_round": ms}
    return {
        "parameters": num_parameters(params),
        "payload_bytes": len(payload),
        "steps": rows,
        "estimated_ms_per_round": sum(r["ms_per_round"] for r in rows.values()),
        "estimated_site_ms_per_round": sum(r["ms_per_round"] for r in rows.values() if r["where"] == "site"),
    }


# ---------------------------------------------------------------------------------------------- aggregation


def updates(
    n: int, size_of: dict[str, tuple[int, ...]], seed: int
) -> tuple[npt.NDArray[np.float32], list[Arrays]]:
    """`n` updates as one stacked (n, P) array and, sharing its memory, as read-only per-tensor views."""
    total = sum(int(np.prod(s)) for s in size_of.values())
    stacked = np.random.default_rng(seed).standard_normal((n, total), dtype=np.float32)
    out = []
    for row in stacked:
        views, offset = {}, 0
        for name, shape in size_of.items():
            count = int(np.prod(shape))
            view = row[offset : offset + count].reshape(shape)
            view.flags.writeable = False
            views[name], offset = view, offset + count
        out.append(views)
    return stacked, out


def model_layout(hidden: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of the `mlp` (Linear/ReLU pairs in an nn.Sequential), without building it."""
    widths = [FEATURES, *hidden, CLASSES]
    layout: dict[str, tuple[int, ...]] = {}
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layout[f"{2 * i}.weight"] = (w_out, w_in)
        layout[f"{2 * i}.bias"] = (w_out,)
    return layout


def weighted_mean(ups: list[Arrays], weights: npt.NDArray[np.float32]) -> Arrays:
    mean = WeightedMean()
    for u, w in zip(ups, weights, strict=True):
        mean.add(u, float(w))
    return mean.mean()


def numpy_mean(stacked: npt.NDArray[np.float32], weights: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The fastest plain form found: one BLAS matrix-vector product over the pre-stacked updates."""
    out: npt.NDArray[np.float32] = weights @ stacked
    out *= np.float32(1.0 / weights.sum())
    return out


def numpy_mean_broadcast(
    stacked: npt.NDArray[np.float32], weights: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """The textbook form, sum(w_i * u_i) / sum(w_i), by broadcasting (allocates n x P temporaries)."""
    out: npt.NDArray[np.float32] = (weights[:, None] * stacked).sum(axis=0) / weights.sum()
    return out


def aggregation(hidden: tuple[int, ...], repeats: int) -> dict[str, Any]:
    layout = model_layout(hidden)
    model = build_model(ModelSpec("mlp", FEATURES, CLASSES, hidden), seed=0)
    if layout != {k: tuple(v.shape) for k, v in model_arrays(model).items()}:
        raise AssertionError("model_layout() no longer matches the mlp of fedward.models")
    stacked, ups = updates(SITES, layout, seed=1)
    weights = np.random.default_rng(2).integers(20, 200, SITES).astype(np.float32)
    ours = weighted_mean(ups, weights)
    flat = np.concatenate([a.ravel() for a in ours.values()])
    error = float(np.max(np.abs(flat - numpy_mean(stacked, weights))))
    forms: dict[str, Callable[[], object]] = {
        "weighted_mean": lambda: weighted_mean(ups, weights),
        "numpy_matvec": lambda: numpy_mean(stacked, weights),
        "numpy_broadcast": lambda: numpy_mean_broadcast(stacked, weights),
    }
    times: dict[str, list[float]] = {k: [] for k in forms}
    for fn in forms.values():
        fn()
    for _ in range(repeats):  # interleaved, so a burst of load from elsewhere hits every form alike
        for name, fn in forms.items():
            times[name] += time_calls(fn, 1, warmup=0)
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    best = {k: min(v) * 1000 for k, v in times.items()}
    fastest_plain = min(ms["numpy_matvec"], ms["numpy_broadcast"])
    update_bytes = stacked[0].nbytes
    peaks = {name: traced_peak(fn) / update_bytes for name, fn in forms.items()}
    return {
        "sites": SITES,
        "parameters_per_update": int(stacked.shape[1]),
        "update_bytes": update_bytes,
        "max_abs_difference": error,
        "median_ms": ms,
        "min_ms": best,
        "all_ms": {k: [t * 1000 for t in v] for k, v in times.items()},
        "ratio_to_fastest_plain": ms["weighted_mean"] / fastest_plain,
        "ratio_of_minimums": best["weighted_mean"] / min(best["numpy_matvec"], best["numpy_broadcast"]),
        "tracemalloc_peak_in_updates": peaks,
    }


def traced_peak(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (and traced: numpy's buffers are) while `fn` runs, above what was live before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


# Run with `python -c` in a fresh interpreter that imports numpy and WeightedMean only (no torch, no model,
# malloc untouched). The kernel's peak-RSS mark (VmHWM) is reset to the current resident set just before
# aggregating (`/proc/self/clear_refs`, Linux >= 4.0), because a child inherits its parent's peak at fork;
# so the growth of the mark is the aggregation's own peak. Elsewhere it falls back to ru_maxrss.
RSS_CHILD = """
import json, resource, sys
import numpy as np
from fedward.aggregation import WeightedMean

def peak():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

sizes, form = json.loads(sys.argv[1]), sys.argv[2]
weights = np.array([float(w) for w in sys.argv[3].split(",")], dtype=np.float32)
total = sum(int(np.prod(s)) for s in sizes.values())
stacked = np.random.default_rng(1).standard_normal((len(weights), total), dtype=np.float32)
updates = []
for row in stacked:
    views, offset = {}, 0
    for name, shape in sizes.items():
        n = int(np.prod(shape))
        views[name], offset = row[offset : offset + n].reshape(shape), offset + n
    updates.append(views)
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    reset = True
except OSError:
    reset = False
before = peak()
if form == "weighted_mean":
    mean = WeightedMean()
    for u, w in zip(updates, weights):
        mean.add(u, float(w))
    result = mean.mean()
else:
    result = weights @ stacked
    result *= np.float32(1.0 / weights.sum())
after = peak()
print(json.dumps({"growth_bytes": after - before, "update_bytes": stacked[0].nbytes, "peak_reset": reset,
                  "torch_loaded": "torch" in sys.modules}))
"""


def rss_growth(hidden: tuple[int, ...]) -> dict[str, Any] | None:
    """Growth of the peak resident set while aggregating, in a fresh process per form, in updates."""
    layout = json.dumps(model_layout(hidden))
    weights = ",".join(str(w) for w in np.random.default_rng(2).integers(20, 200, SITES))
    out: dict[str, Any] = {}
    for form in ("weighted_mean", "numpy_matvec"):
        done = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, layout, form, weights],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            console.print(f"[yellow]memory subprocess failed:[/] {done.stderr.strip()[-500:]}")
            return None
        child = json.loads(done.stdout.strip().splitlines()[-1])
        out[form] = child["growth_bytes"] / child["update_bytes"]
        out["torch_loaded_in_child"] = child["torch_loaded"]
        out["peak_reset"] = child["peak_reset"]
    return out


def _child(extra: list[str]) -> dict[str, Any] | None:
    """Run this script in a fresh interpreter and read the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *extra], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        console.print(f"[yellow]subprocess {extra[0]} failed:[/] {done.stderr.strip()[-500:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------- output


def print_results(
    rounds: dict[str, Any], untuned: dict[str, Any] | None, br: dict[str, Any], agg: dict[str, Any]
) -> None:
    rows = []
    for label, data in (("", rounds), ("default malloc: ", untuned)):
        if data is not None:
            ms = data["ms"]
            parts = {
                **ROUND_PARTS,
                "site_fit_framework": "  at the sites",
                "coordinator": "  at the coordinator",
            }
            rows += [(label + name, ms[key]["median"], ms[key]["p90"]) for key, name in parts.items()]
    print_table(
        f"per round, {SITES} sites, {br['parameters']:,} parameters, {rounds['rounds_measured']} rounds (ms)",
        ("", "median", "p90"),
        rows,
        caption=f"reference, not measured here: Flower simulation ~{FLOWER_REFERENCE_MS:.0f} ms per round",
    )
    steps = br["steps"]
    print_table(
        "where a fit round's framework time goes (median ms)",
        ("step (all 10 sites)", "where", "ms per round"),
        [(k, s["where"], s["ms_per_round"]) for k, s in steps.items()]
        + [("sum (estimate)", "", br["estimated_ms_per_round"])],
    )
    peaks, rss = agg["tracemalloc_peak_in_updates"], agg.get("rss_growth_in_updates") or {}
    print_table(
        f"FedAvg of {SITES} x {agg['parameters_per_update']:,} float32 (median of repeats)",
        ("form", "median ms", "min ms", "peak (tracemalloc, updates)", "maxrss growth (updates)"),
        [(k, v, agg["min_ms"][k], peaks[k], rss.get(k)) for k, v in agg["median_ms"].items()],
        caption=f"WeightedMean / fastest plain numpy: {agg['ratio_to_fastest_plain']:.2f} (medians), "
        f"{agg['ratio_of_minimums']:.2f} (minimums)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "the framework's own cost per round, and aggregation against plain numpy")
    parser.add_argument("--rounds", type=int, default=None, help="measured rounds (default 20, quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds discarded before measuring")
    parser.add_argument("--samples", type=int, default=8, help="training and test samples per site")
    parser.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN), help="mlp hidden sizes")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each timed primitive")
    parser.add_argument("--no-tune", action="store_true", help="leave glibc malloc at its defaults")
    parser.add_argument("--rounds-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with limited_threads(args.threads):
        return run(args)


def run(args: argparse.Namespace) -> int:
    hidden = tuple(args.hidden)
    rounds_n = args.rounds or (3 if args.quick else 20)
    if args.rounds_child:
        print(json.dumps(run_rounds(rounds_n, args.samples, hidden, args.warmup)))
        return 0
    repeats = args.repeats or (5 if args.quick else 30)
    machine = machine_info()
    start = time.perf_counter()
    tuned = False if args.no_tune else tune_for_large_messages()
    console.print(f"rounds: {args.warmup} warm-up + {rounds_n} measured, {SITES} sites ...")
    rounds = run_rounds(rounds_n, args.samples, hidden, args.warmup)
    untuned = None
    if tuned and not args.quick:
        console.print("the same without malloc tuning, in a subprocess ...")
        sizes = ["--rounds", str(rounds_n), "--warmup", str(args.warmup), "--samples", str(args.samples)]
        untuned = _child(
            [
                "--rounds-child",
                "--no-tune",
                *sizes,
                "--threads",
                str(args.threads),
                "--hidden",
                *map(str, hidden),
            ]
        )
    console.print("primitives ...")
    br = breakdown(hidden, repeats)
    console.print("aggregation ...")
    agg = aggregation(hidden, repeats)
    agg["rss_growth_in_updates"] = rss_growth(hidden)
    overhead_ms = rounds["ms"]["overhead_seconds"]["median"]
    goals = {
        "overhead_per_round": goal(
            "median framework overhead per round (ms)", overhead_ms, OVERHEAD_GOAL_MS, "<=", " ms"
        ),
        "aggregation_vs_numpy": goal(
            "WeightedMean time / fastest plain numpy weighted sum",
            agg["ratio_to_fastest_plain"],
            AGGREGATION_RATIO_GOAL,
            "<=",
        ),
    }
    print_results(rounds, untuned, br, agg)
    goals_table("goals", goals)
    body = {
        "setup": {
            "sites": SITES,
            "model": "mlp",
            "features": FEATURES,
            "hidden": list(hidden),
            "parameters": br["parameters"],
            "samples_per_site": args.samples,
            "train": TRAIN.to_config(),
            "malloc_tuned": tuned,
        },
        "goals": goals,
        "reference": {
            "flower_simulation_ms_per_round": FLOWER_REFERENCE_MS,
            "note": "reference figure from the issue for a comparable 10-site task; not measured here",
        },
        "rounds": rounds,
        "rounds_default_malloc": untuned,
        "breakdown": br,
        "aggregation": agg,
        "seconds": time.perf_counter() - start,
    }
    write_result(args.out, NAME, args, machine, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
