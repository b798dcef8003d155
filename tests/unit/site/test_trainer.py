import numpy as np
import torch

from fedward.models import ModelSpec, build_model, load_arrays, model_arrays
from fedward.settings.class_weights import class_weights
from fedward.site import TrainSettings, train
from fedward.site.trainer import predict, predict_scores


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


# --- scores and class-weighted loss (issue 12) ---


def _skewed(n, seed):
    """90% majority (class 0) and 10% minority (class 1), overlapping: the minority is shifted by 1.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    x[:, 0] += 1.5 * y
    return torch.from_numpy(x), torch.from_numpy(y)


def _minority_recall(weights):
    model = build_model(ModelSpec("logistic", 2, 2), seed=0)
    x, y = _skewed(2000, 1)
    train(model, x, y, TrainSettings(epochs=5, batch_size=32, lr=0.05, seed=2, class_weights=weights))
    xt, yt = _skewed(4000, 3)
    pred = predict(model, xt)
    minority = yt.numpy() == 1
    return float((pred[minority] == 1).mean()), float((pred == yt.numpy()).mean())


def test_power_check_balanced_weights_raise_minority_recall_on_a_90_10_set():
    """Unweighted, the model predicts the majority almost always; with the balanced weights
    (N / (K n_c)) it finds most of the minority, at some cost in plain accuracy."""
    counts = {"0": 0, "1": 0}
    for label in _skewed(2000, 1)[1].tolist():
        counts[str(label)] += 1
    weights = class_weights(counts, ["0", "1"], "balanced")
    assert weights is not None and weights[1] > 4 * weights[0]
    plain_recall, plain_acc = _minority_recall(None)
    weighted_recall, _ = _minority_recall(weights)
    assert plain_recall < 0.3 and plain_acc > 0.88
    assert weighted_recall > 0.6 and weighted_recall > plain_recall + 0.3


def test_unit_weights_train_as_no_weights():
    """Weights of 1 are the unweighted mean loss: the same model up to float rounding."""
    runs = []
    for weights in (None, (1.0, 1.0)):
        model = build_model(ModelSpec("logistic", 5, 2), seed=4)
        x, y = _xy()
        train(model, x, y, TrainSettings(epochs=2, seed=9, class_weights=weights))
        runs.append(model_arrays(model))
    assert all(np.allclose(runs[0][k], runs[1][k], atol=1e-6) for k in runs[0])


def test_predict_scores_are_probabilities_and_predict_is_their_argmax():
    model = build_model(ModelSpec("mlp", 5, 3, (8,)), seed=0)
    x, _ = _xy()
    scores = predict_scores(model, x, batch_size=10)
    assert scores.dtype == np.float64 and scores.shape == (64, 3)
    assert np.allclose(scores.sum(axis=1), 1.0) and (scores >= 0).all()
    assert np.array_equal(predict(model, x, batch_size=7), scores.argmax(axis=1))
    assert predict_scores(model, x[:0]).shape == (0, 3)
    assert predict(model, x[:0]).shape == (0,)
