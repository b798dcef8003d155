"""The round's named steps, each without a transport: fit settings and tasks, outcomes, privacy
accounting, aggregation, closing, evaluation; and the whole round over a canned exchange, where the
order of the observer's calls (the ledger's order) is pinned."""

import numpy as np
import pytest
from round_stubs import PARAMS, CannedExchange, LoggingObserver, fit_reply, model, setup_samples

from fedward.aggregation.fedavg import FedAvg
from fedward.config import PrivacyConfig
from fedward.coordinator.combine import Combined, PlainCombiner
from fedward.coordinator.evaluation import pooled_metrics
from fedward.coordinator.observer import NoObserver
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.privacy import PrivacyState
from fedward.coordinator.round import (
    RoundContext,
    account_privacy,
    aggregate,
    close_round,
    fit_config,
    fit_tasks,
    run_round,
    site_seed,
    take_outcomes,
)
from fedward.coordinator.rounds import RoundRecord, SiteOutcome
from fedward.coordinator.setup import FederationSetup
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec
from fedward.privacy import PrivacyEvent
from fedward.settings import TrainSettings

SITES = ["a", "b", "c"]
TRAIN = TrainSettings(epochs=1, batch_size=8, lr=0.1)


def _privacy(config: PrivacyConfig | None = None) -> PrivacyState:
    return PrivacyState.create(
        config or PrivacyConfig(),
        rounds=3,
        epochs=1,
        batch_size=8,
        site_samples={s: 40 for s in SITES},
        min_contributors=1,
    )


def _ctx(answer=None, observer=None, privacy=None, log=None, **plan) -> RoundContext:
    spec = ModelSpec("logistic", 3, 2, (64,), (16, 32, 64))
    setup = FederationSetup(list(SITES), ["no", "yes"], ["x", "y", "z"], spec, b"ctx")
    p = FederationPlan("run", "logistic", 3, 7, TRAIN, **plan)
    transport = CannedExchange(SITES, answer or _answer, log)
    combiner = PlainCombiner(FedAvg(), None, record_spend=False, setup_samples=setup_samples(SITES))
    observer = observer if observer is not None else LoggingObserver(log)
    return RoundContext(transport, p, FedAvg(), setup, privacy or _privacy(), combiner, observer)


def _answer(task: Task) -> Reply:
    if task.kind is TaskKind.EVALUATE:
        cm = np.array([[3, 1], [0, 4]], np.int64)
        return Reply(
            "run", task.round, task.site, task.kind, ReplyStatus.OK, arrays_to_bytes({"confusion": cm}), 0
        )
    if task.site == "c":
        return Reply.failure(task, ReplyStatus.FAILED, "disk full")
    return fit_reply(task, model(2.0), train_seconds=1.5)


def test_fit_config_is_the_shared_settings_and_the_combiners():
    ctx = _ctx()
    config = fit_config(ctx, 1, SITES, PARAMS)
    assert config["model"] == "logistic" and config["classes"] == ["no", "yes"] and config["lr"] == 0.1
    assert not any(k.startswith(("secagg_", "trust_")) for k in config)


def test_fit_tasks_carry_privacy_evidence_and_a_per_site_seed_in_selection_order():
    ctx = _ctx()
    tasks = fit_tasks(ctx, 2, ["c", "a"], b"model", {"shared": 1})
    assert [t.site for t in tasks] == ["c", "a"] and all(t.kind is TaskKind.FIT for t in tasks)
    assert all(t.parameters == b"model" and t.context == b"ctx" and t.round == 2 for t in tasks)
    first = dict(tasks[0].config)
    assert first["shared"] == 1 and first["dp"] == "none" and first["trust_entry"] == "seen-by-c"
    assert list(first)[-1] == "seed" and first["seed"] == site_seed(7, 2, "c", SITES)
    assert ctx.observer.log == [("evidence", "c"), ("evidence", "a")]
    seeds = {site_seed(7, r, s, SITES) for r in (1, 2) for s in SITES}
    assert len(seeds) == 6 and site_seed(7, 1, "a", SITES) == site_seed(7, 1, "a", SITES)


def _combined(mean=None, contributors=("a", "b")) -> Combined:
    outcomes = {
        "a": SiteOutcome("ok", 10, 2.0),
        "b": SiteOutcome("ok", 30, 3.0),
        "c": SiteOutcome("failed", 0, 9.0, error="x"),
    }
    return Combined(mean, outcomes, {}, list(contributors))


def test_take_outcomes_counts_only_the_training_time_of_usable_replies():
    record = RoundRecord(1, SITES)
    take_outcomes(record, _combined())
    assert list(record.outcomes) == SITES and record.train_seconds == 5.0 and record.secagg == {}


def test_account_privacy_records_one_federation_event_under_site_level_dp():
    privacy = _privacy(PrivacyConfig(dp="site", noise_multiplier=1.0))
    record = RoundRecord(1, SITES)
    account_privacy(privacy, record, _combined(), len(SITES))
    assert list(record.privacy_events) == ["federation"] and len(privacy.history) == 1
    plain = _privacy()
    account_privacy(plain, RoundRecord(1, SITES), _combined(), 3)
    assert plain.history == [] and plain.last_events == {}


def test_account_privacy_records_each_sites_event_under_record_level_dp():
    privacy = _privacy(PrivacyConfig(dp="record", noise_multiplier=1.0))
    combined = _combined()
    combined.events = {"a": PrivacyEvent(1.0, 0.2, 5)}
    record = RoundRecord(1, SITES)
    account_privacy(privacy, record, combined, 3)
    assert set(record.privacy_events) == {"a"} and privacy.accountants["a"].events


def test_aggregate_needs_min_sites_and_consumes_the_mean():
    combined = _combined(model(4.0))
    record = RoundRecord(1, SITES)
    out = aggregate(FedAvg(), PARAMS, combined, 2, record)
    assert record.aggregated and np.allclose(out["w"], 4.0) and combined.mean is None
    short = RoundRecord(1, SITES)
    assert aggregate(FedAvg(), PARAMS, _combined(model(4.0)), 3, short) is PARAMS
    assert not short.aggregated and "2 usable replies, fewer than min_sites=3" in short.reason
    none = RoundRecord(1, SITES)
    assert aggregate(FedAvg(), PARAMS, _combined(None), 1, none) is PARAMS and not none.aggregated


def test_close_round_hands_the_new_model_only_when_the_round_aggregated():
    calls: list[int] = []

    def model_bytes() -> bytes:
        calls.append(1)
        return b"new model"

    observer = LoggingObserver()
    done = RoundRecord(1, SITES, aggregated=True)
    close_round(observer, _privacy(), done, model_bytes, ["a"])
    kept = RoundRecord(2, SITES)
    close_round(observer, _privacy(), kept, model_bytes, [])
    assert observer.log == [("close_round", 1, True, ["a"]), ("close_round", 2, False, [])]
    assert observer.models == [b"new model"] and done.epsilon == {}
    close_round(NoObserver(), _privacy(), done, model_bytes, ["a"])
    assert len(calls) == 1  # without an audit the model is not serialized for the close


def test_close_round_records_the_privacy_spent_so_far():
    privacy = _privacy(PrivacyConfig(dp="site", noise_multiplier=1.0))
    account_privacy(privacy, RoundRecord(1, SITES), _combined(), 3)
    record = RoundRecord(1, SITES)
    close_round(NoObserver(), privacy, record, lambda: b"", [])
    assert set(record.epsilon) == {"federation"} and record.epsilon["federation"] > 0


def test_pooled_metrics_sum_the_usable_confusion_matrices_and_leave_out_malformed_ones():
    ok = _answer(Task("run", 1, "a", TaskKind.EVALUATE))
    bad = Reply(
        "run", 1, "b", TaskKind.EVALUATE, ReplyStatus.OK, b"not safetensors", 0, metrics={"accuracy": 1.0}
    )
    failed = Reply.failure(Task("run", 1, "c", TaskKind.EVALUATE), ReplyStatus.TIMEOUT, "late")
    per_site, pooled = pooled_metrics(SITES, {"a": ok, "b": bad, "c": failed}, ["no", "yes"])
    assert list(per_site) == ["a"] and pooled["n"] == 8 and pooled["accuracy"] == pytest.approx(7 / 8)
    assert pooled_metrics(["c"], {"c": failed}, ["no", "yes"]) == ({}, {})


def test_a_round_calls_its_observer_in_the_ledgers_order():
    log: list = []
    ctx = _ctx(log=log)
    record, params = run_round(ctx, SITES, 1, PARAMS)
    assert record.aggregated and np.allclose(params["w"], 2.0)
    assert record.outcomes["c"].error == "disk full" and list(record.evaluation) == SITES
    assert log == [
        ("open_round", 1, SITES),
        ("evidence", "a"),
        ("evidence", "b"),
        ("evidence", "c"),
        ("exchange", ["fit"], SITES),
        ("record_failure", "c", 1),
        ("check_update", "a", 1),
        ("check_update", "b", 1),
        ("close_round", 1, True, ["a", "b"]),
        ("admitted", "a"),
        ("admitted", "b"),
        ("admitted", "c"),
        ("evidence", "a"),
        ("evidence", "b"),
        ("evidence", "c"),
        ("exchange", ["evaluate"], SITES),
        ("confirm", "a"),
        ("confirm", "b"),
        ("confirm", "c"),
    ]


def test_a_round_without_evaluation_sends_no_evaluate_task_and_a_refused_site_is_not_evaluated():
    log: list = []
    run_round(_ctx(log=log, eval_every=2), SITES, 1, PARAMS)
    assert not any(e[0] == "exchange" and e[1] == ["evaluate"] for e in log)
    outsider = _ctx(observer=LoggingObserver(admit=False))
    record, _ = run_round(outsider, SITES, 3, PARAMS)  # the last round always evaluates
    assert record.evaluation == {} and outsider.transport.tasks[-1].kind is TaskKind.FIT
