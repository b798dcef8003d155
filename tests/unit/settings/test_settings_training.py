"""TrainSettings: the training part of a fit task's config, byte for byte what plan_for wrote before the
dataclass, read back strictly by the site."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedward.config import StrategyConfig, TrainPart
from fedward.core.canonical import canonical_bytes
from fedward.settings import TrainSettings
from fedward.settings.training import PROXIMAL_MU, SEED


def _before(s: StrategyConfig) -> dict:
    """What simulation/runner.py `plan_for` put in `FederationPlan.train` before typed settings."""
    return {
        "epochs": s.local_epochs,
        "batch_size": s.batch_size,
        "lr": s.lr,
        "momentum": s.momentum,
        "optimizer": s.optimizer,
        "weight_decay": s.weight_decay,
        "max_grad_norm": s.max_grad_norm,
    }


STRATEGIES = [
    StrategyConfig(),
    StrategyConfig(name="fedprox", local_epochs=3, batch_size=16, lr=1, momentum=0, max_grad_norm=5),
    StrategyConfig(name="fedadam", optimizer="adam", lr=0.001, weight_decay=1e-4, max_grad_norm=1.0),
]


def _types(config):
    return [(k, type(v)) for k, v in config.items()]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_to_config_reproduces_the_wire_format_exactly(strategy):
    config = TrainSettings.from_strategy(strategy).to_config()
    before = _before(strategy)
    assert config == before
    assert _types(config) == _types(before)
    assert canonical_bytes(config) == canonical_bytes(before)


def test_literal_wire_format():
    """The exact bytes, not only agreement with the function they replace."""
    config = TrainSettings.from_strategy(STRATEGIES[1]).to_config()
    assert canonical_bytes(config) == (
        b'{"batch_size":16,"epochs":3,"lr":1.0,"max_grad_norm":5.0,"momentum":0.0,'
        b'"optimizer":"sgd","weight_decay":0.0}'
    )


def test_the_per_site_values_travel_on_their_own():
    settings = TrainSettings(seed=7, proximal_mu=0.1)
    assert SEED not in settings.to_config() and PROXIMAL_MU not in settings.to_config()
    assert TrainSettings.seed_config(7) == {"seed": 7}


def test_from_strategy_matches_the_baselines_and_the_plan():
    s = STRATEGIES[1]
    base = TrainSettings.from_strategy(s, epochs=10 * s.local_epochs, seed=42)
    assert base == TrainSettings(
        epochs=30, batch_size=16, lr=1.0, momentum=0.0, optimizer="sgd", max_grad_norm=5.0, seed=42
    )
    assert TrainSettings.from_strategy(s).proximal_mu == 0.0  # FedProx sends mu through its site_config


@given(
    epochs=st.integers(1, 1000),
    batch=st.integers(1, 10_000),
    lr=st.floats(1e-6, 10.0),
    momentum=st.floats(0.0, 0.99),
    optimizer=st.sampled_from(["sgd", "adam"]),
    decay=st.floats(0.0, 1.0),
    mu=st.floats(0.0, 1.0),
    clip=st.none() | st.floats(1e-3, 100.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_property(epochs, batch, lr, momentum, optimizer, decay, mu, clip, seed):
    settings = TrainSettings(epochs, batch, lr, momentum, optimizer, decay, mu, clip, seed)
    config = settings.to_config() | settings.seed_config(seed) | {PROXIMAL_MU: mu}
    assert TrainSettings.from_config(config) == settings


def test_proximal_mu_absent_means_no_proximal_term():
    config = TrainSettings().to_config() | TrainSettings.seed_config(3)
    assert TrainSettings.from_config(config) == TrainSettings(seed=3)


@pytest.mark.parametrize(
    "key", ["epochs", "batch_size", "lr", "momentum", "optimizer", "weight_decay", "max_grad_norm", "seed"]
)
def test_a_missing_key_is_named(key):
    config = TrainSettings().to_config() | TrainSettings.seed_config(0)
    del config[key]
    with pytest.raises(ValueError, match=key):
        TrainSettings.from_config(config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", "32"),
        ("lr", None),
        ("lr", False),
        ("optimizer", 1),
        ("max_grad_norm", "5"),
        ("seed", 1.0),
        ("proximal_mu", None),
    ],
)
def test_a_mistyped_key_is_named(key, value):
    config = TrainSettings().to_config() | TrainSettings.seed_config(0) | {key: value}
    with pytest.raises(ValueError, match=key):
        TrainSettings.from_config(config)


def test_every_field_travels():
    """A field added to TrainSettings must get a wire key (or be documented as per-site) to pass."""
    settings = TrainSettings(
        train_part=TrainPart.HEAD, init_model_sha256=INIT, class_weights=(1.0, 2.0), norm_bound=0.5
    )
    config = settings.to_config() | TrainSettings.seed_config(0) | {PROXIMAL_MU: 0.0}
    assert set(config) == {f.name for f in dataclasses.fields(TrainSettings)}


INIT = "ab" * 32


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_defaults_of_the_new_keys_leave_the_wire_format_as_it_was(strategy):
    """`[model] train = "all"` and no `init` file: the task config (and so the task hash) is unchanged."""
    settings = TrainSettings.from_strategy(strategy, train_part=TrainPart.ALL, init_model_sha256=None)
    assert canonical_bytes(settings.to_config()) == canonical_bytes(_before(strategy))


def test_the_new_keys_travel_only_when_set_and_read_back():
    settings = TrainSettings.from_strategy(STRATEGIES[0], train_part=TrainPart.HEAD, init_model_sha256=INIT)
    config = settings.to_config()
    assert config["train_part"] == "head" and config["init_model_sha256"] == INIT
    assert list(config)[-2:] == ["train_part", "init_model_sha256"]
    assert TrainSettings.from_config(config | TrainSettings.seed_config(0)) == settings
    head_only = dataclasses.replace(settings, init_model_sha256=None).to_config()
    assert "init_model_sha256" not in head_only and head_only["train_part"] == "head"


def test_norm_bound_travels_only_when_set_and_reads_back():
    assert "norm_bound" not in TrainSettings().to_config()
    bounded = TrainSettings(norm_bound=0.25)
    config = bounded.to_config()
    assert config["norm_bound"] == 0.25
    assert TrainSettings.from_config(config | TrainSettings.seed_config(0)) == bounded
    with pytest.raises(ValueError, match="norm_bound"):
        TrainSettings(norm_bound=0.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("train_part", "body"), ("train_part", 1), ("init_model_sha256", "xyz"), ("init_model_sha256", None)],
)
def test_a_bad_new_key_is_named(key, value):
    config = TrainSettings().to_config() | TrainSettings.seed_config(0) | {key: value}
    with pytest.raises(ValueError, match=key):
        TrainSettings.from_config(config)


# --- class weights (issue 12) ---

CLASSES = {"classes": ["no", "yes"]}


def test_class_weights_travel_only_when_set_and_read_back():
    assert "class_weights" not in TrainSettings().to_config()
    settings = TrainSettings.from_strategy(STRATEGIES[0], class_weights=(0.5, 5.0))
    config = settings.to_config()
    assert config["class_weights"] == [0.5, 5.0] and list(config)[-1] == "class_weights"
    assert TrainSettings.from_config(config | TrainSettings.seed_config(0) | CLASSES) == settings


@given(st.lists(st.floats(1e-6, 1e6), min_size=2, max_size=2))
def test_class_weights_round_trip_property(weights):
    settings = TrainSettings(class_weights=tuple(weights))
    config = settings.to_config() | TrainSettings.seed_config(0) | CLASSES
    assert TrainSettings.from_config(config) == settings


@pytest.mark.parametrize(
    "value",
    [
        [1.0],
        [1.0, 2.0, 3.0],
        [1.0, 0.0],
        [1.0, -2.0],
        [1.0, float("nan")],
        [1.0, float("inf")],
        [1.0, True],
        [1.0, "2"],
        "1,2",
        None,
        [],
    ],
)
def test_bad_class_weights_are_named(value):
    config = TrainSettings().to_config() | TrainSettings.seed_config(0) | CLASSES | {"class_weights": value}
    with pytest.raises(ValueError, match="class_weights"):
        TrainSettings.from_config(config)


def test_class_weights_need_the_class_list_and_positive_values_in_the_dataclass():
    config = TrainSettings().to_config() | TrainSettings.seed_config(0) | {"class_weights": [1.0, 2.0]}
    with pytest.raises(ValueError, match="classes"):
        TrainSettings.from_config(config)
    with pytest.raises(ValueError, match="class_weights"):
        TrainSettings(class_weights=(1.0, 0.0))
