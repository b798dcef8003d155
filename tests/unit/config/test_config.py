from pathlib import Path

import pytest

from fedward.config import load_config
from fedward.errors import ConfigError

GOOD = """
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


def _cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "federation.toml"
    p.write_text(text)
    return p


def test_issue_example_parses_with_paths_relative_to_the_file(tmp_path):
    cfg = load_config(_cfg(tmp_path, GOOD))
    assert cfg.federation.rounds == 30 and cfg.strategy.name == "fedavg"
    assert cfg.sites[0].train == tmp_path.resolve() / "data/st_marys_train.csv"


def test_config_hash_is_stable_and_sensitive(tmp_path):
    a = load_config(_cfg(tmp_path, GOOD)).sha256()
    assert a == load_config(_cfg(tmp_path, GOOD)).sha256()
    assert a != load_config(_cfg(tmp_path, GOOD.replace("seed = 7", "seed = 8"))).sha256()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ("local_epochs = 1", "local_epochs = 1\nlearning_rat = 0.1"),
            r"unknown key \[strategy\] 'learning_rat'",
        ),
        (("[data]", "[datta]"), r"unknown key \[datta\]"),
        (('name = "logistic"', 'name = "resnet"'), r"\[model\] 'name'"),
        (("rounds = 30", "rounds = 0"), r"\[federation\] 'rounds'"),
        (('train = "data/st_marys_train.csv"\n', ""), r"missing key \[\[sites\]\] #1 \(st_marys\) 'train'"),
        (('task = "tabular"', 'task = "documents"'), "does not fit task"),
        (("seed = 7", "seed = 7\nmin_sites = 3"), "min_sites=3 but only 1 sites"),
        (("rounds = 30", "rounds = ["), "not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, change, match):
    path = _cfg(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError, match=match) as err:
        load_config(path)
    assert str(path) in err.value.render()


def test_duplicate_site_names(tmp_path):
    text = GOOD + '[[sites]]\nname = "st_marys"\ntrain = "a.csv"\ntest = "b.csv"\n'
    with pytest.raises(ConfigError, match="duplicate site names: st_marys"):
        load_config(_cfg(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


DEPLOYED = GOOD + '[deployment]\ncoordinator = "https://coordinator.example.org:8443"\n'


def test_deployment_table_parses_and_normalizes_the_url(tmp_path):
    cfg = load_config(_cfg(tmp_path, DEPLOYED.replace(":8443", ":8443/")))
    assert cfg.deployment is not None and cfg.deployment.coordinator == "https://coordinator.example.org:8443"
    assert cfg.deployment.database is None


@pytest.mark.parametrize(
    ("coordinator", "database", "match"),
    [
        ("http://h:1", None, r"\[deployment\] 'coordinator': must be an https:// URL"),
        ("https://h", None, r"\[deployment\] 'coordinator': must name a host and a port"),
        ("https://h:1/api", None, r"must be just https://HOST:PORT"),
        (
            "https://h:1",
            "postgresql://u:secret@db/fedward",
            r"\[deployment\] 'database': must not contain a password",
        ),
    ],
)
def test_bad_deployment_tables_name_the_key(tmp_path, coordinator, database, match):
    text = GOOD + f'[deployment]\ncoordinator = "{coordinator}"\n'
    if database is not None:
        text += f'database = "{database}"\n'
    with pytest.raises(ConfigError, match=match):
        load_config(_cfg(tmp_path, text))


def test_a_database_without_a_password_is_accepted(tmp_path):
    cfg = load_config(_cfg(tmp_path, DEPLOYED + 'database = "postgresql://fedward@db.internal/fedward"\n'))
    assert (
        cfg.deployment is not None and cfg.deployment.database == "postgresql://fedward@db.internal/fedward"
    )


def test_privacy_unit_and_patient_column_parse_and_are_checked():
    from fedward.config import PrivacyUnit, parse_config

    raw = {
        "federation": {"task": "tabular"},
        "data": {"patient_column": "pid"},
        "model": {"name": "logistic"},
        "privacy": {"dp": "record", "unit": "patient", "target_epsilon": 3.0},
        "sites": [{"name": "a", "train": "a.csv", "test": "b.csv"}],
    }
    source = Path("/fed/federation.toml")
    cfg = parse_config(raw, source=source)
    assert cfg.privacy.unit == PrivacyUnit.PATIENT and cfg.data.patient_column == "pid"
    record = parse_config({**raw, "privacy": {"dp": "record", "target_epsilon": 3.0}}, source=source)
    assert record.privacy.unit == PrivacyUnit.RECORD and record.sha256() != cfg.sha256()
    with pytest.raises(ConfigError, match="unit = 'patient' needs dp = 'record'"):
        parse_config({**raw, "privacy": {"unit": "patient"}}, source=source)
    with pytest.raises(ConfigError, match="patient_column' is for tabular data"):
        parse_config(
            {**raw, "federation": {"task": "documents"}, "model": {"name": "doc-cnn"}, "privacy": {}},
            source=source,
        )
