"""The short results table printed at the end of a run, and the lines printed under it.

One row per hospital: the federated (global) model, the model trained without privacy when the run
compared one, the personalized model, the recommended model (the one the hospital should use, with which
it is), the local-only and the centralized baselines; then the mean over sites. Every section of the
summary's `metrics` but `federated` may be missing (no baselines, personalization off, a site that kept
its figures under differential privacy), and so may `balanced_accuracy`: a missing figure prints as "-".
Site names and error texts from the summary are shown as plain text, never as Rich markup.

`senders_table`, printed under it when the hospitals' labels.csv name senders: per hospital, the
accuracy on test pages from senders its own training pages hold (seen) and from the others (unseen),
with their counts, for the federated model (and the one trained without privacy, and local-only, where
the run has them). None when no hospital reported the split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

__all__ = ["results_notes", "results_table", "senders_table"]

_MODEL_LABELS = {"global": "global", "personalized": "pers.", "local": "local"}
_RECOMMENDED = "recommended"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: Any) -> str:
    number = _num(value)
    return f"{number:.3f}" if number is not None else "-"


def _site(section: Mapping[str, Any] | None, site: str) -> Mapping[str, Any]:
    scores = (section or {}).get("sites", {}).get(site)
    return scores if isinstance(scores, Mapping) else {}


def _cell(name: str, section: Mapping[str, Any] | None, site: str) -> str:
    scores = _site(section, site)
    text = _fmt(scores.get("accuracy"))
    model = scores.get("model")
    if name == _RECOMMENDED and text != "-" and model is not None:
        text += f" ({_MODEL_LABELS.get(str(model), str(model))})"
    return text


def _site_mean(section: Mapping[str, Any] | None, metric: str) -> float | None:
    """The section's `mean_site_<metric>` or, when it has none, the unweighted mean over its sites."""
    if not section:
        return None
    given = _num(section.get(f"mean_site_{metric}"))
    if given is not None:
        return given
    values = [_num(s.get(metric)) for s in section.get("sites", {}).values() if isinstance(s, Mapping)]
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def _columns(m: Mapping[str, Any]) -> dict[str, Mapping[str, Any] | None]:
    columns = {
        "federated": m["federated"],
        "no privacy": m.get("federated_non_private"),
        "personalized": m.get("personalized"),
        _RECOMMENDED: m.get("recommended"),
        "local only": m.get("local_only"),
        "centralized": m.get("centralized"),
    }
    optional = ("no privacy", "personalized", _RECOMMENDED)
    return {name: s for name, s in columns.items() if s is not None or name not in optional}


def results_table(summary: Mapping[str, Any]) -> Table:
    m = summary["metrics"]
    columns = _columns(m)
    table = Table(
        title=f"accuracy after {summary['rounds_completed']} rounds ({summary['model']['name']}, "
        f"{summary['strategy']['name']})"
    )
    table.add_column("site", justify="left", no_wrap=True)
    for col in columns:
        # figures never wrap; on a narrow terminal the recommended model goes under its accuracy and
        # two-word headers take two lines (it fits 100 columns with every column and short site names)
        wraps = col in (_RECOMMENDED, "local only", "no privacy")
        keep = len(col) if col == _RECOMMENDED else None  # its header has one word: never cut it
        table.add_column(col, justify="right", no_wrap=not wraps, min_width=keep)
    balanced = any(_num((s or {}).get("mean_site_balanced_accuracy")) is not None for s in columns.values())
    sites = list(summary["sites"])
    for i, site in enumerate(sites):
        cells = (_cell(name, s, site) for name, s in columns.items())
        table.add_row(Text(str(site)), *cells, end_section=balanced and i == len(sites) - 1)
    table.add_row("[bold]mean site[/]", *(_fmt(_site_mean(s, "accuracy")) for s in columns.values()))
    if balanced:  # means of the per-class figures, which a skewed label mix moves more than accuracy
        for label, metric in (("macro-F1", "macro_f1"), ("bal. acc.", "balanced_accuracy")):
            table.add_row(label, *(_fmt(_site_mean(s, metric)) for s in columns.values()), style="dim")
    worst = m["federated"].get("worst_site")
    notes = [f"worst site: {worst['site']} ({worst['accuracy']:.3f})"] if worst else []
    notes += _privacy_notes(summary.get("privacy") or {})
    table.caption = Text("; ".join(notes)) if notes else None
    return table


_SENDER_COLUMNS = (
    ("federated", "federated"),
    ("federated_non_private", "no privacy"),
    ("local_only", "local only"),
)


def senders_table(summary: Mapping[str, Any]) -> Table | None:
    m = summary["metrics"]
    sections = [(label, m.get(key)) for key, label in _SENDER_COLUMNS if m.get(key) is not None]
    sites = list(summary["sites"])
    if not any(_num(_site(m["federated"], site).get("seen_n")) is not None for site in sites):
        return None
    table = Table(title="accuracy on seen / unseen senders")
    table.add_column("site", justify="left", no_wrap=True)
    table.add_column("test pages", justify="right", no_wrap=True)
    for label, _ in sections:
        table.add_column(label, justify="right", no_wrap=True)
    for i, site in enumerate(sites):
        fed = _site(m["federated"], site)
        counts = f"{_count(fed.get('seen_n'))} / {_count(fed.get('unseen_n'))}"
        cells = [
            _pair(_site(s, site).get("seen_accuracy"), _site(s, site).get("unseen_accuracy"))
            for _, s in sections
        ]
        table.add_row(Text(str(site)), counts, *cells, end_section=i == len(sites) - 1)
    means = [_pair(_site_mean(s, "seen_accuracy"), _site_mean(s, "unseen_accuracy")) for _, s in sections]
    table.add_row("[bold]mean site[/]", "", *means)
    table.caption = Text(
        "seen: test pages from a sender the hospital's own training pages hold; unseen: the others"
    )
    return table


def _pair(seen: Any, unseen: Any) -> str:
    return f"{_fmt(seen)} / {_fmt(unseen)}"


def _count(value: Any) -> str:
    number = _num(value)
    return str(int(number)) if number is not None else "-"


def results_notes(summary: Mapping[str, Any]) -> list[str]:
    """Plain-text lines for under the table: what "recommended" means, and the sites without one."""
    m = summary["metrics"]
    lines = _release_lines(summary.get("release"))
    recommended = m.get("recommended")
    if isinstance(recommended, Mapping):
        sizes = sorted(
            n
            for s in recommended.get("sites", {}).values()
            if isinstance(s, Mapping) and (n := _num(s.get("n_validation"))) is not None
        )
        records = "" if not sizes else f" ({_count_range(sizes)} records)"
        lines.append(
            f"recommended: the model each hospital should use, chosen on its validation split{records};"
        )
        lines.append("personalized (pers.) and local models never leave the hospital")
    personalization = m.get("personalization")
    if isinstance(personalization, Mapping):
        kept = [str(s) for s in personalization.get("kept_at_site") or []]
        if kept:
            lines.append(
                f"personalized figures kept at the hospital under differential privacy: {', '.join(kept)}"
            )
        failures = personalization.get("failures") or {}
        if isinstance(failures, Mapping):
            lines += [
                f"personalization failed at {site}: {_first_line(error)}" for site, error in failures.items()
            ]
    return lines


def _release_lines(release: Any) -> list[str]:
    """What happened to the final release, with the evidence of each failed `[release]` gate."""
    if not isinstance(release, Mapping) or release.get("status") == "ungated":
        return []
    gates = [g for g in release.get("gates") or [] if isinstance(g, Mapping)]
    if release.get("status") == "promoted":
        return [f"release promoted: all {len(gates)} [release] gates passed"]
    failed = [g for g in gates if not g.get("passed")]
    return ["release REFUSED (no release written; the ledger's release_refused entry says why):"] + [
        f"  gate {g.get('name')}: {_gate_value(g)} against {_fmt(g.get('threshold'))}" for g in failed
    ]


def _gate_value(gate: Mapping[str, Any]) -> str:
    if _num(gate.get("value")) is None:
        return "nothing to measure"
    site = f" ({gate['site']})" if gate.get("site") else ""
    return f"{_fmt(gate.get('value'))}{site}"


def _first_line(error: Any, limit: int = 80) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else "no error text"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count_range(sizes: list[float]) -> str:
    low, high = int(sizes[0]), int(sizes[-1])
    return f"{low}" if low == high else f"{low}-{high}"


def _privacy_notes(privacy: Mapping[str, Any]) -> list[str]:
    notes = []
    if privacy.get("secure_aggregation", {}).get("enabled"):
        notes.append("secure aggregation on")
    mode = privacy.get("mode", "none")
    if mode == "record":
        eps = max((s["epsilon"] for s in privacy.get("sites", {}).values()), default=None)
        if eps is not None:
            unit = "patient" if privacy.get("unit") == "patient" else "record"
            notes.append(
                f"record-level DP: epsilon <= {eps:.2f} per {unit} at each site (delta {privacy['delta']:g})"
            )
    elif mode == "site" and "federation" in privacy:
        notes.append(
            f"site-level DP: epsilon {privacy['federation']['epsilon']:.2f} (delta {privacy['delta']:g})"
        )
    return notes
