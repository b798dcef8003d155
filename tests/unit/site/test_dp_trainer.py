"""DP-SGD site training through Opacus: the privacy event, per-record clipping, the noise, and a module
left clean for reuse."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedward.models import ModelSpec, build_model, model_arrays
from fedward.privacy import PrivacyEvent
from fedward.site import TrainSettings, train
from fedward.site.dp_trainer import poisson_schedule, train_private

SPECS = {
    "logistic": (ModelSpec("logistic", 6, 3), (6,)),
    "mlp": (ModelSpec("mlp", 6, 3, (8,)), (6,)),
    "doc-cnn": (ModelSpec("doc-cnn", 16, 3, (16,), (4, 8)), (1, 16, 16)),
}


def _data(shape, n=40, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def _fingerprint(model: nn.Module):
    """Everything Opacus could leave behind: module and parameter attributes, hooks, grads."""
    modules = [
        (
            type(m).__name__,
            sorted(vars(m)),
            len(m._forward_hooks),
            len(m._backward_hooks),
            len(m._forward_pre_hooks),
        )
        for m in model.modules()
    ]
    params = [(sorted(vars(p)), p.grad is None) for p in model.parameters()]
    return modules, params


def _private(model, x, y, settings, seed=0, sigma=1.0, clip=1.0):
    gen = torch.Generator().manual_seed(seed)
    return train_private(model, x, y, settings, noise_multiplier=sigma, clip_norm=clip, generator=gen)


@pytest.mark.parametrize("name", list(SPECS))
def test_every_zoo_model_trains_privately_and_comes_back_clean(name):
    spec, shape = SPECS[name]
    model, clean = build_model(spec, seed=0), _fingerprint(build_model(spec, seed=0))
    x, y = _data(shape)
    settings = TrainSettings(epochs=2, batch_size=8, lr=0.1)
    before = model_arrays(model)
    for seed in (1, 2):  # the site reuses its module across rounds
        loss, event = _private(model, x, y, settings, seed=seed)
        assert math.isfinite(loss)
        assert event == PrivacyEvent(1.0, 0.2, 10)
        assert _fingerprint(model) == clean
    assert any(not np.array_equal(before[k], v) for k, v in model_arrays(model).items())
    assert math.isfinite(train(model, x, y, settings))  # plain training still works on the same module
    assert _fingerprint(model)[0] == clean[0]


def test_the_schedule_is_poisson_with_round_one_over_q_steps_per_epoch():
    assert poisson_schedule(TrainSettings(epochs=3, batch_size=32), 160) == (0.2, 15)
    assert poisson_schedule(TrainSettings(epochs=1, batch_size=30), 100) == (0.3, 3)
    assert poisson_schedule(TrainSettings(epochs=2, batch_size=64), 10) == (1.0, 2)  # full batch
    with pytest.raises(ValueError, match="no training samples"):
        poisson_schedule(TrainSettings(), 0)


def test_many_empty_batches_are_fine():
    spec, shape = SPECS["logistic"]
    x, y = _data(shape, n=100)
    loss, event = _private(build_model(spec, seed=0), x, y, TrainSettings(batch_size=1))
    assert event == PrivacyEvent(1.0, 0.01, 100)  # about 37 of the 100 steps draw nobody
    assert math.isfinite(loss)


def test_same_generator_seed_same_model_and_global_rng_untouched():
    spec, shape = SPECS["mlp"]
    x, y = _data(shape)
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    runs = []
    for seed in (3, 3, 4):
        model = build_model(spec, seed=0)
        _private(model, x, y, TrainSettings(epochs=1, batch_size=8), seed=seed)
        runs.append(model_arrays(model))
    assert torch.rand(1).item() == expected.item()
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(np.array_equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_per_record_clipping_bounds_the_update():
    # full batch, one step, plain SGD, almost no noise: the step is lr * (sum of clipped gradients) / n
    spec, shape = SPECS["logistic"]
    x, y = _data(shape, n=20)
    model = build_model(spec, seed=0)
    before = model_arrays(model)
    settings = TrainSettings(epochs=1, batch_size=20, lr=1.0, momentum=0.0)
    _private(model, 50 * x, y, settings, sigma=1e-6, clip=0.01)
    step = math.sqrt(sum(float(np.sum((v - before[k]) ** 2)) for k, v in model_arrays(model).items()))
    assert 0.001 < step <= 0.01 * (1 + 1e-3)


def test_noise_has_std_noise_multiplier_times_clip_over_expected_batch():
    # zero inputs: weight gradients are zero, so the weight update is pure noise of std lr*sigma*C/(q*n)
    model = build_model(ModelSpec("logistic", 2000, 2), seed=0)
    x, y = torch.zeros(10, 2000), torch.zeros(10, dtype=torch.long)
    before = model_arrays(model)["weight"]
    _private(model, x, y, TrainSettings(batch_size=10, lr=1.0, momentum=0.0), sigma=3.0, clip=2.0)
    noise = model_arrays(model)["weight"] - before
    assert noise.std() == pytest.approx(1.0 * 3.0 * 2.0 / 10, rel=0.05)  # 4000 draws: within 5%
    assert abs(noise.mean()) < 0.05


def test_fedprox_is_refused():
    spec, shape = SPECS["logistic"]
    x, y = _data(shape)
    with pytest.raises(ValueError, match="proximal"):
        _private(build_model(spec, seed=0), x, y, TrainSettings(proximal_mu=0.1))


@pytest.mark.parametrize(
    ("sigma", "clip"), [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (1.0, 0.0), (1.0, math.inf)]
)
def test_bad_noise_or_clip_is_refused(sigma, clip):
    spec, shape = SPECS["logistic"]
    x, y = _data(shape)
    with pytest.raises(ValueError, match=r"noise_multiplier|clip_norm"):
        _private(build_model(spec, seed=0), x, y, TrainSettings(), sigma=sigma, clip=clip)


def test_unsupported_layers_are_a_clear_error_and_leave_the_model_clean():
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    clean = _fingerprint(model)
    x, y = _data((6,))
    with pytest.raises(ValueError, match="not supported"):
        _private(model, x, y, TrainSettings())
    assert _fingerprint(model) == clean


def test_a_failure_mid_training_leaves_the_model_clean():
    spec, shape = SPECS["mlp"]
    model = build_model(spec, seed=0)
    clean = _fingerprint(model)
    x, _ = _data(shape)
    with pytest.raises(IndexError):
        _private(model, x, torch.full((len(x),), 7), TrainSettings(batch_size=8))  # label out of range
    assert _fingerprint(model) == clean
    assert math.isfinite(_private(model, x, torch.zeros(len(x), dtype=torch.long), TrainSettings())[0])


def _one_step(weights, clip):
    spec, shape = SPECS["logistic"]
    x, y = _data(shape, n=20)
    model = build_model(spec, seed=0)
    before = model_arrays(model)
    settings = TrainSettings(epochs=1, batch_size=20, lr=1.0, momentum=0.0, class_weights=weights)
    _private(model, x, y, settings, sigma=1e-6, clip=clip)
    after = model_arrays(model)
    return {k: after[k] - before[k] for k in after}


@pytest.mark.parametrize("weights", [None, (1000.0, 1000.0, 1000.0), (1.0, 50.0, 1.0)])
def test_class_weights_keep_per_record_clipping(weights):
    """Weighted records (up to 1000x) still have their gradients clipped to clip_norm each: the weights
    change the direction of the step, never the bound the privacy analysis rests on."""
    step = _one_step(weights, clip=0.01)
    assert math.sqrt(sum(float(np.sum(v**2)) for v in step.values())) <= 0.01 * (1 + 1e-3)


def test_power_check_class_weights_reach_the_private_loss():
    """With a clip no record reaches, reweighting a class changes the step; with a clip every record
    exceeds, each gradient is rescaled to the clip and its weight drops out."""
    unweighted, weighted = _one_step(None, clip=1e3), _one_step((1.0, 50.0, 1.0), clip=1e3)
    assert not all(np.allclose(unweighted[k], weighted[k]) for k in unweighted)
    clipped, clipped_weighted = _one_step(None, clip=1e-4), _one_step((1.0, 50.0, 1.0), clip=1e-4)
    assert all(np.allclose(clipped[k], clipped_weighted[k], atol=1e-7) for k in clipped)
