"""`[compression]`: the kinds, their settings, the hash of configs without it, and the pairs refused."""

from pathlib import Path

import pytest

from fedward.config import load_config
from fedward.errors import ConfigError

BASE = """
[federation]
task = "tabular"
[model]
name = "logistic"
[[sites]]
name = "a"
train = "a_train.csv"
test = "a_test.csv"
"""


def _load(tmp_path: Path, extra: str):
    p = tmp_path / "federation.toml"
    p.write_text(BASE + extra)
    return load_config(p)


def test_default_is_none_and_leaves_the_hash_as_it_was(tmp_path):
    plain = _load(tmp_path, "")
    assert plain.compression.kind == "none" and plain.compression.topk_fraction == 0.01
    assert plain.sha256() == _load(tmp_path, '[compression]\nkind = "none"\n').sha256()
    assert plain.sha256() != _load(tmp_path, '[compression]\nkind = "int8"\n').sha256()


def test_topk_fraction_is_read(tmp_path):
    cfg = _load(tmp_path, '[compression]\nkind = "topk"\ntopk_fraction = 0.05\n')
    assert cfg.compression.kind == "topk" and cfg.compression.topk_fraction == 0.05


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('[compression]\nkind = "zip"\n', r"\[compression\] 'kind'"),
        ('[compression]\nkind = "topk"\ntopk_fraction = 0\n', r"\[compression\] 'topk_fraction'"),
        ('[compression]\nkind = "topk"\ntopk_fraction = 1.5\n', r"\[compression\] 'topk_fraction'"),
        ('[compression]\nkinds = "int8"\n', r"unknown key \[compression\] 'kinds'"),
        (
            '[compression]\nkind = "topk"\n[privacy]\nsecure_aggregation = true\n',
            "'topk' does not work with \\[privacy\\] secure_aggregation: each site keeps different",
        ),
        (
            '[compression]\nkind = "int8"\n[privacy]\nsecure_aggregation = true\n',
            "'int8' does not work with \\[privacy\\] secure_aggregation: the masked update is a vector in",
        ),
    ],
)
def test_bad_compression_settings_name_the_key(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, extra)


def test_compression_with_dp_is_accepted(tmp_path):  # post-processing of a DP output (docs/privacy.md)
    site = _load(tmp_path, '[compression]\nkind = "topk"\n[privacy]\ndp = "site"\nnoise_multiplier = 1.0\n')
    record = _load(
        tmp_path, '[compression]\nkind = "int8"\n[privacy]\ndp = "record"\nnoise_multiplier = 1.0\n'
    )
    assert site.compression.kind == "topk" and record.compression.kind == "int8"
