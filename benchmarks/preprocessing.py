"""Benchmark: page preprocessing against the synthetic generator's ground truth, per hospital and overall.

Generates a synthetic federation (`fedward.documents.synth.generate_federation`), runs the default
`Pipeline` on every page and compares with `truth.jsonl`:

- orientation accuracy (estimated 0/90/180/270 equals the truth) over pages that pass the resolution check;
- residual skew: |estimated total rotation - true total rotation|, folded to the nearest multiple of 90
  degrees (a wrong quarter turn is an orientation error, counted above), for pages with |skew| <= 10;
- the resolution check: pages it rejected versus pages truly below `min_dpi` (false rejections, misses);
- milliseconds per page for `Pipeline.process`, as CPU time (the pipeline runs on one core; wall time, also
  recorded, grows with whatever else the machine runs); decoding the file is timed apart.

Usage: python benchmarks/preprocessing.py --sites 5 --pages 80 --seed 0 [--out results.json] [--data DIR]
Writes JSON (default benchmarks/results/preprocessing.json) with the goals next to the figures, and the
machine it ran on (with its load average: times on a busy machine are not those of an idle one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common import goal, goals_table, machine_info, parser_for, print_table, write_result
from fedward.documents.pipeline import Pipeline
from fedward.documents.synth import generate_federation

NAME = "preprocessing"
SKEW_LIMIT_DEG = 10.0


@dataclass(frozen=True)
class PageOutcome:
    """One page: its truth and what the pipeline made of it."""

    hospital: str
    file: str
    size: tuple[int, int]
    true_dpi: float
    true_orientation: int
    true_skew: float
    accepted: bool
    rejected_for_resolution: bool
    orientation: int | None
    skew: float | None
    ms_process: float  # CPU time of Pipeline.process: what one core spends, whatever else runs
    ms_wall: float  # wall time of the same call: inflated on a busy machine
    ms_decode: float


def residual_deg(estimated_total: float, true_total: float) -> float:
    """|estimated - true| folded to the nearest multiple of 90 degrees (quarter-turn errors count apart)."""
    diff = (estimated_total - true_total) % 360.0
    return abs(diff - 90.0 * round(diff / 90.0))


def run_page(pipeline: Pipeline, hospital: str, split_dir: Path, truth: dict[str, Any]) -> PageOutcome:
    start = time.perf_counter()
    with Image.open(split_dir / truth["file"]) as image:
        image.load()
        decoded, cpu_start = time.perf_counter(), time.process_time()
        result = pipeline.process(image, file=truth["file"])
        done, cpu_done = time.perf_counter(), time.process_time()
        size = image.size
    reason = result.reason or ""
    return PageOutcome(
        hospital=hospital,
        file=f"{split_dir.name}/{truth['file']}",
        size=size,
        true_dpi=float(truth["dpi"]),
        true_orientation=int(truth["orientation"]) % 360,
        true_skew=float(truth["skew_deg"]),
        accepted=result.accepted,
        rejected_for_resolution=not result.accepted and "dpi" in reason,
        orientation=result.estimated_orientation,
        skew=result.estimated_skew_deg,
        ms_process=(cpu_done - cpu_start) * 1000.0,
        ms_wall=(done - decoded) * 1000.0,
        ms_decode=(decoded - start) * 1000.0,
    )


def run_federation(root: Path, pipeline: Pipeline) -> list[PageOutcome]:
    outcomes = []
    for hospital_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for split_dir in sorted(p for p in hospital_dir.iterdir() if (p / "truth.jsonl").is_file()):
            lines = (split_dir / "truth.jsonl").read_text().splitlines()
            for line in filter(None, lines):
                outcomes.append(run_page(pipeline, hospital_dir.name, split_dir, json.loads(line)))
    return outcomes


def summarize(pages: list[PageOutcome], min_dpi: int) -> dict[str, Any]:
    """The figures for one group of pages (a hospital, or all)."""
    usable = [p for p in pages if p.accepted]
    right = [p for p in usable if p.orientation == p.true_orientation]
    residuals = [
        residual_deg(p.orientation + p.skew, p.true_orientation + p.true_skew)
        for p in usable
        if p.orientation is not None and p.skew is not None and abs(p.true_skew) <= SKEW_LIMIT_DEG
    ]
    low = [p for p in pages if p.true_dpi < min_dpi]
    rejected = [p for p in pages if p.rejected_for_resolution]
    times = [p.ms_process for p in usable] or [float("nan")]
    wall = [p.ms_wall for p in usable] or [float("nan")]
    return {
        "pages": len(pages),
        "accepted": len(usable),
        "rejected_other": sum(1 for p in pages if not p.accepted and not p.rejected_for_resolution),
        "orientation_accuracy": len(right) / len(usable) if usable else float("nan"),
        "orientation_errors": len(usable) - len(right),
        "turned_pages": sum(1 for p in usable if p.true_orientation != 0),
        "median_residual_skew_deg": float(np.median(residuals)) if residuals else float("nan"),
        "p95_residual_skew_deg": float(np.percentile(residuals, 95)) if residuals else float("nan"),
        "max_residual_skew_deg": float(np.max(residuals)) if residuals else float("nan"),
        "share_rejected_for_resolution": len(rejected) / len(pages),
        "share_truly_below_min_dpi": len(low) / len(pages),
        "resolution_false_rejections": sum(1 for p in rejected if p.true_dpi >= min_dpi),
        "resolution_misses": sum(1 for p in low if not p.rejected_for_resolution),
        "ms_per_page_median": float(np.median(times)),
        "ms_per_page_p95": float(np.percentile(times, 95)),
        "ms_wall_per_page_median": float(np.median(wall)),
        "ms_decode_median": float(np.median([p.ms_decode for p in pages])),
        "median_page_pixels": f"{int(np.median([p.size[0] for p in pages]))}x"
        f"{int(np.median([p.size[1] for p in pages]))}",
    }


def goals(overall: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The goals of the preprocessing brief, checked on the overall figures."""
    return {
        "orientation_accuracy": goal(
            "share of accepted pages with the right 0/90/180/270", overall["orientation_accuracy"], 0.95, ">="
        ),
        "median_residual_skew_deg": goal(
            "median residual rotation, |skew| <= 10", overall["median_residual_skew_deg"], 0.5, "<=", " deg"
        ),
        "ms_per_page_median": goal(
            "median CPU time of Pipeline.process per page",
            overall["ms_per_page_median"],
            40.0,
            "<=",
            " ms",
        ),
        "resolution_false_rejections": goal(
            "pages at or above min_dpi rejected for resolution",
            overall["resolution_false_rejections"],
            0,
            "<=",
        ),
        "resolution_misses": goal(
            "pages below min_dpi not rejected for resolution", overall["resolution_misses"], 0, "<="
        ),
    }


def print_summary(by_hospital: dict[str, dict[str, Any]], overall: dict[str, Any]) -> None:
    columns = (
        "group",
        "pages",
        "orient",
        "errors",
        "turned",
        "skew med",
        "skew p95",
        "res rej",
        "< min",
        "false rej",
        "missed",
        "cpu ms",
        "wall ms",
    )
    rows = [
        (
            name,
            s["pages"],
            s["orientation_accuracy"],
            s["orientation_errors"],
            s["turned_pages"],
            s["median_residual_skew_deg"],
            s["p95_residual_skew_deg"],
            s["share_rejected_for_resolution"],
            s["share_truly_below_min_dpi"],
            s["resolution_false_rejections"],
            s["resolution_misses"],
            s["ms_per_page_median"],
            s["ms_wall_per_page_median"],
        )
        for name, s in [*by_hospital.items(), ("overall", overall)]
    ]
    print_table("page preprocessing against the generator's truth", columns, rows)


def measure(args: argparse.Namespace, pipeline: Pipeline) -> list[PageOutcome]:
    """Generate (or reuse `--data`) and run the pipeline over every page of every hospital."""
    if args.data is not None:
        if not (args.data.is_dir() and any(args.data.iterdir())):
            generate_federation(args.data, args.sites, args.pages, args.seed, workers=args.workers)
        return run_federation(args.data, pipeline)
    with tempfile.TemporaryDirectory(prefix="fedward-bench-") as tmp:
        generate_federation(Path(tmp), args.sites, args.pages, args.seed, workers=args.workers)
        return run_federation(Path(tmp), pipeline)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "page preprocessing (resolution, orientation, skew, speed) against the truth")
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--pages", type=int, default=80, help="pages per site (train and test together)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes for generating the pages")
    parser.add_argument("--data", type=Path, help="generate into (or, if it holds pages, reuse) this folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.pages = 2, 16
    machine = machine_info()
    pipeline = Pipeline()
    pages = measure(args, pipeline)
    min_dpi = pipeline.spec.min_dpi
    by_hospital = {
        h: summarize([p for p in pages if p.hospital == h], min_dpi)
        for h in sorted({p.hospital for p in pages})
    }
    overall = summarize(pages, min_dpi)
    checks = goals(overall)
    print_summary(by_hospital, overall)
    goals_table("goals", checks)
    body = {
        "pipeline": pipeline.spec.to_dict(),
        "pipeline_sha256": pipeline.spec.sha256(),
        "goals": checks,
        "overall": overall,
        "by_hospital": by_hospital,
        "orientation_errors": [
            p.__dict__ for p in pages if p.accepted and p.orientation != p.true_orientation
        ],
    }
    write_result(args.out, NAME, args, machine, body)
    return 0 if all(check["met"] for check in checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
