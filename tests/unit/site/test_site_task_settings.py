"""The site reads its fit task through the typed settings (fedward.settings): what it is told is what it
does, and a task that leaves out or garbles a setting fails with the key's name instead of training on a
default. Record-level DP without a noise multiplier must never train at all (fail closed)."""

import numpy as np
import pytest

from fedward.config import DpMode, PrivacyConfig
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes, flatten
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.settings import DpSettings, TrainSettings
from fedward.site import LocalData, Site
from fedward.site.protect import protect_update

SPEC = ModelSpec("logistic", 3, 2, (), ())
NONE = DpSettings.from_privacy(PrivacyConfig())
RECORD = DpSettings.from_privacy(PrivacyConfig(dp="record", noise_multiplier=1.0), noise_multiplier=1.0)
SITE = DpSettings.from_privacy(PrivacyConfig(dp="site", noise_multiplier=1.0, clip_norm=0.01))


def _site() -> Site:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0])
    return Site("a", LocalData(x[:30], y[:30], x[30:], y[30:], ("f0", "f1", "f2")))


def _config(dp: DpSettings = NONE, **train: object) -> dict:
    settings = TrainSettings(epochs=2, batch_size=8, lr=0.5, momentum=0.0)
    return {
        **SPEC.to_config(),
        "classes": ["no", "yes"],
        **settings.to_config(),
        **dp.to_config(),
        **TrainSettings.seed_config(3),
        **train,
    }


def _fit(config: dict) -> tuple[Task, Reply]:
    start = arrays_to_bytes(model_arrays(build_model(SPEC, seed=0)))
    context = arrays_to_bytes(
        {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    )
    task = Task("r", 1, "a", TaskKind.FIT, start, config, context)
    return task, _site().handle(task)


def test_a_complete_task_trains():
    _, reply = _fit(_config())
    assert reply.status is ReplyStatus.OK and "train_loss" in reply.metrics


@pytest.mark.parametrize("key", ["epochs", "lr", "seed", "dp", "dp_clip_norm", "secure_aggregation"])
def test_a_missing_setting_fails_the_task_naming_the_key(key):
    config = _config()
    del config[key]
    _, reply = _fit(config)
    assert reply.status is ReplyStatus.FAILED and key in (reply.error or "")


def test_a_mistyped_setting_fails_the_task_naming_the_key():
    _, reply = _fit(_config(epochs="2"))
    assert reply.status is ReplyStatus.FAILED and "'epochs'" in (reply.error or "")


def test_record_level_dp_without_its_noise_never_trains():
    config = _config(RECORD)
    del config["dp_noise_multiplier"]
    _, reply = _fit(config)
    assert reply.status is ReplyStatus.FAILED and "dp_noise_multiplier" in (reply.error or "")
    # power check: with the noise multiplier the same task trains privately and reports its spend
    _, reply = _fit(_config(RECORD))
    assert reply.status is ReplyStatus.OK
    assert reply.info["dp_noise_multiplier"] == 1.0 and reply.info["dp_steps"] == 2 * round(30 / 8)
    assert "train_loss" not in reply.metrics  # the loss is a function of the private records


def test_the_seed_sent_is_the_seed_used():
    """Same seed, same model; another seed, another batch order (so the seed is read, not defaulted)."""
    same = [_fit(_config())[1].parameters for _ in range(2)]
    other = _fit(_config(seed=4))[1].parameters
    assert same[0] == same[1] and other != same[0]


def test_site_level_dp_clips_the_update_to_the_clip_norm():
    _, reply = _fit(_config(SITE))
    _, plain = _fit(_config())
    start = model_arrays(build_model(SPEC, seed=0))
    clipped = np.linalg.norm(flatten(arrays_from_bytes(reply.parameters)) - flatten(start))
    free = np.linalg.norm(flatten(arrays_from_bytes(plain.parameters)) - flatten(start))
    assert clipped <= 0.01 * (1 + 1e-5) < free  # power: without site-level DP the update is larger


def test_protect_update_follows_the_mode():
    start = {"w": np.zeros(64, np.float32)}
    trained = {"w": np.full(64, 3.0, np.float32)}
    assert np.allclose(protect_update(start, trained, NONE)["w"], 3.0)
    assert np.isclose(np.linalg.norm(protect_update(start, trained, SITE)["w"]), 0.01)
    shared = DpSettings(DpMode.SITE, 0.01, 1e-5, None, None, True, noise_std=1.0)
    noised = protect_update(start, trained, shared)["w"]
    assert np.linalg.norm(noised) > 1.0  # the site's share of the noise was added after clipping
