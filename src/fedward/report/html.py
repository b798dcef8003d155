"""The self-contained HTML report of a federated run, for a hospital's ML engineer and privacy officer.

`render_report(summary, rounds)` turns a run's `summary.json` and `metrics.jsonl` records into one HTML5
page: inline CSS, figures embedded as PNG data URIs, no script and no external URL, so the file can be
mailed, archived next to the run, or opened on an air-gapped machine. The page is a sequence of sections;
each is a function of the run records that returns an HTML fragment (or None to leave itself out), so a
new section (privacy spend, trust) is one more function in `SECTIONS`. This module owns the sections and
what they say; it reads the records through `records`, which lets every optional part (baselines,
evaluation in a round, a site in an evaluation, failures) be missing so that the report says so instead of
failing, and builds its HTML with `page`, whose `esc` every string that comes from the records passes
through (`html.escape`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fedward.report import plots, records
from fedward.report.page import count, document, esc, figure, pct, pp, row, secs, section, shade, table, td
from fedward.report.personalization import personalization_section
from fedward.report.privacy import privacy_section
from fedward.report.records import Record
from fedward.report.release import release_section
from fedward.report.senders import senders_section
from fedward.report.validation import validation_section

__all__ = ["SECTIONS", "Section", "render_report"]

Section = Callable[[Record, Sequence[Record]], str | None]
"""A report section: (summary, rounds) -> an HTML fragment, or None when the run holds nothing for it."""

_APPROACHES = (
    ("federated", "Federated"),
    ("federated_non_private", "Federated, no privacy"),
    ("centralized", "Centralized"),
    ("local_only", "Local only"),
)
_FLAT_GAIN = 0.005  # under half a percentage point, a gain is noise on test sets of a few hundred examples
_TIMINGS = (
    ("seconds_total", "Total wall time"),
    ("seconds_per_round", "Per round"),
    ("train_seconds", "Local training"),
    ("eval_seconds", "Evaluation"),
    ("overhead_seconds_per_round", "Framework overhead per round"),
    ("baseline_seconds", "Baselines (centralized, local only, cross-site)"),
)


def render_report(
    summary: Mapping[str, Any],
    rounds: Sequence[Mapping[str, Any]],
    *,
    sections: Sequence[Section] | None = None,
) -> str:
    """The complete HTML5 document of a run; `sections` replaces the default `SECTIONS` when given."""
    chosen = SECTIONS if sections is None else sections
    body = "\n".join(fragment for make in chosen if (fragment := make(summary, rounds)))
    run_id = summary.get("run_id")
    title = f"fedward run {run_id}" if run_id else "fedward run report"
    return document(title, body, summary.get("fedward_version"))


# Sections, in page order.


def header_section(summary: Record, rounds: Sequence[Record]) -> str:
    """What ran: identifiers and hashes a reader can check against the files of the run."""
    model, strategy = records.as_map(summary.get("model")), records.as_map(summary.get("strategy"))
    sites = records.sites(summary, rounds)
    completed, planned = summary.get("rounds_completed"), summary.get("rounds_planned")
    short = (
        records.num(completed) is not None
        and records.num(planned) is not None
        and records.num(completed) != records.num(planned)
    )
    rounds_text = f"{esc(completed)} of {esc(planned)}"
    items = [
        ("Run", f"<code>{esc(summary.get('run_id'))}</code>"),
        ("Task", esc(summary.get("task"))),
        ("Model", _model_text(model)),
        ("Model SHA-256", f"<code>{esc(model.get('sha256'))}</code>"),
        ("Strategy", _strategy_text(strategy)),
        ("Rounds", f'<span class="warn">{rounds_text}</span>' if short else rounds_text),
        ("Sites", f"{len(sites)}: " + ", ".join(esc(site) for site in sites)),
        ("Configuration", f"<code>{esc(summary.get('config_path'))}</code>"),
        ("Configuration SHA-256", f"<code>{esc(summary.get('config_sha256'))}</code>"),
        ("fedward version", esc(summary.get("fedward_version"))),
    ]
    rows = "".join(f"<dt>{key}</dt><dd>{value}</dd>" for key, value in items)
    return f'<header><h1>Federated run report</h1><dl class="meta">{rows}</dl></header>'


def results_section(summary: Record, rounds: Sequence[Record]) -> str:
    """The headline: each site's final accuracy and macro-F1, federated against centralized and local."""
    metrics = records.as_map(summary.get("metrics"))
    if not isinstance(metrics.get("federated"), Mapping):
        return section(
            "Results", "<p>No final evaluation of the federated model was recorded.</p>", "results"
        )
    keys = [key for key, _ in _APPROACHES if isinstance(metrics.get(key), Mapping)]
    labels = dict(_APPROACHES)
    headers = ["Site", "Test examples", *(f"{labels[k]} {m}" for k in keys for m in ("accuracy", "macro-F1"))]
    headers += ["Gain over local only"] if "local_only" in keys else []
    worst = records.worst_site(metrics["federated"])
    rows = []
    for site in records.sites(summary, rounds):
        badge = ' <span class="badge">worst</span>' if site == worst else ""
        scores = {k: records.dig(metrics, k, "sites", site) for k in keys}
        n = records.dig(metrics, "federated", "sites", site, "n")
        rows.append(_result_row(esc(site) + badge, n, scores, keys, "worst" if site == worst else ""))
    means = {k: records.site_means(metrics[k]) for k in keys}
    rows.append(_result_row("Mean over sites", None, means, keys, "total"))
    pooled = {k: records.dig(metrics, k, "pooled") for k in keys}
    n_pooled = records.dig(metrics, "federated", "pooled", "n")
    rows.append(_result_row("Pooled (all test data)", n_pooled, pooled, keys, "total"))
    note = ""
    if "local_only" not in keys:
        note = '<p class="note">Baselines (centralized, local only) did not run for this run.</p>'
    return section("Results", _results_lead(metrics, worst) + table(headers, rows) + note, "results")


def curves_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Accuracy per round per site against the baselines, and pooled accuracy and macro-F1 per round."""
    sites = records.sites(summary, rounds)
    curves = {site: records.curve(rounds, "sites", site, "accuracy") for site in sites}
    pooled = {
        "accuracy": records.curve(rounds, "pooled", "accuracy"),
        "macro-F1": records.curve(rounds, "pooled", "macro_f1"),
    }
    pooled = {name: series for name, series in pooled.items() if series[0]}
    figures = []
    central = records.num(records.dig(summary, "metrics", "centralized", "pooled", "accuracy"))
    if any(xs for xs, _ in curves.values()):
        local = {
            site: records.num(records.dig(summary, "metrics", "local_only", "sites", site, "accuracy"))
            for site in sites
        }
        local_only = {site: value for site, value in local.items() if value is not None}
        worst = records.worst_site(records.dig(summary, "metrics", "federated"))
        uri = plots.site_accuracy_figure(curves, local_only, central, worst)
        figures.append(figure(uri, "Accuracy per round at each site", _CURVES_CAPTION))
    if pooled:
        uri = plots.pooled_figure(pooled, central)
        figures.append(figure(uri, "Pooled accuracy and macro-F1 per round", "Over all sites' test data."))
    body = "".join(figures) or "<p>No evaluation was recorded during the rounds.</p>"
    return section("Learning curves", body, "curves")


def cross_site_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Models trained at one site alone, tested at every site: what moving a model between hospitals costs."""
    title, anchor = "Moving a model between hospitals", "cross-site"
    train, test, matrix = records.cross_matrix(records.dig(summary, "metrics", "cross_site"))
    values = [v for line in matrix for v in line if v is not None]
    if not values:
        return section(title, "<p>Not computed: the baselines did not run for this run.</p>", anchor)
    low, high = min(values), max(values)
    rows = []
    for i, name in enumerate(train):
        cells = [td(esc(name))]
        for j, target in enumerate(test):
            value = matrix[i][j]
            style = shade(value, low, high) if value is not None else ""
            cells.append(td(pct(value), "diag" if name == target else "", style))
        rows.append(row(cells))
    grid = table(["Trained at ↓ · tested at →", *test], rows, "matrix")
    note = '<p class="note">Accuracy; outlined cells: the model tested on its own site\'s test data.</p>'
    return section(title, _cross_site_lead(train, test, matrix) + grid + note, anchor)


def recall_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Per-class recall of the final federated model at each site: which document types a site gets wrong."""
    title, anchor = "Per-class recall of the federated model", "recall"
    federated = records.as_map(records.dig(summary, "metrics", "federated"))
    classes = records.classes(summary)
    if not federated or not classes:
        return section(title, "<p>No per-class results were recorded.</p>", anchor)
    sites = records.sites(summary, rounds)
    columns = [records.as_map(records.dig(federated, "sites", site)) for site in sites] + [
        records.as_map(federated.get("pooled"))
    ]
    recalls = [[records.num(column.get(f"recall/{name}")) for column in columns] for name in classes]
    # Shade from the lowest recall (or 50%, whichever is lower) so that weak classes stand out.
    low = min([0.5, *(v for values in recalls for v in values if v is not None)])
    rows = []
    for name, values in zip(classes, recalls, strict=True):
        cells = [td(pct(v), style=shade(v, low, 1.0) if v is not None else "") for v in values]
        rows.append(row([td(esc(name)), *cells]))
    note = (
        '<p class="note">Share of a class\'s test examples labelled correctly; '
        "– : the class does not occur in that site's test data.</p>"
    )
    return section(title, table(["Class", *sites, "All sites (pooled)"], rows) + note, anchor)


def data_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Examples per site and the class distribution of the training data (label skew between hospitals)."""
    data = records.as_map(records.dig(summary, "data", "sites"))
    if not data:
        return section("Data", "<p>No data summary was recorded.</p>", "data")
    sites = [site for site in records.sites(summary, rounds) if site in data]
    rejected = any(records.dig(data, site, "rejected_pages") is not None for site in sites)
    headers = ["Site", "Training examples", "Test examples", *(["Rejected pages"] if rejected else [])]
    rows = []
    for site in sites:
        cells = [
            td(esc(site)),
            td(count(records.dig(data, site, "n_train"))),
            td(count(records.dig(data, site, "n_test"))),
        ]
        cells += [td(count(records.dig(data, site, "rejected_pages")))] if rejected else []
        rows.append(row(cells))
    classes = records.classes(summary)
    counts = {site: records.class_counts(records.dig(data, site, "train_classes"), classes) for site in sites}
    chart = ""
    if classes and any(counts.values()):
        uri = plots.class_distribution_figure(counts, classes)
        chart = figure(uri, "Training examples per class at each site", "Training data, by class.")
    return section("Data", table(headers, rows) + chart, "data")


def timing_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Where the time went, and the framework's own overhead per round."""
    timing = records.as_map(summary.get("timing"))
    rows = [row([td(label), td(secs(timing[key]))]) for key, label in _TIMINGS if key in timing]
    body = table(["", "Time"], rows, "compact") if rows else "<p>No timings were recorded.</p>"
    numbers = [records.round_number(record, index) for index, record in enumerate(rounds)]
    parts = {
        "training": [records.num(records.dig(r, "train_seconds")) or 0.0 for r in rounds],
        "evaluation": [records.num(records.dig(r, "eval_seconds")) or 0.0 for r in rounds],
        "framework overhead": [records.overhead(r) for r in rounds],
    }
    if any(any(values) for values in parts.values()):
        uri = plots.round_seconds_figure(numbers, parts)
        body += figure(uri, "Seconds per round", "Wall time of each round, split by where it went.")
    return section("Timings", body, "timings")


def failures_section(summary: Record, rounds: Sequence[Record]) -> str:
    """Sites that failed or timed out, and rounds that were not aggregated."""
    failures = [f for f in records.as_list(summary.get("failures")) if isinstance(f, Mapping)]
    if failures:
        headers = ["Round", "Site", "Status", "Error"]
        rows = [
            row(
                [
                    td(esc(f.get("round"))),
                    td(esc(f.get("site"))),
                    td(f'<span class="badge">{esc(f.get("status"))}</span>'),
                    td(f'<code class="error">{esc(f.get("error"))}</code>', "text"),
                ]
            )
            for f in failures
        ]
        body = table(headers, rows)
    else:
        body = '<p class="ok">No failures: no site failed or timed out.</p>'
    skipped = [(i, r) for i, r in enumerate(rounds) if records.dig(r, "aggregated") is False]
    if skipped:
        items = "".join(
            f"<li>Round {records.round_number(r, i)}: "
            f"{esc(records.dig(r, 'reason') or 'no reason recorded')}</li>"
            for i, r in skipped
        )
        body += f"<p>Rounds not aggregated:</p><ul>{items}</ul>"
    return section("Failures", body, "failures")


SECTIONS: tuple[Section, ...] = (
    header_section,
    results_section,
    release_section,
    validation_section,
    senders_section,
    personalization_section,
    curves_section,
    cross_site_section,
    privacy_section,
    recall_section,
    data_section,
    timing_section,
    failures_section,
)
"""The default sections, in page order; add a section by appending a function with the `Section` shape."""

_CURVES_CAPTION = (
    "Solid: the global model at each site; dashed, same colour: that site's local-only model; "
    "black dotted: the centralized model on all test data; thick line: the worst site."
)

# Sentences.


def _results_lead(metrics: Record, worst: str | None) -> str:
    federated = records.as_map(metrics.get("federated"))
    mean = records.site_means(federated)["accuracy"]
    pooled = records.dig(federated, "pooled", "accuracy")
    text = (
        f"<p>The federated model reaches a mean accuracy of <strong>{pct(mean)}</strong> over the sites "
        f"and <strong>{pct(pooled)}</strong> on all test data pooled.</p>"
    )
    if worst is None:
        return text
    accuracy = records.dig(federated, "sites", worst, "accuracy")
    if accuracy is None:
        accuracy = records.dig(federated, "worst_site", "accuracy")
    local = records.num(records.dig(metrics, "local_only", "sites", worst, "accuracy"))
    versus = ""
    if local is not None and records.num(accuracy) is not None:
        versus = f" ({pp(float(accuracy) - local)} against its local-only model at {pct(local)})"
    return text + (
        f'<p class="callout">Worst site: <strong>{esc(worst)}</strong>, '
        f"federated accuracy {pct(accuracy)}{versus}.</p>"
    )


def _cross_site_lead(
    train: Sequence[str], test: Sequence[str], matrix: Sequence[Sequence[float | None]]
) -> str:
    """Mean diagonal (own site) against mean off-diagonal (other sites) accuracy of the local models."""
    own: list[float | None] = []
    other: list[float | None] = []
    for i, name in enumerate(train):
        for j, target in enumerate(test):
            if matrix[i][j] is not None:
                (own if name == target else other).append(matrix[i][j])
    mean_own, mean_other = records.mean(own), records.mean(other)
    if mean_own is None or mean_other is None:
        return ""
    change = "lower" if mean_other < mean_own else "higher"
    return (
        f"<p>A model trained at one hospital alone scores <strong>{pct(mean_own)}</strong> on average "
        f"on its own hospital's test data and <strong>{pct(mean_other)}</strong> on the other hospitals' "
        f"({abs(100 * (mean_other - mean_own)):.1f} percentage points {change}): the cost of moving a model "
        "to another hospital, which a federated model should recover.</p>"
    )


# Cells of the header and results sections.


def _model_text(model: Record) -> str:
    parameters = records.num(model.get("parameters"))
    size = f", {int(parameters):,} parameters" if parameters is not None else ""
    path = f" (<code>{esc(model['path'])}</code>)" if model.get("path") else ""
    return f"{esc(model.get('name'))}{size}{path}"


def _strategy_text(strategy: Record) -> str:
    settings = ", ".join(f"{esc(k)}={esc(v)}" for k, v in strategy.items() if k != "name")
    return esc(strategy.get("name")) + (f" ({settings})" if settings else "")


def _result_row(label: str, n: Any, scores: Mapping[str, Any], keys: Sequence[str], cls: str) -> str:
    cells = [td(label), td(count(n))]
    for key in keys:
        cells += [
            td(pct(records.dig(scores.get(key), "accuracy"))),
            td(pct(records.dig(scores.get(key), "macro_f1"))),
        ]
    if "local_only" in keys:
        cells.append(
            _gain_cell(
                records.dig(scores.get("federated"), "accuracy"),
                records.dig(scores.get("local_only"), "accuracy"),
            )
        )
    return row(cells, cls)


def _gain_cell(federated: Any, local: Any) -> str:
    """Federated minus local-only accuracy, green when federation helped the site and red when it hurt."""
    fed, loc = records.num(federated), records.num(local)
    if fed is None or loc is None:
        return td("–")
    gain = fed - loc
    cls = "gain-pos" if gain > _FLAT_GAIN else "gain-neg" if gain < -_FLAT_GAIN else "gain-flat"
    return td(pp(gain), cls)
