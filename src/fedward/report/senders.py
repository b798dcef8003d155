"""The seen/unseen-senders section of the HTML run report: does a model hold up on documents from
senders a hospital has not met before?

Where the hospitals' labels.csv name who sent each page, every site splits its test pages into those
from senders its own training pages hold (seen) and the others (unseen), and reports the accuracy and
count of each group (`seen_accuracy`, `unseen_accuracy`, `seen_n`, `unseen_n` per site in each metrics
section of summary.json). The section compares them for the federated model and, where the run has
them, the model trained without privacy, centralized and local only. It leaves itself out when no site
reported the split (no sender column, or the figures kept at the site under differential privacy).
Every string from the records passes through `page.esc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fedward.report import records
from fedward.report.page import count, esc, pct, row, section, table, td
from fedward.report.records import Record

__all__ = ["senders_section"]

_APPROACHES = (
    ("federated", "Federated"),
    ("federated_non_private", "Federated, no privacy"),
    ("centralized", "Centralized"),
    ("local_only", "Local only"),
)
_LEAD = (
    "<p>Much of what a hospital scans was written elsewhere, and new senders keep arriving. Each hospital "
    "split its test pages by sender: <strong>seen</strong> pages come from a sender its own training pages "
    "hold, <strong>unseen</strong> pages from one they do not (pages of an unknown sender are in neither). "
    "Only the counts and accuracies left the hospital.</p>"
)


def senders_section(summary: Record, rounds: Sequence[Record]) -> str | None:
    """Per hospital: the seen and unseen counts, and each model's accuracy on each group."""
    metrics = records.as_map(summary.get("metrics"))
    sites = [
        s
        for s in records.sites(summary, rounds)
        if records.num(records.dig(metrics, "federated", "sites", s, "seen_n")) is not None
    ]
    if not sites:
        return None
    keys = [(k, label) for k, label in _APPROACHES if isinstance(metrics.get(k), Mapping)]
    headers = ["Site", "Seen pages", "Unseen pages"]
    headers += [f"{label} {group}" for _, label in keys for group in ("seen", "unseen")]
    rows = []
    for site in sites:
        fed = records.as_map(records.dig(metrics, "federated", "sites", site))
        cells = [td(esc(site)), td(count(fed.get("seen_n"))), td(count(fed.get("unseen_n")))]
        for key, _ in keys:
            scores = records.as_map(records.dig(metrics, key, "sites", site))
            cells += [td(pct(scores.get(f"{g}_accuracy"))) for g in ("seen", "unseen")]
        rows.append(row(cells))
    means = [td("Mean over sites"), td(""), td("")]
    for key, _ in keys:
        section_ = records.as_map(metrics.get(key))
        means += [td(pct(section_.get(f"mean_site_{g}_accuracy"))) for g in ("seen", "unseen")]
    rows.append(row(means, "total"))
    return section("Seen and unseen senders", _LEAD + table(headers, rows), "senders")
