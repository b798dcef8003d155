"""The combiners, without a transport: canned replies in, one combined model and one outcome per site out.
Failures are recorded one way (outcome + the observer's record_failure, before any update is checked);
a site's bad payload is its failure, while an error of the coordinator's own propagates."""

import numpy as np
import pytest
from round_stubs import PARAMS, CannedExchange, LoggingObserver, fit_reply, model, setup_samples

from fedward.aggregation import WeightedMean
from fedward.aggregation.fedavg import FedAvg
from fedward.config import PrivacyConfig
from fedward.coordinator.combine import NoisyCombiner, PlainCombiner, SecureCombiner, combiner_for
from fedward.coordinator.plan import FederationPlan
from fedward.coordinator.privacy import PrivacyState
from fedward.coordinator.secure_round import SecureFit
from fedward.coordinator.setup import FederationSetup
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec
from fedward.settings import TrainSettings

SITES = ["a", "b", "c", "d"]


def _tasks(sites=SITES, rnd=1) -> list[Task]:
    return [Task("r", rnd, s, TaskKind.FIT) for s in sites]


def _answer(task: Task) -> Reply:
    """a: 1.0 with 10 samples, b: 3.0 with 30, c: timed out, d: NaNs."""
    if task.site == "c":
        return Reply.failure(task, ReplyStatus.TIMEOUT, "no reply within 1 s")
    if task.site == "d":
        return fit_reply(task, {**model(1.0), "b": np.array([np.nan, 1], np.float32)})
    return fit_reply(task, model(1.0 if task.site == "a" else 3.0), n=10 if task.site == "a" else 30)


def test_plain_combiner_is_the_weighted_mean_of_the_usable_updates():
    observer = LoggingObserver()
    out = PlainCombiner(FedAvg(), None, record_spend=False, setup_samples=setup_samples(SITES)).combine(
        CannedExchange(SITES, _answer), _tasks(), PARAMS, observer
    )
    assert list(out.outcomes) == SITES and out.contributors == ["a", "b"]
    assert np.allclose(out.mean["w"], (10 * 1.0 + 30 * 3.0) / 40)
    assert out.outcomes["c"].status == "timeout" and out.outcomes["c"].error == "no reply within 1 s"
    assert out.outcomes["d"].status == "failed" and "unusable update" in out.outcomes["d"].error
    # failures first (as the ledger has always had them), then each ok reply checked, in task order
    assert observer.log == [
        ("record_failure", "c", 1),
        ("check_update", "a", 1),
        ("check_update", "b", 1),
        ("check_update", "d", 1),
    ]


def test_a_refused_update_is_never_folded_in():
    observer = LoggingObserver(refuse=["b"])
    out = PlainCombiner(FedAvg(), None, record_spend=False, setup_samples=setup_samples(SITES)).combine(
        CannedExchange(SITES, _answer), _tasks(), PARAMS, observer
    )
    assert out.outcomes["b"].status == "rejected" and out.contributors == ["a"]
    assert np.allclose(out.mean["w"], 1.0)  # power: without the refusal b's 3.0 moves the mean (above)


def test_updates_are_checked_against_the_tasks_round_not_the_round_a_reply_claims():
    def lying(task: Task) -> Reply:
        reply = fit_reply(task)
        return Reply(reply.run_id, 99, reply.site, reply.kind, reply.status, reply.parameters, 5)

    observer = LoggingObserver()
    PlainCombiner(FedAvg(), None, record_spend=False, setup_samples=setup_samples(SITES)).combine(
        CannedExchange(["a"], lying), _tasks(["a"], rnd=4), PARAMS, observer
    )
    assert observer.log == [("check_update", "a", 4)]


def test_record_level_dp_needs_the_spend_in_every_reply():
    def answer(task: Task) -> Reply:
        info = {"dp_noise_multiplier": 1.1, "dp_sample_rate": 0.1, "dp_steps": 4} if task.site == "a" else {}
        return fit_reply(task, info=info)

    out = PlainCombiner(FedAvg(), None, record_spend=True, setup_samples=setup_samples(SITES)).combine(
        CannedExchange(["a", "b"], answer), _tasks(["a", "b"]), PARAMS, LoggingObserver()
    )
    assert out.contributors == ["a"] and set(out.events) == {"a"} and out.events["a"].steps == 4
    assert "record-level DP spend" in out.outcomes["b"].error


class _Broken(FedAvg):
    """A strategy whose accumulator has a bug: the coordinator's own error, not any site's."""

    def accumulator(self, start=None):
        class Buggy(WeightedMean):
            def add(self, arrays, weight):
                raise RuntimeError("accumulator bug")

        return Buggy()


def test_a_coordinator_side_error_propagates_instead_of_blaming_a_site():
    combiner = PlainCombiner(_Broken(), None, record_spend=False, setup_samples=setup_samples(SITES))
    with pytest.raises(RuntimeError, match="accumulator bug"):
        combiner.combine(CannedExchange(["a"], _answer), _tasks(["a"]), PARAMS, LoggingObserver())
    # power: the same reply through a working accumulator is folded in
    good = PlainCombiner(FedAvg(), None, record_spend=False, setup_samples=setup_samples(SITES))
    assert good.combine(CannedExchange(["a"], _answer), _tasks(["a"]), PARAMS, LoggingObserver()).contributors


def _privacy(**kw) -> PrivacyState:
    config = PrivacyConfig(dp="site", noise_multiplier=0.5, clip_norm=1.0, **kw)
    return PrivacyState.create(
        config, rounds=2, epochs=1, batch_size=8, site_samples={s: 10 for s in SITES}, min_contributors=1
    )


def test_noisy_combiner_clips_adds_seeded_noise_and_divides_by_the_selected_count():
    log: list = []
    privacy = _privacy()
    privacy.noise_entropy = lambda: log.append(("entropy",)) or 1234
    exchange = CannedExchange(SITES, _answer, log)
    out = NoisyCombiner(privacy, None, setup_samples=setup_samples(SITES)).combine(
        exchange, _tasks(), PARAMS, LoggingObserver(log)
    )
    assert log[0][0] == "exchange" and log[1] == ("record_failure", "c", 1) and log[2] == ("entropy",)
    assert out.contributors == ["a", "b"]
    again = NoisyCombiner(privacy, None, setup_samples=setup_samples(SITES)).combine(
        CannedExchange(SITES, _answer), _tasks(), PARAMS, LoggingObserver()
    )
    assert all(np.array_equal(out.mean[k], again.mean[k]) for k in PARAMS)  # same seed, same noise
    # each update (norm sqrt(8) and 3 sqrt(8)) is clipped to norm 1: the sum's norm is at most 2, over 4
    quiet = _privacy()
    quiet.plans["federation"] = type(quiet.plans["federation"])(1e-12, 1.0, 1)
    mean = (
        NoisyCombiner(quiet, None, setup_samples=setup_samples(SITES))
        .combine(CannedExchange(SITES, _answer), _tasks(), PARAMS, LoggingObserver())
        .mean
    )
    norm = np.sqrt(sum(float(np.sum(m.astype(np.float64) ** 2)) for m in mean.values()))
    assert norm == pytest.approx(2 / 4, rel=1e-4)


def _setup() -> FederationSetup:
    spec = ModelSpec("logistic", 3, 2, (64,), (16, 32, 64))
    descriptions = {
        s: fit_reply(Task("r", 0, s, TaskKind.DESCRIBE), n=10 * (i + 1)) for i, s in enumerate(SITES)
    }
    return FederationSetup(list(SITES), ["no", "yes"], ["x", "y", "z"], spec, b"", descriptions)


@pytest.mark.parametrize(
    ("privacy", "kind"),
    [
        (PrivacyConfig(), PlainCombiner),
        (PrivacyConfig(dp="record", noise_multiplier=1.0), PlainCombiner),
        (PrivacyConfig(dp="site", noise_multiplier=1.0), NoisyCombiner),
        (PrivacyConfig(secure_aggregation=True), SecureCombiner),
        (PrivacyConfig(secure_aggregation=True, dp="site", noise_multiplier=1.0), SecureCombiner),
    ],
)
def test_the_combiner_is_chosen_from_the_privacy_settings(privacy, kind):
    plan = FederationPlan("r", "logistic", 2, 1, TrainSettings(epochs=1, batch_size=8), privacy=privacy)
    state = PrivacyState.create(
        privacy, rounds=2, epochs=1, batch_size=8, site_samples={s: 10 for s in SITES}, min_contributors=1
    )
    combiner = combiner_for(plan, _setup(), FedAvg(), state)
    assert isinstance(combiner, kind)
    config = combiner.task_config(1, SITES, PARAMS)
    assert config == combiner.task_config(1, SITES, PARAMS)  # pure: a replayed round sends the same tasks
    assert bool(config) is (kind is SecureCombiner)
    if kind is SecureCombiner:
        assert config["secagg_weight_scale"] == 40  # the largest site's sample count
        assert config != combiner.task_config(2, SITES, PARAMS)  # a new session every round


def _secure_fit(spec, counts: dict[str, int], encoded_counts: dict[str, int]):
    """A decoded secure sum whose weight slot is what sites encoding `encoded_counts` give, while their
    fit replies claim (and, with an audit, signed) `counts`."""
    q = spec.quantizer
    vectors = [spec.encode_update(np.zeros(spec.session.length - 1), n) for n in encoded_counts.values()]
    ring = np.zeros(spec.session.length, dtype=q.dtype)
    for v in vectors:
        ring += v
    replies = {s: fit_reply(Task("r", 1, s, TaskKind.FIT), n=n) for s, n in counts.items()}
    return SecureFit(q.decode(ring), tuple(counts), 0, replies, {})


def test_secure_aggregation_refuses_a_weight_sum_other_than_the_contributors_counts():
    privacy = PrivacyConfig(secure_aggregation=True)
    combiner = SecureCombiner("r", privacy, 40.0, None, setup_samples={"a": 10, "b": 40})
    spec = combiner.session(1, ["a", "b"], PARAMS)
    honest = _secure_fit(spec, {"a": 10, "b": 40}, {"a": 10, "b": 40})
    assert combiner._weight_mismatch(honest, spec) is None
    # a encodes the largest site's weight (1.0) while claiming and signing its 10 samples
    inflated = _secure_fit(spec, {"a": 10, "b": 40}, {"a": 40, "b": 40})
    reason = combiner._weight_mismatch(inflated, spec)
    assert reason is not None and "decoded weight sum 2 is not the 1.25" in reason
    assert combiner._mean(inflated, PARAMS, 2) is not None  # power: unchecked, the sum would be used
