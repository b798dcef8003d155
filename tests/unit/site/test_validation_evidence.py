"""What a site sends back for validation when it evaluates the global model: reliability bins and the
ECE of the global model on its test data (which may leave under DP), per quality band counts for pages,
and its confidence threshold chosen on its validation split with the coverage it leaves. The attack the
DP rule stops: the threshold is a function of the site's training-period (validation) records, so two
hospitals that differ in one validation record answer differently; under differential privacy with a
deployed site's own policy they answer the same (the threshold stays at the site). Power check: with the
rule off, the one record shows."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fedward.core.arrays import arrays_to_bytes
from fedward.core.calibration import NUM_BINS
from fedward.core.messages import Reply, Task, TaskKind
from fedward.documents.quality import PageQuality
from fedward.models import ModelSpec, build_model, load_arrays, model_arrays
from fedward.site import LocalData, Site
from fedward.site.policy import SitePolicy
from fedward.site.trainer import predict_scores

SPEC = ModelSpec("logistic", 3, 2)
CLASSES = ["no", "yes"]
PARAMS = model_arrays(build_model(SPEC, seed=4))


def _data(val_labels: tuple[str, ...] | None = None, quality: bool = False) -> LocalData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0])
    val_y = val_labels if val_labels is not None else y[60:]
    pages = tuple(
        PageQuality(dpi=80.0 + 10 * i, skew_deg=0.2 * i, noise=0.0, binarized=0.5) for i in range(20)
    )
    return LocalData(
        x[:40],
        y[:40],
        x[40:60],
        y[40:60],
        ("a", "b", "c"),
        val_x=x[60:],
        val_y=val_y,
        test_quality=pages if quality else (),
    )


def _evaluate(site: Site, target: float = 0.95) -> Reply:
    scale = {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    config = {**SPEC.to_config(), "classes": CLASSES, "validation_target_accuracy": target}
    task = Task(
        "run-1", 1, site.name, TaskKind.EVALUATE, arrays_to_bytes(PARAMS), config, arrays_to_bytes(scale)
    )
    reply = site.handle(task)
    assert reply.ok, reply.error
    return reply


def _trust(policy: SitePolicy) -> SimpleNamespace:
    return SimpleNamespace(policy=policy, check_model=lambda task: None)


def test_an_evaluation_sends_reliability_bins_ece_and_quality_counts() -> None:
    reply = _evaluate(Site("st-olav", _data(quality=True)))
    n = reply.info["reliability/n"]
    assert isinstance(n, list) and len(n) == NUM_BINS and sum(n) == 20  # type: ignore[arg-type]
    assert 0.0 <= reply.metrics["ece"] <= 1.0
    # dpi 80..270: below 120 is low (4 pages), 120-199 standard (8), 200 and up high (8)
    assert (reply.info["quality/dpi/low/n"], reply.info["quality/dpi/standard/n"]) == (4, 8)
    assert reply.info["quality/dpi/high/n"] == 8
    right = sum(reply.info[f"quality/dpi/{b}/correct"] for b in ("low", "standard", "high"))  # type: ignore[misc]
    assert right == round(reply.metrics["accuracy"] * 20)
    assert not any(k.startswith("quality/") for k in _evaluate(Site("x", _data())).info)  # tabular: none


def test_the_threshold_is_chosen_on_validation_and_coverage_measured_on_test() -> None:
    info = _evaluate(Site("st-olav", _data(_predicted()))).info
    assert info["threshold_status"] == "chosen" and info["n_validation"] == 20
    assert info["validation_coverage"] == 1.0  # every validation record right: the lowest confidence
    assert info["threshold"] == pytest.approx(float(_validation_scores().max(axis=1).min()))
    assert info["coverage"] + info["review_share"] == pytest.approx(1.0)  # type: ignore[operator]
    assert 0 <= info["automated_correct"] <= info["automated_n"] <= 20  # type: ignore[operator]
    no_split = dataclasses.replace(_data(), val_x=None, val_y=())
    assert _evaluate(Site("st-olav", no_split)).info["threshold_status"] == "no_validation_split"


def _validation_scores() -> np.ndarray:
    data = _data()
    model = build_model(SPEC, seed=0)
    load_arrays(model, PARAMS)
    assert data.val_x is not None
    return predict_scores(model, torch.from_numpy(data.val_x))


def _predicted() -> tuple[str, ...]:
    """Validation labels the global model gets right: every threshold reaches any target."""
    return tuple(CLASSES[int(i)] for i in _validation_scores().argmax(axis=1))


def _top_validation_record() -> tuple[int, str]:
    """The validation record the global model is surest of, and the class it predicts for it."""
    scores = _validation_scores()
    top = int(scores.max(axis=1).argmax())
    return top, CLASSES[int(scores[top].argmax())]


DP_POLICY = dataclasses.replace(
    SitePolicy.simulation_default(), require_dp="record", max_epsilon=3.0, source="policy.toml"
)


def _attack(policy: SitePolicy) -> tuple[Reply, Reply]:
    """Two hospitals whose validation records differ in one label: the record the model is surest of is
    right at one and wrong at the other. With a target of 100% the first has a threshold and the other
    none: the threshold tells the coordinator which label that training-period record carries."""
    top, predicted = _top_validation_record()
    labels = list(_data().val_y)
    right, wrong = labels.copy(), labels.copy()
    right[top] = predicted
    wrong[top] = next(c for c in CLASSES if c != predicted)
    a = Site("st-olav", _data(tuple(right)), _trust(policy))  # type: ignore[arg-type]
    b = Site("st-olav", _data(tuple(wrong)), _trust(policy))  # type: ignore[arg-type]
    return _evaluate(a, target=1.0), _evaluate(b, target=1.0)


def test_under_dp_a_deployed_site_keeps_its_threshold_so_one_record_goes_unnoticed() -> None:
    a, b = _attack(DP_POLICY)
    assert a.info == b.info and a.metrics == b.metrics
    assert a.info["threshold_status"] == "kept_at_site" and "threshold" not in a.info
    assert "coverage" not in a.info and "ece" in a.metrics  # the global model's test figures still leave


def test_power_check_with_the_rule_off_the_threshold_gives_the_record_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Site, "_shares_sender_split", lambda self, run_id: True)
    a, b = _attack(DP_POLICY)
    assert a.info["threshold_status"] == "chosen" and b.info["threshold_status"] == "unreachable"
    assert a.info != b.info


def test_the_threshold_leaves_with_the_simulation_policy_or_share_personalization() -> None:
    for policy in (
        SitePolicy.simulation_default(),
        dataclasses.replace(DP_POLICY, share_personalization=True),
    ):
        info = _evaluate(Site("st-olav", _data(_predicted()), _trust(policy))).info  # type: ignore[arg-type]
        assert info["threshold_status"] == "chosen"
