"""Seen and unseen senders at a site (issue 11 step 3): the accuracy on test records whose sender the
site's own training records hold, and on the others; the sender and patient columns carried through
the validation split; and the attack the DP rule stops: a site's seen/unseen counts tell whether one
training record came from a given sender, so under differential privacy (with a deployed site's own
policy) they do not leave."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from fedward.config import PrivacyConfig
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import Reply, Task, TaskKind
from fedward.core.metrics import sender_metrics
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.settings import DpSettings, TrainSettings
from fedward.site import LocalData, Site
from fedward.site.data import with_validation
from fedward.site.policy import SitePolicy

CORRECT = [True, False, True, True, False, True]
SENDERS = ["gp-north", "gp-north", "lab-east", "insurer", "", "insurer"]


def test_seen_and_unseen_accuracy_on_a_hand_made_case() -> None:
    out = sender_metrics(CORRECT, SENDERS, {"gp-north", "lab-east", "nobody-in-test"})
    # seen: rows 0-2 (2 of 3 right); unseen: the insurer's rows 3 and 5 (both right); row 4 has no sender
    assert out == {
        "seen_n": 3.0,
        "seen_accuracy": pytest.approx(2 / 3),
        "unseen_n": 2.0,
        "unseen_accuracy": 1.0,
    }


def test_which_senders_are_in_training_decides_the_split() -> None:
    """Power check of the split: the same predictions, the training senders swapped, other groups."""
    before = sender_metrics(CORRECT, SENDERS, {"gp-north", "lab-east"})
    after = sender_metrics(CORRECT, SENDERS, {"insurer"})
    assert after == {
        "seen_n": 2.0,
        "seen_accuracy": 1.0,
        "unseen_n": 3.0,
        "unseen_accuracy": pytest.approx(2 / 3),
    }
    assert after != before


def test_an_empty_group_has_a_count_and_no_accuracy_and_no_senders_no_figures() -> None:
    assert sender_metrics([True, False], ["a", "a"], {"a"}) == {
        "seen_n": 2.0,
        "seen_accuracy": 0.5,
        "unseen_n": 0.0,
    }
    assert sender_metrics([True, False], [], {"a"}) == {}
    with pytest.raises(ValueError, match="3 senders for 2 records"):
        sender_metrics([True, False], ["a", "b", "c"], set())


def _data(n_train: int = 40, extra: tuple[str, ...] = ()) -> LocalData:
    """Tabular records whose first feature is the record's index, so a split can be checked row by row;
    training senders s0..s4 (plus `extra`, one record each), test senders s3..s7."""
    rng = np.random.default_rng(0)
    n = n_train + len(extra)
    x = rng.normal(size=(n + 20, 3)).astype(np.float32)
    x[:, 0] = np.arange(n + 20)
    y = tuple("yes" if i % 3 else "no" for i in range(n + 20))
    train_senders = tuple(f"s{i % 5}" for i in range(n_train)) + extra
    return LocalData(
        x[:n],
        y[:n],
        x[n:],
        y[n:],
        ("a", "b", "c"),
        train_senders=train_senders,
        test_senders=tuple(f"s{3 + i % 5}" for i in range(20)),
        train_patients=tuple(f"pt-{i}" for i in range(n)),
    )


def test_the_validation_split_keeps_each_records_sender_and_patient() -> None:
    data = _data()
    split = with_validation(data, 0.25, seed=1, site="st-olav")
    assert split.val_y and len(split.train_senders) == len(split.train_y)
    for x, senders, patients in (
        (split.train_x, split.train_senders, split.train_patients),
        (split.val_x, split.val_senders, split.val_patients),
    ):
        assert x is not None
        rows = [int(v) for v in x[:, 0]]
        assert list(senders) == [data.train_senders[i] for i in rows]
        assert list(patients) == [data.train_patients[i] for i in rows]
    assert split.test_senders == data.test_senders
    assert split.seen_senders == data.seen_senders == {"s0", "s1", "s2", "s3", "s4"}


def test_tabular_data_and_a_folder_without_the_columns_have_none() -> None:
    plain = LocalData(np.zeros((4, 2), np.float32), ("a",) * 4, np.zeros((2, 2), np.float32), ("a", "b"))
    split = with_validation(plain, 0.5, seed=1, site="x")
    assert (split.train_senders, split.val_senders, split.train_patients, split.test_senders) == (
        (),
        (),
        (),
        (),
    )
    assert not plain.has_senders and plain.seen_senders == frozenset()
    with pytest.raises(ValueError, match="test_senders: 1 entries for 2 records"):
        dataclasses.replace(plain, test_senders=("a",))


SPEC = ModelSpec("logistic", 3, 2)
NO_DP = DpSettings.from_privacy(PrivacyConfig())
RECORD = DpSettings.from_privacy(PrivacyConfig(dp="record", noise_multiplier=1.0), noise_multiplier=1.0)


def _evaluate(site: Site, run_id: str = "run-1") -> Reply:
    params = model_arrays(build_model(SPEC, seed=4))
    scale = {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    config = {**SPEC.to_config(), "classes": ["no", "yes"]}
    task = Task(
        run_id, 1, site.name, TaskKind.EVALUATE, arrays_to_bytes(params), config, arrays_to_bytes(scale)
    )
    reply = site.handle(task)
    assert reply.ok, reply.error
    return reply


def _trust(policy: SitePolicy) -> SimpleNamespace:
    """The parts of a SiteTrust an evaluation uses: the policy, and a ledger check that passes."""
    return SimpleNamespace(policy=policy, check_model=lambda task: None)


def test_an_evaluation_reports_the_split_of_the_site_own_data() -> None:
    data = _data()
    reply = _evaluate(Site("st-olav", data))
    # test senders s3..s7 four times each; s3 and s4 are in training
    assert (reply.metrics["seen_n"], reply.metrics["unseen_n"]) == (8.0, 12.0)
    seen, unseen = reply.metrics["seen_accuracy"], reply.metrics["unseen_accuracy"]
    assert seen * 8 + unseen * 12 == pytest.approx(reply.metrics["accuracy"] * 20)


DP_POLICY = dataclasses.replace(
    SitePolicy.simulation_default(), require_dp="record", max_epsilon=3.0, source="policy.toml"
)


def _attack(policy: SitePolicy) -> tuple[Reply, Reply]:
    """The coordinator evaluates the same model at two hospitals whose data differ in one training
    record: a page from sender s6, whose pages are in the test split. Any difference in what comes back
    tells the coordinator that record exists, which record-level DP promises it cannot learn."""
    without = Site("st-olav", _data(), _trust(policy))  # type: ignore[arg-type]
    with_one = Site("st-olav", _data(n_train=39, extra=("s6",)), _trust(policy))  # type: ignore[arg-type]
    return _evaluate(without), _evaluate(with_one)


def test_under_dp_a_deployed_site_keeps_the_split_so_one_record_goes_unnoticed() -> None:
    a, b = _attack(DP_POLICY)
    assert "seen_n" not in a.metrics and "unseen_accuracy" not in b.metrics
    assert a.metrics == b.metrics


def test_power_check_with_the_rule_off_the_split_gives_the_record_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Site, "_shares_sender_split", lambda self, run_id: True)
    a, b = _attack(DP_POLICY)
    assert b.metrics["seen_n"] - a.metrics["seen_n"] == 4.0  # s6's four test pages moved to "seen"


@pytest.mark.parametrize(
    "policy",
    [
        SitePolicy.simulation_default(),
        dataclasses.replace(DP_POLICY, share_personalization=True),
        dataclasses.replace(DP_POLICY, require_dp="none", max_epsilon=None),
    ],
    ids=["simulation", "share_personalization", "no-dp-required"],
)
def test_the_split_leaves_where_the_site_allows_it(policy: SitePolicy) -> None:
    assert "seen_n" in _evaluate(Site("st-olav", _data(), _trust(policy))).metrics  # type: ignore[arg-type]


def _fit(site: Site, dp: DpSettings) -> None:
    settings = TrainSettings(epochs=1, batch_size=8, lr=0.1, momentum=0.0)
    config = {
        **SPEC.to_config(),
        "classes": ["no", "yes"],
        **settings.to_config(),
        **dp.to_config(),
        **TrainSettings.seed_config(3),
    }
    params = arrays_to_bytes(model_arrays(build_model(SPEC, seed=4)))
    scale = {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    reply = site.handle(Task("run-1", 1, site.name, TaskKind.FIT, params, config, arrays_to_bytes(scale)))
    assert reply.ok, reply.error


@pytest.mark.parametrize("dp", [RECORD, NO_DP], ids=["trained-under-dp", "power-check-without-dp"])
def test_a_site_that_trained_the_run_under_dp_keeps_the_split_even_without_a_dp_policy(
    dp: DpSettings,
) -> None:
    """An evaluation task does not say whether the run is private: the site remembers that it trained
    this run under DP. Without DP training (the power check) the same site shares the split."""
    site = Site("st-olav", _data())
    _fit(site, dp)  # a bare site (no trust) trains; then its trust, with a policy requiring no DP
    site.trust = _trust(dataclasses.replace(DP_POLICY, require_dp="none", max_epsilon=None))  # type: ignore[assignment]
    assert ("seen_n" in _evaluate(site, "run-1").metrics) == (dp is NO_DP)
    assert "seen_n" in _evaluate(site, "run-2").metrics  # another run, not trained here under DP
