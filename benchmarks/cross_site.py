"""Benchmark: how different the synthetic hospitals are. A doc-cnn trained at one hospital alone is tested at
every hospital (`fedward.simulation.baselines.local_only`, the same code as the local-only baseline).

Reports the train-site x test-site accuracy matrix (mean over seeds), the mean diagonal (own test set)
against the mean off-diagonal (the other hospitals' test sets), and each hospital's drop from its own test
set to the others'. Goal: a model trained at one hospital loses accuracy at the others; "clearly" is taken
as a mean off-diagonal at least 10 points below the mean diagonal, with every hospital losing accuracy.

The data and budget are the demo's (`fedward demo`: hospitals, pages and rounds), with the training settings
of `fedward synth docs`' federation.toml: the local-only baseline's rounds x local epochs epochs.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    console,
    document_entries,
    federation_config,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    spread,
    write_documents,
    write_result,
)
from fedward.cli.demo import DEMO_PAGES, DEMO_ROUNDS, DEMO_SITES
from fedward.cli.synth import documents_config_tables
from fedward.config import FederationConfig
from fedward.coordinator.setup import sort_classes
from fedward.models import ModelSpec
from fedward.run.data import LoadedSite, load_sites
from fedward.simulation.baselines import local_only
from fedward.site import TrainSettings

NAME = "cross_site"
DROP_GOAL = 0.10  # mean diagonal minus mean off-diagonal accuracy, at least


def settings_for(cfg: FederationConfig, seed: int) -> TrainSettings:
    """The local-only baseline's budget and optimizer, as `fedward.simulation.runner` sets them: every
    `[strategy]` setting that `TrainSettings` also has, and rounds x local epochs epochs."""
    s = cfg.strategy
    # class_weights: a mode in [strategy], the weights themselves in TrainSettings (none here)
    shared = {f.name for f in dataclasses.fields(TrainSettings)} - {
        "epochs",
        "seed",
        "proximal_mu",
        "class_weights",
    }
    kwargs: dict[str, Any] = {k: getattr(s, k) for k in sorted(shared) if hasattr(s, k)}
    return TrainSettings(epochs=cfg.federation.rounds * s.local_epochs, seed=seed, **kwargs)


def spec_for(cfg: FederationConfig, sites: list[LoadedSite], classes: list[str]) -> ModelSpec:
    side = int(sites[0].data.train_x.shape[-1])
    return ModelSpec("doc-cnn", side, len(classes), tuple(cfg.model.hidden), tuple(cfg.model.channels))


def matrix_stats(matrix: np.ndarray, names: list[str]) -> dict[str, Any]:
    n = len(names)
    off = ~np.eye(n, dtype=bool)
    diag = np.diag(matrix)
    others = np.array([matrix[i][off[i]].mean() for i in range(n)])
    tested_elsewhere = np.array([matrix[:, j][off[:, j]].mean() for j in range(n)])
    return {
        "mean_diagonal": float(diag.mean()),
        "mean_off_diagonal": float(matrix[off].mean()),
        "drop": float(diag.mean() - matrix[off].mean()),
        "hospitals": {
            name: {
                "own_test": float(diag[i]),
                "other_tests_mean": float(others[i]),
                "drop": float(diag[i] - others[i]),
                "worst_other": names[int(np.argmin(np.where(off[i], matrix[i], np.inf)))],
                "others_models_on_this_test": float(tested_elsewhere[i]),
            }
            for i, name in enumerate(names)
        },
    }


def print_results(names: list[str], matrix: np.ndarray, stats: dict[str, Any], seeds: int) -> None:
    rows = []
    for i, name in enumerate(names):
        h = stats["hospitals"][name]
        cells = [f"[bold]{v:.3f}[/]" if i == j else f"{v:.3f}" for j, v in enumerate(matrix[i])]
        rows.append((name, *cells, h["other_tests_mean"], h["drop"]))
    print_table(
        f"accuracy: model trained at (row) tested at (column); mean of {seeds} seed(s)",
        ("trained at", *names, "others' mean", "drop"),
        rows,
        caption=f"mean diagonal {stats['mean_diagonal']:.3f}, mean off-diagonal "
        f"{stats['mean_off_diagonal']:.3f}, drop {stats['drop']:.3f}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "heterogeneity of the synthetic hospitals: train at one, test at all")
    parser.add_argument("--data", type=Path, default=None, help="reuse a generated document federation")
    parser.add_argument("--sites", type=int, default=None, help=f"hospitals (default {DEMO_SITES}, quick 3)")
    parser.add_argument(
        "--pages", type=int, default=None, help=f"pages per hospital (default {DEMO_PAGES}, quick 40)"
    )
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the generated documents")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds (default 3, quick 1)")
    parser.add_argument(
        "--rounds", type=int, default=None, help=f"budget: rounds x local epochs (default {DEMO_ROUNDS})"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes for pages (default 2, quick 1)")
    args = parser.parse_args(argv)
    with limited_threads(args.threads):
        return run(args)


def run(args: argparse.Namespace) -> int:
    args.sites = args.sites or (3 if args.quick else DEMO_SITES)
    args.pages = args.pages or (40 if args.quick else DEMO_PAGES)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.rounds = args.rounds or (2 if args.quick else DEMO_ROUNDS)
    args.workers = args.workers or (1 if args.quick else 2)
    machine = machine_info()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedward-bench-cross-") as tmp:
        data = args.data or Path(tmp) / "documents"
        if args.data is None:
            console.print(f"generating {args.sites} hospitals x {args.pages} pages ...")
            entries = write_documents(data, args.sites, args.pages, args.data_seed, args.workers)
        else:
            entries = document_entries(data)
        generated = time.perf_counter()
        tables = documents_config_tables(args.rounds, 0)
        cfg = federation_config(
            data, {**tables, "data": {**tables["data"], "workers": args.workers}}, entries
        )
        console.print("preprocessing the hospitals' pages ...")
        sites = load_sites(cfg)
    loaded = time.perf_counter()
    names = [s.name for s in sites]
    datas = {s.name: s.data for s in sites}
    classes = sort_classes({label for s in sites for label in (*s.data.train_y, *s.data.test_y)})
    spec = spec_for(cfg, sites, classes)
    matrices = []
    for seed in range(args.seeds):
        console.print(f"training {len(names)} local models, seed {seed} ...")
        _, cross = local_only(spec, datas, classes, settings_for(cfg, seed), seed)
        matrices.append(np.array(cross))
    trained = time.perf_counter()
    matrix = np.mean(matrices, axis=0)
    stats = matrix_stats(matrix, names)
    per_seed = [matrix_stats(m, names) for m in matrices]
    stats["drop_over_seeds"] = spread(s["drop"] for s in per_seed)
    losing = sum(h["drop"] > 0 for h in stats["hospitals"].values())
    goals = {
        "off_diagonal_clearly_below_diagonal": goal(
            "mean diagonal - mean off-diagonal accuracy", stats["drop"], DROP_GOAL, ">="
        ),
        "every_hospital_loses_elsewhere": goal(
            "hospitals whose model does worse on the others' tests", float(losing), float(len(names)), ">="
        ),
    }
    print_results(names, matrix, stats, args.seeds)
    goals_table("goals", goals)
    body = {
        "goals": goals,
        "sites": names,
        "classes": classes,
        "train_settings": vars(settings_for(cfg, 0)) | {"seed": list(range(args.seeds))},
        "model": spec.to_config(),
        "data": {
            s.name: {
                "n_train": len(s.data.train_y),
                "n_test": len(s.data.test_y),
                "rejected_pages": len(s.rejected),
                "train_classes": {c: s.data.train_y.count(c) for c in classes},
            }
            for s in sites
        },
        "accuracy_matrix": matrix.tolist(),
        "accuracy_matrix_per_seed": [m.tolist() for m in matrices],
        "summary": stats,
        "summary_per_seed": per_seed,
        "timing": {
            "generate_seconds": generated - start,
            "preprocess_seconds": loaded - generated,
            "train_seconds": trained - loaded,
        },
        "seconds": time.perf_counter() - start,
    }
    write_result(args.out, NAME, args, machine, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
