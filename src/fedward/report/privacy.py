"""The privacy section of the HTML run report: what protected the hospitals' data, and what it cost.

Written for a hospital's privacy officer. It says which protections ran: secure aggregation (SecAgg+,
Bell et al. 2020, after Bonawitz et al. 2017), under which the coordinator sees only the sum of the
sites' updates; and differential privacy, either record level (DP-SGD at each site, Abadi et al. 2016)
or site level (DP-FedAvg, McMahan et al. 2018). Then the final (epsilon, delta) of each site or of the
federation against the budget, epsilon round by round, the dropouts secure aggregation recovered, the
rounds' privacy notes and, when the run also trained the same federation without protection, the
accuracy the protection cost.

It reads `summary["privacy"]`, `summary["metrics"]["federated_non_private"]` and the rounds' `epsilon`,
`secure_aggregation` and `privacy_note`. Every part may be missing: a run older than the privacy options
has no `privacy` key, and then the section leaves itself out. Every string from the records passes
through `page.esc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedward.config import DpMode
from fedward.report import plots, records
from fedward.report.page import count, esc, figure, pct, pp, row, section, table, td
from fedward.report.records import Record

__all__ = ["privacy_section"]

_TITLE, _ANCHOR = "Privacy", "privacy"
_FEDERATION = "federation"  # the accountant key of site-level DP in the rounds' epsilon
_ACCOUNTANTS = {
    "pld": "privacy loss distribution (PLD)",
    "rdp": "Rényi DP (RDP)",
    "exact": "exact",
}
_NOTHING = (
    "<p>No privacy protection was configured: the coordinator saw each site's model update, and the "
    "model carries no formal differential-privacy guarantee.</p>"
)
_EPSILON_NOTE = (
    '<p class="note">ε bounds how much one patient record (record level) or one hospital (site level) '
    "can change what the model reveals: smaller is stronger protection. δ is the small probability that "
    "the bound does not hold.</p>"
)
_EPSILON_CAPTION = (
    "Epsilon spent so far after each round. Dashed: the budget the coordinator enforces; "
    "dotted: the target the noise was calibrated for."
)

Entry = tuple[str, str, Record]
"""A row of the spend table: accountant key, label (HTML), and its record (epsilon, delta, noise...)."""


def privacy_section(summary: Record, rounds: Sequence[Record]) -> str | None:
    """Protections, privacy spend per site against the budget, and the accuracy they cost."""
    privacy = summary.get("privacy")
    if not isinstance(privacy, Mapping):
        return None  # a run from before the privacy options: nothing to say
    mode = _mode(privacy)
    secure = records.as_map(privacy.get("secure_aggregation"))
    enabled = secure.get("enabled") is True
    if mode == DpMode.NONE and not enabled:
        return section(_TITLE, _NOTHING, _ANCHOR)
    entries = _entries(privacy, mode, summary, rounds)
    parts = [
        _protections(privacy, secure, mode, entries),
        _budget_stop(privacy, summary),
        _spend_table(privacy, entries),
        _epsilon_plot(privacy, mode, summary, rounds),
        _secure_aggregation_details(secure, rounds) if enabled else "",
        _round_notes(rounds),
        _trade_off(summary, privacy, mode, entries),
    ]
    return section(_TITLE, "".join(parts), _ANCHOR)


def _mode(privacy: Record) -> str:
    """The DP mode, record, site or none; inferred from the accountants recorded when it is not."""
    mode = privacy.get("mode")
    if mode in tuple(DpMode):
        return str(mode)
    if isinstance(privacy.get("federation"), Mapping):
        return "site"
    return "record" if records.as_map(privacy.get("sites")) else "none"


def _entries(privacy: Record, mode: str, summary: Record, rounds: Sequence[Record]) -> list[Entry]:
    """The accountants to tabulate: every site's (record level) or the federation's (site level)."""
    if mode == DpMode.SITE:
        federation = records.as_map(privacy.get("federation"))
        return [(_FEDERATION, "Federation (all sites)", federation)] if federation else []
    if mode != DpMode.RECORD:
        return []
    spend = records.as_map(privacy.get("sites"))
    names = [site for site in records.sites(summary, rounds) if site in spend]
    names += [str(site) for site in spend if str(site) not in names]
    return [(site, esc(site), records.as_map(spend[site])) for site in names]


# Sentences.


def _protections(privacy: Record, secure: Record, mode: str, entries: Sequence[Entry]) -> str:
    """One item per protection: secure aggregation, then differential privacy."""
    items = [_secure_aggregation_text(secure), _dp_text(privacy, mode, entries)]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _secure_aggregation_text(secure: Record) -> str:
    if secure.get("enabled") is not True:
        return (
            "<strong>Secure aggregation: off.</strong> The coordinator received each site's update "
            "on its own, so whoever operates the coordinator could inspect one hospital's update."
        )
    text = (
        "<strong>Secure aggregation: on.</strong> Each site masked its update before sending it, so the "
        "coordinator saw only the sum of the sites' updates, never one hospital's update "
        "(SecAgg+, Bell et al. 2020)."
    )
    threshold, neighbours = records.num(secure.get("threshold")), records.num(secure.get("neighbours"))
    if threshold is None or neighbours is None:
        return text
    t, fraction = int(threshold), records.num(secure.get("threshold_fraction"))
    share = f" ({pct(fraction)} of them)" if fraction is not None else ""
    return text + (
        f" A site's mask secrets were split between itself and its {int(neighbours)} neighbours; "
        f"{t} of these shareholders{share} must answer to unmask. A site that drops out is recovered "
        f"while {t} of them answer, and fewer than {t} colluding with the coordinator cannot unmask a "
        "single site's update."
    )


def _dp_text(privacy: Record, mode: str, entries: Sequence[Entry]) -> str:
    clip = records.num(privacy.get("clip_norm"))
    norm = f" to norm {clip:g}" if clip is not None else ""
    if mode == DpMode.RECORD:
        text = (
            "<strong>Differential privacy: record level.</strong> Each site trained with DP-SGD "
            f"(Abadi et al. 2016): each patient record's gradient was clipped{norm} and Gaussian noise was "
            "added, so the model reveals little about whether any one record at a site was used. "
            "The guarantee is an (ε, δ) per site"
        )
    elif mode == DpMode.SITE:
        text = (
            "<strong>Differential privacy: site level.</strong> DP-FedAvg (McMahan et al. 2018): each "
            f"site's update was clipped{norm} and Gaussian noise was added to their sum, so the model "
            "reveals little about whether any one hospital took part at all, a stronger unit of "
            "protection than one record. The guarantee is one (ε, δ) for the federation"
        )
    else:
        return (
            "<strong>Differential privacy: none.</strong> The model carries no formal guarantee about "
            "the records it was trained on."
        )
    return text + _accounting_text(privacy, entries) + _targets_text(privacy)


def _accounting_text(privacy: Record, entries: Sequence[Entry]) -> str:
    delta = records.num(privacy.get("delta"))
    names = []
    for _, _, entry in entries:
        name = entry.get("accountant")
        if isinstance(name, str) and name not in names:
            names.append(name)
    used = " and ".join(esc(_ACCOUNTANTS.get(name, name)) for name in names)
    by = f", computed by the {used} accountant from the recorded privacy events" if used else ""
    return (f", with δ = {_delta(delta)}" if delta is not None else "") + by + "."


def _targets_text(privacy: Record) -> str:
    target, budget = records.num(privacy.get("target_epsilon")), records.num(privacy.get("epsilon_budget"))
    text = ""
    if target is not None:
        text += f" The noise was calibrated to reach ε = {_eps(target)} after all planned rounds."
    if budget is not None:
        text += f" The coordinator refuses any round that would take ε above the budget of {_eps(budget)}."
    return text


def _budget_stop(privacy: Record, summary: Record) -> str:
    """A callout when the budget ended the run before its planned rounds, with the coordinator's reason."""
    if privacy.get("budget_exhausted") is not True:
        return ""
    done, planned = records.num(summary.get("rounds_completed")), records.num(summary.get("rounds_planned"))
    after = ""
    if done is not None and planned is not None and done < planned:
        after = f" after {int(done)} of {int(planned)} planned rounds"
    reason = privacy.get("stopped_reason")
    why = f" The coordinator recorded: <q>{esc(reason)}</q>" if isinstance(reason, str) and reason else ""
    return (
        f'<p class="callout"><span class="warn">The run stopped early{after} because of the privacy '
        f"budget.</span>{why}</p>"
    )


def _round_notes(rounds: Sequence[Record]) -> str:
    """What the rounds recorded about privacy, e.g. fewer sites adding noise raised epsilon."""
    notes = [
        f"<li>Round {records.round_number(r, i)}: {esc(r.get('privacy_note'))}</li>"
        for i, r in enumerate(rounds)
        if isinstance(r.get("privacy_note"), str) and r.get("privacy_note")
    ]
    return f"<p>Privacy notes from the rounds:</p><ul>{''.join(notes)}</ul>" if notes else ""


def _trade_off(summary: Record, privacy: Record, mode: str, entries: Sequence[Entry]) -> str:
    """Protected against unprotected federated accuracy (mean over sites and worst site), in points."""
    private = records.dig(summary, "metrics", "federated")
    public = records.dig(summary, "metrics", "federated_non_private")
    if not isinstance(private, Mapping) or not isinstance(public, Mapping):
        return ""
    mean_private = records.site_means(private)["accuracy"]
    mean_public = records.site_means(public)["accuracy"]
    (worst_private, at_private), (worst_public, at_public) = _worst(private), _worst(public)
    return (
        '<p class="callout">What privacy cost: the protected federated model reaches a mean accuracy '
        f"over sites of <strong>{pct(mean_private)}</strong>{_reached(privacy, mode, entries)}, against "
        f"<strong>{pct(mean_public)}</strong> for the same federation trained without differential "
        f"privacy or secure aggregation: <strong>{_difference(mean_private, mean_public)}</strong>. "
        f"Worst site: {esc(worst_private)} at {pct(at_private)} with privacy, {esc(worst_public)} at "
        f"{pct(at_public)} without ({_difference(at_private, at_public)}).</p>"
    )


def _reached(privacy: Record, mode: str, entries: Sequence[Entry]) -> str:
    """The spend the accuracy was bought at: the largest final epsilon of any accountant, with delta."""
    spent = [value for _, _, entry in entries if (value := records.num(entry.get("epsilon"))) is not None]
    if not spent:
        return " with secure aggregation alone" if mode == DpMode.NONE else ""
    delta = records.num(privacy.get("delta"))
    where = ", the highest of any site" if mode == DpMode.RECORD and len(spent) > 1 else ""
    return f" at ε = {_eps(max(spent))}" + (f" (δ = {_delta(delta)}{where})" if delta is not None else where)


def _worst(approach: Record) -> tuple[str | None, float | None]:
    site = records.worst_site(approach)
    accuracy = records.num(records.dig(approach, "sites", site, "accuracy")) if site is not None else None
    if accuracy is None:
        accuracy = records.num(records.dig(approach, "worst_site", "accuracy"))
    return site, accuracy


def _difference(private: Any, public: Any) -> str:
    a, b = records.num(private), records.num(public)
    return "–" if a is None or b is None else pp(a - b)


# The spend table, the figure and the secure-aggregation details.


def _spend_table(privacy: Record, entries: Sequence[Entry]) -> str:
    """Final (ε, δ) of each accountant, with the mechanism's settings; flags any at or above the budget."""
    if not entries:
        return "<p>No privacy spend was recorded.</p>"
    budget = records.num(privacy.get("epsilon_budget"))
    others = any(_other_accountants(entry) for _, _, entry in entries)
    scope = "Site" if entries[0][0] != _FEDERATION else "Guarantee for"
    headers = [scope, "ε", "δ", "Noise multiplier", "Sample rate", "Steps", "Accountant"]
    headers += ["Other accountants"] if others else []
    headers += ["Budget ε", "Budget used"] if budget is not None else []
    rows, spent_out = [], []
    for _, label, entry in entries:
        epsilon = records.num(entry.get("epsilon"))
        over = budget is not None and epsilon is not None and epsilon >= budget
        spent_out += [label] if over else []
        rows.append(row(_spend_cells(label, entry, budget, over, others), "worst" if over else ""))
    lead = ""
    if spent_out:
        lead = (
            f'<p class="callout"><span class="warn">At or above the budget of ε = {_eps(budget)}:</span> '
            f"{', '.join(spent_out)}.</p>"
        )
    return lead + table(headers, rows) + _EPSILON_NOTE


def _spend_cells(label: str, entry: Record, budget: float | None, over: bool, others: bool) -> list[str]:
    epsilon = records.num(entry.get("epsilon"))
    shown = _eps(epsilon)
    if over:
        shown = f'<span class="warn">{shown}</span> <span class="badge">budget reached</span>'
    cells = [
        td(label),
        td(shown),
        td(_delta(records.num(entry.get("delta")))),
        td(_fixed(entry.get("noise_multiplier"), ".3f")),
        td(_fixed(entry.get("sample_rate"), ".4g")),
        td(count(entry.get("steps"))),
        td(esc(entry.get("accountant")), "text"),
    ]
    cells += [td(_other_accountants(entry), "text")] if others else []
    if budget is not None:
        used = epsilon / budget if epsilon is not None else None
        cells += [td(_eps(budget)), td(pct(used))]
    return cells


def _other_accountants(entry: Record) -> str:
    """The epsilon other accountants give for the same events, as a cross-check: "rdp 2.41 · pld 2.30"."""
    chosen = entry.get("accountant")
    values = records.as_map(entry.get("epsilon_by_accountant"))
    return " · ".join(
        f"{esc(name)} {_eps(records.num(value))}"
        for name, value in values.items()
        if name != chosen and records.num(value) is not None
    )


def _epsilon_plot(privacy: Record, mode: str, summary: Record, rounds: Sequence[Record]) -> str:
    curves = _epsilon_curves(privacy, mode, summary, rounds)
    if not any(xs for xs, _ in curves.values()):
        return ""
    budget, target = records.num(privacy.get("epsilon_budget")), records.num(privacy.get("target_epsilon"))
    uri = plots.epsilon_figure(curves, budget, target)
    alt = "Epsilon per round for the federation" if mode == DpMode.SITE else "Epsilon per round at each site"
    return figure(uri, alt, _EPSILON_CAPTION)


def _epsilon_curves(
    privacy: Record, mode: str, summary: Record, rounds: Sequence[Record]
) -> dict[str, plots.Series]:
    """Cumulative epsilon per accountant: from the rounds' records or, if they hold none, the summary's.

    At record level every site gets a curve (empty when it has no epsilon) so that it keeps the colour
    it has in the accuracy figure.
    """
    from_rounds = any(records.as_map(r.get("epsilon")) for r in rounds)
    history = [records.as_map(h) for h in records.as_list(privacy.get("epsilon_by_round"))]
    source = [records.as_map(r.get("epsilon")) for r in rounds] if from_rounds else history
    keys = records.sites(summary, rounds) if mode == DpMode.RECORD else []
    keys += [str(key) for point in source for key in point if str(key) not in keys]
    if from_rounds:
        return {key: records.curve(rounds, "epsilon", key) for key in keys}
    curves: dict[str, plots.Series] = {}
    for key in keys:
        points = [(i + 1, records.num(point.get(key))) for i, point in enumerate(history)]
        kept = [(x, y) for x, y in points if y is not None]
        curves[key] = ([x for x, _ in kept], [y for _, y in kept])
    return curves


def _secure_aggregation_details(secure: Record, rounds: Sequence[Record]) -> str:
    """Dropouts recovered (in total and by round) and how updates were encoded for masking."""
    per_round = [
        (records.round_number(r, i), records.as_map(r.get("secure_aggregation")))
        for i, r in enumerate(rounds)
    ]
    recovered = [(n, s) for n, s in per_round if (records.num(s.get("recovered")) or 0) > 0]
    total = records.num(secure.get("dropouts_recovered"))
    if total is None:
        total = sum(records.num(s.get("recovered")) or 0.0 for _, s in per_round)
    if total > 0:
        text = (
            f"<p>Secure aggregation recovered <strong>{int(total)}</strong> "
            f"dropout{'s' if total != 1 else ''}: the masks of a site that dropped out after the others "
            "had masked were removed with its shareholders' key shares, so the round completed and still "
            "revealed only the sum.</p>"
        )
    else:
        text = "<p>No site dropped out of secure aggregation after masking; no masks had to be recovered.</p>"
    if recovered:
        items = "".join(
            f"<li>Round {n}: {count(s.get('recovered'))} recovered, {count(s.get('contributors'))} sites "
            f"contributed (threshold {count(s.get('threshold'))})</li>"
            for n, s in recovered
        )
        text += f"<ul>{items}</ul>"
    return text + _encoding_note(secure)


def _encoding_note(secure: Record) -> str:
    bits, ring, clip = (records.num(secure.get(k)) for k in ("fixed_point_bits", "ring_bits", "clip_range"))
    if bits is None or ring is None or clip is None:
        return ""
    return (
        f'<p class="note">Update values were clipped to ±{clip:g} and encoded in fixed point with '
        f"{int(bits)} fractional bits in integers modulo 2^{int(ring)} before masking.</p>"
    )


# Number formats.


def _eps(value: float | None) -> str:
    """An epsilon: two decimals, or whole with separators once it is large (a weak guarantee)."""
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _delta(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _fixed(value: Any, spec: str) -> str:
    number = records.num(value)
    return "–" if number is None else format(number, spec)
