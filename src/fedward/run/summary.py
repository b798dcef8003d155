"""Building `summary.json`: the run directory's contract with the report, the tests and later tooling.

The same builder serves both ways to run: a simulation passes the per-site counts of the data it loaded
(`loaded_site_data`) and its baselines; a deployed coordinator, which never sees a row, passes what the
sites described (`described_site_data`) and no baselines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedward import __version__
from fedward.config import FederationConfig
from fedward.coordinator import FederationResult
from fedward.coordinator.personalization import PersonalizationResult
from fedward.core.arrays import num_parameters, sha256_arrays
from fedward.core.metrics import SENDER_KEYS, metrics_from_confusion
from fedward.run.data import LoadedSite, pipeline_spec
from fedward.run.validation import validation_section
from fedward.secagg.task import secagg_threshold

__all__ = ["BaselineResult", "Evaluation", "build_summary", "described_site_data", "loaded_site_data"]

Metrics = dict[str, float]


@dataclass(frozen=True)
class Evaluation:
    """One model family's test metrics: per site, and pooled over every site's test data."""

    sites: dict[str, Metrics]
    pooled: Metrics


@dataclass(frozen=True)
class BaselineResult:
    """The comparisons a simulation trains (simulation/baselines.py), as the summary records them."""

    centralized: Evaluation
    local_only: Evaluation
    cross_site: list[list[float]]  # [train site i][test site j] accuracy
    seconds: float


def _section(sites: Mapping[str, Mapping[str, Any]], pooled: Mapping[str, float]) -> dict[str, Any]:
    accs = {s: m["accuracy"] for s, m in sites.items()}
    worst = min(accs, key=lambda s: accs[s]) if accs else None
    return {
        "sites": {s: _with_senders(m) for s, m in sites.items()},
        "pooled": dict(pooled),
        "mean_site_accuracy": sum(accs.values()) / len(accs) if accs else None,
        "worst_site": {"site": worst, "accuracy": accs[worst]} if worst else None,
        **_site_means(sites),
    }


def _with_senders(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A site's figures with `seen_accuracy`, `unseen_accuracy`, `seen_n` and `unseen_n` always present:
    the counts as integers; null where the site did not report them (no sender column, or kept under
    differential privacy) and an accuracy null where its group has no test record."""
    out = dict(metrics)
    reported = "seen_n" in out
    for key in SENDER_KEYS:
        value = out.get(key)
        if key.endswith("_n"):
            out[key] = int(value) if reported and value is not None else None
        else:
            out[key] = value if reported else None
    return out


def _site_means(sites: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    """The mean over sites of balanced accuracy, macro-F1, AUC and the accuracy on seen and on unseen
    senders; each mean is over the sites that have the figure (the AUC: None when no site has one: more
    than two classes, or no site's test data has both)."""

    def mean(key: str) -> float | None:
        values = [m[key] for m in sites.values() if m.get(key) is not None]
        return sum(values) / len(values) if values else None

    return {
        "mean_site_balanced_accuracy": mean("balanced_accuracy"),
        "mean_site_macro_f1": mean("macro_f1"),
        "mean_site_auc": mean("auc"),
        "mean_site_seen_accuracy": mean("seen_accuracy"),
        "mean_site_unseen_accuracy": mean("unseen_accuracy"),
    }


def _evaluation(ev: Evaluation) -> dict[str, Any]:
    return _section(ev.sites, ev.pooled)


def build_summary(
    cfg: FederationConfig,
    config_path: str,
    result: FederationResult,
    baselines: BaselineResult | None,
    site_data: Mapping[str, Mapping[str, Any]],
    seconds_total: float,
    non_private: FederationResult | None = None,
) -> dict[str, Any]:
    """The run's summary.json. `site_data` is per-site counts: `loaded_site_data` in a simulation,
    `described_site_data` (what the sites reported) in a deployment."""
    final = result.final
    metrics: dict[str, Any] = {"federated": _section(final.evaluation, final.pooled)}
    if non_private is not None:
        metrics["federated_non_private"] = _section(non_private.final.evaluation, non_private.final.pooled)
    if baselines is not None:
        metrics["centralized"] = _evaluation(baselines.centralized)
        metrics["local_only"] = _evaluation(baselines.local_only)
        names = list(site_data)
        metrics["cross_site"] = {"train_sites": names, "test_sites": names, "accuracy": baselines.cross_site}
    if result.personalization is not None:
        metrics.update(_personalization(result.personalization, result.setup.classes, baselines is None))
    rounds = result.rounds
    summary: dict[str, Any] = {
        "fedward_version": __version__,
        "run_id": result.run_id,
        "task": cfg.federation.task,
        "config_path": config_path,
        "config_sha256": cfg.sha256(),
        "seed": cfg.federation.seed,
        "sites": list(site_data),
        "excluded_sites": result.setup.excluded,
        "classes": result.setup.classes,
        "rounds_planned": cfg.federation.rounds,
        "rounds_completed": result.rounds_completed,
        "stopped_reason": result.stopped,  # why the run ended early (privacy budget, too few sites); null
        "strategy": cfg.strategy.model_dump(mode="json"),
        "model": {
            "name": cfg.model.name or "code",  # "code": the user's own `[model] code`
            "parameters": num_parameters(result.params),
            "sha256": sha256_arrays(result.params),
            "path": "model/global.safetensors",
            "init_model_sha256": result.init_model_sha256,  # the `[model] init` file's; null: the seed
            # the `[model] code` file's SHA-256 (the training-code hash); null: a built-in model
            "model_code_sha256": result.model_code_sha256,
            "code": None if cfg.model.code is None else cfg.model.code.name,
            "train": cfg.model.train.value,  # "all", or "head": only the final layer trained
        },
        "data": {"sites": {name: dict(d) for name, d in site_data.items()}},
        "metrics": metrics,
        "timing": {
            "seconds_total": seconds_total,
            "seconds_per_round": sum(r.seconds for r in rounds) / len(rounds),
            "train_seconds": sum(r.train_seconds for r in rounds),
            "eval_seconds": sum(r.eval_seconds for r in rounds),
            "overhead_seconds_per_round": sum(r.overhead_seconds for r in rounds) / len(rounds),
            "baseline_seconds": baselines.seconds if baselines is not None else 0.0,
        },
        "failures": [
            {"round": r.round, "site": s, "status": o.status, "error": o.error}
            for r in rounds
            for s, o in r.outcomes.items()
            if o.status != "ok"
        ],
    }
    summary["communication"] = {  # payload bytes over every round (coordinator/traffic.py)
        "compression": cfg.compression.kind,
        "bytes_up": sum(r.bytes_up for r in rounds),
        "bytes_down": sum(r.bytes_down for r in rounds),
    }
    summary["privacy"] = _privacy(cfg, result)
    summary["release"] = _release(result)
    # the final model's weak spots per site: classes, quality bands, tiers, calibration, threshold
    summary["validation"] = validation_section(cfg.validation, result.setup.classes, final.validation)
    summary["class_weights"] = _class_weights(cfg, result)
    if cfg.federation.task == "documents":
        spec = pipeline_spec(cfg)
        summary["preprocessing"] = {"spec": spec.to_dict(), "sha256": spec.sha256()}
    return summary


def _personalization(
    p: PersonalizationResult, classes: Sequence[str], local_from_sites: bool
) -> dict[str, Any]:
    """`personalized` and `recommended` sections (and, in a deployment, which trains no baselines,
    `local_only` from the models the sites trained on their own), plus what the sites kept or failed."""
    out: dict[str, Any] = {}
    arms = ["personalized", "local"] if local_from_sites else ["personalized"]
    for arm in arms:
        sites = {s: sp.test[arm] for s, sp in p.sites.items() if arm in sp.test}
        if sites:
            out["personalized" if arm == "personalized" else "local_only"] = _section(
                sites, p.pooled(arm, classes)
            )
    chosen = {s: sp for s, sp in p.sites.items() if sp.recommended is not None}
    if chosen:
        recommended = {
            s: {
                "model": sp.recommended,
                **sp.test[sp.recommended],
                "validation": sp.validation,
                "epochs": sp.epochs,
                "n_validation": sp.n_validation,
            }
            for s, sp in chosen.items()
            if sp.recommended is not None
        }
        pooled = metrics_from_confusion(
            np.sum([sp.confusion[sp.recommended] for sp in chosen.values() if sp.recommended], axis=0),
            classes,
        )
        out["recommended"] = _section(recommended, pooled)
    out["personalization"] = {
        "sites_reporting": sorted(chosen),
        "kept_at_site": sorted(set(p.sites) - set(chosen)),
        "failures": dict(sorted(p.failures.items())),
    }
    return out


def _release(result: FederationResult) -> dict[str, Any]:
    """The final release: "promoted" (every `[release]` gate passed), "refused" (a gate failed, so no
    release was written; the ledger's release_refused entry holds the same gates) or "ungated" (no gates
    set: released as it is), with each gate's result."""
    status = result.release_status
    return {
        "status": status,
        "path": None if status == "refused" else "releases/final",
        "gates": [g.to_json() for g in result.gates or ()],
    }


def _class_weights(cfg: FederationConfig, result: FederationResult) -> dict[str, Any]:
    """The `[strategy] class_weights` mode and the federation's weights (from its setup), per class."""
    weights = result.setup.class_weights
    return {
        "mode": cfg.strategy.class_weights,
        "applied": weights is not None,
        "weights": None if weights is None else dict(zip(result.setup.classes, weights, strict=True)),
    }


def _privacy(cfg: FederationConfig, result: FederationResult) -> dict[str, Any]:
    p = cfg.privacy
    out = result.privacy.summary()
    secure: dict[str, Any] = {"enabled": p.secure_aggregation}
    if p.secure_aggregation:
        secure.update(
            {
                "threshold": secagg_threshold(p, len(result.setup.sites)),
                "threshold_fraction": p.threshold,
                "neighbours": p.neighbours or len(result.setup.sites) - 1,
                "dropouts_recovered": sum(r.secagg.get("recovered", 0) for r in result.rounds),
                "ring_bits": p.ring_bits,
                "fixed_point_bits": p.fixed_point_bits,
                "clip_range": p.clip_range,
            }
        )
    out["secure_aggregation"] = secure
    return out


def loaded_site_data(sites: Sequence[LoadedSite]) -> dict[str, dict[str, Any]]:
    return {s.name: _site_data(s) for s in sites}


def described_site_data(result: FederationResult) -> dict[str, dict[str, Any]]:
    """Per-site counts from the sites' own DESCRIBE replies (a coordinator never sees the data)."""
    out: dict[str, dict[str, Any]] = {}
    for name in result.setup.sites:
        metrics = result.setup.descriptions[name].metrics
        classes = {k.removeprefix("train_class/"): int(v) for k, v in metrics.items() if "/" in k}
        out[name] = {
            "n_train": int(metrics.get("n_train", 0)),
            "n_test": int(metrics.get("n_test", 0)),
            "n_validation": int(metrics.get("n_validation", 0)),
            "train_classes": dict(sorted(classes.items())),
        }
    return out


def _site_data(site: LoadedSite) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for label in site.data.train_y:
        counts[label] = counts.get(label, 0) + 1
    return {
        "n_train": len(site.data.train_y),
        "n_test": len(site.data.test_y),
        "n_validation": len(site.data.val_y),
        "train_classes": dict(sorted(counts.items())),
        "rejected_pages": len(site.rejected),
        "rejected": [{"file": f, "reason": r} for f, r in site.rejected],
        "unreadable_files": len(site.unreadable),
        "unreadable": [{"file": f, "reason": r} for f, r in site.unreadable],
    }
