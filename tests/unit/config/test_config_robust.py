"""`[strategy]` robust rules, `norm_bound` and `[[attacks]]`: what is read, what is refused (naming the key),
and that configs without them keep their hash."""

from pathlib import Path

import pytest

from fedward.config import load_config
from fedward.errors import ConfigError

HEAD = """
[federation]
task = "tabular"
[model]
name = "logistic"
"""


def _sites(n: int) -> str:
    return "".join(
        f'[[sites]]\nname = "s{i}"\ntrain = "s{i}_train.csv"\ntest = "s{i}_test.csv"\n' for i in range(n)
    )


def _load(tmp_path: Path, extra: str, sites: int = 5):
    p = tmp_path / "federation.toml"
    p.write_text(HEAD + extra + _sites(sites))
    return load_config(p)


def test_hash_of_a_config_without_the_new_keys_is_unchanged(tmp_path):
    plain = _load(tmp_path, "")
    assert plain.sha256() == _load(tmp_path, "[strategy]\ntrim_fraction = 0.1\nclip_tau = 1.0\n").sha256()
    assert plain.sha256() != _load(tmp_path, "[strategy]\nnorm_bound = 1.0\n").sha256()


@pytest.mark.parametrize(
    ("extra", "sites"),
    [
        ('[strategy]\nname = "trimmed_mean"\ntrim_fraction = 0.2\nbyzantine_sites = 1\n', 5),
        ('[strategy]\nname = "krum"\nbyzantine_sites = 1\n', 5),
        ('[strategy]\nname = "multikrum"\nbyzantine_sites = 1\nmultikrum_m = 4\n', 5),
        ('[strategy]\nname = "centered_clip"\nclip_tau = 0.5\nclip_iterations = 2\nbyzantine_sites = 2\n', 5),
        ('[strategy]\nname = "fedavg"\nnorm_bound = 2.0\n[privacy]\nsecure_aggregation = true\n', 3),
    ],
)
def test_accepted(tmp_path, extra, sites):
    _load(tmp_path, extra, sites)


SECURE = "[privacy]\nsecure_aggregation = true\n"


@pytest.mark.parametrize(
    ("extra", "sites", "message"),
    [
        *[
            (
                f'[strategy]\nname = "{rule}"\nbyzantine_sites = 1\n{more}' + SECURE,
                9,
                "which secure aggregation hides",
            )
            for rule, more in [
                ("trimmed_mean", "trim_fraction = 0.2\n"),
                ("krum", ""),
                ("multikrum", "multikrum_m = 3\n"),
                ("centered_clip", ""),
            ]
        ],
        ('[strategy]\nname = "krum"\n', 9, "[strategy]: 'name' = 'krum' needs 'byzantine_sites'"),
        ('[strategy]\nname = "multikrum"\nbyzantine_sites = 1\n', 9, "needs 'multikrum_m'"),
        ('[strategy]\nname = "krum"\nbyzantine_sites = 2\n', 6, "at least 2f + 3 = 7 sites"),
        ('[strategy]\nname = "multikrum"\nbyzantine_sites = 2\nmultikrum_m = 6\n', 7, "'multikrum_m' = 6"),
        ('[strategy]\nname = "trimmed_mean"\ntrim_fraction = 0.1\nbyzantine_sites = 1\n', 5, "trims 0 of 5"),
        ('[strategy]\nname = "trimmed_mean"\ntrim_fraction = 0.5\n', 5, "'trim_fraction'"),
        ('[strategy]\nname = "centered_clip"\nbyzantine_sites = 3\n', 6, "fewer than half"),
        ("[strategy]\nnorm_bound = 0\n", 3, "[strategy] 'norm_bound'"),
        ("[strategy]\nmultikrum_m = 2\n", 3, "'multikrum_m' has no effect"),
        ('[[attacks]]\nsite = "nowhere"\nkind = "scale"\n', 3, "[[attacks]] #1 'site'"),
        ('[[attacks]]\nsite = "s0"\nkind = "teleport"\n', 3, "[[attacks]] #1 (s0) 'kind'"),
        (
            '[[attacks]]\nsite = "s0"\nkind = "scale"\n[[attacks]]\nsite = "s0"\nkind = "gaussian"\n',
            3,
            "one attack",
        ),
        (
            '[[attacks]]\nsite = "s0"\nkind = "scale"\n[deployment]\ncoordinator = "https://c.example:8443"\n',
            3,
            "[[attacks]] poison updates for robustness simulations only",
        ),
    ],
)
def test_refused_naming_the_key(tmp_path, extra, sites, message):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, extra, sites)
    assert message in str(err.value)
    assert str(err.value.where).endswith("federation.toml")


def test_attacks_are_read(tmp_path):
    cfg = _load(tmp_path, '[[attacks]]\nsite = "s1"\nkind = "alie"\nfrom_round = 2\n', 3)
    (a,) = cfg.attacks
    assert (a.site, a.kind, a.from_round, a.scale) == ("s1", "alie", 2, None)
