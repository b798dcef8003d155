"""Clipping, Gaussian noise and the secure generators of site-level DP-FedAvg."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fedward.privacy import (
    add_gaussian_noise,
    clip_l2,
    global_l2_norm,
    secure_numpy_generator,
    secure_torch_generator,
)

finite32 = st.floats(-1e6, 1e6, width=32)


@settings(max_examples=60)
@given(
    a=arrays(np.float32, st.integers(1, 20), elements=finite32),
    b=arrays(np.float32, (3, 4), elements=finite32),
    clip=st.floats(1e-3, 1e3),
)
def test_clip_bounds_the_global_norm_and_keeps_the_direction(a, b, clip):
    update = {"a": a, "b": b}
    clipped, norm = clip_l2(update, clip)
    assert norm == pytest.approx(global_l2_norm(update))
    assert global_l2_norm(clipped) <= clip
    assert all(v.dtype == np.float32 for v in clipped.values())
    if norm <= clip:
        assert all(np.array_equal(clipped[k], update[k]) for k in update)
    else:
        assert global_l2_norm(clipped) == pytest.approx(clip, rel=1e-5)
        flat, flat_clipped = (
            np.concatenate([a, b.ravel()]),
            np.concatenate([clipped["a"], clipped["b"].ravel()]),
        )
        np.testing.assert_allclose(flat_clipped, flat * (clip / norm), rtol=1e-5, atol=1e-6 * clip)


def test_clip_does_not_touch_its_input():
    update = {"w": np.full(4, 3.0, np.float32)}
    clip_l2(update, 1.0)
    assert np.array_equal(update["w"], np.full(4, 3.0, np.float32))


@pytest.mark.parametrize("clip", [0.0, -1.0, float("nan"), float("inf")])
def test_clip_refuses_bad_norms(clip):
    with pytest.raises(ValueError, match="clip_norm"):
        clip_l2({"w": np.ones(3, np.float32)}, clip)


def test_clip_refuses_non_finite_updates():
    with pytest.raises(ValueError, match="non-finite"):
        clip_l2({"w": np.array([1.0, np.nan], np.float32)}, 1.0)


def test_noise_has_the_requested_standard_deviation():
    update = {"w": np.zeros((300, 300), np.float32), "b": np.full(100_000, 5.0, np.float32)}
    noisy = add_gaussian_noise(update, 2.5, np.random.default_rng(7))
    assert all(noisy[k].dtype == np.float32 and noisy[k].shape == update[k].shape for k in update)
    noise = np.concatenate([noisy["w"].ravel(), noisy["b"] - 5.0])
    # 190000 draws: the sample std is within 0.5% and the mean within 0.03 with overwhelming probability
    assert noise.std() == pytest.approx(2.5, rel=5e-3)
    assert abs(noise.mean()) < 0.03


def test_noise_refuses_bad_std():
    with pytest.raises(ValueError, match="std"):
        add_gaussian_noise({"w": np.zeros(3, np.float32)}, -1.0, np.random.default_rng(0))


def test_zero_noise_changes_nothing():
    update = {"w": np.arange(5, dtype=np.float32)}
    assert np.array_equal(add_gaussian_noise(update, 0.0, np.random.default_rng(0))["w"], update["w"])


def test_secure_generators_are_fresh_and_ignore_global_seeds():
    np.random.seed(1234)
    torch.manual_seed(1234)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    first_np, first_torch = secure_numpy_generator(), secure_torch_generator()
    np.random.seed(1234)
    torch.manual_seed(1234)
    second_np, second_torch = secure_numpy_generator(), secure_torch_generator()
    assert not np.array_equal(first_np.standard_normal(8), second_np.standard_normal(8))
    assert not torch.equal(torch.randn(8, generator=first_torch), torch.randn(8, generator=second_torch))
    assert first_torch.initial_seed() != second_torch.initial_seed()
    # creating them leaves the global generators alone
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
