"""What `fedward simulate` prints and writes for a reader: the results table with each hospital's
recommended model, and the report's section on which model each hospital should use."""

import json

from federations import run_cli, tabular_federation

SITES = ("site_00", "site_01", "site_02")
LABELS = {"global": "(global)", "personalized": "(pers.)", "local": "(local)"}


def test_table_and_report_name_each_hospitals_model(tmp_path, capsys):
    cfg = tabular_federation(tmp_path)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    recommended = summary["metrics"]["recommended"]["sites"]
    assert set(recommended) == set(SITES)
    lines = printed.splitlines()
    assert max(len(line) for line in lines if line.startswith(("│", "┃", "┏", "└"))) <= 100
    for site, scores in recommended.items():
        row = next(line for line in lines if line.startswith(f"│ {site} "))
        assert f"{scores['accuracy']:.3f} {LABELS[scores['model']]}" in row
    assert "chosen on its validation split" in printed
    html = (out / "report.html").read_text()
    assert "Which model each hospital should use" in html
    for site in SITES:
        assert f"<h3>{site}: use the <strong>" in html


def test_without_personalization_the_table_and_report_are_as_before(tmp_path, capsys):
    cfg = tabular_federation(tmp_path, extra="[personalization]\nenabled = false\n")
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    printed = capsys.readouterr().out
    assert "recommended" not in printed and "personalized" not in printed
    assert "mean site" in printed
    assert 'id="recommendation"' not in (out / "report.html").read_text()
