"""`fedward simulate` with `[privacy] unit = "patient"`: tabular sites name each row's patient in a key
column (not a feature), DP-SGD samples and clips patients, the sample rate is over patients and
summary.json says epsilon is per patient; a site without patient keys is refused, naming it (exit 2)."""

import csv
import json
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

PATIENT_DP = '[privacy]\ndp = "record"\nunit = "patient"\ntarget_epsilon = 3.0\n'
NO_VALIDATION = "[personalization]\nenabled = false\n"  # every training patient trains the federation
PAGES_PER_PATIENT = 4


def _add_patients(path: Path, prefix: str) -> int:
    """Give every row of a site CSV a `patient` key, PAGES_PER_PATIENT rows a patient; returns the
    number of patients."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    out = [[*rows[0], "patient"]] + [
        [*row, f"{prefix}-{i // PAGES_PER_PATIENT}"] for i, row in enumerate(rows[1:])
    ]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(out)
    return -(-(len(rows) - 1) // PAGES_PER_PATIENT)


def _federation(tmp: Path, *, skip: str | None = None) -> tuple[Path, dict[str, int]]:
    cfg = tabular_federation(tmp, rounds=2, extra=PATIENT_DP + NO_VALIDATION)
    text = cfg.read_text().replace('label = "target"\n', 'label = "target"\npatient_column = "patient"\n')
    cfg.write_text(text)
    patients: dict[str, int] = {}
    for train in sorted(tmp.glob("*_train.csv")):
        site = train.name.removesuffix("_train.csv")
        test = tmp / f"{site}_test.csv"
        if site == skip:  # this site's CSVs lack the patient column
            continue
        patients[site] = _add_patients(train, f"{site}-train")
        _add_patients(test, f"{site}-test")
    return cfg, patients


def test_a_patient_unit_run_says_epsilon_is_per_patient_and_samples_patients(tmp_path, capsys):
    cfg, patients = _federation(tmp_path / "fed")
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    assert "per patient at each site" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    privacy = summary["privacy"]
    assert privacy["mode"] == "record" and privacy["unit"] == "patient"
    assert set(privacy["sites"]) == set(patients)
    for site, entry in privacy["sites"].items():
        assert entry["sample_rate"] == pytest.approx(min(1.0, 16 / patients[site]))  # batch_size 16
        assert entry["epsilon"] <= 3.0 + 1e-6
    # the patient key is not a feature: breast-cancer's 30 features, 2 classes
    assert summary["model"]["parameters"] == 30 * 2 + 2


def test_record_unit_is_the_default_and_said_so(tmp_path):
    extra = '[privacy]\ndp = "record"\ntarget_epsilon = 3.0\n'
    out = tmp_path / "run"
    cfg = tabular_federation(tmp_path / "fed", rounds=1, extra=extra)
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    assert json.loads((out / "summary.json").read_text())["privacy"]["unit"] == "record"


def test_unit_patient_without_patient_keys_is_refused_naming_the_site(tmp_path, capsys):
    cfg = tabular_federation(tmp_path / "fed", rounds=1, extra=PATIENT_DP)  # no patient_column at all
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "unit = 'patient'" in err and "site_00" in err and "patient_column" in err
    assert not out.exists()


def test_a_missing_patient_column_at_one_site_is_refused_naming_its_file(tmp_path, capsys):
    cfg, _ = _federation(tmp_path / "fed", skip="site_01")
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "patient column 'patient' not found" in err and "site_01" in err
    assert not out.exists()


def test_unit_patient_needs_record_level_dp(tmp_path, capsys):
    extra = '[privacy]\ndp = "site"\nunit = "patient"\nnoise_multiplier = 1.0\n'
    cfg = tabular_federation(tmp_path, rounds=1, extra=extra)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 2
    assert "unit = 'patient' needs dp = 'record'" in capsys.readouterr().err
