"""The personalization section of the HTML run report: which model each hospital should use.

After the federation, each hospital scores three candidates on a validation split carved from its own
training records: the federation's `global` model, a `personalized` copy fine-tuned on its own records,
and a `local` model trained on its records alone. The best on validation is its `recommended` model; the
test split takes no part in the choice, so the test figures here are an honest check of it.

It reads `summary["metrics"]`: `recommended` (per site: the chosen `model`, its test figures, and the
evidence: `validation` per candidate, `epochs` kept by early stopping, `n_validation`), `personalized`,
`federated`, `local_only`, and `personalization` (`kept_at_site`: sites that kept their figures under
differential privacy; `failures`). Every part may be missing: a run from before personalization, or with
it off, has none of them, and then the section leaves itself out; `balanced_accuracy` and `auc` columns
appear only where some figure has them. Every string from the records passes through `page.esc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedward.report import records
from fedward.report.page import count, esc, pct, pp, row, section, table, td
from fedward.report.records import Record

__all__ = ["personalization_section"]

_TITLE, _ANCHOR = "Which model each hospital should use", "recommendation"
_ARMS = (  # candidate, its label, and the metrics section holding its test figures
    ("global", "Global (federated)", "federated"),
    ("personalized", "Personalized", "personalized"),
    ("local", "Local", "local_only"),
)
_MEANS = (  # metrics sections compared in the table of means, in order
    ("federated", "Global (federated)"),
    ("personalized", "Personalized"),
    ("recommended", "Recommended (each hospital's choice)"),
    ("local_only", "Local only"),
)
_OPTIONAL = (("balanced_accuracy", "balanced accuracy"), ("auc", "AUC"))
_LEAD = (
    "<p>Each hospital compared three models on a validation split carved from its own training records: "
    "the <strong>global</strong> model the federation trained, a <strong>personalized</strong> copy "
    "fine-tuned on its own records, and a <strong>local</strong> model trained on its records alone. "
    "The model that scores best on that split (accuracy, then macro-F1; on a tie the personalized "
    "model, then the global, then the local one) is the one that hospital should use; a personalized "
    "model that kept no epoch of fine-tuning is the global model and is shown as such. The validation "
    "loss only chose how many epochs to keep.</p>"
    '<p class="callout">The choice used only the validation split, never the test split: the test '
    "figures below check the choice, they did not make it. The personalized and local models never leave "
    "the hospital.</p>"
)
_TEST_NOTE = (
    '<p class="note">Test figures of the recommended model are those of the model the hospital keeps '
    "(refit on all its training records once the epochs were chosen); those of the other models come from "
    "the run's evaluations of the federated model, the personalized model and the local-only baseline, "
    "which is trained apart from the local candidate and can differ from it. Epochs kept: the epochs of "
    "fine-tuning or local training that early stopping on the validation split kept (0 for the "
    "personalized model: the global model itself).</p>"
)

_LOSS_NOTE = (
    '<p class="note">Validation loss: mean cross-entropy on the validation split, lower is better.</p>'
)


def personalization_section(summary: Record, rounds: Sequence[Record]) -> str | None:
    """Per hospital: every candidate's test and validation figures, the recommended one highlighted."""
    metrics = records.as_map(summary.get("metrics"))
    recommended = records.as_map(metrics.get("recommended"))
    status = records.as_map(metrics.get("personalization"))
    if not recommended and not status and not isinstance(metrics.get("personalized"), Mapping):
        return None  # a run without personalization: nothing to say
    chosen = records.as_map(recommended.get("sites"))
    sites = [s for s in records.sites(summary, rounds) if s in chosen]
    sites += [str(s) for s in chosen if str(s) not in sites]
    optional = [(key, label) for key, label in _OPTIONAL if _has(metrics, key)]
    parts = [_LEAD, _choices(chosen, sites), _means(metrics, optional)]
    for site in sites:
        parts.append(_site_table(metrics, site, records.as_map(chosen.get(site)), optional))
    if sites:
        losses = any(_losses(records.as_map(chosen.get(site))) for site in sites)
        parts.append(_TEST_NOTE + (_LOSS_NOTE if losses else ""))
    else:
        parts.append("<p>No hospital reported which model it should use.</p>")
    parts += [_kept(status), _failures(status)]
    return section(_TITLE, "".join(parts), _ANCHOR)


def _has(metrics: Record, key: str) -> bool:
    """Whether any site of any compared section records `key` as a number."""
    for name, _ in _MEANS:
        for scores in records.as_map(records.dig(metrics, name, "sites")).values():
            if records.num(records.dig(scores, key)) is not None:
                return True
    return False


def _choices(chosen: Record, sites: Sequence[str]) -> str:
    """One sentence: how many hospitals should use each model."""
    labels = {arm: label.split(" (")[0].lower() for arm, label, _ in _ARMS}
    tally: dict[str, int] = {}
    for site in sites:
        model = str(records.dig(chosen, site, "model"))
        tally[model] = tally.get(model, 0) + 1
    if not tally:
        return ""
    counts = ", ".join(
        f"<strong>{esc(labels.get(model, model))}</strong> at {n} hospital{'s' if n != 1 else ''}"
        for model, n in sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    )
    return f"<p>Recommended: {counts}.</p>"


def _means(metrics: Record, optional: Sequence[tuple[str, str]]) -> str:
    """Mean over the sites of each approach: every hospital counts once, whatever its test set's size."""
    rows = []
    for name, label in _MEANS:
        approach = records.as_map(metrics.get(name))
        if not approach:
            continue
        scores = records.as_map(approach.get("sites"))
        means = records.site_means(approach)
        cells = [td(esc(label), "text"), td(count(len(scores))), td(pct(means["accuracy"]))]
        cells.append(td(pct(_mean(approach, "macro_f1"))))
        cells += [td(pct(_mean(approach, key))) for key, _ in optional]
        worst = records.worst_site(approach)
        worst_accuracy = records.dig(scores, worst, "accuracy") if worst is not None else None
        if worst_accuracy is None:
            worst_accuracy = records.dig(approach, "worst_site", "accuracy")
        cells.append(td(f"{esc(worst)} ({pct(worst_accuracy)})" if worst is not None else "–", "text"))
        rows.append(row(cells, "chosen" if name == "recommended" else ""))
    if not rows:
        return ""
    headers = ["Model", "Sites", "Mean accuracy", "Mean macro-F1"]
    headers += [f"Mean {label}" for _, label in optional] + ["Worst site"]
    note = (
        '<p class="note">Test split, unweighted mean over the sites that reported each model; a site that '
        "kept its figures at the hospital is missing from the personalized and recommended rows.</p>"
    )
    return table(headers, rows) + note


def _mean(approach: Record, key: str) -> float | None:
    """The section's `mean_site_<key>` or, when it has none, the mean of its sites' `key`."""
    given = records.num(approach.get(f"mean_site_{key}"))
    if given is not None:
        return given
    return records.mean(records.dig(s, key) for s in records.as_map(approach.get("sites")).values())


def _site_table(metrics: Record, site: str, chosen: Record, optional: Sequence[tuple[str, str]]) -> str:
    """A site's candidates: test figures, validation figures and kept epochs, the recommended one marked."""
    model = chosen.get("model")
    label = {arm: text for arm, text, _ in _ARMS}.get(str(model), str(model))
    n_validation = records.num(chosen.get("n_validation"))
    if n_validation is None:
        n_validation = records.mean(records.dig(v, "n") for v in _validations(chosen))
    losses = _losses(chosen)
    rows = []
    for arm, arm_label, source in _ARMS:
        is_chosen = arm == model
        test = chosen if is_chosen else records.as_map(records.dig(metrics, source, "sites", site))
        validation = records.as_map(records.dig(chosen, "validation", arm))
        epochs = records.dig(chosen, "epochs", arm)
        if not test and not validation and epochs is None:
            continue
        badge = ' <span class="badge">recommended</span>' if is_chosen else ""
        cells = [td(esc(arm_label) + badge, "text")]
        cells += [td(pct(test.get(key))) for key in ("accuracy", "macro_f1")]
        cells += [td(pct(test.get(key))) for key, _ in optional]
        cells += [td(pct(validation.get(key))) for key in ("accuracy", "macro_f1")]
        cells += [td(_loss(validation.get("loss")))] if losses else []
        cells.append(td(count(epochs)))
        rows.append(row(cells, "chosen" if is_chosen else ""))
    headers = ["Model", "Test accuracy", "Test macro-F1", *(f"Test {label}" for _, label in optional)]
    headers += ["Validation accuracy", "Validation macro-F1", *(["Validation loss"] if losses else [])]
    headers.append("Epochs kept")
    advice = f": use the <strong>{esc(label.lower())}</strong> model" if isinstance(model, str) else ""
    heading = (
        f"<h3>{esc(site)}{advice}</h3>"
        f'<p class="note">Validation split: {count(n_validation)} records.{_gain(metrics, site, chosen)}</p>'
    )
    return heading + table(headers, rows)


def _validations(chosen: Record) -> list[Any]:
    return list(records.as_map(chosen.get("validation")).values())


def _losses(chosen: Record) -> bool:
    return any(records.num(records.dig(v, "loss")) is not None for v in _validations(chosen))


def _loss(value: Any) -> str:
    """A validation loss (mean cross-entropy) to three significant digits, or a dash."""
    number = records.num(value)
    return "–" if number is None else f"{number:.3g}"


def _gain(metrics: Record, site: str, chosen: Record) -> str:
    """The recommended model's test accuracy against the global model's, in percentage points."""
    mine = records.num(chosen.get("accuracy"))
    shared = records.num(records.dig(metrics, "federated", "sites", site, "accuracy"))
    if mine is None or shared is None or chosen.get("model") == "global":
        return ""
    return f" On the test split: {pp(mine - shared)} against the global model."


def _kept(status: Record) -> str:
    kept = [esc(site) for site in records.as_list(status.get("kept_at_site"))]
    if not kept:
        return ""
    return (
        "<p>Kept at the hospital under differential privacy (their personalized figures and choice are "
        f"not shown): {', '.join(kept)}.</p>"
    )


def _failures(status: Record) -> str:
    failures = records.as_map(status.get("failures"))
    if not failures:
        return ""
    rows = [
        row([td(esc(site)), td(f'<code class="error">{esc(error)}</code>', "text")])
        for site, error in failures.items()
    ]
    return "<p>Personalization failed at:</p>" + table(["Site", "Error"], rows)
