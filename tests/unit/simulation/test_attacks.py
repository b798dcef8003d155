"""The simulation's attack harness does what each kind claims, through a site's real fit path: the
attacked reply against the honest reply of the same site, task and seed (the power check: the honest
site, same everything, sends the honest update). Also `norm_bound` at the site."""

import numpy as np
import pytest

from fedward.config import AttackConfig, PrivacyConfig
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes, flatten
from fedward.core.messages import ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.settings import DpSettings, TrainSettings
from fedward.simulation.attacks import (
    AttackingSite,
    HonestSite,
    RoundBoard,
    alie_z,
    apply_trigger,
    flip_labels,
)
from fedward.site import LocalData, Site

SPEC = ModelSpec("logistic", 3, 3, (), ())
CLASSES = ["a", "b", "c"]


def _data(seed: int = 0) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = tuple(CLASSES[int(v)] for v in np.digitize(x[:, 0], [-0.4, 0.4]))
    return LocalData(x[:45], y[:45], x[45:], y[45:], ("f0", "f1", "f2"))


def _task(site: str, rnd: int = 1, norm_bound: float | None = None) -> tuple[Task, dict]:
    train = TrainSettings(epochs=2, batch_size=8, lr=0.3, norm_bound=norm_bound)
    config = {
        **SPEC.to_config(),
        "classes": CLASSES,
        **train.to_config(),
        **DpSettings.from_privacy(PrivacyConfig()).to_config(),
        **TrainSettings.seed_config(3),
    }
    start = model_arrays(build_model(SPEC, seed=0))
    scale = {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    return Task("r", rnd, site, TaskKind.FIT, arrays_to_bytes(start), config, arrays_to_bytes(scale)), start


def _update(site: Site, task: Task, start: dict) -> np.ndarray:
    reply = site.handle(task)
    assert reply.status is ReplyStatus.OK, reply.error
    return flatten(arrays_from_bytes(reply.parameters)) - flatten(start)


def _attacker(kind: str, scale: float | None = None, from_round: int = 1, board=None, n=5) -> AttackingSite:
    attack = AttackConfig(site="a", kind=kind, scale=scale, from_round=from_round)
    return AttackingSite("a", _data(), None, attack, board or RoundBoard(), n, 1)


def _honest() -> np.ndarray:
    task, start = _task("a")
    return _update(Site("a", _data()), task, start)


def test_sign_flip_really_flips_the_update():
    honest = _honest()
    task, start = _task("a")
    flipped = _update(_attacker("sign_flip"), task, start)
    assert np.linalg.norm(honest) > 0.1  # power check: there is an update to flip
    np.testing.assert_allclose(flipped, -honest, atol=1e-5)


@pytest.mark.parametrize("factor", [None, 3.0])
def test_scale_scales_the_update(factor):
    honest = _honest()
    task, start = _task("a")
    scaled = _update(_attacker("scale", factor), task, start)
    np.testing.assert_allclose(scaled, (10.0 if factor is None else factor) * honest, rtol=1e-4, atol=1e-4)


def test_gaussian_sends_noise_of_the_given_std():
    task, start = _task("a")
    noise = _update(_attacker("gaussian", 2.0), task, start)
    assert abs(float(np.std(noise)) - 2.0) < 0.6  # 12 parameters: a loose check of the scale
    assert not np.allclose(noise, _honest(), atol=0.5)


def test_an_attack_waits_for_its_from_round():
    honest = _honest()
    task, start = _task("a", rnd=1)
    np.testing.assert_allclose(_update(_attacker("sign_flip", from_round=2), task, start), honest, atol=1e-6)


def test_label_flip_flips_the_training_labels():
    assert flip_labels(("a", "b", "c", "a"), CLASSES) == ("c", "b", "a", "c")
    site = _attacker("label_flip")
    task, start = _task("a")
    _, y = site._training_data(task)
    assert y == flip_labels(_data().train_y, CLASSES)
    assert y != _data().train_y  # power check: the flip changes something
    assert not np.allclose(_update(site, task, start), _honest(), atol=1e-3)


def test_backdoor_triggers_half_the_records_and_relabels_them_to_the_target():
    site = _attacker("backdoor")
    task, _ = _task("a")
    x, y = site._training_data(task)
    clean = _data()
    triggered = np.all(x[:, -3:] == np.max(clean.train_x), axis=1)
    assert triggered.sum() == (len(y) + 1) // 2
    assert all(label == "a" for label, t in zip(y, triggered, strict=True) if t)
    np.testing.assert_array_equal(x[~triggered], clean.train_x[~triggered])
    np.testing.assert_array_equal(apply_trigger(clean.train_x, 9.0)[:, -3:], 9.0)


def test_alie_and_ipm_use_the_honest_updates_of_the_round():
    board = RoundBoard()
    honest_sites = [HonestSite(f"h{i}", _data(i + 1), None, board) for i in range(3)]
    rows = []
    for s in honest_sites:
        task, start = _task(s.name)
        rows.append(_update(s, task, start))
    rows = np.stack(rows)
    task, start = _task("a")
    alie = _update(_attacker("alie", board=board, n=4), task, start)
    z = alie_z(4, 1)
    np.testing.assert_allclose(alie, rows.mean(0) - z * rows.std(0), atol=1e-5)
    ipm = _update(_attacker("ipm", 0.5, board=board), task, start)
    np.testing.assert_allclose(ipm, -0.5 * rows.mean(0), atol=1e-5)
    assert float(np.dot(ipm, rows.mean(0))) < 0  # inner-product manipulation: against the honest mean


def test_alie_without_honest_updates_fails_the_site_not_the_round():
    task, _ = _task("a")
    reply = _attacker("alie").handle(task)
    assert reply.status is ReplyStatus.FAILED and "no honest update" in reply.error


def test_the_site_clips_its_update_to_norm_bound():
    honest = _honest()
    task, start = _task("a", norm_bound=0.05)
    bounded = _update(Site("a", _data()), task, start)
    assert np.linalg.norm(honest) > 0.05  # power check: unclipped it is larger
    assert np.linalg.norm(bounded) <= 0.05 + 1e-6
    np.testing.assert_allclose(bounded / np.linalg.norm(bounded), honest / np.linalg.norm(honest), atol=1e-4)
    # an attacker's scaled update is clipped the same way (the site's own protection runs after it)
    task, start = _task("a", norm_bound=0.05)
    assert np.linalg.norm(_update(_attacker("scale", 100.0), task, start)) <= 0.05 + 1e-6
