"""The short results table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from fedward.config import DpMode

__all__ = ["results_table"]


def _acc(section: Mapping[str, Any] | None, site: str) -> str:
    if not section:
        return "-"
    value = section["sites"].get(site, {}).get("accuracy")
    return f"{value:.3f}" if value is not None else "-"


def results_table(summary: Mapping[str, Any]) -> Table:
    m = summary["metrics"]
    columns = {
        "federated": m["federated"],
        "no privacy": m.get("federated_non_private"),
        "centralized": m.get("centralized"),
        "local-only": m.get("local_only"),
    }
    if columns["no privacy"] is None:
        del columns["no privacy"]
    table = Table(
        title=f"accuracy after {summary['rounds_completed']} rounds ({summary['model']['name']}, "
        f"{summary['strategy']['name']})"
    )
    table.add_column("site", justify="left")
    for col in columns:
        table.add_column(col, justify="right")
    for site in summary["sites"]:
        table.add_row(site, *(_acc(section, site) for section in columns.values()))

    def mean(section: Mapping[str, Any] | None) -> str:
        v = section.get("mean_site_accuracy") if section else None
        return f"{v:.3f}" if v is not None else "-"

    table.add_row("[bold]mean site[/]", *(mean(section) for section in columns.values()))
    worst = m["federated"].get("worst_site")
    notes = [f"worst site: {worst['site']} ({worst['accuracy']:.3f})"] if worst else []
    notes += _privacy_notes(summary.get("privacy") or {})
    table.caption = "; ".join(notes) or None
    return table


def _privacy_notes(privacy: Mapping[str, Any]) -> list[str]:
    notes = []
    if privacy.get("secure_aggregation", {}).get("enabled"):
        notes.append("secure aggregation on")
    mode = privacy.get("mode", "none")
    if mode == DpMode.RECORD:
        eps = max((s["epsilon"] for s in privacy.get("sites", {}).values()), default=None)
        if eps is not None:
            notes.append(f"record-level DP: epsilon <= {eps:.2f} per site (delta {privacy['delta']:g})")
    elif mode == DpMode.SITE and "federation" in privacy:
        notes.append(
            f"site-level DP: epsilon {privacy['federation']['epsilon']:.2f} (delta {privacy['delta']:g})"
        )
    return notes
