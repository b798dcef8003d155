"""The short results table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["results_table"]


def _acc(section: Mapping[str, Any] | None, site: str) -> str:
    if not section:
        return "-"
    value = section["sites"].get(site, {}).get("accuracy")
    return f"{value:.3f}" if value is not None else "-"


def results_table(summary: Mapping[str, Any]) -> Table:
    m = summary["metrics"]
    fed, cen, loc = m["federated"], m.get("centralized"), m.get("local_only")
    table = Table(
        title=f"accuracy after {summary['rounds_completed']} rounds ({summary['model']['name']}, "
        f"{summary['strategy']['name']})"
    )
    for col in ("site", "federated", "centralized", "local-only"):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site in summary["sites"]:
        table.add_row(site, _acc(fed, site), _acc(cen, site), _acc(loc, site))

    def mean(section: Mapping[str, Any] | None) -> str:
        v = section.get("mean_site_accuracy") if section else None
        return f"{v:.3f}" if v is not None else "-"

    table.add_row("[bold]mean site[/]", mean(fed), mean(cen), mean(loc))
    worst = fed.get("worst_site")
    if worst:
        table.caption = f"worst site: {worst['site']} ({worst['accuracy']:.3f})"
    return table
