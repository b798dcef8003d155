"""`[model] init` and `[model] train`: the init path is relative to the federation file like site data,
`train` takes "all" or "head", and a config without them (or with their defaults) keeps the hash it had
before they existed (pinned: computed with the config module of the commit before them)."""

from pathlib import Path

import pytest

from fedward.config import TrainPart, parse_config
from fedward.errors import ConfigError

SOURCE = Path("/fed/federation.toml")
PINNED = "b02a342a5e16e8ec5006f8e022da855faec3b9b9f3844f5a7df08da3929c12cc"


def _raw(**model: object) -> dict:
    return {
        "federation": {"task": "documents", "rounds": 4, "seed": 11},
        "model": {"name": "doc-cnn", "channels": [8, 16], **model},
        "sites": [{"name": "a", "train": "a/train", "test": "a/test"}],
    }


def test_a_config_without_the_new_keys_keeps_its_hash():
    cfg = parse_config(_raw(), source=SOURCE)
    assert cfg.model.init is None and cfg.model.train is TrainPart.ALL
    assert cfg.sha256() == PINNED
    assert parse_config(_raw(train="all"), source=SOURCE).sha256() == PINNED


def test_the_new_keys_change_the_hash_when_set():
    head = parse_config(_raw(train="head"), source=SOURCE)
    init = parse_config(_raw(init="base.safetensors"), source=SOURCE)
    assert len({PINNED, head.sha256(), init.sha256()}) == 3


def test_the_init_path_is_relative_to_the_federation_file():
    cfg = parse_config(_raw(init="models/base.safetensors"), source=SOURCE)
    assert cfg.model.init == Path("/fed/models/base.safetensors").resolve()


def test_an_unknown_train_part_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"\[model\] 'train'") as info:
        parse_config(_raw(train="body"), source=SOURCE)
    assert info.value.where == str(SOURCE)
