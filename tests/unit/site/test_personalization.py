"""Personalization: the validation split, the choice it makes, and what leaves the site."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from fedward.aggregation.fedavg import FedAvg
from fedward.config import DpMode, PrivacyConfig, TrainPart
from fedward.coordinator import FederationPlan, run_federation
from fedward.coordinator.personalization import read_replies
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.settings import DpSettings, PersonalizeSettings, TrainSettings
from fedward.site import LocalData, Site
from fedward.site.data import with_validation
from fedward.site.personalize import Split, personalize
from fedward.site.policy import parse_policy
from fedward.transport import InMemoryTransport

CLASSES = ["no", "yes"]


def _shifted(seed: int, flip: bool, n: int = 120) -> LocalData:
    """Two features; the label follows feature 0, reversed at a `flip` site (a site whose mix differs)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    positive = (x[:, 0] > 0) != flip
    y = tuple("yes" if p else "no" for p in positive)
    return with_validation(LocalData(x[:90], y[:90], x[90:], y[90:], ("a", "b")), 0.25, 0, f"s{seed}")


def _plan(**kw) -> FederationPlan:
    base = dict(
        run_id="r",
        model_name="logistic",
        rounds=4,
        seed=1,
        train=TrainSettings(epochs=1, batch_size=16, lr=0.2, momentum=0.0),
        personalize=PersonalizeSettings(epochs=15, train_part=TrainPart.ALL, local_epochs=8, local_seed=1),
    )
    base.update(kw)
    return FederationPlan(**base)


class Recording:
    """Passes tasks to a site and keeps every reply the site sent."""

    def __init__(self, site: Site) -> None:
        self.site, self.replies = site, []

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        reply = self.site.handle(task)
        self.replies.append(reply)
        return reply


# --- the validation split


def test_validation_split_is_stratified_disjoint_and_seeded():
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = tuple(["a"] * 40 + ["b"] * 9 + ["c"])
    data = LocalData(x, y, x[:2], y[:2])
    split = with_validation(data, 0.2, 7, "north")
    assert split.val_y.count("a") == 8 and split.val_y.count("b") == 2
    assert "c" not in split.val_y and "c" in split.train_y  # a class with one record stays in training
    seen = sorted(map(tuple, np.concatenate([split.train_x, split.val_x]).tolist()))
    assert seen == sorted(map(tuple, x.tolist()))  # disjoint, and nothing lost
    again = with_validation(data, 0.2, 7, "north")
    assert np.array_equal(again.val_x, split.val_x)
    assert not np.array_equal(with_validation(data, 0.2, 7, "south").val_x, split.val_x)
    assert split.all_train[0].shape == x.shape


# --- the choice


def _splits(data: LocalData, test_flip: bool = False) -> tuple[Split, ...]:
    def s(x, y):
        return Split(torch.from_numpy(x), np.array([CLASSES.index(v) for v in y], dtype=np.int64))

    test_y = tuple(("no" if v == "yes" else "yes") for v in data.test_y) if test_flip else data.test_y
    return (
        s(data.train_x, data.train_y),
        s(data.val_x, data.val_y),
        s(*data.all_train),
        s(data.test_x, test_y),
    )


def _run(data: LocalData, global_arrays, test_flip: bool = False):
    spec = ModelSpec("logistic", 2, 2)
    initial = model_arrays(build_model(spec, seed=3))
    settings = TrainSettings(epochs=1, batch_size=16, lr=0.2, momentum=0.0)
    p = PersonalizeSettings(epochs=10, train_part=TrainPart.ALL, local_epochs=10, local_seed=1)
    model = build_model(spec, seed=0)
    return personalize(model, global_arrays, initial, _splits(data, test_flip), CLASSES, settings, p)


def _global_for_unflipped() -> dict[str, np.ndarray]:
    return {"weight": np.array([[-4.0, 0.0], [4.0, 0.0]], np.float32), "bias": np.zeros(2, np.float32)}


def test_a_site_whose_labels_differ_is_recommended_its_own_kind_of_model():
    flipped = _shifted(1, flip=True)
    outcome = _run(flipped, _global_for_unflipped())
    assert outcome.arms["global"].validation["accuracy"] < 0.2
    assert outcome.recommended in ("personalized", "local")
    assert outcome.arms[outcome.recommended].test["accuracy"] > 0.8
    same = _run(_shifted(2, flip=False), _global_for_unflipped())
    assert same.recommended == "global"  # as good on validation: the shared model is preferred


def test_the_test_split_never_takes_part_in_the_choice():
    data = _shifted(1, flip=True)
    honest = _run(data, _global_for_unflipped())
    flipped_test = _run(data, _global_for_unflipped(), test_flip=True)
    # power: the test split alone would rank the candidates the other way round
    by_test = max(honest.arms, key=lambda a: honest.arms[a].test["accuracy"])
    by_flipped = max(flipped_test.arms, key=lambda a: flipped_test.arms[a].test["accuracy"])
    assert by_test != by_flipped
    assert flipped_test.recommended == honest.recommended
    for arm in honest.arms:
        assert flipped_test.arms[arm].epochs == honest.arms[arm].epochs
        assert flipped_test.arms[arm].validation == honest.arms[arm].validation


# --- the run: what crosses the transport


def _personalized_tensors(site: Site) -> list[np.ndarray]:
    outcome = next(iter(site.personalization.values()))
    return [a for arm in ("personalized", "local") for a in outcome.arms[arm].arrays.values()]


def _leaks(replies: list[Reply], secrets: list[np.ndarray]) -> bool:
    """Does any reply carry a tensor equal to one of `secrets` (or its raw bytes)?"""
    for reply in replies:
        if not reply.parameters:
            continue
        for secret in secrets:
            if secret.tobytes() in reply.parameters:
                return True
        sent = arrays_from_bytes(reply.parameters, dtype=np.float64)
        for arr in sent.values():
            if any(arr.shape == s.shape and np.allclose(arr, s) for s in secrets):
                return True
    return False


def test_personalized_models_never_cross_the_transport_and_the_summary_figures_arrive():
    sites = [Recording(Site(f"s{i}", _shifted(i, flip=i == 2))) for i in range(3)]
    result = run_federation(InMemoryTransport(sites), _plan(), FedAvg())
    p = result.personalization
    assert p is not None and not p.failures and set(p.sites) == {"s0", "s1", "s2"}
    assert p.sites["s2"].recommended in ("personalized", "local")
    for rec in sites:
        kinds = {r.kind for r in rec.replies}
        assert TaskKind.PERSONALIZE in kinds
        assert not _leaks(rec.replies, _personalized_tensors(rec.site))
        personal = next(r for r in rec.replies if r.kind is TaskKind.PERSONALIZE)
        assert set(arrays_from_bytes(personal.parameters)) == {"global", "personalized", "local"}


def test_the_leak_check_catches_a_site_that_sends_its_personalized_model():
    """Power check for the test above: the same check fires on a reply that carries the model."""
    rec = Recording(Site("s0", _shifted(0, flip=True)))
    run_federation(
        InMemoryTransport([rec, Recording(Site("s1", _shifted(1, flip=False)))]), _plan(), FedAvg()
    )
    outcome = next(iter(rec.site.personalization.values()))
    bad = Reply(
        "r",
        4,
        "s0",
        TaskKind.PERSONALIZE,
        ReplyStatus.OK,
        arrays_to_bytes(outcome.arms["personalized"].arrays),
    )
    assert _leaks([bad], _personalized_tensors(rec.site))


class _StubTrust:
    """Just enough of SiteTrust for the sharing rule: the model check passes, the policy is a file's."""

    def __init__(self, share: bool = False) -> None:
        rules = {
            "allowed_code": ["*"],
            "require_secure_aggregation": False,
            "require_dp": "record",
            "max_epsilon": 8.0,
            "min_samples": 1,
            "max_rounds": 10,
        }
        if share:
            rules["share_personalization"] = True
        self.policy = parse_policy({"policy": rules}, source="policy.toml")

    def check_model(self, task: Task) -> None:
        pass


def _dp_config(dp: DpMode) -> dict:
    if dp == DpMode.NONE:
        return DpSettings.from_privacy(PrivacyConfig()).to_config()
    privacy = PrivacyConfig(dp=dp, noise_multiplier=1.0)
    return DpSettings.from_privacy(privacy, noise_multiplier=1.0).to_config()


def _personalize_task(site: Site, dp: DpMode) -> Task:
    spec = ModelSpec("logistic", 2, 2)
    params = model_arrays(build_model(spec, seed=0))
    config = {
        **spec.to_config(),
        "classes": CLASSES,
        **TrainSettings(epochs=1, batch_size=16, lr=0.2, momentum=0.0).to_config(),
        **TrainSettings.seed_config(1),
        **PersonalizeSettings(epochs=3, local_epochs=3).to_config(),
        **_dp_config(dp),
    }
    scale = {"feature_mean": np.zeros(2, np.float32), "feature_scale": np.ones(2, np.float32)}
    context = arrays_to_bytes({**scale, **{f"init/{k}": v for k, v in params.items()}})
    return Task("r", 1, site.name, TaskKind.PERSONALIZE, arrays_to_bytes(params), config, context)


@pytest.mark.parametrize("dp", [DpMode.RECORD, DpMode.NONE])
def test_under_dp_a_deployed_sites_candidates_stay_at_the_site(dp):
    site = Site("s0", _shifted(0, flip=False), trust=_StubTrust())  # type: ignore[arg-type]
    reply = site.handle(_personalize_task(site, dp))
    assert reply.ok, reply.error
    shared = set(arrays_from_bytes(reply.parameters))
    if dp == DpMode.NONE:  # power: without DP the same site shares every candidate
        assert shared == {"global", "personalized", "local"} and reply.info["recommended"] is not None
    else:
        assert shared == {"global"} and reply.info["recommended"] is None
        assert {k.split("/")[1] for k in reply.info if "/" in k} == {"global"}
    assert site.personalization["r"].recommended in ("global", "personalized", "local")


def test_malformed_personalization_replies_are_the_sites_failure():
    site = Site("s0", _shifted(0, flip=False))
    good = site.handle(_personalize_task(site, DpMode.NONE))
    assert not read_replies({"s0": good}, CLASSES).failures
    wrong_shape = replace(good, parameters=arrays_to_bytes({"global": np.zeros((3, 3), np.float32)}))
    unknown = replace(good, info={**good.info, "recommended": "someone-else"})
    negative = replace(good, parameters=arrays_to_bytes({"global": -np.ones((2, 2), np.float32)}))
    result = read_replies({"a": wrong_shape, "b": unknown, "c": negative}, CLASSES)
    assert set(result.failures) == {"a", "b", "c"} and not result.sites


def test_a_site_with_a_folder_keeps_its_models_there_and_rewrites_them_whole(tmp_path):
    site = Site("s0", _shifted(0, flip=True), keep_dir=tmp_path / "models")
    task = _personalize_task(site, DpMode.NONE)
    assert site.handle(task).ok
    kept = tmp_path / "models" / "r"
    record = json.loads((kept / "recommendation.json").read_text())
    outcome = site.personalization["r"]
    assert record["recommended"] == outcome.recommended
    recommended = arrays_from_bytes((kept / "recommended.safetensors").read_bytes())
    expected = outcome.model if outcome.model is not None else arrays_from_bytes(task.parameters)
    assert all(np.array_equal(recommended[k], expected[k]) for k in expected)
    (kept / "stale.txt").write_text("from an earlier answer")
    assert site.handle(task).ok  # the same task again (re-sent after a crash): the folder is replaced
    assert not (kept / "stale.txt").exists() and not list((tmp_path / "models").glob(".*"))


def test_a_site_policy_can_choose_to_share_its_figures_under_dp():
    site = Site("s0", _shifted(0, flip=False), trust=_StubTrust(share=True))  # type: ignore[arg-type]
    reply = site.handle(_personalize_task(site, DpMode.RECORD))
    assert set(arrays_from_bytes(reply.parameters)) == {"global", "personalized", "local"}
    assert reply.info["recommended"] is not None
    # the choice is part of the policy's identity only when made: files without it keep their hash
    assert _StubTrust(share=True).policy.sha256() != _StubTrust().policy.sha256()
    assert "share_personalization" not in _StubTrust().policy.to_dict()
