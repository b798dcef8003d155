"""The synthetic federation on disk: determinism, the file layout contract, and user errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fedward.documents.synth import DOCUMENT_CLASSES, HOSPITAL_NAMES, SiteSummary, generate_federation
from fedward.documents.synth import generate as generate_module

SITES, PAGES, SEED = 2, 20, 3


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _truth(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[SiteSummary], list[tuple[int, int]]]:
    out = tmp_path_factory.mktemp("fed") / "out"
    calls: list[tuple[int, int]] = []
    summaries = generate_federation(out, SITES, PAGES, SEED, progress=lambda d, t: calls.append((d, t)))
    return out, summaries, calls


def test_same_seed_gives_identical_bytes_for_any_worker_count(federation: Any, tmp_path: Path) -> None:
    out, _, _ = federation
    generate_federation(tmp_path / "pool", SITES, PAGES, SEED, workers=2)
    assert _files(out) == _files(tmp_path / "pool")


def test_different_seed_gives_different_pages(federation: Any, tmp_path: Path) -> None:
    out, _, _ = federation
    generate_federation(tmp_path / "other", 1, 16, SEED + 1)
    first = out / HOSPITAL_NAMES[0] / "train" / "pages"
    other = tmp_path / "other" / HOSPITAL_NAMES[0] / "train" / "pages"
    assert (first / "p00000.png").read_bytes() != (other / "p00000.png").read_bytes()


def test_layout_matches_the_contract(federation: Any) -> None:
    out, summaries, _ = federation
    profiles = json.loads((out / "hospitals.json").read_text())
    assert [p["name"] for p in profiles] == list(HOSPITAL_NAMES[:SITES]) == [s.name for s in summaries]
    for summary in summaries:
        for split, expected in (("train", summary.train_pages), ("test", summary.test_pages)):
            folder = out / summary.name / split
            with (folder / "labels.csv").open(newline="") as handle:
                rows = list(csv.reader(handle))
            assert rows[0] == ["file", "label"]
            truth = _truth(folder)
            assert [[t["file"], t["label"]] for t in truth] == rows[1:]
            assert len(truth) == expected
            assert sorted(p.name for p in (folder / "pages").iterdir()) == sorted(
                Path(r[0]).name for r in rows[1:]
            )
    assert sorted(p.name for p in out.iterdir()) == sorted(["hospitals.json", *HOSPITAL_NAMES[:SITES]])


def test_truth_records_describe_their_images(federation: Any) -> None:
    out, summaries, _ = federation
    for summary in summaries:
        for split in ("train", "test"):
            folder = out / summary.name / split
            for t in _truth(folder):
                with Image.open(folder / t["file"]) as image:
                    assert image.mode == "L"
                    assert image.size == (t["width"], t["height"])
                    assert [round(d) for d in image.info["dpi"]] == [t["dpi"], t["dpi"]]
                assert t["hospital"] == summary.name and t["label"] in DOCUMENT_CLASSES
                assert t["orientation"] in (0, 90, 180, 270)
                assert abs(t["skew_deg"]) <= 10.0 and isinstance(t["skew_deg"], float)
                _check_fields(t)


def _check_fields(t: dict[str, Any]) -> None:
    kinds = {f["kind"] for f in t["fields"]}
    assert {"name", "mrn", "dob"} <= kinds <= {"name", "mrn", "dob", "address", "phone"}
    for f in t["fields"]:
        x0, y0, x1, y1 = f["box"]
        assert 0 <= x0 <= x1 <= t["width"] and 0 <= y0 <= y1 <= t["height"]
        assert f["text"] and len(f["box_upright"]) == 4


def test_every_class_appears_in_every_split(federation: Any) -> None:
    out, summaries, _ = federation
    for summary in summaries:
        for split in ("train", "test"):
            labels = [t["label"] for t in _truth(out / summary.name / split)]
            assert set(labels) == set(DOCUMENT_CLASSES)
        assert sum(summary.class_counts.values()) == PAGES
        assert summary.split_class_counts["train"]["lab_report"] >= 1


def test_progress_reports_every_page(federation: Any) -> None:
    _, _, calls = federation
    assert calls == [(i, SITES * PAGES) for i in range(1, SITES * PAGES + 1)]


def test_rendering_one_page_twice_gives_the_same_bytes(federation: Any, tmp_path: Path) -> None:
    out, _, _ = federation
    job = generate_module._jobs(tmp_path, SEED, generate_module.make_profiles(SEED, 1), PAGES, 0.25)[5]
    (tmp_path / job.hospital.name / job.split / "pages").mkdir(parents=True)
    truth = generate_module._render_job(job)
    original = out / job.hospital.name / job.split / job.file
    assert (tmp_path / job.hospital.name / job.split / job.file).read_bytes() == original.read_bytes()
    assert truth == _truth(out / job.hospital.name / job.split)[5]


@pytest.mark.parametrize(
    ("sites", "pages", "fraction", "message"),
    [
        (0, 16, 0.25, "sites"),
        (1, 15, 0.25, "pages"),
        (1, 16, 0.0, "test_fraction"),
        (1, 16, 1.0, "test_fraction"),
        (1, 16, math.nan, "test_fraction"),
    ],
)
def test_impossible_sizes_are_rejected(
    tmp_path: Path, sites: int, pages: int, fraction: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_federation(tmp_path / "out", sites, pages, 0, test_fraction=fraction)
    assert not (tmp_path / "out").exists()


def test_non_empty_output_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_federation(tmp_path, 1, 16, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_failure_removes_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(job: Any) -> dict[str, Any]:
        raise RuntimeError("scanner jammed")

    monkeypatch.setattr(generate_module, "_render_job", broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="jammed"):
        generate_federation(tmp_path / "empty", 1, 16, 0)
    assert list((tmp_path / "empty").iterdir()) == []
