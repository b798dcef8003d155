"""Benchmark: compressed updates (`[compression]`): upload bytes per round and accuracy, none vs int8 vs
top-k 1% (with error feedback).

digits (scikit-learn) over 10 sites with Dirichlet(0.5) label skew, logistic and mlp, the `fedward synth
tabular` recipe (fedavg, 3 local epochs, batch 16, lr 0.05); every run goes through
`fedward.simulation.simulate` without baselines. Evaluation only after the last round, so every other
round's `bytes_up` (metrics.jsonl) is the sites' fit uploads alone. Goals, per model:

- int8: >= 3.5x fewer upload bytes per round than none, at <= 1 point (0.01) mean-site accuracy loss;
- top-k 1%: >= 20x fewer upload bytes per round (its accuracy loss is reported, not a goal).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from accuracy import write_tabular
from common import (
    console,
    federation_config,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    write_result,
)
from fedward.simulation import simulate

NAME = "compression"
MODELS = ("logistic", "mlp")
KINDS: dict[str, dict[str, Any]] = {
    "none": {},
    "int8": {"kind": "int8"},
    "topk": {"kind": "topk", "topk_fraction": 0.01},
}


def run_case(
    data: Path, entries: list[dict[str, str]], model: str, kind: str, rounds: int, seed: int
) -> dict[str, Any]:
    tables: dict[str, dict[str, Any]] = {
        "federation": {"task": "tabular", "rounds": rounds, "seed": seed, "eval_every": rounds},
        "data": {"label": "target"},
        "model": {"name": model},
        "strategy": {"name": "fedavg", "local_epochs": 3, "batch_size": 16, "lr": 0.05, "momentum": 0.9},
        "personalization": {"enabled": False},
    }
    if KINDS[kind]:
        tables["compression"] = KINDS[kind]
    cfg = federation_config(data, tables, entries)
    with tempfile.TemporaryDirectory(prefix="fedward-bench-compression-") as tmp:
        start = time.perf_counter()
        result = simulate(cfg, data / "federation.toml", Path(tmp) / "run", baselines=False)
        seconds = time.perf_counter() - start
    records = result.federation.rounds
    fit_rounds = [r for r in records if not r.evaluation] or records
    summary = result.summary
    return {
        "model": model,
        "kind": kind,
        "rounds": rounds,
        "bytes_up_per_round": statistics.mean(r.bytes_up for r in fit_rounds),
        "bytes_down_per_round": statistics.mean(r.bytes_down for r in fit_rounds),
        "communication": summary["communication"],
        "mean_site_accuracy": summary["metrics"]["federated"]["mean_site_accuracy"],
        "failures": len(summary["failures"]),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, __doc__ or "")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rounds = min(2, args.rounds) if args.quick else args.rounds
    models = ("logistic",) if args.quick else MODELS
    start = time.perf_counter()
    cases: list[dict[str, Any]] = []
    goals: dict[str, Any] = {}
    with limited_threads(args.threads), tempfile.TemporaryDirectory(prefix="fedward-bench-digits-") as tmp:
        data = Path(tmp)
        entries = write_tabular(data, "digits", 10, 0.5, args.seed)
        for model in models:
            by_kind = {k: run_case(data, entries, model, k, rounds, args.seed) for k in KINDS}
            cases.extend(by_kind.values())
            base = by_kind["none"]
            for c in by_kind.values():
                c["reduction"] = base["bytes_up_per_round"] / c["bytes_up_per_round"]
                c["accuracy_loss"] = base["mean_site_accuracy"] - c["mean_site_accuracy"]
            i8, tk = by_kind["int8"], by_kind["topk"]
            goals[f"{model}/int8_bytes"] = goal(
                "int8: fewer upload bytes per round", i8["reduction"], 3.5, ">=", "x"
            )
            goals[f"{model}/int8_accuracy"] = goal("int8: accuracy loss", i8["accuracy_loss"], 0.01, "<=")
            goals[f"{model}/topk_bytes"] = goal(
                "top-k 1%: fewer upload bytes per round", tk["reduction"], 20, ">=", "x"
            )
    rows = [
        [
            c["model"],
            c["kind"],
            f"{c['bytes_up_per_round']:.0f}",
            f"{c['reduction']:.1f}x",
            f"{c['mean_site_accuracy']:.3f}",
            f"{c['accuracy_loss']:+.3f}",
        ]
        for c in cases
    ]
    print_table(
        "compression: digits, 10 sites, Dirichlet 0.5",
        ["model", "kind", "bytes up/round", "reduction", "mean-site acc.", "loss"],
        rows,
    )
    goals_table("goals", goals)
    body = {
        "seconds": time.perf_counter() - start,
        "dataset": "digits",
        "sites": 10,
        "alpha": 0.5,
        "cases": cases,
        "goals": goals,
    }
    write_result(args.out, NAME, args, machine_info(), body)
    console.print("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
