"""`[model] train = "head"` at the site: only the final classification layer trains, in plain training and
in DP-SGD (Opacus clips and noises the head's per-record gradients only), every other tensor leaves
training bit for bit as it came in (its update is exactly zero), and the reused model is not left frozen.
Power checks: with `train = "all"` the same training moves those tensors."""

import numpy as np
import pytest
import torch

from fedward.config import PrivacyConfig, TrainPart
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes, subtract
from fedward.core.messages import ReplyStatus, Task, TaskKind
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.privacy import secure_torch_generator
from fedward.settings import DpSettings, TrainSettings
from fedward.site import LocalData, Site
from fedward.site.dp_trainer import train_private
from fedward.site.trainer import train

MLP = ModelSpec("mlp", 3, 2, (8,), ())
CNN = ModelSpec("doc-cnn", 16, 3, (8,), (4, 4))
HEADS = {"mlp": {"2.weight", "2.bias"}, "doc-cnn": {"head.3.weight", "head.3.bias"}}


def _data(spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    shape = (48, 1, spec.input_dim, spec.input_dim) if spec.name == "doc-cnn" else (48, spec.input_dim)
    return torch.randn(shape, generator=gen), torch.randint(0, spec.num_classes, (48,), generator=gen)


def _changed(spec: ModelSpec, part: TrainPart, private: bool) -> set[str]:
    model = build_model(spec, seed=1)
    before = model_arrays(model)
    x, y = _data(spec)
    settings = TrainSettings(epochs=2, batch_size=16, lr=0.5, weight_decay=0.1, train_part=part)
    if private:
        generator = secure_torch_generator()
        train_private(model, x, y, settings, noise_multiplier=1.0, clip_norm=1.0, generator=generator)
    else:
        train(model, x, y, settings)
    assert all(p.requires_grad for p in model.parameters())  # the reused model is not left frozen
    after = model_arrays(model)
    return {k for k in before if not np.array_equal(before[k], after[k])}


@pytest.mark.parametrize("spec", [MLP, CNN], ids=lambda s: s.name)
@pytest.mark.parametrize("private", [False, True], ids=["plain", "dp-record"])
def test_head_only_training_moves_the_head_alone(spec, private):
    assert _changed(spec, TrainPart.HEAD, private) == HEADS[spec.name]
    # power check: training everything moves every tensor (weight decay and noise touch them all)
    everything = {name for name, _ in build_model(spec, seed=1).named_parameters()}
    assert _changed(spec, TrainPart.ALL, private) == everything


def _site() -> Site:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0])
    return Site("a", LocalData(x[:30], y[:30], x[30:], y[30:], ("f0", "f1", "f2")))


@pytest.mark.parametrize("dp", ["none", "record"])
@pytest.mark.parametrize("part", [TrainPart.HEAD, TrainPart.ALL])
def test_a_fit_task_with_train_part_head_sends_an_exactly_zero_update_of_frozen_tensors(dp, part):
    privacy = PrivacyConfig(dp=dp, noise_multiplier=1.0) if dp == "record" else PrivacyConfig()
    settings = DpSettings.from_privacy(privacy, noise_multiplier=1.0 if dp == "record" else None)
    train = TrainSettings(epochs=2, batch_size=8, lr=0.5, train_part=part, init_model_sha256="ab" * 32)
    config = {
        **MLP.to_config(),
        "classes": ["no", "yes"],
        **train.to_config(),
        **settings.to_config(),
        **TrainSettings.seed_config(3),
    }
    start = model_arrays(build_model(MLP, seed=0))
    scale = {"feature_mean": np.zeros(3, np.float32), "feature_scale": np.ones(3, np.float32)}
    site = _site()
    for _ in range(2):  # the site reuses its model: the second task must train the same part
        task = Task("r", 1, "a", TaskKind.FIT, arrays_to_bytes(start), config, arrays_to_bytes(scale))
        reply = site.handle(task)
        assert reply.status is ReplyStatus.OK, reply.error
        update = subtract(arrays_from_bytes(reply.parameters), start)
        moved = {k for k, u in update.items() if np.any(u != 0)}
        assert moved == ({"2.weight", "2.bias"} if part == TrainPart.HEAD else set(start))
