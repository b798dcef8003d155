"""Issue 12 end to end in memory: the coordinator's class weights from the sites' DESCRIBE counts reach
every fit task (and only when weighting is on), the baselines use the same rule, and summary.json records
the weights and the imbalance-aware metrics (balanced accuracy, AUC) per site and as means."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from run_harness import SITES, TaskRecorder

from fedward.config import FederationConfig, parse_config
from fedward.coordinator import run_federation
from fedward.core.messages import TaskKind
from fedward.models import ModelSpec
from fedward.run.plan import plan_for, strategy_for
from fedward.run.summary import BaselineResult, build_summary, described_site_data
from fedward.settings.class_weights import class_weights
from fedward.simulation.baselines import centralized, local_only
from fedward.site import LocalData, Site, TrainSettings
from fedward.transport import InMemoryTransport


def _config(tmp: Path, mode: str | None) -> FederationConfig:
    strategy = {"batch_size": 8, "lr": 0.1} | ({} if mode is None else {"class_weights": mode})
    raw = {
        "federation": {"task": "tabular", "name": "oncology", "rounds": 2, "seed": 3, "min_sites": 1},
        "model": {"name": "logistic"},
        "strategy": strategy,
        "sites": [{"name": s, "train": f"{s}-train.csv", "test": f"{s}-test.csv"} for s in SITES],
    }
    return parse_config(raw, source=tmp / "federation.toml")


def _skewed(seed: int, n: int = 80, cut: float = 0.9) -> LocalData:
    """About 1 in 5 rows is "yes": a skewed mix ("auto" weighs it); cut=0 gives a balanced one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = tuple("yes" if v > cut else "no" for v in x[:, 0] + 0.3 * rng.normal(size=n))
    return LocalData(x[:60], y[:60], x[60:], y[60:], ("a", "b", "c"))


def _run(tmp: Path, mode: str | None, cut: float = 0.9):
    cfg = _config(tmp, mode)
    datas = {name: _skewed(i, cut=cut) for i, name in enumerate(SITES)}
    handlers = [TaskRecorder(Site(name, d)) for name, d in datas.items()]
    transport = InMemoryTransport(handlers)
    try:
        result = run_federation(transport, plan_for(cfg, "run-1", None), strategy_for(cfg))
    finally:
        transport.close()
    return cfg, datas, result, handlers


def _fit_configs(handlers):
    return [t.config for h in handlers for t in h.tasks if t.kind is TaskKind.FIT]


@pytest.mark.parametrize("mode", [None, "auto", "balanced"])
def test_the_federations_weights_come_from_the_summed_counts_and_reach_every_fit_task(tmp_path, mode):
    cfg, datas, result, handlers = _run(tmp_path, mode)
    pooled = Counter(label for d in datas.values() for label in d.train_y)
    assert pooled["yes"] * 2 <= pooled["no"]  # skewed: "auto" weighs
    expected = class_weights(pooled, result.setup.classes, cfg.strategy.class_weights)
    assert expected is not None and result.setup.class_weights == expected
    configs = _fit_configs(handlers)
    assert configs and all(c["class_weights"] == list(expected) for c in configs)
    assert all(TrainSettings.from_config(c).class_weights == expected for c in configs)


def test_without_weighting_the_fit_tasks_carry_no_key(tmp_path):
    _, _, result, handlers = _run(tmp_path, "none")
    assert result.setup.class_weights is None
    assert all("class_weights" not in c for c in _fit_configs(handlers))
    _, _, balanced, handlers = _run(tmp_path, "auto", cut=0.0)  # a balanced mix: "auto" does not weigh
    assert balanced.setup.class_weights is None
    assert all("class_weights" not in c for c in _fit_configs(handlers))


def test_summary_records_the_weights_and_the_imbalance_metrics(tmp_path):
    cfg, datas, result, _ = _run(tmp_path, "auto")
    spec, classes = result.setup.spec, result.setup.classes
    settings = TrainSettings.from_strategy(cfg.strategy, epochs=2, seed=3)
    central = centralized(spec, datas, classes, settings, 3, mode="auto")
    local, cross = local_only(spec, datas, classes, settings, 3, mode="auto")
    summary = build_summary(
        cfg,
        "federation.toml",
        result,
        BaselineResult(central, local, cross, 0.0),
        described_site_data(result),
        1.0,
    )
    summary = json.loads(json.dumps(summary))  # what summary.json holds
    weights = dict(zip(classes, result.setup.class_weights, strict=True))
    assert summary["class_weights"] == {"mode": "auto", "applied": True, "weights": weights}
    for arm in ("federated", "centralized", "local_only"):
        section = summary["metrics"][arm]
        for site in SITES:
            m = section["sites"][site]
            assert 0.0 <= m["balanced_accuracy"] <= 1.0 and 0.0 <= m["auc"] <= 1.0
        assert "auc" not in section["pooled"] and "balanced_accuracy" in section["pooled"]
        for key, metric in [
            ("mean_site_balanced_accuracy", "balanced_accuracy"),
            ("mean_site_macro_f1", "macro_f1"),
            ("mean_site_auc", "auc"),
        ]:
            assert section[key] == pytest.approx(np.mean([section["sites"][s][metric] for s in SITES]))


def test_summary_says_when_no_weights_were_applied(tmp_path):
    cfg, _, result, _ = _run(tmp_path, "none")
    summary = build_summary(cfg, "federation.toml", result, None, described_site_data(result), 1.0)
    assert summary["class_weights"] == {"mode": "none", "applied": False, "weights": None}


def test_local_only_weighs_each_site_by_its_own_counts(monkeypatch):
    """Each local-only site trains with the rule applied to its own labels; centralized with the pooled
    labels' weights, which are the federation's."""
    import fedward.simulation.baselines as baselines

    seen = []
    real_train = baselines.train

    def spy(model, x, y, settings):
        seen.append(settings.class_weights)
        return real_train(model, x, y, settings)

    monkeypatch.setattr(baselines, "train", spy)
    datas = {"a": _skewed(0), "b": _skewed(1, cut=0.0)}  # a skewed site and a balanced one
    spec, classes = ModelSpec("logistic", 3, 2), ["no", "yes"]
    settings = TrainSettings(epochs=1, batch_size=8)
    centralized(spec, datas, classes, settings, 0, mode="auto")
    local_only(spec, datas, classes, settings, 0, mode="auto")
    pooled = Counter(label for d in datas.values() for label in d.train_y)
    own = [Counter(d.train_y) for d in datas.values()]
    assert seen == [
        class_weights(pooled, classes, "auto"),
        class_weights(own[0], classes, "auto"),
        class_weights(own[1], classes, "auto"),
    ]
    assert seen[1] is not None and seen[2] is None
