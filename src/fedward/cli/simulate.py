"""`fedward simulate CONFIG --out DIR`: run a federation in-process from a config file.

The run's modules (torch among them) load inside `run_and_report`, so that `fedward --help` and the other
commands do not pay for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from fedward.cli.progress import console, results, round_progress
from fedward.cli.tables import results_notes, results_table, senders_table

__all__ = ["run_and_report", "simulate_command"]


def run_and_report(
    config: Path, out: Path, *, baselines: bool, force: bool, compare_non_private: bool = False
) -> dict[str, Any]:
    from fedward.config import load_config
    from fedward.report import check_out_dir
    from fedward.run.data import load_sites
    from fedward.simulation import simulate
    from fedward.simulation.runner import SimulationHooks

    cfg = load_config(config)
    check_out_dir(out, force=force)
    with console.status("loading and preprocessing site data") as status:
        # everything is loaded and validated before the run starts, so bad data writes nothing
        sites = load_sites(cfg, lambda s: status.update(f"loading and preprocessing site data: {s}"))
    for site in sites:
        if site.rejected:
            console.print(
                f"[yellow]site {site.name}: {len(site.rejected)} page(s) not used[/] "
                f"(first: {site.rejected[0][0]}: {site.rejected[0][1]})"
            )
        for file, reason in site.unreadable:  # each one named: a file an operator must replace
            console.print(
                f"[yellow]site {site.name}: {escape(file)} skipped: {escape(reason)}[/]", highlight=False
            )
    hooks = SimulationHooks(on_phase=lambda p: console.print(f"training {p}..."))
    with round_progress(cfg.federation.rounds) as on_round:
        hooks = SimulationHooks(on_round=on_round, on_phase=hooks.on_phase)
        result = simulate(
            cfg,
            config,
            out,
            baselines=baselines,
            force=force,
            hooks=hooks,
            sites=sites,
            compare_non_private=compare_non_private,
        )
    stopped = result.summary.get("stopped_reason") or result.summary.get("privacy", {}).get("stopped_reason")
    if stopped:
        console.print(f"[yellow]{stopped}[/]", highlight=False)
    # in a terminal the table fits its width (on a narrow one a recommended model goes under its
    # accuracy); into a file or a pipe, where nothing re-wraps lines, it may take 100 columns
    width = results.width
    if not results.is_terminal:
        results.width = max(width, 100)
    try:
        results.print(results_table(result.summary))
        senders = senders_table(result.summary)
        if senders is not None:
            results.print(senders)
    finally:
        results.width = width
    for line in results_notes(result.summary):
        results.print(line, markup=False, highlight=False)
    results.print(f"report: {out / 'report.html'}", highlight=False)
    return result.summary


def simulate_command(
    config: Path = typer.Argument(..., help="federation config file (TOML)"),
    out: Path = typer.Option(..., "--out", help="run directory to write"),
    no_baselines: bool = typer.Option(
        False, "--no-baselines", help="skip the centralized and local-only runs"
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing run directory"),
    compare_non_private: bool = typer.Option(
        False,
        "--compare-non-private",
        help="also run the federation without [privacy] settings, to show the privacy/accuracy trade-off",
    ),
) -> None:
    """Run a federation in-process (all sites in this process) and write the run directory."""
    run_and_report(
        config, out, baselines=not no_baselines, force=force, compare_non_private=compare_non_private
    )
