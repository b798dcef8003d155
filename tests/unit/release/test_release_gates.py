"""The release gate evaluator: every gate passes and fails on purpose (each with the same figures on the
other side of its threshold, so a failure is the threshold's doing), a gate with nothing to measure fails,
and the baseline's signature is checked before its figures count (attack: a baseline whose figures were
lowered and re-signed would let a regressing model through; power check: without the check it does)."""

from pathlib import Path

import pytest
from release_harness import KEY, OTHER_KEY, publish, resign

from fedward.config import ReleaseConfig
from fedward.crypto import key_id, public_key_pem
from fedward.errors import ConfigError
from fedward.release import gates as gates_module
from fedward.release.gates import (
    GateResult,
    ReleaseGates,
    evaluate_gates,
    failed_gates,
    gates_passed,
    load_baseline,
    release_gates,
)
from fedward.release.verify import verify_release

SITES = {
    "a": {"accuracy": 0.90, "macro_f1": 0.85, "ece": 0.04},
    "b": {"accuracy": 0.80, "macro_f1": 0.70, "ece": 0.03},
    "c": {"accuracy": 0.85, "macro_f1": 0.80, "ece": 0.12},
}
EPSILONS = {"a": 1.5, "b": 2.5, "c": 2.0}


def _one(name: str, threshold: float, sites=SITES, epsilons=EPSILONS, baseline=None) -> GateResult:
    paths = {} if baseline is None else {"baseline": Path(baseline.path)}
    gates = ReleaseGates.from_config(ReleaseConfig(**{name: threshold, **paths}), baseline)
    assert gates is not None
    [result] = evaluate_gates(gates, sites, epsilons)
    return result


# gate -> (the value measured on SITES/EPSILONS, the site it comes from, a threshold it passes, one it fails)
CASES = {
    "min_site_accuracy": (0.80, "b", 0.80, 0.81),
    "min_site_macro_f1": (0.70, "b", 0.65, 0.75),
    "max_site_gap": (0.10, None, 0.10, 0.09),
    "max_epsilon": (2.5, "b", 2.5, 2.4),
    "min_sites": (3.0, None, 3, 4),
    "max_ece": (0.12, "c", 0.12, 0.11),  # the worst-calibrated site's expected calibration error
}


@pytest.mark.parametrize("name", CASES)
def test_each_gate_passes_and_fails_on_the_same_figures(name):
    value, site, passing, failing = CASES[name]
    passed = _one(name, passing)
    assert passed.passed and passed.value == pytest.approx(value) and passed.site == site
    failed = _one(name, failing)
    assert not failed.passed and failed.value == pytest.approx(value)
    assert name in failed.describe() and (site is None or f"({site})" in failed.describe())


def _baseline(tmp_path: Path, metrics) -> gates_module.Baseline:
    folder = publish(tmp_path / "releases", "final", site_metrics=metrics)
    return load_baseline(folder, KEY.public, key_source="the test key")


def test_max_regression_is_the_largest_drop_at_a_site_both_evaluated(tmp_path):
    old = {"a": {"accuracy": 0.91}, "b": {"accuracy": 0.86}, "gone": {"accuracy": 0.99}}
    baseline = _baseline(tmp_path, old)
    ok = _one("max_regression", 0.06, baseline=baseline)
    assert ok.passed and ok.value == pytest.approx(0.06) and ok.site == "b"  # "gone" did not evaluate
    bad = _one("max_regression", 0.05, baseline=baseline)
    assert not bad.passed and bad.site == "b"


def test_a_gate_with_nothing_to_measure_fails():
    for name in ("min_site_accuracy", "min_site_macro_f1", "max_site_gap"):
        result = _one(name, 0.0, sites={})
        assert not result.passed and result.value is None
        assert "nothing to measure" in result.describe()
    assert not _one("max_epsilon", 100.0, epsilons={}).passed
    assert not _one("max_epsilon", 100.0, epsilons={"a": float("inf")}).passed
    assert not _one("min_sites", 1, sites={}).passed
    assert not _one("max_ece", 1.0, sites={"a": {"accuracy": 0.9}}).passed  # no site reported an ECE


def test_results_go_together_and_say_which_failed():
    gates = ReleaseGates.from_config(ReleaseConfig(min_site_accuracy=0.85, min_sites=2))
    assert gates is not None
    results = evaluate_gates(gates, SITES, EPSILONS)
    assert [r.name for r in results] == ["min_site_accuracy", "min_sites"]
    assert not gates_passed(results) and [r.name for r in failed_gates(results)] == ["min_site_accuracy"]
    assert results[0].to_json() == {
        "name": "min_site_accuracy", "threshold": 0.85, "value": 0.80, "passed": False, "site": "b"
    }  # fmt: skip
    assert ReleaseGates.from_config(ReleaseConfig()) is None
    assert release_gates(ReleaseConfig(), KEY.public) is None


# --- the baseline: verified with a pinned key before its figures count


def _lowered(tmp_path: Path) -> tuple[Path, ReleaseConfig]:
    """A real baseline (site b at 0.95), then its figures lowered and re-signed by another key, with that
    key's coordinator.pub put beside it: what an attacker who can write the folder but not use the
    coordinator's key would do, so that a model which lost 15 points at b passes `max_regression`."""
    folder = publish(tmp_path / "releases", "final", site_metrics={"b": {"accuracy": 0.95}})

    def lower(record):
        record["site_metrics"] = {"b": {"accuracy": 0.80}}
        record["coordinator_key_id"] = key_id(OTHER_KEY.public)

    resign(folder, OTHER_KEY, lower, replace_key=True)
    return folder, ReleaseConfig(max_regression=0.01, baseline=folder)


def test_a_baseline_re_signed_by_another_key_is_refused(tmp_path):
    _folder, config = _lowered(tmp_path)
    with pytest.raises(ConfigError) as err:
        release_gates(config, KEY.public)
    message = err.value.render()
    assert "[release] 'baseline'" in message and "this federation's coordinator key" in message
    assert "not by the pinned key" in message and "baseline_key" in message


def test_power_check_unverified_the_lowered_baseline_lets_the_regression_through(tmp_path, monkeypatch):
    _folder, config = _lowered(tmp_path)
    # the defence off: trust the folder's own key, as an unpinned verification would
    monkeypatch.setattr(gates_module, "verify_release", lambda path, key: verify_release(path, None))
    gates = release_gates(config, KEY.public)
    assert gates is not None
    [result] = evaluate_gates(gates, {"b": {"accuracy": 0.80}}, {})
    assert result.passed  # the regression from 0.95 to 0.80 got through


def test_a_changed_baseline_is_refused_even_with_its_key_given(tmp_path):
    folder = publish(tmp_path / "releases", "final", site_metrics={"b": {"accuracy": 0.95}})
    key_file = tmp_path / "coordinator.pub"
    key_file.write_bytes(public_key_pem(KEY.public))
    config = ReleaseConfig(max_regression=0.01, baseline=folder, baseline_key=key_file)
    gates = release_gates(config, OTHER_KEY.public)  # baseline_key wins over the federation's key
    assert gates is not None and gates.baseline is not None
    assert gates.baseline.site_metrics["b"]["accuracy"] == 0.95
    record = folder / "release.json"
    record.write_bytes(record.read_bytes().replace(b"0.95", b"0.5"))
    with pytest.raises(ConfigError, match="signature does not verify"):
        release_gates(config, OTHER_KEY.public)
    with pytest.raises(ConfigError, match="release folder not found"):
        release_gates(ReleaseConfig(max_regression=0.01, baseline=tmp_path / "nope"), KEY.public)
    with pytest.raises(ConfigError, match="'baseline_key'"):
        release_gates(config.model_copy(update={"baseline_key": tmp_path / "missing.pub"}), KEY.public)
