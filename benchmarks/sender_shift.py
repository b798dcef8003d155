"""Benchmark: a document federation where federation can matter (issue 11, step 0). Hospitals receive many
pages from a shared pool of outside senders (GP practices, insurers, laboratories, imaging centres,
clinics), each with its own exposure, and each hospital's test split is later in time than its training
split: it holds senders and form versions the hospital never saw in training, but another hospital did
(`generate_federation(..., senders=SenderSettings())`, `fedward synth docs --senders`).

Runs `fedward simulate` (with baselines) on the demo's federation (5 hospitals x 200 pages, 20 rounds,
the non-private settings `fedward synth docs` writes) and reports per hospital the local-only, federated
and centralized accuracy from `summary.json`, and accuracy on the test pages whose sender (and form
version) the hospital saw in its own training split against those it did not (truth.jsonl
`seen_locally`), for the federated model (`model/global.safetensors`) and for local-only models trained
here with the baseline's settings and seeds (`fedward simulate` does not save them). The result also
records what each hospital itself reported in `summary.json` (`site_reported_seen_unseen`: seen when the
page's sender, whatever its form version, is in the hospital's training labels.csv), for the federated,
local-only and centralized models.

Goals (issue 11, without privacy): local-only mean-site accuracy <= 0.90; federated >= local-only + 5
points; the cross-site drop kept (a local model loses at least 10 points on the other hospitals' tests,
as in `cross_site.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import (
    console,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    write_result,
)
from cross_site import matrix_stats, settings_for
from fedward.cli.demo import DEMO_PAGES, DEMO_ROUNDS, DEMO_SITES
from fedward.cli.federation_file import write_federation_file
from fedward.cli.synth import documents_config_tables
from fedward.config import FederationConfig, load_config
from fedward.core.arrays import arrays_from_bytes
from fedward.documents.dataset import DocumentSet, load_document_folder
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.documents.synth import SenderSettings, generate_federation
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.site import predict, train
from fedward.site.data import encode_labels

NAME = "sender_shift"
LOCAL_ONLY_MAX = 0.90
FEDERATED_GAIN = 0.05
DROP_GOAL = 0.10


def sender_settings(pairs: list[str]) -> SenderSettings:
    """`SenderSettings` with `KEY=VALUE` overrides (ints stay ints, anything with a dot is a float)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        kwargs[key] = float(value) if "." in value or "e" in value else int(value)
    return SenderSettings(**kwargs)


def generate(data: Path, args: argparse.Namespace, senders: SenderSettings) -> None:
    """The hospitals' pages and a federation.toml with the non-private settings of `fedward synth docs`."""
    summaries = generate_federation(
        data, args.sites, args.pages, args.data_seed, workers=args.workers, senders=senders
    )
    write_federation_file(
        data / "federation.toml",
        documents_config_tables(args.rounds, args.data_seed),
        [(s.name, f"{s.name}/train", f"{s.name}/test") for s in summaries],
        f"sender-shift benchmark: {args.sites} hospitals, {args.pages} pages each, seed {args.data_seed}.",
    )


def simulate(config: Path, run: Path, threads: int) -> dict[str, Any]:
    """`fedward simulate CONFIG --out RUN` (baselines on) in a fresh interpreter; its summary.json.
    `threads` (> 0) caps its torch/OpenMP threads like `--threads` caps this process's."""
    fedward = Path(sys.executable).parent / "fedward"
    env = dict(os.environ) | ({"OMP_NUM_THREADS": str(threads)} if threads > 0 else {})
    subprocess.run([str(fedward), "simulate", str(config), "--out", str(run)], check=True, env=env)
    summary: dict[str, Any] = json.loads((run / "summary.json").read_text())
    return summary


def truth_by_file(folder: Path) -> dict[str, dict[str, Any]]:
    lines = (folder / "truth.jsonl").read_text().splitlines()
    return {row["file"]: row for row in map(json.loads, lines)}


def seen_split(
    model: torch.nn.Module, test: DocumentSet, truth: dict[str, Any], classes: list[str]
) -> dict[str, Any]:
    """Accuracy on the test pages from senders seen in local training, and on the others."""
    pred = predict(model, torch.from_numpy(test.images))
    right = pred == encode_labels(list(test.labels), classes)
    seen = np.array([bool(truth[f]["seen_locally"]) for f in test.files])
    return {
        "accuracy": float(right.mean()),
        "seen": float(right[seen].mean()) if seen.any() else None,
        "unseen": float(right[~seen].mean()) if (~seen).any() else None,
        "n_seen": int(seen.sum()),
        "n_unseen": int((~seen).sum()),
    }


def load_pages(cfg: FederationConfig) -> dict[str, tuple[DocumentSet, DocumentSet]]:
    """Every site's preprocessed (train, test) pages, with their file names."""
    d = cfg.data
    spec = PipelineSpec(min_dpi=d.min_dpi, image_size=d.image_size)
    pipeline = Pipeline(spec)
    return {
        s.name: (
            load_document_folder(s.train, pipeline, workers=d.workers),
            load_document_folder(s.test, pipeline, workers=d.workers),
        )
        for s in cfg.sites
    }


def local_models(
    cfg: FederationConfig,
    spec: ModelSpec,
    pages: dict[str, tuple[DocumentSet, DocumentSet]],
    classes: list[str],
) -> dict[str, torch.nn.Module]:
    """Each site's local-only model, with the settings and seeds of the local-only baseline."""
    settings = settings_for(cfg, cfg.federation.seed)
    models = {}
    for i, (name, (train_set, _)) in enumerate(pages.items()):
        model = build_model(spec, seed=cfg.federation.seed + i)
        y = torch.from_numpy(encode_labels(list(train_set.labels), classes))
        train(model, torch.from_numpy(train_set.images), y, settings)
        models[name] = model
    return models


def global_model(spec: ModelSpec, run: Path) -> torch.nn.Module:
    model = build_model(spec, seed=0)
    load_arrays(model, arrays_from_bytes((run / "model" / "global.safetensors").read_bytes()))
    return model


def sender_mix(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in truth_by_file(folder).values():
        counts[row["sender_kind"]] = counts.get(row["sender_kind"], 0) + 1
    return counts


def per_hospital(
    summary: dict[str, Any],
    seen: dict[str, dict[str, dict[str, Any]]],
    data: Path,
) -> dict[str, dict[str, Any]]:
    metrics = summary["metrics"]
    out = {}
    for name in seen["federated"]:
        out[name] = {
            arm: metrics[arm]["sites"][name]["accuracy"] for arm in ("local_only", "federated", "centralized")
        } | {
            "federated_seen_unseen": seen["federated"][name],
            "local_only_seen_unseen": seen["local_only"][name],
            "test_senders": sender_mix(data / name / "test"),
            "site_reported_seen_unseen": {arm: site_reported(metrics, arm, name) for arm in _REPORTED},
        }
    return out


_REPORTED = ("federated", "local_only", "centralized")


def site_reported(metrics: dict[str, Any], arm: str, name: str) -> dict[str, Any]:
    """The seen/unseen figures the hospital itself reported in summary.json (seen: the sender alone is in
    its training split's labels.csv, whatever the form version)."""
    site = metrics[arm]["sites"][name]
    return {
        "seen": site.get("seen_accuracy"),
        "unseen": site.get("unseen_accuracy"),
        "n_seen": site.get("seen_n"),
        "n_unseen": site.get("unseen_n"),
    }


def print_results(hospitals: dict[str, dict[str, Any]]) -> None:
    rows = []
    for name, h in hospitals.items():
        f, lo = h["federated_seen_unseen"], h["local_only_seen_unseen"]
        rows.append(
            (
                name,
                h["local_only"],
                h["federated"],
                h["centralized"],
                lo["accuracy"],
                lo["seen"],
                lo["unseen"],
                f["seen"],
                f["unseen"],
                f"{f['n_seen']}/{f['n_unseen']}",
            )
        )
    print_table(
        "accuracy per hospital (seen / unseen: test pages whose sender and form version the hospital's own "
        "training split held / did not)",
        (
            "hospital",
            "local-only",
            "federated",
            "centralized",
            "local (here)",
            "local seen",
            "local unseen",
            "fed seen",
            "fed unseen",
            "pages seen/unseen",
        ),
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "a document federation with outside senders, where federation can matter")
    parser.add_argument(
        "--data-seed", type=int, default=2024, help="seed of the generated documents (2024: never tuned on)"
    )
    parser.add_argument("--data", type=Path, default=None, help="reuse a federation this script generated")
    parser.add_argument("--sites", type=int, default=None, help=f"hospitals (default {DEMO_SITES}, quick 3)")
    parser.add_argument("--pages", type=int, default=None, help=f"pages per hospital (default {DEMO_PAGES})")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds (default {DEMO_ROUNDS}, quick 2)")
    parser.add_argument("--workers", type=int, default=None, help="processes for pages (default 2)")
    parser.add_argument(
        "--sender",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one SenderSettings field (repeatable)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the data and run folders here")
    args = parser.parse_args(argv)
    with limited_threads(args.threads):
        return run(args)


def run(args: argparse.Namespace) -> int:
    args.sites = args.sites or (3 if args.quick else DEMO_SITES)
    args.pages = args.pages or (48 if args.quick else DEMO_PAGES)
    args.rounds = args.rounds or (2 if args.quick else DEMO_ROUNDS)
    args.workers = args.workers or (1 if args.quick else 2)
    senders = sender_settings(args.sender)
    machine = machine_info()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedward-bench-senders-") as tmp:
        root = args.keep or Path(tmp)
        data = args.data or root / "data"
        if args.data is None:
            console.print(f"generating {args.sites} hospitals x {args.pages} pages with outside senders ...")
            generate(data, args, senders)
        generated = time.perf_counter()
        summary = simulate(data / "federation.toml", root / "run", args.threads)
        simulated = time.perf_counter()
        body = evaluate(data, root / "run", summary, senders)
    body["timing"] = {
        "generate_seconds": generated - start,
        "simulate_seconds": simulated - generated,
        "evaluate_seconds": time.perf_counter() - simulated,
    }
    body["seconds"] = time.perf_counter() - start
    write_result(args.out, NAME, args, machine, body)
    return 0


def evaluate(data: Path, run: Path, summary: dict[str, Any], senders: SenderSettings) -> dict[str, Any]:
    """Seen/unseen accuracy of the federated and local-only models, the goals, and the result body."""
    cfg = load_config(data / "federation.toml")
    classes = list(summary["classes"])
    console.print("preprocessing the pages and training the local-only models ...")
    pages = load_pages(cfg)
    side = int(next(iter(pages.values()))[0].images.shape[-1])
    spec = ModelSpec("doc-cnn", side, len(classes), tuple(cfg.model.hidden), tuple(cfg.model.channels))
    fed, local = global_model(spec, run), local_models(cfg, spec, pages, classes)
    seen = {
        "federated": {
            n: seen_split(fed, t, truth_by_file(data / n / "test"), classes) for n, (_, t) in pages.items()
        },
        "local_only": {
            n: seen_split(local[n], t, truth_by_file(data / n / "test"), classes)
            for n, (_, t) in pages.items()
        },
    }
    hospitals = per_hospital(summary, seen, data)
    metrics = summary["metrics"]
    names = list(hospitals)
    cross = matrix_stats(np.array(metrics["cross_site"]["accuracy"]), names)
    local_mean = metrics["local_only"]["mean_site_accuracy"]
    fed_mean = metrics["federated"]["mean_site_accuracy"]
    goals = {
        "local_only_at_most": goal("local-only mean-site accuracy", local_mean, LOCAL_ONLY_MAX, "<="),
        "federated_gain": goal(
            "federated - local-only mean-site accuracy", fed_mean - local_mean, FEDERATED_GAIN, ">="
        ),
        "cross_site_drop": goal(
            "mean diagonal - mean off-diagonal (local-only models)", cross["drop"], DROP_GOAL, ">="
        ),
    }
    print_results(hospitals)
    console.print(
        f"mean-site accuracy: local-only {local_mean:.3f}, federated {fed_mean:.3f}, centralized "
        f"{metrics['centralized']['mean_site_accuracy']:.3f}; cross-site drop {cross['drop']:.3f}"
    )
    goals_table("goals", goals)
    return {
        "goals": goals,
        "sender_settings": senders.to_json(),
        "mean_site_accuracy": {
            arm: metrics[arm]["mean_site_accuracy"] for arm in ("local_only", "federated", "centralized")
        },
        "hospitals": hospitals,
        "cross_site": {"accuracy": metrics["cross_site"]["accuracy"], "summary": cross},
        "summary_json": {
            k: summary[k] for k in ("seed", "classes", "rounds_completed", "strategy", "model", "data")
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
