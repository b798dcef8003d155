"""`fedward simulate` with `[privacy]`: secure aggregation equal to the plain sum, dropouts at every stage,
a clean abort below the threshold, record- and site-level DP accounting, the hard budget, and the
configurations that must be refused."""

import json
from pathlib import Path

import numpy as np
import pytest
from federations import run_cli, tabular_federation
from safetensors.numpy import load_file

SECURE = "[privacy]\nsecure_aggregation = true\n"


def _simulate(cfg: Path, out: Path, *extra: str) -> dict:
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines", *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def _model(out: Path) -> dict[str, np.ndarray]:
    return load_file(str(out / "model" / "global.safetensors"))


def _rounds(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _fault(site: str, rnd: int, stage: str) -> str:
    return f'[[faults]]\nsite = "{site}"\nround = {rnd}\nstage = "{stage}"\n'


def test_secure_aggregation_equals_the_plain_run_within_the_quantization_step(tmp_path):
    plain = _simulate(tabular_federation(tmp_path / "a", rounds=1), tmp_path / "plain")
    secure = _simulate(tabular_federation(tmp_path / "b", rounds=1, extra=SECURE), tmp_path / "secure")
    assert secure["privacy"]["secure_aggregation"]["enabled"] is True
    assert plain["privacy"]["secure_aggregation"]["enabled"] is False
    a, b = _model(tmp_path / "plain"), _model(tmp_path / "secure")
    # each site's weighted term is rounded to 2^-24, the sum is exact in the ring, the mean divides by
    # the weight sum (at least the largest site's weight, 1): |error| <= sites * 2^-25 + float32 rounding
    bound = 3 * 2.0**-25 + 1e-6
    for k in a:
        assert np.max(np.abs(a[k] - b[k])) <= bound
    assert any(np.max(np.abs(a[k] - b[k])) > 0 for k in a)  # it really went through the fixed-point path


def test_secure_aggregation_multi_round_tracks_the_plain_run(tmp_path):
    _simulate(tabular_federation(tmp_path / "a", rounds=4), tmp_path / "plain")
    _simulate(tabular_federation(tmp_path / "b", rounds=4, extra=SECURE), tmp_path / "secure")
    a, b = _model(tmp_path / "plain"), _model(tmp_path / "secure")
    assert all(np.max(np.abs(a[k] - b[k])) < 1e-4 for k in a)


@pytest.mark.parametrize("stage", ["before_train", "before_upload", "after_upload"])
def test_a_dropout_at_each_stage_is_recovered(tmp_path, stage):
    cfg = tabular_federation(tmp_path, rounds=2, sites=4, extra=SECURE + _fault("site_01", 2, stage))
    summary = _simulate(cfg, tmp_path / "run")
    assert summary["rounds_completed"] == 2
    second = _rounds(tmp_path / "run")[1]
    secagg = second["secure_aggregation"]
    if stage == "before_train":
        assert secagg["contributors"] == 3 and secagg["recovered"] == 0
        assert second["replies"]["site_01"]["status"] == "timeout"
    elif stage == "before_upload":
        assert secagg["contributors"] == 3 and secagg["recovered"] == 1
        assert "pairwise masks were removed" in second["replies"]["site_01"]["error"]
    else:
        assert secagg["contributors"] == 4 and secagg["recovered"] == 1
        assert second["replies"]["site_01"]["status"] == "ok"
        assert "self mask was rebuilt" in second["replies"]["site_01"]["error"]
    recovered = summary["privacy"]["secure_aggregation"]["dropouts_recovered"]
    assert recovered == (0 if stage == "before_train" else 1)


def test_dropped_site_after_upload_still_counts_exactly(tmp_path):
    """After-upload dropout: its update is in the sum, so the model equals the no-fault run's."""
    _simulate(tabular_federation(tmp_path / "a", rounds=1, sites=4, extra=SECURE), tmp_path / "clean")
    faulty = SECURE + _fault("site_02", 1, "after_upload")
    _simulate(tabular_federation(tmp_path / "b", rounds=1, sites=4, extra=faulty), tmp_path / "faulty")
    a, b = _model(tmp_path / "clean"), _model(tmp_path / "faulty")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_fewer_than_threshold_sites_abort_cleanly_with_no_output(tmp_path, capsys):
    extra = "[privacy]\nsecure_aggregation = true\nthreshold = 1.0\n" + _fault("site_00", 1, "before_upload")
    cfg = tabular_federation(tmp_path, rounds=2, extra=extra)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    assert "secure aggregation aborted" in capsys.readouterr().err
    assert not out.exists()


def test_record_level_dp_accounts_each_site_and_stays_under_target(tmp_path):
    extra = '[privacy]\ndp = "record"\ntarget_epsilon = 3.0\ndelta = 1e-5\nclip_norm = 1.0\n'
    summary = _simulate(tabular_federation(tmp_path, rounds=3, extra=extra), tmp_path / "run")
    privacy = summary["privacy"]
    assert privacy["mode"] == "record"
    assert set(privacy["sites"]) == set(summary["sites"])
    for site, entry in privacy["sites"].items():
        assert set(entry) >= {"epsilon", "delta", "noise_multiplier", "sample_rate", "steps", "accountant"}
        assert 0 < entry["epsilon"] <= 3.0, site
        assert entry["accountant"] in {"pld", "rdp"}
        assert entry["steps"] == sum(e["steps"] for e in entry["events"])
    by_round = [r["epsilon"] for r in _rounds(tmp_path / "run")]
    for site in summary["sites"]:
        series = [r[site] for r in by_round]
        assert series == sorted(series) and series[0] > 0


def test_dp_noise_is_not_reproducible_from_the_seed(tmp_path):
    extra = '[privacy]\ndp = "record"\nnoise_multiplier = 1.0\n'
    cfg = tabular_federation(tmp_path, rounds=1, extra=extra)
    _simulate(cfg, tmp_path / "one")
    _simulate(cfg, tmp_path / "two")
    a, b = _model(tmp_path / "one"), _model(tmp_path / "two")
    assert not all(np.array_equal(a[k], b[k]) for k in a)


def test_site_level_dp_with_secure_aggregation_counts_dropouts_against_epsilon(tmp_path):
    base = '[privacy]\nsecure_aggregation = true\ndp = "site"\nnoise_multiplier = 2.0\nclip_norm = 0.5\n'
    clean = _simulate(tabular_federation(tmp_path / "a", rounds=2, sites=4, extra=base), tmp_path / "clean")
    faulty_cfg = tabular_federation(
        tmp_path / "b", rounds=2, sites=4, extra=base + _fault("site_03", 2, "before_upload")
    )
    faulty = _simulate(faulty_cfg, tmp_path / "faulty")
    e_clean = clean["privacy"]["federation"]["epsilon"]
    e_faulty = faulty["privacy"]["federation"]["epsilon"]
    assert e_faulty > e_clean
    notes = [r["privacy_note"] for r in _rounds(tmp_path / "faulty") if r["privacy_note"]]
    assert notes and "3 of 4 sites contributed noise" in notes[0]


def test_site_level_dp_without_secure_aggregation(tmp_path):
    extra = '[privacy]\ndp = "site"\ntarget_epsilon = 5.0\nclip_norm = 0.5\n'
    summary = _simulate(tabular_federation(tmp_path, rounds=3, extra=extra), tmp_path / "run")
    fed = summary["privacy"]["federation"]
    assert fed["accountant"] == "exact" and 0 < fed["epsilon"] <= 5.0 and fed["steps"] == 3


def test_budget_exhaustion_stops_with_the_last_good_model(tmp_path, capsys):
    extra = '[privacy]\ndp = "record"\nnoise_multiplier = 2.0\nepsilon_budget = 2.0\n'
    summary = _simulate(tabular_federation(tmp_path, rounds=30, extra=extra), tmp_path / "run")
    privacy = summary["privacy"]
    assert privacy["budget_exhausted"] is True
    assert "epsilon_budget" in privacy["stopped_reason"]
    assert 0 < summary["rounds_completed"] < 30
    assert all(s["epsilon"] <= 2.0 for s in privacy["sites"].values())
    assert len(_rounds(tmp_path / "run")) == summary["rounds_completed"]
    assert "privacy budget" in capsys.readouterr().err


def test_budget_too_small_for_one_round_writes_nothing(tmp_path, capsys):
    extra = '[privacy]\ndp = "record"\nnoise_multiplier = 0.5\nepsilon_budget = 0.01\n'
    cfg = tabular_federation(tmp_path, rounds=3, extra=extra)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    assert "epsilon_budget" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "strategy", "message"),
    [
        (SECURE, "fedmedian", "needs each site's individual update"),
        ('[privacy]\ndp = "record"\nnoise_multiplier = 1.0\n', "fedprox", "not a per-record gradient"),
        ('[privacy]\ndp = "record"\n', "fedavg", "exactly one of 'target_epsilon' or 'noise_multiplier'"),
        ("[privacy]\ntarget_epsilon = 3.0\n", "fedavg", "has no effect with dp = 'none'"),
        (SECURE + "ring_bits = 32\nclip_range = 1000.0\n", "fedavg", "ring_bits"),
        ('[privacy]\ndp = "record"\ntarget_epsilon = 4.0\nepsilon_budget = 2.0\n', "fedavg", "below"),
        (_fault("nowhere", 1, "before_train"), "fedavg", "[[faults]] #1 'site'"),
    ],
)
def test_refused_combinations(tmp_path, capsys, extra, strategy, message):
    cfg = tabular_federation(tmp_path, extra=extra, strategy=strategy)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(cfg) in err
    assert not out.exists()


def test_fedmedian_runs_without_secure_aggregation(tmp_path):
    summary = _simulate(tabular_federation(tmp_path, strategy="fedmedian"), tmp_path / "run")
    assert summary["metrics"]["federated"]["pooled"]["accuracy"] > 0.8


@pytest.mark.parametrize("strategy", ["fedprox", "fedadam", "fedyogi", "fedadagrad"])
def test_strategies_that_need_only_the_mean_run_under_secure_aggregation(tmp_path, strategy):
    plain = _simulate(tabular_federation(tmp_path / "a", rounds=2, strategy=strategy), tmp_path / "plain")
    secure_cfg = tabular_federation(tmp_path / "b", rounds=2, strategy=strategy, extra=SECURE)
    secure = _simulate(secure_cfg, tmp_path / "secure")
    assert secure["rounds_completed"] == 2
    a, b = _model(tmp_path / "plain"), _model(tmp_path / "secure")
    assert all(np.max(np.abs(a[k] - b[k])) < 1e-4 for k in a)
    assert plain["privacy"]["secure_aggregation"]["enabled"] is False


def test_secagg_plus_sparse_graph_with_a_dropout(tmp_path):
    extra = "[privacy]\nsecure_aggregation = true\nneighbours = 4\n" + _fault("site_03", 1, "before_upload")
    summary = _simulate(tabular_federation(tmp_path, rounds=2, sites=8, extra=extra), tmp_path / "run")
    secure = summary["privacy"]["secure_aggregation"]
    assert secure["neighbours"] == 4 and secure["threshold"] == 4 and secure["dropouts_recovered"] == 1
    first = _rounds(tmp_path / "run")[0]["secure_aggregation"]
    assert first["contributors"] == 7 and first["recovered"] == 1


@pytest.mark.parametrize(
    ("stage", "fit_status"),
    [("before_train", "timeout"), ("before_upload", "timeout"), ("after_upload", "ok")],
)
def test_faults_without_secure_aggregation(tmp_path, stage, fit_status):
    cfg = tabular_federation(tmp_path, rounds=2, extra=_fault("site_02", 1, stage))
    _simulate(cfg, tmp_path / "run")
    first, second = _rounds(tmp_path / "run")
    assert first["replies"]["site_02"]["status"] == fit_status
    assert "site_02" not in first["sites"]  # silent for the rest of the round: no evaluation either
    assert second["replies"]["site_02"]["status"] == "ok" and "site_02" in second["sites"]


SHARED_NOISE = (
    '[privacy]\nsecure_aggregation = true\ndp = "record"\ntarget_epsilon = 3.0\nshared_noise = true\n'
)


def test_shared_noise_accounts_the_sum_and_reports_each_sites_own_share(tmp_path):
    summary = _simulate(tabular_federation(tmp_path, rounds=2, sites=4, extra=SHARED_NOISE), tmp_path / "run")
    privacy = summary["privacy"]
    assert privacy["noise"] == "shared" and set(privacy["sites"]) == set(summary["sites"])
    for site, entry in privacy["sites"].items():
        assert 2.5 < entry["epsilon"] <= 3.0, site
        assert (entry["sample_rate"], entry["steps"]) == (1.0, 2)
        assert entry["epsilon_alone"] > 2 * entry["epsilon"], site  # a quarter of the variance alone


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ('optimizer = "adam"\n', "'optimizer' = 'sgd'"),
        ("local_epochs = 2\n", "'local_epochs' = 1"),
        ("norm_bound = 1.0\n", "'norm_bound'"),
    ],
)
def test_shared_noise_refuses_a_site_step_not_linear_in_the_noise(tmp_path, capsys, strategy, message):
    cfg = tabular_federation(tmp_path, extra=SHARED_NOISE)
    cfg.write_text(cfg.read_text().replace("lr = 0.05\n", "lr = 0.05\n" + strategy, 1))
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(cfg) in err
    assert not out.exists()
    cfg.write_text(cfg.read_text().replace(strategy, "", 1))  # power check: the same file without it runs
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
