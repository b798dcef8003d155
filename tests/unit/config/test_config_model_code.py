"""`[model] code`: the user's own model file instead of a built-in `name` (exactly one of the two), its
path relative to the federation file; configs without it keep the hash they had."""

from pathlib import Path

import pytest

from fedward.config import parse_config
from fedward.errors import ConfigError

SOURCE = Path("/fed/federation.toml")
PINNED = "b02a342a5e16e8ec5006f8e022da855faec3b9b9f3844f5a7df08da3929c12cc"  # test_config_model_init.py


def _raw(task: str = "tabular", **model: object) -> dict:
    return {
        "federation": {"task": task, "rounds": 4, "seed": 11},
        "model": model,
        "sites": [{"name": "a", "train": "a/train", "test": "a/test"}],
    }


def test_the_code_path_is_relative_to_the_federation_file_for_either_task():
    for task in ("tabular", "documents"):
        cfg = parse_config(_raw(task, code="models/my_model.py"), source=SOURCE)
        assert cfg.model.code == Path("/fed/models/my_model.py") and cfg.model.name is None


@pytest.mark.parametrize("model", [{}, {"name": "logistic", "code": "m.py"}])
def test_exactly_one_of_name_or_code_naming_the_file_and_both_keys(model):
    with pytest.raises(ConfigError, match=r"\[model\] needs exactly one of 'name' .* or 'code'") as info:
        parse_config(_raw(**model), source=SOURCE)
    assert info.value.where == str(SOURCE)


def test_a_config_without_code_keeps_its_hash():
    raw = _raw("documents", name="doc-cnn", channels=[8, 16])
    assert parse_config(raw, source=SOURCE).sha256() == PINNED
