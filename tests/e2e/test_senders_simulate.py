"""Issue 11 step 3 end to end through the CLI: the generator writes who sent each page into labels.csv,
every hospital reports its accuracy on test pages from senders its training pages hold (seen) and from
the others (unseen), and summary.json, the printed table and the report show them per hospital. A
labels.csv with a column the loader does not know stops the run with exit code 2, naming file and column.
"""

import csv
import json
from pathlib import Path

import pytest

from fedward.cli.app import main

SITES, PAGES = 2, 40


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("senders") / "data"
    argv = ["synth", "docs", "--out", str(out), "--sites", str(SITES), "--pages", str(PAGES), "--senders"]
    argv += ["--seed", "1"]  # seed 0 puts no unseen sender in a 2 x 40 federation's test splits
    assert _run(argv) == 0
    cfg = out / "federation.toml"
    cfg.write_text(cfg.read_text().replace("rounds = 20", "rounds = 1"))
    return out


def test_the_generator_writes_each_pages_sender_and_patient(data: Path) -> None:
    for hospital in sorted(p for p in data.iterdir() if p.is_dir()):
        for split in ("train", "test"):
            folder = hospital / split
            assert (folder / "labels.csv").read_text().splitlines()[0] == "file,label,sender,patient"
            truth = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]
            rows = _rows(folder)
            assert [r["file"] for r in rows] == [t["file"] for t in truth]
            assert [r["sender"] for r in rows] == [t["sender"] for t in truth]
            assert [r["patient"] for r in rows] == [t["patient"] for t in truth]  # a patient: several pages


def test_each_hospital_reports_seen_and_unseen_senders(data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert _run(["simulate", str(data / "federation.toml"), "--out", str(run)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    for hospital in summary["sites"]:
        train = {r["sender"] for r in _rows(data / hospital / "train")}
        test = [r["sender"] for r in _rows(data / hospital / "test")]
        seen, unseen = sum(s in train for s in test), sum(s not in train for s in test)
        assert seen and unseen  # the generator's test splits hold senders this hospital never trained on
        for section in ("federated", "local_only", "centralized"):
            site = summary["metrics"][section]["sites"][hospital]
            assert (site["seen_n"], site["unseen_n"]) == (seen, unseen), section
            assert 0.0 <= site["seen_accuracy"] <= 1.0 and 0.0 <= site["unseen_accuracy"] <= 1.0
            # the two groups make up the whole test split: their hits add up to the accuracy's
            hits = site["seen_accuracy"] * seen + site["unseen_accuracy"] * unseen
            assert hits == pytest.approx(site["accuracy"] * site["n"])
        assert summary["metrics"]["federated"]["mean_site_unseen_accuracy"] is not None
        # validation: every test page in exactly one band of each quality dimension the site measured
        by_quality = summary["validation"]["sites"][hospital]["by_quality"]
        assert set(by_quality) == {"dpi", "skew", "noise", "binarization"}
        n_test = summary["metrics"]["federated"]["sites"][hospital]["n"]
        assert all(sum(c["n"] for c in bands.values()) == n_test for bands in by_quality.values())
    assert "accuracy on seen / unseen senders" in printed
    assert "Seen and unseen senders" in (run / "report.html").read_text()


def test_an_unknown_labels_column_stops_the_run_with_exit_2(data: Path, tmp_path: Path, capsys) -> None:
    hospital = next(p for p in sorted(data.iterdir()) if p.is_dir())
    labels = hospital / "train" / "labels.csv"
    original = labels.read_text()
    try:
        labels.write_text(original.replace("file,label,sender,patient", "file,label,sender,ward", 1))
        assert _run(["simulate", str(data / "federation.toml"), "--out", str(tmp_path / "run")]) == 2
    finally:
        labels.write_text(original)
    err = capsys.readouterr().err
    assert "unknown column 'ward'" in err and "labels.csv" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
