"""The report's "Release gates" section: each `[release]` gate on the final model, its threshold, the
value measured (and the site it comes from) and whether it passed; and whether the model was released.

Shown only when the run set gates (summary.json `release.gates` not empty); record strings are escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedward.report import records
from fedward.report.page import esc, row, section, table, td

__all__ = ["release_section"]

Record = Mapping[str, Any]

_LABELS = {
    "min_site_accuracy": "Worst site's accuracy, at least",
    "min_site_macro_f1": "Worst site's macro-F1, at least",
    "max_site_gap": "Best minus worst site accuracy, at most",
    "max_epsilon": "Largest epsilon spent, at most",
    "min_sites": "Sites that evaluated the model, at least",
    "max_regression": "Largest accuracy drop against the baseline release, at most",
}


def _number(value: Any) -> str:
    number = records.num(value)
    return "–" if number is None else f"{number:.4g}"


def release_section(summary: Record, rounds: Sequence[Record]) -> str | None:
    release = records.as_map(summary.get("release"))
    gates = [g for g in records.as_list(release.get("gates")) if isinstance(g, Mapping)]
    if not gates:
        return None
    rows = [
        row(
            [
                td(
                    esc(_LABELS.get(str(g.get("name")), g.get("name")))
                    + f" <code>{esc(g.get('name'))}</code>"
                ),
                td(_number(g.get("threshold"))),
                td(
                    ("nothing to measure" if records.num(g.get("value")) is None else _number(g.get("value")))
                    + (f" ({esc(g.get('site'))})" if g.get("site") else "")
                ),
                td(
                    '<span class="ok">passed</span>'
                    if g.get("passed") is True
                    else '<span class="badge">failed</span>'
                ),
            ]
        )
        for g in gates
    ]
    if release.get("status") == "refused":
        lead = (
            '<p><span class="badge">Not released</span> The final model failed a release gate: no signed '
            "release was written, and the ledger's <code>release_refused</code> entry records these results."
            "</p>"
        )
    else:
        lead = '<p class="ok">Every release gate passed: the final model was released (releases/final).</p>'
    return section("Release gates", lead + table(["Gate", "Threshold", "Value", "Result"], rows), "release")
