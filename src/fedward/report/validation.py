"""The validation section of the HTML run report: where the final model is weak, weakest cells first.

It reads summary.json's `validation` (fedward.run.validation): the cells of every site (per class by
recall, per quality band, per criticality tier) lowest figure first, each with its Wilson 95% interval
and a warning where the cell is too small to say much; then per site the calibration (ECE, the
reliability diagram) and the confidence threshold chosen on its validation split with the coverage it
leaves for automation and the share it sends to human review. It leaves itself out when the summary has
no validation section (a run from before it existed). Every string from the records passes through
`page.esc`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fedward.report import plots, records
from fedward.report.page import count, esc, figure, pct, row, section, table, td
from fedward.report.records import Record

__all__ = ["validation_section"]

_SHOWN = 20  # weakest cells listed
_LEAD = (
    "<p>Each hospital scored the final model on its own test data and sent back only aggregates: per "
    "class, per scan-quality band (from its own preprocessing measurements: resolution, skew, speckle, "
    "fax-like binarization) and per criticality tier. The weakest cells come first; the interval is the "
    "Wilson 95% interval, and a cell marked <strong>small</strong> has too few records to say much.</p>"
)
_STATUS = {
    "chosen": "chosen on the validation split",
    "unreachable": "no threshold reaches the target: everything to review",
    "kept_at_site": "kept at the site (differential privacy)",
    "no_validation_split": "no validation split (personalization off)",
    "not_reported": "not reported",
}


def validation_section(summary: Record, rounds: Sequence[Record]) -> str | None:
    del rounds  # the section reads the final evaluation only
    validation = records.as_map(summary.get("validation"))
    sites = records.as_map(validation.get("sites"))
    if not sites:
        return None
    weakest = records.as_list(validation.get("weakest"))[:_SHOWN]
    rows = [
        row(
            [
                td(esc(c.get("site"))),
                td(esc(c.get("kind"))),
                td(esc(c.get("cell"))),
                td(count(c.get("n"))),
                td(pct(c.get("value"))),
                td(f"{pct(c.get('ci_low'))} – {pct(c.get('ci_high'))}"),
                td('<span class="badge">small</span>' if c.get("warning") else ""),
            ]
        )
        for c in map(records.as_map, weakest)
    ]
    body = _LEAD + table(["Site", "Kind", "Cell", "Records", "Figure", "95% interval", ""], rows)
    target = records.num(validation.get("target_accuracy"))
    body += (
        f"<p>Calibration and review: each hospital chose, on its validation split, the lowest confidence "
        f"threshold at which the model reaches {pct(target)} accuracy; test records at or above it can be "
        "automated (coverage), the rest go to human review.</p>"
    )
    calib = []
    for site, data in sites.items():
        d = records.as_map(data)
        status = str(d.get("threshold_status"))
        calib.append(
            row(
                [
                    td(esc(site)),
                    td(_number(d.get("ece"))),
                    td(_number(d.get("threshold"))),
                    td(pct(d.get("coverage"))),
                    td(pct(d.get("review_share"))),
                    td(esc(_STATUS.get(status, status))),
                ]
            )
        )
    body += table(["Site", "ECE", "Threshold", "Coverage", "Review share", "Threshold status"], calib)
    diagrams = {
        s: (
            records.as_list(records.dig(d, "reliability", "confidence")),
            records.as_list(records.dig(d, "reliability", "accuracy")),
        )
        for s, d in sites.items()
    }
    uri = plots.reliability_figure(diagrams)
    body += figure(uri, "Reliability diagram per site", "Accuracy against confidence, 15 equal-width bins.")
    return section("Validation: the weak spots", body, "validation")


def _number(value: object) -> str:
    number = records.num(value)
    return "–" if number is None else f"{number:.3f}"
