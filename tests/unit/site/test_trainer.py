import numpy as np
import torch

from fedward.models import ModelSpec, build_model, load_arrays, model_arrays
from fedward.site import TrainSettings, train


def _xy(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def _distance_after_training(mu: float) -> float:
    spec = ModelSpec("mlp", 5, 2, (8,))
    model = build_model(spec, seed=0)
    start = model_arrays(model)
    x, y = _xy()
    train(model, x, y, TrainSettings(epochs=5, lr=0.5, momentum=0.0, proximal_mu=mu, seed=1))
    end = model_arrays(model)
    return float(sum(np.sum((end[k] - start[k]) ** 2) for k in start))


def test_fedprox_term_keeps_the_site_near_the_global_model():
    assert _distance_after_training(1.0) < 0.5 * _distance_after_training(0.0)


def test_training_is_deterministic_and_leaves_global_rng_alone():
    spec = ModelSpec("logistic", 5, 2)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    results = []
    for _ in range(2):
        model = build_model(spec, seed=4)
        x, y = _xy()
        train(model, x, y, TrainSettings(epochs=2, seed=9))
        results.append(model_arrays(model))
    assert torch.rand(1).item() == before.item()
    assert all(np.array_equal(results[0][k], results[1][k]) for k in results[0])


def test_load_arrays_refuses_mismatched_parameters():
    model = build_model(ModelSpec("logistic", 5, 2), seed=0)
    arrays = model_arrays(model)
    arrays["weight"] = np.zeros((3, 5), np.float32)
    try:
        load_arrays(model, arrays)
    except ValueError as exc:
        assert "weight" in str(exc)
    else:
        raise AssertionError("shape mismatch accepted")


def test_doc_cnn_shapes():
    model = build_model(ModelSpec("doc-cnn", 64, 8, (128,), (16, 32, 64)), seed=0)
    out = model(torch.zeros(2, 1, 64, 64))
    assert out.shape == (2, 8)
