"""`[release]` gates in the federation file: optional, strict, paths relative to the file, and no change to
the config hash of files without the section."""

import tomllib
from pathlib import Path

import pytest

from fedward.config import parse_config
from fedward.errors import ConfigError

BASE = """
[federation]
task = "tabular"
rounds = 30
seed = 7
[data]
label = "target"
[model]
name = "logistic"
[strategy]
name = "fedavg"
local_epochs = 1
[[sites]]
name = "st_marys"
train = "data/st_marys_train.csv"
test = "data/st_marys_test.csv"
"""
SOURCE = Path("/fixed/federation.toml")
# BASE's hash before [release] existed (computed with the code of commit e2ad6a7)
HASH_BEFORE_RELEASE = "23d34ed1f05b078755025c6541cc6610bd6bf20557881495ef72ef9c76c169bf"


def _parse(extra: str = ""):
    return parse_config(tomllib.loads(BASE + extra), source=SOURCE)


def test_a_file_without_release_keeps_its_config_hash():
    cfg = _parse()
    assert not cfg.release.gated
    assert cfg.sha256() == HASH_BEFORE_RELEASE
    assert _parse("[release]\n").sha256() == HASH_BEFORE_RELEASE  # an empty table is no gate either


def test_gates_parse_and_change_the_hash_with_paths_relative_to_the_file():
    cfg = _parse(
        "[release]\nmin_site_accuracy = 0.8\nmax_site_gap = 0.1\nmin_sites = 1\nmax_regression = 0.02\n"
        'baseline = "prev/releases/final"\nbaseline_key = "prev/keys/coordinator.pub"\n'
    )
    r = cfg.release
    assert r.gated and r.min_site_accuracy == 0.8 and r.max_regression == 0.02
    assert r.baseline == Path("/fixed/prev/releases/final")
    assert r.baseline_key == Path("/fixed/prev/keys/coordinator.pub")
    assert cfg.sha256() != HASH_BEFORE_RELEASE


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("min_site_acuracy = 0.9\n", "unknown key [release] 'min_site_acuracy'"),
        ("min_site_accuracy = 1.01\n", "[release] 'min_site_accuracy'"),
        ("max_site_gap = -0.1\n", "[release] 'max_site_gap'"),
        ("min_sites = 0\n", "[release] 'min_sites'"),
        ("max_ece = 1.5\n", "[release] 'max_ece'"),
        ("min_sites = 2\n", "'min_sites'=2 but only 1 sites are listed"),
        ("max_epsilon = 3.0\n", "'max_epsilon' needs [privacy] dp"),
        ("max_regression = 0.01\n", "needs both 'max_regression' and 'baseline'"),
        ('baseline = "prev"\n', "needs both 'max_regression' and 'baseline'"),
        ('min_sites = 1\nbaseline_key = "k.pub"\n', "'baseline_key' has no effect without 'baseline'"),
    ],
)
def test_bad_gates_are_config_errors_naming_the_key(extra, message):
    with pytest.raises(ConfigError) as err:
        _parse("[release]\n" + extra)
    assert message in str(err.value) and err.value.where == str(SOURCE)


def test_max_epsilon_is_accepted_with_differential_privacy():
    cfg = _parse('[privacy]\ndp = "record"\ntarget_epsilon = 3.0\n[release]\nmax_epsilon = 3.5\n')
    assert cfg.release.max_epsilon == 3.5
