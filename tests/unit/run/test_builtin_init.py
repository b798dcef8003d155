"""`[model] init = "builtin:NAME"`: a shipped base model, named the same on every machine (the `[model]`
settings do not depend on where the config or the package is), hash-checked against its card when the run
reads it."""

from pathlib import Path

import pytest

from fedward.config import parse_config
from fedward.errors import ConfigError
from fedward.models.builtin import builtin_model
from fedward.run.plan import init_model_for

SOURCE = Path("/fed/federation.toml")


def _cfg(init: str, source: Path = SOURCE):
    raw = {
        "federation": {"task": "documents", "rounds": 1, "seed": 1},
        "model": {"name": "doc-cnn", "channels": [8, 16, 32], "hidden": [32], "init": init},
        "sites": [{"name": "a", "train": "a/train", "test": "a/test"}],
    }
    return parse_config(raw, source=source)


def test_a_builtin_is_read_from_the_package_with_its_card_hash():
    cfg = _cfg("builtin:doc-encoder")
    assert str(cfg.model.init) == "builtin:doc-encoder"  # not resolved against the config's folder
    elsewhere = _cfg("builtin:doc-encoder", Path("/elsewhere/federation.toml"))
    assert elsewhere.model.model_dump(mode="json") == cfg.model.model_dump(mode="json")
    init = init_model_for(cfg)
    path, card = builtin_model("doc-encoder")
    assert init is not None and init.path == path
    assert init.sha256 == card["weights"]["sha256"]


def test_an_unknown_builtin_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown built-in model 'builtin:nope'"):
        init_model_for(_cfg("builtin:nope"))


def test_a_file_path_still_resolves_against_the_config(tmp_path: Path):
    cfg = _cfg("base.safetensors", tmp_path / "federation.toml")
    assert cfg.model.init == (tmp_path / "base.safetensors").resolve()
    with pytest.raises(ConfigError, match="cannot be read"):
        init_model_for(cfg)  # power check: a path is a file, and this one is missing
