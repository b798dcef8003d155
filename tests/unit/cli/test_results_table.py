"""The results table printed after `fedward simulate` and `fedward demo`, and the lines under it."""

from __future__ import annotations

import copy
from typing import Any

from rich.console import Console

from fedward.cli.tables import results_notes, results_table, senders_table

SITES = ["st_marys", "northgate", "riverside"]
WIDTH = 100


def _approach(accuracies: dict[str, float], **extra: float) -> dict[str, Any]:
    worst = min(accuracies, key=lambda site: accuracies[site])
    return {
        "sites": {s: {"accuracy": a, "macro_f1": a - 0.1, "n": 40, **extra} for s, a in accuracies.items()},
        "pooled": {"accuracy": 0.5, "macro_f1": 0.4, "n": 120},
        "mean_site_accuracy": sum(accuracies.values()) / len(accuracies),
        "worst_site": {"site": worst, "accuracy": accuracies[worst]},
    }


def old_summary(sites: list[str] = SITES) -> dict[str, Any]:
    """A summary from before personalization: federated, centralized and local-only sections only."""
    return {
        "sites": sites,
        "rounds_completed": 5,
        "model": {"name": "logistic"},
        "strategy": {"name": "fedavg"},
        "metrics": {
            "federated": _approach(dict(zip(sites, (0.912, 0.811, 0.883), strict=True))),
            "centralized": _approach(dict(zip(sites, (0.941, 0.902, 0.913), strict=True))),
            "local_only": _approach(dict(zip(sites, (0.901, 0.702, 0.854), strict=True))),
        },
    }


def personalized_summary(sites: list[str] = SITES) -> dict[str, Any]:
    summary = old_summary(sites)
    metrics = summary["metrics"]
    metrics["personalized"] = _approach(dict(zip(sites, (0.964, 0.822, 0.871), strict=True)))
    recommended = _approach(dict(zip(sites, (0.964, 0.811, 0.862), strict=True)))
    for site, model, n in zip(sites, ("personalized", "global", "local"), (20, 31, 45), strict=True):
        recommended["sites"][site].update(model=model, n_validation=n, epochs={"personalized": 2})
    metrics["recommended"] = recommended
    metrics["personalization"] = {"sites_reporting": sites, "kept_at_site": [], "failures": {}}
    return summary


def render(summary: dict[str, Any], width: int = WIDTH) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(results_table(summary))
    for line in results_notes(summary):
        console.print(line, markup=False, highlight=False)
    return console.export_text().splitlines()


def _row(lines: list[str], label: str) -> list[str]:
    line = next(line for line in lines if line.startswith(f"│ {label} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_an_old_summary_renders_as_before() -> None:
    lines = render(old_summary())
    header = _row([line.replace("┃", "│") for line in lines], "site")
    assert header == ["site", "federated", "local only", "centralized"]
    assert _row(lines, "northgate") == ["northgate", "0.811", "0.702", "0.902"]
    assert _row(lines, "mean site")[1] == "0.869"
    assert "worst site: northgate (0.811)" in "\n".join(lines)
    assert not any("recommended" in line for line in lines)
    assert results_notes(old_summary()) == []


def test_each_hospital_shows_its_recommended_model() -> None:
    lines = render(personalized_summary())
    header = _row([line.replace("┃", "│") for line in lines], "site")
    assert header == ["site", "federated", "personalized", "recommended", "local only", "centralized"]
    assert _row(lines, "st_marys") == ["st_marys", "0.912", "0.964", "0.964 (pers.)", "0.901", "0.941"]
    assert _row(lines, "northgate")[3] == "0.811 (global)"
    assert _row(lines, "riverside")[3] == "0.862 (local)"
    assert _row(lines, "mean site")[3] == "0.879"
    text = "\n".join(lines)
    assert "chosen on its validation split (20-45 records)" in text
    assert "never leave the hospital" in text
    assert max(len(line) for line in lines) <= WIDTH


def test_every_column_fits_100_columns() -> None:
    summary = personalized_summary()
    summary["metrics"]["federated_non_private"] = copy.deepcopy(summary["metrics"]["federated"])
    for approach in summary["metrics"].values():
        if isinstance(approach, dict) and "sites" in approach:
            approach["mean_site_balanced_accuracy"] = 0.777
            approach["mean_site_macro_f1"] = 0.666
    lines = render(summary)
    assert max(len(line) for line in lines) <= WIDTH
    header = _row([line.replace("┃", "│") for line in lines], "site")
    assert header[1:3] == ["federated", "no privacy"]
    assert _row(lines, "st_marys")[4] == "0.964 (pers.)"  # not wrapped
    assert _row(lines, "macro-F1")[1:] == ["0.666"] * 6
    assert _row(lines, "bal. acc.")[1:] == ["0.777"] * 6


def test_balanced_accuracy_rows_only_when_recorded() -> None:
    lines = render(personalized_summary())
    assert not any("bal. acc." in line for line in lines)
    summary = personalized_summary()
    summary["metrics"]["recommended"]["mean_site_balanced_accuracy"] = 0.8
    lines = render(summary)
    assert _row(lines, "bal. acc.") == ["bal. acc.", "-", "-", "0.800", "-", "-"]
    assert _row(lines, "macro-F1")[1] == "0.769"  # mean over the sites when the summary has no mean


def test_kept_and_failed_sites() -> None:
    summary = personalized_summary()
    metrics = summary["metrics"]
    for name in ("personalized", "recommended"):
        del metrics[name]["sites"]["riverside"]
    metrics["personalization"]["kept_at_site"] = ["riverside"]
    metrics["personalization"]["failures"] = {"northgate": "RuntimeError: out of memory\nTraceback ..."}
    lines = render(summary)
    assert _row(lines, "riverside")[2:4] == ["-", "-"]
    text = "\n".join(lines)
    assert "differential privacy: riverside" in text
    assert "personalization failed at northgate: RuntimeError: out of memory" in text
    assert "Traceback" not in text


def test_site_names_and_errors_are_not_markup() -> None:
    sites = ["[bold]st_marys[/]", "[red]x", "riverside"]
    summary = personalized_summary(sites)
    summary["metrics"]["personalization"]["failures"] = {"[link=x]y": "[/] boom"}
    text = "\n".join(render(summary))
    assert "[bold]st_marys[/]" in text and "[red]x" in text
    assert "personalization failed at [link=x]y: [/] boom" in text


def test_a_narrow_terminal_keeps_the_figures_whole() -> None:
    lines = render(personalized_summary(), width=80)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "0.964" in text and "(pers.)" in text and "…" not in text


def _senders(summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with seen/unseen-sender figures per site, as summary.json writes them."""
    out = copy.deepcopy(summary)
    for k, (section, offset) in enumerate((("federated", 0.0), ("local_only", -0.2))):
        for i, site in enumerate(out["metrics"][section]["sites"].values()):
            site.update(
                seen_n=30 - i, unseen_n=10 + i, seen_accuracy=0.95 + offset / 4, unseen_accuracy=0.7 + offset
            )
        out["metrics"][section]["mean_site_seen_accuracy"] = 0.95 + offset / 4
        out["metrics"][section]["mean_site_unseen_accuracy"] = 0.7 + offset + k / 1000
    return out


def _render_senders(summary: dict[str, Any], width: int = WIDTH) -> list[str]:
    table = senders_table(summary)
    assert table is not None
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines()


def test_the_senders_table_shows_seen_and_unseen_per_hospital() -> None:
    lines = _render_senders(_senders(old_summary()))
    assert "accuracy on seen / unseen senders" in " ".join(lines)
    row = _row(lines, "northgate")
    assert row == ["northgate", "29 / 11", "0.950 / 0.700", "0.900 / 0.500"]
    assert _row(lines, "mean site")[2:] == ["0.950 / 0.700", "0.900 / 0.501"]
    assert all(len(line) <= WIDTH for line in lines)


def test_no_senders_table_without_the_figures() -> None:
    assert senders_table(old_summary()) is None
    nulls = old_summary()
    for site in nulls["metrics"]["federated"]["sites"].values():
        site.update(seen_n=None, unseen_n=None, seen_accuracy=None, unseen_accuracy=None)
    assert senders_table(nulls) is None
