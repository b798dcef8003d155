"""`[validation]` in the federation file: tiers, target accuracy and the small-cell size; strict, and
no change to the config hash of files that leave it (or the max_ece gate) out."""

import tomllib

import pytest
from test_config_release import BASE, SOURCE

from fedward.config import parse_config
from fedward.errors import ConfigError


def _parse(extra: str = ""):
    return parse_config(tomllib.loads(BASE + extra), source=SOURCE)


def test_defaults_and_the_hash_of_files_without_the_section() -> None:
    plain = _parse()
    v = plain.validation
    assert (v.tiers, v.target_accuracy, v.min_cell) == ({}, 0.95, 20)
    assert _parse("[validation]\n").sha256() == plain.sha256()
    assert _parse("[validation]\nmin_cell = 30\n").sha256() != plain.sha256()
    assert _parse("[release]\nmax_ece = 0.1\n").sha256() != _parse("[release]\nmin_sites = 1\n").sha256()


def test_tiers_parse() -> None:
    cfg = _parse('[validation]\ntiers = { critical = ["pathology"], routine = ["lab", "referral"] }\n')
    assert cfg.validation.tiers == {"critical": ["pathology"], "routine": ["lab", "referral"]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('tiers = { a = ["x"], b = ["x"] }\n', "class 'x' is in both 'a' and 'b'"),
        ("tiers = { a = [] }\n", "'tiers.a' lists no class"),
        ("target_accuracy = 1.5\n", "[validation] 'target_accuracy'"),
        ("min_cell = 0\n", "[validation] 'min_cell'"),
        ("min_cells = 5\n", "unknown key [validation] 'min_cells'"),
    ],
)
def test_bad_validation_settings_are_config_errors(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse("[validation]\n" + extra)
    assert message in str(err.value) and err.value.where == str(SOURCE)
