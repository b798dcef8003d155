"""`fedward demo`: five synthetic hospitals of scanned documents, one federation, honest baselines.

Writes `OUT/data/` (the hospitals' pages and `federation.toml`) and `OUT/run/` (the run directory).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from fedward.cli.progress import results
from fedward.cli.simulate import run_and_report
from fedward.cli.synth import synth_documents
from fedward.errors import UserError

__all__ = ["demo"]

DEMO_SITES = 5
DEMO_PAGES = 200
DEMO_ROUNDS = 20


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="folder for the demo's data and run"),
    seed: int = typer.Option(7, "--seed", min=0),
    force: bool = typer.Option(False, "--force", help="replace the output folder of an earlier demo"),
    workers: int = typer.Option(2, "--workers", min=1, help="processes for generating pages"),
    sites: int = typer.Option(DEMO_SITES, "--sites", min=2, help="number of hospitals"),
    pages: int = typer.Option(DEMO_PAGES, "--pages", min=16, help="pages per hospital"),
    rounds: int = typer.Option(DEMO_ROUNDS, "--rounds", min=1, help="federated rounds"),
) -> None:
    """Synthesize 5 hospitals of scanned documents and run the federation with baselines."""
    if out.exists() and any(out.iterdir()):
        if not force:
            raise UserError(
                "output folder is not empty", where=out, hint="pass --force or choose another --out"
            )
        if not (out / "data" / "federation.toml").is_file():
            raise UserError(
                "--force only replaces an earlier demo's folder (with data/federation.toml)", where=out
            )
        shutil.rmtree(out)
    synth_documents(out / "data", sites, pages, seed, workers, rounds=rounds)
    run_and_report(out / "data" / "federation.toml", out / "run", baselines=True, force=False)
    results.print(f"data: {out / 'data'}", highlight=False)
